"""Production export: formats, chapters, subtitles and loudness mastering (no Qt; the studio and CLI call it).

    from engine.export import Segment, SegmentKind, Timeline, ExportSettings, export_timeline

    timeline = Timeline([Segment(audio, "Hello.", speaker="Ann", chapter="One", kind=SegmentKind.CHAPTER_END),
                         Segment(audio2, "Again.", chapter="Two")])
    result = export_timeline(timeline, "book.m4b", ExportSettings(master="acx", subtitles=Path("book.srt")))
    print(result.describe())                    # one report per file; result.to_dict() for JSON

One idea per module: timeline (the input), layout (where each segment lands), formats (what the suffix
means), encode/tags/decode (writing, tagging, reading back), levels/truepeak/limiter/mastering/presets
(loudness), report (the per-file report), subtitles (SRT/VTT), export (putting it together), check
(measuring a file as it is), cli_options (the command-line options shared by ``timbre synth`` and
``timbre render``), chunks (a timeline from the engine's audio chunks).
"""
from __future__ import annotations

from .check import check_file
from .export import ExportedFile, ExportResult, ExportSettings, export_timeline, master_file
from .formats import FORMAT_NAMES, FORMATS, SUFFIXES, FormatSpec, resolve_format
from .layout import SPLITS, ChapterMark, FilePlan, Padding, Pauses, plan_files
from .presets import PRESET_NAMES, PRESETS, Preset, get_preset
from .report import LoudnessReport, Rule
from .tags import Chapter, Metadata
from .timeline import NATIVE_RATE, Segment, SegmentKind, Timeline

__all__ = [
    "FORMATS", "FORMAT_NAMES", "NATIVE_RATE", "PRESETS", "PRESET_NAMES", "SPLITS", "SUFFIXES", "Chapter", "ChapterMark",
    "ExportResult", "ExportSettings", "ExportedFile", "FilePlan", "FormatSpec", "LoudnessReport", "Metadata",
    "Padding", "Pauses", "Preset", "Rule", "Segment", "SegmentKind", "Timeline", "check_file", "export_timeline",
    "get_preset", "master_file", "plan_files", "resolve_format",
]
