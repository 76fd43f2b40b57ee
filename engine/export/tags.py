"""Title, author, narrator, cover and chapter marks inside the exported file, written with mutagen.

Each container has its own tag system and mutagen writes all of them: ID3v2 (MP3: TIT2/TPE1/TALB/TCOM/
TRCK, APIC cover, CHAP+CTOC chapters as podcast apps read them), Vorbis comments (FLAC, Ogg Vorbis, Opus:
TITLE/ARTIST/ALBUM/COMPOSER/TRACKNUMBER, a FLAC picture block, CHAPTERnnn/CHAPTERnnnNAME marks) and iTunes
atoms (M4A/M4B: ©nam/©ART/©alb/©wrt/trkn, covr, and media kind "audiobook" for M4B; the MP4 chapter marks
are written by the muxer, see :mod:`engine.export.encode`). The narrator goes where audiobook players look
for it: the composer field. WAV files carry title/author/album in their RIFF INFO chunk (written by
libsndfile with the audio) and hold no cover or chapters.
"""
from __future__ import annotations

import base64
from dataclasses import dataclass
from pathlib import Path

from ..errors import ExportError
from .formats import FormatSpec


@dataclass(frozen=True)
class Metadata:
    """What the listener's player shows. cover: a JPEG or PNG file. track/tracks: set per file on a split."""

    title: str | None = None
    author: str | None = None
    album: str | None = None
    narrator: str | None = None
    year: str | None = None
    comment: str | None = None
    cover: Path | None = None
    track: int | None = None
    tracks: int | None = None

    def fields(self) -> dict[str, str]:
        """The text fields that are set, by name (title, author, album, narrator, year, comment)."""
        names = ("title", "author", "album", "narrator", "year", "comment")
        return {n: getattr(self, n) for n in names if getattr(self, n)}


@dataclass(frozen=True)
class Chapter:
    """A chapter mark in seconds, as written into the file."""

    title: str
    start_s: float
    end_s: float


def read_cover(path: Path | None) -> tuple[bytes, str] | None:
    """(image bytes, MIME type) of a JPEG or PNG cover, or None; a typed error for anything else."""
    if path is None:
        return None
    try:
        data = Path(path).read_bytes()
    except OSError as e:
        raise ExportError(f"The cover image {path} cannot be read ({e.strerror or e}).") from e
    if data.startswith(b"\xff\xd8\xff"):
        return data, "image/jpeg"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return data, "image/png"
    raise ExportError(f"The cover {Path(path).name} is not a JPEG or PNG image; convert it to one of those.")


def _track(meta: Metadata) -> str | None:
    if meta.track is None:
        return None
    return f"{meta.track}/{meta.tracks}" if meta.tracks else str(meta.track)


def _write_id3(path: Path, meta: Metadata, cover, chapters: list[Chapter]) -> None:
    from mutagen.id3 import APIC, CHAP, COMM, CTOC, ID3, TALB, TCOM, TDRC, TIT2, TPE1, TRCK, CTOCFlags

    tags = ID3()
    frames = {"title": TIT2, "author": TPE1, "album": TALB, "narrator": TCOM, "year": TDRC}
    for name, value in meta.fields().items():
        if name in frames:
            tags.add(frames[name](encoding=3, text=[value]))
    if meta.comment:
        tags.add(COMM(encoding=3, lang="eng", desc="", text=[meta.comment]))
    if _track(meta):
        tags.add(TRCK(encoding=3, text=[_track(meta)]))
    if cover:
        tags.add(APIC(encoding=3, mime=cover[1], type=3, desc="Cover", data=cover[0]))
    if chapters:
        ids = [f"chp{i}" for i in range(len(chapters))]
        tags.add(CTOC(element_id="toc", flags=CTOCFlags.TOP_LEVEL | CTOCFlags.ORDERED, child_element_ids=ids,
                      sub_frames=[TIT2(encoding=3, text=["Chapters"])]))
        for cid, ch in zip(ids, chapters):
            tags.add(CHAP(element_id=cid, start_time=int(round(ch.start_s * 1000)),
                          end_time=int(round(ch.end_s * 1000)), start_offset=0xFFFFFFFF, end_offset=0xFFFFFFFF,
                          sub_frames=[TIT2(encoding=3, text=[ch.title])]))
    tags.save(path)


def _vorbis_time(seconds: float) -> str:
    ms = int(round(seconds * 1000))
    return f"{ms // 3600000:02d}:{ms // 60000 % 60:02d}:{ms // 1000 % 60:02d}.{ms % 1000:03d}"


def _write_vorbis(path: Path, spec: FormatSpec, meta: Metadata, cover, chapters: list[Chapter]) -> None:
    import mutagen
    from mutagen.flac import Picture

    f = mutagen.File(path)
    names = {"title": "TITLE", "author": "ARTIST", "album": "ALBUM", "narrator": "COMPOSER", "year": "DATE",
             "comment": "COMMENT"}
    for name, value in meta.fields().items():
        f[names[name]] = [value]
    if _track(meta):
        f["TRACKNUMBER"] = [str(meta.track)]
        if meta.tracks:
            f["TRACKTOTAL"] = [str(meta.tracks)]
    for i, ch in enumerate(chapters, start=1):
        f[f"CHAPTER{i:03d}"] = [_vorbis_time(ch.start_s)]
        f[f"CHAPTER{i:03d}NAME"] = [ch.title]
    if cover:
        pic = Picture()
        pic.type, pic.mime, pic.desc, pic.data = 3, cover[1], "Cover", cover[0]
        if spec.sf_format == "FLAC":
            f.add_picture(pic)
        else:
            f["METADATA_BLOCK_PICTURE"] = [base64.b64encode(pic.write()).decode("ascii")]
    f.save()


def _write_mp4(path: Path, spec: FormatSpec, meta: Metadata, cover) -> None:
    from mutagen.mp4 import MP4, MP4Cover

    f = MP4(path)
    atoms = {"title": "\xa9nam", "author": "\xa9ART", "album": "\xa9alb", "narrator": "\xa9wrt", "year": "\xa9day",
             "comment": "\xa9cmt"}
    for name, value in meta.fields().items():
        f[atoms[name]] = [value]
    if meta.track is not None:
        f["trkn"] = [(meta.track, meta.tracks or 0)]
    if cover:
        kind = MP4Cover.FORMAT_JPEG if cover[1] == "image/jpeg" else MP4Cover.FORMAT_PNG
        f["covr"] = [MP4Cover(cover[0], imageformat=kind)]
    if spec.name == "m4b":
        f["stik"] = [2]  # media kind: audiobook
    f.save()


def write_tags(path: Path, spec: FormatSpec, meta: Metadata, chapters: list[Chapter]) -> None:
    """Tag the finished (temporary) file at ``path``; WAV is tagged by the encoder instead."""
    if spec.sf_format == "WAV":
        return
    cover = read_cover(meta.cover)
    if spec.name == "mp3":
        _write_id3(path, meta, cover, chapters)
    elif spec.encoder == "pyav":
        _write_mp4(path, spec, meta, cover)
    else:
        _write_vorbis(path, spec, meta, cover, chapters)
