"""The project's copies of its cast voices, in the one-file voice format of :mod:`engine.voice_files` (the same
bytes ``timbre voices export`` writes, read back with the same checks)."""
from __future__ import annotations

import tempfile
from pathlib import Path

from ..errors import ProjectFileError, VoiceLibraryError
from ..voice_files import read_voice_file, write_voice_file
from ..voices import Voice


def voice_bytes(voice: Voice) -> bytes:
    with tempfile.TemporaryDirectory(prefix="timbre-voice-") as d:
        return write_voice_file(voice, Path(d) / "voice.safetensors").read_bytes()


def voice_from_bytes(data: bytes, where: str) -> Voice:
    """The voice in ``data``, every tensor checked; ProjectFileError naming ``where`` when it is damaged."""
    with tempfile.TemporaryDirectory(prefix="timbre-voice-") as d:
        path = Path(d) / "voice.safetensors"
        path.write_bytes(data)
        try:
            return read_voice_file(path)
        except VoiceLibraryError as e:
            raise ProjectFileError(f"A cast voice in {where} is damaged: {e} The file was left as it is.") from e
