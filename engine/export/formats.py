"""The file types Timbre writes, chosen by the output file's suffix (``--format`` may pick a variant).

The format always follows the name: ``book.mp3`` is MP3 data, and a ``--format`` that does not fit the
name is refused (never a WAV inside a ``.mp3``). An unknown suffix is an :class:`UnsupportedFormatError`.

Encoders: libsndfile (through soundfile) for WAV, FLAC, MP3 (LAME), Ogg Vorbis and Ogg Opus; PyAV for AAC in
MP4 (``.m4a`` / ``.m4b``), which libsndfile cannot write. PyAV rather than an ffmpeg binary in a wheel
(imageio-ffmpeg): the FFmpeg libraries run inside this process, so samples go from numpy to the encoder
without a pipe, chapters and tags are API calls instead of an ffmetadata file and an escaped command line,
a cancel is checked between packets instead of killing a process, failures are Python exceptions with an
errno (disk full) instead of stderr text, and the same library reads the file back for the report and the
tests. Both ship FFmpeg inside the wheel; neither downloads anything at run time.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from ..errors import ExportError, UnsupportedFormatError

MP3_RATES = (8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000)
# LAME's constant bitrates: MPEG-1 (32-48 kHz), MPEG-2 (16-24 kHz), MPEG-2.5 (8-12 kHz)
MP3_BITRATES = {32000: (32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320),
                16000: (8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160),
                8000: (8, 16, 24, 32, 40, 48, 56, 64)}
OPUS_RATES = (8000, 12000, 16000, 24000, 48000)  # what libopus takes (it codes at 48 kHz inside)
AAC_RATES = (8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000, 64000, 88200, 96000)
ANY_RATE = (8000, 192000)  # PCM, FLAC and Vorbis: any whole rate in this range


@dataclass(frozen=True)
class FormatSpec:
    """One thing ``--format`` can name. suffixes: the file types it may be written as (the first one picks
    it by default). rates: the sample rates it takes (None: any in :data:`ANY_RATE`). bitrate: how a
    ``--bitrate`` is applied (None: it has none). tags/chapters/cover: what metadata the file can hold."""

    name: str
    suffixes: tuple[str, ...]
    label: str
    encoder: Literal["sndfile", "pyav"]
    sf_format: str = ""
    sf_subtype: str = ""
    lossy: bool = False
    float_samples: bool = False
    rates: tuple[int, ...] | None = None
    bitrate: Literal["mp3", "opus", "aac"] | None = None
    chapters: bool = True
    cover: bool = True


FORMATS: tuple[FormatSpec, ...] = (
    FormatSpec("wav", (".wav",), "WAV, 16-bit PCM", "sndfile", "WAV", "PCM_16", chapters=False, cover=False),
    FormatSpec("wav24", (".wav",), "WAV, 24-bit PCM", "sndfile", "WAV", "PCM_24", chapters=False, cover=False),
    FormatSpec("wav-float", (".wav",), "WAV, 32-bit float", "sndfile", "WAV", "FLOAT", float_samples=True,
               chapters=False, cover=False),
    FormatSpec("flac", (".flac",), "FLAC, 16-bit", "sndfile", "FLAC", "PCM_16"),
    FormatSpec("flac24", (".flac",), "FLAC, 24-bit", "sndfile", "FLAC", "PCM_24"),
    FormatSpec("mp3", (".mp3",), "MP3 (constant bitrate)", "sndfile", "MP3", "MPEG_LAYER_III", lossy=True,
               rates=MP3_RATES, bitrate="mp3"),
    FormatSpec("ogg", (".ogg", ".oga"), "Ogg Vorbis", "sndfile", "OGG", "VORBIS", lossy=True),
    FormatSpec("opus", (".opus", ".ogg"), "Ogg Opus", "sndfile", "OGG", "OPUS", lossy=True, rates=OPUS_RATES,
               bitrate="opus"),
    FormatSpec("m4a", (".m4a", ".mp4"), "M4A (AAC)", "pyav", lossy=True, rates=AAC_RATES, bitrate="aac"),
    FormatSpec("m4b", (".m4b",), "M4B audiobook (AAC)", "pyav", lossy=True, rates=AAC_RATES, bitrate="aac"),
)
FORMAT_NAMES: tuple[str, ...] = tuple(f.name for f in FORMATS)
SUFFIXES: tuple[str, ...] = tuple(dict.fromkeys(s for f in FORMATS for s in f.suffixes))


def format_by_name(name: str) -> FormatSpec:
    for spec in FORMATS:
        if spec.name == name:
            return spec
    raise UnsupportedFormatError(f"Unknown format {name!r}; use one of {', '.join(FORMAT_NAMES)}.")


def resolve_format(path: str | Path, name: str | None = None) -> FormatSpec:
    """The format ``path`` is written in: the suffix's default, or ``name`` if it fits the suffix."""
    path = Path(path)
    suffix = path.suffix.lower()
    if name is not None:
        spec = format_by_name(name)
        if suffix not in spec.suffixes:
            raise UnsupportedFormatError(
                f"--format {name} does not fit the file name {path.name}: {spec.label} files end in "
                f"{' or '.join(spec.suffixes)}. Rename the file (e.g. {path.stem}{spec.suffixes[0]}) or leave "
                "--format out.")
        return spec
    for spec in FORMATS:
        if spec.suffixes[0] == suffix:
            return spec
    what = f"'{suffix}' files" if suffix else f"a file without a type ({path.name})"
    raise UnsupportedFormatError(f"Timbre cannot write {what}. End the name in one of {', '.join(SUFFIXES)}.")


def check_rate(spec: FormatSpec, rate: int) -> int:
    if not isinstance(rate, int) or isinstance(rate, bool):
        raise ExportError(f"The sample rate must be a whole number of Hz, got {rate!r}.")
    if spec.rates is None:
        if not ANY_RATE[0] <= rate <= ANY_RATE[1]:
            raise ExportError(f"{spec.label} at {rate} Hz is not supported; pick {ANY_RATE[0]}-{ANY_RATE[1]} Hz.")
    elif rate not in spec.rates:
        raise ExportError(f"{spec.label} cannot be written at {rate} Hz; pick one of "
                          f"{', '.join(str(r) for r in spec.rates)} (e.g. --sample-rate 48000).")
    return rate


def mp3_bitrates(rate: int) -> tuple[int, ...]:
    return MP3_BITRATES[32000 if rate >= 32000 else 16000 if rate >= 16000 else 8000]


def default_bitrate(spec: FormatSpec, rate: int, channels: int) -> int | None:
    """kbps when none is asked for: 192 for MP3 at 32 kHz and up (what ACX asks for), the best MPEG-2
    rate below that; 64 kbps per channel for Opus and AAC (transparent for speech)."""
    if spec.bitrate == "mp3":
        return 192 if rate >= 32000 else max(mp3_bitrates(rate))
    if spec.bitrate in ("opus", "aac"):
        return 64 * channels
    return None


def check_bitrate(spec: FormatSpec, rate: int, channels: int, kbps: int | None) -> int | None:
    """The bitrate to encode with (kbps), or None for formats without one; typed errors for bad choices."""
    if kbps is None:
        return default_bitrate(spec, rate, channels)
    if spec.bitrate is None:
        raise ExportError(f"{spec.label} has no bitrate to choose; --bitrate applies to MP3, Opus, M4A and M4B.")
    if not isinstance(kbps, int) or isinstance(kbps, bool):
        raise ExportError(f"The bitrate is a whole number of kbps, got {kbps!r}.")
    if spec.bitrate == "mp3":
        allowed = mp3_bitrates(rate)
        if kbps not in allowed:
            raise ExportError(f"MP3 at {rate} Hz takes a bitrate of {', '.join(map(str, allowed))} kbps, "
                              f"not {kbps}.")
        return kbps
    low, high = (6 * channels, 256 * channels) if spec.bitrate == "opus" else (16 * channels, 320)
    if not low <= kbps <= high:
        raise ExportError(f"{spec.label} with {channels} channel(s) takes {low}-{high} kbps, not {kbps}.")
    return kbps


def check_channels(channels: int) -> int:
    if channels not in (1, 2):
        raise ExportError(f"Exports are mono (1) or stereo (2), not {channels!r} channels.")
    return channels
