"""Every file the studio writes for the user gets the mode the user's umask asks for (issue 13, bug 12: exports,
voices and autosave used to be 0600): exported audio, saved projects, the project's autosave, voices saved in the
library and exported, and the settings, under two umasks."""
from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFileDialog, QLineEdit

from app.settings import config_dir
from app.widgets.export_dialog import ExportDialog

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


def export_through_the_dialog(studio, window, path: Path) -> None:
    """File ▸ Export…: the project's chosen takes to ``path``."""
    window.actions["Export…"].trigger()
    dialog = studio.modal(ExportDialog)
    dialog.path_edit.clear()
    studio.type(dialog.path_edit, str(path))
    studio.qtbot.keyClick(dialog.path_edit, Qt.Key.Key_Tab)
    with studio.qtbot.waitSignal(window.exported, timeout=240_000):
        studio.click(dialog.export_button)
    dialog.close()


def test_user_files_get_the_umask_mode(studio, qtbot, umask, reference_wav: Path, tmp_path: Path) -> None:
    window = studio.window()
    studio.load(window)
    studio.click(window.direction.mode_buttons["cross_lingual"])
    for mask, expected in ((0o022, 0o644), (0o027, 0o640)):
        umask(mask)
        out = tmp_path / f"umask-{mask:03o}"
        out.mkdir()
        studio.tab(window, "Voices")
        written = save_a_voice(studio, window, reference_wav, f"Voice {mask:03o}")
        studio.click(window.voices.export_button)
        save_through_dialog(studio, out / "voice.safetensors")
        studio.tab(window, "Cast")
        studio.cast_voice(window, "Narrator", f"Voice {mask:03o}")
        studio.type_script(window, "Good morning.")
        assert studio.generate_all(window) == "finished", window.last_error
        export_through_the_dialog(studio, window, out / "narration.wav")
        window.actions["Save as…"].trigger()
        save_through_dialog(studio, out / "book.timbre")
        studio.type(window.editor, " More.")  # the project's autosave follows a moment later
        autosave = window.document.autosave_root / window.document.project.id
        qtbot.waitUntil(lambda: (autosave / "project.json").is_file() and
                        "More." in (autosave / "project.json").read_text(encoding="utf-8"), timeout=10_000)
        window.settings.save()
        written += [out / "narration.wav", out / "book.timbre", out / "voice.safetensors",
                    config_dir() / "settings.json"]
        written += [p for p in autosave.rglob("*") if p.is_file() and p.name != ".lock"]  # made once, at the first umask
        assert len(written) >= 8  # the library adds a voice's metadata and tensors, the autosave its takes
        assert {str(p): oct(mode(p)) for p in written if mode(p) != expected} == {}
        window.editor.clear()
        studio.settled(window)
