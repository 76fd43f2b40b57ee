"""A line's other ways in and its checks, as a person uses them: a performed line (the creator's own reading,
imported in the Perform dialog, turned into the speaker's voice: a take like any other, issue 15), pronunciations
typed into Edit ▸ Pronunciations… that change how a line is said and can be heard first (issue 15), and every take
checked on its own: a badge per line with the reasons on hover, each check of the selected take with its number
and limit, the scores next to each take, the filter for failed lines (issue 17)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFileDialog, QLineEdit

from app.widgets.line_list import COL_CHECK
from app.widgets.perform_dialog import PerformDialog
from app.widgets.pronunciation_dialog import PronunciationDialog

pytestmark = pytest.mark.slow


def open_perform(studio, window, row: int, reading: Path) -> PerformDialog:
    """Select line ``row``, press Perform…, import ``reading`` through the file dialog."""
    studio.click_line(window, row)
    studio.click(window.takes.perform_button)
    dialog = studio.modal(PerformDialog)
    assert not dialog.convert_button.isEnabled()
    studio.click(dialog.import_button)
    files = studio.modal(QFileDialog)
    edit = files.findChild(QLineEdit, "fileNameEdit")
    studio.qtbot.keyClicks(edit, str(reading))
    studio.qtbot.keyClick(edit, Qt.Key.Key_Return)
    studio.qtbot.waitUntil(lambda: dialog.convert_button.isEnabled())
    return dialog


def test_a_performed_line_is_a_take_in_the_speakers_voice(studio, qtbot, voice_file: Path, reference_wav: Path,
                                                          tmp_path: Path) -> None:
    window = studio.ready(studio.window(), voice_file, "Hello, this is a test.")
    audio, rate = sf.read(reference_wav, dtype="float32")
    reading = tmp_path / "my reading.wav"
    sf.write(reading, audio[: 2 * rate], rate)  # two seconds of the creator reading the line
    assert window.takes.perform_button.text() == "Perform…"
    dialog = open_perform(studio, window, 0, reading)
    assert dialog.waveform.duration == pytest.approx(2.0, abs=1e-3)
    with qtbot.waitSignal(window.takePerformed, timeout=240_000) as made:
        studio.click(dialog.convert_button)
    view = window.document.rows()[0]
    info = window.document.take_info(made.args[0])
    assert view.chosen == info.id and info.kind == "performed" and info.voice_name == "Narrator"
    # the reading's timing is kept: the take lasts as long as the reading (to the vocoder's hop of 480 samples)
    assert abs(len(window.document.take_audio(info.id)) - 2 * 24000) <= 480
    assert studio.lines(window)[0][2].startswith("1/1 · Performed · ")
    assert window.takes.tree.topLevelItem(0).text(1) == "Performed"


def test_pronunciations_change_how_a_line_is_said_and_can_be_heard(studio, qtbot, voice_file: Path,
                                                                 output_device) -> None:
    window = studio.ready(studio.window(), voice_file, "Nguyen came home.")
    window.actions["Pronunciations…"].trigger()
    dialog = studio.modal(PronunciationDialog)
    studio.click(dialog.project_table.add_button)
    table = dialog.project_table.table
    qtbot.keyClicks(table.viewport().focusWidget() or table, "Nguyen")  # typing into the new row's word cell
    qtbot.keyClick(table.focusWidget(), Qt.Key.Key_Tab)
    qtbot.keyClicks(table.focusWidget(), "win")
    qtbot.keyClick(table.focusWidget(), Qt.Key.Key_Return)
    studio.type(dialog.try_edit, "Nguyen came.")
    assert dialog.said.text() == "Said as: win came."
    frames = window.player.stats.queued_frames
    with qtbot.waitSignal(window.engine_thread.worker.requestDone, timeout=240_000):
        studio.click(dialog.hear_button)
    qtbot.waitUntil(lambda: window.player.stats.queued_frames > frames, timeout=10_000)  # it is heard
    studio.click(dialog.buttons.button(dialog.buttons.StandardButton.Ok))
    assert [(e.word, e.say) for e in window.document.project.pronunciations.entries] == [("Nguyen", "win")]
    assert studio.generate_all(window) == "finished", window.last_error
    info = window.document.rows()[0].takes[0]
    assert info.text == "Nguyen came home." and info.spoken_text == "win came home."
    tip = window.lines.view.model().index(0, 3).data(Qt.ItemDataRole.ToolTipRole)
    assert "Said as: win came home." in tip


def test_every_take_is_checked_and_the_checks_are_shown_per_take(studio, qtbot, voice_file: Path) -> None:
    window = studio.ready(studio.window(), voice_file, "Good morning, sailor. The sea is calm.")
    assert window.settings.check_takes  # on by default
    assert studio.generate_all(window) == "finished", window.last_error
    model = window.lines.view.model()
    qtbot.waitUntil(lambda: all(model.index(r, COL_CHECK).data() not in ("", "… checking")
                                for r in range(model.rowCount())), timeout=240_000)
    views = window.document.rows()
    for row, view in enumerate(views):
        report = window.checks.report(view.chosen)
        assert report is not None and model.index(row, COL_CHECK).data().endswith(report.verdict)
        tip = model.index(row, COL_CHECK).data(Qt.ItemDataRole.ToolTipRole)
        assert all(c.name in tip for c in report.checks)  # every check's line, on hover
        assert window.document.take_info(view.chosen).checks is not None  # kept with the take in the project
    # the selected take's checks, one row each, and its scores next to it in the take list
    studio.click_line(window, 1)
    report = window.checks.report(views[1].chosen)
    shown = [window.takes.checks.topLevelItem(i).text(0) for i in range(window.takes.checks.topLevelItemCount())]
    assert shown == [c.name for c in report.checks]
    take_item = window.takes.tree.topLevelItem(0)
    assert any(f"score {report.score}" in take_item.text(c) for c in range(take_item.columnCount()))
    # the filter shows only the failed lines (the tiny model speaks no words: some checks fail)
    failed = [v.id for v in views if window.checks.report(v.chosen).verdict == "fail"]
    studio.click(window.lines.only_failed)
    assert window.lines.visible_lines() == failed
    assert window.lines.retake_button.isEnabled() == bool(failed)
    studio.click(window.lines.only_failed)
    assert window.lines.visible_lines() == [v.id for v in views]


def test_a_silent_take_fails_its_checks(studio, qtbot, voice_file: Path, tmp_path: Path) -> None:
    """A take of silence (here a performed "reading" of nothing: a take like any other) is caught: its line's badge
    says fail, and why, on hover."""
    window = studio.ready(studio.window(), voice_file, "Good morning, sailor.")
    silent = tmp_path / "nothing.wav"
    sf.write(silent, np.zeros(3 * 24000, np.float32), 24000)
    dialog = open_perform(studio, window, 0, silent)
    with qtbot.waitSignal(window.takePerformed, timeout=240_000) as made:
        studio.click(dialog.convert_button)
    qtbot.waitUntil(lambda: window.checks.report(made.args[0]) is not None, timeout=240_000)
    report = window.checks.report(made.args[0])
    model = window.lines.view.model()
    assert report.verdict == "fail" and model.index(0, COL_CHECK).data() == "✗ fail"
    tip = model.index(0, COL_CHECK).data(Qt.ItemDataRole.ToolTipRole)
    assert tip.startswith("[fail]")  # the failed checks come first
