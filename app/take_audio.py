"""Decoded take audio, kept for the takes heard or shown last, so stepping through takes decodes each FLAC once.

A project keeps its takes as FLAC (in the .timbre file or its autosave); decoding one sentence costs about a
millisecond per second of audio. The cache holds at most :data:`BUDGET_SAMPLES` samples (48 MB of float32, about
eight minutes of takes) and drops the least recently used take first.
"""
from __future__ import annotations

from collections import OrderedDict
from typing import Callable

import numpy as np

BUDGET_SAMPLES = 12_000_000


class TakeAudioCache:
    def __init__(self, budget_samples: int = BUDGET_SAMPLES) -> None:
        self.budget = budget_samples
        self._audio: OrderedDict[str, np.ndarray] = OrderedDict()
        self._samples = 0

    def get(self, take_id: str, decode: Callable[[str], np.ndarray]) -> np.ndarray:
        """The take's samples (read-only), decoded by ``decode(take_id)`` the first time."""
        audio = self._audio.get(take_id)
        if audio is None:
            audio = self.put(take_id, decode(take_id))
        self._audio.move_to_end(take_id)
        return audio

    def put(self, take_id: str, audio: np.ndarray) -> np.ndarray:
        """Keep ``audio`` for ``take_id`` (a take just made: it needs no decoding when it is played)."""
        audio = np.asarray(audio, dtype=np.float32)
        audio.setflags(write=False)
        self.drop(take_id)
        self._audio[take_id] = audio
        self._samples += audio.shape[0]
        while self._samples > self.budget and len(self._audio) > 1:
            _, old = self._audio.popitem(last=False)
            self._samples -= old.shape[0]
        return audio

    def drop(self, take_id: str) -> None:
        old = self._audio.pop(take_id, None)
        if old is not None:
            self._samples -= old.shape[0]

    def clear(self) -> None:
        self._audio.clear()
        self._samples = 0
