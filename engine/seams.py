"""Seams between pieces of audio: the raised-cosine fade used at sentence edges (engine) and at the start and
end of playback (studio), so neither clicks. numpy only: the studio's GUI thread may call it."""
from __future__ import annotations

import numpy as np


def fade(x: np.ndarray, n: int, *, fade_in: bool) -> np.ndarray:
    """A float32 copy of ``x`` [N] with a raised-cosine fade over its first (``fade_in``) or last ``n`` samples."""
    x = np.array(x, dtype=np.float32)
    n = min(n, x.shape[0])
    if n <= 0:
        return x
    ramp = (0.5 - 0.5 * np.cos(np.pi * (np.arange(n, dtype=np.float64) + 0.5) / n)).astype(np.float32)
    if fade_in:
        x[:n] *= ramp
    else:
        x[-n:] *= ramp[::-1]
    return x
