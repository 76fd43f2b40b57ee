"""Unsaved narration text survives a crash: it is written (atomically) to the user data folder a
moment after each edit and read back at the next start."""
from __future__ import annotations

from pathlib import Path

from .settings import atomic_write_text, data_dir

AUTOSAVE_NAME = "narration-autosave.txt"


def autosave_path() -> Path:
    return data_dir() / "autosave" / AUTOSAVE_NAME


def save_text(text: str, path: Path | None = None) -> None:
    atomic_write_text(path or autosave_path(), text)


def load_text(path: Path | None = None) -> str | None:
    try:
        return (path or autosave_path()).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None
