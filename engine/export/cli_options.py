"""The export options of the command line, defined once for every command that writes a narration.

    add_export_options(parser)                 # --format --sample-rate --bitrate --master --split --subtitles ...
    result = export_from_args(args, timeline)  # writes args.out, prints the reports, returns the ExportResult

``timbre synth`` uses both (``timbre render``, issue 15, will too); ``timbre master`` uses
:func:`add_format_options` and :func:`add_metadata_options`. Only argparse here; the work is in export.py.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ..errors import NEVER_CANCELLED, CancelToken
from .export import ExportResult, ExportSettings, check_settings, export_timeline
from .formats import FORMAT_NAMES, SUFFIXES
from .layout import SPLITS, Padding, Pauses
from .presets import PRESET_NAMES
from .tags import Metadata
from .timeline import Timeline

OUT_HELP = f"output file; its type picks the format ({', '.join(SUFFIXES)})"


def add_format_options(group) -> None:
    """--format, --sample-rate, --bitrate, --channels."""
    group.add_argument("--format", choices=FORMAT_NAMES, default=None,
                       help="a variant the file type allows (wav24, wav-float, flac24, opus in .ogg); "
                            "default: what the output's suffix says")
    group.add_argument("--sample-rate", type=int, default=None, metavar="HZ",
                       help="24000 (the engine's, default for narrations), 44100 or 48000 (resampled with soxr)")
    group.add_argument("--bitrate", type=int, default=None, metavar="KBPS",
                       help="MP3 (constant), Opus and AAC bitrate (default: MP3 192 at 44.1/48 kHz, 160 at "
                            "24 kHz; Opus/AAC 64 per channel)")
    group.add_argument("--channels", type=int, choices=(1, 2), default=None, help="1 = mono (default), 2 = stereo")


def add_metadata_options(group) -> None:
    group.add_argument("--title", help="title tag (per chapter file: the chapter's title)")
    group.add_argument("--author", help="author / artist tag")
    group.add_argument("--album", help="album tag (default: the title, on a split export)")
    group.add_argument("--narrator", help="narrator (written as the composer, where audiobook players look)")
    group.add_argument("--year", help="year tag")
    group.add_argument("--cover", type=Path, help="cover image (JPEG or PNG) for FLAC, MP3, Ogg, M4A/M4B")


def add_export_options(parser: argparse.ArgumentParser) -> None:
    """Everything an export of a timeline can be asked for (the output path itself stays the command's -o)."""
    fmt = parser.add_argument_group("export format")
    add_format_options(fmt)
    fmt.add_argument("--master", choices=PRESET_NAMES, default="none",
                     help="loudness mastering: acx (-20 dB RMS, peaks -3.5 dBTP, 0.75 s head / 2 s tail), "
                          "podcast (-19 LUFS mono / -16 stereo), ebu-r128 (-23 LUFS), none (default)")
    fmt.add_argument("--report-json", type=Path, metavar="PATH", help="also write the per-file reports as JSON")
    structure = parser.add_argument_group("export structure")
    structure.add_argument("--split", choices=SPLITS, default="none",
                           help="one file (none), one per chapter, or one per line: OUT-01.ext, OUT-02.ext, ...")
    defaults = Pauses()
    structure.add_argument("--pause-line", type=float, default=defaults.line_s, metavar="S",
                           help="silence after a line (default %(default)s)")
    structure.add_argument("--pause-paragraph", type=float, default=defaults.paragraph_s, metavar="S",
                           help="silence after a paragraph (default %(default)s)")
    structure.add_argument("--pause-chapter", type=float, default=defaults.chapter_s, metavar="S",
                           help="silence after a chapter in one file (default %(default)s)")
    structure.add_argument("--head", type=float, default=None, metavar="S",
                           help="silence at the start of each file (default: the preset's; ACX 0.75)")
    structure.add_argument("--tail", type=float, default=None, metavar="S",
                           help="silence at the end of each file (default: the preset's; ACX 2.0)")
    subs = parser.add_argument_group("subtitles")
    subs.add_argument("--subtitles", type=Path, metavar="PATH", help="write .srt or .vtt cues, one per line")
    subs.add_argument("--subtitle-speakers", action="store_true", help="put the speaker's name in each cue")
    add_metadata_options(parser.add_argument_group("tags"))


def metadata_from_args(args) -> Metadata:
    return Metadata(title=args.title, author=args.author, album=args.album, narrator=args.narrator, year=args.year,
                    cover=args.cover)


def padding_from_args(args) -> Padding | None:
    """None when neither --head nor --tail is given (the preset decides); else both, the other as 0."""
    if args.head is None and args.tail is None:
        return None
    return Padding(head_s=args.head or 0.0, tail_s=args.tail or 0.0)


def settings_from_args(args) -> ExportSettings:
    return ExportSettings(
        format=args.format, sample_rate=args.sample_rate, bitrate_kbps=args.bitrate, channels=args.channels,
        split=args.split, pauses=Pauses(args.pause_line, args.pause_paragraph, args.pause_chapter),
        padding=padding_from_args(args), master=args.master, subtitles=args.subtitles,
        subtitle_speakers=args.subtitle_speakers, metadata=metadata_from_args(args))


def print_result(result: ExportResult, *, reports: bool, json_path: Path | None = None) -> None:
    """The reports on stdout (when ``reports``), the warnings on stderr, the JSON file when asked."""
    from ..atomic import atomic_write_text

    if reports:
        print("\n".join(f.report.describe() for f in result.files))
    for w in result.warnings:
        print(f"timbre: warning: {w}", file=sys.stderr)
    if json_path is not None:
        atomic_write_text(json_path, json.dumps(result.to_dict(), indent=2) + "\n")


def check_export_args(args) -> ExportSettings:
    """The settings the options ask for, checked against ``args.out`` (typed errors before any work)."""
    settings = settings_from_args(args)
    check_settings(Path(args.out), settings)
    return settings


def export_from_args(args, timeline: Timeline, cancel: CancelToken = NEVER_CANCELLED) -> ExportResult:
    """Export ``timeline`` to ``args.out`` with the options of :func:`add_export_options`; print the reports
    when mastering (the levels of a plain export are not news) and return the result."""
    result = export_timeline(timeline, Path(args.out), check_export_args(args), cancel=cancel)
    print_result(result, reports=args.master != "none", json_path=args.report_json)
    return result
