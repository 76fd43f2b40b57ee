"""A horizontal input level meter (RMS bar with a peak-hold tick), in dBFS."""
from __future__ import annotations

import math

from PySide6.QtCore import QRectF, QSize, Qt
from PySide6.QtGui import QColor, QPainter
from PySide6.QtWidgets import QSizePolicy, QWidget

FLOOR_DB = -60.0


def to_db(value: float) -> float:
    return FLOOR_DB if value <= 1e-6 else max(FLOOR_DB, 20.0 * math.log10(value))


class LevelMeter(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._rms_db = FLOOR_DB
        self._peak_db = FLOOR_DB
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.setToolTip("Input level. Aim for peaks around -12 dBFS; red means clipping.")

    def sizeHint(self) -> QSize:  # noqa: N802 - Qt API
        return QSize(160, 12)

    def set_level(self, peak: float, rms: float) -> None:
        self._rms_db = to_db(rms)
        # Peak hold with a slow fall so short peaks stay visible.
        self._peak_db = max(to_db(peak), self._peak_db - 1.5)
        self.update()

    def reset(self) -> None:
        self._rms_db = self._peak_db = FLOOR_DB
        self.update()

    @property
    def peak_db(self) -> float:
        return self._peak_db

    def paintEvent(self, event) -> None:  # noqa: N802, ANN001 - Qt API
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        rect = QRectF(self.rect()).adjusted(0.5, 0.5, -0.5, -0.5)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(self.palette().base())
        painter.drawRoundedRect(rect, 3, 3)
        frac = (self._rms_db - FLOOR_DB) / -FLOOR_DB
        color = QColor("#3fb68b") if self._peak_db < -6 else QColor("#e0b341") if self._peak_db < -1 else QColor("#e5534b")
        painter.setBrush(color)
        painter.drawRoundedRect(QRectF(rect.x(), rect.y(), rect.width() * frac, rect.height()), 3, 3)
        peak_x = rect.x() + rect.width() * (self._peak_db - FLOOR_DB) / -FLOOR_DB
        painter.setPen(QColor("#f0f0f0"))
        painter.drawLine(int(peak_x), int(rect.top()), int(peak_x), int(rect.bottom()))
