"""Audio encoders for the speech endpoint: float32 chunks in, bytes of one ``response_format`` out, as they come.

Formats and how they stream (``Encoder.streams``):

======  =============================  =========================================================
pcm     raw 16-bit signed little-endian mono at the engine's rate (24 kHz), no header   streams
wav     RIFF/WAVE 16-bit PCM; streamed with RIFF and data sizes 0xFFFFFFFF ("unknown, read to
        the end", as ffmpeg and OpenAI send it); exact sizes when sent whole                 streams
mp3     MPEG-2 Layer III (libmp3lame through PyAV), 64 kbit/s                                streams
aac     AAC-LC in ADTS frames (PyAV), 64 kbit/s                                              streams
opus    Opus in Ogg (libopus through PyAV), 32 kbit/s, a page every 100 ms                   streams
flac    FLAC (libsndfile through soundfile), sent when complete                              at the end
======  =============================  =========================================================

FLAC waits for the end because its STREAMINFO header carries the total length: a streamed FLAC (length 0,
"unknown") is legal, but libsndfile, and with it soundfile, cannot read one. The bit rates are for mono
speech at 24 kHz. WAV and PCM are written here because they are a 44-byte header and a sample conversion, and
no library writes a WAV header with an unknown length to a pipe (libsndfile writes 0 sizes, which readers
take for "empty"). This adapter is the server's until ``engine/export/`` offers streaming encoders.
"""
from __future__ import annotations

import io
import struct
from typing import Literal

import numpy as np

ResponseFormat = Literal["mp3", "opus", "aac", "flac", "wav", "pcm"]
FORMATS: tuple[str, ...] = ("mp3", "opus", "aac", "flac", "wav", "pcm")
MEDIA_TYPES = {"mp3": "audio/mpeg", "opus": "audio/ogg", "aac": "audio/aac", "flac": "audio/flac",
               "wav": "audio/wav", "pcm": "audio/pcm"}
UNKNOWN_SIZE = 0xFFFFFFFF


def pcm16(samples: np.ndarray) -> bytes:
    """float32 [N] -> 16-bit little-endian bytes, converted (scaled, rounded, clipped) by libsndfile, so the
    server sends the very samples ``timbre synth`` and the studio write to a 16-bit WAV."""
    import soundfile as sf

    buf = io.BytesIO()
    sf.write(buf, np.asarray(samples, dtype=np.float32), 24000, format="RAW", subtype="PCM_16", endian="LITTLE")
    return buf.getvalue()


def wav_header(sample_rate: int, data_bytes: int | None) -> bytes:
    """The 44-byte header of a mono 16-bit PCM WAV; ``data_bytes=None``: length unknown (streamed)."""
    data = UNKNOWN_SIZE if data_bytes is None else data_bytes
    riff = UNKNOWN_SIZE if data_bytes is None else 36 + data_bytes
    return (b"RIFF" + struct.pack("<I", riff) + b"WAVEfmt " +
            struct.pack("<IHHIIHH", 16, 1, 1, sample_rate, sample_rate * 2, 2, 16) +
            b"data" + struct.pack("<I", data))


class Encoder:
    """One response's encoder. ``feed`` each chunk, then ``finish``; each returns the bytes ready to send."""

    streams = True

    def __init__(self, sample_rate: int):
        self.sample_rate = sample_rate

    def feed(self, samples: np.ndarray) -> bytes:
        raise NotImplementedError

    def finish(self) -> bytes:
        raise NotImplementedError

    def abort(self) -> None:
        """Drop what is pending (the client left); the encoder is not used again."""


class PcmEncoder(Encoder):
    def feed(self, samples: np.ndarray) -> bytes:
        return pcm16(samples)

    def finish(self) -> bytes:
        return b""


class StreamedWavEncoder(PcmEncoder):
    """The header (sizes unknown) goes out with the first chunk."""

    def __init__(self, sample_rate: int):
        super().__init__(sample_rate)
        self._header = wav_header(sample_rate, None)

    def feed(self, samples: np.ndarray) -> bytes:
        head, self._header = self._header, b""
        return head + pcm16(samples)

    def finish(self) -> bytes:
        head, self._header = self._header, b""  # an empty answer is still a WAV file
        return head


class WholeEncoder(Encoder):
    """Keeps the samples and encodes the file at the end (FLAC; WAV with exact sizes)."""

    streams = False

    def __init__(self, sample_rate: int, fmt: str):
        super().__init__(sample_rate)
        self.fmt = fmt
        self._parts: list[np.ndarray] = []

    def feed(self, samples: np.ndarray) -> bytes:
        self._parts.append(np.asarray(samples, dtype=np.float32))
        return b""

    def finish(self) -> bytes:
        audio = np.concatenate(self._parts) if self._parts else np.zeros(0, dtype=np.float32)
        self._parts = []
        if self.fmt == "wav":
            data = pcm16(audio)
            return wav_header(self.sample_rate, len(data)) + data
        import soundfile as sf

        buf = io.BytesIO()  # libsndfile's FLAC path rounds differently: give it pcm16's values
        sf.write(buf, np.frombuffer(pcm16(audio), dtype="<i2"), self.sample_rate, format="FLAC", subtype="PCM_16")
        return buf.getvalue()


class _Sink:
    """The file object PyAV writes to: collects what the muxer wrote since the last ``take``."""

    def __init__(self) -> None:
        self._parts: list[bytes] = []

    def write(self, b) -> int:
        self._parts.append(bytes(b))
        return len(b)

    def take(self) -> bytes:
        out = b"".join(self._parts)
        self._parts.clear()
        return out


# format -> (container, codec, the codec's sample format, bit rate, muxer options)
_AV = {
    "mp3": ("mp3", "libmp3lame", "fltp", 64_000, {}),
    "aac": ("adts", "aac", "fltp", 64_000, {}),
    "opus": ("ogg", "libopus", "flt", 32_000, {"page_duration": "100000"}),  # µs; the default 1 s holds pages
}


class AvEncoder(Encoder):
    """A streaming PyAV encoder: every chunk is encoded and muxed at once, the muxer's output sent."""

    def __init__(self, sample_rate: int, fmt: str):
        import av

        super().__init__(sample_rate)
        container, codec, sample_fmt, bit_rate, options = _AV[fmt]
        self._sink = _Sink()
        self._out = av.open(self._sink, "w", format=container, options=options)
        self._stream = self._out.add_stream(codec, rate=sample_rate, layout="mono")
        self._stream.bit_rate = bit_rate
        # The resampler only converts the sample format, and regroups samples into the codec's frame size.
        self._resampler = av.AudioResampler(format=sample_fmt, layout="mono", rate=sample_rate)

    def _encode(self, frame) -> bytes:
        for f in self._resampler.resample(frame):
            for packet in self._stream.encode(f):
                self._out.mux(packet)
        return self._sink.take()

    def feed(self, samples: np.ndarray) -> bytes:
        import av

        x = np.ascontiguousarray(samples, dtype=np.float32).reshape(1, -1)
        if x.shape[1] == 0:
            return b""
        frame = av.AudioFrame.from_ndarray(x, format="flt", layout="mono")
        frame.sample_rate = self.sample_rate
        return self._encode(frame)

    def finish(self) -> bytes:
        out = self._encode(None)
        for packet in self._stream.encode(None):
            self._out.mux(packet)
        self._out.close()
        return out + self._sink.take()

    def abort(self) -> None:
        self._out.close()
        self._sink.take()


def make_encoder(fmt: str, sample_rate: int, *, stream: bool = True) -> Encoder:
    """The encoder for ``fmt`` (one of :data:`FORMATS`); ``stream=False`` sends WAV with exact sizes."""
    if fmt == "pcm":
        return PcmEncoder(sample_rate)
    if fmt == "wav":
        return StreamedWavEncoder(sample_rate) if stream else WholeEncoder(sample_rate, "wav")
    if fmt == "flac":
        return WholeEncoder(sample_rate, "flac")
    if fmt in _AV:
        return AvEncoder(sample_rate, fmt)
    raise ValueError(f"unknown response format {fmt!r}")
