"""project.json: the project's state as JSON, and back with every field checked (no pickle, no objects built
from the file's say-so). A format newer than :data:`FORMAT_VERSION` is refused with ProjectVersionError."""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

from ..errors import ProjectFileError, ProjectVersionError, TextInputError
from ..pronunciation import Pronunciations
from .model import TAKE_KINDS, LineRecord, TakeInfo

FORMAT_VERSION = 1


@dataclass(frozen=True)
class CastEntry:
    """A cast member as stored: the voice by id (its file is voices/<id>.safetensors) and name."""

    name: str
    voice_id: str | None
    voice_name: str
    mode: str
    instruction: str


@dataclass(frozen=True)
class State:
    """Everything in project.json. ``base``: for an autosave, the .timbre file it continues (None: none)."""

    id: str
    title: str
    revision: int
    script: str
    cast: tuple[CastEntry, ...]
    lines: tuple[LineRecord, ...]
    retired: tuple[LineRecord, ...]
    takes: dict[str, TakeInfo]
    pronunciations: Pronunciations
    export: dict[str, Any] = field(default_factory=dict)
    created: str = ""
    base: str | None = None


def to_json(s: State) -> bytes:
    data = {
        "format": FORMAT_VERSION, "id": s.id, "title": s.title, "revision": s.revision, "created": s.created,
        "script": s.script,
        "cast": [vars(c) for c in s.cast],
        "lines": [_line_json(r) for r in s.lines],
        "retired": [_line_json(r) for r in s.retired],
        "takes": {k: vars(t) for k, t in s.takes.items()},
        "pronunciations": s.pronunciations.to_json(),
        "export": s.export,
        "base": s.base,
    }
    return json.dumps(data, ensure_ascii=False, indent=1, allow_nan=False).encode("utf-8")


def _line_json(r: LineRecord) -> dict:
    return {"id": r.id, "key": list(r.key), "takes": list(r.takes), "chosen": r.chosen}


class _Reader:
    """Typed access to one JSON object, naming the file and the field in every error."""

    def __init__(self, where: str):
        self.where = where

    def bad(self, what: str) -> ProjectFileError:
        return ProjectFileError(f"{self.where} is damaged: {what}. The file was left as it is.")

    def get(self, d: object, key: str, kind, default=..., what: str = ""):
        if not isinstance(d, dict):
            raise self.bad(f"{what or 'an entry'} is not an object")
        if key not in d:
            if default is ...:
                raise self.bad(f"{what + ' ' if what else ''}has no {key!r}")
            return default
        value = d[key]
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise self.bad(f"{what + ' ' if what else ''}{key!r} has the wrong type")
        if kind is float and not math.isfinite(value):
            raise self.bad(f"{what + ' ' if what else ''}{key!r} is not a finite number")
        return value

    def ident(self, d: object, key: str, what: str, optional: bool = False) -> str | None:
        value = self.get(d, key, (str, type(None)) if optional else str, None if optional else ..., what)
        if value is not None and not (0 < len(value) <= 64 and all(c in "0123456789abcdef" for c in value)):
            raise self.bad(f"{what} {key!r} is not an id")
        return value


def _line(r: _Reader, d: object, what: str) -> LineRecord:
    key = r.get(d, "key", list, what=what)
    if len(key) != 3 or not all(isinstance(k, str) for k in key):
        raise r.bad(f"{what} has a bad key")
    takes = r.get(d, "takes", list, what=what)
    if not all(isinstance(t, str) for t in takes):
        raise r.bad(f"{what} lists a take that is not an id")
    return LineRecord(r.ident(d, "id", what), tuple(key), tuple(takes), r.ident(d, "chosen", what, optional=True))


def _take(r: _Reader, tid: str, d: object) -> TakeInfo:
    what = f"take {tid}"
    kind = r.get(d, "kind", str, what=what)
    if kind not in TAKE_KINDS:
        raise r.bad(f"{what} is of unknown kind {kind!r}")
    seed = r.get(d, "seed", int, what=what)
    rate, n = r.get(d, "sample_rate", int, what=what), r.get(d, "n_samples", int, what=what)
    if not (0 <= seed < 2 ** 64 and 0 < rate <= 384000 and n >= 0):
        raise r.bad(f"{what} has an impossible seed, sample rate or length")
    return TakeInfo(
        id=r.ident(d, "id", what), line_id=r.ident(d, "line_id", what), kind=kind,
        text=r.get(d, "text", str, what=what), spoken_text=r.get(d, "spoken_text", str, what=what),
        speaker=r.get(d, "speaker", str, what=what), voice_name=r.get(d, "voice_name", str, what=what),
        voice_id=r.get(d, "voice_id", str, what=what), mode=r.get(d, "mode", str, what=what),
        instruction=r.get(d, "instruction", str, what=what), seed=seed, sample_rate=rate, n_samples=n,
        speed=r.get(d, "speed", float, 1.0, what), settings=r.get(d, "settings", dict, {}, what),
        created=r.get(d, "created", str, "", what), watchdog=r.get(d, "watchdog", (str, type(None)), None, what),
        checks=r.get(d, "checks", (dict, type(None)), None, what))


def from_json(raw: bytes, where: str) -> State:
    """The state in ``raw`` (project.json of ``where``), every field checked."""
    r = _Reader(where)
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as e:
        raise r.bad(f"project.json is not valid JSON ({e})") from e
    version = r.get(data, "format", int, what="project.json")
    if version > FORMAT_VERSION:
        raise ProjectVersionError(f"{where} was saved by a newer Timbre (project format {version}; this one reads "
                                  f"up to {FORMAT_VERSION}). Update Timbre to open it; the file was left as it is.")
    if version < 1:
        raise r.bad(f"format {version} is not a project format")
    cast = tuple(CastEntry(r.get(c, "name", str, what="a cast member"),
                           r.ident(c, "voice_id", "a cast member", optional=True),
                           r.get(c, "voice_name", str, "", "a cast member"), r.get(c, "mode", str, "", "a cast member"),
                           r.get(c, "instruction", str, "", "a cast member"))
                 for c in r.get(data, "cast", list, what="project.json"))
    takes_json = r.get(data, "takes", dict, what="project.json")
    takes = {tid: _take(r, tid, t) for tid, t in takes_json.items()}
    lines = tuple(_line(r, d, "a line") for d in r.get(data, "lines", list, what="project.json"))
    retired = tuple(_line(r, d, "a retired line") for d in r.get(data, "retired", list, [], "project.json"))
    for rec in lines + retired:
        if any(t not in takes for t in rec.takes) or (rec.chosen is not None and rec.chosen not in rec.takes):
            raise r.bad(f"line {rec.id} names a take the file does not hold")
    try:
        pron = Pronunciations.from_json(r.get(data, "pronunciations", list, [], "project.json"), where)
    except TextInputError as e:
        raise r.bad(str(e)) from e
    return State(id=r.ident(data, "id", "project.json"), title=r.get(data, "title", str, "", "project.json"),
                 revision=r.get(data, "revision", int, 0, "project.json"),
                 script=r.get(data, "script", str, what="project.json"), cast=cast, lines=lines, retired=retired,
                 takes=takes, pronunciations=pron, export=r.get(data, "export", dict, {}, "project.json"),
                 created=r.get(data, "created", str, "", "project.json"),
                 base=r.get(data, "base", (str, type(None)), None, "project.json"))
