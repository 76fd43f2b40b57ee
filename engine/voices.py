"""Saved voices: what the frontend computes once from a prompt recording, kept on disk, never lost.

A voice is three tensors + a transcript: the prompt speech tokens (25 Hz), the prompt mel (24 kHz flow mel,
2 frames per token) and the CAM++ speaker embedding (checked by :mod:`engine.voice_checks`). Making them needs
the ONNX models and a few seconds; loading them is instant.

On disk (never pickle)::

    <library>/.lock                                one writer at a time (engine.folder_lock)
    <library>/<slug>/voice.json                    name, transcript, ..., "tensors": "voice-<id>.safetensors"
    <library>/<slug>/voice-<id>.safetensors        speech_tokens int32 [T], speech_feat float32 [2T, 80],
                                                   embedding float32 [192]

Nothing is lost, whatever crashes when:

- Every change holds the library's lock, so two savers (the studio and the CLI, two threads) never pick the
  same folder or both "create" one name.
- A new voice is written into ``.tmp-<id>/`` and appears with one ``rename`` to its folder.
- Replacing a voice writes a new tensors file next to the old one, then replaces ``voice.json`` (one atomic
  replace: before it the old voice is complete, after it the new one), then deletes the old tensors file.
  A rename is one replace of ``voice.json``; a delete is one ``rename`` to ``.del-<id>/``.
- When a library is first used, leftovers of an interrupted change are cleaned up: ``.tmp-*`` and ``.del-*``
  folders, tensors files no ``voice.json`` names, temporary files; a voice that an older Timbre had moved to
  ``.old-*/v`` in the middle of a replace or delete is moved back.
- A voice whose files cannot be read is listed as damaged (:attr:`VoiceInfo.damaged`) and named in errors with
  what to do, instead of disappearing.

Export/import use ONE ``.safetensors`` file (:mod:`engine.voice_files`), checked fully when imported.

Model family. The tensors depend on the model that made them: CosyVoice 2 and 3 have other speech tokenizers
(v2 / v3: the same 6561 codes, other meanings) and other prompt mels (fmax 8 kHz / 12 kHz). So a voice carries
its ``family`` (``voice.json`` / the export header: ``"family": "cosyvoice2"`` or ``"cosyvoice3"``; voices saved
before it existed are CosyVoice 2, the only family there was), and :func:`check_voice_family` refuses a voice of
the other family with :class:`VoiceFamilyError` saying what to do (make it again from its recording:
:meth:`engine.Engine.remake_voice`).
"""
from __future__ import annotations

import contextlib
import datetime as _dt
import json
import os
import re
import secrets
import shutil
import threading
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Iterator

import torch

from .config import COSYVOICE2, FAMILY_NAMES
from .errors import InputError, VoiceLibraryError
from .voice_checks import check_transcript, check_voice_tensors
from .voice_files import EXPORT_SUFFIX, MAX_META_BYTES, read_tensors, read_voice_file, write_voice_file
from .voice_names import check_name, name_key, slug

FORMAT_VERSION = 1
TENSORS_FILE = "voice.safetensors"  # the tensors file of voices saved before "tensors" was in voice.json
META_FILE = "voice.json"
LOCK_FILE = ".lock"
LOCK_WAIT_S = 10.0  # a save takes milliseconds; waiting longer means another Timbre is stuck
_TENSORS_NAME = re.compile(r"voice(-[0-9a-f]{16})?\.safetensors")

__all__ = ["EXPORT_SUFFIX", "Voice", "VoiceFamilyError", "VoiceInfo", "VoiceLibrary", "check_voice_family",
           "read_voice_file", "write_voice_file"]


class VoiceFamilyError(InputError):
    """A voice made with one model family used with a model of the other (its speech tokens would be wrong)."""


def _now_iso() -> str:
    return _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat()


@dataclass(frozen=True)
class Voice:
    """A ready-to-use voice prompt.

    ``speech_tokens`` int32 [T]; ``speech_feat`` float32 [T_mel, 80] (T_mel == 2T after the
    frontend's 2:1 trim); ``embedding`` float32 [192]. ``transcript`` is what is said in the clip
    (zero-shot mode puts it in front of the text to speak).
    """

    name: str
    transcript: str
    speech_tokens: torch.Tensor
    speech_feat: torch.Tensor
    embedding: torch.Tensor
    language: str = ""
    created: str = field(default_factory=_now_iso)
    source_clip: str = ""
    notes: dict[str, Any] = field(default_factory=dict)  # e.g. the reference analysis report
    family: str = COSYVOICE2  # the model family whose frontend made the tensors (engine.config)

    @property
    def duration_s(self) -> float:
        """Length of the prompt clip as the engine uses it (25 tokens per second)."""
        return int(self.speech_tokens.numel()) / 25.0

    def info(self) -> "VoiceInfo":
        return VoiceInfo(self.name, self.language, self.created, self.source_clip, self.transcript,
                         self.duration_s, family=self.family)

    def _meta(self) -> dict[str, Any]:
        return {
            "format": FORMAT_VERSION,
            "name": self.name,
            "transcript": self.transcript,
            "language": self.language,
            "created": self.created,
            "source_clip": self.source_clip,
            "notes": self.notes,
            "family": self.family,
        }

    def _tensors(self) -> dict[str, torch.Tensor]:
        return {
            "speech_tokens": self.speech_tokens.detach().reshape(-1).to(torch.int32).cpu().contiguous(),
            "speech_feat": self.speech_feat.detach().reshape(-1, self.speech_feat.shape[-1])
            .to(torch.float32).cpu().contiguous(),
            "embedding": self.embedding.detach().reshape(-1).to(torch.float32).cpu().contiguous(),
        }


@dataclass(frozen=True)
class VoiceInfo:
    """What a voice list shows, without loading tensors. ``damaged``: why the voice cannot be used and what to
    do ("" when it is fine); a damaged voice whose ``voice.json`` is unreadable is named after its folder."""

    name: str
    language: str
    created: str
    source_clip: str
    transcript: str
    duration_s: float
    damaged: str = ""
    family: str = COSYVOICE2  # which model family the voice was made with (see the module docstring)


def voice_from(meta: object, tensors: dict[str, torch.Tensor], where: str) -> Voice:
    """A :class:`Voice` from its JSON and tensors, everything checked (typed errors naming ``where``)."""
    if not isinstance(meta, dict) or not isinstance(meta.get("name"), str):
        raise VoiceLibraryError(f"{where} has no voice name in its metadata; it is not a Timbre voice file.")
    try:
        version = int(meta.get("format", 1))
    except (TypeError, ValueError) as e:
        raise VoiceLibraryError(f"{where} has a damaged format number.") from e
    if version > FORMAT_VERSION:
        raise VoiceLibraryError(f"{where} was made by a newer Timbre (format {version}). Update Timbre.")
    check_voice_tensors(tensors, where)
    family = meta.get("family", COSYVOICE2)
    if family not in FAMILY_NAMES:
        raise VoiceLibraryError(f"{where} was made with a model family Timbre does not know ({str(family)[:40]!r}); "
                                "update Timbre or make the voice again from its recording.")
    return Voice(
        name=meta["name"],
        transcript=check_transcript(meta.get("transcript", ""), where),
        speech_tokens=tensors["speech_tokens"],
        speech_feat=tensors["speech_feat"],
        embedding=tensors["embedding"],
        language=str(meta.get("language", "")),
        created=str(meta.get("created", "")),
        source_clip=str(meta.get("source_clip", "")),
        notes=dict(meta["notes"]) if isinstance(meta.get("notes"), dict) else {},
        family=family,
    )


def check_voice_family(voice: Voice, family: str | None) -> None:
    """Raise :class:`VoiceFamilyError` unless ``voice`` was made with a model of ``family`` (None: any)."""
    if family is None or voice.family == family:
        return
    made, here = FAMILY_NAMES.get(voice.family, voice.family), FAMILY_NAMES.get(family, family)
    raise VoiceFamilyError(
        f"Voice {voice.name!r} was made with {made}, and this model is {here}: their speech tokens differ, so "
        f"it would not sound like the voice. Make the voice again from its recording with the {here} model "
        f"(the studio's re-analyse, Engine.remake_voice, or `timbre voices add {voice.name!r} --prompt CLIP "
        f"--overwrite --model MODEL`), or load a {made} model.")


def default_voices_dir() -> Path:
    import platformdirs

    return Path(platformdirs.user_data_dir("Timbre", appauthor=False)) / "voices"


@dataclass(frozen=True)
class _Entry:
    """One voice folder: its JSON (None if unreadable) and what is wrong with it ("" if nothing)."""

    path: Path
    meta: dict | None
    problem: str = ""

    @property
    def name(self) -> str:
        return self.meta["name"] if self.meta is not None else self.path.name

    @property
    def tensors(self) -> Path:
        return self.path / _tensors_name(self.meta)


def _tensors_name(meta: dict | None) -> str:
    """The tensors file voice.json names (only a name of our own pattern, never a path from the JSON)."""
    name = (meta or {}).get("tensors", TENSORS_FILE)
    return name if isinstance(name, str) and _TENSORS_NAME.fullmatch(name) else TENSORS_FILE


def _read_entry(d: Path) -> _Entry:
    meta_path = d / META_FILE
    try:
        if meta_path.stat().st_size > MAX_META_BYTES:
            raise ValueError("too large")
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        if not isinstance(meta, dict) or not isinstance(meta.get("name"), str) or not meta["name"].strip():
            raise ValueError("no voice name")
    except (OSError, ValueError, RecursionError) as e:  # ValueError: bad JSON, bad UTF-8, no name
        return _Entry(d, None, f"its {META_FILE} cannot be read ({type(e).__name__}: {str(e)[:80]})")
    entry = _Entry(d, meta)
    if not entry.tensors.is_file():
        return replace(entry, problem=f"its voice data ({entry.tensors.name}) is missing")
    return entry


def _what_to_do(entry: _Entry) -> str:
    return (f"Voice {entry.name!r} is damaged: {entry.problem}. Delete it and make it again from its recording, "
            f"or restore the folder {entry.path} from a backup.")


class VoiceLibrary:
    """A folder of saved voices. Names are unique (caselessly, after Unicode folding)."""

    def __init__(self, root: str | Path | None = None):
        self.root = Path(root) if root is not None else default_voices_dir()
        self._recovered = False
        self._held = threading.local()  # this thread's nesting depth of _locked (rename loads under the lock)

    # ---- the lock and recovery ----------------------------------------------------------------
    @contextlib.contextmanager
    def _locked(self, *, write: bool) -> Iterator[None]:
        """Hold the library's lock (readers too: they never see a change half done). A library that does not
        exist or cannot be written is read without it; writing to it then fails with its own clear error."""
        from .folder_lock import exclusive

        depth = getattr(self._held, "depth", 0)
        if depth:
            self._held.depth = depth + 1
            try:
                yield
            finally:
                self._held.depth = depth
            return
        lock = None
        if write or self.root.is_dir():
            lock = exclusive(self.root / LOCK_FILE, wait=LOCK_WAIT_S, busy=lambda: VoiceLibraryError(
                f"The voice library {self.root} is busy: another Timbre has been changing it for "
                f"{LOCK_WAIT_S:.0f} s. Try again, or close the other Timbre."))
            try:
                lock.__enter__()  # creates the library folder and its lock file if needed
            except OSError as e:
                if write:
                    raise VoiceLibraryError(f"Cannot write to the voice library {self.root}: "
                                            f"{e.strerror or e}.") from e
                lock = None  # a read-only library: read it as it is
        self._held.depth = 1
        try:
            if lock is not None and not self._recovered:
                self._recover()
                self._recovered = True
            yield
        finally:
            self._held.depth = 0
            if lock is not None:
                lock.__exit__(None, None, None)

    def _recover(self) -> None:
        """Finish or undo what an interrupted change left (see the module docstring)."""
        for p in sorted(self.root.iterdir()):
            if p.name.startswith((".tmp-", ".del-")):
                shutil.rmtree(p, ignore_errors=True)
            elif p.name.startswith(".old-"):
                self._restore_legacy(p)
        for entry in self._entries():
            if entry.meta is None:
                continue
            keep = {META_FILE, entry.tensors.name}
            for f in entry.path.iterdir():
                if f.is_file() and f.name not in keep and (f.name.startswith(".") or _TENSORS_NAME.fullmatch(f.name)):
                    f.unlink(missing_ok=True)

    def _restore_legacy(self, old: Path) -> None:
        """An older Timbre replaced a voice by moving it to ``.old-*/v`` first: put back what it left there."""
        moved = _read_entry(old / "v") if (old / "v").is_dir() else None
        if moved is not None and not moved.problem and self._find(moved.name) is None:
            os.rename(moved.path, self._free_dir(moved.name))
        shutil.rmtree(old, ignore_errors=True)

    # ---- reading ---------------------------------------------------------------------------
    def _entries(self) -> list[_Entry]:
        if not self.root.is_dir():
            return []
        return [_read_entry(d) for d in sorted(self.root.iterdir()) if d.is_dir() and not d.name.startswith(".")]

    def _find(self, name: str) -> _Entry | None:
        key = name_key(name)
        return next((e for e in self._entries() if e.meta is not None and name_key(e.name) == key), None)

    def _need(self, name: str) -> _Entry:
        found = self._find(name)
        if found is not None:
            return found
        damaged = self._damaged(name)
        if damaged is not None:
            raise VoiceLibraryError(_what_to_do(damaged))
        known = ", ".join(e.name for e in self._entries()) or "none saved yet"
        raise VoiceLibraryError(f"No voice named {name!r} in {self.root} (voices: {known}).")

    def _damaged(self, name: str) -> _Entry | None:
        """The unreadable voice folder a name would be stored in (its voice.json, and so its name, is lost)."""
        key = name_key(name)
        return next((e for e in self._entries()
                     if e.meta is None and (name_key(e.path.name) == key or e.path.name == slug(name))), None)

    def __contains__(self, name: object) -> bool:
        if not isinstance(name, str):
            return False
        with self._locked(write=False):
            return self._find(name) is not None

    def list(self) -> list[VoiceInfo]:
        """Every saved voice, sorted by name; damaged ones too, with :attr:`VoiceInfo.damaged` set."""
        from safetensors import safe_open

        infos = []
        with self._locked(write=False):
            entries = self._entries()
            for e in entries:
                meta, problem, n_tokens = e.meta or {}, e.problem, 0
                if not problem:
                    try:
                        with safe_open(str(e.tensors), framework="pt") as f:
                            n_tokens = f.get_slice("speech_tokens").get_shape()[0]
                    except Exception as error:  # noqa: BLE001 - safetensors raises several types for junk
                        problem = f"its voice data ({e.tensors.name}) cannot be read ({type(error).__name__})"
                infos.append(VoiceInfo(e.name, str(meta.get("language", "")), str(meta.get("created", "")),
                                       str(meta.get("source_clip", "")), str(meta.get("transcript", "")),
                                       n_tokens / 25.0, _what_to_do(replace(e, problem=problem)) if problem else "",
                                       family=str(meta.get("family", COSYVOICE2))))
        return sorted(infos, key=lambda i: name_key(i.name))

    def load(self, name: str) -> Voice:
        with self._locked(write=False):
            e = self._need(name)
            if e.problem:
                raise VoiceLibraryError(_what_to_do(e))
            try:
                tensors, _ = read_tensors(e.tensors, f"Voice {e.name!r}")
                return voice_from(e.meta, tensors, f"Voice {e.name!r}")
            except VoiceLibraryError as error:
                raise VoiceLibraryError(_what_to_do(replace(e, problem=str(error)))) from error

    # ---- writing ---------------------------------------------------------------------------
    def _free_dir(self, name: str) -> Path:
        base = slug(name)
        cand, i = self.root / base, 2
        while cand.exists():
            cand, i = self.root / f"{base}-{i}", i + 1
        return cand

    def _write_files(self, folder: Path, voice: Voice, tensors: dict[str, torch.Tensor]) -> str:
        """Write ``voice-<id>.safetensors`` then ``voice.json`` naming it (each atomic, the user's file mode)."""
        from safetensors.torch import save_file

        from .atomic import atomic_write, atomic_write_text

        name = f"voice-{secrets.token_hex(8)}.safetensors"
        atomic_write(folder / name, lambda tmp: save_file(tensors, str(tmp)), suffix=".safetensors")
        meta = {**voice._meta(), "tensors": name}
        atomic_write_text(folder / META_FILE, json.dumps(meta, ensure_ascii=False, indent=1))
        return name

    def _create(self, voice: Voice, tensors: dict[str, torch.Tensor]) -> None:
        tmp = self.root / f".tmp-{secrets.token_hex(8)}"
        os.mkdir(tmp)  # the user's folder mode (mkdtemp would make it 0700)
        try:
            self._write_files(tmp, voice, tensors)
            os.rename(tmp, self._free_dir(voice.name))  # the voice appears complete, or not at all
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    def _replace(self, entry: _Entry, voice: Voice, tensors: dict[str, torch.Tensor]) -> None:
        old = entry.tensors
        new = self._write_files(entry.path, voice, tensors)  # voice.json replaced last: the commit
        if old.name != new:
            old.unlink(missing_ok=True)

    def _write(self, what: str, change) -> None:
        from .atomic import WriteError

        try:
            change()
        except (OSError, WriteError) as e:
            raise VoiceLibraryError(f"Cannot {what} in {self.root}: {getattr(e, 'strerror', None) or e}") from e

    def save(self, voice: Voice, *, overwrite: bool = False) -> VoiceInfo:
        """Add a voice; an existing voice of that name is replaced only with ``overwrite``."""
        voice = replace(voice, name=check_name(voice.name))
        check_transcript(voice.transcript, f"Voice {voice.name!r}")
        tensors = voice._tensors()
        check_voice_tensors(tensors, f"Voice {voice.name!r}")
        with self._locked(write=True):
            found = self._find(voice.name)
            if found is not None and not overwrite:
                raise VoiceLibraryError(f"A voice named {found.name!r} already exists. Pick another name or "
                                        "replace it.")
            self._write(f"save voice {voice.name!r}",
                        lambda: self._replace(found, voice, tensors) if found else self._create(voice, tensors))
        return voice.info()

    def rename(self, old: str, new: str) -> VoiceInfo:
        new = check_name(new)
        with self._locked(write=True):
            entry = self._need(old)
            other = self._find(new)
            if other is not None and other.path != entry.path:
                raise VoiceLibraryError(f"A voice named {other.name!r} already exists. Pick another name.")
            voice = replace(self.load(old), name=new)
            meta = {**entry.meta, "name": new}

            def commit() -> None:
                from .atomic import atomic_write_text

                atomic_write_text(entry.path / META_FILE, json.dumps(meta, ensure_ascii=False, indent=1))

            self._write(f"rename voice {old!r}", commit)
        return voice.info()

    def delete(self, name: str) -> None:
        """Remove a voice (a damaged one too, by the name the list shows)."""
        with self._locked(write=True):
            entry = self._find(name) or self._damaged(name) or self._need(name)
            trash = self.root / f".del-{secrets.token_hex(8)}"
            self._write(f"delete voice {name!r}", lambda: os.rename(entry.path, trash))  # gone at once, atomically
            shutil.rmtree(trash, ignore_errors=True)

    # ---- one-file export/import ------------------------------------------------------------
    def export(self, name: str, dest: str | Path) -> Path:
        """Write the voice as one ``.safetensors`` file (JSON in its header); return the path."""
        return write_voice_file(self.load(name), dest)

    def import_file(self, src: str | Path, *, name: str | None = None, overwrite: bool = False) -> VoiceInfo:
        """Add a voice from a file made by :meth:`export` (checked fully here), optionally under another name."""
        voice = read_voice_file(src)
        if name is not None:
            voice = replace(voice, name=name)
        return self.save(voice, overwrite=overwrite)
