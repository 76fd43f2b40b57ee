"""Reading an audio file back as float32 samples: the exported file (for its report and to check it is
complete), or any file ``timbre master`` is given.

libsndfile reads WAV, FLAC, MP3, Ogg Vorbis and Opus (MP3 and Opus gapless: the encoder delay and padding
are removed, so lengths come back to the sample); PyAV reads everything else (AAC in MP4, ...). For MP4 the
decoder drops the priming samples but not the padding of the last frame, so the samples are cut to the
stream's duration, which the edit list states exactly.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import AudioInputError


@dataclass(frozen=True)
class Decoded:
    """``audio`` float32 [N, C] at ``sample_rate``."""

    audio: np.ndarray
    sample_rate: int

    @property
    def channels(self) -> int:
        return self.audio.shape[1]


def _read_pyav(path: Path) -> Decoded:
    import av

    try:
        with av.open(str(path)) as container:
            if not container.streams.audio:
                raise AudioInputError(f"{path.name} has no audio stream.")
            stream = container.streams.audio[0]
            rate, layout = stream.rate, stream.layout.name
            resampler = av.AudioResampler(format="flt", layout=layout, rate=rate)
            parts = []
            for frame in container.decode(stream):
                for out in resampler.resample(frame):
                    parts.append(out.to_ndarray().reshape(-1, stream.channels))
            parts += [out.to_ndarray().reshape(-1, stream.channels) for out in resampler.resample(None)]
            audio = np.concatenate(parts) if parts else np.zeros((0, stream.channels), np.float32)
            if stream.duration is not None and stream.time_base is not None:
                audio = audio[: int(round(stream.duration * stream.time_base * rate))]
    except av.FFmpegError as e:
        raise AudioInputError(f"{path.name} cannot be read as audio ({e}). Use WAV, FLAC, MP3, Ogg or M4A.") from e
    return Decoded(np.ascontiguousarray(audio, dtype=np.float32), int(rate))


def read_audio(path: str | Path) -> Decoded:
    """All samples of ``path``; AudioInputError if it is missing or not audio."""
    import soundfile as sf

    path = Path(path)
    if not path.is_file():
        raise AudioInputError(f"{path} does not exist or is not a file.")
    try:
        audio, rate = sf.read(str(path), dtype="float32", always_2d=True)
        return Decoded(audio, int(rate))
    except sf.LibsndfileError:
        return _read_pyav(path)  # not a type libsndfile knows (MP4/AAC, ...)
