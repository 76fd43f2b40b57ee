"""The voice library and the reference panel, clicked as a person does (issue 13, bugs 3 and 4): Rename asks for
the new name, Delete asks first, saving under an existing name asks before replacing, a new clip starts with an
empty transcript and name, and a silent clip is not saved as a voice."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFileDialog, QInputDialog, QLineEdit, QMessageBox

pytestmark = pytest.mark.slow


def type_into_dialog(studio, dialog, text: str) -> None:
    edit = dialog.findChild(QLineEdit)
    studio.qtbot.keyClick(edit, Qt.Key.Key_A, Qt.KeyboardModifier.ControlModifier)
    studio.qtbot.keyClicks(edit, text)
    studio.qtbot.keyClick(edit, Qt.Key.Key_Return)


def test_rename_asks_for_the_new_name(studio, voice_file: Path) -> None:
    window = studio.window(model=False)
    studio.import_voice(window, voice_file, "First")
    studio.tab(window, "Voices")  # the saved voices and the reference clip share the side column's second tab
    studio.select_voice(window, "First")
    studio.click(window.voices.rename_button)
    dialog = studio.modal(QInputDialog)
    assert dialog.textValue() == "First"
    type_into_dialog(studio, dialog, "Second")
    studio.qtbot.waitUntil(lambda: "Second" in window.library)
    assert "First" not in window.library
    assert window.voices.current_name == "Second" and window.voice_name == "Second"
    assert window.voices.list.currentItem().text().startswith("Second\n")


def test_delete_asks_first(studio, voice_file: Path) -> None:
    window = studio.window(model=False)
    studio.import_voice(window, voice_file, "Ann")
    studio.tab(window, "Voices")
    studio.select_voice(window, "Ann")
    studio.click(window.voices.delete_button)
    box = studio.modal(QMessageBox)
    assert "Ann" in box.text() and box.defaultButton().text() == "Cancel"
    studio.answer(box, "Cancel")
    assert "Ann" in window.library
    studio.click(window.voices.delete_button)
    studio.answer(studio.modal(QMessageBox), "Delete")
    studio.qtbot.waitUntil(lambda: "Ann" not in window.library)
    assert window.voices.current_name == ""


def test_saving_under_an_existing_name_asks_before_replacing(studio, voice_file: Path, reference_wav: Path) -> None:
    window = studio.window()
    studio.load(window)
    studio.import_voice(window, voice_file, "Narrator")
    old = window.library.load("Narrator")
    studio.tab(window, "Voices")
    panel = window.reference
    assert panel.import_file(reference_wav)
    studio.type(panel.transcript, "A new transcript for a new clip.")
    panel.name_edit.clear()
    studio.type(panel.name_edit, "Narrator")
    studio.click(panel.save_button)
    box = studio.modal(QMessageBox)
    assert "Narrator" in box.text() and box.defaultButton().text() == "Cancel"
    studio.answer(box, "Cancel")
    assert window.library.load("Narrator").transcript == old.transcript
    with studio.qtbot.waitSignal(window.voiceSaved, timeout=120_000):
        studio.click(panel.save_button)
        studio.answer(studio.modal(QMessageBox), "Replace “Narrator”")
    assert window.library.load("Narrator").transcript == "A new transcript for a new clip."
    assert [info.name for info in window.library.list()] == ["Narrator"]


def import_through_the_dialog(studio, panel, path: Path) -> None:
    studio.click(panel.import_button)
    dialog = studio.modal(QFileDialog)
    edit = dialog.findChild(QLineEdit, "fileNameEdit")
    studio.qtbot.keyClicks(edit, str(path))
    studio.qtbot.keyClick(edit, Qt.Key.Key_Return)
    studio.qtbot.waitUntil(lambda: panel.source_name == path.name)


def test_a_new_clip_clears_the_previous_transcript_and_name(studio, reference_wav: Path, tmp_path: Path) -> None:
    window = studio.window(model=False)
    studio.tab(window, "Voices")
    panel = window.reference
    first, second = tmp_path / "anna_reading.wav", tmp_path / "bob_reading.wav"
    audio, rate = sf.read(reference_wav, dtype="float32")
    sf.write(first, audio, rate)
    sf.write(second, audio[: len(audio) // 2], rate)
    import_through_the_dialog(studio, panel, first)
    assert panel.name_edit.text() == "Anna Reading"
    studio.type(panel.transcript, "What Anna says.")
    import_through_the_dialog(studio, panel, second)
    assert panel.transcript.toPlainText() == ""
    assert panel.name_edit.text() == "Bob Reading"


def test_a_silent_clip_is_not_saved_as_a_voice(studio, tmp_path: Path) -> None:
    window = studio.window(model=False)
    silent = tmp_path / "silence.wav"
    sf.write(silent, np.zeros(3 * 24000, np.float32), 24000)
    studio.tab(window, "Voices")
    panel = window.reference
    assert panel.import_file(silent)
    assert panel.report is not None and panel.report.silent
    studio.type(panel.transcript, "Nothing is said here.")
    errors = []
    window.errorShown.connect(lambda title, message: errors.append(title))
    requests = []
    panel.saveVoiceRequested.connect(lambda *args: requests.append(args))
    studio.click(panel.save_button)
    assert errors == ["The clip is silent"] and requests == []
    assert window.library.list() == []
