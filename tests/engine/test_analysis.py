"""Reference-voice report and trimming, on real speech (fixture wavs; espeak-ng when installed)."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from engine.errors import AudioInputError
from engine.frontend.analysis import analyse_reference, trim_and_normalize
from engine.frontend.audio import load_audio, resample


@pytest.fixture(scope="module")
def speech(parity_dir: Path) -> tuple[np.ndarray, int]:
    """3.8 s of espeak-ng speech at 22.05 kHz, peak about -1.4 dBFS, little silence around it."""
    return load_audio(parity_dir / "wavs" / "prompt_en_22k.wav")


def silence(sr: int, seconds: float) -> np.ndarray:
    return np.zeros(int(sr * seconds), dtype=np.float32)


def rms_dbfs(x: np.ndarray) -> float:
    return 20 * np.log10(np.sqrt(np.mean(np.square(x, dtype=np.float64))))


def test_a_good_clip_is_ok_with_nothing_to_fix(speech) -> None:
    audio, sr = speech
    r = analyse_reference(audio, sr)
    assert r.ok and r.by_severity("error") == () and r.by_severity("warning") == ()
    assert r.duration_s == pytest.approx(audio.size / sr)
    assert r.sample_rate == sr and r.trim == (0.0, round(audio.size / sr, 2))
    assert r.suggested_window is None
    assert r.peak == pytest.approx(float(np.abs(audio).max()))
    assert -26 < r.rms_dbfs < -16
    assert "loudness" in r.codes()


def test_silence_is_an_error(speech) -> None:
    _, sr = speech
    r = analyse_reference(silence(sr, 5) + 1e-5 * np.random.default_rng(0).standard_normal(5 * sr).astype(np.float32), sr)
    assert not r.ok and "silent" in r.codes()
    assert "microphone" in r.by_severity("error")[0].message


def test_too_quiet_clipped_and_low_rate_are_warnings(speech) -> None:
    audio, sr = speech
    quiet = analyse_reference(audio * 0.005, sr)  # about -47 dBFS loud parts
    assert quiet.ok and "too_quiet" in {f.code for f in quiet.by_severity("warning")}
    clipped = analyse_reference(np.clip(audio * 4, -1, 1), sr)
    assert "clipping" in {f.code for f in clipped.by_severity("warning")}
    assert "clipping" not in analyse_reference(audio, sr).codes()
    low = resample(audio, sr, 8000).numpy()
    r = analyse_reference(low, 8000)
    assert "low_sample_rate" in {f.code for f in r.by_severity("warning")} and r.ok


def test_leading_and_trailing_silence_get_a_trim(speech) -> None:
    audio, sr = speech
    padded = np.concatenate([silence(sr, 1.5), audio, silence(sr, 2.0)])
    r = analyse_reference(padded, sr)
    warnings = {f.code for f in r.by_severity("warning")}
    assert {"leading_silence", "trailing_silence"} <= warnings
    start, end = r.trim
    # Speech starts right at 1.5 s in this clip and ends at 1.5 s + its length; the trim keeps a little margin.
    assert 1.3 <= start <= 1.5
    assert 1.5 + audio.size / sr - 0.3 <= end <= 1.5 + audio.size / sr + 0.3
    trimmed = trim_and_normalize(padded, sr, start, end)
    assert trimmed.size == pytest.approx((end - start) * sr, abs=2)
    assert analyse_reference(trimmed, sr).by_severity("warning") == ()


def test_short_clip_warns(speech) -> None:
    audio, sr = speech
    r = analyse_reference(audio[: 2 * sr], sr)
    assert r.ok and "too_short" in {f.code for f in r.by_severity("warning")}


def test_long_recording_is_an_error_with_the_best_window(speech) -> None:
    audio, sr = speech
    # 36 s: phrases separated by pauses, one of them badly clipped.
    parts = []
    for i in range(7):
        phrase = np.clip(audio * 6, -1, 1) if i == 1 else audio
        parts += [phrase, silence(sr, 1.2)]
    long = np.concatenate(parts)
    r = analyse_reference(long, sr)
    assert not r.ok and "too_long" in r.codes()
    assert "Trim" in next(f.message for f in r.findings if f.code == "too_long")
    assert r.suggested_window is not None
    start, end = r.suggested_window
    assert 3.0 <= end - start <= 10.0
    # The window starts and ends in pauses (not inside a phrase) and avoids the clipped phrase.
    period = (audio.size / sr) + 1.2
    for t in (start + 0.1, end - 0.2):
        assert (t % period) >= audio.size / sr - 0.35 or (t % period) < 0.35, (start, end)
    assert start >= 2 * period - 0.2 or end <= period + 0.1


def test_espeak_recording_with_pauses(tmp_path: Path) -> None:
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng not installed")
    wav = tmp_path / "long.wav"
    text = " ".join(["The quick brown fox jumps over the lazy dog."] * 6)
    subprocess.run(["espeak-ng", "-v", "en-us", "-g", "20", "-w", str(wav), text], check=True, timeout=60)
    audio, sr = load_audio(wav)
    r = analyse_reference(audio, sr)
    assert r.duration_s > 10 and r.suggested_window is not None
    start, end = r.suggested_window
    assert 3.0 <= end - start <= 10.0 and 0.0 <= start < end <= r.duration_s


def test_trim_and_normalize_levels(speech) -> None:
    audio, sr = speech
    y = trim_and_normalize(audio * 0.05, sr, 0.0, 3.0, target_dbfs=-20.0)
    assert y.dtype == np.float32 and y.ndim == 1 and y.size == 3 * sr
    # The peak limit (-1 dBFS) may hold the level a little under the target, never over.
    assert -23.0 < rms_dbfs(y) <= -19.9
    assert np.abs(y).max() <= 10 ** (-1 / 20) + 1e-6
    # A very peaky signal: the peak limit wins over the RMS target.
    clicks = np.zeros(sr, dtype=np.float32)
    clicks[::2000] = 0.5
    z = trim_and_normalize(clicks, sr, 0.0, 1.0, target_dbfs=-10.0)
    assert np.abs(z).max() == pytest.approx(10 ** (-1 / 20), rel=1e-4)
    assert rms_dbfs(z) < -10.0


def test_trim_bad_input(speech) -> None:
    audio, sr = speech
    with pytest.raises(AudioInputError, match="end after the start"):
        trim_and_normalize(audio, sr, 2.0, 1.0)
    with pytest.raises(AudioInputError, match="silent"):
        trim_and_normalize(silence(sr, 2), sr, 0.0, 2.0)
    with pytest.raises(AudioInputError, match="seconds"):
        trim_and_normalize(audio, sr, float("nan"), 1.0)


@pytest.mark.parametrize("audio", [np.array([], dtype=np.float32), np.array([np.nan] * 100, dtype=np.float32)])
def test_analysis_rejects_non_audio(audio) -> None:
    with pytest.raises(AudioInputError):
        analyse_reference(audio, 16000)


def test_every_message_is_a_plain_sentence(speech) -> None:
    audio, sr = speech
    padded = np.concatenate([silence(sr, 1.0), np.clip(audio * 0.004 * 300, -1, 1), silence(sr, 1.0)])
    for r in (analyse_reference(padded, sr), analyse_reference(audio[:sr], 8000)):
        for f in r.findings:
            assert f.severity in {"error", "warning", "info"}
            assert f.message[0].isupper() and f.message.rstrip().endswith(".") and len(f.message) > 20
