"""Real speech on demand: espeak-ng recordings for calibrating and testing the take checks.

espeak-ng (a Debian package; tests/run.sh installs it) speaks many languages in many voices offline. It
is a formant synthesiser, so it is harder for recognisers than a person, and its voices are distinct
speakers for a speaker-verification model.
"""
from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from ..errors import CheckError


def espeak(text: str, voice: str = "en-us", *, words_per_minute: int | None = None) -> tuple[np.ndarray, int]:
    """``text`` spoken by espeak-ng ``voice`` (``en-us``, ``en-us+f3``, ``de``, ...): (float32 ``[N]``, rate)."""
    import soundfile as sf

    exe = shutil.which("espeak-ng")
    if exe is None:
        raise CheckError("espeak-ng is not installed (apt-get install espeak-ng).")
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "speech.wav"
        cmd = [exe, "-v", voice, "-w", str(out)]
        if words_per_minute is not None:
            cmd += ["-s", str(int(words_per_minute))]
        done = subprocess.run([*cmd, "--", text], capture_output=True, text=True, timeout=60)
        if done.returncode != 0 or not out.is_file():
            raise CheckError(f"espeak-ng failed for voice {voice!r}: {done.stderr.strip() or done.returncode}")
        audio, sr = sf.read(out, dtype="float32", always_2d=False)
    return np.ascontiguousarray(audio), int(sr)
