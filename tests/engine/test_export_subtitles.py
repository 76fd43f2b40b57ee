"""SRT and WebVTT cues against the exported audio: each cue starts and ends where its line is heard in the
decoded file, with the pauses and padding counted (cues parsed here with a regex, not with our writer)."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from engine.export import ExportSettings, Padding, Pauses, Segment, SegmentKind, Timeline, export_timeline
from export_audio import burst, decode, onsets

CUE = re.compile(r"(\d+):(\d\d):(\d\d)[,.](\d{3}) --> (\d+):(\d\d):(\d\d)[,.](\d{3})\n(.+)")


def parse(text: str) -> list[tuple[float, float, str]]:
    def sec(h, m, s, ms):
        return int(h) * 3600 + int(m) * 60 + int(s) + int(ms) / 1000

    return [(sec(*m.groups()[:4]), sec(*m.groups()[4:8]), m.group(9)) for m in CUE.finditer(text)]


def dialogue() -> Timeline:
    return Timeline([
        Segment(burst(0.6), "Where were you?", "Ann", "One"),
        Segment(burst(0.0), "", chapter="One", pause_after_s=0.7),  # a [pause]: silence, no cue
        Segment(burst(0.45, freq=330), "Out <late> & alone.", "Bob", "One", SegmentKind.PARAGRAPH_END),
        Segment(burst(0.8, freq=550), "I see.", "Ann", "One", SegmentKind.CHAPTER_END),
        Segment(burst(0.5), "Next day.", None, "Two"),
    ])


# Where a cue may sit against the heard line: the millisecond rounding of the cue (0.5 ms) plus how far the
# decoder smears a hard edge past the 0.05 threshold. Measured on this signal: 0.02 ms for WAV/FLAC/MP3/AAC
# (soxr's ringing and the MP3/AAC pre-echo stay under the threshold), 3.0 ms for Opus (its pre-echo crosses
# it), so 1 ms and 5 ms.
@pytest.mark.parametrize("name, rate, tolerance", [("d.wav", 44100, 0.001), ("d.flac", 24000, 0.001),
                                                   ("d.mp3", 44100, 0.001), ("d.m4b", 24000, 0.001),
                                                   ("d.opus", 48000, 0.005)])
def test_cues_match_the_audio(tmp_path: Path, name: str, rate: int, tolerance: float):
    out, subs = tmp_path / name, tmp_path / "d.srt"
    settings = ExportSettings(sample_rate=rate, pauses=Pauses(0.3, 0.9, 2.0), padding=Padding(0.8, 1.5),
                              subtitles=subs)
    result = export_timeline(dialogue(), out, settings)
    assert result.files[0].subtitles == subs
    cues = parse(subs.read_text(encoding="utf-8"))
    assert [c[2] for c in cues] == ["Where were you?", "Out <late> & alone.", "I see.", "Next day."]
    audio, got = decode(out)
    heard = onsets(audio, got, threshold=0.05)
    assert len(heard) == len(cues)
    for (start, end, _), (on, off) in zip(cues, heard):
        assert start == pytest.approx(on, abs=tolerance) and end == pytest.approx(off, abs=tolerance)
    assert cues[0][0] == pytest.approx(0.8, abs=0.0005)  # the head padding is in the times


def test_webvtt_speakers_and_escaping(tmp_path: Path):
    subs = tmp_path / "d.vtt"
    export_timeline(dialogue(), tmp_path / "d.wav", ExportSettings(subtitles=subs, subtitle_speakers=True))
    text = subs.read_text(encoding="utf-8")
    assert text.startswith("WEBVTT\n\n1\n00:00:00.000 --> 00:00:00.600\n<v Ann>Where were you?\n")
    assert "<v Bob>Out &lt;late&gt; &amp; alone." in text
    assert "\nNext day.\n" in text  # no speaker, no voice span
    srt = tmp_path / "d.srt"
    export_timeline(dialogue(), tmp_path / "e.wav", ExportSettings(subtitles=srt, subtitle_speakers=True))
    assert "Bob: Out <late> & alone." in srt.read_text(encoding="utf-8")


def test_split_files_get_their_own_cues(tmp_path: Path):
    result = export_timeline(dialogue(), tmp_path / "ch.mp3",
                             ExportSettings(split="chapter", subtitles=tmp_path / "ch.vtt", padding=Padding(0.5, 1.0)))
    assert [(f.path.name, f.subtitles.name) for f in result.files] == [("ch-01.mp3", "ch-01.vtt"),
                                                                       ("ch-02.mp3", "ch-02.vtt")]
    second = parse((tmp_path / "ch-02.vtt").read_text(encoding="utf-8"))
    assert second == [(0.5, 1.0, "Next day.")]  # times from the start of its own file
