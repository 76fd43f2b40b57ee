"""``timbre``: the command line of the engine.

    timbre synth --model DIR|REPO --prompt me.wav --transcript "..." --text "Hello." -o out.wav
    timbre synth --model DIR --voice Me --text-file chapter.txt --mode cross_lingual -o out.wav
    timbre voices add Me --model DIR --prompt me.wav --transcript "..."   | list | remove | export | import
    timbre download [--repo ID] [--dest DIR] [--endpoint URL] [--offline]

Every failure the user can fix is one line on stderr and exit status 1 (2 for usage errors).
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

from .errors import TimbreError


def _err(msg: str) -> int:
    print(f"timbre: error: {msg}", file=sys.stderr)
    return 1


def write_wav(path: str | Path, samples, sample_rate: int) -> Path:
    """Write float32 mono as 16-bit PCM WAV atomically (temp file in the same folder + os.replace)."""
    import soundfile as sf

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".wav", dir=path.parent)
    os.close(fd)
    try:
        sf.write(tmp, samples, sample_rate, subtype="PCM_16", format="WAV")
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def _library(args):
    from .voices import VoiceLibrary

    return VoiceLibrary(args.voices_dir)


def _engine(args):
    from .pipeline import Engine

    return Engine.load(args.model, device=args.device, dtype=args.dtype, offline=args.offline,
                       normalizer=args.normalizer)


def _read_text(args) -> str:
    if args.text is not None and args.text_file is not None:
        raise TimbreError("Give either --text or --text-file, not both.")
    if args.text_file is not None:
        try:
            return Path(args.text_file).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as e:
            raise TimbreError(f"Cannot read {args.text_file}: {getattr(e, 'strerror', None) or e}.") from e
    if args.text is None:
        raise TimbreError("Nothing to say: give --text or --text-file.")
    return args.text


def _bar(done: int, total: int, width: int = 30) -> str:
    filled = int(width * done / max(total, 1))
    return "[" + "#" * filled + "." * (width - filled) + f"] {done}/{total}"


def cmd_synth(args) -> int:
    import numpy as np

    from .pipeline import SynthesisRequest

    text = _read_text(args)
    if args.voice and args.prompt:
        raise TimbreError("Give either --voice or --prompt (with --transcript), not both.")
    if not args.voice and not args.prompt:
        raise TimbreError("Which voice? Give --voice NAME (saved) or --prompt clip.wav --transcript TEXT.")
    voice = _library(args).load(args.voice) if args.voice else None
    if args.prompt and not Path(args.prompt).is_file():
        raise TimbreError(f"Prompt recording {args.prompt} does not exist.")
    engine = _engine(args)
    if voice is None:
        voice = engine.make_voice(args.prompt, args.transcript or "", name=Path(args.prompt).stem)
    req = SynthesisRequest(text=text, voice=voice, mode=args.mode, instruction=args.instruction or "",
                           speed=args.speed, seed=args.seed, stream=args.stream)
    show_bar = sys.stderr.isatty() or args.progress
    parts, first_audio, warnings = [], None, []
    t0 = time.perf_counter()
    for chunk in engine.synthesize(req):
        if first_audio is None:
            first_audio = time.perf_counter() - t0
        parts.append(chunk.samples)
        if chunk.watchdog:
            warnings.append(f"sentence {chunk.sentence_index + 1}: {chunk.watchdog}")
        if show_bar and chunk.n_sentences > 1 and chunk.sentence_end:
            print("\r" + _bar(chunk.sentence_index + 1, chunk.n_sentences), end="", file=sys.stderr, flush=True)
    if show_bar:
        print(file=sys.stderr)
    wall = time.perf_counter() - t0
    audio = np.concatenate(parts) if parts else np.zeros(0, dtype=np.float32)
    out = write_wav(args.out, audio, engine.sample_rate)
    dur = audio.shape[0] / engine.sample_rate
    for w in warnings:
        print(f"timbre: warning: {w}", file=sys.stderr)
    print(f"wrote {out} ({dur:.2f} s audio) | first audio after {first_audio or 0:.2f} s | "
          f"real-time factor {wall / max(dur, 1e-9):.2f} ({wall:.2f} s wall)")
    return 0


def cmd_voices(args) -> int:
    lib = _library(args)
    if args.action == "list":
        infos = lib.list()
        if not infos:
            print(f"no voices in {lib.root}")
        for i in infos:
            lang = f" [{i.language}]" if i.language else ""
            print(f"{i.name}{lang}  {i.duration_s:.1f} s  {i.created}  {i.transcript[:60]!r}")
        return 0
    if args.action == "add":
        if not Path(args.prompt).is_file():
            raise TimbreError(f"Prompt recording {args.prompt} does not exist.")
        if args.name in lib and not args.overwrite:
            raise TimbreError(f"A voice named {args.name!r} already exists; use --overwrite or another name.")
        engine = _engine(args)
        voice = engine.make_voice(args.prompt, args.transcript or "", name=args.name, language=args.language or "")
        info = lib.save(voice, overwrite=args.overwrite)
        print(f"added voice {info.name!r} ({info.duration_s:.1f} s prompt)")
        return 0
    if args.action == "remove":
        lib.delete(args.name)
        print(f"removed voice {args.name!r}")
        return 0
    if args.action == "rename":
        info = lib.rename(args.name, args.new_name)
        print(f"renamed to {info.name!r}")
        return 0
    if args.action == "export":
        path = lib.export(args.name, args.file)
        print(f"exported {args.name!r} to {path}")
        return 0
    if args.action == "import":
        info = lib.import_file(args.file, name=args.name, overwrite=args.overwrite)
        print(f"imported voice {info.name!r}")
        return 0
    raise TimbreError(f"Unknown voices action {args.action!r}.")


def cmd_download(args) -> int:
    from .hub import DownloadProgress, download_model

    last = [0.0]

    def progress(p: DownloadProgress) -> None:
        now = time.perf_counter()
        if now - last[0] < 0.2 and p.bytes_done < p.bytes_total:
            return
        last[0] = now
        mb, tot = p.bytes_done / 1e6, p.bytes_total / 1e6
        print(f"\r{_bar(p.files_done, p.files_total)} files, {mb:.1f}/{tot:.1f} MB {p.current_file[:40]:<40}",
              end="", file=sys.stderr, flush=True)

    path = download_model(args.repo, local_dir=args.dest, cache_dir=args.cache_dir, endpoint=args.endpoint,
                          offline=args.offline, progress=None if args.quiet else progress)
    if not args.quiet:
        print(file=sys.stderr)
    print(f"model ready in {path}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    from .hub import DEFAULT_REPO_ID
    from .pipeline import PRECISIONS  # Engine.load resolves "auto" (engine.pipeline.pick_precision)

    p = argparse.ArgumentParser(prog="timbre", description="Timbre voice cloning (CosyVoice 2) from the command line.")
    sub = p.add_subparsers(dest="command", required=True)

    def model_opts(sp):
        sp.add_argument("--model", default=os.environ.get("TIMBRE_MODEL", DEFAULT_REPO_ID),
                        help="model folder or Hugging Face repo id (default: $TIMBRE_MODEL or %(default)s)")
        sp.add_argument("--device", default="auto", help="auto | cpu | cuda | mps")
        sp.add_argument("--dtype", default="auto", choices=PRECISIONS,
                        help="auto (fp32 on CPU and MPS, bf16/fp16 on CUDA) | fp32 | bf16 | fp16 (GPU) | "
                             "int8 (CPU: int8 LM weights, fp32 flow)")
        sp.add_argument("--offline", action="store_true", help="never use the network")
        sp.add_argument("--normalizer", default="wetext", choices=["wetext", "inflect", "none"])

    def voices_dir_opt(sp):
        sp.add_argument("--voices-dir", default=None, help="voice library folder (default: user data dir)")

    s = sub.add_parser("synth", help="speak text to a WAV file")
    model_opts(s)
    voices_dir_opt(s)
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
    s.add_argument("-o", "--out", required=True, help="output WAV file")
    s.set_defaults(func=cmd_synth)

    v = sub.add_parser("voices", help="manage saved voices")
    vs = v.add_subparsers(dest="action", required=True)
    va = vs.add_parser("add", help="make a voice from a recording and save it")
    va.add_argument("name")
    va.add_argument("--prompt", required=True)
    va.add_argument("--transcript", default="")
    va.add_argument("--language", default="")
    va.add_argument("--overwrite", action="store_true")
    model_opts(va)
    voices_dir_opt(va)
    for name, extra in (("list", ()), ("remove", ("name",)), ("rename", ("name", "new_name")),
                        ("export", ("name", "file"))):
        sp = vs.add_parser(name)
        for a in extra:
            sp.add_argument(a)
        voices_dir_opt(sp)
    vi = vs.add_parser("import")
    vi.add_argument("file")
    vi.add_argument("--name", default=None)
    vi.add_argument("--overwrite", action="store_true")
    voices_dir_opt(vi)
    v.set_defaults(func=cmd_voices)

    d = sub.add_parser("download", help="download (or resume) the model")
    d.add_argument("--repo", default=DEFAULT_REPO_ID)
    d.add_argument("--dest", default=None, help="put the files in this folder")
    d.add_argument("--cache-dir", default=None, help="models folder (default: user data dir)")
    d.add_argument("--endpoint", default=None, help="hub URL (default: $HF_ENDPOINT or huggingface.co)")
    d.add_argument("--offline", action="store_true", help="only check what is already downloaded")
    d.add_argument("--quiet", action="store_true")
    d.set_defaults(func=cmd_download)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        return _err("interrupted")
    except TimbreError as e:
        return _err(" ".join(str(e).split()))  # one line, whatever the message held


if __name__ == "__main__":
    sys.exit(main())
