"""The Qt binding the studio runs on keeps Python's reference counts: PySide6 6.12.0 returned None without a
reference from every Qt call that returns nothing, so on Python 3.10/3.11 (where None is not immortal) the studio
aborted with "deallocating None" a few thousand calls in: a few seconds of a moving playhead (pyproject.toml
keeps that version out)."""
from __future__ import annotations

import sys

from PySide6.QtGui import QPainterPath
from PySide6.QtWidgets import QLabel


def test_qt_calls_that_return_nothing_keep_none_alive(qapp) -> None:
    label, path = QLabel(), QPainterPath()
    before = sys.getrefcount(None)
    for _ in range(1000):
        label.setText("x")
        path.lineTo(1.0, 2.0)
    assert sys.getrefcount(None) - before > -100  # unchanged give or take what the loop itself holds
