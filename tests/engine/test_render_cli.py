"""`timbre render` with the tiny model: a two-voice dialogue whose lines reach the LM with the right voice's prompt
tokens, a real render process killed mid-way and resumed from its takes, and script errors as one line."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import soundfile as sf
import torch

from engine.cli import main
from engine.llm.qwen2 import Qwen2Model
from engine.project import LineStatus, Project, find_autosave
from engine.project.autosave import read_autosave_state
from engine.voices import VoiceLibrary

ROOT = Path(__file__).resolve().parents[2]
DIALOGUE = "# Scene\nAnn: Hi.\nIt was dark.\nAnn: Bye."


@pytest.fixture(scope="module")
def library(engine, voice, tmp_path_factory, parity_dir):
    """A voice library with two voices made from two different real recordings."""
    import soundfile as sf

    root = tmp_path_factory.mktemp("voices")
    lib = VoiceLibrary(root)
    lib.save(voice.__class__(**{**voice.__dict__, "name": "Me"}))
    audio, rate = sf.read(parity_dir / "wavs" / "source_en_16k.wav", dtype="float32")
    lib.save(engine.make_voice(audio, "A short recording of another speaker.", sample_rate=rate, name="Ann"))
    return root


@pytest.fixture()
def args(tiny_model_dir, library, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))  # the autosave and global lists live here
    return ["--model", str(tiny_model_dir), "--device", "cpu", "--normalizer", "none", "--voices-dir", str(library)]


def _prefills(seen: list) -> list[torch.Tensor]:
    return [x for x in seen if x.shape[1] > 1]


def test_dialogue_lines_reach_the_lm_with_their_voice(engine, library, args, tmp_path, capsys):
    script = tmp_path / "scene.md"
    script.write_text(DIALOGUE, encoding="utf-8")
    seen: list[torch.Tensor] = []

    def hook(module, inputs):
        if isinstance(module, Qwen2Model):
            seen.append(inputs[0].detach().clone())  # the LM's input embeddings, prefill then one per token

    handle = torch.nn.modules.module.register_module_forward_pre_hook(hook)
    try:
        code = main(["render", str(script), "-o", str(tmp_path / "scene.wav"), "--cast", "Ann=Ann",
                     "--cast", "Narrator=Me", "--project", str(tmp_path / "scene.timbre"), "--seed", "5", *args])
    finally:
        handle.remove()
    assert code == 0, capsys.readouterr().err
    assert "3 lines made" in capsys.readouterr().out

    lib = VoiceLibrary(library)
    voices = {"Ann": lib.load("Ann"), "Narrator": lib.load("Me")}
    table = engine.lm.speech_embedding.weight
    prompt = {k: table[v.speech_tokens.long()] for k, v in voices.items()}  # zero-shot: the prompt's speech rows
    project = Project.open(tmp_path / "scene.timbre")
    rows = project.rows()
    assert [r.line.speaker for r in rows] == ["Ann", "Narrator", "Ann"]
    prefills = _prefills(seen)
    assert len(prefills) == len(rows)  # one request per line, in order
    for row, x in zip(rows, prefills):
        mine, other = prompt[row.line.speaker], prompt["Narrator" if row.line.speaker == "Ann" else "Ann"]
        assert torch.equal(x[0, -mine.shape[0]:], mine)                      # the last rows: this voice's prompt
        assert not torch.equal(x[0, -other.shape[0]:], other)
        info = project.take_info(row.chosen)
        assert (info.voice_name, info.mode, info.seed) == ({"Ann": "Ann", "Narrator": "Me"}[row.line.speaker],
                                                           "zero_shot", 5)
    audio, rate = sf.read(tmp_path / "scene.wav")
    takes = sum(project.take_info(r.chosen).n_samples for r in rows)
    assert rate == 24000 and audio.shape[0] > takes  # the takes plus the export's pauses


def test_script_problems_are_one_line(args, tmp_path, capsys):
    script = tmp_path / "bad.md"
    script.write_text("Ann: Hi.\nCarol: Who?\n[pause forever]", encoding="utf-8")
    assert main(["render", str(script), "-o", str(tmp_path / "o.wav"), "--cast", "Ann=Ann", *args]) == 1
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith("timbre: error: The script has 2 problems: line 2, column 1: Carol is not in the cast")
    assert "line 3, column 1: 'forever' is not a pause length" in err and not (tmp_path / "o.wav").exists()
    assert main(["render", str(script), "-o", str(tmp_path / "o.wav"), "--cast", "Ann", *args]) == 1
    assert "NAME=VOICE" in capsys.readouterr().err


def _autosaved_takes(xdg: Path) -> int:
    return len(list((xdg / "Timbre" / "autosave" / "projects").glob("*/takes/*.flac")))


@pytest.mark.slow
def test_a_killed_render_resumes_from_its_takes(args, tmp_path, capsys):
    lines = ["Ann: One.", "Two.", "Ann: Three.", "Four.", "Ann: Five.", "Six."]
    script = tmp_path / "book.md"
    script.write_text("\n".join(lines), encoding="utf-8")
    project_file, xdg = tmp_path / "book.timbre", tmp_path / "xdg"
    command = ["render", str(script), "-o", str(tmp_path / "book.flac"), "--cast", "Ann=Ann", "--cast",
               "Narrator=Me", "--project", str(project_file), *args]
    proc = subprocess.Popen([sys.executable, "-m", "engine.cli", *command], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env={**os.environ, "XDG_DATA_HOME": str(xdg)})
    try:
        deadline = time.monotonic() + 600
        while _autosaved_takes(xdg) < 2 and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.1)
        proc.send_signal(signal.SIGKILL)  # mid-render, as a crash or a power cut would stop it
    finally:
        proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL, proc.stderr.read().decode()
    assert not (tmp_path / "book.flac").exists()

    saved = Project.open(project_file)  # written by the killed process at its start: opens, no takes yet
    left = find_autosave(saved.id)
    saved.close()
    assert left is not None and 2 <= left.n_takes < len(lines)
    kept = {r.id: r.chosen for r in read_autosave_state(left.folder).lines if r.chosen}

    assert main([*command, "--resume"]) == 0
    out = capsys.readouterr().out
    assert f"{len(lines) - len(kept)} of {len(lines)} lines made" in out
    project = Project.open(project_file)
    rows = project.rows()
    assert [r.status for r in rows] == [LineStatus.READY] * len(lines)
    assert {r.id: r.chosen for r in rows if r.id in kept} == kept  # the killed render's takes, not new ones
    assert all(len(r.takes) == 1 for r in rows)
    assert find_autosave(project.id) is None  # saved into the file, the autosave cleared
    audio, rate = sf.read(tmp_path / "book.flac")
    assert rate == 24000 and audio.shape[0] > sum(project.take_info(r.chosen).n_samples for r in rows)


def test_best_of_keeps_every_checked_take_and_chooses_the_first_that_passed_or_the_best(args, tmp_path, capsys):
    from engine.checks.best_of import take_seed

    script = tmp_path / "two.md"
    script.write_text("Ann: Hi there.\nIt was dark.", encoding="utf-8")

    def render(name: str) -> Project:
        code = main(["render", str(script), "-o", str(tmp_path / f"{name}.wav"), "--cast", "Ann=Ann", "--cast",
                     "Narrator=Me", "--project", str(tmp_path / f"{name}.timbre"), "--seed", "5", "--best-of", "2",
                     *args])
        assert code == 0, capsys.readouterr().err
        return Project.open(tmp_path / f"{name}.timbre")

    project = render("a")
    err = capsys.readouterr().err
    chosen = []
    for row in project.rows():
        infos = list(row.takes)
        assert 1 <= len(infos) <= 2 and [i.seed for i in infos] == [take_seed(5, k) for k in range(len(infos))]
        assert all(i.checks and i.checks["checks"] for i in infos)  # every take keeps its report
        verdicts = [i.checks["verdict"] for i in infos]
        assert all(v == "fail" for v in verdicts[:-1])  # it stopped at the first take that did not fail
        best = project.take_info(row.chosen)
        if best.checks["verdict"] == "fail":  # none passed: the highest score, the earlier take on a tie
            assert best.checks["score"] == max(i.checks["score"] for i in infos)
        chosen.append(best.seed)
        assert f"take {[i.id for i in infos].index(row.chosen) + 1} of {len(infos)}" in err
    again = render("b")
    assert [again.take_info(r.chosen).seed for r in again.rows()] == chosen  # the same seeds, the same choice
    assert main(["render", str(script), "-o", str(tmp_path / "c.wav"), "--best-of", "0", *args]) == 1
    assert "from 1 to 32" in capsys.readouterr().err
