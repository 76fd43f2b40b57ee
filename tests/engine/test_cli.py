"""`timbre` command: bad input gives one clear line and a non-zero exit; the happy paths work."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from engine.cli import main

PROMPT_TEXT = "Hello there, this is a short prompt for voice cloning."


def _err_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert err, "expected an error message"
    assert err[-1].startswith("timbre: error: ")
    return err[-1]


@pytest.fixture()
def base(tiny_model_dir: Path, tmp_path: Path) -> list[str]:
    return ["--model", str(tiny_model_dir), "--voices-dir", str(tmp_path / "voices"), "--normalizer", "none"]


def test_synth_with_prompt_then_saved_voice(base, parity_dir: Path, tmp_path: Path, capsys):
    wav = str(parity_dir / "wavs" / "prompt_en_22k.wav")
    out = tmp_path / "out.wav"
    assert main(["synth", *base, "--prompt", wav, "--transcript", PROMPT_TEXT, "--text", "Hi.", "-o", str(out)]) == 0
    line = capsys.readouterr().out
    assert "first audio after" in line and "real-time factor" in line
    data, sr = sf.read(out)
    assert sr == 24000 and data.size > 0 and np.isfinite(data).all()

    assert main(["voices", "add", "Me", *base, "--prompt", wav, "--transcript", PROMPT_TEXT]) == 0
    assert main(["voices", "list", "--voices-dir", base[3]]) == 0
    assert "Me" in capsys.readouterr().out
    exported = tmp_path / "me.safetensors"
    assert main(["voices", "export", "Me", str(exported), "--voices-dir", base[3]]) == 0
    assert main(["voices", "import", str(exported), "--name", "Me2", "--voices-dir", base[3]]) == 0
    assert main(["voices", "remove", "Me", "--voices-dir", base[3]]) == 0
    capsys.readouterr()
    assert main(["synth", *base, "--voice", "Me2", "--text", "Hi.", "--mode", "cross_lingual",
                 "--no-stream", "-o", str(tmp_path / "o2.wav")]) == 0
    assert (tmp_path / "o2.wav").is_file()


@pytest.mark.parametrize("args, needle", [
    (["--text", "Hi."], "Which voice"),
    (["--voice", "Nobody", "--text", "Hi."], "No voice named 'Nobody'"),
    (["--prompt", "/no/such.wav", "--text", "Hi."], "does not exist"),
    (["--prompt", "WAV", "--transcript", PROMPT_TEXT, "--text", "   "], "text"),
    (["--prompt", "WAV", "--text", "Hi."], "transcript"),
    (["--prompt", "WAV", "--transcript", "x", "--text", "Hi.", "--mode", "instruct"], "instruction"),
    (["--prompt", "WAV", "--transcript", "x", "--text", "Hi.", "--speed", "9"], "Speed"),
    (["--prompt", "NOTAUDIO", "--transcript", "x", "--text", "Hi."], "not an audio file"),
    (["--prompt", "WAV", "--transcript", "x", "--text-file", "/no/file.txt"], "Cannot read"),
])
def test_bad_input_is_one_line_and_nonzero(base, parity_dir, tmp_path, capsys, args, needle):
    junk = tmp_path / "junk.wav"
    junk.write_bytes(b"RIFF0000WAVEjunk")
    wav = str(parity_dir / "wavs" / "prompt_en_22k.wav")
    args = [wav if a == "WAV" else str(junk) if a == "NOTAUDIO" else a for a in args]
    assert main(["synth", *base, *args, "-o", str(tmp_path / "x.wav")]) == 1
    assert needle.lower() in _err_line(capsys).lower()
    assert not (tmp_path / "x.wav").exists()


def test_bad_model_and_offline_download(tmp_path, capsys):
    assert main(["synth", "--model", str(tmp_path / "nothing"), "--text", "x", "--voice", "v",
                 "--voices-dir", str(tmp_path), "-o", str(tmp_path / "o.wav")]) == 1
    _err_line(capsys)
    assert main(["download", "--repo", "Some/Repo", "--cache-dir", str(tmp_path), "--offline"]) == 1
    assert "offline" in _err_line(capsys).lower()
    assert main(["voices", "remove", "ghost", "--voices-dir", str(tmp_path)]) == 1
    _err_line(capsys)


def test_history_budget_reaches_the_engine_and_bad_values_are_refused(base, parity_dir, tmp_path, monkeypatch,
                                                                        capsys):
    """``--history-budget MB`` becomes the stream's budget (0: every chunk recomputed, the same length of audio);
    a negative or non-numeric value is one argparse error naming the option."""
    from engine import Engine

    plans = []
    real_load = Engine.load

    def load(*a, **kw):
        engine = real_load(*a, **kw)
        plans.append(engine.stream_plan(True).history_budget)
        return engine

    monkeypatch.setattr(Engine, "load", load)
    wav = str(parity_dir / "wavs" / "prompt_en_22k.wav")
    outs = []
    for extra in (["--history-budget", "0"], ["--history-budget", "1.5"]):
        outs.append(tmp_path / f"out{len(outs)}.wav")
        assert main(["synth", *base, *extra, "--prompt", wav, "--transcript", PROMPT_TEXT, "--text", "Hi.",
                     "--seed", "3", "-o", str(outs[-1])]) == 0
    assert plans == [0, int(1.5 * 2**20)]
    assert sf.read(outs[0])[0].shape == sf.read(outs[1])[0].shape
    for bad in ("-1", "lots"):
        with pytest.raises(SystemExit):
            main(["synth", *base, "--history-budget", bad, "--text", "Hi.", "-o", str(tmp_path / "x.wav")])
        assert "--history-budget" in capsys.readouterr().err
