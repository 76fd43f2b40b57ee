"""Streamed token2wav: speech tokens -> flow (mel) -> HiFT (waveform), chunk by chunk, as the official
``CosyVoice2Model.tts`` schedules it. Our own contribution lives here in one place.

* **When** the flow+vocoder run while tokens stream in (:func:`token_hop_schedule`, :func:`plan_token2wav_calls`):
  the first chunk covers ``chunk_size`` tokens plus the padding that rounds the prompt up to a multiple of
  ``chunk_size``; later hops double up to ``max_hop`` (25+pad, 50, 100, 100, ...). Each call also needs
  ``pre_lookahead`` tokens past its hop. The official code keeps the hop in an instance attribute that is never
  reset between requests; here it is per sentence.
* **How** each call runs (:class:`StreamPlan`): the flow either re-runs over every token so far like the official
  code (:attr:`FlowMode.RECOMPUTE`, chunk k costs O(k)) or integrates only the new tokens against cached keys and
  values (:attr:`FlowMode.INCREMENTAL`, flat cost, same chunks); the last call is the official full-attention pass
  (:attr:`FinalCall.FULL_ATTENTION`) or finishes with the chunks' streaming masks
  (:attr:`FinalCall.STREAMING_MASKS`).
* **How** consecutive HiFT calls are stitched (:func:`vocode_chunk`, :func:`stitch`), the vocoder state being a
  value (:class:`VocoderState`) passed in and returned:
    1. the previous call's last 8 mel frames are prepended to the new mel (left context),
    2. the previous call's last 8*480 source samples replace the start of the new source, so the sine
       excitation continues in phase,
    3. the first 8*480 output samples are cross-faded with the previous call's withheld tail (Hamming window of
       2*8*480 split in two halves),
    4. a non-final call withholds its last 8*480 samples (they are re-generated, with right context, by the next
       call and cross-faded there).
* :class:`Token2Wav` runs one sentence's calls (flow, then vocoder, each checked for non-finite values) and
  :func:`speak` is the loop: tokens in, waveform pieces out.

``speed`` is the official final-call tempo change: linear interpolation of the mel along time to
``int(T / speed)`` frames. The official code allows it only without streaming; here it is applied to each
call's NEW frames before the cached frames are prepended, which equals the official result when there is no
cache and keeps the cache in the already-stretched time base when streaming.
"""
from __future__ import annotations

import enum
import math
import time
from collections import OrderedDict
from dataclasses import dataclass, field, replace
from typing import Callable, Iterator

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from .cpu_threads import SentenceThreads
from .errors import NEVER_CANCELLED, CancelToken, InputError, NonFiniteError
from .flow.kv_history import KVStorage
from .vocoder.hift import HiFT
from .vocoder.source import Excitation
from .watchdog import WatchedTokens

MEL_CACHE_FRAMES = 8  # official mel_cache_len; the source/speech caches are this many frames of samples


# -------------------------------------------------------------------------------------------------
# Token schedule
# -------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class TokenHop:
    """One streaming flow call: tokens ``[token_offset, token_offset + hop)`` become new audio."""

    token_offset: int
    hop: int
    pre_lookahead: int

    @property
    def n_tokens(self) -> int:
        """How many speech tokens (from the start) this call needs: hop + look-ahead past the offset."""
        return self.token_offset + self.hop + self.pre_lookahead


@dataclass(frozen=True)
class Token2WavCall:
    """One flow+HiFT call as the official ``token2wav`` receives it."""

    n_tokens: int
    token_offset: int
    stream: bool  # the flow's ``streaming`` flag (chunk-causal attention)
    finalize: bool

    def as_dict(self) -> dict:
        return {"n_tokens": self.n_tokens, "token_offset": self.token_offset, "stream": self.stream,
                "finalize": self.finalize}


def token_hop_schedule(prompt_len: int, chunk_size: int = 25, pre_lookahead: int = 3,
                       max_hop: int = 100) -> Iterator[TokenHop]:
    """Endless schedule of streaming chunk calls for a prompt of ``prompt_len`` speech tokens.

    Hops: ``chunk_size + pad`` (pad rounds the prompt up to a multiple of ``chunk_size`` so chunk
    boundaries line up with the flow's attention chunks), then ``chunk_size * 2**k`` capped at
    ``max_hop``.
    """
    if prompt_len < 0 or chunk_size < 1 or pre_lookahead < 0 or max_hop < 1:
        raise InputError(f"Bad token schedule parameters: prompt_len={prompt_len}, chunk_size={chunk_size}, "
                         f"pre_lookahead={pre_lookahead}, max_hop={max_hop}.")
    pad = math.ceil(prompt_len / chunk_size) * chunk_size - prompt_len
    offset, hop_len = 0, chunk_size
    while True:
        hop = hop_len + pad if offset == 0 else hop_len
        yield TokenHop(offset, hop, pre_lookahead)
        offset += hop
        hop_len = min(max_hop, hop_len * 2)


def plan_token2wav_calls(prompt_len: int, total_tokens: int, *, stream: bool, chunk_size: int = 25,
                         pre_lookahead: int = 3, max_hop: int = 100) -> list[Token2WavCall]:
    """Every token2wav call the official ``tts`` makes for ``total_tokens`` speech tokens.

    Streaming: a chunk call whenever ``hop + pre_lookahead`` tokens past the offset exist, then one
    final call over all tokens (``stream=False``, ``finalize=True`` - the official final call does
    not pass ``stream``). The calls do not depend on how fast tokens arrive, only on the total.
    """
    if not stream:
        return [Token2WavCall(total_tokens, 0, False, True)]
    calls: list[Token2WavCall] = []
    offset = 0
    for step in token_hop_schedule(prompt_len, chunk_size, pre_lookahead, max_hop):
        if step.n_tokens > total_tokens:
            break
        calls.append(Token2WavCall(step.n_tokens, step.token_offset, True, False))
        offset = step.token_offset + step.hop
    calls.append(Token2WavCall(total_tokens, offset, False, True))
    return calls


# -------------------------------------------------------------------------------------------------
# HiFT stitching
# -------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class VocoderState:
    """What one HiFT call leaves for the next; all ``None`` before the first call of a request.

    mel_cache:    [1, 80, 8] last mel frames fed to HiFT (left context of the next call)
    source_cache: [1, 1, 8*480] last source samples (continue the excitation)
    speech_tail:  [1, 8*480] withheld last output samples (cross-faded into the next call)
    """

    mel_cache: Tensor | None = None
    source_cache: Tensor | None = None
    speech_tail: Tensor | None = None

    @property
    def started(self) -> bool:
        return self.mel_cache is not None


def hift_inputs(mel: Tensor, state: VocoderState) -> tuple[Tensor, Tensor | None]:
    """(mel with the cached frames prepended, cache_source) for this call's HiFT run."""
    if state.mel_cache is None:
        return mel, None
    return torch.cat([state.mel_cache.to(mel), mel], dim=2), state.source_cache


def fade_in_out(speech: Tensor, previous_tail: Tensor) -> Tensor:
    """Cross-fade the start of ``speech`` with ``previous_tail`` (official ``fade_in_out``).

    Window: ``np.hamming(2 * n)``; the first half fades ``speech`` in, the second fades the tail
    out. Computed in float64 like the official numpy-window product, then rounded back.
    """
    n = previous_tail.shape[-1]
    if speech.shape[-1] < n:
        raise InputError(f"Cannot cross-fade: the chunk has {speech.shape[-1]} samples, fewer than the {n}-sample "
                         "overlap. Give HiFT at least 8 mel frames per call.")
    window = torch.from_numpy(np.hamming(2 * n)).to(speech.device)
    head = speech[..., :n].double() * window[:n] + previous_tail[..., -n:].double() * window[n:]
    out = speech.clone()
    out[..., :n] = head.to(speech.dtype)
    return out


def stretch_mel(mel: Tensor, speed: float) -> Tensor:
    """Official tempo change: linear interpolation of the mel to ``int(T / speed)`` frames."""
    if not (math.isfinite(speed) and speed > 0):
        raise InputError(f"Speed must be a positive number, got {speed}.")
    if speed == 1.0 or mel.shape[2] == 0:
        return mel
    frames = int(mel.shape[2] / speed)
    if frames < 1:
        raise InputError(f"Speed {speed} leaves no mel frames from {mel.shape[2]}; use a smaller speed.")
    return F.interpolate(mel, size=frames, mode="linear")


def vocode_chunk(hift: HiFT, mel: Tensor, state: VocoderState, *, finalize: bool, speed: float = 1.0,
                 noise: Excitation | None = None,
                 should_stop: Callable[[], bool] | None = None) -> tuple[Tensor, VocoderState]:
    """Vocode this call's NEW mel frames [1, 80, T] -> (waveform [1, N], next state).

    Non-final calls withhold their last ``8 * 480`` samples (N = (8 + T) * 480 - 3840 with a cache,
    T * 480 - 3840 without); the final call returns everything and an empty state.
    ``noise`` goes to this call's HiFT run (the goldens pass the same HiftNoise to every call; a request's
    DrawnNoise advances, so consecutive calls get fresh noise as in the official code).
    ``should_stop``: polled inside the HiFT call (:meth:`HiFT.decode`); True raises ``Cancelled``.
    """
    if mel.dim() != 3 or mel.shape[0] != 1:
        raise InputError(f"vocode_chunk expects one mel [1, 80, frames], got shape {tuple(mel.shape)}.")
    mel = stretch_mel(mel, speed)
    hift_mel, cache_source = hift_inputs(mel, state)
    if hift_mel.shape[2] == 0:
        raise InputError("vocode_chunk got no mel frames and has nothing cached; there is nothing to vocode.")
    if not finalize and hift_mel.shape[2] < MEL_CACHE_FRAMES:
        raise InputError(f"A streaming chunk needs at least {MEL_CACHE_FRAMES} mel frames (got {hift_mel.shape[2]}); "
                         "use a longer chunk or finalize.")
    speech, source = hift.inference(hift_mel, cache_source, noise=noise, should_stop=should_stop)
    return stitch(speech, source, hift_mel, state, finalize=finalize,
                  n_keep=MEL_CACHE_FRAMES * hift.upsample_factor)


def stitch(speech: Tensor, source: Tensor, hift_mel: Tensor, state: VocoderState, *, finalize: bool,
           n_keep: int) -> tuple[Tensor, VocoderState]:
    """One HiFT call's raw output [1, N] -> (the samples to emit, next state): steps 3 and 4 above.

    ``source`` [1, 1, N] and ``hift_mel`` [1, 80, T] are that call's excitation and input (their tails are kept
    for the next call); ``n_keep`` = ``MEL_CACHE_FRAMES`` frames of samples. No randomness, no network: the
    parity check feeds it the official HiFT outputs and expects the official chunks bit for bit.
    """
    if state.speech_tail is not None:
        speech = fade_in_out(speech, state.speech_tail)
    if finalize:
        return speech, VocoderState()
    next_state = VocoderState(
        mel_cache=hift_mel[:, :, -MEL_CACHE_FRAMES:],
        source_cache=source[:, :, -n_keep:],
        speech_tail=speech[:, -n_keep:],
    )
    return speech[:, :-n_keep], next_state


# -------------------------------------------------------------------------------------------------
# One sentence: the plan, the prompt, the calls, the loop
# -------------------------------------------------------------------------------------------------
class FlowMode(enum.Enum):
    RECOMPUTE = "recompute"      # the official chunk calls: the flow re-runs over every token so far (O(k))
    INCREMENTAL = "incremental"  # each chunk integrated once against cached keys/values (flat cost, same chunks)


class FinalCall(enum.Enum):
    FULL_ATTENTION = "full_attention"    # the official last call: non-streaming over the whole sentence
    STREAMING_MASKS = "streaming_masks"  # finish with the chunks' streaming masks (cheap when incremental)


@dataclass(frozen=True)
class StreamPlan:
    """How one sentence's token2wav calls run. A non-streamed sentence is one official non-streaming call."""

    stream: bool
    flow_mode: FlowMode = FlowMode.INCREMENTAL
    final_call: FinalCall = FinalCall.STREAMING_MASKS
    chunk_size: int = 25
    pre_lookahead: int = 3
    max_hop: int = 100
    token_mel_ratio: int = 2
    kv_storage: KVStorage = KVStorage.EXACT  # how the incremental flow keeps past keys/values (flow/kv_history.py)
    history_budget: int | None = None  # the most bytes they may take (None: no bound; Runtime.flow_history_budget)

    @property
    def incremental(self) -> bool:
        return self.stream and self.flow_mode is FlowMode.INCREMENTAL

    def streaming_masks(self, finalize: bool) -> bool:
        """Whether a call uses the chunk-causal masks: the chunks of a streamed sentence always, its last call
        unless it is the official full-attention pass."""
        return self.stream and not (finalize and self.final_call is FinalCall.FULL_ATTENTION)


@dataclass(frozen=True)
class FlowPrompt:
    """The flow's view of a voice for one request, on the flow's device and dtype: prompt tokens [1, P], prompt
    mel [1, 2P, 80], speaker embedding [1, 192], the request's noise [1, 80, N]; ``key`` identifies all of it
    (hashed once per request) for :class:`PromptStates`."""

    token: Tensor
    feat: Tensor
    embedding: Tensor
    noise: Tensor
    key: tuple = ()


class PromptStates:
    """The flow stream states after a prompt's chunks, newest last, reused by every sentence of the same voice,
    noise and row layout (the prompt part is the same work before every sentence's first audio). A state is a value whose K/V pages are never overwritten (a step from a shared state copies
    the page first), so reuse is bit-identical to a fresh start. Each holds the prompt's K/V (~4.4 MB per prompt
    mel frame at official size in fp32), hence only a few."""

    def __init__(self, size: int = 2):
        self.size = size
        self.made = 0  # states computed (misses), for the studio's and the tests' statistics
        self._states: OrderedDict[tuple, object] = OrderedDict()

    def get(self, key: tuple, make: Callable[[], object]) -> object:
        state = self._states.get(key)
        if state is None:
            state = self._states[key] = make()
            self.made += 1
            while len(self._states) > max(0, self.size):
                self._states.popitem(last=False)
        else:
            self._states.move_to_end(key)
        return state

    def __len__(self) -> int:
        return len(self._states)

    def __iter__(self):
        """The kept states, oldest first (a snapshot)."""
        return iter(list(self._states.values()))


@dataclass(frozen=True)
class ChunkTimings:
    """Seconds since the request started when the chunk was emitted, and time spent per stage so far."""

    elapsed_s: float
    lm_s: float
    flow_s: float
    vocoder_s: float


@dataclass
class StageClock:
    """Per-request stage timers (a plain value owned by one request)."""

    start: float = field(default_factory=time.perf_counter)
    lm: float = 0.0
    flow: float = 0.0
    vocoder: float = 0.0

    def snapshot(self) -> ChunkTimings:
        return ChunkTimings(time.perf_counter() - self.start, self.lm, self.flow, self.vocoder)


@dataclass(frozen=True)
class SentenceAudio:
    """One piece of one sentence's waveform from :func:`speak` (before seams and pauses)."""

    wave: Tensor  # [N] float32 on CPU
    is_final: bool
    n_tokens: int
    watchdog: str | None = None


def check_finite(x: Tensor, stage: str) -> Tensor:
    """``x`` unchanged, or :class:`NonFiniteError` naming ``stage``: NaN or infinity never leaves the engine."""
    if not bool(torch.isfinite(x).all()):
        raise NonFiniteError(stage)
    return x


class Token2Wav:
    """One sentence's flow + HiFT calls on the plan's schedule; the flow stream and vocoder state are values
    it keeps between its own calls and drops with the sentence.

    ``prompt_states`` (optional, owned by the engine) reuses the post-prompt flow state across sentences;
    ``on_call`` receives each call as a :class:`Token2WavCall` (the parity check compares it with the official
    schedule). Every call polls ``stop`` inside the networks and raises ``Cancelled`` when it is set.
    """

    def __init__(self, flow, hift: HiFT, plan: StreamPlan, prompt: FlowPrompt, *, noise: Excitation,
                 speed: float = 1.0, stop: CancelToken = NEVER_CANCELLED, clock: StageClock | None = None,
                 prompt_states: PromptStates | None = None, on_call: Callable[[Token2WavCall], None] | None = None):
        self.flow, self.hift, self.plan, self.prompt = flow, hift, plan, prompt
        self.noise, self.speed, self.stop = noise, speed, stop
        self.clock = clock or StageClock()
        self.prompt_states, self.on_call = prompt_states, on_call
        self._flow_state = None
        self._fed = 0  # tokens handed to the incremental flow so far
        self._vocoder = VocoderState()

    def prepare(self, threads: SentenceThreads) -> None:
        """The prompt's flow chunks (incremental only), e.g. while the LM decodes the first hop."""
        if not self.plan.incremental or self._flow_state is not None:
            return
        threads.use(flow=True, final=False)
        t0 = time.perf_counter()
        p = self.prompt
        key = (*p.key, threads.split_rows, torch.get_num_threads(),  # the count changes float rounding
               self.plan.kv_storage, self.plan.history_budget)

        def start():
            return self.flow.start_stream(p.token, p.feat, p.embedding, noise=p.noise,
                                          should_stop=self.stop.should_stop, split_rows=threads.split_rows,
                                          helper=threads.helper, kv_storage=self.plan.kv_storage,
                                          history_budget=self.plan.history_budget)

        if self.prompt_states is None:
            self._flow_state = start()
        else:  # a kept state may hold a shorter prefix of the same noise: this sentence's covers its length
            self._flow_state = replace(self.prompt_states.get(key, start), noise=p.noise)
        self.clock.flow += time.perf_counter() - t0

    def call(self, threads: SentenceThreads, tokens: list[int], n_tokens: int, offset: int, finalize: bool) -> Tensor:
        """One token2wav call over ``tokens[:n_tokens]`` whose new audio starts at token ``offset`` -> [N] float32."""
        mel = self._flow(threads, tokens, n_tokens, offset, finalize)
        if mel.shape[2] == 0 and not finalize:
            return torch.zeros(0)
        return self._vocode(threads, mel, finalize)

    def _flow(self, threads: SentenceThreads, tokens: list[int], n_tokens: int, offset: int, finalize: bool) -> Tensor:
        plan, p = self.plan, self.prompt
        masks = plan.streaming_masks(finalize)
        if self.on_call is not None:
            self.on_call(Token2WavCall(n_tokens, offset, masks, finalize))
        self.prepare(threads)
        threads.use(flow=True, final=finalize)
        t0 = time.perf_counter()
        token = torch.tensor([tokens[:n_tokens]], dtype=torch.int32, device=p.token.device)
        if plan.incremental:
            mel, self._flow_state = self.flow.stream_step(
                self._flow_state, token[:, self._fed:], finalize=finalize,
                reference_final=finalize and plan.final_call is FinalCall.FULL_ATTENTION,
                should_stop=self.stop.should_stop, helper=threads.helper)
            self._fed = n_tokens
        else:
            mel = self.flow.inference(token, p.token, p.feat, p.embedding, streaming=masks, finalize=finalize,
                                      noise=p.noise, should_stop=self.stop.should_stop)
            mel = mel[:, :, offset * plan.token_mel_ratio:]
        self.clock.flow += time.perf_counter() - t0
        threads.use(flow=False, final=finalize)  # back to what runs next here: HiFT, or the LM in turn
        return check_finite(mel, "flow")

    def _vocode(self, threads: SentenceThreads, mel: Tensor, finalize: bool) -> Tensor:
        self.stop.raise_if_cancelled("Synthesis")  # between flow and HiFT: a long sentence's HiFT takes a second
        t0 = time.perf_counter()
        wave, self._vocoder = vocode_chunk(self.hift, mel, self._vocoder, finalize=finalize, speed=self.speed,
                                           noise=self.noise, should_stop=self.stop.should_stop)
        self.clock.vocoder += time.perf_counter() - t0
        self.stop.raise_if_cancelled("Synthesis")
        return check_finite(wave, "vocoder").reshape(-1).float().cpu()


def speak(lm_tokens: WatchedTokens, t2w: Token2Wav, threads: SentenceThreads) -> Iterator[SentenceAudio]:
    """One sentence: iterate ``threads.tokens`` (the watched LM tokens, perhaps decoded ahead) and run ``t2w``'s
    calls on the schedule; the last call takes every token (a watchdog's loop cut off) and carries the verdict.

    ``threads`` must be entered (``with``); the caller closes it, which stops the LM."""
    plan, stop, clock = t2w.plan, t2w.stop, t2w.clock
    hops = token_hop_schedule(int(t2w.prompt.token.shape[1]), plan.chunk_size, plan.pre_lookahead, plan.max_hop)
    hop, offset, tokens = next(hops), 0, []
    if threads.decoding_ahead:
        t2w.prepare(threads)  # the prompt's chunks while the LM decodes the first hop
    t_lm = time.perf_counter()
    for token in threads.tokens:
        tokens.append(int(token))
        stop.raise_if_cancelled("Synthesis")
        if plan.stream and len(tokens) >= hop.n_tokens:
            clock.lm += time.perf_counter() - t_lm
            wave = t2w.call(threads, tokens, hop.n_tokens, offset, finalize=False)
            if wave.numel():
                yield SentenceAudio(wave, False, len(tokens))
            offset += hop.hop
            hop = next(hops)
            stop.raise_if_cancelled("Synthesis")
            t_lm = time.perf_counter()
    clock.lm += time.perf_counter() - t_lm
    stop.raise_if_cancelled("Synthesis")
    tokens = lm_tokens.finish(tokens)
    if tokens:
        wave = t2w.call(threads, tokens, len(tokens), offset if plan.stream else 0, finalize=True)
        yield SentenceAudio(wave, True, len(tokens), lm_tokens.verdict)
