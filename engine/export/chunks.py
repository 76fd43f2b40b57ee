"""A timeline from the engine's audio chunks: one segment per spoken sentence, as ``timbre synth`` makes it.

The engine streams :class:`~engine.pipeline.AudioChunk` s; a sentence ends with the chunk marked
``sentence_end``. Ask the engine for no pause of its own (``sentence_pause_s=0``) and let the export's
line pause put the silence in, so subtitle cues end where the words end.
"""
from __future__ import annotations

import numpy as np

from .timeline import NATIVE_RATE, Segment, Timeline


class TimelineCollector:
    """Feed it every chunk of one request with :meth:`add`; :meth:`timeline` gives the segments so far."""

    def __init__(self, speaker: str | None = None) -> None:
        self.speaker = speaker
        self._parts: list[np.ndarray] = []
        self._segments: list[Segment] = []
        self._rate = NATIVE_RATE

    def add(self, chunk) -> None:
        """``chunk``: an AudioChunk (samples, sample_rate, sentence_text, sentence_end)."""
        self._rate = int(chunk.sample_rate)
        self._parts.append(np.asarray(chunk.samples, dtype=np.float32))
        if chunk.sentence_end:
            self._segments.append(Segment(np.concatenate(self._parts), chunk.sentence_text, self.speaker))
            self._parts = []

    @property
    def n_samples(self) -> int:
        return sum(s.audio.shape[0] for s in self._segments) + sum(p.shape[0] for p in self._parts)

    def timeline(self) -> Timeline:
        """The finished sentences (an unfinished last one too, so nothing heard is dropped)."""
        segments = list(self._segments)
        if self._parts:
            segments.append(Segment(np.concatenate(self._parts), "", self.speaker))
        return Timeline(tuple(segments), self._rate)
