"""What several commands share: the model and voice-library options, errors, progress bars, WAV output."""
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
    from ..hub import DEFAULT_REPO_ID
    from ..precision import PRECISIONS  # Engine.load resolves "auto" (engine.precision.pick_precision)

    sp.add_argument("--model", default=os.environ.get("TIMBRE_MODEL", DEFAULT_REPO_ID),
                    help="model folder or Hugging Face repo id (default: $TIMBRE_MODEL or %(default)s)")
    sp.add_argument("--device", default="auto", help="auto | cpu | cuda | mps")
    sp.add_argument("--precision", "--dtype", dest="precision", default="auto", choices=PRECISIONS,
                    help="auto (fp32 on CPU and MPS, bf16/fp16 on CUDA) | fp32 | bf16 | fp16 (GPU) | "
                         "int8 (CPU: int8 LM weights, fp32 flow)")
    sp.add_argument("--offline", action="store_true", help="never use the network")
    sp.add_argument("--normalizer", default="wetext", choices=["wetext", "inflect", "none"])


def add_voices_dir_option(sp: argparse.ArgumentParser) -> None:
    sp.add_argument("--voices-dir", default=None, help="voice library folder (default: user data dir)")


def load_engine(args):
    """The engine the model options ask for."""
    from ..engine import Download, Engine

    return Engine.load(args.model, device=args.device, precision=args.precision, normalizer=args.normalizer,
                       download=Download(offline=args.offline))


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
