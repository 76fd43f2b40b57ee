"""Audio in: reading real files of several formats, resampling, the three feature extractors, bad input."""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from engine.errors import AudioInputError
from engine.frontend import audio as A
from engine.parity import Fixture

SR = 22050


@pytest.fixture(scope="module")
def speech(parity_dir: Path) -> tuple[np.ndarray, int]:
    """Real speech (espeak-ng) from the fixtures: mono float32 at 22.05 kHz."""
    return A.load_audio(parity_dir / "wavs" / "prompt_en_22k.wav")


def stereo_of(mono: np.ndarray) -> np.ndarray:
    # Two different channels so that "mean over channels" is observable.
    return np.stack([mono, 0.5 * mono], axis=1)


@pytest.mark.parametrize("fmt,subtype,ext,tol", [
    ("WAV", "PCM_16", "wav", 1 / 32768),
    ("WAV", "FLOAT", "wav", 0.0),
    ("FLAC", "PCM_24", "flac", 1 / 2 ** 23),
    ("OGG", "VORBIS", "ogg", None),
    ("MP3", "MPEG_LAYER_III", "mp3", None),
])
def test_formats_load_as_mono_mean_of_channels(tmp_path, speech, fmt, subtype, ext, tol) -> None:
    if fmt not in sf.available_formats():
        pytest.skip(f"libsndfile here cannot write {fmt}")
    mono, sr = speech
    path = tmp_path / f"clip.{ext}"
    sf.write(path, stereo_of(mono), sr, format=fmt, subtype=subtype)
    got, got_sr = A.load_audio(path)
    assert got_sr == sr and got.dtype == np.float32 and got.ndim == 1
    want = 0.75 * mono
    if tol is None:  # lossy codecs: the right signal, roughly (encoder delay may shift it a little)
        assert abs(got.size - want.size) < 0.05 * want.size
        assert abs(np.sqrt(np.mean(got ** 2)) - np.sqrt(np.mean(want ** 2))) < 0.2 * np.sqrt(np.mean(want ** 2))
    else:
        assert got.shape == want.shape
        np.testing.assert_allclose(got, want, atol=tol * 1.5)  # the format's quantisation step, any machine


def test_features_match_goldens_within_the_parity_policy(parity_dir: Path) -> None:
    from engine.parity.features import checks

    results = list(checks(Fixture(parity_dir)))
    assert len(results) >= 9
    bad = [r.line() for r in results if not r.passed]
    assert not bad, "\n".join(bad)


def test_resample_keeps_a_tone_and_has_torchaudio_length() -> None:
    t = np.arange(48000) / 48000
    tone = (0.5 * np.sin(2 * math.pi * 1000 * t)).astype(np.float32)
    out = A.resample(torch.from_numpy(tone)[None], 48000, 16000)
    assert out.shape == (1, 16000)
    mid = out[0, 1000:-1000].numpy()
    # Amplitude and frequency kept (1 kHz is far below the 7.92 kHz cut-off).
    assert abs(np.abs(mid).max() - 0.5) < 0.01
    spectrum = np.abs(np.fft.rfft(mid * np.hanning(mid.size)))
    assert abs(np.argmax(spectrum) * 16000 / mid.size - 1000) < 2
    # ceil(N * new / old) samples for a rate pair that does not divide evenly.
    assert A.resample(torch.zeros(1, 1001), 22050, 24000).shape[-1] == math.ceil(1001 * 160 / 147)
    same = torch.randn(1, 100)
    assert torch.equal(A.resample(same, 16000, 16000), same)


def test_resample_removes_content_above_the_new_nyquist() -> None:
    t = np.arange(48000) / 48000
    high = np.sin(2 * math.pi * 12000 * t).astype(np.float32)  # above 8 kHz: must vanish at 16 kHz
    out = A.resample(high, 48000, 16000)
    assert float(out[200:-200].abs().max()) < 0.01


def test_resample_hq_is_soxr_for_playback() -> None:
    x = np.sin(np.linspace(0, 100, 24000)).astype(np.float32)
    y = A.resample_hq(x, 24000, 48000)
    assert y.dtype == np.float32 and abs(y.size - 48000) <= 1


def test_feature_shapes_follow_the_reference_rules(speech) -> None:
    mono, sr = speech
    s16 = A.load_speech(mono, sr, 16000)
    s24 = A.load_speech(mono, sr, 24000)
    n16, n24 = s16.shape[-1], s24.shape[-1]
    assert A.whisper_log_mel(s16).shape == (1, 128, n16 // 160)
    assert A.kaldi_fbank(s16).shape == (1 + (n16 - 400) // 160, 80)
    assert A.flow_mel(s24).shape == (1, 80, 1 + (n24 + 1440 - 1920) // 480)
    mel = A.whisper_log_mel(s16)
    # Whisper's dynamic-range clamp: nothing more than 8 (80 dB / 4 after scaling) below the max.
    assert float(mel.max() - mel.min()) <= 2.0 + 1e-6


def test_slaney_filters_have_librosa_properties() -> None:
    f = A.slaney_mel_filters(16000, 400, 128)
    assert f.shape == (128, 201) and f.dtype == np.float32
    assert np.all(f >= 0)
    assert np.all(f.max(axis=1) > 0)  # no empty filter
    # Slaney normalisation: each triangle's area in Hz is ~1 (2 / width * width / 2).
    area = f.sum(axis=1) * (16000 / 400)
    assert np.allclose(area[-60:], 1.0, rtol=0.1)  # wide filters; narrow low ones fall between bins


def test_kaldi_banks_end_at_nyquist_with_zero_weight() -> None:
    banks = A.kaldi_mel_banks(80, 512, 16000.0)
    assert banks.shape == (80, 257)
    assert torch.all(banks[:, -1] == 0) and torch.all(banks >= 0)


# ------------------------------------------------------------------------------ bad input
def test_missing_and_unreadable_files(tmp_path: Path) -> None:
    with pytest.raises(AudioInputError, match="does not exist"):
        A.load_audio(tmp_path / "nope.wav")
    junk = tmp_path / "notes.wav"
    junk.write_text("this is not audio at all" * 10)
    with pytest.raises(AudioInputError, match="not an audio file"):
        A.load_audio(junk)


def test_zero_length_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.wav"
    sf.write(path, np.zeros((0, 1), dtype=np.float32), 16000)
    with pytest.raises(AudioInputError, match="no audio"):
        A.load_audio(path)


def test_hour_long_file_refused_from_its_header(tmp_path: Path, monkeypatch) -> None:
    path = tmp_path / "podcast.wav"
    rate = 1000  # a real 1-hour file, kept small (3.6 MB) by its low rate
    with sf.SoundFile(path, "w", samplerate=rate, channels=1, subtype="PCM_U8") as f:
        block = np.zeros(rate * 60, dtype=np.float32)
        for _ in range(60):
            f.write(block)
    assert A.audio_info(path).duration_s == pytest.approx(3600.0)

    def never(*a, **k):
        raise AssertionError("the whole file must not be decoded")

    monkeypatch.setattr(A.sf, "read", never)
    with pytest.raises(AudioInputError, match="60.0 minutes.*Cut a 3-10 second piece"):
        A.load_audio(path)


@pytest.mark.parametrize("audio,match", [
    (np.array([], dtype=np.float32), "empty"),
    (np.array([0.1, np.nan, 0.2], dtype=np.float32), "NaN or infinity"),
    (np.array([0.1, np.inf], dtype=np.float64), "NaN or infinity"),
    ([0.1, 0.2], "numpy array"),
    ("speech.wav", "numpy array"),
    (np.zeros((2, 3, 4), dtype=np.float32), "shape"),
    (np.array(["a", "b"]), "numbers"),
])
def test_bad_arrays_get_typed_errors(audio, match) -> None:
    with pytest.raises(AudioInputError, match=match):
        A.validate_audio(audio, 16000)


@pytest.mark.parametrize("rate", [0, -16000, 16000.0, "16000", True, None])
def test_bad_sample_rates(rate) -> None:
    with pytest.raises(AudioInputError, match="sample rate"):
        A.validate_audio(np.zeros(100, dtype=np.float32), rate)


def test_layouts_and_integer_pcm_are_accepted() -> None:
    x = np.linspace(-0.5, 0.5, 1000, dtype=np.float32)
    frames_channels = np.stack([x, -x], axis=1)  # [N, 2]: mean is zero
    assert np.allclose(A.validate_audio(frames_channels, 16000), 0.0)
    assert np.allclose(A.validate_audio(frames_channels.T, 16000), 0.0)  # [2, N] torchaudio layout
    pcm = (x * 32767).astype(np.int16)
    assert np.allclose(A.validate_audio(pcm, 16000), x, atol=1e-4)  # int16 scaling: 3e-5 per sample, exact arithmetic
    u8 = np.round(x * 127 + 128).astype(np.uint8)
    assert np.allclose(A.validate_audio(u8, 16000), x, atol=1 / 127)
    assert A.validate_audio(torch.from_numpy(x), 16000).dtype == np.float32


def test_too_short_for_features_is_a_typed_error() -> None:
    with pytest.raises(AudioInputError, match="too short"):
        A.whisper_log_mel(torch.zeros(1, 100))
    with pytest.raises(AudioInputError, match="too short"):
        A.flow_mel(torch.zeros(1, 500))
    assert A.kaldi_fbank(torch.zeros(1, 100)).shape == (0, 80)


def test_exotic_rate_does_not_build_a_gigabyte_kernel() -> None:
    # gcd(44101, 16000) == 1: the exact polyphase bank would be 16000 x ~44000 floats.
    t = np.arange(44101) / 44101
    tone = torch.tensor(0.5 * np.sin(2 * np.pi * 440 * t), dtype=torch.float32)
    out = A.resample(tone[None], 44101, 16000)
    assert out.shape == (1, 16000)
    assert abs(float(out[0, 1000:-1000].abs().max()) - 0.5) < 0.01
