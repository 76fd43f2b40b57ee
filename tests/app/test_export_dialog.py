"""The export dialog, clicked as a person would: choose a file type, a preset and subtitles, export, read
the report; a bad file type; a cancel that leaves no file. Real exports of a real timeline (engine.export)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
from mutagen.mp3 import MP3
from PySide6.QtCore import Qt

from app.widgets.export_dialog import ExportDialog
from engine.export import Segment, SegmentKind, Timeline

SR = 24000


def _line(seconds: float, freq: float) -> np.ndarray:
    t = np.arange(int(seconds * SR)) / SR
    return (0.2 * np.sin(2 * np.pi * freq * t) * (0.6 + 0.4 * np.sin(2 * np.pi * 3 * t))).astype(np.float32)


def narration(lines: int = 3, seconds: float = 0.8) -> Timeline:
    segs = [Segment(_line(seconds, 150 + 10 * i), f"Line {i + 1}.", "Ann", "One") for i in range(lines)]
    segs[-1] = Segment(segs[-1].audio, segs[-1].text, "Ann", "One", SegmentKind.CHAPTER_END)
    return Timeline(segs)


def _choose(combo, data) -> None:
    combo.setCurrentIndex(combo.findData(data))


def test_export_mp3_for_acx_with_subtitles_and_report(qtbot, tmp_path: Path):
    dialog = ExportDialog(narration(), tmp_path / "book.mp3")
    qtbot.addWidget(dialog)
    assert [dialog.format_combo.itemData(i) for i in range(dialog.format_combo.count())] == ["mp3"]
    _choose(dialog.preset_combo, "acx")
    assert (dialog.head_spin.value(), dialog.tail_spin.value()) == (0.75, 2.0)  # the preset's room tone
    _choose(dialog.rate_combo, 44100)
    _choose(dialog.subtitles_combo, ".srt")
    dialog.title_edit.setText("The Book")
    with qtbot.waitSignal(dialog.exported, timeout=120_000):
        qtbot.mouseClick(dialog.export_button, Qt.MouseButton.LeftButton)
    assert (tmp_path / "book.mp3").is_file() and (tmp_path / "book.srt").is_file()
    assert str(MP3(tmp_path / "book.mp3")["TIT2"]) == "The Book"
    report = dialog.report_view.toPlainText()
    assert "preset acx" in report and "meets it" in report and "ACX: all rules pass" in report
    assert dialog.result.files[0].report.acx_pass
    assert "Exported" in dialog.status_label.text()


def test_format_follows_the_file_type(qtbot, tmp_path: Path):
    dialog = ExportDialog(narration(), tmp_path / "a.wav")
    qtbot.addWidget(dialog)
    assert [dialog.format_combo.itemData(i) for i in range(dialog.format_combo.count())] == ["wav", "wav24",
                                                                                            "wav-float"]
    dialog.path_edit.setText(str(tmp_path / "a"))
    dialog.path_edit.editingFinished.emit()
    assert dialog.format_combo.count() == 10  # no type yet: every format, each with its own suffix
    index = dialog.format_combo.findData("m4b")
    dialog.format_combo.setCurrentIndex(index)
    dialog.format_combo.activated.emit(index)
    assert dialog.path_edit.text() == str(tmp_path / "a.m4b")
    assert dialog.settings().format == "m4b"


def test_a_bad_file_type_shows_the_engines_sentence(qtbot, tmp_path: Path):
    dialog = ExportDialog(narration(), tmp_path / "book.xyz")
    qtbot.addWidget(dialog)
    qtbot.mouseClick(dialog.export_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: dialog.status_label.text() == "Not exported.", timeout=30_000)
    assert "cannot write '.xyz'" in dialog.report_view.toPlainText()
    assert list(tmp_path.iterdir()) == [] and dialog.export_button.isEnabled()


def test_cancel_leaves_no_file(qtbot, tmp_path: Path):
    dialog = ExportDialog(narration(lines=40, seconds=1.0), tmp_path / "line.flac")
    qtbot.addWidget(dialog)
    _choose(dialog.split_combo, "line")
    _choose(dialog.preset_combo, "acx")
    # press Cancel as soon as the first of the 40 files is reported done
    pressed = []

    def press_cancel_once(done: int, total: int) -> None:
        if not pressed:
            pressed.append(done)
            qtbot.mouseClick(dialog.cancel_button, Qt.MouseButton.LeftButton)

    dialog.progressed.connect(press_cancel_once)
    qtbot.mouseClick(dialog.export_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not dialog.running, timeout=120_000)
    assert pressed and dialog.status_label.text() == "Cancelled: no file was written."
    assert list(tmp_path.iterdir()) == []
    assert dialog.export_button.isEnabled() and not dialog.cancel_button.isEnabled()
