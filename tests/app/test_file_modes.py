"""Every file the studio writes for the user gets the mode the user's umask asks for (issue 13, bug 12: exports,
voices and autosave used to be 0600): exported WAVs, saved texts, the autosave, voices saved in the library and
exported, and the settings, under two umasks."""
from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFileDialog, QLineEdit

from app import autosave
from app.settings import config_dir

pytestmark = pytest.mark.slow


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def save_through_dialog(studio, path: Path) -> None:
    dialog = studio.modal(QFileDialog)
    edit = dialog.findChild(QLineEdit, "fileNameEdit")
    edit.clear()
    studio.qtbot.keyClicks(edit, str(path))
    studio.qtbot.keyClick(edit, Qt.Key.Key_Return)
    studio.qtbot.waitUntil(path.exists)


@pytest.fixture
def umask():
    old = os.umask(0o022)
    yield lambda mask: os.umask(mask)
    os.umask(old)


def save_a_voice(studio, window, reference_wav: Path, name: str) -> list[Path]:
    """Save a voice from the reference panel; returns the files it added to the library."""
    panel = window.reference
    assert panel.import_file(reference_wav)
    studio.type(panel.transcript, "Hello, this is a test of my voice.")
    panel.name_edit.clear()
    studio.type(panel.name_edit, name)
    before = set(window.library.root.rglob("*"))
    with studio.qtbot.waitSignal(window.voiceSaved, timeout=120_000):
        studio.click(panel.save_button)
    return [p for p in set(window.library.root.rglob("*")) - before if p.is_file()]


def test_user_files_get_the_umask_mode(studio, qtbot, umask, reference_wav: Path, tmp_path: Path) -> None:
    window = studio.window()
    studio.load(window)
    studio.click(window.direction.mode_buttons["cross_lingual"])
    for mask, expected in ((0o022, 0o644), (0o027, 0o640)):
        umask(mask)
        out = tmp_path / f"umask-{mask:03o}"
        out.mkdir()
        written = save_a_voice(studio, window, reference_wav, f"Voice {mask:03o}")
        studio.type_narration(window, "Good morning.")
        assert studio.generate_all(window) == "finished", window.last_error
        window.actions["Export narration…"].trigger()
        save_through_dialog(studio, out / "narration.wav")
        window.actions["Save text…"].trigger()
        save_through_dialog(studio, out / "narration.txt")
        studio.click(window.voices.export_button)
        save_through_dialog(studio, out / "voice.safetensors")
        studio.type(window.editor, " More.")  # the autosave follows a moment later
        qtbot.waitUntil(lambda: autosave.autosave_path().is_file() and
                        autosave.autosave_path().read_text(encoding="utf-8").endswith(" More."), timeout=10_000)
        window.settings.save()
        written += [out / "narration.wav", out / "narration.txt", out / "voice.safetensors",
                    autosave.autosave_path(), config_dir() / "settings.json"]
        assert len(written) >= 7  # the library adds a voice's metadata and tensors
        assert {str(p): oct(mode(p)) for p in written if mode(p) != expected} == {}
        window.editor.clear()
