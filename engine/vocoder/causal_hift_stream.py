"""Streaming CosyVoice 3's vocoder at a flat cost per chunk.

The official ``CosyVoice3Model.token2wav`` keeps every mel frame of the utterance and re-runs
``CausalHiFTGenerator.inference`` over ALL of them on every chunk, emitting only the samples it had not emitted
yet: chunk k costs O(k) and the whole stream O(k²). The vocoder is causal, so those samples depend on a
bounded stretch of the past only, except through the excitation phase, which sums f0 over the whole
utterance. :func:`hift_stream_step` therefore runs the network over the new frames plus
:func:`decode_left_context` frames before them (more than its receptive field) and carries what has no
bounded memory as values in :class:`HiftStream`:

* the phase: the float64 running sum of every earlier frame's increments (the official fp32 ``cumsum``
  accumulates exactly so on the CPU), so the source of the window is the official one sample for sample;
* the f0 of the frames it may still need (computed once, with its 3 real look-ahead frames, in float64);
* the absolute sample position (the fixed noise is indexed from the utterance's first sample).

What differs from the official re-run is float rounding inside the window (a convolution over a shorter
input may sum in another order): the parity check compares every chunk with the official stream.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Callable

import numpy as np
import torch
from torch import Tensor

from ..config import HiFTConfig
from ..errors import GenerationError, InputError
from .causal_hift import F0_LOOKAHEAD, CausalHiFT

F0_LEFT_CONTEXT = 8  # the f0 predictor's 4 causal convolutions of kernel 3 look 2 frames back each
EDGE_FRAMES = 2  # the window's own edges (reflection pad, centred STFT/iSTFT) reach a few samples in


def _res_reach(kernels: tuple[int, ...], dilations: tuple[tuple[int, ...], ...]) -> int:
    """Left reach in samples of the widest residual block: each dilation's conv plus its second conv."""
    return max((k - 1) * (sum(d) + len(d)) for k, d in zip(kernels, dilations))


def decode_left_context(cfg: HiFTConfig) -> int:
    """Mel frames before a decode output sample that it can depend on, rounded up, plus the window edges.

    An upper bound of the receptive field summed along every path: iSTFT overlap and ``conv_post`` at the
    final rate; per stage its up-sampling conv and residual blocks; the widest source branch (its residual
    block, its strided conv and its STFT frame). The official sizes give 33 (measured reach: 28.5 frames)."""
    rates = np.cumprod(cfg.upsample_rates).tolist()
    final = rates[-1]
    frames = 0.0
    for i, (k, rate) in enumerate(zip(cfg.upsample_kernel_sizes, rates)):
        frames += ((k - 1) + _res_reach(cfg.resblock_kernel_sizes, cfg.resblock_dilation_sizes)) / rate
    frames += max(_res_reach((k,), (d,)) / rate for k, d, rate in
                  zip(cfg.source_resblock_kernel_sizes, cfg.source_resblock_dilation_sizes, rates))
    stft_frames = cfg.istft_n_fft // cfg.istft_hop_len
    frames += (2 * max(final // r for r in rates) + 7 + 2 * stft_frames) / final
    return math.ceil(frames) + EDGE_FRAMES


@dataclass(frozen=True)
class HiftStream:
    """What a streamed vocoder remembers between calls (a value; calls return a new one).

    ``mel`` holds frames ``mel_start .. frames - 1``; ``f0`` the final f0 of frames ``f0_start ..`` (those are
    final up to ``frames - 3`` while streaming); ``phase`` [1, 9] float64 the phase increments summed over
    frames ``0 .. f0_start - 1``; ``emitted`` the samples returned so far."""

    mel: Tensor
    frames: int = 0
    mel_start: int = 0
    f0: Tensor | None = None
    f0_start: int = 0
    phase: Tensor | None = None
    emitted: int = 0
    finished: bool = False

    @classmethod
    def start(cls, n_mels: int = 80) -> "HiftStream":
        return cls(mel=torch.zeros(1, n_mels, 0))


def _new_f0(hift: CausalHiFT, state: HiftStream, mel: Tensor, f0_end: int, finalize: bool) -> Tensor:
    """f0 of frames [f0 done, f0_end) from the mel in memory (``mel`` starts at ``state.mel_start``)."""
    done = state.f0_start + (state.f0.shape[1] if state.f0 is not None else 0)
    if f0_end <= done:
        return mel.new_zeros(1, 0)
    start = max(0, done - F0_LEFT_CONTEXT)
    if start < state.mel_start:
        raise GenerationError("The vocoder stream lost the mel frames its f0 needs; start a new stream.")
    f0 = hift.f0(mel[:, :, start - state.mel_start:], finalize)
    return f0[:, done - start:]


def hift_stream_step(hift: CausalHiFT, state: HiftStream, new_mel: Tensor, *, finalize: bool,
                     should_stop: Callable[[], bool] | None = None) -> tuple[Tensor, HiftStream]:
    """Add ``new_mel`` [1, 80, n] and return the samples that became final [1, m] and the next state.

    Without ``finalize`` the last 8 frames' samples wait for more frames (as the official non-final call);
    with it everything is returned. Equal, up to float rounding, to the official ``speech[:, emitted:]`` of
    ``inference(all mel so far, finalize)``."""
    if state.finished:
        raise GenerationError("This vocoder stream is finalized; start a new one for the next utterance.")
    if new_mel.dim() != 3 or new_mel.shape[0] != 1 or new_mel.shape[1] != hift.cfg.in_channels:
        raise InputError(f"The vocoder expects mel frames [1, {hift.cfg.in_channels}, n], got {tuple(new_mel.shape)}.")
    up, context = hift.upsample_factor, decode_left_context(hift.cfg)
    mel = torch.cat([state.mel.to(new_mel), new_mel], dim=2).to(hift.conv_pre.bias.dtype)
    frames = state.frames + new_mel.shape[2]
    f0_end = frames if finalize else frames - F0_LOOKAHEAD
    f0_new = _new_f0(hift, state, mel, f0_end, finalize)
    f0 = f0_new if state.f0 is None else torch.cat([state.f0, f0_new], dim=1)
    phase = state.phase if state.phase is not None else torch.zeros(1, hift.m_source.dim, dtype=torch.float64)
    end = frames * up if finalize else (frames - F0_LOOKAHEAD - hift.look_right - 1) * up
    state = replace(state, mel=mel, frames=frames, f0=f0, finished=finalize)
    if end <= state.emitted:
        return new_mel.new_zeros(1, 0), _trim(hift, state, phase, context)

    a = max(state.f0_start, state.emitted // up - context)  # the window's first frame
    # The phase at frame a: carried past the frames [f0_start, a) that no later call needs.
    if a > state.f0_start:
        increments = hift.m_source.frame_increments(f0[:, :a - state.f0_start], state.f0_start, hift.excitation)
        phase = torch.cumsum(torch.cat([phase[:, None], increments.double()], dim=1), dim=1)[:, -1]
    source, _, sums = hift.m_source(f0[:, a - state.f0_start:], a, phase, hift.excitation)
    x = mel[:, :, a - state.mel_start: f0_end - state.mel_start]
    with torch.inference_mode():
        wave = hift.decode(x, source, finalize, should_stop)
    out = wave[:, state.emitted - a * up:]
    state = replace(state, emitted=end, f0=f0[:, a - state.f0_start:], f0_start=a)
    return out, _trim(hift, state, phase, context, sums)


def _trim(hift: CausalHiFT, state: HiftStream, phase: Tensor, context: int, sums: Tensor | None = None) -> HiftStream:
    """Drop the frames the next call cannot need (its window starts ``context`` frames before what it emits)."""
    keep_from = max(state.f0_start, state.emitted // hift.upsample_factor - context)
    if sums is not None and keep_from > state.f0_start:
        phase = sums[:, keep_from - state.f0_start - 1]
    elif keep_from > state.f0_start:
        increments = hift.m_source.frame_increments(state.f0[:, :keep_from - state.f0_start], state.f0_start,
                                                    hift.excitation)
        phase = torch.cumsum(torch.cat([phase[:, None], increments.double()], dim=1), dim=1)[:, -1]
    f0 = state.f0[:, keep_from - state.f0_start:]
    f0_done = keep_from + f0.shape[1]
    mel_from = max(state.mel_start, min(keep_from, f0_done - F0_LEFT_CONTEXT))
    return replace(state, mel=state.mel[:, :, mel_from - state.mel_start:], mel_start=mel_from, f0=f0,
                   f0_start=keep_from, phase=phase)
