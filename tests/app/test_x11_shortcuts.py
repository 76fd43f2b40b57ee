"""No shortcut of the studio is swallowed by a text box (issue 13, bug 11: "Ctrl+E is eaten by line edits").

Which keys a line edit keeps for itself depends on the platform's key bindings: on X11 a QLineEdit or a spin box
takes Ctrl+E ("end of line") and Ctrl+U, on the offscreen platform the tests use they do not. So the check runs
here and once more in a real X server (Xvfb, the xcb platform) by the last test."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from PySide6.QtCore import QEvent
from PySide6.QtGui import QKeyEvent, QKeySequence
from PySide6.QtWidgets import QApplication, QMessageBox

ROOT = Path(__file__).resolve().parents[2]


def eaten_by(widget, keys: QKeySequence) -> bool:
    """Whether ``widget`` claims ``keys`` for itself (Qt asks with a ShortcutOverride event before any shortcut)."""
    combo = keys[0]
    event = QKeyEvent(QEvent.Type.ShortcutOverride, combo.key(), combo.keyboardModifiers())
    event.ignore()
    QApplication.sendEvent(widget, event)
    return event.isAccepted()


def test_no_shortcut_is_eaten_by_a_text_box(studio, qtbot) -> None:
    window = studio.window(model=False)
    boxes = {"voice name": window.reference.name_edit, "seed": window.direction.seed,
             "narration": window.editor, "transcript": window.reference.transcript}
    # Edit ▸ Undo / Redo are the project's history; a small box keeps Ctrl+Z for undoing its own typing, as every
    # text box does, while the script editor (whose history is the project's) lets them through.
    own_undo = {"Undo", "Redo"}
    eaten = []
    for text, action in window.actions.items():
        if action.shortcut().isEmpty():
            continue
        for box_name, box in boxes.items():
            if text in own_undo and box is not window.editor:
                continue
            box.setFocus()
            if eaten_by(box, action.shortcut()):
                eaten.append(f"{action.shortcut().toString()} ({text}) in the {box_name} box")
    assert eaten == []
    studio.tab(window, "Voices")  # the voice name box is on the side column's second tab
    # And the export shortcut really exports from the voice-name box (nothing generated yet, so it says so).
    errors = []
    window.errorShown.connect(lambda title, message: errors.append(title))
    studio.type(window.reference.name_edit, "Ann")
    keys = window.actions["Export…"].shortcut()[0]
    qtbot.keyClick(window.reference.name_edit, keys.key(), keys.keyboardModifiers())
    assert errors == ["Nothing to export"] and window.reference.name_edit.text() == "Ann"
    studio.answer(studio.modal(QMessageBox), "OK")


@pytest.mark.slow
@pytest.mark.skipif(not (sys.platform.startswith("linux") and shutil.which("xvfb-run")), reason="needs xvfb-run")
def test_under_x11(tmp_path: Path) -> None:
    env = {**os.environ, "QT_QPA_PLATFORM": "xcb"}
    result = subprocess.run(["xvfb-run", "-a", "-s", "-screen 0 1280x800x24", sys.executable, "-m", "pytest", "-q",
                             "-p", "no:cacheprovider", f"{Path(__file__)}::test_no_shortcut_is_eaten_by_a_text_box"],
                            cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    if "could not load the Qt platform plugin" in result.stderr.lower() + result.stdout.lower():
        pytest.skip(f"Qt's xcb plugin cannot start here: {result.stdout[-300:]}")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert "1 passed" in result.stdout
