"""A look-ahead true-peak limiter: the gain curve that keeps every reconstructed peak under a ceiling.

Written here because none of our libraries does it: pyloudnorm measures and applies a flat gain, soxr
resamples, and the limiters that exist in Python packages (pedalboard's JUCE limiter) work on sample
peaks without look-ahead and would add a large dependency for a dozen lines of array code.

For each sample the gain it needs is ``need = min(1, ceiling / peak_envelope)``. The applied gain is
``g = mean over |s - t| <= ramp of (min over |u - s| <= hold of need[u])``: the inner minimum holds every
reduction for ``hold`` around its peak, the outer mean ramps into and out of it over ``2 * ramp``. Every
``s`` in the mean's window has ``t`` inside its minimum's window (``ramp <= hold``), so ``g[t] <= need[t]``
at every sample: no peak is missed, and the gain never changes faster than one ramp. A speech peak gets
a 10 ms fade into and out of the reduction, which is inaudible on the few dB a mastering preset asks for.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import NEVER_CANCELLED, CancelToken
from .truepeak import peak_envelope, true_peak

RAMP_S = 0.005
HOLD_S = 0.020


@dataclass(frozen=True)
class Limited:
    """The limited audio (same shape as the input) and the deepest gain reduction it needed, in dB (>= 0)."""

    audio: np.ndarray
    reduction_db: float


def limit(audio: np.ndarray, sample_rate: int, ceiling: float, cancel: CancelToken = NEVER_CANCELLED) -> Limited:
    """``audio`` ([N] or [N, C] float32) with its true peak at or below the linear ``ceiling``."""
    from scipy.ndimage import minimum_filter1d, uniform_filter1d

    x = np.asarray(audio, dtype=np.float32)
    if x.shape[0] == 0:
        return Limited(x, 0.0)
    envelope = peak_envelope(x, sample_rate, cancel)
    need = np.minimum(1.0, ceiling / np.maximum(envelope.astype(np.float64), 1e-12))
    if need.min() >= 1.0:
        return Limited(x, 0.0)
    ramp = max(1, int(round(RAMP_S * sample_rate)))
    hold = max(ramp, int(round(HOLD_S * sample_rate)))
    held = minimum_filter1d(need, size=2 * hold + 1, mode="nearest")
    gain = np.minimum(uniform_filter1d(held, size=2 * ramp + 1, mode="nearest"), need)  # min(): float rounding
    y = (x * (gain if x.ndim == 1 else gain[:, None])).astype(np.float32)
    # The gain moves slowly but not at zero speed, so an interpolated peak can still poke out by a hair;
    # one flat trim settles it for certain.
    peak = true_peak(y, sample_rate, cancel)
    if peak > ceiling:
        y *= np.float32(ceiling / peak * (1 - 1e-6))
    return Limited(y, float(-20 * np.log10(gain.min())))
