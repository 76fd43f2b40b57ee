"""``timbre synth``: speak text (or a text file) in a saved voice or a prompt recording, to an audio file
(WAV, FLAC, MP3, Ogg, Opus, M4A/M4B; mastered, split and subtitled on request: engine.export)."""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from ..errors import TimbreError
from ..export.chunks import TimelineCollector
from ..export.cli_options import OUT_HELP, add_export_options, check_export_args, export_from_args
from ..checks.best_of import check_takes
from ..rng import check_seed
from .common import (add_model_options, add_voices_dir_option, bar, check_output_path, load_engine, read_text_option,
                     voice_library, warn)


def models_help() -> str:
    """The models ``--model`` takes, one per line (argparse would break a repo id at its hyphens)."""
    from ..hub import COSYVOICE3_REPO_ID, DEFAULT_REPO_ID

    return ("Speak text to an audio file with either model family; --model is a repo id or a downloaded folder,\n"
            "whose family Timbre reads from its files:\n"
            f"  CosyVoice 2: {DEFAULT_REPO_ID} (the default)\n"
            f"  CosyVoice 3: {COSYVOICE3_REPO_ID}\n"
            "A saved voice works with the family it was made with (timbre voices list shows it).")


def register(sub) -> None:
    s = sub.add_parser("synth", help="speak text to an audio file", description=models_help(),
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    add_model_options(s)
    add_voices_dir_option(s)
    s.add_argument("--prompt", help="prompt recording (3-10 s of speech)")
    s.add_argument("--transcript", help="what is said in the prompt recording (zero-shot mode)")
    s.add_argument("--voice", help="a saved voice instead of --prompt")
    s.add_argument("--text", help="text to speak")
    s.add_argument("--text-file", help="UTF-8 file with the text to speak")
    s.add_argument("--mode", default="zero_shot", choices=["zero_shot", "cross_lingual", "instruct"])
    s.add_argument("--instruction", help="instruct mode: how to speak, e.g. 'Speak slowly.'")
    s.add_argument("--speed", type=float, default=1.0)
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--stream", action=argparse.BooleanOptionalAction, default=True)
    s.add_argument("--progress", action="store_true", help="show the progress bar even when not on a terminal")
    s.add_argument("--best-of", type=int, default=1, metavar="N",
                   help="make up to N takes with new seeds until one passes the take checks (engine.checks)")
    s.add_argument("-o", "--out", required=True, help=OUT_HELP)
    add_export_options(s)
    s.set_defaults(func=run)


def run(args) -> int:
    from ..engine import SynthesisRequest

    check_output_path(args.out)  # a bad -o, a bad export option or seed fail before any synthesis
    check_export_args(args)
    check_seed(args.seed)
    check_takes(args.best_of)
    text = read_text_option(args)
    if args.voice and args.prompt:
        raise TimbreError("Give either --voice or --prompt (with --transcript), not both.")
    if not args.voice and not args.prompt:
        raise TimbreError("Which voice? Give --voice NAME (saved) or --prompt clip.wav --transcript TEXT.")
    voice = voice_library(args).load(args.voice) if args.voice else None
    if args.prompt and not Path(args.prompt).is_file():
        raise TimbreError(f"Prompt recording {args.prompt} does not exist.")
    engine = load_engine(args)
    if voice is None:
        voice = engine.make_voice(args.prompt, args.transcript or "", name=Path(args.prompt).stem)
    req = SynthesisRequest(text=text, voice=voice, mode=args.mode, instruction=args.instruction or "",
                           speed=args.speed, seed=args.seed, stream=args.stream,
                           sentence_pause_s=0.0)  # the export's --pause-line puts the pauses in
    show_bar = sys.stderr.isatty() or args.progress
    collector, first_audio, warnings = TimelineCollector(), None, []
    t0 = time.perf_counter()
    chunks = engine.synthesize(req)
    if args.best_of > 1:
        from ..checks.synth_cli import best_of_chunks
        from ..frontend.audio import load_audio

        prompt = load_audio(args.prompt) if args.prompt else (None, 0)
        chunks, _ = best_of_chunks(engine, req, args.best_of, prompt_audio=prompt[0], prompt_rate=prompt[1])
    for chunk in chunks:
        if first_audio is None:
            first_audio = time.perf_counter() - t0
        collector.add(chunk)
        if chunk.watchdog:
            warnings.append(f"sentence {chunk.sentence_index + 1}: {chunk.watchdog}")
        if show_bar and chunk.n_sentences > 1 and chunk.sentence_end:
            print("\r" + bar(chunk.sentence_index + 1, chunk.n_sentences), end="", file=sys.stderr, flush=True)
    if show_bar:
        print(file=sys.stderr)
    wall = time.perf_counter() - t0
    result = export_from_args(args, collector.timeline())
    out, dur = result.summary(), result.duration_s
    for w in warnings:
        warn(w)
    print(f"wrote {out} ({dur:.2f} s audio) | first audio after {first_audio or 0:.2f} s | "
          f"real-time factor {wall / max(dur, 1e-9):.2f} ({wall:.2f} s wall)")
    return 0
