"""The studio's menus: File (projects), Edit (undo, pronunciations), Voice, Direction, Generate, Tools and Help.

Each entry names the button it presses (so a key and a click do the same thing, and the button's tooltip shows the
key) or the function it runs; :mod:`app.widgets.studio_actions` turns them into the window's actions.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtGui import QAction, QKeySequence

from . import studio_actions

if TYPE_CHECKING:
    from .main_window import MainWindow


def entries(window: "MainWindow") -> list[studio_actions.Entry]:
    """Every menu entry of the window, with its key; buttons are the actions' own (one place for a key)."""
    e, r, d, b, f = studio_actions.Entry, window.reference, window.direction, window.bar, window.files
    undo, redo = undo_actions(window)
    return [
        e("&File", "New project", f.new, QKeySequence.StandardKey.New),
        e("&File", "Open project…", f.open, QKeySequence.StandardKey.Open),
        e("&File", "Open Recent", f.recent_menu),
        e("&File", "Save", lambda: f.save(), QKeySequence.StandardKey.Save),
        e("&File", "Save as…", lambda: f.save_as(), "Ctrl+Shift+S"),
        e("&File"),
        e("&File", "Import script…", f.import_script),
        e("&File", "Export…", lambda: window.exporting.open_export(), "Ctrl+Shift+E"),
        e("&File"),
        e("&File", "Quit", window.close, QKeySequence.StandardKey.Quit),
        e("&Edit", "Undo", undo, QKeySequence.StandardKey.Undo),
        e("&Edit", "Redo", redo, "Ctrl+Shift+Z"),
        e("&Edit"),
        e("&Edit", "Pronunciations…", lambda: window.performing.open_pronunciations(), "Ctrl+Shift+P"),
        e("&Voice", "Record / stop", r.record_button, "Ctrl+R"),
        e("&Voice", "Import clip…", r.import_button, "Ctrl+I"),
        e("&Voice", "Play / stop the clip", r.play_button),
        e("&Voice", "Undo trim or normalize", r.undo_button),
        e("&Voice", "Save voice", r.save_button, "Ctrl+Alt+S"),
        e("&Direction", "Clone", d.mode_buttons["zero_shot"], "Alt+1"),
        e("&Direction", "Cross-lingual", d.mode_buttons["cross_lingual"], "Alt+2"),
        e("&Direction", "Instruct", d.mode_buttons["instruct"], "Alt+3"),
        e("&Direction"),
        e("&Direction", "New seed", d.dice, "Ctrl+D"),
        e("&Generate", "Generate all", b.generate_button, "Ctrl+Return"),
        e("&Generate", "Generate stale lines", b.stale_button),
        e("&Generate", "Generate line", window.lines.generate_button, "Ctrl+Shift+Return"),
        e("&Generate", "Retake failed lines", window.lines.retake_button),
        e("&Generate", "Check takes", window.lines.check_button),
        e("&Generate", "Stop", b.stop_button, "Esc"),
        e("&Generate"),
        e("&Generate", "Play all / stop", b.play_button, "Ctrl+P"),
        e("&Generate", "Play / stop take", window.takes.play_button),
        e("&Generate", "A/B with the take before", window.takes.ab_button, "Ctrl+B"),
        e("&Generate", "A/B on another model…", lambda: window.extras.ab.open()),
        e("&Tools", "Models…", lambda: window.engine_status.open_model_manager(), "Ctrl+M"),
        e("&Tools", "Settings…", window.open_settings, "Ctrl+,"),
        e("&Tools", "Speech server", window.extras.server.panel.switch),
        e("&Help", "Keyboard shortcuts", window.show_shortcuts, "F1"),
    ]


def undo_actions(window: "MainWindow") -> tuple[QAction, QAction]:
    """Edit ▸ Undo / Redo: typing that waits for its debounce is first made a step of its own."""
    stack = window.document.undo
    undo, redo = QAction("Undo", window), QAction("Redo", window)
    undo.triggered.connect(lambda: window.script_sync.undo())
    redo.triggered.connect(lambda: window.script_sync.redo())
    for action, signal in ((undo, stack.undoTextChanged), (redo, stack.redoTextChanged)):
        label = action.text()
        signal.connect(lambda t, a=action, w=label: a.setToolTip(f"{w} {t.lower()}" if t else w))
        action.setEnabled(True)  # typing not yet a step can always be undone; a no-op otherwise
    return undo, redo
