"""Writing files so that nothing is ever half-written, with the mode the user's umask asks for.

Every file the engine or the studio writes for the user (exports, voices, projects, settings, autosave)
goes through :func:`atomic_write`: the bytes go to a temporary file in the destination's folder, are flushed
to disk, get the user's default mode (``0o666 & ~umask``: 0644 under umask 022 - ``mkstemp`` alone would
leave 0600), and only then replace the destination in one ``os.replace``. A failure (disk full, a cancelled
export, an exception in ``write``) leaves the previous file untouched and no temporary file behind.
"""
from __future__ import annotations

import contextlib
import errno
import os
import tempfile
import threading
from pathlib import Path
from typing import Callable, Iterator

from .errors import TimbreError

_umask_lock = threading.Lock()


class WriteError(TimbreError):
    """A file could not be written (the folder is missing or read-only, the disk is full, ...)."""


def default_file_mode() -> int:
    """``0o666 & ~umask``: the mode a plain ``open(path, "w")`` would give a new file."""
    with _umask_lock:  # os.umask can only be read by setting it; keep other threads out meanwhile
        mask = os.umask(0o022)
        os.umask(mask)
    return 0o666 & ~mask


def describe_os_error(path: Path, e: OSError) -> str:
    """A sentence for the user about why ``path`` could not be written."""
    if e.errno in (errno.ENOSPC, errno.EDQUOT):
        return f"There is not enough free disk space to write {path}. Free some space or pick another drive."
    if e.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return f"{path.parent} cannot be written to (read-only or no permission). Pick another folder."
    if e.errno == errno.ENOENT:
        return f"The folder {path.parent} does not exist. Pick an existing folder."
    if e.errno == errno.EISDIR:
        return f"{path} is a folder, not a file name. Add a file name."
    if e.errno == errno.ENAMETOOLONG:
        return f"The file name {path.name[:40]}... is too long for this file system. Pick a shorter name."
    return f"{path} could not be written ({e.strerror or e})."


@contextlib.contextmanager
def atomic_path(path: str | Path, *, suffix: str = "") -> Iterator[Path]:
    """A temporary path next to ``path``; on a clean exit it gets the default mode and replaces ``path``.

    For writers that want a file name (soundfile, PyAV, zipfile). ``suffix`` keeps an extension a writer may
    look at (e.g. ``.flac``)."""
    path = Path(path)
    if path.is_dir():
        raise WriteError(f"{path} is a folder, not a file name. Add a file name.")
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name[:40]}.", suffix=suffix or ".tmp", dir=path.parent)
    except OSError as e:
        raise WriteError(describe_os_error(path, e)) from e
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.chmod(tmp, default_file_mode())
        os.replace(tmp, path)
    except OSError as e:
        raise WriteError(describe_os_error(path, e)) from e
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def atomic_write(path: str | Path, write: Callable[[Path], None], *, suffix: str = "") -> Path:
    """``write(tmp_path)`` then replace ``path`` with it atomically (see the module docstring)."""
    with atomic_path(path, suffix=suffix) as tmp:
        write(tmp)
    return Path(path)


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    return atomic_write(path, lambda tmp: tmp.write_bytes(data))


def atomic_write_text(path: str | Path, text: str) -> Path:
    return atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))
