"""The export from the command line: ``timbre master`` on real files, ``timbre synth`` with export options on
the tiny model (its files read back), and bad export options refused before any work."""
from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from mutagen.mp3 import MP3

from engine.cli import main
from export_audio import SR, voiced

PROMPT_TEXT = "Hello there, this is a short prompt for voice cloning."


def _err_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert err and err[-1].startswith("timbre: error: ")
    return err[-1]


@pytest.fixture()
def take(tmp_path: Path) -> Path:
    """A quiet 5 s recording (RMS about -33 dB) with a pause in the middle."""
    x = np.concatenate([voiced(2.0, 130, 0.05, seed=1), np.zeros(SR // 2, np.float32), voiced(2.5, 170, 0.05, seed=2)])
    path = tmp_path / "take.wav"
    sf.write(path, x, SR)
    return path


def test_master_writes_the_file_and_prints_the_report_as_json(take: Path, tmp_path: Path, capsys):
    out = tmp_path / "chapter.mp3"
    assert main(["master", str(take), "-o", str(out), "--preset", "acx", "--sample-rate", "44100",
                 "--head", "0.75", "--tail", "2", "--title", "Chapter 1", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["preset_pass"] and report["acx_pass"], report
    assert report["file"]["path"] == str(out) and report["levels"]["rms_db"] == pytest.approx(-20.0, abs=0.5)
    info = MP3(out)
    assert info.info.sample_rate == 44100 and round(info.info.bitrate / 1000) == 192
    assert str(info["TIT2"]) == "Chapter 1"


def test_master_without_output_only_measures(take: Path, capsys):
    before = take.read_bytes()
    assert main(["master", str(take)]) == 0
    text = capsys.readouterr().out
    assert "RMS" in text and "FAIL  RMS" in text and "not ready for ACX" in text  # -33 dB is too quiet
    assert main(["master", str(take), "--preset", "podcast", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["preset"] == "podcast" and data["preset_pass"] is False
    assert take.read_bytes() == before
    assert main(["master", str(take), "--sample-rate", "48000"]) == 1
    assert "need an output" in _err_line(capsys)


@pytest.mark.parametrize("args, needle", [
    (["-o", "OUT/x.xyz"], "cannot write '.xyz'"),
    (["-o", "OUT/x.opus", "--sample-rate", "44100"], "cannot be written at 44100"),
    (["-o", "OUT/x.mp3", "--bitrate", "100"], "takes a bitrate"),
])
def test_master_bad_options_are_one_line(take: Path, tmp_path: Path, capsys, args, needle):
    args = [a.replace("OUT", str(tmp_path)) for a in args]
    assert main(["master", str(take), *args]) == 1
    assert needle in _err_line(capsys)
    assert main(["master", str(tmp_path / "missing.wav")]) == 1
    assert "does not exist" in _err_line(capsys)


@pytest.fixture()
def base(tiny_model_dir: Path, tmp_path: Path, parity_dir: Path) -> list[str]:
    return ["--model", str(tiny_model_dir), "--voices-dir", str(tmp_path / "voices"), "--normalizer", "none",
            "--device", "cpu", "--prompt", str(parity_dir / "wavs" / "prompt_en_22k.wav"), "--transcript", PROMPT_TEXT]


def test_synth_exports_mastered_mp3_with_subtitles(base, tmp_path: Path, capsys):
    out, subs, rep = tmp_path / "hello.mp3", tmp_path / "hello.srt", tmp_path / "report.json"
    assert main(["synth", *base, "--text", "Hi there. See you soon.", "-o", str(out), "--master", "acx",
                 "--sample-rate", "44100", "--subtitles", str(subs), "--report-json", str(rep),
                 "--title", "Hello"]) == 0
    printed = capsys.readouterr().out
    assert "preset acx" in printed and f"wrote {out}" in printed
    info = MP3(out)
    assert info.info.sample_rate == 44100 and str(info["TIT2"]) == "Hello"
    cues = re.findall(r"(\d\d:\d\d:\d\d,\d{3}) --> (\d\d:\d\d:\d\d,\d{3})\n(.+)", subs.read_text(encoding="utf-8"))
    data = json.loads(rep.read_text(encoding="utf-8"))
    assert len(data["files"]) == 1 and data["files"][0]["report"]["preset_pass"]
    assert cues and cues[0][0] == "00:00:00,750"  # ACX head padding before the first words
    duration = data["files"][0]["report"]["file"]["duration_s"]
    assert sf.info(str(out)).frames == round(duration * 44100)


def test_synth_plain_wav_is_the_engine_audio(base, tiny_model_dir: Path, parity_dir: Path, tmp_path: Path):
    """Without export options the file is what the engine says, pauses included, as before exports existed."""
    from engine import Engine, SynthesisRequest

    out = tmp_path / "plain.wav"
    text = "One two. Three four."
    assert main(["synth", *base, "--text", text, "-o", str(out)]) == 0
    got, rate = sf.read(out, dtype="float32")
    engine = Engine.load(tiny_model_dir, device="cpu", normalizer="none")
    voice = engine.make_voice(parity_dir / "wavs" / "prompt_en_22k.wav", PROMPT_TEXT, name="prompt_en_22k")
    want = engine.synthesize_all(SynthesisRequest(text, voice))
    assert rate == SR and got.shape == want.shape
    np.testing.assert_allclose(got, np.clip(want, -1, 1), atol=1 / 32767)  # one 16-bit step


@pytest.mark.parametrize("args, needle", [
    (["-o", "x.mp4a"], "cannot write '.mp4a'"),
    (["-o", "x.wav", "--format", "mp3"], "does not fit"),
    (["-o", "x.mp3", "--bitrate", "7"], "takes a bitrate"),
    (["-o", "x.wav", "--subtitles", "x.txt"], ".srt or .vtt"),
    (["-o", "x.wav", "--cover", "nope.png"], "cannot be read"),
])
def test_synth_bad_export_options_fail_before_loading_anything(tmp_path: Path, capsys, args, needle):
    args = [str(tmp_path / a) if a.startswith(("x.", "nope")) else a for a in args]
    # the model folder does not exist: the export options must be refused before it is looked at
    assert main(["synth", "--model", str(tmp_path / "no-model"), "--voice", "v", "--voices-dir", str(tmp_path),
                 "--text", "Hi.", *args]) == 1
    assert needle in _err_line(capsys)
    assert not any(tmp_path.iterdir())
