"""Perform a line: record (or import) your own reading of it, then turn it into the speaker's voice.

The conversion keeps the reading's timing, pauses and emphasis and replaces the voice (the engine's voice
conversion: flow and vocoder, no language model), so a line can sound exactly as the creator performs it. The
dialog only gathers the reading (at most 30 s, the speech tokenizer's limit); ``performed(Clip)`` hands it
to the window, whose engine thread converts it into a take like any other.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import QDialog, QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from engine import TimbreError

from .. import engine_bridge as bridge
from ..clips import Clip
from ..audio.recorder import MAX_SECONDS, Recorder
from .file_dialogs import FileDialogs, FileKind
from .level_meter import LevelMeter
from .waveform_view import WaveformView

RECORD_RATE = 24000
AUDIO_FILTER = "Audio (*.wav *.flac *.ogg *.mp3 *.aiff *.aif);;All files (*)"


class PerformDialog(QDialog):
    performed = Signal(object)  # the reading, a Clip
    errorRaised = Signal(str, str)  # noqa: N815

    def __init__(self, line_text: str, speaker: str, voice: str, input_device: int | None,
                 dialogs: FileDialogs, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(f"Perform a line as {speaker}")
        self.setMinimumWidth(520)
        self.dialogs, self.input_device = dialogs, input_device
        self.audio, self.sample_rate = np.zeros(0, np.float32), RECORD_RATE
        self._recorder: Recorder | None = None
        self._timer = QTimer(self)
        self._timer.setInterval(33)
        self._timer.timeout.connect(self._poll)
        line = QLabel(f"Read this line the way {speaker} should say it:<br><b>{_escape(line_text)}</b>")
        line.setTextFormat(Qt.TextFormat.RichText)
        line.setWordWrap(True)
        self.record_button = QPushButton("● Record")
        self.record_button.setObjectName("recordButton")
        self.record_button.setCheckable(True)
        self.record_button.toggled.connect(self._toggle)
        self.import_button = QPushButton("Import…")
        self.import_button.clicked.connect(lambda: self.dialogs.open_file(
            self, FileKind.REFERENCE, "Import your reading", AUDIO_FILTER, self.import_file))
        self.meter = LevelMeter()
        self.time_label = QLabel(f"0.0 / {MAX_SECONDS:.0f} s")
        self.time_label.setObjectName("dimLabel")
        self.waveform = WaveformView(editable=False, placeholder="Your reading")
        self.waveform.setMinimumHeight(70)
        self.convert_button = QPushButton(f"Use it in {voice}'s voice")
        self.convert_button.setObjectName("primaryButton")
        self.convert_button.setToolTip("Turn the reading into a take of this line in the speaker's voice")
        self.convert_button.clicked.connect(self._convert)
        cancel = QPushButton("Cancel")
        cancel.clicked.connect(self.reject)
        top = QHBoxLayout()
        top.addWidget(self.record_button)
        top.addWidget(self.import_button)
        top.addWidget(self.meter, 1)
        top.addWidget(self.time_label)
        bottom = QHBoxLayout()
        bottom.addStretch(1)
        bottom.addWidget(self.convert_button)
        bottom.addWidget(cancel)
        layout = QVBoxLayout(self)
        layout.addWidget(line)
        layout.addLayout(top)
        layout.addWidget(self.waveform, 1)
        layout.addLayout(bottom)
        self._update_enabled()

    # ---- the reading -------------------------------------------------------------------------------
    def set_audio(self, audio: np.ndarray, sample_rate: int) -> None:
        self.audio = np.asarray(audio, dtype=np.float32).reshape(-1) if np.ndim(audio) == 1 else \
            np.asarray(audio, dtype=np.float32).mean(axis=1)
        self.sample_rate = int(sample_rate)
        self.waveform.set_audio(self.audio, self.sample_rate)
        self.time_label.setText(f"{len(self.audio) / self.sample_rate:.1f} s")
        self._update_enabled()

    def import_file(self, path: Path) -> bool:
        try:
            audio, rate = bridge.load_audio(path)
        except TimbreError as error:
            self.errorRaised.emit("Cannot import the reading", str(error))
            return False
        if len(audio) > MAX_SECONDS * rate:
            self.errorRaised.emit("The reading is too long", f"A performed line is at most {MAX_SECONDS:.0f} s; "
                                  f"this file is {len(audio) / rate:.1f} s. Cut it to the line and import it again.")
            return False
        self.set_audio(audio, rate)
        return True

    def _toggle(self, on: bool) -> None:
        if on:
            self._recorder = Recorder(RECORD_RATE, self.input_device)
            try:
                self._recorder.start()
            except TimbreError as error:
                self._recorder = None
                self.record_button.setChecked(False)
                self.errorRaised.emit("Cannot record", str(error))
                return
            self.record_button.setText("■ Stop")
            self._timer.start()
        else:
            self.stop_recording()
        self._update_enabled()

    def stop_recording(self) -> None:
        recorder, self._recorder = self._recorder, None
        self._timer.stop()
        self.record_button.blockSignals(True)
        self.record_button.setChecked(False)
        self.record_button.blockSignals(False)
        self.record_button.setText("● Record")
        if recorder is not None:
            audio = recorder.stop()
            self.meter.reset()
            if len(audio):
                self.set_audio(audio, recorder.sample_rate)
        self._update_enabled()

    def _poll(self) -> None:
        if self._recorder is None:
            return
        peak, rms = self._recorder.drain()
        self.meter.set_level(peak, rms)
        self.time_label.setText(f"{self._recorder.seconds:.1f} / {MAX_SECONDS:.0f} s")
        if self._recorder.full:
            self.stop_recording()

    def _update_enabled(self) -> None:
        recording = self._recorder is not None
        self.import_button.setEnabled(not recording)
        self.convert_button.setEnabled(bool(len(self.audio)) and not recording)

    def _convert(self) -> None:
        self.performed.emit(Clip(self.audio, self.sample_rate))
        self.accept()

    def done(self, code: int) -> None:
        if self._recorder is not None:
            self.stop_recording()
        super().done(code)


def _escape(text: str) -> str:
    from html import escape

    return escape(text, quote=False)
