"""``timbre master``: measure an existing audio file and master it for ACX, podcasts or broadcast.

    timbre master take.wav -o book.mp3 --preset acx --sample-rate 44100   # master into any format
    timbre master book.mp3 --preset acx --json                           # only measure: the report
"""
from __future__ import annotations

import json
from pathlib import Path


def register(sub) -> None:
    from ..export.cli_options import add_format_options, add_metadata_options
    from ..export.presets import PRESET_NAMES

    s = sub.add_parser("master", help="measure an audio file, or master it to a loudness preset")
    s.add_argument("input", type=Path, help="the audio file (WAV, FLAC, MP3, Ogg, Opus, M4A, ...)")
    s.add_argument("-o", "--out", type=Path, help="write the mastered file here (without it: only measure)")
    s.add_argument("--preset", choices=PRESET_NAMES, default="acx",
                   help="acx (default), podcast, ebu-r128, or none (convert only)")
    s.add_argument("--json", action="store_true", help="print the report as JSON")
    s.add_argument("--head", type=float, default=0.0, metavar="S", help="add this much silence at the start")
    s.add_argument("--tail", type=float, default=0.0, metavar="S", help="add this much silence at the end")
    add_format_options(s.add_argument_group("output format (default: the input's rate and channels)"))
    add_metadata_options(s.add_argument_group("tags"))
    s.set_defaults(func=run)


def run(args) -> int:
    from ..errors import TimbreError
    from ..export import ExportSettings, Padding, check_file, master_file
    from ..export.cli_options import metadata_from_args, print_result

    if args.out is None:
        if args.format or args.sample_rate or args.bitrate or args.channels or args.head or args.tail:
            raise TimbreError("Format, rate, bitrate, channel and padding options need an output: add -o OUT.")
        report = check_file(args.input, args.preset)
        print(report.to_json() if args.json else report.describe())
        return 0
    settings = ExportSettings(format=args.format, sample_rate=args.sample_rate, bitrate_kbps=args.bitrate,
                              channels=args.channels, padding=Padding(args.head, args.tail), master=args.preset,
                              metadata=metadata_from_args(args))
    result = master_file(args.input, args.out, settings)
    if args.json:
        print(json.dumps(result.files[0].report.to_dict(), indent=2))
        print_result(result, reports=False)
    else:
        print_result(result, reports=True)
    return 0
