"""Two-pass loudness mastering: measure, then gain + true-peak limiting until the file meets its preset.

Pass 1 measures the file (BS.1770 integrated loudness with pyloudnorm, or RMS for ACX) and sets the gain
that puts it on the preset's target. Pass 2 applies that gain and limits the true peak to the ceiling.
Limiting takes a little level away, so the result is measured again and the gain corrected (from the
original audio each time, so nothing is limited twice) until it sits within 0.05 dB of the target or
:data:`MAX_PASSES` are spent; the report then says what the file measures, met or not.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import NEVER_CANCELLED, CancelToken, ExportError
from .levels import SILENCE_DB, integrated_loudness, power_db
from .limiter import limit
from .presets import Preset

MAX_PASSES = 5
SETTLED_DB = 0.05


@dataclass(frozen=True)
class Mastered:
    """The mastered audio ([N, C] float32), the gain applied (dB) and the deepest limiting (dB)."""

    audio: np.ndarray
    gain_db: float
    limited_db: float
    passes: int


def loudness(audio: np.ndarray, sample_rate: int, preset: Preset) -> float:
    """What ``preset`` targets, measured on ``audio``: RMS dB or integrated LUFS."""
    if preset.measure == "rms":
        return power_db(float(np.mean(np.square(audio, dtype=np.float64))) if audio.size else 0.0)
    lufs = integrated_loudness(audio, sample_rate)
    if lufs is None:
        raise ExportError(f"The audio is {audio.shape[0] / sample_rate:.2f} s long; measuring loudness for the "
                          f"{preset.name} preset needs at least 0.4 s. Master it with --preset acx or none.")
    return lufs


def master(audio: np.ndarray, sample_rate: int, preset: Preset, *, ceiling_dbtp: float | None = None,
           trim_db: float = 0.0, cancel: CancelToken = NEVER_CANCELLED) -> Mastered:
    """``audio`` [N, C] float32 brought to ``preset`` (see the module docstring); unchanged for ``none``.

    ceiling_dbtp: the limiter's ceiling instead of the preset's, and trim_db: aim this much above the
    target (the exporter uses both when a lossy encoder moved the decoded file's peak or level)."""
    x = np.asarray(audio, dtype=np.float32)
    if not preset.masters:
        return Mastered(x, 0.0, 0.0, 0)
    measured = loudness(x, sample_rate, preset)
    if measured <= SILENCE_DB:
        raise ExportError("The audio is silent, so there is no loudness to master. Check the takes.")
    target = preset.target(x.shape[1] if x.ndim == 2 else 1) + trim_db
    ceiling = 10 ** ((preset.ceiling_dbtp if ceiling_dbtp is None else ceiling_dbtp) / 20)
    gain_db = target - measured
    for passes in range(1, MAX_PASSES + 1):
        cancel.raise_if_cancelled("The export")
        limited = limit(x * np.float32(10 ** (gain_db / 20)), sample_rate, ceiling, cancel)
        error = target - loudness(limited.audio, sample_rate, preset)
        if abs(error) <= SETTLED_DB or passes == MAX_PASSES:
            break
        gain_db += error
    return Mastered(limited.audio, gain_db, limited.reduction_db, passes)
