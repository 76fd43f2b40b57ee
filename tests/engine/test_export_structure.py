"""Structure: where segments, pauses and padding land; one file, one per chapter, one per line; the
timeline refuses what does not add up."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from engine.errors import ExportError
from engine.export import (ExportSettings, Metadata, Padding, Pauses, Segment, SegmentKind, Timeline,
                           export_timeline, plan_files)
from export_audio import SR, burst, onsets

PAUSES = Pauses(line_s=0.25, paragraph_s=0.5, chapter_s=1.5)
PAD = Padding(head_s=0.75, tail_s=2.0)


def book() -> Timeline:
    """Two chapters: (line, paragraph end, chapter end) and (line with its own pause, line)."""
    return Timeline([
        Segment(burst(0.5), "One.", "Ann", "First"),
        Segment(burst(0.4), "Two.", "Bob", "First", SegmentKind.PARAGRAPH_END),
        Segment(burst(0.3), "Three.", "Ann", "First", SegmentKind.CHAPTER_END),
        Segment(burst(0.6), "Four.", "Ann", "Second", pause_after_s=1.0),
        Segment(burst(0.2), "Five.", "Bob", "Second"),
    ])


def test_pauses_and_padding_in_whole_samples():
    (plan,) = plan_files(book(), "none", PAUSES, PAD)
    # head, One 0.5 + line pause, Two 0.4 + paragraph pause, Three 0.3 + chapter pause, Four 0.6 + its own 1.0
    ends_of = [0.75, 0.5 + 0.25, 0.4 + 0.5, 0.3 + 1.5, 0.6 + 1.0]
    starts = [p.start for p in plan.placed]
    assert starts == [int(round(sum(ends_of[:k + 1]) * SR)) for k in range(5)]
    assert plan.length == plan.placed[-1].end + 2 * SR  # the last line gets the tail (2 s), not a pause
    assert [(m.title, m.start) for m in plan.chapters] == [("First", 0), ("Second", starts[3])]
    assert plan.chapters[-1].end == plan.length


def test_rendered_file_holds_each_segment_where_planned(tmp_path: Path):
    timeline = book()
    out = tmp_path / "b.wav"
    export_timeline(timeline, out, ExportSettings(format="wav-float", pauses=PAUSES, padding=PAD))
    audio, rate = sf.read(out, dtype="float32")
    (plan,) = plan_files(timeline, "none", PAUSES, PAD)
    assert rate == SR and audio.shape == (plan.length,)
    for p in plan.placed:
        np.testing.assert_array_equal(audio[p.start:p.end], timeline.segments[p.index].audio)
    silent = np.ones(plan.length, bool)
    for p in plan.placed:
        silent[p.start:p.end] = False
    assert not audio[silent].any()  # pauses and padding are digital silence
    heard = onsets(audio[:, None], rate)
    assert len(heard) == 5 and heard[0][0] == pytest.approx(0.75, abs=1 / SR)
    assert plan.length / SR - heard[-1][1] == pytest.approx(2.0, abs=1 / SR)


def test_split_per_chapter_and_per_line(tmp_path: Path):
    timeline = book()
    meta = Metadata(title="Book", author="Me")
    result = export_timeline(timeline, tmp_path / "book.flac",
                             ExportSettings(split="chapter", pauses=PAUSES, padding=PAD, metadata=meta))
    assert [f.path.name for f in result.files] == ["book-01.flac", "book-02.flac"]
    import mutagen

    first = mutagen.File(tmp_path / "book-01.flac")
    assert first["TITLE"] == ["First"] and first["ALBUM"] == ["Book"] and first["TRACKNUMBER"] == ["1"]
    assert first["TRACKTOTAL"] == ["2"] and first["ARTIST"] == ["Me"]
    a, _ = sf.read(tmp_path / "book-01.flac")
    # chapter 1 alone: head, One, line pause, Two, paragraph pause, Three, tail (no chapter pause in a file)
    assert a.shape[0] == int(round((0.75 + 0.5 + 0.25 + 0.4 + 0.5 + 0.3 + 2.0) * SR))

    lines = export_timeline(timeline, tmp_path / "line.wav", ExportSettings(split="line", padding=PAD))
    assert [f.path.name for f in lines.files] == [f"line-0{i}.wav" for i in range(1, 6)]
    for f, seg in zip(lines.files, timeline.segments):
        b, _ = sf.read(f.path)
        assert b.shape[0] == seg.audio.shape[0] + int(round(2.75 * SR))
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        ["book-01.flac", "book-02.flac"] + [f"line-0{i}.wav" for i in range(1, 6)])  # nothing else left


def test_timeline_refuses_what_does_not_add_up():
    a = burst(0.1)
    with pytest.raises(ExportError, match="nothing to export"):
        Timeline([])
    with pytest.raises(ExportError, match="Mark the last line of a chapter"):
        Timeline([Segment(a, "x", chapter="One"), Segment(a, "y", chapter="Two")])
    with pytest.raises(ExportError, match="NaN"):
        Segment(np.array([0.0, np.nan], np.float32), "bad")
    with pytest.raises(ExportError, match="1-D float"):
        Segment(np.zeros((10, 2), np.float32))
    with pytest.raises(ExportError, match="pause"):
        Segment(a, pause_after_s=-1)
    with pytest.raises(ExportError, match="between 0 and 600"):
        Pauses(line_s=float("nan"))
    with pytest.raises(ExportError, match="head padding"):
        Padding(head_s=-0.5)
    # the same title twice is fine once the first chapter is ended
    Timeline([Segment(a, "x", chapter="Part", kind=SegmentKind.CHAPTER_END), Segment(a, "y", chapter="Part")])


def test_acx_preset_pads_unless_told_otherwise(tmp_path: Path):
    timeline = Timeline.from_audio(burst(1.0, level=0.1))
    r = export_timeline(timeline, tmp_path / "a.wav", ExportSettings(master="acx"))
    assert r.files[0].report.file.duration_s == pytest.approx(1.0 + 0.75 + 2.0)
    r = export_timeline(timeline, tmp_path / "b.wav", ExportSettings(master="acx", padding=Padding(0.5, 1.0)))
    assert r.files[0].report.file.duration_s == pytest.approx(2.5)
    r = export_timeline(timeline, tmp_path / "c.wav", ExportSettings(master="podcast"))
    assert r.files[0].report.file.duration_s == pytest.approx(1.0)
