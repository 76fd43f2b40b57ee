"""A take's audio as FLAC bytes (24-bit, lossless for the engine's output) and back, with libsndfile."""
from __future__ import annotations

import io

import numpy as np

from ..errors import ProjectFileError

FLAC_SUBTYPE = "PCM_24"  # 24-bit: the float take's rounding is ~-144 dBFS, far under any noise floor


def encode_flac(audio: np.ndarray, sample_rate: int) -> bytes:
    """float32 [N] mono (within [-1, 1]; the vocoder clamps to 0.99) -> FLAC file bytes."""
    import soundfile as sf

    buf = io.BytesIO()
    sf.write(buf, np.asarray(audio, dtype=np.float32), int(sample_rate), format="FLAC", subtype=FLAC_SUBTYPE)
    return buf.getvalue()


def decode_flac(data: bytes, where: str) -> tuple[np.ndarray, int]:
    """(float32 [N] mono, sample rate) of FLAC bytes, or ProjectFileError naming ``where``."""
    import soundfile as sf

    try:
        audio, rate = sf.read(io.BytesIO(data), dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, ValueError) as e:
        raise ProjectFileError(f"{where} is damaged and cannot be played ({e}).") from e
    return np.ascontiguousarray(audio[:, 0]), int(rate)
