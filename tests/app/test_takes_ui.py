"""Takes, compared and chosen as a person does (issue 15): several takes of a line with the selected take's
waveform and playhead, A/B against the take before it (switching at the same moment), choosing and deleting
takes, and Edit ▸ Undo / Redo for script edits, take choices and deletes (Ctrl+Z / Ctrl+Shift+Z)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import Qt

pytestmark = pytest.mark.slow
CTRL = Qt.KeyboardModifier.ControlModifier


def two_takes(studio, window, voice_file: Path, script: str = "Good morning, sailor.") -> list[str]:
    """A line with two takes (Generate line twice); returns their ids, oldest first."""
    studio.ready(window, voice_file, script)
    for _ in range(2):
        with studio.qtbot.waitSignal(window.generationFinished, timeout=240_000) as done:
            studio.click(window.lines.generate_button)
        assert done.args == ["finished"], window.last_error
    return [t.id for t in window.document.rows()[0].takes]


def test_a_b_switches_between_two_takes_at_the_same_moment(studio, qtbot, voice_file: Path, output_device) -> None:
    window = studio.window()
    first, second = two_takes(studio, window, voice_file)
    takes, doc = window.takes, window.document
    assert [takes.tree.topLevelItem(i).text(0) for i in range(2)] == ["  1", "● 2"]  # the newest is chosen
    assert takes.current_take == second and takes.ab_button.isEnabled()
    np.testing.assert_array_equal(takes.waveform._audio, doc.take_audio(second))  # the selected take's waveform
    studio.click_take(window, 1)
    assert not takes.ab_button.isEnabled()  # nothing before the first take
    studio.click_take(window, 2)
    studio.click(takes.ab_button)
    assert takes.hearing.text() == "Hearing A: take 1 (A/B switches)"
    assert window.player.stats.queued_frames == len(doc.take_audio(first))
    qtbot.waitUntil(lambda: (takes.waveform.playhead or 0) > 0.3, timeout=10_000)
    at = window.listening.tracker.state.position_s
    studio.click(takes.ab_button)
    assert takes.hearing.text() == "Hearing B: take 2 (A/B switches)"
    b = doc.take_audio(second)
    resumed = window.listening.tracker.state.position_s
    assert at <= resumed < at + 0.5  # B goes on from where A was (a poll of the player later at most)
    assert window.player.stats.queued_frames == len(b) - int(round(resumed * 24000))
    np.testing.assert_array_equal(takes.waveform._audio, b)
    studio.click(takes.ab_button)
    assert takes.hearing.text().startswith("Hearing A")
    studio.click(takes.play_button)  # Stop
    assert takes.play_button.text() == "▶ Play" and takes.hearing.text() == ""


def test_choose_and_delete_takes_then_undo_and_redo(studio, qtbot, voice_file: Path) -> None:
    window = studio.window()
    first, second = two_takes(studio, window, voice_file)
    doc = window.document
    studio.click_take(window, 1)
    studio.click(window.takes.choose_button)
    assert doc.rows()[0].chosen == first and studio.lines(window)[0][2].startswith("1/2 · ")
    assert window.takes.tree.topLevelItem(0).text(0) == "● 1"
    qtbot.keyClick(window.lines.view, Qt.Key.Key_Z, CTRL)  # undo the choice
    assert doc.rows()[0].chosen == second and studio.lines(window)[0][2].startswith("2/2 · ")
    qtbot.keyClick(window.lines.view, Qt.Key.Key_Z, CTRL | Qt.KeyboardModifier.ShiftModifier)  # redo it
    assert doc.rows()[0].chosen == first
    # delete the chosen take: the other one becomes the line's take
    studio.click(window.takes.delete_button)
    assert [t.id for t in doc.rows()[0].takes] == [second] and doc.rows()[0].chosen == second
    assert studio.lines(window)[0][2].startswith("1/1 · ")
    window.actions["Undo"].trigger()  # Edit ▸ Undo brings it back, chosen again
    view = doc.rows()[0]
    assert [t.id for t in view.takes] == [second, first] and view.chosen == first
    np.testing.assert_array_equal(doc.take_audio(first), doc.take_audio(view.chosen))
    window.actions["Redo"].trigger()
    assert [t.id for t in doc.rows()[0].takes] == [second]


def test_undo_brings_back_the_script_and_its_lines_takes(studio, qtbot, voice_file: Path) -> None:
    window = studio.window()
    studio.ready(window, voice_file, "The door opened.")
    assert studio.generate_all(window) == "finished", window.last_error
    take = window.document.rows()[0].chosen
    editor = window.editor
    editor.selectAll()
    qtbot.keyClicks(editor, "Something else entirely, and longer.")
    studio.settled(window)
    assert [r[1] for r in studio.lines(window)] == ["Something else entirely, and longer."]
    assert studio.lines(window)[0][2] == "—"  # another line: the old take is not its take
    qtbot.keyClicks(editor, " More.")  # typing not settled yet: undo first makes it a step of its own
    qtbot.keyClick(editor, Qt.Key.Key_Z, CTRL)
    assert editor.toPlainText() == "Something else entirely, and longer."
    qtbot.keyClick(editor, Qt.Key.Key_Z, CTRL)
    assert editor.toPlainText() == "The door opened."
    assert [r[1] for r in studio.lines(window)] == ["The door opened."]
    assert window.document.rows()[0].chosen == take and studio.lines(window)[0][2].startswith("1/1 · ")
    qtbot.keyClick(editor, Qt.Key.Key_Z, CTRL | Qt.KeyboardModifier.ShiftModifier)
    assert editor.toPlainText() == "Something else entirely, and longer."
    assert [r[1] for r in studio.lines(window)] == ["Something else entirely, and longer."]
