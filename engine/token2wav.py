"""Streaming glue between flow mels and HiFT waveforms, as the official ``CosyVoice2Model`` does it.

Two pure pieces:

* :func:`token_hop_schedule` / :func:`plan_token2wav_calls` - WHEN the flow+vocoder run while speech
  tokens stream in: the first chunk covers ``chunk_size`` tokens plus the padding that rounds the
  prompt up to a multiple of ``chunk_size``; later hops double up to ``max_hop`` (25+pad, 50, 100,
  100, ...). Each call also needs ``pre_lookahead`` tokens past its hop. The official code keeps the
  hop in an instance attribute that is never reset between requests; here it is per request.

* :func:`vocode_chunk` - how consecutive HiFT calls are STITCHED. The vocoder state is a value
  (:class:`VocoderState`) passed in and returned, never stored on a module:
    1. the previous call's last 8 mel frames are prepended to the new mel (left context),
    2. the previous call's last 8*480 source samples replace the start of the new source, so the
       sine excitation continues in phase,
    3. the first 8*480 output samples are cross-faded with the previous call's withheld tail
       (Hamming window of 2*8*480 split in two halves),
    4. a non-final call withholds its last 8*480 samples (they are re-generated, with right
       context, by the next call and cross-faded there).

``speed`` is the official final-call tempo change: linear interpolation of the mel along time to
``int(T / speed)`` frames. The official code allows it only without streaming; here it is applied to
each call's NEW frames before the cached frames are prepended, which equals the official result
when there is no cache and keeps the cache in the already-stretched time base when streaming.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Iterator

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from .errors import InputError
from .rng import RandomSource
from .vocoder.hift import HiFT
from .vocoder.source import HiftNoise

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
                 noise: HiftNoise | None = None, rng: RandomSource | None = None,
                 should_stop: Callable[[], bool] | None = None) -> tuple[Tensor, VocoderState]:
    """Vocode this call's NEW mel frames [1, 80, T] -> (waveform [1, N], next state).

    Non-final calls withhold their last ``8 * 480`` samples (N = (8 + T) * 480 - 3840 with a cache,
    T * 480 - 3840 without); the final call returns everything and an empty state.
    ``noise``/``rng`` go to this call's HiFT run (the goldens pass the same HiftNoise to every
    call; an rng advances, so consecutive calls get fresh noise as in the official code).
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
    speech, source = hift.inference(hift_mel, cache_source, rng=rng, noise=noise, should_stop=should_stop)
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
