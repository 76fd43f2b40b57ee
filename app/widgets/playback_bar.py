"""The transport at the bottom: generate, stop, play, export, progress across the narration,
and the live numbers (first-audio latency, real-time factor, buffer)."""
from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QProgressBar, QPushButton, QWidget


class PlaybackBar(QFrame):
    generateAllRequested = Signal()  # noqa: N815
    stopRequested = Signal()  # noqa: N815
    playRequested = Signal()  # noqa: N815
    exportNarrationRequested = Signal()  # noqa: N815
    exportSentenceRequested = Signal()  # noqa: N815

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("playbackBar")
        self.generate_button = QPushButton("⚡ Generate all")
        self.generate_button.setObjectName("primaryButton")
        self.generate_button.setShortcut(QKeySequence("Ctrl+Return"))
        self.generate_button.setToolTip("Generate every sentence that has no take yet, streaming — Ctrl+Enter")
        self.generate_button.clicked.connect(self.generateAllRequested)
        self.stop_button = QPushButton("■ Stop")
        self.stop_button.setShortcut(QKeySequence("Esc"))
        self.stop_button.setToolTip("Stop generating and playing at once — Esc")
        self.stop_button.clicked.connect(self.stopRequested)
        self.play_button = QPushButton("▶ Play narration")
        self.play_button.setShortcut(QKeySequence("Ctrl+P"))
        self.play_button.setToolTip("Play the chosen takes of all sentences — Ctrl+P")
        self.play_button.clicked.connect(self.playRequested)
        self.progress = QProgressBar()
        self.progress.setTextVisible(True)
        self.progress.setFormat("%v / %m sentences")
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.progress.setMinimumWidth(180)
        self.latency_label = QLabel("first audio —")
        self.rtf_label = QLabel("RTF —")
        self.buffer_label = QLabel("buffer —")
        for label in (self.latency_label, self.rtf_label, self.buffer_label):
            label.setObjectName("metricLabel")
        self.export_button = QPushButton("Export narration…")
        self.export_button.setShortcut(QKeySequence("Ctrl+E"))
        self.export_button.setToolTip("Write the chosen takes as one WAV — Ctrl+E")
        self.export_button.clicked.connect(self.exportNarrationRequested)
        self.export_sentence_button = QPushButton("Export sentence…")
        self.export_sentence_button.setToolTip("Write the selected sentence's take as a WAV")
        self.export_sentence_button.clicked.connect(self.exportSentenceRequested)

        layout = QHBoxLayout(self)
        layout.setContentsMargins(10, 6, 10, 6)
        layout.setSpacing(8)
        layout.addWidget(self.generate_button)
        layout.addWidget(self.stop_button)
        layout.addWidget(self.play_button)
        layout.addSpacing(12)
        layout.addWidget(self.progress, 1)
        layout.addSpacing(12)
        layout.addWidget(self.latency_label)
        layout.addWidget(self.rtf_label)
        layout.addWidget(self.buffer_label)
        layout.addSpacing(12)
        layout.addWidget(self.export_sentence_button)
        layout.addWidget(self.export_button)
        self.set_busy(False)

    def set_busy(self, busy: bool) -> None:
        self.generate_button.setEnabled(not busy)
        self.stop_button.setEnabled(True)

    def set_progress(self, done: int, total: int) -> None:
        self.progress.setRange(0, max(1, total))
        self.progress.setValue(done)

    def set_metrics(self, first_audio_s: float | None, rtf: float | None, buffer_s: float | None) -> None:
        if first_audio_s is not None:
            self.latency_label.setText(f"first audio {first_audio_s * 1000:.0f} ms")
        if rtf is not None:
            self.rtf_label.setText(f"RTF {rtf:.2f}")
        if buffer_s is not None:
            self.buffer_label.setText(f"buffer {buffer_s:.1f} s")
