"""The voice library never loses a voice (issue 14, item 5): concurrent writers, crashes at every step of every
change, leftovers of the older layout, name folding and refusals, damaged files, hostile imports, file modes."""
from __future__ import annotations

import json
import multiprocessing
import os
import shutil
import stat
import sys
import unicodedata
from pathlib import Path

import pytest
import torch

from engine.errors import VoiceLibraryError
from engine.voice_checks import MAX_PROMPT_TOKENS
from engine.voices import Voice, VoiceLibrary, write_voice_file

HANG_GUARD_S = 120  # only ends a test that would otherwise hang; never a speed bound


def _voice(name: str = "Ada", seed: int = 0, n: int = 30) -> Voice:
    g = torch.Generator().manual_seed(seed)
    return Voice(name=name, transcript=f"Take {seed}.", speech_tokens=torch.randint(0, 6561, (n,), generator=g,
                                                                                  dtype=torch.int32),
                 speech_feat=torch.randn(2 * n, 80, generator=g), embedding=torch.randn(192, generator=g))


def _same(a: Voice, b: Voice) -> bool:
    return all(torch.equal(x, y) for x, y in ((a.speech_tokens, b.speech_tokens), (a.speech_feat, b.speech_feat),
                                              (a.embedding, b.embedding)))


def _leftovers(root: Path) -> list[str]:
    """Everything in a library that is not a lock, a voice.json or the tensors file it names."""
    out = [p.name for p in root.iterdir() if p.name.startswith(".") and p.name != ".lock"]
    for d in (p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        named = json.loads((d / "voice.json").read_text()).get("tensors", "voice.safetensors")
        out += [f"{d.name}/{f.name}" for f in d.iterdir() if f.name not in ("voice.json", named)]
    return out


# ---- two writers ------------------------------------------------------------------------------------
def _race(root: str, name: str, rounds: int, barrier, errors) -> None:
    lib = VoiceLibrary(root)
    for i in range(rounds):
        barrier.wait(HANG_GUARD_S)
        try:
            lib.save(_voice(f"{name} {i}", seed=i))
        except VoiceLibraryError as e:  # pragma: no cover - reported to the test
            errors.put(f"{name} {i}: {e}")


@pytest.mark.slow  # two spawned processes (each imports torch)
def test_concurrent_saves_of_names_with_one_folder_keep_both(tmp_path: Path):
    # The studio and the CLI save "Race A n" and "Race_A n" (same folder name) at the same moment, 30 times.
    ctx = multiprocessing.get_context("spawn")
    barrier, errors, rounds = ctx.Barrier(2), ctx.Queue(), 30
    procs = [ctx.Process(target=_race, args=(str(tmp_path), name, rounds, barrier, errors))
             for name in ("Race A", "Race_A")]
    for p in procs:
        p.start()
    for p in procs:
        p.join(HANG_GUARD_S)
        assert p.exitcode == 0
    assert errors.empty()
    lib = VoiceLibrary(tmp_path)
    names = [i.name for i in lib.list()]
    assert len(names) == 2 * rounds and not any(i.damaged for i in lib.list())
    for i in range(rounds):
        assert _same(lib.load(f"Race A {i}"), _voice(seed=i)) and _same(lib.load(f"Race_A {i}"), _voice(seed=i))


def test_two_saves_of_one_name_cannot_both_succeed(tmp_path: Path):
    import threading

    results: list[str] = []
    barrier = threading.Barrier(8)

    def save(seed: int) -> None:
        barrier.wait()
        try:
            VoiceLibrary(tmp_path).save(_voice("Same", seed=seed))
            results.append("ok")
        except VoiceLibraryError as e:
            results.append(str(e))

    threads = [threading.Thread(target=save, args=(s,)) for s in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(HANG_GUARD_S)
    assert results.count("ok") == 1 and all("already exists" in r for r in results if r != "ok")
    assert [i.name for i in VoiceLibrary(tmp_path).list()] == ["Same"]


# ---- crashes ----------------------------------------------------------------------------------------
def _crash_at(n: int, change) -> bool:
    """Run ``change()`` in a forked child that dies (os._exit) at its n-th file-system change; True if it did."""
    pid = os.fork()
    if pid == 0:  # the child: no cleanup, no atexit, exactly like a crash
        count = [0]

        def dying(real):
            def call(*args, **kwargs):
                count[0] += 1
                if count[0] == n:
                    os._exit(3)
                return real(*args, **kwargs)
            return call

        for fn in ("replace", "rename", "unlink", "rmdir", "mkdir"):
            setattr(os, fn, dying(getattr(os, fn)))
        try:
            change()
        except BaseException:  # noqa: BLE001
            os._exit(4)
        os._exit(0)
    _, status = os.waitpid(pid, 0)
    code = os.waitstatus_to_exitcode(status)
    assert code in (0, 3), f"the change failed in the child (exit {code})"
    return code == 3


@pytest.mark.skipif(not hasattr(os, "fork"), reason="crashes are simulated with fork")
@pytest.mark.parametrize("change", ["create", "overwrite", "rename", "delete"])
def test_a_crash_at_any_step_never_loses_the_voice(tmp_path: Path, change: str):
    old, new = _voice("Ada", seed=1), _voice("Ada", seed=2)
    for n in range(1, 100):
        root = tmp_path / f"lib{n}"
        lib = VoiceLibrary(root)
        lib.save(_voice("Bob", seed=9))
        if change != "create":
            lib.save(old)
        run = {"create": lambda: VoiceLibrary(root).save(new),
               "overwrite": lambda: VoiceLibrary(root).save(new, overwrite=True),
               "rename": lambda: VoiceLibrary(root).rename("Ada", "Ada Lovelace"),
               "delete": lambda: VoiceLibrary(root).delete("Ada")}[change]
        crashed = _crash_at(n, run)
        after = VoiceLibrary(root)  # opening it cleans up and recovers
        infos = {i.name: i for i in after.list()}
        assert not any(i.damaged for i in infos.values()), (n, infos)
        assert _same(after.load("Bob"), _voice(seed=9))
        if change == "create":
            assert "Ada" not in infos or _same(after.load("Ada"), new)
        elif change == "overwrite":
            got = after.load("Ada")
            assert _same(got, old) or _same(got, new)
        elif change == "rename":
            assert sorted(infos) in (["Ada", "Bob"], ["Ada Lovelace", "Bob"])
            assert _same(after.load(next(k for k in infos if k.startswith("Ada"))), old)
        else:
            assert "Ada" not in infos or _same(after.load("Ada"), old)
        assert _leftovers(root) == []
        if not crashed:
            break  # n passed the last step: every crash point was tried
    else:
        pytest.fail("the change never completed")


def test_what_an_older_timbre_left_mid_replace_is_put_back(tmp_path: Path):
    # The old overwrite moved the voice to .old-*/v, then moved the new one in; a crash between the two hid it.
    lib = VoiceLibrary(tmp_path)
    lib.save(_voice("Ada", seed=1))
    folder = next(p for p in tmp_path.iterdir() if p.name == "Ada")
    (tmp_path / ".old-x1y2").mkdir()
    os.rename(folder, tmp_path / ".old-x1y2" / "v")
    shutil.copytree(tmp_path / ".old-x1y2" / "v", tmp_path / ".tmp-a1b2")  # the new version, never moved in
    (tmp_path / ".old-q9" / "v").mkdir(parents=True)  # and a half-deleted one: nothing usable
    reopened = VoiceLibrary(tmp_path)
    assert [i.name for i in reopened.list()] == ["Ada"]
    assert _same(reopened.load("Ada"), _voice(seed=1))
    assert sorted(p.name for p in tmp_path.iterdir()) == [".lock", "Ada"]


# ---- names ------------------------------------------------------------------------------------------
def test_names_fold_nfc_and_nfd_and_case_to_one_voice(tmp_path: Path):
    lib = VoiceLibrary(tmp_path)
    nfd = unicodedata.normalize("NFD", "José")
    lib.save(_voice(nfd))
    assert [i.name for i in lib.list()] == ["José"]  # stored composed
    for other in ("José", "JOSÉ", unicodedata.normalize("NFD", "josé")):
        assert other in lib
        with pytest.raises(VoiceLibraryError, match="already exists"):
            lib.save(_voice(other))
    assert _same(lib.load("JOSÉ"), _voice())


@pytest.mark.parametrize("name, needle", [
    ("CON", "Windows reserves"), ("nul.txt", "Windows reserves"), ("Com1", "Windows reserves"),
    ("lpt\u00b9", "Windows reserves"), ("voice\u202egpj.exe", "text-direction"), ("a\u2066b", "text-direction"),
    ("tab\there", "control"), ("語" * 67, "too long"), ("   ", "needs a name"),
])
def test_names_that_cannot_be_stored_safely_are_refused(tmp_path: Path, name: str, needle: str):
    with pytest.raises(VoiceLibraryError, match=needle):
        VoiceLibrary(tmp_path).save(_voice(name))
    assert VoiceLibrary(tmp_path).list() == []


def test_long_names_are_limited_by_bytes_and_their_folders_fit(tmp_path: Path):
    lib = VoiceLibrary(tmp_path)
    for name in ("語" * 66, "é" * 100, "x" * 200, "Con!"):
        lib.save(_voice(name))
        assert name in lib
    assert all(len(p.name.encode()) <= 120 for p in tmp_path.iterdir())


# ---- damaged voices -------------------------------------------------------------------------------
def test_a_damaged_voice_json_shows_the_voice_as_damaged(tmp_path: Path):
    lib = VoiceLibrary(tmp_path)
    lib.save(_voice("Ada"))
    lib.save(_voice("Bob", seed=1))
    (tmp_path / "Bob" / "voice.json").write_bytes(b'{"name": "Bob", "transcr')  # cut off mid-write by a crash
    infos = {i.name: i for i in VoiceLibrary(tmp_path).list()}
    assert set(infos) == {"Ada", "Bob"} and not infos["Ada"].damaged
    assert "damaged" in infos["Bob"].damaged and "Delete it" in infos["Bob"].damaged
    with pytest.raises(VoiceLibraryError, match="Voice 'Bob' is damaged: its voice.json cannot be read.*Delete it"):
        lib.load("Bob")
    lib.delete("Bob")
    assert [i.name for i in lib.list()] == ["Ada"]


def test_damaged_voice_data_is_reported_with_what_to_do(tmp_path: Path):
    lib = VoiceLibrary(tmp_path)
    lib.save(_voice("Ada"))
    meta_path = tmp_path / "Ada" / "voice.json"
    tensors = tmp_path / "Ada" / json.loads(meta_path.read_text())["tensors"]
    tensors.write_bytes(b"junk")
    assert "cannot be read" in lib.list()[0].damaged
    with pytest.raises(VoiceLibraryError, match="Voice 'Ada' is damaged.*Delete it"):
        lib.load("Ada")
    # voice.json may only name a tensors file of our own pattern: never a path out of the folder.
    meta = json.loads(meta_path.read_text())
    meta["tensors"] = "../../../../etc/passwd"
    meta_path.write_text(json.dumps(meta))
    with pytest.raises(VoiceLibraryError, match="damaged: its voice data \\(voice.safetensors\\) is missing"):
        lib.load("Ada")


# ---- imports ----------------------------------------------------------------------------------------
def _bad_voice(**change) -> Voice:
    v = _voice("Imported")
    tensors = {"speech_tokens": v.speech_tokens, "speech_feat": v.speech_feat, "embedding": v.embedding}
    tensors.update(change)
    return Voice("Imported", "t", **tensors)


def _export_raw(v: Voice, path: Path, meta: dict | None = None) -> Path:
    """What a hostile or broken exporter could write (no checks on the way out)."""
    from safetensors.torch import save_file

    save_file({"speech_tokens": v.speech_tokens, "speech_feat": v.speech_feat, "embedding": v.embedding},
              str(path), metadata={"timbre_voice": json.dumps(meta or v._meta())})
    return path


@pytest.mark.parametrize("change, needle", [
    ({"speech_tokens": torch.full((30,), 7000, dtype=torch.int32)}, "outside 0..6560"),
    ({"speech_tokens": torch.full((30,), -1, dtype=torch.int32)}, "outside 0..6560"),
    ({"speech_tokens": torch.zeros(30, dtype=torch.int64)}, "bad speech tokens"),
    ({"speech_tokens": torch.zeros(0, dtype=torch.int32), "speech_feat": torch.zeros(0, 80)}, "bad speech tokens"),
    ({"speech_feat": torch.randn(60, 81)}, "bad prompt mel"),
    ({"speech_feat": torch.randn(59, 80)}, "bad prompt mel"),
    ({"speech_feat": torch.full((60, 80), 1e30)}, "no recording produces"),
    ({"speech_feat": torch.full((60, 80), float("nan"))}, "no recording produces"),
    ({"embedding": torch.randn(191)}, "bad speaker embedding"),
    ({"embedding": torch.full((192,), float("inf"))}, "bad speaker embedding"),
])
def test_imported_voices_are_checked_fully_at_import(tmp_path: Path, change: dict, needle: str):
    f = _export_raw(_bad_voice(**change), tmp_path / "bad.safetensors")
    lib = VoiceLibrary(tmp_path / "lib")
    with pytest.raises(VoiceLibraryError, match=needle):
        lib.import_file(f)
    assert lib.list() == []


def test_a_huge_or_odd_voice_file_is_refused_before_it_is_read(tmp_path: Path):
    n = MAX_PROMPT_TOKENS + 1
    f = _export_raw(_bad_voice(speech_tokens=torch.zeros(n, dtype=torch.int32), speech_feat=torch.zeros(2 * n, 80)),
                    tmp_path / "long.safetensors")
    with pytest.raises(VoiceLibraryError, match="more than a 30 s clip gives"):
        VoiceLibrary(tmp_path / "lib").import_file(f)
    v = _voice("Imported")
    for meta, needle in (({**v._meta(), "name": "CON"}, "Windows reserves"),
                         ({**v._meta(), "transcript": "x" * 5000}, "transcript of 5000"),
                         ({**v._meta(), "format": 99}, "newer Timbre")):
        f = _export_raw(v, tmp_path / "odd.safetensors", meta)
        with pytest.raises(VoiceLibraryError, match=needle):
            VoiceLibrary(tmp_path / "lib").import_file(f)


# ---- file modes -------------------------------------------------------------------------------------
@pytest.mark.skipif(sys.platform == "win32", reason="POSIX modes")
def test_voice_files_get_the_users_umask_mode(tmp_path: Path):
    old = os.umask(0o027)
    try:
        lib = VoiceLibrary(tmp_path / "lib")
        lib.save(_voice("Ada"))
        lib.save(_voice("Ada", seed=3), overwrite=True)
        exported = write_voice_file(lib.load("Ada"), tmp_path / "ada")
    finally:
        os.umask(old)
    folder = tmp_path / "lib" / "Ada"
    assert stat.S_IMODE(folder.stat().st_mode) == 0o750
    for f in [*folder.iterdir(), exported]:
        assert stat.S_IMODE(f.stat().st_mode) == 0o640, f
