"""Loudness mastering checked from outside: every preset's output measured on the decoded file with pyloudnorm
called here, RMS with numpy and the true peak by scipy's 16x polyphase oversampling (the engine uses soxr);
the limiter against inter-sample peaks; ACX pass/fail per rule on files too quiet, too loud, clipped, noisy."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from engine.errors import ExportError
from engine.export import (ExportSettings, Padding, Segment, SegmentKind, Timeline, check_file, export_timeline,
                           master_file, plan_files)
from engine.export.limiter import limit
from export_audio import SR, decode, lufs, rms_db, sample_peak_db, true_peak_db, voiced

# Bounds. The mastering loop stops within 0.05 dB of its target (mastering.SETTLED_DB); a 16-bit file adds
# quantisation far below 0.01 dB: 0.1 dB for lossless files. A lossy codec moves the level: measured up to
# 0.3 dB (MP3 192k RMS -20.3) on these signals: 0.5 dB. True peak: scipy's Kaiser FIR and soxr's VHQ filter
# disagree by up to 0.07 dB on content below 6 kHz (measured on sines at 3, 5 and 6 kHz): 0.1 dB.
LOSSLESS_DB, LOSSY_DB, TP_FILTERS_DB = 0.1, 0.5, 0.1


def _with_plosives(x: np.ndarray, level: float, seed: int) -> np.ndarray:
    """``x`` with a 4 ms click every 0.4 s at ``level``: speech's crest factor (peaks 20+ dB over the RMS),
    which makes every preset's limiter work."""
    rng = np.random.default_rng(seed)
    y = x.copy()
    for start in range(int(0.1 * SR), x.shape[0] - 200, int(0.4 * SR)):
        y[start:start + 96] += (level * np.hanning(96) * np.sign(rng.standard_normal(96))).astype(np.float32)
    return y


def narration(level: float) -> Timeline:
    """Four voiced lines (body at half of ``level`` or less) with plosive clicks at ``level`` and pauses."""
    return Timeline([
        Segment(_with_plosives(voiced(1.6, 120, level / 2, seed=1), level, 1), "a", kind=SegmentKind.LINE),
        Segment(_with_plosives(voiced(1.2, 170, level / 4, seed=2), level / 2, 2), "b",
                kind=SegmentKind.PARAGRAPH_END),
        Segment(_with_plosives(voiced(2.0, 140, level / 2.5, seed=3), level, 3), "c"),
        Segment(_with_plosives(voiced(0.9, 210, level / 2, seed=4), level, 4), "d"),
    ])


@pytest.mark.parametrize("level", [0.01, 0.9])
@pytest.mark.parametrize("name", ["m.wav", "m.mp3"])
@pytest.mark.parametrize("preset, channels", [("acx", 1), ("podcast", 1), ("podcast", 2), ("ebu-r128", 1)])
def test_presets_meet_their_targets_measured_independently(tmp_path, preset, channels, name, level):
    out = tmp_path / name
    result = export_timeline(narration(level), out,
                             ExportSettings(master=preset, channels=channels, sample_rate=44100))
    audio, rate = decode(out)
    assert audio.shape[1] == channels
    tol = LOSSY_DB if name.endswith(".mp3") else LOSSLESS_DB
    if preset == "acx":
        assert rms_db(audio) == pytest.approx(-20.0, abs=tol)
        assert sample_peak_db(audio) <= -3.0  # ACX's peak rule
        assert true_peak_db(audio) <= (-3.5 + TP_FILTERS_DB if name.endswith(".wav") else -3.0 + TP_FILTERS_DB)
    else:
        target = {"podcast": -19.0 if channels == 1 else -16.0, "ebu-r128": -23.0}[preset]
        assert lufs(audio, rate) == pytest.approx(target, abs=tol)
        assert true_peak_db(audio) <= -1.0 + TP_FILTERS_DB
    report = result.files[0].report
    assert report.preset_pass, report.describe()
    if preset != "ebu-r128":  # -23 LUFS leaves the clicks under -1 dBTP; the louder presets must limit them
        assert report.limited_db > 1.0
    # the report says what was measured independently here
    assert report.levels.rms_db == pytest.approx(rms_db(audio), abs=0.01)
    assert report.levels.sample_peak_dbfs == pytest.approx(sample_peak_db(audio), abs=0.01)
    assert report.levels.true_peak_dbtp == pytest.approx(true_peak_db(audio), abs=TP_FILTERS_DB)


def test_no_mastering_leaves_the_samples_alone(tmp_path: Path):
    timeline = narration(0.3)
    export_timeline(timeline, tmp_path / "n.wav", ExportSettings(format="wav-float"))
    audio, _ = sf.read(tmp_path / "n.wav", dtype="float32")
    np.testing.assert_array_equal(audio, plan_files(timeline)[0].render(timeline))


def test_limiter_catches_inter_sample_peaks():
    # a 6 kHz tone at 24 kHz, phase 45 degrees: every sample is at 0.707, the waveform between them reaches 1.0
    t = np.arange(SR) / SR
    tone = np.sin(2 * np.pi * 6000 * t + np.pi / 4).astype(np.float32)
    assert sample_peak_db(tone[:, None]) == pytest.approx(-3.01, abs=0.01)
    out = limit(tone, SR, 10 ** (-4.0 / 20)).audio  # ceiling -4 dBTP: under the samples' -3 dB too
    assert true_peak_db(out[:, None]) <= -4.0 + TP_FILTERS_DB
    assert sample_peak_db(out[:, None]) < -4.0


def test_limiter_touches_only_the_peaks():
    x = voiced(3.0, level=0.2, seed=7)
    x[SR:SR + 48] = np.hanning(48) * 0.95  # one short spike in the middle second
    y = limit(x, SR, 10 ** (-6.0 / 20)).audio
    assert true_peak_db(y[:, None]) <= -6.0 + TP_FILTERS_DB
    far = np.r_[0:SR - 2000, SR + 2000:3 * SR]  # more than hold + ramp (25 ms = 600 samples) away
    np.testing.assert_array_equal(y[far], x[far])


def _write(path: Path, audio: np.ndarray) -> Path:
    sf.write(path, audio, SR, subtype="FLOAT")
    return path


def _rules(report) -> dict[str, bool]:
    return {r.name: r.passed for r in report.acx_rules}


def _scaled_to_rms(x: np.ndarray, db: float) -> np.ndarray:
    return (x * 10 ** ((db - rms_db(x[:, None])) / 20)).astype(np.float32)


@pytest.fixture()
def speech() -> np.ndarray:
    return np.concatenate([voiced(2.0, 130, 0.5, seed=11), np.zeros(SR // 2, np.float32),
                           voiced(2.5, 160, 0.5, seed=12)])


def test_acx_rules_too_quiet_too_loud_clipped_noisy(tmp_path: Path, speech: np.ndarray):
    quiet = check_file(_write(tmp_path / "quiet.wav", _scaled_to_rms(speech, -30.0)))
    assert _rules(quiet)["RMS"] is False and _rules(quiet)["peak"] is True and _rules(quiet)["noise floor"] is True
    loud = _scaled_to_rms(speech, -15.0)
    assert np.abs(loud).max() < 1.0
    loud_report = check_file(_write(tmp_path / "loud.wav", loud))
    assert _rules(loud_report)["RMS"] is False and _rules(loud_report)["peak"] is False
    clipped = np.clip(_scaled_to_rms(speech, -20.0) * 4.0, -1.0, 1.0)
    clipped_report = check_file(_write(tmp_path / "clipped.wav", clipped))
    assert _rules(clipped_report)["peak"] is False and clipped_report.levels.sample_peak_dbfs == pytest.approx(0.0)
    rng = np.random.default_rng(3)
    hiss = (10 ** (-50 / 20) * rng.standard_normal(speech.shape[0])).astype(np.float32)  # -50 dB RMS everywhere
    noisy = check_file(_write(tmp_path / "noisy.wav", _scaled_to_rms(speech, -20.0) + hiss))
    assert _rules(noisy)["noise floor"] is False and noisy.levels.noise_floor_db == pytest.approx(-50.0, abs=0.5)
    assert _rules(noisy)["RMS"] is True and _rules(noisy)["peak"] is True
    for report in (quiet, loud_report, clipped_report, noisy):
        assert report.acx_pass is False and not report.preset_pass


def test_mastered_mp3_passes_every_acx_rule(tmp_path: Path, speech: np.ndarray):
    src = _write(tmp_path / "take.wav", _scaled_to_rms(speech, -31.0))
    out = tmp_path / "chapter.mp3"
    result = master_file(src, out, ExportSettings(master="acx", sample_rate=44100, padding=Padding(0.75, 2.0)))
    assert result.files[0].report.acx_pass, result.files[0].report.describe()
    again = check_file(out)  # measured afresh from the file, as ACX's checker would
    assert again.acx_pass, again.describe()
    assert all(_rules(again).values())
    assert again.file.bitrate_kbps == 192 and again.file.sample_rate == 44100 and not again.file.vbr


def test_mastering_cannot_hide_noise(tmp_path: Path, speech: np.ndarray):
    rng = np.random.default_rng(4)
    noisy = _scaled_to_rms(speech, -28.0) + (10 ** (-58 / 20) * rng.standard_normal(speech.shape[0])).astype(np.float32)
    result = master_file(_write(tmp_path / "n.wav", noisy), tmp_path / "n.flac", ExportSettings(master="acx"))
    report = result.files[0].report
    assert _rules(report)["RMS"] is True  # the gain brought the speech up ...
    assert _rules(report)["noise floor"] is False and not report.preset_pass  # ... and the hiss with it
    assert "FAIL  noise floor" in report.describe()


def test_report_as_value_text_and_json(tmp_path: Path, speech: np.ndarray):
    report = check_file(_write(tmp_path / "r.wav", _scaled_to_rms(speech, -20.0)), "ebu-r128")
    data = json.loads(report.to_json())
    assert set(data["levels"]) == {"integrated_lufs", "rms_db", "true_peak_dbtp", "sample_peak_dbfs",
                                   "noise_floor_db", "head_s", "tail_s", "duration_s"}
    assert data["preset"] == "ebu-r128" and data["preset_pass"] is False  # -20 dB RMS is far above -23 LUFS
    assert [r["name"] for r in data["acx_rules"]] == ["RMS", "peak", "noise floor", "head room tone",
                                                      "tail room tone", "length", "format"]
    text = report.describe()
    assert "integrated" in text and "LUFS" in text and "DOES NOT meet" in text


def test_unmasterable_input_is_a_typed_error(tmp_path: Path):
    with pytest.raises(ExportError, match="0.4 s"):
        export_timeline(Timeline.from_audio(voiced(0.3)), tmp_path / "s.wav", ExportSettings(master="podcast"))
    with pytest.raises(ExportError, match="silent"):
        export_timeline(Timeline.from_audio(np.zeros(SR, np.float32)), tmp_path / "z.wav",
                        ExportSettings(master="ebu-r128"))
    assert list(tmp_path.iterdir()) == []
