"""Where a project's files are: a ``.timbre`` zip, or a folder of the same layout (the autosave)::

    mimetype                          "application/x-timbre-project" (zip only, first and uncompressed)
    project.json                      script, cast, lines, takes' details, pronunciations, export settings
    voices/<voice id>.safetensors     the cast's voices (the one-file voice format, engine.voice_files)
    takes/<take id>.flac              every take's audio

Reading never changes the file; every way it can fail is a :class:`~engine.errors.ProjectFileError` that names
the file and what to do. Zip entries are size-checked from the directory before they are read.
"""
from __future__ import annotations

import threading
import zipfile
from pathlib import Path

from ..errors import ProjectFileError

MIMETYPE = "application/x-timbre-project"
PROJECT_JSON = "project.json"
MAX_JSON_BYTES = 64 << 20
MAX_MEMBER_BYTES = 512 << 20  # one take (a sentence) is a few MB; a voice a few hundred KB


def take_member(take_id: str) -> str:
    return f"takes/{take_id}.flac"


def voice_member(voice_id: str) -> str:
    return f"voices/{voice_id}.safetensors"


class ZipContainer:
    """A saved ``.timbre`` file, opened once and read member by member (thread-safe reads)."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._lock = threading.Lock()
        self._zip: zipfile.ZipFile | None = None

    @property
    def where(self) -> str:
        return str(self.path)

    def _open(self) -> zipfile.ZipFile:
        if self._zip is None:
            try:
                self._zip = zipfile.ZipFile(self.path)
            except FileNotFoundError:
                raise ProjectFileError(f"The project {self.path} does not exist (moved or deleted?).") from None
            except (zipfile.BadZipFile, OSError, ValueError) as e:
                raise ProjectFileError(f"{self.path} is not a Timbre project, or it is damaged ({e}). "
                                       "It was left as it is; open a backup or another copy.") from e
        return self._zip

    def check_kind(self) -> None:
        """ProjectFileError unless this zip says it is a Timbre project."""
        if self.read("mimetype", 1024).decode("ascii", "replace").strip() != MIMETYPE:
            raise ProjectFileError(f"{self.path} is a zip file but not a Timbre project.")

    def exists(self, name: str) -> bool:
        with self._lock:
            return name in self._open().NameToInfo

    def read(self, name: str, limit: int = MAX_MEMBER_BYTES) -> bytes:
        with self._lock:
            z = self._open()
            info = z.NameToInfo.get(name)
            if info is None:
                raise ProjectFileError(f"{self.path} lacks {name}; the file is incomplete or damaged. "
                                       "It was left as it is.")
            if info.file_size > limit:
                raise ProjectFileError(f"{name} in {self.path} is {info.file_size} bytes, more than Timbre writes; "
                                       "the file is damaged or not from Timbre.")
            try:
                return z.read(info)
            except (zipfile.BadZipFile, OSError, ValueError, EOFError, NotImplementedError) as e:
                raise ProjectFileError(f"{name} in {self.path} is damaged ({e}). The file was left as it is.") from e

    def close(self) -> None:
        with self._lock:
            if self._zip is not None:
                self._zip.close()
                self._zip = None


class FolderContainer:
    """The same layout as loose files in a folder (the autosave, written file by file)."""

    def __init__(self, folder: str | Path):
        self.path = Path(folder)

    @property
    def where(self) -> str:
        return str(self.path)

    def exists(self, name: str) -> bool:
        return (self.path / name).is_file()

    def read(self, name: str, limit: int = MAX_MEMBER_BYTES) -> bytes:
        p = self.path / name
        try:
            if p.stat().st_size > limit:
                raise ProjectFileError(f"{p} is larger than Timbre writes; it is damaged or not from Timbre.")
            return p.read_bytes()
        except FileNotFoundError:
            raise ProjectFileError(f"{p} is missing; the autosave is incomplete.") from None
        except OSError as e:
            raise ProjectFileError(f"{p} cannot be read ({e.strerror or e}).") from e

    def close(self) -> None:
        pass


Container = ZipContainer | FolderContainer


def write_zip(tmp: Path, project_json: bytes, members: list[tuple[str, "bytes | callable"]]) -> None:
    """Write a complete ``.timbre`` zip at ``tmp``: mimetype first (stored), then each member (FLAC and
    safetensors stored: they do not deflate), project.json last. ``members``: (name, bytes or a function
    giving them, so a take is read from its old place only while it is copied)."""
    with zipfile.ZipFile(tmp, "w", allowZip64=True) as z:
        z.writestr(zipfile.ZipInfo("mimetype"), MIMETYPE, compress_type=zipfile.ZIP_STORED)
        for name, data in members:
            z.writestr(name, data() if callable(data) else data, compress_type=zipfile.ZIP_STORED)
        z.writestr(PROJECT_JSON, project_json, compress_type=zipfile.ZIP_DEFLATED)
