"""``timbre check``: listen to a take for the user - does it say the text, in time, in the voice, undamaged?

    timbre check take.wav --text "Hello there." [--prompt me.wav | --voice Me --model DIR] [--language en]
                          [--instruction "Speak slowly."] [--whisper DIR] [--only timing,quality] [--json]

Prints one line per check (verdict, number, limit, reason) and exits 1 when the take fails a check.
"""
from __future__ import annotations

import json
from pathlib import Path

from ..errors import TimbreError
from .common import add_voices_dir_option, read_text_option, voice_library


def register(sub) -> None:
    s = sub.add_parser("check", help="check a take: words, timing, voice, quality")
    s.add_argument("audio", help="the take (an audio file)")
    s.add_argument("--text", help="what the take should say")
    s.add_argument("--text-file", help="UTF-8 file with what the take should say")
    s.add_argument("--prompt", help="reference recording of the voice (judged by a speaker model)")
    s.add_argument("--voice", help="a saved voice instead of --prompt (compared by CAM++ of --model)")
    s.add_argument("--model", help="CosyVoice model folder whose CAM++ compares the take with --voice")
    add_voices_dir_option(s)
    s.add_argument("--language", default="", help="language of the text: en, zh, ja, de, ... (default: guessed)")
    s.add_argument("--instruction", default="", help="the instruction the take was made with (must not be spoken)")
    s.add_argument("--whisper", help="a faster-whisper model folder (recognition in every language)")
    s.add_argument("--only", help="comma-separated check groups: timing,intelligibility,instruction,voice,quality")
    s.add_argument("--json", action="store_true", help="print the report as JSON")
    s.set_defaults(func=run)


def reference_from_args(args):
    """The :class:`~engine.checks.Reference` of --prompt or --voice (None without either)."""
    from ..checks import Reference
    from ..frontend.audio import load_audio

    if args.voice and args.prompt:
        raise TimbreError("Give either --voice or --prompt, not both.")
    if args.prompt:
        if not Path(args.prompt).is_file():
            raise TimbreError(f"Prompt recording {args.prompt} does not exist.")
        audio, sr = load_audio(args.prompt)
        return Reference(audio=audio, sample_rate=sr)
    if args.voice:
        return Reference(embedding=voice_library(args).load(args.voice).embedding.numpy())
    return None


def checker_from_args(args, model_dir=None):
    from ..checks import GROUPS, TakeChecker

    groups = tuple(g.strip() for g in args.only.split(",") if g.strip()) if getattr(args, "only", None) else GROUPS
    return TakeChecker(whisper_dir=args.whisper, model_dir=model_dir, groups=groups)


def print_report(report, as_json: bool) -> None:
    if as_json:
        print(json.dumps(report.to_dict(), indent=2, ensure_ascii=False))
        return
    for c in report.checks:
        print(c.line())
    print(f"take: {report.summary()} | checked in {report.seconds:.2f} s")


def run(args) -> int:
    from ..frontend.audio import load_audio

    text = read_text_option(args)
    if not Path(args.audio).is_file():
        raise TimbreError(f"Take {args.audio} does not exist.")
    reference = reference_from_args(args)
    audio, sr = load_audio(args.audio)
    checker = checker_from_args(args, model_dir=args.model)
    report = checker.check(audio, sr, text, language=args.language, reference=reference,
                           instruction=args.instruction)
    print_report(report, args.json)
    return 0 if report.passed else 1
