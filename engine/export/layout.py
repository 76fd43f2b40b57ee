"""Where every segment of a timeline lands: which file, at which sample, with which pauses around it.

Everything downstream reads positions from the :class:`FilePlan` this module makes, at the timeline's
own rate, in whole samples: the rendered audio, the chapter marks and the subtitle cues. That is what
keeps the cues exactly on the audio (including pauses and head/tail padding), whatever the output rate.

Per file: ``head`` silence, then each segment followed by its pause (by its kind, or its own
``pause_after_s``), except that the file's last segment is followed by the ``tail`` silence instead.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np

from ..errors import ExportError
from .timeline import SegmentKind, Timeline

Split = Literal["none", "chapter", "line"]
SPLITS: tuple[str, ...] = ("none", "chapter", "line")


def _seconds(value: float, what: str) -> float:
    if not (isinstance(value, (int, float)) and math.isfinite(value) and 0 <= value <= 600):
        raise ExportError(f"The {what} must be between 0 and 600 seconds, got {value!r}.")
    return float(value)


@dataclass(frozen=True)
class Pauses:
    """Silence after a line, a paragraph's last line and a chapter's last line, in seconds.

    The line pause defaults to the 0.15 s the engine puts between sentences of one request, so a
    ``timbre synth`` export sounds as it did before exports had options."""

    line_s: float = 0.15
    paragraph_s: float = 0.6
    chapter_s: float = 2.0

    def __post_init__(self) -> None:
        for name in ("line_s", "paragraph_s", "chapter_s"):
            _seconds(getattr(self, name), f"pause after a {name[:-2]}")

    def after(self, kind: SegmentKind) -> float:
        return {SegmentKind.LINE: self.line_s, SegmentKind.PARAGRAPH_END: self.paragraph_s,
                SegmentKind.CHAPTER_END: self.chapter_s}[kind]


@dataclass(frozen=True)
class Padding:
    """Silence at the start (head) and end (tail) of every file, in seconds (ACX: 0.5-1 s and 1-5 s)."""

    head_s: float = 0.0
    tail_s: float = 0.0

    def __post_init__(self) -> None:
        _seconds(self.head_s, "head padding")
        _seconds(self.tail_s, "tail padding")


@dataclass(frozen=True)
class Placed:
    """Segment ``index`` of the timeline plays from sample ``start`` to ``end`` (exclusive) of its file."""

    index: int
    start: int
    end: int


@dataclass(frozen=True)
class ChapterMark:
    """A chapter of one file: ``title`` from sample ``start`` to ``end`` (marks cover the file end to end)."""

    title: str
    start: int
    end: int


@dataclass(frozen=True)
class FilePlan:
    """One output file: its 1-based ``number``, ``title`` (chapter title or None), placed segments,
    chapter marks and total ``length`` in samples at ``sample_rate``."""

    number: int
    title: str | None
    placed: tuple[Placed, ...]
    chapters: tuple[ChapterMark, ...]
    length: int
    sample_rate: int

    def render(self, timeline: Timeline) -> np.ndarray:
        """The file's audio: float32 [length] mono, silence wherever no segment plays."""
        out = np.zeros(self.length, dtype=np.float32)
        for p in self.placed:
            out[p.start:p.end] = timeline.segments[p.index].audio
        return out

    @property
    def duration_s(self) -> float:
        return self.length / self.sample_rate


def _groups(timeline: Timeline, split: Split) -> list[tuple[str | None, list[int]]]:
    """(title, segment indexes) of each output file."""
    if split == "line":
        return [(s.chapter, [i]) for i, s in enumerate(timeline.segments)]
    runs = timeline.chapters()
    if split == "chapter":
        return [(r.title, list(range(r.first, r.last + 1))) for r in runs]
    if split == "none":
        return [(None, list(range(len(timeline.segments))))]
    raise ExportError(f"Unknown split {split!r}; use one of {', '.join(SPLITS)}.")


def _chapter_marks(timeline: Timeline, placed: list[Placed], length: int) -> tuple[ChapterMark, ...]:
    """Marks for the chapter runs inside one file: each starts where its first line's time begins (the
    first at 0, so the head padding belongs to it) and ends where the next one starts (the last at the end)."""
    where = {p.index: p for p in placed}
    runs = [r for r in timeline.chapters() if r.first in where]
    if len(runs) == 1 and runs[0].title is None:
        return ()  # one untitled chapter (a plain take): a mark would say nothing
    starts = [0] + [where[r.first].start for r in runs[1:]]
    ends = starts[1:] + [length]
    return tuple(ChapterMark(r.title or f"Chapter {n}", s, e)
                 for n, (r, s, e) in enumerate(zip(runs, starts, ends), start=1))


def plan_files(timeline: Timeline, split: Split = "none", pauses: Pauses = Pauses(),
               padding: Padding = Padding()) -> list[FilePlan]:
    """Where each segment goes, one :class:`FilePlan` per output file (see the module docstring)."""
    sr = timeline.sample_rate

    def samples(seconds: float) -> int:
        return int(round(seconds * sr))

    plans = []
    for number, (title, indexes) in enumerate(_groups(timeline, split), start=1):
        pos = samples(padding.head_s)
        placed = []
        for k, i in enumerate(indexes):
            seg = timeline.segments[i]
            placed.append(Placed(i, pos, pos + seg.audio.shape[0]))
            pos += seg.audio.shape[0]
            if k < len(indexes) - 1:
                pos += samples(seg.pause_after_s if seg.pause_after_s is not None else pauses.after(seg.kind))
        length = pos + samples(padding.tail_s)
        marks = _chapter_marks(timeline, placed, length) if split != "line" else ()
        plans.append(FilePlan(number, title, tuple(placed), marks, length, sr))
    return plans
