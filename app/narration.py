"""The narration being edited: its sentences and, per sentence, the takes generated so far.

Plain Python (no Qt) so the rules are easy to test: editing the text re-splits it, and every
sentence whose text did not change keeps its takes; a take remembers the seed and direction it
was made with, so it can be reproduced or varied.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np


@dataclass
class Take:
    audio: np.ndarray  # float32 mono
    sample_rate: int
    seed: int
    mode: str
    instruction: str
    voice: str
    created: float = field(default_factory=time.time)

    @property
    def seconds(self) -> float:
        return len(self.audio) / self.sample_rate


@dataclass
class Sentence:
    text: str
    takes: list[Take] = field(default_factory=list)
    chosen: int = -1  # index into takes; -1 = none yet

    @property
    def take(self) -> Take | None:
        return self.takes[self.chosen] if 0 <= self.chosen < len(self.takes) else None

    def add(self, take: Take) -> None:
        self.takes.append(take)
        self.chosen = len(self.takes) - 1


class Narration:
    def __init__(self) -> None:
        self.sentences: list[Sentence] = []

    def set_sentences(self, texts: list[str]) -> bool:
        """Replace the sentence list, keeping takes of sentences whose text is unchanged.

        Returns True when the list actually changed.
        """
        if [s.text for s in self.sentences] == texts:
            return False
        pool: dict[str, list[Sentence]] = {}
        for s in self.sentences:
            pool.setdefault(s.text, []).append(s)
        new: list[Sentence] = []
        for text in texts:
            kept = pool.get(text)
            new.append(kept.pop(0) if kept else Sentence(text))
        self.sentences = new
        return True

    def clear_takes(self) -> int:
        """Forget every take (the voice changes); returns how many there were."""
        count = sum(len(s.takes) for s in self.sentences)
        for s in self.sentences:
            s.takes.clear()
            s.chosen = -1
        return count

    @property
    def take_count(self) -> int:
        return sum(len(s.takes) for s in self.sentences)

    def audio_parts(self) -> list[np.ndarray]:
        """Chosen take of every sentence that has one, in order."""
        return [s.take.audio for s in self.sentences if s.take is not None]

    @property
    def done_count(self) -> int:
        return sum(1 for s in self.sentences if s.take is not None)

    @property
    def sample_rate(self) -> int:
        for s in self.sentences:
            if s.take is not None:
                return s.take.sample_rate
        return 24000
