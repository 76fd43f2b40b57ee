"""Helpers for the export tests: speech-like test signals and measurements made independently of
engine.export (pyloudnorm called directly on the decoded file, true peak by scipy's polyphase resampler
instead of the soxr filter the engine uses, RMS and noise floor with plain numpy)."""
from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import soundfile as sf

SR = 24000


def voiced(seconds: float, f0: float = 140.0, level: float = 0.1, seed: int = 0) -> np.ndarray:
    """float32 [N]: a harmonic complex (f0 and its harmonics up to 4 kHz) under a 4 Hz syllable envelope,
    with a little noise, peak ``level``; starts and ends at exactly zero (raised-cosine edges)."""
    rng = np.random.default_rng(seed)
    n = int(round(seconds * SR))
    t = np.arange(n) / SR
    harmonics = np.arange(1, int(4000 // f0) + 1)
    x = (np.sin(2 * np.pi * f0 * harmonics[:, None] * t + rng.uniform(0, 2 * np.pi, (harmonics.size, 1)))
         / harmonics[:, None]).sum(axis=0)
    x *= 0.55 + 0.45 * np.sin(2 * np.pi * 4 * t)
    x += 0.02 * rng.standard_normal(n)
    edge = min(n // 2, int(0.02 * SR))
    ramp = 0.5 - 0.5 * np.cos(np.linspace(0, np.pi, edge))
    x[:edge] *= ramp
    x[n - edge:] *= ramp[::-1]
    return (level * x / np.abs(x).max()).astype(np.float32)


def burst(seconds: float, level: float = 0.3, freq: float = 440.0) -> np.ndarray:
    """float32 [N]: a tone that is loud from its first sample to its last (sharp edges mark where a
    segment starts and ends in the decoded audio)."""
    t = np.arange(int(round(seconds * SR))) / SR
    return (level * np.sign(np.sin(2 * np.pi * freq * t + 0.5)) * 0.5
            + level * 0.5 * np.sin(2 * np.pi * freq * t + 0.5)).astype(np.float32)


def decode(path: Path) -> tuple[np.ndarray, int]:
    """float32 [N, C] and the rate, read with libsndfile, or PyAV (cut to the stream's stated duration)."""
    try:
        audio, rate = sf.read(str(path), dtype="float32", always_2d=True)
        return audio, rate
    except sf.LibsndfileError:
        pass
    with av.open(str(path)) as c:
        st = c.streams.audio[0]
        frames = [f.to_ndarray() for f in c.decode(st)]  # fltp: [C, n] per frame
        audio = np.concatenate(frames, axis=1).T.astype(np.float32)
        return audio[: int(st.duration * st.time_base * st.rate)], st.rate


def lufs(audio: np.ndarray, rate: int) -> float:
    import pyloudnorm

    return float(pyloudnorm.Meter(rate).integrated_loudness(audio.astype(np.float64)))


def true_peak_db(audio: np.ndarray) -> float:
    """dBTP by 16x polyphase oversampling (scipy's Kaiser-window FIR, not soxr)."""
    from scipy.signal import resample_poly

    x = audio.astype(np.float64)
    return float(20 * np.log10(np.abs(resample_poly(x, 16, 1, axis=0)).max()))


def rms_db(audio: np.ndarray) -> float:
    return float(10 * np.log10(np.mean(audio.astype(np.float64) ** 2)))


def sample_peak_db(audio: np.ndarray) -> float:
    return float(20 * np.log10(np.abs(audio).max()))


def onsets(audio: np.ndarray, rate: int, threshold: float = 0.02, gap_s: float = 0.05) -> list[tuple[float, float]]:
    """(start, end) seconds of each stretch louder than ``threshold``, stretches closer than ``gap_s`` merged."""
    loud = np.flatnonzero(np.abs(audio).max(axis=1) > threshold)
    if loud.size == 0:
        return []
    breaks = np.flatnonzero(np.diff(loud) > gap_s * rate)
    starts = np.concatenate([[loud[0]], loud[breaks + 1]])
    ends = np.concatenate([loud[breaks], [loud[-1]]]) + 1
    return [(s / rate, e / rate) for s, e in zip(starts, ends)]


PNG_1X1 = bytes.fromhex(  # a valid 1x1 PNG (cover art)
    "89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c4890000000d49444154789c6360f8cf"
    "c0f01f0005000201e5f0c5a10000000049454e44ae426082")
