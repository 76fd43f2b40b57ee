"""The studio from the keyboard (issue 13, bugs 5, 7 and part of 11): Ctrl+R records and stops again and again,
Tab leaves every text box, the menus show the shortcuts and the shortcuts work from inside the text boxes."""
from __future__ import annotations

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QMenu, QMessageBox

pytestmark = pytest.mark.slow
CTRL = Qt.KeyboardModifier.ControlModifier


def test_ctrl_r_records_and_stops_every_time(studio, qtbot, input_device) -> None:
    window = studio.window(model=False)
    panel = window.reference
    for _ in range(3):
        qtbot.keyClick(window, Qt.Key.Key_R, CTRL)
        assert panel.is_recording and panel.record_button.text() == "■ Stop"
        qtbot.waitUntil(lambda: panel._recorder is not None and panel._recorder.seconds > 0.2, timeout=10_000)
        qtbot.keyClick(window, Qt.Key.Key_R, CTRL)
        assert not panel.is_recording and panel.record_button.text() == "● Record"
        assert len(panel.audio) > 0


@pytest.mark.parametrize("box", ["transcript", "instruction", "editor"])
def test_tab_leaves_the_text_boxes(studio, qtbot, box: str) -> None:
    window = studio.window(model=False)
    studio.click(window.direction.mode_buttons["instruct"])  # the instruction box is for instruct mode
    if box == "transcript":
        studio.tab(window, "Voices")  # the reference clip's transcript is on the side column's second tab
    widget = {"transcript": window.reference.transcript, "instruction": window.direction.instruction,
              "editor": window.editor}[box]
    studio.type(widget, "Hi")
    assert QApplication.focusWidget() is widget
    qtbot.keyClick(widget, Qt.Key.Key_Tab)
    assert QApplication.focusWidget() is not widget
    assert widget.toPlainText() == "Hi"
    qtbot.keyClick(QApplication.focusWidget(), Qt.Key.Key_Tab, Qt.KeyboardModifier.ShiftModifier)
    assert QApplication.focusWidget() is widget  # and Shift+Tab comes back


def test_the_menus_show_the_shortcuts(studio) -> None:
    window = studio.window(model=False)
    shown = {a.text(): a.shortcut().toString() for menu in window.menuBar().findChildren(QMenu)
             for a in menu.actions() if a.text()}
    for text, keys in {"Generate all": "Ctrl+Return", "Generate line": "Ctrl+Shift+Return", "Stop": "Esc",
                       "Play all / stop": "Ctrl+P", "Export…": "Ctrl+Shift+E", "Save": "Ctrl+S",
                       "Record / stop": "Ctrl+R", "Open project…": "Ctrl+O", "New seed": "Ctrl+D",
                       "Undo": "Ctrl+Z", "Redo": "Ctrl+Shift+Z"}.items():
        assert shown.get(text) == keys, (text, shown.get(text))


def test_shortcuts_work_from_inside_a_line_edit(studio, qtbot) -> None:
    """Export from the voice-name box (Ctrl+E was taken by line edits for "end of line" on X11: see
    test_x11_shortcuts.py for the real X11 key bindings) and New seed from the narration editor."""
    window = studio.window(model=False)
    studio.tab(window, "Voices")
    studio.type(window.reference.name_edit, "Ann")
    errors = []
    window.errorShown.connect(lambda title, message: errors.append(title))
    qtbot.keyClick(window.reference.name_edit, Qt.Key.Key_E, CTRL | Qt.KeyboardModifier.ShiftModifier)
    assert errors == ["Nothing to export"]  # the export ran: there is nothing generated yet
    assert window.reference.name_edit.text() == "Ann"
    studio.answer(studio.modal(QMessageBox), "OK")
    studio.tab(window, "Cast")
    seed = window.direction.seed.value()
    studio.type(window.editor, "Hello")
    qtbot.keyClick(window.editor, Qt.Key.Key_D, CTRL)
    assert window.direction.seed.value() != seed and window.editor.toPlainText() == "Hello"
