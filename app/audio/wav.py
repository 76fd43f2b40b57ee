"""Narration assembly and WAV export for the studio (files written atomically with the user's umask)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf

from engine import atomic_write

EXPORT_RATE = 24000


def write_wav_atomic(path: Path, samples: np.ndarray, sample_rate: int = EXPORT_RATE,
                     float32: bool = False) -> Path:
    """Write mono ``samples`` as WAV (16-bit PCM, or 32-bit float) so the file appears whole or not at all."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = np.asarray(samples, dtype=np.float32).reshape(-1)
    if not float32:
        data = np.clip(data, -1.0, 1.0)
    return atomic_write(path, lambda tmp: sf.write(tmp, data, sample_rate, subtype="FLOAT" if float32 else "PCM_16",
                                                   format="WAV"), suffix=".wav")


def join_with_pauses(parts: list[np.ndarray], sample_rate: int, pause_ms: int) -> np.ndarray:
    """Concatenate sentence audio with ``pause_ms`` of silence between them."""
    gap = np.zeros(int(sample_rate * max(0, pause_ms) / 1000), dtype=np.float32)
    out: list[np.ndarray] = []
    for i, part in enumerate(parts):
        if i:
            out.append(gap)
        out.append(np.asarray(part, dtype=np.float32).reshape(-1))
    return np.concatenate(out) if out else np.zeros(0, np.float32)
