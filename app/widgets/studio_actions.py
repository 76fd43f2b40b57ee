"""The studio's menus and keyboard shortcuts, defined once.

Every shortcut belongs to a menu action (so the menus show it), never to a button as well: two owners of one key
make Qt call it ambiguous and neither fires, and a button's ``setText`` replaces its shortcut with the new text's
mnemonic (which is how Ctrl+R used to record only once). An action that stands for a button clicks that button,
so a disabled button stays disabled from the keyboard too, and the button's tooltip gets the key.
Export is Ctrl+Shift+E: on X11 every line edit and spin box takes Ctrl+E for "end of line".
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QAbstractButton, QMainWindow, QMenu

Shortcut = str | QKeySequence.StandardKey | None


@dataclass(frozen=True)
class Entry:
    menu: str  # "&File"; "" for a separator
    text: str = ""
    run: Callable[[], object] | QAbstractButton | QMenu | QAction | None = None  # a button: the action clicks it
    shortcut: Shortcut = None


def install(window: QMainWindow, entries: list[Entry]) -> dict[str, QAction]:
    """Build the menus from ``entries`` (in order); returns the actions by their text."""
    menus: dict[str, QMenu] = {}
    actions: dict[str, QAction] = {}
    for entry in entries:
        menu = menus.get(entry.menu) or menus.setdefault(entry.menu, window.menuBar().addMenu(entry.menu))
        if not entry.text:
            menu.addSeparator()
            continue
        if isinstance(entry.run, QMenu):  # a submenu (File ▸ Open Recent)
            menu.addMenu(entry.run)
            continue
        action = entry.run if isinstance(entry.run, QAction) else QAction(entry.text, window)
        if entry.shortcut is not None:
            action.setShortcut(QKeySequence(entry.shortcut))
        if isinstance(entry.run, QAbstractButton):
            button = entry.run
            action.triggered.connect(lambda _=False, b=button: b.click())
            if entry.shortcut is not None:
                keys = action.shortcut().toString(QKeySequence.SequenceFormat.NativeText)
                button.setToolTip(f"{button.toolTip()} — {keys}" if button.toolTip() else keys)
        elif entry.run is not None and not isinstance(entry.run, QAction):
            run = entry.run
            action.triggered.connect(lambda _=False, r=run: r())
        menu.addAction(action)
        actions[entry.text] = action
    return actions


def shortcut_lines(actions: dict[str, QAction]) -> list[str]:
    """"Ctrl+Return  Generate all" for every action that has a key (the F1 help)."""
    lines = []
    for text, action in actions.items():
        keys = action.shortcut().toString(QKeySequence.SequenceFormat.NativeText)
        if keys:
            lines.append(f"{keys}\t{text.rstrip('…')}")
    return lines
