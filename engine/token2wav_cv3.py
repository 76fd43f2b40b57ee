"""CosyVoice 3's token2wav: speech tokens -> DiT flow (mel) -> causal HiFT (waveform), chunk by chunk.

The schedule is CosyVoice 2's (:func:`engine.token2wav.token_hop_schedule`: 25 + prompt pad, 50, 100, ...
tokens, each call needing 3 look-ahead tokens; the official hop is instance state that keeps growing across
requests, here it restarts with every sentence). What differs is the vocoder: CosyVoice 3 has no mel/source
cache and no cross-fade; the official ``CosyVoice3Model.token2wav`` appends each call's new mel to all the mel
so far and re-runs HiFT over it, emitting the samples past those already emitted.

Each call here is :func:`token2wav_call`, a function of the previous :class:`Token2Wav3State` (a value):

* flow: :attr:`FlowMode.RECOMPUTE` is the official call over every token so far, of whose mel the frames
  from ``2 * token_offset`` on are new; :attr:`FlowMode.INCREMENTAL` integrates only the new chunks
  (:meth:`StreamingFlow.stream_step`, flat cost, the same frames). The last call is the official
  full-attention pass (:attr:`FinalCall.FULL_ATTENTION`) or finishes with the streaming masks.
* vocoder: :attr:`VocoderMode.RERUN` is the official re-run over all mel so far (chunk k costs O(k));
  :attr:`VocoderMode.WINDOW` vocodes the new frames with a bounded left context and the excitation phase
  carried (:func:`engine.vocoder.causal_hift_stream.hift_stream_step`, flat cost, the same samples up to
  float rounding).

Official quirk (a bookkeeping bug): with a prompt mel of 2P ± 1 frames (voice conversion, which does not trim
the prompt) the official ``[2 * token_offset:]`` slices repeat or skip one frame at every chunk boundary (a
20 ms stutter). RECOMPUTE is the official call, so it has it; INCREMENTAL returns every frame once, unless
``official_slices=True`` (what the parity check of the incremental stream against the official chunks uses).
``speed`` (non-streamed only, as officially) stretches the whole mel linearly before HiFT.

:class:`Token2Wav3` is what the engine runs per sentence: :class:`engine.token2wav.Token2Wav`'s flow calls
(the same stream API, prompt-state reuse, thread plan, cancellation and non-finite checks) with this module's
vocoding in place of CosyVoice 2's cache and cross-fade. Streamed with the incremental flow it vocodes
:attr:`VocoderMode.WINDOW` (flat cost); otherwise the official :attr:`VocoderMode.RERUN`. ``speed`` also
works while streaming there, as in CosyVoice 2's engine: each call's new frames are stretched before they are
vocoded (the official code allows it only without streaming, where it is the same thing).
"""
from __future__ import annotations

import enum
import time
from dataclasses import dataclass, field, replace
from typing import Callable, Iterable, Iterator

import torch
from torch import Tensor

from .errors import InputError
from .flow.flow import FlowStreamState, StreamingFlow
from .token2wav import (FinalCall, FlowMode, FlowPrompt, StreamPlan, Token2Wav, Token2WavCall, check_finite,
                        stretch_mel, token_hop_schedule)
from .vocoder.causal_hift import CausalHiFT
from .vocoder.causal_hift_stream import HiftStream, hift_stream_step

ShouldStop = Callable[[], bool]


class VocoderMode(enum.Enum):
    RERUN = "rerun"    # the official: HiFT over every mel frame so far on every call (O(k))
    WINDOW = "window"  # the new frames plus a bounded left context, the phase carried (flat cost)


@dataclass(frozen=True)
class Token2Wav3State:
    """What one sentence's calls leave for the next (a value; never mutated).

    ``flow``/``fed``: the incremental flow stream and how many tokens it has (INCREMENTAL); ``hift``: the
    windowed vocoder stream (WINDOW); ``mel``/``emitted``: every mel frame so far and the samples emitted
    (RERUN, the official ``hift_cache_dict``)."""

    flow: FlowStreamState | None = None
    fed: int = 0
    last_mel: Tensor | None = None  # the newest mel frame so far (INCREMENTAL with official_slices)
    hift: HiftStream = field(default_factory=HiftStream.start)
    mel: Tensor | None = None
    emitted: int = 0


def new_mel(flow: StreamingFlow, plan: StreamPlan, prompt: FlowPrompt, state: Token2Wav3State, token: Tensor,
            offset: int, finalize: bool, should_stop: ShouldStop | None = None, helper=None,
            official_slices: bool = False) -> tuple[Tensor, Token2Wav3State]:
    """The mel frames this call adds [1, 80, n]: ``token`` [1, N] is every token so far; ``offset`` where the
    call's new audio starts (tokens)."""
    # The official full-attention last call re-makes the frame it repeats: only that pass itself gives it.
    repeats_final_frame = (official_slices and finalize and plan.final_call is FinalCall.FULL_ATTENTION
                           and _prompt_shift(prompt, plan.token_mel_ratio) < 0)
    if plan.incremental and not repeats_final_frame:
        flow_state = state.flow
        if flow_state is None:
            flow_state = flow.start_stream(prompt.token, prompt.feat, prompt.embedding, noise=prompt.noise,
                                           should_stop=should_stop, kv_storage=plan.kv_storage,
                                           history_budget=plan.history_budget)
        mel, flow_state = flow.stream_step(
            flow_state, token[:, state.fed:], finalize=finalize,
            reference_final=finalize and plan.final_call is FinalCall.FULL_ATTENTION,
            should_stop=should_stop, helper=helper)
        if official_slices:
            mel, last = _as_official_slice(mel, state.last_mel, offset, prompt, plan.token_mel_ratio)
            state = replace(state, last_mel=last)
        return mel, replace(state, flow=flow_state, fed=token.shape[1])
    mel = flow.inference(token, prompt.token, prompt.feat, prompt.embedding, streaming=plan.streaming_masks(finalize),
                         finalize=finalize, noise=prompt.noise, should_stop=should_stop)
    return mel[:, :, offset * plan.token_mel_ratio:], state


def _prompt_shift(prompt: FlowPrompt, ratio: int) -> int:
    """Prompt mel frames minus ``ratio`` x prompt tokens: 0 when trimmed, ±1 for an untrimmed (VC) prompt."""
    return int(prompt.feat.shape[1]) - ratio * int(prompt.token.shape[1])


def _as_official_slice(mel: Tensor, last: Tensor | None, offset: int, prompt: FlowPrompt, ratio: int
                       ) -> tuple[Tensor, Tensor | None]:
    """The official call's new frames from the stream's: it starts ``prompt frames - ratio * prompt tokens``
    frames off (one frame repeated or skipped per boundary when the prompt mel is not trimmed). A repeated
    frame of a streaming call is the previous call's last (chunk-causal attention: the same frame)."""
    shift = _prompt_shift(prompt, ratio)
    if offset > 0 and shift < 0 and last is not None:
        mel = torch.cat([last[:, :, shift:].to(mel), mel], dim=2)
    elif offset > 0 and shift > 0:
        mel = mel[:, :, shift:]
    keep = max(-shift, 0)
    return mel, (mel[:, :, mel.shape[2] - keep:] if keep and mel.shape[2] >= keep else last)


def vocode(hift: CausalHiFT, mode: VocoderMode, state: Token2Wav3State, mel: Tensor, finalize: bool,
           should_stop: ShouldStop | None = None) -> tuple[Tensor, Token2Wav3State]:
    """The waveform samples [1, m] that this call's new mel frames [1, 80, n] make final, and the next state."""
    if mode is VocoderMode.WINDOW:
        wave, hift_state = hift_stream_step(hift, state.hift, mel, finalize=finalize, should_stop=should_stop)
        return wave, replace(state, hift=hift_state)
    every = mel if state.mel is None else torch.cat([state.mel, mel.to(state.mel)], dim=2)
    speech, _ = hift.inference(every, finalize=finalize, should_stop=should_stop)
    return speech[:, state.emitted:], replace(state, mel=every, emitted=speech.shape[1])


def token2wav_call(flow: StreamingFlow, hift: CausalHiFT, plan: StreamPlan, prompt: FlowPrompt,
                   state: Token2Wav3State, token: Tensor, offset: int, finalize: bool, *,
                   vocoder: VocoderMode = VocoderMode.WINDOW, speed: float = 1.0,
                   should_stop: ShouldStop | None = None, helper=None,
                   official_slices: bool = False) -> tuple[Tensor, Token2Wav3State]:
    """One call: every token so far [1, N] (``offset`` = where its new audio starts) -> (waveform [1, m], state)."""
    if speed != 1.0 and plan.stream:
        raise InputError("A speed other than 1 works only without streaming (as in the official CosyVoice 3).")
    mel, state = new_mel(flow, plan, prompt, state, token, offset, finalize, should_stop, helper, official_slices)
    if speed != 1.0:
        speech, _ = hift.inference(stretch_mel(mel, speed), finalize=True, should_stop=should_stop)
        return speech, state
    return vocode(hift, vocoder, state, mel, finalize, should_stop)


def stream_sentence(tokens: Iterable[int], flow: StreamingFlow, hift: CausalHiFT, plan: StreamPlan,
                    prompt: FlowPrompt, *, vocoder: VocoderMode = VocoderMode.WINDOW, speed: float = 1.0,
                    should_stop: ShouldStop | None = None,
                    on_call: Callable[[Token2WavCall], None] | None = None) -> Iterator[Tensor]:
    """One sentence's waveform pieces [N] as the (already silence-filtered) tokens arrive, on the official
    schedule: a chunk call whenever its hop and look-ahead have arrived, then the final call over everything."""
    hops = token_hop_schedule(int(prompt.token.shape[1]), plan.chunk_size, plan.pre_lookahead, plan.max_hop)
    hop, offset, got = next(hops), 0, []
    state = Token2Wav3State()

    def call(n: int, finalize: bool) -> Tensor:
        nonlocal state
        if on_call is not None:
            on_call(Token2WavCall(n, offset if plan.stream else 0, plan.streaming_masks(finalize), finalize))
        token = torch.tensor([got[:n]], dtype=torch.int32, device=prompt.token.device)
        wave, state = token2wav_call(flow, hift, plan, prompt, state, token, offset if plan.stream else 0,
                                     finalize, vocoder=vocoder, speed=speed, should_stop=should_stop)
        return wave.reshape(-1).float().cpu()

    for t in tokens:
        got.append(int(t))
        if plan.stream and len(got) >= hop.n_tokens:
            wave = call(hop.n_tokens, finalize=False)
            if wave.numel():
                yield wave
            offset += hop.hop
            hop = next(hops)
    if got:
        yield call(len(got), finalize=True)


class Token2Wav3(Token2Wav):
    """One CosyVoice 3 sentence's flow + CausalHiFT calls (see the module docstring); the vocoder stream is a
    value kept between this sentence's calls and dropped with it, so nothing carries over to the next request."""

    def __init__(self, flow, hift: CausalHiFT, plan: StreamPlan, prompt: FlowPrompt, **kwargs):
        super().__init__(flow, hift, plan, prompt, noise=None, **kwargs)  # type: ignore[arg-type]
        self.vocoder = VocoderMode.WINDOW if plan.incremental else VocoderMode.RERUN
        self._hift_state = Token2Wav3State()

    def _vocode(self, threads, mel: Tensor, finalize: bool) -> Tensor:
        self.stop.raise_if_cancelled("Synthesis")
        t0 = time.perf_counter()
        wave, self._hift_state = vocode(self.hift, self.vocoder, self._hift_state, stretch_mel(mel, self.speed),
                                        finalize, self.stop.should_stop)
        self.clock.vocoder += time.perf_counter() - t0
        self.stop.raise_if_cancelled("Synthesis")
        return check_finite(wave, "vocoder").reshape(-1).float().cpu()


__all__ = ["FinalCall", "FlowMode", "StreamPlan", "Token2Wav3", "Token2Wav3State", "VocoderMode", "new_mel", "stream_sentence",
           "token2wav_call", "vocode"]
