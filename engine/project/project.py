"""A narration project: script, cast, lines with their takes, pronunciations and export settings, in one file.

    project = Project.new("# One\\nAnn: Hello.\\nThe door closed.")
    project.set_cast("Ann", voice=library.load("Ann"))
    project.set_cast("Narrator", voice=library.load("Me"))
    for job in project.jobs("pending"):                 # LineJob values: hand them to a worker thread
        project.add_take(synthesize_line(engine, job))  # engine.project.render
    project.save("book.timbre")                         # atomic; Project.open("book.timbre") reads it back

One thread owns a Project (the studio's UI thread, the CLI); workers get :class:`LineJob` s and give back
:class:`Take` s. Takes are audio, so a project opened without a model plays them (:meth:`take_audio`).
With :meth:`attach_autosave` every take is on disk the moment it is added and :meth:`autosave` keeps the
rest there too (:mod:`engine.project.autosave`), so a crash loses nothing; :meth:`recover` opens what it left.
"""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Iterable, Literal, Mapping

import numpy as np

from ..atomic import atomic_path
from ..direction_presets import load_instruction_presets
from ..errors import ProjectError, ProjectFileError
from ..pronunciation import Pronunciations
from ..script import NARRATOR, Script, ScriptLine, name_key, parse_script
from ..voices import Voice
from .audio import decode_flac, encode_flac
from .autosave import Autosave, RecoveryInfo, default_autosave_root, read_autosave_state
from .container import PROJECT_JSON, FolderContainer, ZipContainer, take_member, voice_member, write_zip
from .identity import match_lines
from .model import CastMember, LineJob, LineRecord, LineStatus, Take, TakeInfo, new_id, now_iso, voice_id
from .schema import CastEntry, State, from_json, to_json
from .status import LineView, expected, take_is_current

SUFFIX = ".timbre"
Which = Literal["all", "pending", "missing", "stale"]


class Project:
    """See the module docstring. Build with :meth:`new`, :meth:`open` or :meth:`recover`."""

    def __init__(self, state: State, voices: Mapping[str, Voice], sources: Mapping[str, object],
                 path: Path | None = None):
        self.id, self.title, self.created = state.id, state.title, state.created
        self.path = path
        self.revision = state.revision
        self.saved_revision = state.revision if path is not None else -1
        self.export: dict = dict(state.export)
        self.pronunciations = state.pronunciations
        self.global_pronunciations = Pronunciations()  # the user's global list; set by the studio / CLI
        self.presets: Mapping[str, str] = load_instruction_presets()
        self._script_text = state.script
        self._cast = {name_key(c.name): CastMember(c.name, voices.get(c.voice_id) if c.voice_id else None,
                                                   c.mode, c.instruction) for c in state.cast}
        self._voice_names = {name_key(c.name): c.voice_name for c in state.cast}
        self._takes: dict[str, TakeInfo] = dict(state.takes)
        self._sources: dict[str, object] = dict(sources)  # take id -> a container, or FLAC bytes not yet on disk
        self._records, self._retired = list(state.lines), list(state.retired)
        self._autosave: Autosave | None = None
        self._folder: FolderContainer | None = None  # the autosave folder as a take source
        self._vid_cache: dict[int, tuple[Voice, str]] = {}
        self._parsed: Script | None = None
        self._bind()

    # ---- making, opening, saving -------------------------------------------------------------
    @classmethod
    def new(cls, script: str = "", *, title: str = "", project_id: str | None = None) -> "Project":
        if project_id is not None and not (0 < len(project_id) <= 64 and set(project_id) <= set("0123456789abcdef")):
            raise ProjectError(f"A project id is up to 64 lower-case hex digits, not {project_id!r}.")
        state = State(project_id or new_id(), title, 0, script, (), (), (), {}, Pronunciations(), created=now_iso())
        return cls(state, {}, {})

    @classmethod
    def open(cls, path: str | Path) -> "Project":
        """Read a ``.timbre`` file (ProjectFileError / ProjectVersionError when it cannot be; it is never
        changed). Its takes play at once; no model is needed."""
        path = Path(path)
        if path.is_dir():
            raise ProjectFileError(f"{path} is a folder; open a {SUFFIX} file.")
        zc = ZipContainer(path)
        try:
            zc.check_kind()
            state = from_json(zc.read(PROJECT_JSON), str(path))
            return cls(state, _voices(state, [zc]), _take_sources(state, [zc]), path)
        except BaseException:
            zc.close()
            raise

    @classmethod
    def recover(cls, autosave: RecoveryInfo | str | Path) -> "Project":
        """The project a crashed Timbre left in an autosave folder (its takes from there, or from the saved file
        it continues). Saving it writes to that file."""
        folder = Path(autosave.folder if isinstance(autosave, RecoveryInfo) else autosave)
        state = read_autosave_state(folder)
        places: list = [FolderContainer(folder)]
        if state.base and Path(state.base).is_file():
            base = ZipContainer(state.base)
            base.check_kind()
            places.append(base)
        project = cls(state, _voices(state, places), _take_sources(state, places),
                      Path(state.base) if state.base else None)
        project.saved_revision = -1  # what was recovered is not in the file yet
        return project

    @property
    def modified(self) -> bool:
        """True when there are changes :meth:`save` has not written."""
        return self.revision != self.saved_revision

    def save(self, path: str | Path | None = None) -> Path:
        """Write the whole project to ``path`` (default: where it was opened or last saved) atomically: the old
        file stays as it was until the new one is complete. Clears the autosave."""
        if path is None and self.path is None:
            raise ProjectError("This project has not been saved yet: choose a file name (Save As).")
        path = Path(path if path is not None else self.path)
        if path.suffix != SUFFIX:
            path = path.with_name(path.name + SUFFIX)
        members = [(voice_member(vid), _voice_bytes_of(v)) for vid, v in self._voices().items()]
        members += [(take_member(t), self._reader(t)) for t in self._kept_takes()]
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(path, suffix=SUFFIX) as tmp:
            write_zip(tmp, to_json(self._state(base=None)), members)
        new = ZipContainer(path)
        for old in {id(s): s for s in self._sources.values() if not isinstance(s, bytes)}.values():
            old.close()
        self._sources = {t: new for t in self._kept_takes()}
        self._takes = {t: self._takes[t] for t in self._kept_takes()}
        self.path, self.saved_revision = path, self.revision
        if self._autosave is not None:
            self._autosave.clear()
        return path

    # ---- autosave ------------------------------------------------------------------------------
    def attach_autosave(self, root: str | Path | None = None) -> Autosave:
        """Keep this project's autosave in ``root``/<id> (default: the user-data folder) from now on; takes not
        yet on disk are written there at once. ProjectBusyError when another Timbre has it open."""
        if self._autosave is None:
            root = Path(root) if root is not None else default_autosave_root()
            self._autosave = Autosave(root / self.id).acquire()
            self._folder = self._autosave.container
            for t, src in list(self._sources.items()):
                if isinstance(src, bytes):
                    self._autosave.write(take_member(t), src)
                    self._sources[t] = self._folder
        return self._autosave

    def _in_autosave(self, source: object) -> bool:
        return (self._autosave is not None and isinstance(source, FolderContainer)
                and source.path == self._autosave.folder)

    def autosave(self) -> None:
        """Write the whole state to the autosave (cheap: takes are already there); nothing without one."""
        a = self._autosave
        if a is None or not self.modified:
            return
        for vid, v in self._voices().items():
            if not a.has(voice_member(vid)):
                a.write(voice_member(vid), _voice_bytes_of(v))
        a.write_state(to_json(self._state(base=str(self.path) if self.path else None)))

    def discard_autosave(self) -> None:
        """Forget the autosave (the user chose not to keep unsaved changes, or a render finished)."""
        if self._autosave is not None:
            keep = {t: self._reader(t)() for t, s in self._sources.items() if self._in_autosave(s)}
            self._autosave.clear()
            self._sources.update(keep)  # still playable in memory until the project is closed

    def close(self) -> None:
        """Release the autosave lock and open files (the autosave itself stays unless discarded)."""
        for s in {id(s): s for s in self._sources.values() if not isinstance(s, bytes)}.values():
            s.close()
        if self._autosave is not None:
            self._autosave.release()
            self._autosave = None

    # ---- script and cast -----------------------------------------------------------------------
    @property
    def script_text(self) -> str:
        return self._script_text

    @property
    def script(self) -> Script:
        """The script parsed against the cast (problems such as unknown speakers included)."""
        if self._parsed is None:
            self._parsed = parse_script(self._script_text, cast=[m.name for m in self._cast.values()],
                                        presets=self.presets)
        return self._parsed

    def set_script(self, text: str) -> None:
        """Replace the script; lines keep their identity (and takes) where the text allows it."""
        if not isinstance(text, str):
            raise TypeError("The script is text.")
        if text != self._script_text:
            self._script_text, self._parsed = text, None
            self._bind()
            self._touch()

    @property
    def cast(self) -> dict[str, CastMember]:
        """Cast members by name (as the cast spells them)."""
        return {m.name: m for m in self._cast.values()}

    def set_cast(self, name: str, voice: Voice | None = ..., *, mode: str | None = None,
                 instruction: str | None = None) -> CastMember:
        """Add or change a cast member. A new voice makes the member's lines stale (their takes are kept)."""
        name = " ".join(str(name).split())
        if not name:
            raise ProjectError("A cast member needs a name.")
        old = self._cast.get(name_key(name), CastMember(name))
        member = CastMember(name, old.voice if voice is ... else voice,
                            old.mode if mode is None else _check_mode(mode),
                            old.instruction if instruction is None else instruction.strip())
        self._cast[name_key(name)] = member
        if member.voice is not None and voice is not ...:
            self._voice_names[name_key(name)] = member.voice.name
        self._parsed = None
        self._bind()
        self._touch()
        return member

    def remove_cast(self, name: str) -> None:
        if self._cast.pop(name_key(name), None) is not None:
            self._parsed = None
            self._bind()
            self._touch()

    def set_pronunciations(self, lexicon: Pronunciations) -> None:
        self.pronunciations = lexicon
        self._touch()

    def set_export(self, settings: dict) -> None:
        self.export = dict(settings)
        self._touch()

    # ---- lines -------------------------------------------------------------------------------
    def rows(self) -> list[LineView]:
        """Every line of the script, in order, with its id, status, takes and chosen take (the line list)."""
        return [self._view(line, rec) for line, rec in zip(self.script.lines, self._records)]

    def line_id(self, index: int) -> str:
        return self._records[index].id

    def status(self, line_id: str) -> LineStatus:
        line, rec = self._line(line_id)
        return self._view(line, rec).status

    def job(self, line_id: str, *, seed: int = 0, speed: float = 1.0) -> LineJob:
        """What a take of this line needs (ProjectError when its speaker has no voice)."""
        line, _ = self._line(line_id)
        member = self._member(line)
        if member is None or member.voice is None:
            raise ProjectError(f"{line.speaker} has no voice: map {line.speaker} to a saved voice in the cast.")
        mode, instruction = expected(line, member)
        return LineJob(line_id, line.text, self.lexicon.apply(line.text), line.speaker, member.voice,
                       self._voice_id(line), mode, instruction, seed, speed)

    def jobs(self, which: Which = "pending", *, seed: int = 0, speed: float = 1.0) -> list[LineJob]:
        """Jobs for ``all`` lines, the ``pending`` ones (missing or stale), only ``missing`` or only ``stale``."""
        self.script.check()
        wanted = {"all": set(LineStatus), "pending": {LineStatus.MISSING, LineStatus.STALE},
                  "missing": {LineStatus.MISSING}, "stale": {LineStatus.STALE}}[which]
        return [self.job(v.id, seed=seed, speed=speed) for v in self.rows() if v.status in wanted]

    @property
    def lexicon(self) -> Pronunciations:
        """The pronunciations lines are respelled with: the global list with the project's on top."""
        return self.global_pronunciations.merged(self.pronunciations)

    # ---- takes -----------------------------------------------------------------------------------
    def add_take(self, take: Take, *, choose: bool = True) -> TakeInfo:
        """Keep ``take`` (made from a :meth:`job` of one of this project's lines); chosen unless ``choose=False``."""
        info = take.info
        k = self._index(info.line_id)
        if info.id in self._takes:
            raise ProjectError(f"The project already holds take {info.id}.")
        data = encode_flac(take.audio, info.sample_rate)
        if self._autosave is not None:
            self._autosave.write(take_member(info.id), data)
            self._sources[info.id] = self._folder
        else:
            self._sources[info.id] = data
        self._takes[info.id] = info
        rec = self._records[k]
        self._records[k] = LineRecord(rec.id, rec.key, rec.takes + (info.id,), info.id if choose else rec.chosen)
        self._touch()
        return info

    def choose_take(self, line_id: str, take_id: str | None) -> None:
        k = self._index(line_id)
        rec = self._records[k]
        if take_id is not None and take_id not in rec.takes:
            raise ProjectError(f"Take {take_id} is not a take of this line.")
        self._records[k] = LineRecord(rec.id, rec.key, rec.takes, take_id)
        self._touch()

    def delete_take(self, take_id: str) -> None:
        """Remove a take (the file keeps it until the next save; the autosave until then too)."""
        for records in (self._records, self._retired):
            for k, rec in enumerate(records):
                if take_id in rec.takes:
                    takes = tuple(t for t in rec.takes if t != take_id)
                    records[k] = LineRecord(rec.id, rec.key, takes, None if rec.chosen == take_id else rec.chosen)
                    self._touch()
                    return
        raise ProjectError(f"There is no take {take_id} in this project.")

    def restore_take(self, take_id: str, *, choose: bool = False) -> None:
        """Undo :meth:`delete_take` (until the next save, which drops deleted takes for good)."""
        info = self.take_info(take_id)
        if take_id in self._kept_takes():
            raise ProjectError(f"Take {take_id} was not deleted.")
        k = self._index(info.line_id)
        rec = self._records[k]
        self._records[k] = LineRecord(rec.id, rec.key, rec.takes + (take_id,), take_id if choose else rec.chosen)
        self._touch()

    def set_take_checks(self, take_id: str, checks: dict | None) -> TakeInfo:
        """Keep the take checks' report of a take (:meth:`engine.checks.TakeReport.to_dict`; None forgets it): the
        checks run after a take is made, on another thread, and their scores are saved with the take."""
        import json

        info = self.take_info(take_id)
        if checks is not None:
            try:
                checks = json.loads(json.dumps(checks, allow_nan=False))  # a copy, and JSON the file can hold
            except (TypeError, ValueError) as e:
                raise ProjectError(f"The checks of take {take_id} cannot be saved ({e}).") from e
        new = replace(info, checks=checks)
        self._takes[take_id] = new
        self._touch()
        return new

    def take_info(self, take_id: str) -> TakeInfo:
        try:
            return self._takes[take_id]
        except KeyError:
            raise ProjectError(f"There is no take {take_id} in this project.") from None

    def take_audio(self, take_id: str) -> np.ndarray:
        """The take's samples, float32 [N] mono at its sample rate (read from the file; no model needed)."""
        info = self.take_info(take_id)
        audio, rate = decode_flac(self._reader(take_id)(), f"Take {take_id} ({info.text[:30]!r})")
        if rate != info.sample_rate or audio.shape[0] != info.n_samples:
            raise ProjectFileError(f"Take {take_id} ({info.text[:30]!r}) does not hold the audio the project "
                                   "says it does; the file is damaged.")
        return audio

    def timeline(self):
        """The chosen takes in script order as an export :class:`~engine.export.Timeline` (with the script's
        pauses, paragraph and chapter ends). ProjectError names the first line that has no take."""
        from .timeline import project_timeline

        return project_timeline(self)

    # ---- internals -------------------------------------------------------------------------------
    def _bind(self) -> None:
        self._records, self._retired = match_lines(self._records, self._retired, [l.key for l in self.script.lines])

    def _touch(self) -> None:
        self.revision += 1

    def _index(self, line_id: str) -> int:
        for k, rec in enumerate(self._records):
            if rec.id == line_id:
                return k
        raise ProjectError(f"There is no line {line_id} in the script (it was edited away?).")

    def _line(self, line_id: str) -> tuple[ScriptLine, LineRecord]:
        k = self._index(line_id)
        return self.script.lines[k], self._records[k]

    def _member(self, line: ScriptLine) -> CastMember | None:
        return self._cast.get(name_key(line.speaker)) or (
            self._cast.get(name_key(NARRATOR)) if line.speaker == NARRATOR else None)

    def _voice_id(self, line: ScriptLine) -> str | None:
        member = self._member(line)
        return self._voice_id_of(member) if member is not None and member.voice is not None else None

    def _view(self, line: ScriptLine, rec: LineRecord) -> LineView:
        takes = tuple(self._takes[t] for t in rec.takes)
        chosen = self._takes.get(rec.chosen) if rec.chosen else None
        if chosen is None:
            status = LineStatus.MISSING
        else:
            member = self._member(line)
            current = member is not None and member.voice is not None and take_is_current(
                chosen, line, member, self._voice_id(line), self.lexicon.apply(line.text))
            status = LineStatus.READY if current else LineStatus.STALE
        return LineView(rec.id, line, status, takes, rec.chosen)

    def _kept_takes(self) -> list[str]:
        return [t for rec in self._records + self._retired for t in rec.takes]

    def _reader(self, take_id: str):
        src = self._sources.get(take_id)
        if src is None:
            raise ProjectFileError(f"The audio of take {take_id} is not in the project.")
        if isinstance(src, bytes):
            return lambda: src
        return lambda: src.read(take_member(take_id))

    def _voices(self) -> dict[str, Voice]:
        return {self._voice_id_of(m): m.voice for m in self._cast.values() if m.voice is not None}

    def _voice_id_of(self, member: CastMember) -> str:
        """The member's voice id (hashing a voice takes a millisecond: cached; the voice is kept with its id so
        that ``id()`` cannot be reused by another voice)."""
        key = id(member.voice)
        if key not in self._vid_cache:
            self._vid_cache[key] = (member.voice, voice_id(member.voice))
        return self._vid_cache[key][1]

    def _state(self, base: str | None) -> State:
        cast = tuple(CastEntry(m.name, self._voice_id_of(m) if m.voice is not None else None,
                               self._voice_names.get(k, m.voice.name if m.voice else ""), m.mode, m.instruction)
                     for k, m in self._cast.items())
        kept = set(self._kept_takes())
        return State(self.id, self.title, self.revision, self._script_text, cast, tuple(self._records),
                     tuple(self._retired), {t: i for t, i in self._takes.items() if t in kept}, self.pronunciations,
                     self.export, self.created, base)


def _check_mode(mode: str) -> str:
    from ..engine import MODES

    if mode not in ("", *MODES):
        raise ProjectError(f"Unknown mode {mode!r}; use one of {', '.join(MODES)} (or '' for the voice's default).")
    return mode


def _voice_bytes_of(voice: Voice) -> bytes:
    from .voice_copies import voice_bytes

    return voice_bytes(voice)


def _voices(state: State, places: list) -> dict[str, Voice]:
    """The cast's voices, each from the first of ``places`` holding it."""
    from .voice_copies import voice_from_bytes

    out = {}
    for c in state.cast:
        if c.voice_id and c.voice_id not in out:
            name = voice_member(c.voice_id)
            where = next((p for p in places if p.exists(name)), places[0])
            out[c.voice_id] = voice_from_bytes(where.read(name), where.where)
    return out


def _take_sources(state: State, places: Iterable) -> dict[str, object]:
    """Where each take's audio is: the first of ``places`` holding it (ProjectFileError when none does)."""
    places = list(places)
    out = {}
    for t, info in state.takes.items():
        where = next((p for p in places if p.exists(take_member(t))), None)
        if where is None:
            raise ProjectFileError(f"The audio of take {t} ({info.text[:30]!r}) is missing from "
                                   f"{places[0].where}; the project is incomplete. It was left as it is.")
        out[t] = where
    return out
