"""True peak (ITU-R BS.1770-4 Annex 2): the highest level of the waveform between the samples.

A decoder or a D/A converter reconstructs the continuous signal, whose peaks can lie above every sample.
BS.1770 measures them by oversampling (4x at 48 kHz); here every rate is oversampled to at least 192 kHz
(24 kHz: 8x, 44.1 kHz: 5x, 48 kHz: 4x) with libsoxr's linear-phase very-high-quality filter, which is
delay-compensated, so oversampled point ``j * k`` is input sample ``j``. Long files are processed in
overlapping blocks so memory stays at a few MB whatever the length.

pyloudnorm measures integrated loudness only, so the peak envelope is computed here; it is also what the
limiter (:mod:`engine.export.limiter`) needs, per input sample.
"""
from __future__ import annotations

import math

import numpy as np

from ..errors import NEVER_CANCELLED, CancelToken

TARGET_OVERSAMPLED_RATE = 192000
_BLOCK = 1 << 17   # input samples per block
_MARGIN = 512      # input samples of context on each side of a block (soxr VHQ's filter is far shorter)


def oversampling(sample_rate: int) -> int:
    """The integer factor that brings ``sample_rate`` to at least 192 kHz (and at least 4, as BS.1770)."""
    return max(4, math.ceil(TARGET_OVERSAMPLED_RATE / sample_rate))


def peak_envelope(audio: np.ndarray, sample_rate: int, cancel: CancelToken = NEVER_CANCELLED) -> np.ndarray:
    """float32 [N]: for each sample j, the largest absolute reconstructed value over all channels in
    [j, j + 1) (the sample itself and the k - 1 interpolated points after it). ``audio`` is [N] or [N, C]."""
    import soxr

    x = np.asarray(audio, dtype=np.float32)
    x = x[:, None] if x.ndim == 1 else x
    n = x.shape[0]
    k = oversampling(sample_rate)
    out = np.empty(n, dtype=np.float32)
    for start in range(0, n, _BLOCK):
        cancel.raise_if_cancelled("The export")
        stop = min(n, start + _BLOCK)
        lo, hi = max(0, start - _MARGIN), min(n, stop + _MARGIN)
        up = soxr.resample(x[lo:hi], sample_rate, sample_rate * k, quality="VHQ")
        up = np.abs(up.reshape(hi - lo, k, -1)).max(axis=(1, 2))
        out[start:stop] = np.maximum(up[start - lo:stop - lo], np.abs(x[start:stop]).max(axis=1))
    return out


def true_peak(audio: np.ndarray, sample_rate: int, cancel: CancelToken = NEVER_CANCELLED) -> float:
    """The linear true peak of ``audio`` (0 for silence or no samples)."""
    if np.asarray(audio).shape[0] == 0:
        return 0.0
    return float(peak_envelope(audio, sample_rate, cancel).max())
