"""Real speech for the take-check tests: espeak-ng recordings at 16 kHz, and damaged copies of them."""
from __future__ import annotations

import numpy as np

from engine.checks.calibrate import at_16k

RATE = 16000
SENTENCE = "Please call Stella and ask her to bring these things with her from the store."
OTHER = "Reading books every evening helps children learn new words."
THIRD = "The weather today is sunny with a light breeze from the west."


def speech(text: str = SENTENCE, voice: str = "en-us", **kw) -> np.ndarray:
    """float32 [N] at 16 kHz."""
    return at_16k(text, voice, **kw)


def with_pause(audio: np.ndarray, seconds: float, at: float = 0.5) -> np.ndarray:
    """``audio`` with ``seconds`` of silence inserted at fraction ``at`` of its length."""
    i = int(audio.size * at)
    return np.concatenate([audio[:i], np.zeros(int(seconds * RATE), np.float32), audio[i:]])
