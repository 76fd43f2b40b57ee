"""Encoding samples into a file of one :class:`~engine.export.formats.FormatSpec` (see formats.py for why
libsndfile and PyAV). Writes in blocks and checks the cancel token between them; the caller hands a
temporary path (engine.atomic), so a cancel or a failure never leaves a partial file under the real name.
"""
from __future__ import annotations

import errno
import os
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

from ..errors import NEVER_CANCELLED, CancelToken, ExportError
from .formats import FormatSpec
from .tags import Chapter, Metadata

_BLOCK = 1 << 16          # frames per soundfile write between cancel checks
_AAC_FRAME = 1024         # samples per AAC frame (FFmpeg's encoder takes exactly this, the last may be shorter)


@dataclass(frozen=True)
class EncodeOptions:
    spec: FormatSpec
    sample_rate: int
    bitrate_kbps: int | None = None


def _sndfile_compression(opts: EncodeOptions, channels: int) -> dict:
    """libsndfile takes a 'compression level' in [0, 1] and maps it to a bitrate linearly (mpeg_l3_encode.c:
    320 - c * 288 kbps for MPEG-1, 160 - c * 152 for MPEG-2, 64 - c * 56 for MPEG-2.5; ogg_opus.c:
    ((1 - c) * 250000 + 6000) bps per channel); this inverts that so the file gets exactly the bitrate asked."""
    kbps = opts.bitrate_kbps
    if opts.spec.bitrate == "mp3":
        top, bottom = (320, 32) if opts.sample_rate >= 32000 else (160, 8) if opts.sample_rate >= 16000 else (64, 8)
        level = (top - kbps - 0.5) / (top - bottom)  # -0.5: libsndfile truncates the bitrate it computes
        return {"compression_level": min(1.0, max(0.0, level)), "bitrate_mode": "CONSTANT"}
    if opts.spec.bitrate == "opus":
        per_channel = kbps * 1000 / channels
        return {"compression_level": min(1.0, max(0.0, 1 - (per_channel - 6000 + 0.5) / 250000))}
    return {}


_WAV_INFO = {"title": "title", "author": "artist", "album": "album", "year": "date", "comment": "comment"}


def _write_sndfile(path: Path, audio: np.ndarray, opts: EncodeOptions, meta: Metadata, cancel: CancelToken) -> None:
    import soundfile as sf

    spec = opts.spec
    try:
        with sf.SoundFile(path, "w", samplerate=opts.sample_rate, channels=audio.shape[1], format=spec.sf_format,
                          subtype=spec.sf_subtype, **_sndfile_compression(opts, audio.shape[1])) as f:
            if spec.sf_format == "WAV":
                for name, value in meta.fields().items():
                    if name in _WAV_INFO:
                        setattr(f, _WAV_INFO[name], value)
            for start in range(0, audio.shape[0], _BLOCK):
                cancel.raise_if_cancelled("The export")
                f.write(audio[start:start + _BLOCK])
    except sf.LibsndfileError as e:
        raise _encoder_failure(path, e) from e


def _mp4_chapters(chapters: list[Chapter], rate: int) -> list[dict]:
    return [{"id": i, "start": int(round(c.start_s * rate)), "end": int(round(c.end_s * rate)),
             "time_base": Fraction(1, rate), "metadata": {"title": c.title}} for i, c in enumerate(chapters, 1)]


def _write_aac(path: Path, audio: np.ndarray, opts: EncodeOptions, chapters: list[Chapter],
               cancel: CancelToken) -> None:
    """AAC in an iPod-style MP4 (what Apple Books and audiobook apps read as M4A/M4B).

    movie_timescale = the sample rate, so the edit list that hides the encoder's 1024 priming samples and its
    end padding is exact to the sample (FFmpeg's default of 1000 would round the length to a millisecond)."""
    import av

    rate, channels = opts.sample_rate, audio.shape[1]
    layout = "mono" if channels == 1 else "stereo"
    options = {"movie_timescale": str(rate)}
    if opts.spec.name == "m4b":
        options["brand"] = "M4B "
    planar = np.ascontiguousarray(audio.T)  # [C, N]: FFmpeg's AAC encoder takes planar float
    try:
        with av.open(str(path), "w", format="ipod", options=options) as container:
            stream = container.add_stream("aac", rate=rate, layout=layout)
            stream.bit_rate = opts.bitrate_kbps * 1000
            if chapters:
                container.set_chapters(_mp4_chapters(chapters, rate))
            for start in range(0, planar.shape[1], _AAC_FRAME):
                if start % (_AAC_FRAME * 64) == 0:
                    cancel.raise_if_cancelled("The export")
                frame = av.AudioFrame.from_ndarray(planar[:, start:start + _AAC_FRAME], format="fltp", layout=layout)
                frame.sample_rate, frame.pts = rate, start
                container.mux(stream.encode(frame))
            container.mux(stream.encode(None))
    except OSError:
        raise  # av.error.OSError carries the errno (disk full, read-only): engine.atomic words it
    except av.FFmpegError as e:
        raise ExportError(f"Encoding {path.name} as AAC failed: {e}.") from e


def _encoder_failure(path: Path, error: Exception) -> Exception:
    """libsndfile reports a failed write without its errno; a (nearly) full disk is the usual reason, so
    say that when it is true, and the encoder's own words otherwise."""
    try:
        if os.statvfs(path.parent).f_bavail * os.statvfs(path.parent).f_frsize < 1 << 20:
            return OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
    except OSError:
        pass
    return ExportError(f"Writing {path.name} failed: {error}.")


def encode(path: Path, audio: np.ndarray, opts: EncodeOptions, meta: Metadata, chapters: list[Chapter],
           cancel: CancelToken = NEVER_CANCELLED) -> None:
    """Write ``audio`` (float32 [N, C], already mastered) to ``path`` in ``opts.spec``; chapter marks go into
    the stream for MP4 (the other containers get theirs as tags, engine.export.tags)."""
    x = np.asarray(audio, dtype=np.float32)
    if not opts.spec.float_samples:
        x = np.clip(x, -1.0, 1.0)  # integer PCM and the lossy encoders wrap around past full scale
    if opts.spec.encoder == "pyav":
        _write_aac(path, x, opts, chapters, cancel)
    else:
        _write_sndfile(path, x, opts, meta, cancel)
