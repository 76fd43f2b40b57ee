"""Measuring an existing file without changing it (``timbre master IN`` without ``-o``)."""
from __future__ import annotations

from pathlib import Path

from ..errors import NEVER_CANCELLED, CancelToken, UnsupportedFormatError
from .decode import read_audio
from .formats import resolve_format
from .levels import measure
from .presets import get_preset
from .report import FileFacts, LoudnessReport


def _bitrate(path: Path) -> tuple[int | None, bool]:
    """(kbps, variable) as the file's headers state them (mutagen); variable only for a VBR/ABR MP3 (the
    other codecs vary their bitrate by design, and ACX's rule is about MP3)."""
    import mutagen
    from mutagen.mp3 import BitrateMode

    try:
        info = getattr(mutagen.File(path), "info", None)
    except mutagen.MutagenError:
        return None, False
    if info is None or not getattr(info, "bitrate", 0):
        return None, False
    mode = getattr(info, "bitrate_mode", None)
    return int(round(info.bitrate / 1000)), mode is not None and mode not in (BitrateMode.CBR, BitrateMode.UNKNOWN)


def check_file(src: str | Path, preset: str = "acx", cancel: CancelToken = NEVER_CANCELLED) -> LoudnessReport:
    """The report of ``src`` as it is, against ``preset`` and the ACX rules."""
    src = Path(src)
    decoded = read_audio(src)
    try:
        spec = resolve_format(src)
        name, label = spec.name, spec.label
    except UnsupportedFormatError:
        name = label = src.suffix.lstrip(".").upper() or "unknown"
    kbps, vbr = _bitrate(src) if name in ("mp3", "ogg", "opus", "m4a", "m4b") else (None, False)
    facts = FileFacts(str(src), name, label, decoded.sample_rate, decoded.channels,
                      decoded.audio.shape[0] / decoded.sample_rate, kbps, vbr=vbr)
    return LoudnessReport.make(facts, measure(decoded.audio, decoded.sample_rate, cancel), get_preset(preset))
