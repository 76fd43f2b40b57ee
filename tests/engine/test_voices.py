"""Voice library: save/load/list/rename/delete/export/import, atomic and pickle-free."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from engine.errors import VoiceLibraryError
from engine.voices import Voice, VoiceLibrary, read_voice_file, write_voice_file


def _voice(name: str = "Ada", seed: int = 0, n: int = 30) -> Voice:
    g = torch.Generator().manual_seed(seed)
    return Voice(
        name=name,
        transcript="Hello there, this is a prompt.",
        speech_tokens=torch.randint(0, 6561, (n,), generator=g, dtype=torch.int32),
        speech_feat=torch.randn(2 * n, 80, generator=g),
        embedding=torch.randn(192, generator=g),
        language="en",
        source_clip="ada.wav",
        notes={"snr_db": 31.5},
        created="2024-05-01T12:00:00+00:00",  # fixed: two calls must make equal voices
    )


def _same(a: Voice, b: Voice) -> None:
    assert torch.equal(a.speech_tokens, b.speech_tokens)
    assert torch.equal(a.speech_feat, b.speech_feat)
    assert torch.equal(a.embedding, b.embedding)
    assert (a.transcript, a.language, a.source_clip, a.created, a.notes) == (
        b.transcript, b.language, b.source_clip, b.created, b.notes)


def test_save_load_list(tmp_path: Path):
    lib = VoiceLibrary(tmp_path / "voices")
    assert lib.list() == []
    info = lib.save(_voice())
    assert info.name == "Ada" and info.duration_s == pytest.approx(30 / 25)
    _same(lib.load("ada"), _voice())  # names are case-insensitive
    assert [i.name for i in lib.list()] == ["Ada"]
    assert "ADA" in lib and "Bob" not in lib
    # Never pickle: the folder holds only safetensors + JSON.
    files = sorted(p.suffix for p in (tmp_path / "voices").rglob("*") if p.is_file() and p.name != ".lock")
    assert files == [".json", ".safetensors"]
    meta = json.loads(next((tmp_path / "voices").rglob("voice.json")).read_text())
    assert meta["name"] == "Ada" and meta["created"]


def test_duplicate_rename_delete(tmp_path: Path):
    lib = VoiceLibrary(tmp_path)
    lib.save(_voice("Ada"))
    lib.save(_voice("Bob", seed=1))
    with pytest.raises(VoiceLibraryError, match="already exists"):
        lib.save(_voice("ada", seed=2))
    lib.save(_voice("Ada", seed=2), overwrite=True)
    _same(lib.load("Ada"), _voice("Ada", seed=2))
    with pytest.raises(VoiceLibraryError, match="already exists"):
        lib.rename("Ada", "bob")
    lib.rename("Ada", "Ada Lovelace / 1843")
    assert [i.name for i in lib.list()] == ["Ada Lovelace / 1843", "Bob"]
    _same(lib.load("Ada Lovelace / 1843"), _voice("x", seed=2))
    lib.delete("Bob")
    assert [i.name for i in lib.list()] == ["Ada Lovelace / 1843"]
    with pytest.raises(VoiceLibraryError, match="No voice named 'Bob'"):
        lib.load("Bob")
    with pytest.raises(VoiceLibraryError, match="name"):
        lib.save(_voice("   "))
    # No temp folders are left behind (only the library's lock file).
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == [".lock"]


def test_export_import_one_file(tmp_path: Path):
    lib = VoiceLibrary(tmp_path / "a")
    lib.save(_voice())
    f = lib.export("Ada", tmp_path / "out" / "ada")
    assert f.name == "ada.safetensors" and f.is_file()
    other = VoiceLibrary(tmp_path / "b")
    other.import_file(f)
    _same(other.load("Ada"), _voice())
    other.import_file(f, name="Ada 2")
    assert [i.name for i in other.list()] == ["Ada", "Ada 2"]
    with pytest.raises(VoiceLibraryError, match="already exists"):
        other.import_file(f)


def test_bad_files_are_typed_errors(tmp_path: Path):
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"\x00" * 64)
    with pytest.raises(VoiceLibraryError):
        read_voice_file(junk)
    with pytest.raises(VoiceLibraryError, match="does not exist"):
        read_voice_file(tmp_path / "nope.safetensors")
    from safetensors.torch import save_file

    plain = tmp_path / "plain.safetensors"
    save_file({"x": torch.zeros(3)}, str(plain))
    with pytest.raises(VoiceLibraryError, match="not a Timbre voice file"):
        read_voice_file(plain)
    bad = Voice("Bad", "t", torch.zeros(0, dtype=torch.int32), torch.zeros(0, 80), torch.zeros(192))
    with pytest.raises(VoiceLibraryError, match="speech tokens"):
        write_voice_file(bad, tmp_path / "bad")
    # A damaged voice in the library is reported by name; others still list.
    lib = VoiceLibrary(tmp_path / "lib")
    lib.save(_voice("Ada"))
    lib.save(_voice("Bob"))
    next(p for p in (tmp_path / "lib").rglob("voice*.safetensors") if "Bob" in str(p)).write_bytes(b"broken")
    assert [i.name for i in lib.list()] == ["Ada", "Bob"]
    with pytest.raises(VoiceLibraryError, match="damaged"):
        lib.load("Bob")
