"""The small but visible things of issue 13, bug 11, done as a person does them: an empty narration says so, file
dialogs open where the user was last time (not in the folder Timbre was started from), the previous clip leaves
the screen while recording, and trim and normalize can be undone."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from PySide6.QtCore import QPoint, Qt
from PySide6.QtWidgets import QFileDialog, QLineEdit

from app.settings import Settings

pytestmark = pytest.mark.slow


def test_an_empty_script_says_it_has_no_lines(studio) -> None:
    window = studio.window(model=False)
    studio.settled(window)
    assert window.bar.progress.text() == "No lines yet"
    studio.type_script(window, "One sentence.")
    assert window.bar.progress.text() == "0 / 1 lines ready"


def choose_in_dialog(studio, path: Path) -> QFileDialog:
    dialog = studio.modal(QFileDialog)
    edit = dialog.findChild(QLineEdit, "fileNameEdit")
    studio.qtbot.keyClicks(edit, str(path))
    studio.qtbot.keyClick(edit, Qt.Key.Key_Return)
    return dialog


def test_file_dialogs_start_at_home_then_where_the_user_was(studio, qtbot, monkeypatch, tmp_path: Path,
                                                           reference_wav: Path) -> None:
    home, clips, elsewhere = tmp_path / "home", tmp_path / "clips", tmp_path / "started-here"
    for folder in (home, clips, elsewhere):
        folder.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir(elsewhere)
    audio, rate = sf.read(reference_wav, dtype="float32")
    sf.write(clips / "voice.wav", audio, rate)
    window = studio.window(model=False)
    studio.tab(window, "Voices")
    panel = window.reference
    studio.click(panel.import_button)
    dialog = studio.modal(QFileDialog)
    assert Path(dialog.directory().absolutePath()) == home
    dialog.reject()
    studio.click(panel.import_button)
    choose_in_dialog(studio, clips / "voice.wav")
    qtbot.waitUntil(lambda: panel.source_name == "voice.wav")
    studio.click(panel.import_button)
    dialog = studio.modal(QFileDialog)
    assert Path(dialog.directory().absolutePath()) == clips
    dialog.reject()
    window.shutdown()
    again = studio.window(Settings.load())
    studio.tab(again, "Voices")
    studio.click(again.reference.import_button)
    dialog = studio.modal(QFileDialog)
    assert Path(dialog.directory().absolutePath()) == clips  # remembered across a restart
    dialog.reject()


def test_recording_replaces_the_previous_clip_on_screen(studio, qtbot, reference_wav: Path, input_device) -> None:
    window = studio.window(model=False)
    studio.tab(window, "Voices")
    panel = window.reference
    assert panel.import_file(reference_wav)
    studio.type(panel.transcript, "What the old clip says.")
    before = panel.waveform.duration
    studio.click(panel.record_button)
    assert panel.waveform.duration < before and "Recording" in panel.analysis_label.text()
    assert not panel.play_button.isEnabled() and not panel.save_button.isEnabled()
    qtbot.waitUntil(lambda: panel.waveform.duration > 0.3, timeout=10_000)  # the recording, live
    studio.click(panel.record_button)
    assert panel.source_name == "microphone recording"
    assert panel.transcript.toPlainText() == "" and panel.name_edit.text() == ""
    assert panel.waveform.duration == pytest.approx(len(panel.audio) / panel.sample_rate)


def drag(qtbot, widget, start_x: float, end_x: float) -> None:
    y = widget.height() // 2
    qtbot.mousePress(widget, Qt.MouseButton.LeftButton, pos=QPoint(int(start_x), y))
    qtbot.mouseMove(widget, QPoint(int(end_x), y))
    qtbot.mouseRelease(widget, Qt.MouseButton.LeftButton, pos=QPoint(int(end_x), y))


def test_trim_and_normalize_can_be_undone(studio, qtbot, reference_wav: Path) -> None:
    window = studio.window(model=False)
    studio.tab(window, "Voices")
    panel = window.reference
    assert panel.import_file(reference_wav)
    original = panel.audio.copy()
    assert not panel.undo_button.isEnabled()
    view = panel.waveform
    drag(qtbot, view, 1, view.width() * 0.25)  # the start handle, a quarter in
    start, end = view.trim
    assert start > 0 and end == pytest.approx(view.duration)
    studio.click(panel.trim_button)
    assert len(panel.audio) < len(original)
    studio.click(panel.normalize_button)
    normalized = panel.audio.copy()
    studio.click(panel.undo_button)  # the normalize
    assert len(panel.audio) == len(normalized) and not np.array_equal(panel.audio, normalized)
    studio.click(panel.undo_button)  # the trim
    assert np.array_equal(panel.audio, original)
    assert panel.waveform.duration == pytest.approx(len(original) / panel.sample_rate)
    assert not panel.undo_button.isEnabled()
