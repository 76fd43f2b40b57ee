"""WAV reading/writing for the app: atomic export (temp file + rename) and narration assembly."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from engine.errors import AudioInputError

EXPORT_RATE = 24000


def write_wav_atomic(path: Path, samples: np.ndarray, sample_rate: int = EXPORT_RATE,
                     float32: bool = False) -> Path:
    """Write mono ``samples`` as WAV (16-bit PCM, or 32-bit float) so the file appears whole or not at all."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = np.asarray(samples, dtype=np.float32).reshape(-1)
    if not float32:
        data = np.clip(data, -1.0, 1.0)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=".wav.part", dir=path.parent)
    os.close(fd)
    try:
        sf.write(tmp, data, sample_rate, subtype="FLOAT" if float32 else "PCM_16", format="WAV")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def join_with_pauses(parts: list[np.ndarray], sample_rate: int, pause_ms: int) -> np.ndarray:
    """Concatenate sentence audio with ``pause_ms`` of silence between them."""
    gap = np.zeros(int(sample_rate * max(0, pause_ms) / 1000), dtype=np.float32)
    out: list[np.ndarray] = []
    for i, part in enumerate(parts):
        if i:
            out.append(gap)
        out.append(np.asarray(part, dtype=np.float32).reshape(-1))
    return np.concatenate(out) if out else np.zeros(0, np.float32)


def read_audio(path: Path) -> tuple[np.ndarray, int]:
    """Read any soundfile-readable file as float32 mono; typed error naming the file otherwise."""
    try:
        data, rate = sf.read(str(path), dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, OSError) as error:
        raise AudioInputError(
            f"Cannot read '{Path(path).name}' as audio ({error}). Use a WAV, FLAC or OGG file."
        ) from error
    if data.shape[0] == 0:
        raise AudioInputError(f"'{Path(path).name}' contains no audio. Pick another file.")
    return data.mean(axis=1).astype(np.float32), int(rate)


def resample(samples: np.ndarray, from_rate: int, to_rate: int) -> np.ndarray:
    if from_rate == to_rate:
        return np.asarray(samples, dtype=np.float32)
    return soxr.resample(np.asarray(samples, dtype=np.float32), from_rate, to_rate).astype(np.float32)
