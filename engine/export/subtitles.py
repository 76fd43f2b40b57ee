"""SRT and WebVTT subtitles: one cue per spoken line, timed from where the line sits in its file.

The cue times come from the same :class:`~engine.export.layout.FilePlan` the audio is rendered from, so
they include the head padding and every pause, and rounding to the millisecond is the only difference.
Written here rather than with a subtitle library: both formats are a numbered list of
``start --> end`` + text, and the libraries (pysubs2, srt, webvtt-py) would route our text through their
own markup (pysubs2 reads ``{...}`` as an ASS override and drops it); the escaping WebVTT needs is three
characters.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from ..errors import ExportError
from .layout import FilePlan
from .timeline import Timeline

SubtitleFormat = Literal["srt", "vtt"]


@dataclass(frozen=True)
class Cue:
    """Seconds from the start of the file, the line's text and its speaker."""

    start_s: float
    end_s: float
    text: str
    speaker: str | None = None


def subtitle_format(path: str | Path) -> SubtitleFormat:
    suffix = Path(path).suffix.lower()
    if suffix in (".srt", ".vtt"):
        return suffix[1:]  # type: ignore[return-value]
    raise ExportError(f"Subtitles are written as .srt or .vtt, not {Path(path).name}; name the file e.g. "
                      f"{Path(path).stem}.srt.")


def cues(plan: FilePlan, timeline: Timeline) -> list[Cue]:
    """One cue per segment of ``plan`` that has text, in playing order."""
    out = []
    for p in plan.placed:
        seg = timeline.segments[p.index]
        text = " ".join(seg.text.split())
        if text:
            out.append(Cue(p.start / plan.sample_rate, p.end / plan.sample_rate, text, seg.speaker))
    return out


def _timestamp(seconds: float, separator: str) -> str:
    ms = int(round(seconds * 1000))
    return f"{ms // 3600000:02d}:{ms // 60000 % 60:02d}:{ms // 1000 % 60:02d}{separator}{ms % 1000:03d}"


def _vtt_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def to_srt(items: list[Cue], speakers: bool = False) -> str:
    blocks = []
    for n, c in enumerate(items, start=1):
        text = f"{c.speaker}: {c.text}" if speakers and c.speaker else c.text
        blocks.append(f"{n}\n{_timestamp(c.start_s, ',')} --> {_timestamp(c.end_s, ',')}\n{text}\n")
    return "\n".join(blocks)


def to_vtt(items: list[Cue], speakers: bool = False) -> str:
    blocks = ["WEBVTT\n"]
    for n, c in enumerate(items, start=1):
        text = _vtt_escape(c.text)
        if speakers and c.speaker:
            text = f"<v {_vtt_escape(c.speaker)}>{text}"  # WebVTT's voice span: players show or style the name
        blocks.append(f"{n}\n{_timestamp(c.start_s, '.')} --> {_timestamp(c.end_s, '.')}\n{text}\n")
    return "\n".join(blocks)


def render_subtitles(kind: SubtitleFormat, items: list[Cue], speakers: bool = False) -> str:
    return to_srt(items, speakers) if kind == "srt" else to_vtt(items, speakers)
