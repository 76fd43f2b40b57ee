"""What several commands share: the model and voice-library options, errors, progress bars, output checks
and WAV output."""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from ..errors import TimbreError


def fail(msg: str) -> int:
    """Print ``timbre: error: msg`` on stderr; the exit status for a failure the user can fix."""
    print(f"timbre: error: {msg}", file=sys.stderr)
    return 1


def warn(msg: str) -> None:
    print(f"timbre: warning: {msg}", file=sys.stderr)


def add_model_options(sp: argparse.ArgumentParser) -> None:
    """--model, --device, --precision (alias --dtype), --offline, --normalizer: what loading the engine needs."""
    from ..hub import COSYVOICE3_REPO_ID, DEFAULT_REPO_ID
    from ..precision import PRECISIONS  # Engine.load resolves "auto" (engine.precision.pick_precision)

    sp.add_argument("--model", default=os.environ.get("TIMBRE_MODEL", DEFAULT_REPO_ID),
                    help="model folder or Hugging Face repo id, CosyVoice 2 or 3 (e.g. "
                         f"{COSYVOICE3_REPO_ID}; default: $TIMBRE_MODEL or %(default)s)")
    sp.add_argument("--device", default="auto", help="auto | cpu | cuda | mps")
    sp.add_argument("--precision", "--dtype", dest="precision", default="auto", choices=PRECISIONS,
                    help="auto (fp32 on CPU and MPS, bf16/fp16 on CUDA) | fp32 | bf16 | fp16 (GPU) | "
                         "int8 (CPU: int8 LM weights, fp32 flow)")
    sp.add_argument("--offline", action="store_true", help="never use the network")
    sp.add_argument("--normalizer", default="wetext", choices=["wetext", "inflect", "none"])
    sp.add_argument("--flow-history", default=None, choices=["exact", "bf16", "int8"],
                    help="how streaming keeps earlier frames' attention keys/values: exact, or rounded to bf16 / "
                         "int8 for 1/2 / ~1/4 of their memory (default: exact for fp32 and 16-bit flows, bf16 "
                         "for int8)")
    sp.add_argument("--history-budget", type=_megabytes, default=None, metavar="MB",
                    help="the most memory a streamed sentence's keys/values may take; past it the rest of the "
                         "sentence is recomputed chunk by chunk (the same audio, more slowly). Default: a quarter "
                         "of this machine's memory (of the GPU's on CUDA)")


def add_voices_dir_option(sp: argparse.ArgumentParser) -> None:
    sp.add_argument("--voices-dir", default=None, help="voice library folder (default: user data dir)")


def _megabytes(text: str) -> int:
    """``--history-budget`` MB (a number >= 0) -> bytes."""
    try:
        mb = float(text)
    except ValueError:
        mb = -1.0
    if not mb >= 0:  # also refuses nan
        raise argparse.ArgumentTypeError(f"expected a number of megabytes >= 0, e.g. 4096; got {text!r}")
    return int(mb * 2**20)


def load_engine(args):
    """The engine the model options ask for."""
    from ..engine import Download, Engine, Runtime
    from ..flow.kv_history import KVStorage

    history = getattr(args, "flow_history", None)
    runtime = Runtime(flow_history=KVStorage(history) if history else None,
                      flow_history_budget=getattr(args, "history_budget", None))
    return Engine.load(args.model, device=args.device, precision=args.precision, normalizer=args.normalizer,
                       download=Download(offline=args.offline), runtime=runtime)


def engine_options(args) -> dict:
    """The model options as plain values, for :func:`load_engine` on another machine (a model folder given here
    is named by its absolute path, which must hold the model there too)."""
    model = Path(args.model).expanduser()
    return {"model": str(model.resolve()) if model.exists() else args.model, "device": args.device,
            "precision": args.precision, "normalizer": args.normalizer, "offline": args.offline,
            "flow_history": getattr(args, "flow_history", None),
            "history_budget": getattr(args, "history_budget", None)}


def voice_library(args):
    from ..voices import VoiceLibrary

    return VoiceLibrary(args.voices_dir)


def bar(done: int, total: int, width: int = 30) -> str:
    """``[#####.....] done/total``"""
    filled = int(width * done / max(total, 1))
    return "[" + "#" * filled + "." * (width - filled) + f"] {done}/{total}"


def write_wav(path: str | Path, samples, sample_rate: int) -> Path:
    """Write float32 mono as 16-bit PCM WAV atomically, with the user's default file mode."""
    import soundfile as sf

    from ..atomic import atomic_write

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return atomic_write(path, lambda tmp: sf.write(tmp, samples, sample_rate, subtype="PCM_16", format="WAV"),
                        suffix=".wav")


def check_output_path(path: str | Path) -> Path:
    """Refuse an output path that cannot be written (empty, a folder, inside a file, too long, a read-only
    folder) BEFORE the minutes of synthesis that would fill it. Creates nothing: missing folders are made
    when the file is written. Raises :class:`~engine.atomic.WriteError` with one sentence for the user."""
    from ..atomic import WriteError, describe_os_error

    if not str(path).strip():
        raise WriteError("The output file name is empty. Give -o a file name, e.g. -o speech.wav.")
    path = Path(path).expanduser()
    try:
        _check_writable(path)
    except OSError as e:  # e.g. ENAMETOOLONG from merely looking at the path
        raise WriteError(describe_os_error(path, e)) from e
    return path


def _check_writable(path: Path) -> None:
    import tempfile

    from ..atomic import WriteError

    _check_lengths(path, 255, 4096)  # the common limits first: looking at a longer path fails with ENAMETOOLONG
    if path.is_dir():
        raise WriteError(f"{path} is a folder, not a file name. Add a file name, e.g. {path / 'speech.wav'}.")
    folder = path.parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    if not folder.is_dir():
        raise WriteError(f"{folder} is a file, so {path} cannot be made inside it. Pick another folder.")
    _check_lengths(path, _limit(folder, "PC_NAME_MAX", 255), _limit(folder, "PC_PATH_MAX", 4096))
    with tempfile.NamedTemporaryFile(dir=folder, prefix=".timbre-check-"):
        pass  # the only sure test of "can I write here" (modes, ACLs, read-only mounts): write a file there


def _check_lengths(path: Path, name_max: int, path_max: int) -> None:
    from ..atomic import WriteError

    if any(len(part.encode("utf-8", "surrogateescape")) > name_max for part in path.parts):
        raise WriteError(f"A name in {str(path)[:60]}... is too long for this file system (at most {name_max} bytes "
                         "per name). Pick a shorter name.")
    if len(str(path.absolute()).encode("utf-8", "surrogateescape")) >= path_max:
        raise WriteError(f"The path {str(path)[:60]}... is too long for this file system (at most {path_max} bytes). "
                         "Pick a shorter path.")


def _limit(folder: Path, name: str, default: int) -> int:
    try:
        return os.pathconf(folder, name)
    except (AttributeError, OSError, ValueError):  # Windows has no pathconf
        return default


def read_text_option(args) -> str:
    """The text of --text or --text-file (exactly one of them)."""
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
