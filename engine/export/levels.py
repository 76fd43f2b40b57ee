"""Measuring a file's levels: integrated loudness, RMS, peaks, noise floor and room tone at each end.

Integrated loudness is ITU-R BS.1770-4 with its gating, computed by pyloudnorm (K-weighting, 400 ms
blocks, -70 LUFS absolute and -10 LU relative gates). The rest follows what ACX's own check (Audacity's
"ACX Check") measures: RMS over the whole file (20 log10 of the root mean square, 0 dB = a full-scale
square wave), the sample peak, and the noise floor as the quietest 400 ms window (RMS, 100 ms hop).
Levels below -120 dB are reported as -120 (digital silence has no finite level).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import NEVER_CANCELLED, CancelToken
from .truepeak import true_peak

SILENCE_DB = -120.0
FLOOR_WINDOW_S = 0.4
FLOOR_HOP_S = 0.1
# Room tone at the ends: the audio before the first (after the last) 10 ms window louder than -50 dB RMS.
# ACX allows at most -60 dB of noise and speech sits near -20 dB, so -50 dB separates the two with 10 dB of
# margin on the noise side.
EDGE_WINDOW_S = 0.010
EDGE_SPEECH_DB = -50.0


def to_db(linear: float) -> float:
    """20 log10 of an amplitude, floored at :data:`SILENCE_DB`."""
    return float(max(SILENCE_DB, 20 * np.log10(max(float(linear), 1e-300))))


def power_db(mean_square: float) -> float:
    return float(max(SILENCE_DB, 10 * np.log10(max(float(mean_square), 1e-300))))


@dataclass(frozen=True)
class Levels:
    """What :func:`measure` finds. integrated_lufs is None for audio shorter than one 400 ms block."""

    integrated_lufs: float | None
    rms_db: float
    true_peak_dbtp: float
    sample_peak_dbfs: float
    noise_floor_db: float
    head_s: float
    tail_s: float
    duration_s: float


def integrated_loudness(audio: np.ndarray, sample_rate: int) -> float | None:
    """BS.1770-4 integrated loudness in LUFS (pyloudnorm); None when shorter than one 400 ms block."""
    import pyloudnorm

    meter = pyloudnorm.Meter(sample_rate)
    if audio.shape[0] <= meter.block_size * sample_rate:
        return None
    return float(max(SILENCE_DB, meter.integrated_loudness(np.asarray(audio, dtype=np.float64))))


def _window_mean_squares(power: np.ndarray, window: int, hop: int) -> np.ndarray:
    """Mean of ``power`` over windows of ``window`` samples every ``hop`` samples (one window if shorter)."""
    if power.shape[0] <= window:
        return np.array([power.mean()]) if power.shape[0] else np.zeros(1)
    csum = np.concatenate([[0.0], np.cumsum(power, dtype=np.float64)])
    starts = np.arange(0, power.shape[0] - window + 1, hop)
    return (csum[starts + window] - csum[starts]) / window


def _edges(power: np.ndarray, sample_rate: int) -> tuple[float, float]:
    """Seconds of room tone before the first and after the last window that holds speech."""
    window = max(1, int(round(EDGE_WINDOW_S * sample_rate)))
    n = power.shape[0] // window
    if n == 0:
        return power.shape[0] / sample_rate, power.shape[0] / sample_rate
    frames = power[: n * window].reshape(n, window).mean(axis=1)
    loud = np.flatnonzero(frames > 10 ** (EDGE_SPEECH_DB / 10))
    if loud.size == 0:
        duration = power.shape[0] / sample_rate
        return duration, duration
    return loud[0] * window / sample_rate, (power.shape[0] - (loud[-1] + 1) * window) / sample_rate


def measure(audio: np.ndarray, sample_rate: int, cancel: CancelToken = NEVER_CANCELLED) -> Levels:
    """The :class:`Levels` of ``audio`` ([N] mono or [N, C], float in [-1, 1])."""
    x = np.asarray(audio, dtype=np.float32)
    x = x[:, None] if x.ndim == 1 else x
    power = np.square(x, dtype=np.float64).mean(axis=1)  # per sample, averaged over channels
    cancel.raise_if_cancelled("The export")
    floor = _window_mean_squares(power, int(round(FLOOR_WINDOW_S * sample_rate)),
                                 int(round(FLOOR_HOP_S * sample_rate)))
    head, tail = _edges(power, sample_rate)
    lufs = integrated_loudness(x, sample_rate)
    cancel.raise_if_cancelled("The export")
    return Levels(
        integrated_lufs=lufs,
        rms_db=power_db(power.mean() if power.size else 0.0),
        true_peak_dbtp=to_db(true_peak(x, sample_rate, cancel)),
        sample_peak_dbfs=to_db(np.abs(x).max() if x.size else 0.0),
        noise_floor_db=power_db(floor.min()),
        head_s=head, tail_s=tail, duration_s=x.shape[0] / sample_rate)
