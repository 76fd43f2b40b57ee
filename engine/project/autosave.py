"""Crash recovery: a project's autosave, a folder of the project layout written file by file.

    <user data>/autosave/projects/<project id>/
        .lock                           held while a Timbre has the project open (released by the OS on a crash)
        project.json                    the whole state, replaced atomically after the files it names
        takes/<take id>.flac            takes made since the last save (each written atomically, never changed)
        voices/<voice id>.safetensors   cast voices not yet in the saved file

Order makes it crash-proof: a take's FLAC is complete before any project.json names it, so whatever moment a
process dies at, the folder holds a project.json that opens, with every take it lists (the rest: in the saved
``.timbre`` file project.json names as its ``base``). A successful save clears the folder; an autosave that is
still there with its lock free is what a crashed (or killed) Timbre left: :func:`find_autosaves` lists them.
"""
from __future__ import annotations

import contextlib
import shutil
from dataclasses import dataclass
from pathlib import Path

from ..atomic import atomic_write_bytes
from ..errors import ProjectBusyError, ProjectFileError
from .container import PROJECT_JSON, FolderContainer, take_member, voice_member
from .schema import State, from_json

LOCK_FILE = ".lock"


def default_autosave_root() -> Path:
    import platformdirs

    return Path(platformdirs.user_data_dir("Timbre", appauthor=False)) / "autosave" / "projects"


@dataclass(frozen=True)
class RecoveryInfo:
    """An autosave a crashed Timbre left: which project, the file it belongs to, how much is in it."""

    folder: Path
    project_id: str
    title: str
    base: str | None
    revision: int
    n_takes: int
    modified: float


class Autosave:
    """One project's autosave folder, locked against a second Timbre while this object holds it."""

    def __init__(self, folder: str | Path):
        from filelock import FileLock

        self.folder = Path(folder)
        self._lock = FileLock(self.folder / LOCK_FILE)

    def acquire(self) -> "Autosave":
        from filelock import Timeout

        self.folder.mkdir(parents=True, exist_ok=True)
        try:
            self._lock.acquire(timeout=0)
        except Timeout:
            raise ProjectBusyError(f"This project is open in another Timbre (the studio or a render): its autosave "
                                   f"{self.folder} is in use. Close it there first.") from None
        return self

    def release(self) -> None:
        self._lock.release()

    @property
    def container(self) -> FolderContainer:
        return FolderContainer(self.folder)

    def has(self, name: str) -> bool:
        return (self.folder / name).is_file()

    def write(self, name: str, data: bytes) -> None:
        """One file (a take, a voice), atomically."""
        path = self.folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(path, data)

    def write_state(self, project_json: bytes) -> None:
        atomic_write_bytes(self.folder / PROJECT_JSON, project_json)

    def clear(self) -> None:
        """Forget everything but the lock (after a save, or when the user discards the changes): project.json
        first, so a crash halfway leaves nothing to recover rather than a state naming deleted takes."""
        with contextlib.suppress(FileNotFoundError):
            (self.folder / PROJECT_JSON).unlink()
        for sub in ("takes", "voices"):
            shutil.rmtree(self.folder / sub, ignore_errors=True)


def _is_free(folder: Path) -> bool:
    from filelock import FileLock, Timeout

    lock = FileLock(folder / LOCK_FILE)
    try:
        lock.acquire(timeout=0)
    except Timeout:
        return False
    lock.release()
    return True


def read_autosave_state(folder: Path) -> State:
    return from_json(FolderContainer(folder).read(PROJECT_JSON), str(folder / PROJECT_JSON))


def find_autosaves(root: str | Path | None = None) -> list[RecoveryInfo]:
    """The autosaves a crashed or killed Timbre left under ``root`` (newest first); damaged ones are skipped
    (their folder stays, for the user to look at)."""
    root = Path(root) if root is not None else default_autosave_root()
    found = []
    for folder in sorted(root.glob("*")) if root.is_dir() else []:
        if not (folder / PROJECT_JSON).is_file() or not _is_free(folder):
            continue
        try:
            s = read_autosave_state(folder)
        except ProjectFileError:
            continue
        found.append(RecoveryInfo(folder, s.id, s.title, s.base, s.revision, len(s.takes),
                                  (folder / PROJECT_JSON).stat().st_mtime))
    return sorted(found, key=lambda i: i.modified, reverse=True)


def find_autosave(project_id: str, root: str | Path | None = None) -> RecoveryInfo | None:
    """The autosave a crashed Timbre left for ``project_id``, if any."""
    return next((i for i in find_autosaves(root) if i.project_id == project_id), None)


__all__ = ["Autosave", "RecoveryInfo", "default_autosave_root", "find_autosave", "find_autosaves",
           "read_autosave_state", "take_member", "voice_member"]
