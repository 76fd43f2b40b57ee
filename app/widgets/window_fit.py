"""The window on its screen: a first size that fits the screen, and a window that never leaves it (issue 13, bug 1:
the window used to open at 1400x860 whatever the screen and grow off a 1280x800 one)."""
from __future__ import annotations

from PySide6.QtCore import QRect, QSize
from PySide6.QtWidgets import QApplication, QWidget

FIRST_SIZE = QSize(1400, 860)  # on a screen that has room for it; otherwise most of the screen
SCREEN_SHARE = 0.94  # of the available screen the first window may take


def available(window: QWidget) -> QRect:
    screen = window.screen() or QApplication.primaryScreen()
    return screen.availableGeometry()


def first_size(window: QWidget) -> QSize:
    area = available(window)
    return QSize(min(FIRST_SIZE.width(), int(area.width() * SCREEN_SHARE)),
                 min(FIRST_SIZE.height(), int(area.height() * SCREEN_SHARE)))


def fit_to_screen(window: QWidget) -> None:
    """Keep the whole window on its screen: no larger than the available area, and inside it."""
    area = available(window)
    frame = window.frameGeometry()
    extra = QSize(frame.width() - window.width(), frame.height() - window.height())
    size = window.size().boundedTo(QSize(area.width() - extra.width(), area.height() - extra.height()))
    window.resize(size.expandedTo(window.minimumSizeHint().boundedTo(size)))
    frame = window.frameGeometry()
    x = min(max(frame.x(), area.left()), area.right() + 1 - frame.width())
    y = min(max(frame.y(), area.top()), area.bottom() + 1 - frame.height())
    window.move(max(x, area.left()), max(y, area.top()))
