"""Files as the user gets them: the umask's mode, nothing partial after a cancel or an error, an old file
replaced only by a complete new one, one clear message for a full disk or a folder that cannot be written."""
from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path

import pytest
import soundfile as sf

from engine.atomic import WriteError, atomic_path
from engine.errors import CancelToken, Cancelled
from engine.export import ExportSettings, Segment, SegmentKind, Timeline, export_timeline, master_file
from engine.export.encode import EncodeOptions
from engine.export.export import write_audio_file
from engine.export.formats import format_by_name
from engine.export.presets import get_preset
from engine.export.tags import Metadata
from export_audio import SR, voiced


def chapters(n: int = 3) -> Timeline:
    return Timeline([Segment(voiced(0.6, 120 + 20 * i, seed=i), f"Line {i}.", chapter=f"C{i}",
                             kind=SegmentKind.CHAPTER_END) for i in range(n)])


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o077, 0o600)])
def test_files_get_the_umask_mode(tmp_path: Path, umask: int, mode: int):
    old = os.umask(umask)
    try:
        result = export_timeline(chapters(), tmp_path / "b.m4b",
                                 ExportSettings(split="chapter", subtitles=tmp_path / "b.srt"))
        master_file(result.files[0].path, tmp_path / "m.flac", ExportSettings(master="none"))
    finally:
        os.umask(old)
    written = sorted(tmp_path.iterdir())
    assert [p.name for p in written] == ["b-01.m4b", "b-01.srt", "b-02.m4b", "b-02.srt", "b-03.m4b", "b-03.srt",
                                         "m.flac"]
    assert {p.name: _mode(p) for p in written} == {p.name: mode for p in written}


def test_cancel_leaves_no_file_and_the_old_one_intact(tmp_path: Path):
    old = tmp_path / "b-01.wav"
    old.write_bytes(b"the previous export")
    token = CancelToken()

    def progress(done: int, total: int) -> None:
        if done == 2:
            token.cancel()  # two of three files are encoded (as temporary files) when the user cancels

    with pytest.raises(Cancelled):
        export_timeline(chapters(), tmp_path / "b.wav", ExportSettings(split="chapter", subtitles=tmp_path / "b.vtt"),
                        cancel=token, progress=progress)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b-01.wav"]  # no new file, no temporary left
    assert old.read_bytes() == b"the previous export"


class CancelAt(CancelToken):
    """A cancel button pressed while the export works: the token cancels itself at its ``at``-th check
    (``at=None``: never, and counts the checks)."""

    def __init__(self, at: int | None = None) -> None:
        super().__init__()
        self.at, self.checks = at, 0

    def raise_if_cancelled(self, what: str = "The request") -> None:
        self.checks += 1
        if self.checks == self.at:
            self.cancel()
        super().raise_if_cancelled(what)


@pytest.mark.parametrize("name", ["y.m4a", "y.mp3", "y.flac"])
def test_cancel_at_any_point_leaves_no_file(tmp_path: Path, name: str):
    long = Timeline.from_audio(voiced(20.0))
    settings = ExportSettings(master="acx", subtitles=tmp_path / "y.srt")
    counter = CancelAt()
    export_timeline(long, tmp_path / name, settings, cancel=counter)
    for p in list(tmp_path.iterdir()):
        p.unlink()
    assert counter.checks > 10  # mastering, encoding and measuring all check it
    # first check, in the mastering passes, in the encoder's block loop, in the last measurement
    for at in sorted({1, counter.checks // 3, counter.checks // 2, counter.checks - 1, counter.checks}):
        with pytest.raises(Cancelled):
            export_timeline(long, tmp_path / name, settings, cancel=CancelAt(at))
        assert list(tmp_path.iterdir()) == [], f"cancel at check {at} of {counter.checks} left files"


def test_failure_mid_export_replaces_nothing(tmp_path: Path):
    (tmp_path / "b-01.flac").write_bytes(b"old one")
    (tmp_path / "b-02.flac").write_bytes(b"old two")
    broken = Timeline([Segment(voiced(0.6), "ok", chapter="A", kind=SegmentKind.CHAPTER_END),
                       Segment(voiced(0.3), "too short to measure", chapter="B")])
    with pytest.raises(Exception, match="0.4 s"):
        export_timeline(broken, tmp_path / "b.flac", ExportSettings(split="chapter", master="podcast"))
    assert (tmp_path / "b-01.flac").read_bytes() == b"old one"  # chapter 1 was fine but is not half-replaced
    assert (tmp_path / "b-02.flac").read_bytes() == b"old two"
    assert len(list(tmp_path.iterdir())) == 2


def test_missing_folder_is_one_clear_message(tmp_path: Path):
    with pytest.raises(WriteError, match="does not exist"):
        export_timeline(chapters(1), tmp_path / "nowhere" / "x.wav")


@pytest.fixture()
def small_disk(tmp_path: Path):
    """A 256 KiB tmpfs (root only: the CI runs as root); skipped where mounting is not allowed."""
    mnt = tmp_path / "disk"
    mnt.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mnt)], capture_output=True).returncode:
        pytest.skip("cannot mount a small tmpfs here (needs root)")
    yield mnt
    subprocess.run(["umount", str(mnt)], check=True)


def test_disk_full_is_one_clear_message(small_disk: Path):
    (small_disk / "keep.wav").write_bytes(b"x" * 1000)
    with pytest.raises(WriteError, match="not enough free disk space"):  # refused up front: 10 s of WAV > 256 KiB
        export_timeline(Timeline.from_audio(voiced(10.0)), small_disk / "big.wav")
    # the disk fills while writing (a file takes the rest of it; the up-front estimate is bypassed here)
    (small_disk / "filler").write_bytes(b"\0" * (256 - 48) * 1024)
    audio = voiced(20.0)[:, None]
    for name, kbps in (("mid.wav", None), ("mid.flac", None), ("mid.mp3", 160), ("mid.opus", 64), ("mid.m4a", 64)):
        out = small_disk / name
        opts = EncodeOptions(format_by_name(out.suffix[1:]), SR, kbps)
        with pytest.raises(WriteError, match="not enough free disk space"):
            with atomic_path(out, suffix=out.suffix) as tmp:
                write_audio_file(tmp, out, audio, opts, get_preset("none"), Metadata(title="t"), [], CancelToken())
    assert sorted(p.name for p in small_disk.iterdir()) == ["filler", "keep.wav"]


def test_read_only_folder_is_one_clear_message(tmp_path: Path):
    mnt = tmp_path / "ro"
    mnt.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=64k", "tmpfs", str(mnt)], capture_output=True).returncode:
        pytest.skip("cannot mount a read-only tmpfs here (needs root)")
    try:
        with pytest.raises(WriteError, match="cannot be written to"):
            export_timeline(chapters(1), mnt / "x.mp3")
    finally:
        subprocess.run(["umount", str(mnt)], check=True)


def test_existing_file_replaced_when_the_new_one_is_complete(tmp_path: Path):
    out = tmp_path / "x.wav"
    out.write_bytes(b"old")
    export_timeline(chapters(1), out)
    data, rate = sf.read(out)
    assert rate == SR and data.shape[0] == int(round(0.6 * SR))
