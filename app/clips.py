"""Audio handed from a widget to the window in one value (signals carry these, not positional tuples)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Clip:
    audio: np.ndarray  # float32 mono
    sample_rate: int

    @property
    def seconds(self) -> float:
        return len(self.audio) / self.sample_rate


@dataclass(frozen=True)
class VoiceRequest:
    """Save this clip as a voice called ``name`` that says ``transcript``."""
    name: str
    clip: Clip
    transcript: str
