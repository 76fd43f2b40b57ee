"""`timbre synth` checks the output path before synthesising, and a failed write keeps the previous file
(issue 14, item 6)."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from engine.cli import common, main, synth
from engine.errors import TimbreError

PROMPT_TEXT = "Hello there, this is a short prompt for voice cloning."
ROOT = Path(__file__).parents[2]


@pytest.fixture()
def synth_args(tiny_model_dir: Path, parity_dir: Path, tmp_path: Path) -> list[str]:
    return ["synth", "--model", str(tiny_model_dir), "--voices-dir", str(tmp_path / "voices"), "--normalizer", "none",
            "--prompt", str(parity_dir / "wavs" / "prompt_en_22k.wav"), "--transcript", PROMPT_TEXT]


def _bad_outputs(tmp_path: Path) -> list[tuple[str, str]]:
    (tmp_path / "a_file").write_text("x")
    (tmp_path / "a_folder").mkdir()
    return [
        ("", "empty"),
        (str(tmp_path / "a_folder"), "is a folder"),
        (str(tmp_path / "a_file" / "out.wav"), "is a file"),
        (str(tmp_path / "a_file" / "deeper" / "out.wav"), "is a file"),
        (str(tmp_path / ("x" * 300 + ".wav")), "too long"),
        (str(tmp_path / "/".join(["d" * 200] * 25) / "out.wav"), "too long"),
    ]


def test_bad_output_paths_are_refused_before_the_model_loads(synth_args, tmp_path: Path, capsys, monkeypatch):
    loads = []
    monkeypatch.setattr(synth, "load_engine", lambda args: loads.append(args) or pytest.fail("synthesised"))
    for out, needle in _bad_outputs(tmp_path):
        assert main([*synth_args, "--text", "Hi.", "-o", out]) == 1, out
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("timbre: error: ") and needle in err[0], (out, err)
    assert loads == []


def test_a_seed_outside_64_bits_is_refused_before_the_model_loads(synth_args, tmp_path: Path, capsys, monkeypatch):
    monkeypatch.setattr(synth, "load_engine", lambda args: pytest.fail("synthesised"))
    for seed in (str(2**64), "-1"):
        assert main([*synth_args, "--text", "Hi.", "--seed", seed, "-o", str(tmp_path / "o.wav")]) == 1
        assert "seed must be between 0 and 2**64 - 1" in capsys.readouterr().err


def _refuses_writes(folder: Path) -> bool:
    import tempfile

    try:
        tempfile.NamedTemporaryFile(dir=folder).close()
        return False
    except OSError:
        return True


def test_a_read_only_folder_is_refused(tmp_path: Path):
    ro = tmp_path / "ro"
    ro.mkdir()
    os.chmod(ro, 0o555)
    try:
        # root ignores folder modes; sysfs refuses new files even to root, as a read-only mount does
        folder = next((f for f in (ro, Path("/sys")) if f.is_dir() and _refuses_writes(f)), None)
        if folder is None:
            pytest.skip("no folder here refuses writes")
        with pytest.raises(TimbreError, match="cannot be written to"):
            common.check_output_path(folder / "out.wav")
    finally:
        os.chmod(ro, 0o755)


def test_good_output_paths_pass_and_create_nothing(tmp_path: Path):
    for out in (tmp_path / "new.wav", tmp_path / "not" / "yet" / "there.wav"):
        assert common.check_output_path(out) == out
    assert sorted(p.name for p in tmp_path.iterdir()) == []


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX rlimits")
def test_disk_full_while_writing_is_one_line_and_keeps_the_previous_file(synth_args, tmp_path: Path):
    # A file-size limit makes every write past 8 KB fail with EFBIG, as a full disk fails with ENOSPC.
    out = tmp_path / "take.wav"
    out.write_bytes(b"the previous take")
    script = ("import resource, signal, sys; signal.signal(signal.SIGXFSZ, signal.SIG_IGN); "
              "resource.setrlimit(resource.RLIMIT_FSIZE, (8192, 8192)); from engine.cli import main; "
              "sys.exit(main(sys.argv[1:]))")
    run = subprocess.run([sys.executable, "-c", script, *synth_args, "--text", "Hello there. How are you today?",
                          "-o", str(out)], capture_output=True, text=True, cwd=ROOT, timeout=600)
    err = run.stderr.strip().splitlines()
    assert run.returncode == 1, run.stderr
    assert len(err) == 1 and err[0].startswith("timbre: error: ") and "take.wav" in err[0], run.stderr
    assert out.read_bytes() == b"the previous take"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["take.wav", "voices"] or \
        sorted(p.name for p in tmp_path.iterdir()) == ["take.wav"]
