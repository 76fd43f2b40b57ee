"""What an export is made of: a timeline of spoken segments, in the order they are heard.

A narration project (issue 15), ``timbre synth`` or any other caller fills a :class:`Timeline`; the
export decides from it where the pauses, files, chapter marks and subtitle cues go. Each segment is one
line (a sentence or a line of dialogue) with its audio and what ends it::

    Segment(audio, "It was a dark night.", speaker="Narrator", chapter="One")                 # a line
    Segment(audio, "Nobody came.", chapter="One", kind=SegmentKind.PARAGRAPH_END)             # ends a paragraph
    Segment(audio, "The end.", chapter="One", kind=SegmentKind.CHAPTER_END)                   # ends the chapter
    Segment(silence, "", pause_after_s=0.0)                                                    # silence, no cue

A chapter is the run of segments up to and including a ``CHAPTER_END`` (or the end of the timeline); every
segment of a run names the same chapter title (or none), so a timeline cannot say two things at once.
"""
from __future__ import annotations

import enum
import math
from dataclasses import dataclass

import numpy as np

from ..errors import ExportError

NATIVE_RATE = 24000  # the engine's output rate; exports resample from it


class SegmentKind(str, enum.Enum):
    """What a segment ends: decides the pause after it (see :class:`engine.export.layout.Pauses`)."""

    LINE = "line"
    PARAGRAPH_END = "paragraph_end"
    CHAPTER_END = "chapter_end"


@dataclass(frozen=True, eq=False)
class Segment:
    """One spoken line: ``audio`` float32 [N] mono at the timeline's rate (24 kHz).

    text: what is said (the subtitle cue; empty = no cue, e.g. a ``[pause 2s]``). speaker: cast member
    shown in subtitles when asked. chapter: the title of the chapter the line belongs to. kind: what the
    line ends. pause_after_s: silence after it instead of the pause its kind asks for (None = by kind).
    """

    audio: np.ndarray
    text: str = ""
    speaker: str | None = None
    chapter: str | None = None
    kind: SegmentKind = SegmentKind.LINE
    pause_after_s: float | None = None

    def __post_init__(self) -> None:
        audio = np.asarray(self.audio)
        if audio.ndim != 1 or not np.issubdtype(audio.dtype, np.floating):
            raise ExportError(f"A segment's audio must be a 1-D float array (mono samples), got shape "
                              f"{audio.shape} of {audio.dtype}.")
        audio = audio.astype(np.float32, copy=False)
        if not np.isfinite(audio).all():
            raise ExportError(f"The audio of segment {self.text[:40]!r} holds NaN or infinite samples; "
                              "generate the line again.")
        object.__setattr__(self, "audio", audio)
        object.__setattr__(self, "kind", SegmentKind(self.kind))
        if self.pause_after_s is not None and not (math.isfinite(self.pause_after_s) and self.pause_after_s >= 0):
            raise ExportError(f"The pause after {self.text[:40]!r} must be zero or more seconds, "
                              f"got {self.pause_after_s}.")


@dataclass(frozen=True)
class ChapterRun:
    """Segments ``first..last`` (inclusive indexes into the timeline) form one chapter titled ``title``."""

    title: str | None
    first: int
    last: int


@dataclass(frozen=True, eq=False)
class Timeline:
    """The segments of an export in playing order, at ``sample_rate`` (the engine's 24 kHz)."""

    segments: tuple[Segment, ...]
    sample_rate: int = NATIVE_RATE

    def __post_init__(self) -> None:
        object.__setattr__(self, "segments", tuple(self.segments))
        if not self.segments:
            raise ExportError("There is nothing to export: the timeline has no segments. Generate some lines first.")
        if not all(isinstance(s, Segment) for s in self.segments):
            raise ExportError("A timeline holds Segment values only.")
        if not (isinstance(self.sample_rate, int) and self.sample_rate > 0):
            raise ExportError(f"The timeline's sample rate must be a positive whole number, got {self.sample_rate!r}.")
        self.chapters()  # a timeline whose chapter titles contradict each other is refused here

    @classmethod
    def from_audio(cls, audio: np.ndarray, sample_rate: int = NATIVE_RATE, text: str = "") -> "Timeline":
        """A timeline of one segment (a single take or an existing recording)."""
        return cls((Segment(audio, text),), sample_rate)

    def chapters(self) -> list[ChapterRun]:
        """The chapter runs, split after every ``CHAPTER_END``; raises if a run names two titles."""
        runs: list[ChapterRun] = []
        first = 0
        for i, seg in enumerate(self.segments):
            title = self.segments[first].chapter
            if seg.chapter != title:
                raise ExportError(
                    f"Segment {i + 1} ({seg.text[:30]!r}) belongs to chapter {seg.chapter!r}, but the chapter it is "
                    f"in started at segment {first + 1} as {title!r}. Mark the last line of a chapter as its end "
                    "(SegmentKind.CHAPTER_END).")
            if seg.kind is SegmentKind.CHAPTER_END or i == len(self.segments) - 1:
                runs.append(ChapterRun(title, first, i))
                first = i + 1
        return runs

    @property
    def n_samples(self) -> int:
        """Samples of speech alone (no pauses or padding)."""
        return sum(s.audio.shape[0] for s in self.segments)
