"""The window on a 1280x800 screen (tests/app/conftest.py gives Qt's offscreen platform one), as a new user
finds it: it opens inside the screen, every control stays on screen before and after generating (a long voice
name included), the narration gets the room, and a keyboard-only user reaches every control with Tab
(issue 13: bug 1 and the Design items)."""
from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import QPoint, QRect, Qt
from PySide6.QtWidgets import (
    QAbstractButton, QAbstractItemView, QAbstractSpinBox, QApplication, QComboBox, QLineEdit, QPlainTextEdit,
    QProgressBar, QWidget,
)

from app.settings import Settings
from app.widgets.line_list import COL_CHECK, COL_TAKE

pytestmark = pytest.mark.slow
LONG_NAME = "Narrator of the Lighthouse Keeper's Last Night at Sea"
CONTROLS = (QAbstractButton, QLineEdit, QPlainTextEdit, QAbstractSpinBox, QComboBox, QAbstractItemView, QProgressBar)


def controls(window) -> list:
    """Every control the window shows (hidden ones, e.g. a banner without an action, excepted)."""
    found = [w for w in window.findChildren(QWidget) if isinstance(w, CONTROLS) and w.isVisibleTo(window)
             and w.window() is window]
    parts = (QAbstractSpinBox, QComboBox, QAbstractItemView)  # their own line edits, headers, ...
    return [w for w in found if not isinstance(w.parent(), parts)]


def name(widget) -> str:
    text = widget.text() if hasattr(widget, "text") and callable(widget.text) else ""
    return f"{type(widget).__name__}({text!r})" if text else f"{type(widget).__name__}:{widget.objectName()}"


def off_screen(window) -> list[str]:
    """The controls not wholly inside the window and unclipped by their parents, and the screen they are on."""
    area = window.screen().availableGeometry()
    inside = window.rect()
    bad = []
    for w in controls(window):
        rect = QRect(w.mapTo(window, QPoint(0, 0)), w.size())
        if not (w.isVisible() and w.width() > 0 and w.height() > 0 and inside.contains(rect)
                and w.visibleRegion().boundingRect().size() == w.size()):
            bad.append(f"{name(w)} at {rect.getRect()}")
    if not area.contains(window.frameGeometry()):
        bad.append(f"the window {window.frameGeometry().getRect()} on a screen of {area.getRect()}")
    return bad


def take_column_visible(window) -> bool:
    """The line list's Take and Check columns are inside its view (no sideways scrolling to see them)."""
    view = window.lines.view
    header = view.header()
    return all(header.sectionViewportPosition(c) + header.sectionSize(c) <= view.viewport().width()
               for c in (COL_TAKE, COL_CHECK))


def fill_screen(window) -> None:
    """What a user does on a small laptop: make the window as large as the screen lets it be."""
    area = window.screen().availableGeometry()
    frame = window.frameGeometry()
    window.resize(area.width() - (frame.width() - window.width()), area.height() - (frame.height() - window.height()))
    window.move(area.topLeft())


def make_a_take(studio, window, voice_file: Path, voice: str = "Narrator") -> None:
    studio.ready(window, voice_file, "The storm had passed. The sea was quiet again.", voice)
    assert studio.generate_all(window) == "finished", window.last_error
    assert all(v.chosen for v in window.document.rows()) and len(window.document.rows()) == 2


def test_the_first_window_fits_the_screen(studio) -> None:
    window = studio.window(Settings())
    area = window.screen().availableGeometry()
    assert (area.width(), area.height()) == (1280, 800)
    assert area.contains(window.frameGeometry())
    assert window.minimumSizeHint().width() <= area.width() and window.minimumSizeHint().height() <= area.height()


def test_a_window_saved_on_a_larger_screen_comes_back_inside_this_one(studio) -> None:
    big = studio.window(Settings())
    big.setGeometry(40, 30, 1880, 1040)  # as it was left on a 1920x1080 screen
    settings = Settings(window_geometry=bytes(big.saveGeometry().toHex()).decode())
    window = studio.window(settings)
    assert window.screen().availableGeometry().contains(window.frameGeometry())


def test_every_control_stays_on_screen_before_and_after_generating(studio, voice_file: Path) -> None:
    window = studio.window()
    fill_screen(window)
    studio.settled(window)
    assert off_screen(window) == []
    make_a_take(studio, window, voice_file, LONG_NAME)
    assert window.cast.combo("Narrator").currentText() == LONG_NAME
    assert window.minimumSizeHint().width() <= window.screen().availableGeometry().width()
    fill_screen(window)
    QApplication.processEvents()
    assert off_screen(window) == []
    assert take_column_visible(window)
    assert window.width() <= 1280
    studio.tab(window, "Voices")  # the reference clip and the saved voices fit too
    QApplication.processEvents()
    assert off_screen(window) == []


def test_the_script_gets_the_room_and_the_side_column_stays_compact(studio) -> None:
    window = studio.window(Settings())
    window.resize(1000, 700)
    QApplication.processEvents()
    direction, narration = window.direction.width(), window.editor.width()
    window.resize(1260, 700)
    QApplication.processEvents()
    assert window.direction.width() == direction
    assert window.editor.width() >= narration + 200


def tab_round(qtbot, window, first) -> list:
    """Press Tab from ``first`` until the focus comes back to it; the widgets it went through."""
    first.setFocus()
    reached = []
    for _ in range(3 * len(controls(window))):
        focus = QApplication.focusWidget()
        reached.append(focus)
        qtbot.keyClick(focus, Qt.Key.Key_Tab)
        if QApplication.focusWidget() is reached[0]:
            break
    assert QApplication.focusWidget() is reached[0], "Tab goes round the whole window and back"
    return reached


def test_a_keyboard_user_reaches_every_control_with_tab(studio, qtbot, voice_file: Path, reference_wav: Path) -> None:
    window = studio.window()
    make_a_take(studio, window, voice_file)
    window.reference.import_file(reference_wav)  # so the clip's buttons are enabled too
    studio.click(window.direction.mode_buttons["instruct"])
    reached = tab_round(qtbot, window, window.cast.tree)
    studio.tab(window, "Voices")  # the other tab's controls: Tab goes round them there
    reached += tab_round(qtbot, window, window.reference.input_combo)
    wanted = {w for w in controls(window) if w.isEnabled() and w.focusPolicy() & Qt.FocusPolicy.TabFocus}
    studio.tab(window, "Cast")
    wanted |= {w for w in controls(window) if w.isEnabled() and w.focusPolicy() & Qt.FocusPolicy.TabFocus}
    # Tab enters the mode buttons (one exclusive group) at the checked one; the arrow keys move within it.
    modes = list(window.direction.mode_buttons.values())
    entered = next(b for b in modes if b in reached)
    entered.setFocus()
    for _ in modes:
        qtbot.keyClick(QApplication.focusWidget(), Qt.Key.Key_Right)
        reached.append(QApplication.focusWidget())
    missed = sorted(name(w) for w in wanted - set(reached) if not any(w.isAncestorOf(r) for r in reached))
    assert missed == []
