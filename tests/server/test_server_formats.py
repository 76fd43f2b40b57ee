"""The encoders, fed in chunks the way a streamed answer arrives, read back by real decoders."""
from __future__ import annotations

import io
import struct

import av
import numpy as np
import pytest
import soundfile as sf

from engine.cli.common import write_wav
from engine.server.formats import FORMATS, make_encoder, pcm16, wav_header

SR = 24000


def tone(seconds: float = 1.5, hz: float = 440.0) -> np.ndarray:
    t = np.arange(int(seconds * SR)) / SR
    return (0.5 * np.sin(2 * np.pi * hz * t)).astype(np.float32)


def encode(fmt: str, x: np.ndarray, chunk: int, stream: bool = True) -> tuple[bytes, list[bytes]]:
    enc = make_encoder(fmt, SR, stream=stream)
    pieces = [enc.feed(x[i:i + chunk]) for i in range(0, len(x), chunk)] + [enc.finish()]
    return b"".join(pieces), pieces


def peak_hz(x: np.ndarray, rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    return float(np.argmax(spectrum) * rate / len(x))


def test_pcm16_gives_the_samples_of_a_timbre_wav(tmp_path):
    x = np.concatenate([tone(0.1), np.array([1.0, -1.0, 1.7, -3.0], dtype=np.float32)])
    got = np.frombuffer(pcm16(x), dtype="<i2")
    saved, _ = sf.read(write_wav(tmp_path / "x.wav", x, SR), dtype="int16")  # what `timbre synth` writes
    assert np.array_equal(got, saved)
    assert got[-4:].tolist() == [32767, -32768, 32767, -32768]  # full scale and beyond clip, never wrap


def test_lossless_formats_keep_every_sample_whatever_the_chunking():
    x = tone()
    want = np.frombuffer(pcm16(x), dtype="<i2")
    for chunk in (7, 997, 24000, len(x)):
        pcm, _ = encode("pcm", x, chunk)
        assert pcm == pcm16(x)
        for fmt in ("wav", "flac"):
            data, _ = encode(fmt, x, chunk)
            got, rate = sf.read(io.BytesIO(data), dtype="int16")
            assert rate == SR and np.array_equal(got, want), (fmt, chunk)


def test_streamed_wav_header_says_unknown_length_and_whole_wav_the_exact_one():
    x = tone(0.25)
    streamed, pieces = encode("wav", x, 2400)
    assert pieces[0][:44] == wav_header(SR, None) and len(pieces[0]) == 44 + 2 * 2400  # header with the 1st chunk
    assert struct.unpack("<II", streamed[4:8] + streamed[40:44]) == (0xFFFFFFFF, 0xFFFFFFFF)
    whole, pieces = encode("wav", x, 2400, stream=False)
    assert all(p == b"" for p in pieces[:-1])  # nothing until the end, then the file
    assert struct.unpack("<I", whole[40:44])[0] == 2 * len(x) and whole[44:] == streamed[44:]
    # Python's own reader takes the streamed header too (it reads to the end of the data)
    assert sf.read(io.BytesIO(streamed), dtype="int16")[0].shape == (len(x),)
    empty, _ = encode("wav", np.zeros(0, np.float32), 100)
    assert empty == wav_header(SR, None)  # an empty answer is still a WAV file


@pytest.mark.parametrize("fmt, container", [("mp3", "mp3"), ("aac", "aac"), ("opus", "ogg")])
def test_lossy_formats_stream_and_decode_to_the_same_tone(fmt, container):
    x = tone(2.0)
    data, pieces = encode(fmt, x, 4800)  # 200 ms chunks, as the engine might send them
    # bytes leave with the chunks, not only at the end (Ogg pages every 100 ms, MP3/ADTS frames as made)
    assert sum(1 for p in pieces[:-1] if p) >= len(pieces[:-1]) // 2
    with av.open(io.BytesIO(data)) as f:
        assert f.format.name.split(",")[0] == container
        rate = f.streams.audio[0].rate
        y = np.concatenate([fr.to_ndarray().reshape(-1) for fr in f.decode(audio=0)])
    n = len(y) * SR // rate
    assert len(x) <= n <= len(x) + 576 + 529 + 1152  # at most MP3's delay + one frame of padding (the largest)
    # The strongest frequency survives the codec: the FFT bin of 440 Hz (bins are rate/len wide).
    assert abs(peak_hz(y, rate) - 440.0) <= rate / len(y)


def test_every_openai_format_has_an_encoder():
    assert set(FORMATS) == {"mp3", "opus", "aac", "flac", "wav", "pcm"}
    for fmt in FORMATS:
        assert make_encoder(fmt, SR).finish() is not None
    with pytest.raises(ValueError):
        make_encoder("ogg", SR)
