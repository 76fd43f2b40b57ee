"""The reference waveform with draggable trim handles and a playhead.

It draws a min/max envelope per pixel column (computed once per clip, so repaints are cheap), shades
what lies outside the trim range, and emits ``trimChanged(start_s, end_s)`` while a handle is dragged.
"""
from __future__ import annotations

import numpy as np
from PySide6.QtCore import QPointF, QRectF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QPainter, QPen, QPolygonF
from PySide6.QtWidgets import QSizePolicy, QWidget

HANDLE_GRAB_PX = 8


class WaveformView(QWidget):
    trimChanged = Signal(float, float)  # noqa: N815 - Qt signal naming

    def __init__(self, editable: bool = True, placeholder: str = "", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.editable = editable  # trim handles (the reference) or a plain view with a playhead (a take)
        self.placeholder = placeholder
        self._audio = np.zeros(0, np.float32)
        self._rate = 24000
        self._trim = (0.0, 0.0)
        self._suggested: tuple[float, float] | None = None
        self._playhead: float | None = None
        self._dragging: str | None = None
        self._envelope: tuple[np.ndarray, np.ndarray] | None = None
        self._polygon: tuple[tuple[int, int], QPolygonF] | None = None
        self.setMinimumHeight(90 if editable else 40)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMouseTracking(editable)
        if editable:
            self.setToolTip("Drag the handles to trim the reference to its best 3–10 seconds.")

    def sizeHint(self) -> QSize:  # noqa: N802
        return QSize(320, 110)

    # ---- data ------------------------------------------------------------------------------
    def set_audio(self, audio: np.ndarray, sample_rate: int) -> None:
        self._audio = np.asarray(audio, dtype=np.float32)
        self._rate = sample_rate
        self._trim = (0.0, self.duration)
        self._envelope = None
        self._polygon = None
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
        """Where playback is, in seconds of this clip (None: not playing)."""
        if seconds != self._playhead:
            self._playhead = seconds
            self.update()

    @property
    def playhead(self) -> float | None:
        return self._playhead

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
        # Column i covers samples [starts[i], starts[i + 1]) (at least one sample when the clip is short).
        starts = np.minimum(np.linspace(0, len(self._audio), width + 1).astype(int)[:-1], len(self._audio) - 1)
        self._envelope = (np.minimum.reduceat(self._audio, starts), np.maximum.reduceat(self._audio, starts))
        return self._envelope

    def _outline(self) -> QPolygonF:
        """The envelope as one closed polygon (top edge left to right, bottom edge back), made once per size:
        a repaint (25 a second while the playhead moves) then draws it in one call."""
        lo, hi = self._compute_envelope()
        key = (len(lo), self.height())
        if self._polygon is None or self._polygon[0] != key:
            mid = self.height() / 2
            scale = mid * 0.95
            xs = np.arange(len(hi), dtype=np.float64)
            ys = np.concatenate([mid - hi * scale, (mid - lo * scale)[::-1]])
            points = [QPointF(x, y) for x, y in zip(np.concatenate([xs, xs[::-1]]).tolist(), ys.tolist())]
            self._polygon = (key, QPolygonF(points))
        return self._polygon[1]

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
            painter.drawText(rect, Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap, self.placeholder)
            return
        if self._suggested:
            s, e = self._suggested
            painter.fillRect(QRectF(self._x(s), 0, self._x(e) - self._x(s), rect.height()), QColor(90, 160, 255, 28))
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(palette.highlight())
        painter.drawPolygon(self._outline())
        if self._playhead is not None:
            painter.setPen(QPen(palette.text().color(), 1.5))
            x = self._x(self._playhead)
            painter.drawLine(QPointF(x, 0), QPointF(x, rect.height()))
        if not self.editable:
            painter.setPen(palette.text().color())
            painter.drawText(rect.adjusted(6, 2, -6, -2), Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignTop,
                             f"{self.duration:.1f} s")
            return
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
        painter.setPen(palette.text().color())
        # Centred between the handles' grips (in the right corner it sat on the end handle of an untrimmed clip).
        painter.drawText(rect.adjusted(14, 4, -14, -4), Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignTop,
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
        self._dragging = self._handle_at(event.position().x()) if self.editable else None

    def mouseMoveEvent(self, event) -> None:  # noqa: N802, ANN001
        x = event.position().x()
        if self._dragging is None:
            if self.editable:
                self.setCursor(Qt.CursorShape.SizeHorCursor if self._handle_at(x) else Qt.CursorShape.ArrowCursor)
            return
        start, end = self._trim
        t = self._t(x)
        if self._dragging == "start":
            self.set_trim(min(t, end - 0.05), end)
        else:
            self.set_trim(start, max(t, start + 0.05))

    def mouseReleaseEvent(self, event) -> None:  # noqa: N802, ANN001
        self._dragging = None
