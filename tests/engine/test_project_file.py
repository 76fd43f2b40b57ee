"""Narration project files (engine.project): real .timbre files saved, reopened and played without a model, lines
that keep their takes across edits, stale takes after a cast change, damaged and newer files refused untouched,
and autosaves that a killed process leaves behind opening again."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from engine.errors import ProjectBusyError, ProjectError, ProjectFileError, ProjectVersionError, ScriptError
from engine.export import SegmentKind
from engine.frontend.audio import load_audio, resample_hq
from engine.project import LineStatus, Project, Take, TakeInfo, find_autosave, find_autosaves
from engine.project.model import new_id
from engine.pronunciation import Pronunciation, Pronunciations
from engine.voices import Voice

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = "# One\nAnn: Hello there.\nThe door closed.\n[pause 1s]\nBob: Who is it?\n\n# Two\nAnn: Only me."
FLAC_STEP = 2.0 ** -23  # 24-bit FLAC: samples come back within one quantisation step of the float take


def make_voice(name: str, seed: int) -> Voice:
    """A voice with valid tensors (what the frontend would make; no model needed to store one)."""
    g = torch.Generator().manual_seed(seed)
    return Voice(name=name, transcript=f"{name} speaking.",
                 speech_tokens=torch.randint(0, 6561, (25,), generator=g, dtype=torch.int32),
                 speech_feat=(torch.randn(50, 80, generator=g) - 4).clamp(-11, 4), embedding=torch.randn(192, generator=g))


@pytest.fixture(scope="module")
def speech(parity_dir) -> np.ndarray:
    """Real speech (the fixture recording) at 24 kHz, the rate of every take."""
    audio, rate = load_audio(parity_dir / "wavs" / "prompt_en_22k.wav")
    return resample_hq(audio, rate, 24000).astype(np.float32)


def fake_take(job, audio: np.ndarray) -> Take:
    """A take for ``job`` as synthesize_line records one (the audio is real speech, not a model's)."""
    info = TakeInfo(id=new_id(), line_id=job.line_id, kind="synthesized", text=job.text, spoken_text=job.spoken_text,
                    speaker=job.speaker, voice_name=job.voice.name, voice_id=job.voice_id, mode=job.mode,
                    instruction=job.instruction, seed=job.seed, sample_rate=24000, n_samples=audio.shape[0],
                    settings={"model": "none"})
    return Take(info, audio)


def cast_project(script: str = SCRIPT) -> Project:
    p = Project.new(script, title="Test")
    p.set_cast("Narrator", make_voice("Me", 1))
    p.set_cast("Ann", make_voice("AnnV", 2))
    p.set_cast("Bob", make_voice("BobV", 3), mode="cross_lingual")
    return p


def fill(p: Project, speech: np.ndarray) -> dict[str, np.ndarray]:
    """A take for every pending line, each a different slice of real speech; returns take id -> audio."""
    made = {}
    for k, job in enumerate(p.jobs("pending", seed=7)):
        audio = speech[k * 4000:k * 4000 + 12000 + 800 * k]
        made[p.add_take(fake_take(job, audio)).id] = audio
    return made


def test_round_trip_plays_takes_without_a_model(tmp_path, speech):
    p = cast_project()
    p.set_pronunciations(Pronunciations([Pronunciation("door", "dohr")]))
    made = fill(p, speech)
    old_umask = os.umask(0o022)
    try:
        path = p.save(tmp_path / "book")  # the suffix is added
    finally:
        os.umask(old_umask)
    assert path.name == "book.timbre" and (path.stat().st_mode & 0o777) == 0o644
    with zipfile.ZipFile(path) as z:
        names = z.namelist()
        assert names[0] == "mimetype" and z.read("mimetype") == b"application/x-timbre-project"
        assert sum(n.startswith("takes/") for n in names) == 4 and sum(n.startswith("voices/") for n in names) == 3
    p.close()

    q = Project.open(path)
    assert [v.status for v in q.rows()] == [LineStatus.READY] * 4
    assert [v.line.speaker for v in q.rows()] == ["Ann", "Narrator", "Bob", "Ann"]
    for v in q.rows():
        back = q.take_audio(v.chosen)
        np.testing.assert_allclose(back, made[v.chosen], atol=FLAC_STEP, rtol=0)
    info = q.take_info(q.rows()[1].chosen)
    assert (info.spoken_text, info.seed, info.mode, info.voice_name) == ("The dohr closed.", 7, "zero_shot", "Me")
    assert q.take_info(q.rows()[2].chosen).mode == "cross_lingual"
    assert q.cast["Ann"].voice.name == "AnnV" and torch.equal(q.cast["Ann"].voice.speech_tokens,
                                                              p.cast["Ann"].voice.speech_tokens)
    assert q.pronunciations == p.pronunciations and q.title == "Test"

    # the saved file replays in another process that never imports the engine's networks
    code = ("import sys; from engine.project import Project; p = Project.open(sys.argv[1]); "
            "print(sum(p.take_audio(v.chosen).size for v in p.rows())); "
            "print('engine.engine' in sys.modules, 'engine.llm.speech_lm' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, cwd=ROOT,
                         timeout=120, check=True).stdout.split()
    assert out == [str(sum(a.size for a in made.values())), "False", "False"]


def test_timeline_follows_the_script(tmp_path, speech):
    p = cast_project()
    fill(p, speech)
    segments = p.timeline().segments
    assert [(s.text, s.speaker, s.chapter, s.kind, s.pause_after_s) for s in segments] == [
        ("Hello there.", "Ann", "One", SegmentKind.PARAGRAPH_END, None),   # the speaker changes after it
        ("The door closed.", "Narrator", "One", SegmentKind.PARAGRAPH_END, 1.0),  # [pause 1s] is its pause
        ("Who is it?", "Bob", "One", SegmentKind.CHAPTER_END, None),
        ("Only me.", "Ann", "Two", SegmentKind.CHAPTER_END, None)]
    p.set_script(SCRIPT + "\nA new line.")
    with pytest.raises(ProjectError, match="has no take"):
        p.timeline()


def test_lines_keep_their_takes_across_edits(speech):
    p = cast_project("Ann: Hello there.\nThe door closed.\nBob: Who is it?")
    fill(p, speech)
    before = {v.line.text: (v.id, v.chosen) for v in p.rows()}

    p.set_script("A new first line.\nAnn: Hello there.\nThe door closed slowly.\nBob: Who is it?")
    rows = {v.line.text: v for v in p.rows()}
    assert rows["A new first line."].status is LineStatus.MISSING
    assert (rows["Hello there."].id, rows["Hello there."].chosen) == before["Hello there."]
    assert rows["Hello there."].status is LineStatus.READY
    edited = rows["The door closed slowly."]
    assert (edited.id, edited.chosen) == before["The door closed."] and edited.status is LineStatus.STALE

    p.set_script("Ann: Hello there.")                       # two lines deleted ...
    assert [v.line.text for v in p.rows()] == ["Hello there."]
    p.set_script("Ann: Hello there.\nBob: Who is it?")      # ... and one pasted back: its take is found again
    back = p.rows()[1]
    assert (back.id, back.chosen, back.status) == (*before["Who is it?"], LineStatus.READY)


def test_cast_change_marks_only_that_members_lines_stale(speech):
    p = cast_project()
    fill(p, speech)
    p.set_cast("Ann", make_voice("AnnV2", 22))
    assert [(v.line.speaker, v.status) for v in p.rows()] == [
        ("Ann", LineStatus.STALE), ("Narrator", LineStatus.READY), ("Bob", LineStatus.READY), ("Ann", LineStatus.STALE)]
    assert all(len(v.takes) == 1 for v in p.rows())          # takes kept
    assert len(p.jobs("stale")) == 2 and len(p.jobs("missing")) == 0
    p.set_cast("Bob", instruction="Speak slowly.", mode="")  # a new default direction: Bob's line is stale too
    assert p.rows()[2].status is LineStatus.STALE and p.job(p.rows()[2].id).mode == "instruct"
    p.remove_cast("Bob")
    with pytest.raises(ScriptError, match="Bob is not in the cast"):
        p.jobs()


def test_choose_and_delete_takes(tmp_path, speech):
    p = cast_project("Ann: Hello there.")
    first = p.add_take(fake_take(p.jobs("all")[0], speech[:9000]))
    second = p.add_take(fake_take(p.jobs("all")[0], speech[9000:20000]), choose=False)
    row = p.rows()[0]
    assert [t.id for t in row.takes] == [first.id, second.id] and row.chosen == first.id
    p.choose_take(row.id, second.id)
    p.delete_take(second.id)
    assert p.rows()[0].chosen is None and p.rows()[0].status is LineStatus.MISSING
    with pytest.raises(ProjectError):
        p.choose_take(row.id, second.id)
    p.restore_take(second.id, choose=True)  # undo of the delete
    assert p.rows()[0].chosen == second.id and p.take_audio(second.id).shape == (11000,)
    p.delete_take(second.id)
    p.save(tmp_path / "p.timbre")           # a save drops deleted takes for good
    with pytest.raises(ProjectError):
        p.restore_take(second.id)
    assert [t.id for t in Project.open(tmp_path / "p.timbre").rows()[0].takes] == [first.id]


@pytest.mark.parametrize("damage", ["garbage", "truncated", "not-a-project", "bad-json", "crc", "missing-take"])
def test_damaged_files_are_refused_and_left_untouched(tmp_path, speech, damage):
    p = cast_project()
    fill(p, speech)
    path = p.save(tmp_path / "book.timbre")
    data = path.read_bytes()
    if damage == "garbage":
        data = b"\x00junk" * 100
    elif damage == "truncated":
        data = data[: len(data) // 2]
    else:
        with zipfile.ZipFile(path) as z:
            members = {n: z.read(n) for n in z.namelist()}
        if damage == "not-a-project":
            members["mimetype"] = b"application/zip"
        elif damage == "bad-json":
            members["project.json"] = b'{"format": 1, "id": '
        elif damage == "missing-take":
            members.pop(next(n for n in members if n.startswith("takes/")))
        rebuilt = tmp_path / "rebuilt.zip"
        with zipfile.ZipFile(rebuilt, "w") as z:
            for n, b in members.items():
                z.writestr(n, b)
        data = rebuilt.read_bytes()
        if damage == "crc":  # flip one byte inside the stored project.json
            at = data.index(b'"script"') + 3
            data = data[:at] + bytes([data[at] ^ 0x20]) + data[at + 1:]
    path.write_bytes(data)
    with pytest.raises(ProjectFileError) as caught:
        Project.open(path).take_audio  # noqa: B018 - opening is what fails
    assert str(path) in str(caught.value) or "damaged" in str(caught.value)
    assert path.read_bytes() == data


def test_newer_format_is_refused_untouched(tmp_path, speech):
    p = cast_project()
    path = p.save(tmp_path / "book.timbre")
    with zipfile.ZipFile(path) as z:
        members = {n: z.read(n) for n in z.namelist()}
    members["project.json"] = members["project.json"].replace(b'"format": 1', b'"format": 7', 1)
    with zipfile.ZipFile(path, "w") as z:
        for n, b in members.items():
            z.writestr(n, b)
    before = path.read_bytes()
    with pytest.raises(ProjectVersionError, match="newer Timbre"):
        Project.open(path)
    assert path.read_bytes() == before


def test_second_timbre_on_the_same_project_is_refused(tmp_path, speech):
    p = cast_project()
    p.attach_autosave(tmp_path / "auto")
    q = Project.open(p.save(tmp_path / "x.timbre"))
    with pytest.raises(ProjectBusyError):
        q.attach_autosave(tmp_path / "auto")
    p.close()
    q.attach_autosave(tmp_path / "auto")
    q.close()


WRITER = textwrap.dedent("""
    import sys, time
    import numpy as np
    sys.path.insert(0, sys.argv[3])
    from test_project_file import cast_project, fake_take
    p = cast_project("\\n".join(f"Line number {k}." for k in range(400)))
    p.save(sys.argv[1])
    p.attach_autosave(sys.argv[2])
    speech = np.sin(np.arange(24000, dtype=np.float32) / 7) * 0.3
    for k, job in enumerate(p.jobs()):
        p.add_take(fake_take(job, speech[: 2400 + 10 * k]))
        p.autosave()
        if k % 25 == 24:
            p.save()        # the file is replaced now and then, the autosave cleared; the kill can land in either
        print(k, flush=True)
""")


def test_a_project_written_by_a_killed_process_still_opens(tmp_path):
    path, auto = tmp_path / "book.timbre", tmp_path / "auto"
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(path), str(auto), str(Path(__file__).parent)],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        for line in proc.stdout:
            if int(line) >= 60:  # past two saves and into the autosave after them
                break
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL, proc.stderr.read()

    saved = Project.open(path)                              # the last complete save
    n_saved = sum(v.chosen is not None for v in saved.rows())
    assert n_saved % 25 == 0 and n_saved >= 50
    left = find_autosave(saved.id, auto)                    # what the killed process had made since
    saved.close()
    if left is None:  # the kill landed inside a save after its new file was complete: that file has it all
        assert n_saved >= 75
        return
    assert left.base == str(path) and left in find_autosaves(auto)
    recovered = Project.recover(left)
    rows = recovered.rows()
    done = [v for v in rows if v.chosen is not None]
    assert len(done) >= 61 and all(v.status is LineStatus.READY for v in done)
    assert all(recovered.take_audio(v.chosen).shape[0] == 2400 + 10 * k for k, v in enumerate(done))
    recovered.attach_autosave(auto)
    assert recovered.save() == path                         # recovery goes back into the file it came from
    assert find_autosave(recovered.id, auto) is None
    recovered.close()
    assert sum(v.chosen is not None for v in Project.open(path).rows()) == len(done)
