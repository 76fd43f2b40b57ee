"""The transport at the bottom: generate (every line that needs a take, or only the stale ones), stop, play the
whole narration, export, progress across the lines, and the live numbers (first-audio latency, real-time factor,
buffer)."""
from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QProgressBar, QPushButton, QWidget


class PlaybackBar(QFrame):
    generateAllRequested = Signal()  # noqa: N815
    generateStaleRequested = Signal()  # noqa: N815
    stopRequested = Signal()  # noqa: N815
    playRequested = Signal()  # noqa: N815
    exportRequested = Signal()  # noqa: N815

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("playbackBar")
        self._playing = False
        # No shortcuts here: the window's menu actions own them and add them to the tooltips.
        self.generate_button = QPushButton("⚡ Generate all")
        self.generate_button.setObjectName("primaryButton")
        self.generate_button.setToolTip("Generate every line that has no take or a stale one (every line again when "
                                        "all are ready)")
        self.generate_button.clicked.connect(lambda: self.generateAllRequested.emit())
        self.stale_button = QPushButton("Stale only")
        self.stale_button.setToolTip("Generate only the lines whose take is stale (made with another voice, text or "
                                     "direction)")
        self.stale_button.clicked.connect(lambda: self.generateStaleRequested.emit())
        self.stop_button = QPushButton("■ Stop")
        self.stop_button.setToolTip("Stop generating and playing at once")
        self.stop_button.clicked.connect(lambda: self.stopRequested.emit())
        self.play_button = QPushButton("▶ Play all")
        self.play_button.setToolTip("Play the chosen takes of every line, with the export's pauses (Stop while it "
                                    "plays)")
        self.play_button.clicked.connect(lambda: self._play_or_stop())
        self.progress = QProgressBar()
        self.progress.setTextVisible(True)
        self.progress.setMinimumWidth(110)
        self.set_progress(0, 0)
        self.latency_label = QLabel("first audio —")
        self.rtf_label = QLabel("RTF —")
        self.buffer_label = QLabel("buffer —")
        for label in (self.latency_label, self.rtf_label, self.buffer_label):
            label.setObjectName("metricLabel")
        self.latency_label.setToolTip("Time from Generate to the first sound")
        self.rtf_label.setToolTip("Real-time factor: seconds of computing per second of speech (under 1: faster "
                                  "than it plays)")
        self.buffer_label.setToolTip("Audio generated but not played yet")
        self.export_button = QPushButton("Export…")
        self.export_button.setToolTip("Write the narration as WAV, FLAC, MP3, Opus or M4B, with chapters, subtitles and "
                                      "mastering (also in the File menu)")
        self.export_button.clicked.connect(lambda: self.exportRequested.emit())

        layout = QHBoxLayout(self)
        layout.setContentsMargins(10, 6, 10, 6)
        layout.setSpacing(6)
        for widget in (self.generate_button, self.stale_button, self.stop_button, self.play_button):
            layout.addWidget(widget)
        layout.addSpacing(8)
        layout.addWidget(self.progress, 1)
        layout.addSpacing(8)
        for widget in (self.latency_label, self.rtf_label, self.buffer_label):
            layout.addWidget(widget)
        layout.addSpacing(8)
        layout.addWidget(self.export_button)
        self.set_busy(False)

    def set_busy(self, busy: bool) -> None:
        self.generate_button.setEnabled(not busy)
        self.stale_button.setEnabled(not busy)
        self.stop_button.setEnabled(True)

    def _play_or_stop(self) -> None:
        (self.stopRequested if self._playing else self.playRequested).emit()

    def set_playing(self, playing: bool) -> None:
        """The narration is playing (Play becomes Stop) or not."""
        self._playing = playing
        self.play_button.setText("■ Stop" if playing else "▶ Play all")

    def set_progress(self, done: int, total: int) -> None:
        if total <= 0:
            self.progress.setRange(0, 1)
            self.progress.setValue(0)
            self.progress.setFormat("No lines yet")
            return
        self.progress.setFormat("%v / %m lines ready")
        self.progress.setRange(0, total)
        self.progress.setValue(done)

    def set_metrics(self, first_audio_s: float | None, rtf: float | None, buffer_s: float | None) -> None:
        if first_audio_s is not None:
            self.latency_label.setText(f"first audio {first_audio_s * 1000:.0f} ms")
        if rtf is not None:
            self.rtf_label.setText(f"RTF {rtf:.2f}")
        if buffer_s is not None:
            self.buffer_label.setText(f"buffer {buffer_s:.1f} s")

    def clear_buffer(self) -> None:
        """Nothing is queued for playback any more (stopped or played out)."""
        self.buffer_label.setText("buffer —")
