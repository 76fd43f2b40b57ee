"""The reference waveform with draggable trim handles and a playhead.

It draws a min/max envelope per pixel column (computed once per clip, so repaints are cheap), shades
what lies outside the trim range, and emits ``trimChanged(start_s, end_s)`` while a handle is dragged.
"""
from __future__ import annotations

import numpy as np
from PySide6.QtCore import QPointF, QRectF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QPainter, QPainterPath, QPen
from PySide6.QtWidgets import QSizePolicy, QWidget

HANDLE_GRAB_PX = 8


class WaveformView(QWidget):
    trimChanged = Signal(float, float)  # noqa: N815 - Qt signal naming

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._audio = np.zeros(0, np.float32)
        self._rate = 24000
        self._trim = (0.0, 0.0)
        self._suggested: tuple[float, float] | None = None
        self._playhead: float | None = None
        self._dragging: str | None = None
        self._envelope: tuple[np.ndarray, np.ndarray] | None = None
        self.setMinimumHeight(90)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMouseTracking(True)
        self.setToolTip("Drag the handles to trim the reference to its best 3–10 seconds.")

    def sizeHint(self) -> QSize:  # noqa: N802
        return QSize(320, 110)

    # ---- data ------------------------------------------------------------------------------
    def set_audio(self, audio: np.ndarray, sample_rate: int) -> None:
        self._audio = np.asarray(audio, dtype=np.float32)
        self._rate = sample_rate
        self._trim = (0.0, self.duration)
        self._envelope = None
        self._playhead = None
        self.update()

    @property
    def duration(self) -> float:
        return len(self._audio) / self._rate if self._rate else 0.0

    @property
    def trim(self) -> tuple[float, float]:
        return self._trim

    def set_trim(self, start: float, end: float) -> None:
        start = min(max(0.0, start), self.duration)
        end = min(max(start, end), self.duration)
        self._trim = (start, end)
        self.trimChanged.emit(start, end)
        self.update()

    def set_suggested(self, window: tuple[float, float] | None) -> None:
        self._suggested = window
        self.update()

    def set_playhead(self, seconds: float | None) -> None:
        self._playhead = seconds
        self.update()

    # ---- geometry --------------------------------------------------------------------------
    def _x(self, seconds: float) -> float:
        return 0.0 if self.duration <= 0 else seconds / self.duration * self.width()

    def _t(self, x: float) -> float:
        return 0.0 if self.width() <= 0 else min(max(x / self.width(), 0.0), 1.0) * self.duration

    def _compute_envelope(self) -> tuple[np.ndarray, np.ndarray]:
        width = max(1, self.width())
        if self._envelope is not None and len(self._envelope[0]) == width:
            return self._envelope
        if not len(self._audio):
            self._envelope = (np.zeros(width), np.zeros(width))
            return self._envelope
        edges = np.linspace(0, len(self._audio), width + 1).astype(int)
        lo = np.zeros(width, np.float32)
        hi = np.zeros(width, np.float32)
        for i in range(width):
            seg = self._audio[edges[i]:max(edges[i + 1], edges[i] + 1)]
            lo[i], hi[i] = seg.min(), seg.max()
        self._envelope = (lo, hi)
        return self._envelope

    # ---- painting --------------------------------------------------------------------------
    def paintEvent(self, event) -> None:  # noqa: N802, ANN001
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        palette = self.palette()
        rect = QRectF(self.rect())
        painter.fillRect(rect, palette.base())
        mid = rect.height() / 2
        painter.setPen(QPen(palette.mid().color(), 1, Qt.PenStyle.DotLine))
        painter.drawLine(QPointF(0, mid), QPointF(rect.width(), mid))
        if not len(self._audio):
            painter.setPen(palette.placeholderText().color())
            painter.drawText(rect, Qt.AlignmentFlag.AlignCenter,
                             "Record or drop a 3–10 s clip of clear speech here")
            return
        if self._suggested:
            s, e = self._suggested
            painter.fillRect(QRectF(self._x(s), 0, self._x(e) - self._x(s), rect.height()), QColor(90, 160, 255, 28))
        lo, hi = self._compute_envelope()
        path = QPainterPath()
        scale = mid * 0.95
        path.moveTo(0, mid - hi[0] * scale)
        for i in range(1, len(hi)):
            path.lineTo(i, mid - hi[i] * scale)
        for i in range(len(lo) - 1, -1, -1):
            path.lineTo(i, mid - lo[i] * scale)
        path.closeSubpath()
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(palette.highlight())
        painter.drawPath(path)
        # Outside the trim range: dimmed.
        start, end = self._trim
        shade = QColor(0, 0, 0, 120)
        painter.fillRect(QRectF(0, 0, self._x(start), rect.height()), shade)
        painter.fillRect(QRectF(self._x(end), 0, rect.width() - self._x(end), rect.height()), shade)
        handle_pen = QPen(QColor("#f2c14e"), 2)
        painter.setPen(handle_pen)
        for t in (start, end):
            x = self._x(t)
            painter.drawLine(QPointF(x, 0), QPointF(x, rect.height()))
            painter.setBrush(QColor("#f2c14e"))
            painter.drawRect(QRectF(x - 4, 0, 8, 10))
        if self._playhead is not None:
            painter.setPen(QPen(QColor("#ffffff"), 1))
            x = self._x(self._playhead)
            painter.drawLine(QPointF(x, 0), QPointF(x, rect.height()))
        painter.setPen(palette.text().color())
        painter.drawText(rect.adjusted(6, 4, -6, -4), Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignTop,
                         f"{start:.2f}–{end:.2f} s of {self.duration:.2f} s")

    def resizeEvent(self, event) -> None:  # noqa: N802, ANN001
        self._envelope = None
        super().resizeEvent(event)

    # ---- dragging the handles --------------------------------------------------------------
    def _handle_at(self, x: float) -> str | None:
        start, end = self._trim
        if abs(x - self._x(start)) <= HANDLE_GRAB_PX:
            return "start"
        if abs(x - self._x(end)) <= HANDLE_GRAB_PX:
            return "end"
        return None

    def mousePressEvent(self, event) -> None:  # noqa: N802, ANN001
        self._dragging = self._handle_at(event.position().x())

    def mouseMoveEvent(self, event) -> None:  # noqa: N802, ANN001
        x = event.position().x()
        if self._dragging is None:
            cursor = Qt.CursorShape.SizeHorCursor if self._handle_at(x) else Qt.CursorShape.ArrowCursor
            self.setCursor(cursor)
            return
        start, end = self._trim
        t = self._t(x)
        if self._dragging == "start":
            self.set_trim(min(t, end - 0.05), end)
        else:
            self.set_trim(start, max(t, start + 0.05))

    def mouseReleaseEvent(self, event) -> None:  # noqa: N802, ANN001
        self._dragging = None
