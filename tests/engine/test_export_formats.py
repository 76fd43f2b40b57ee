"""Every export format written and read back with the container's own readers: rate, channels, length to
the sample, alignment, tags, cover and chapter marks (PyAV, mutagen, libsndfile)."""
from __future__ import annotations

from pathlib import Path

import av
import mutagen
import numpy as np
import pytest
import soundfile as sf
from mutagen.mp3 import MP3, BitrateMode
from mutagen.mp4 import MP4

from engine.errors import ExportError, UnsupportedFormatError
from engine.export import (ExportSettings, Metadata, Segment, SegmentKind, Timeline, export_timeline,
                           plan_files, resolve_format)
from export_audio import PNG_1X1, SR, decode, voiced

# (format, file name, sample rate)
CASES = [
    ("wav", "a.wav", 24000), ("wav24", "a.wav", 44100), ("wav-float", "a.wav", 48000),
    ("flac", "a.flac", 24000), ("flac24", "a.flac", 48000),
    ("mp3", "a.mp3", 44100), ("mp3", "a.mp3", 24000),
    ("ogg", "a.ogg", 24000), ("opus", "a.opus", 48000), ("opus", "a.ogg", 24000),
    ("m4a", "a.m4a", 44100), ("m4b", "a.m4b", 24000),
]


def two_chapters() -> Timeline:
    return Timeline([
        Segment(voiced(0.9, 130, seed=1), "First line.", "Ann", "Opening"),
        Segment(voiced(0.7, 180, seed=2), "Second line.", "Bob", "Opening", SegmentKind.CHAPTER_END),
        Segment(voiced(1.1, 150, seed=3), "Third line.", "Ann", "The Middle"),
    ])


@pytest.fixture()
def cover(tmp_path: Path) -> Path:
    p = tmp_path / "cover.png"
    p.write_bytes(PNG_1X1)
    return p


def _chapters_read_back(path: Path, fmt: str) -> list[tuple[str, float]]:
    """(title, start seconds) of each chapter mark, read the way players read that container."""
    if fmt in ("m4a", "m4b"):
        with av.open(str(path)) as c:
            marks = [(ch["metadata"]["title"], float(ch["start"] * ch["time_base"])) for ch in c.chapters()]
        nero = [(ch.title, ch.start) for ch in MP4(path).chapters]  # mutagen reads the chpl atom
        assert [t for t, _ in nero] == [t for t, _ in marks]
        assert np.allclose([s for _, s in nero], [s for _, s in marks], atol=1e-3)
        return marks
    if fmt == "mp3":
        tags = MP3(path).tags
        chaps = sorted(tags.getall("CHAP"), key=lambda c: c.start_time)
        assert tags.getall("CTOC")[0].child_element_ids == [c.element_id for c in chaps]
        return [(c.sub_frames["TIT2"].text[0], c.start_time / 1000) for c in chaps]
    tags = mutagen.File(path).tags
    out = []
    for i in range(1, 10):
        if f"CHAPTER{i:03d}" in tags:
            h, m, s = tags[f"CHAPTER{i:03d}"][0].split(":")
            out.append((tags[f"CHAPTER{i:03d}NAME"][0], int(h) * 3600 + int(m) * 60 + float(s)))
    return out


def _tags(path: Path, fmt: str) -> dict[str, str]:
    f = mutagen.File(path)
    if fmt == "mp3":
        return {"title": str(f.tags["TIT2"]), "author": str(f.tags["TPE1"]), "album": str(f.tags["TALB"]),
                "narrator": str(f.tags["TCOM"])}
    if fmt in ("m4a", "m4b"):
        return {"title": f["\xa9nam"][0], "author": f["\xa9ART"][0], "album": f["\xa9alb"][0],
                "narrator": f["\xa9wrt"][0]}
    return {"title": f["TITLE"][0], "author": f["ARTIST"][0], "album": f["ALBUM"][0], "narrator": f["COMPOSER"][0]}


def _cover(path: Path, fmt: str) -> bytes:
    f = mutagen.File(path)
    if fmt == "mp3":
        return f.tags.getall("APIC")[0].data
    if fmt in ("m4a", "m4b"):
        return bytes(f["covr"][0])
    if fmt.startswith("flac"):
        return f.pictures[0].data
    import base64

    from mutagen.flac import Picture

    return Picture(base64.b64decode(f["METADATA_BLOCK_PICTURE"][0])).data


@pytest.mark.parametrize("fmt, name, rate", CASES)
def test_format_written_and_read_back(tmp_path: Path, cover: Path, fmt: str, name: str, rate: int):
    timeline = two_chapters()
    out = tmp_path / name
    meta = Metadata(title="The Book", author="A. Writer", album="Series", narrator="N. Reader", cover=cover)
    result = export_timeline(timeline, out, ExportSettings(format=fmt, sample_rate=rate, metadata=meta))
    plan = plan_files(timeline)[0]
    expected = round(plan.length * rate / SR)  # soxr rounds the resampled length to the nearest sample

    audio, got_rate = decode(out)
    assert got_rate == rate and audio.shape == (expected, 1)
    with av.open(str(out)) as c:  # the FFmpeg demuxer agrees on what the file is
        st = c.streams.audio[0]
        assert st.channels == 1 and (st.rate == rate or fmt == "opus")  # Opus decodes at 48 kHz in FFmpeg
    assert result.files[0].report.file.sample_rate == rate

    # the audio is where the plan put it: same as the source resampled, lag 0 (no codec delay left)
    from engine.frontend.audio import resample_hq

    source = resample_hq(plan.render(timeline), SR, rate)
    if fmt in ("wav-float",):
        np.testing.assert_allclose(audio[:, 0], source, atol=1e-6)  # float32 round trip
    elif not resolve_format(out, fmt).lossy:
        bits = 16 if fmt in ("wav", "flac") else 24
        np.testing.assert_allclose(audio[:, 0], source, atol=1.01 / 2 ** (bits - 1))  # one quantisation step
    else:
        lags = range(-40, 41)
        corr = [float(np.dot(np.roll(audio[:, 0], k), source)) for k in lags]
        assert lags[int(np.argmax(corr))] == 0
        # lossy: still the same waveform (the codecs keep > 10 dB SNR on this band-limited signal)
        err = audio[:, 0] - source
        assert 10 * np.log10(np.sum(source ** 2) / np.sum(err ** 2)) > 10

    if resolve_format(out, fmt).cover:
        assert _tags(out, fmt) == {"title": "The Book", "author": "A. Writer", "album": "Series",
                                   "narrator": "N. Reader"}
        assert _cover(out, fmt) == PNG_1X1
        marks = _chapters_read_back(out, fmt)
        assert [t for t, _ in marks] == ["Opening", "The Middle"]
        assert marks[0][1] == 0.0
        second = plan.placed[2].start / SR  # the chapter starts where its first line starts
        assert marks[1][1] == pytest.approx(second, abs=1e-3)
    else:
        info = sf.info(str(out))
        with sf.SoundFile(str(out)) as f:
            assert (f.title, f.artist, f.album) == ("The Book", "A. Writer", "Series")
        assert info.subtype == {"wav": "PCM_16", "wav24": "PCM_24", "wav-float": "FLOAT"}[fmt]
        assert any("cover" in w for w in result.warnings) and any("chapter" in w for w in result.warnings)


def test_name_decides_the_format(tmp_path: Path):
    timeline = Timeline.from_audio(voiced(0.5))
    export_timeline(timeline, tmp_path / "x.mp3")
    assert isinstance(mutagen.File(tmp_path / "x.mp3"), MP3)  # MP3 data, not a WAV with an .mp3 name
    assert (tmp_path / "x.mp3").read_bytes()[:4] != b"RIFF"
    export_timeline(timeline, tmp_path / "x.m4b")
    with av.open(str(tmp_path / "x.m4b")) as c:
        assert c.metadata["major_brand"].strip() == "M4B" and c.streams.audio[0].codec_context.name == "aac"
    assert MP4(tmp_path / "x.m4b")["stik"] == [2]  # media kind: audiobook


@pytest.mark.parametrize("name, fmt, needle", [
    ("x.xyz", None, "cannot write '.xyz'"),
    ("noext", None, "without a type"),
    ("x.wav", "mp3", "does not fit the file name"),
    ("x.mp3", "bogus", "unknown format"),
])
def test_unknown_or_mismatched_type_is_a_typed_error(tmp_path: Path, name, fmt, needle):
    with pytest.raises(UnsupportedFormatError, match=f"(?i){needle}"):
        export_timeline(Timeline.from_audio(voiced(0.3)), tmp_path / name, ExportSettings(format=fmt))
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("name, settings, needle", [
    ("x.opus", ExportSettings(sample_rate=44100), "cannot be written at 44100"),
    ("x.mp3", ExportSettings(sample_rate=44100, bitrate_kbps=100), "takes a bitrate of"),
    ("x.mp3", ExportSettings(sample_rate=24000, bitrate_kbps=192), "takes a bitrate of"),
    ("x.flac", ExportSettings(bitrate_kbps=128), "no bitrate"),
    ("x.wav", ExportSettings(channels=3), "mono"),
    ("x.wav", ExportSettings(sample_rate=1000), "not supported"),
    ("x.wav", ExportSettings(master="loud"), "unknown mastering preset"),
    ("x.wav", ExportSettings(subtitles=Path("x.txt")), ".srt or .vtt"),
])
def test_bad_options_are_typed_errors_before_writing(tmp_path: Path, name, settings, needle):
    with pytest.raises(ExportError, match=f"(?i){needle}"):
        export_timeline(Timeline.from_audio(voiced(0.3)), tmp_path / name, settings)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("rate, kbps", [(44100, 128), (44100, 192), (48000, 320), (24000, 64), (24000, 160)])
def test_mp3_bitrate_is_the_one_asked_for(tmp_path: Path, rate: int, kbps: int):
    out = tmp_path / "b.mp3"
    export_timeline(Timeline.from_audio(voiced(2.0)), out, ExportSettings(sample_rate=rate, bitrate_kbps=kbps))
    info = MP3(out).info
    assert info.sample_rate == rate and info.bitrate_mode in (BitrateMode.CBR, BitrateMode.UNKNOWN)
    assert round(info.bitrate / 1000) == kbps  # mutagen derives it from the size: 127997 bps for 128


@pytest.mark.parametrize("name", ["b.opus", "b.m4a"])
def test_bitrate_choice_changes_the_stream(tmp_path: Path, name: str):
    timeline = Timeline.from_audio(voiced(4.0, seed=5))
    sizes = {}
    for kbps in (24, 96):
        out = tmp_path / f"{kbps}{name}"
        export_timeline(timeline, out, ExportSettings(bitrate_kbps=kbps))
        sizes[kbps] = out.stat().st_size
    assert sizes[96] > 2 * sizes[24]  # 4x the bitrate; both codecs spend most of it on a voiced signal


def test_stereo_export(tmp_path: Path):
    out = tmp_path / "s.m4a"
    export_timeline(Timeline.from_audio(voiced(1.0)), out, ExportSettings(channels=2))
    audio, rate = decode(out)
    assert audio.shape == (SR, 2) and rate == SR
    # the same voice on both sides; AAC's joint-stereo coding does not keep them bit-equal (the two channels
    # differ by 22 dB below the signal on this clip: correlation 0.997)
    assert np.corrcoef(audio[:, 0], audio[:, 1])[0, 1] > 0.98
