"""Reference voice: record or import a clip, see and trim it (with undo), hear it, read the analysis, type
what is said, and save it as a named voice.

A new clip (recorded, imported or dropped) starts a new voice: the transcript and name of the previous one are
cleared, so a clip is never saved with another clip's words. Trim and normalize are edits of the same clip and
can be undone."""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import (
    QComboBox, QGroupBox, QHBoxLayout, QLabel, QLineEdit, QPlainTextEdit, QPushButton,
    QSizePolicy, QVBoxLayout, QWidget,
)

from engine import TimbreError

from .. import engine_bridge as bridge
from ..clips import Clip, VoiceRequest
from ..audio import devices
from ..audio.recorder import MAX_SECONDS, Recorder
from .file_dialogs import FileDialogs, FileKind
from .level_meter import LevelMeter
from .waveform_view import WaveformView

log = logging.getLogger(__name__)
AUDIO_FILTER = "Audio (*.wav *.flac *.ogg *.mp3 *.aiff *.aif);;All files (*)"
RECORD_RATE = 24000
LIVE_WAVEFORM_EVERY = 3  # recorder polls (33 ms each) between redraws of the live waveform
DROP_HINT = "Record or drop a 3–10 s clip of clear speech here"
NO_CLIP_TEXT = "No reference yet. Record 3–10 seconds of clear speech, or import a clip."


class ReferencePanel(QGroupBox):
    playRequested = Signal(object)  # Clip  # noqa: N815
    stopRequested = Signal()  # noqa: N815
    saveVoiceRequested = Signal(object)  # VoiceRequest  # noqa: N815
    errorRaised = Signal(str, str)  # title, message  # noqa: N815
    referenceChanged = Signal()  # noqa: N815

    def __init__(self, dialogs: FileDialogs | None = None, parent: QWidget | None = None) -> None:
        super().__init__("Reference voice", parent)
        self.setAcceptDrops(True)
        self.dialogs = dialogs or FileDialogs({})
        self.audio = np.zeros(0, np.float32)
        self.sample_rate = RECORD_RATE
        self.source_name = ""
        self.report: bridge.ReferenceReport | None = None
        self._history: list[tuple[np.ndarray, tuple[float, float]]] = []  # edits to undo: (audio, trim) before
        self._playing = False
        self._polls = 0
        self._recorder: Recorder | None = None
        self._timer = QTimer(self)
        self._timer.setInterval(33)
        self._timer.timeout.connect(self._poll_recorder)

        self.input_combo = QComboBox()
        self.input_combo.setToolTip("Microphone to record from")
        self.input_combo.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        # A long device name must not widen the column: the box shrinks and the popup shows the whole name.
        self.input_combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.input_combo.setMinimumContentsLength(8)
        # No shortcuts on these buttons: the window's menu actions own them (a button's setText would drop its
        # shortcut), and the actions add the keys to the tooltips.
        self.record_button = QPushButton("● Record")
        self.record_button.setObjectName("recordButton")
        self.record_button.setCheckable(True)
        self.record_button.setToolTip(f"Record from the microphone (stops by itself at {MAX_SECONDS:.0f} s)")
        self.record_button.toggled.connect(self._toggle_record)
        self.import_button = QPushButton("Import…")
        self.import_button.setToolTip("Open an audio file (or drop one here)")
        self.import_button.clicked.connect(lambda: self.choose_file())
        self.meter = LevelMeter()
        self.time_label = QLabel(f"0.0 / {MAX_SECONDS:.0f} s")
        self.time_label.setObjectName("dimLabel")

        self.waveform = WaveformView(placeholder=DROP_HINT)
        self.play_button = QPushButton("▶ Play")
        self.play_button.setToolTip("Play the trimmed reference (Stop while it plays)")
        self.play_button.clicked.connect(lambda: self._play_or_stop())
        self.suggest_button = QPushButton("Suggest")
        self.suggest_button.setToolTip("Set the trim handles to the window the analysis suggests")
        self.suggest_button.clicked.connect(lambda: self._use_suggestion())
        self.trim_button = QPushButton("Trim")
        self.trim_button.setToolTip("Cut the clip to the trim handles (Undo brings it back)")
        self.trim_button.clicked.connect(lambda: self.apply_trim())
        self.normalize_button = QPushButton("Normalize")
        self.normalize_button.setToolTip("Bring the level to -20 dBFS RMS, peaks kept under -1 dBFS (Undo brings "
                                         "the original back)")
        self.normalize_button.clicked.connect(lambda: self.normalize())
        self.undo_button = QPushButton("Undo")
        self.undo_button.setToolTip("Undo the last trim or normalize")
        self.undo_button.clicked.connect(lambda: self.undo())

        self.analysis_label = QLabel(NO_CLIP_TEXT)
        self.analysis_label.setWordWrap(True)
        self.analysis_label.setTextFormat(Qt.TextFormat.RichText)
        self.analysis_label.setObjectName("analysisLabel")
        self.analysis_label.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Minimum)

        self.transcript = QPlainTextEdit()
        self.transcript.setPlaceholderText("Transcript: exactly what is said in the clip (needed for Clone mode)")
        self.transcript.setMaximumHeight(70)
        self.transcript.setTabChangesFocus(True)  # Tab moves on; a transcript needs no tab characters
        self.name_edit = QLineEdit()
        self.name_edit.setPlaceholderText("Voice name")
        self.save_button = QPushButton("Save voice")
        self.save_button.setObjectName("primaryButton")
        self.save_button.setToolTip("Analyse the reference with the model and add it to the library")
        self.save_button.clicked.connect(lambda: self._save())

        row1 = QHBoxLayout()
        row1.setSpacing(4)
        row1.addWidget(self.input_combo, 1)
        row1.addWidget(self.record_button)
        row1.addWidget(self.import_button)
        row2 = QHBoxLayout()
        row2.addWidget(self.meter, 1)
        row2.addWidget(self.time_label)
        row3 = QHBoxLayout()
        row3.setSpacing(4)
        for b in (self.play_button, self.suggest_button, self.trim_button, self.normalize_button, self.undo_button):
            b.setObjectName("compactButton")
            row3.addWidget(b)
        row4 = QHBoxLayout()
        row4.addWidget(self.name_edit, 1)
        row4.addWidget(self.save_button)
        layout = QVBoxLayout(self)
        layout.setSpacing(8)
        layout.addLayout(row1)
        layout.addLayout(row2)
        layout.addWidget(self.waveform, 1)
        layout.addLayout(row3)
        layout.addWidget(self.analysis_label)
        layout.addWidget(self.transcript)
        layout.addLayout(row4)
        self.refresh_devices()
        self._update_enabled()

    # ---- devices ---------------------------------------------------------------------------
    def refresh_devices(self, preferred: str | None = None) -> None:
        self.input_combo.clear()
        self.input_combo.addItem("System default microphone", None)
        for device in devices.list_devices("input"):
            self.input_combo.addItem(device.name, device.name)
        if preferred:
            i = self.input_combo.findData(preferred)
            if i >= 0:
                self.input_combo.setCurrentIndex(i)

    @property
    def input_device_name(self) -> str | None:
        return self.input_combo.currentData()

    # ---- recording -------------------------------------------------------------------------
    def _toggle_record(self, on: bool) -> None:
        if on:
            self.start_recording()
        else:
            self.stop_recording()

    def start_recording(self) -> None:
        self.stopRequested.emit()
        self._recorder = Recorder(RECORD_RATE, devices.resolve(self.input_device_name, "input"))
        try:
            self._recorder.start()
        except TimbreError as error:
            self._recorder = None
            self.record_button.setChecked(False)
            self.errorRaised.emit("Cannot record", str(error))
            return
        self.record_button.setText("■ Stop")
        self.meter.reset()
        # The screen shows the recording, not the previous clip (which comes back if nothing is recorded).
        self.waveform.set_audio(np.zeros(0, np.float32), RECORD_RATE)
        self.waveform.placeholder = "Recording… speak now"
        self.analysis_label.setText("Recording… speak 3–10 seconds of clear speech, then press Stop.")
        self._polls = 0
        self._update_enabled()
        self._timer.start()

    def stop_recording(self) -> None:
        recorder, self._recorder = self._recorder, None
        self._timer.stop()
        self.record_button.blockSignals(True)
        self.record_button.setChecked(False)
        self.record_button.blockSignals(False)
        self.record_button.setText("● Record")
        if recorder is None:
            return
        audio = recorder.stop()
        self.meter.reset()
        self.waveform.placeholder = DROP_HINT
        if len(audio):
            self.set_audio(audio, recorder.sample_rate, "microphone recording")
        else:
            self._show_clip()

    @property
    def is_recording(self) -> bool:
        return self._recorder is not None

    def _poll_recorder(self) -> None:
        if self._recorder is None:
            return
        peak, rms = self._recorder.drain()
        self.meter.set_level(peak, rms)
        self.time_label.setText(f"{self._recorder.seconds:.1f} / {MAX_SECONDS:.0f} s")
        self._polls += 1
        if self._polls % LIVE_WAVEFORM_EVERY == 0:
            self.waveform.set_audio(self._recorder.audio(), self._recorder.sample_rate)
        if self._recorder.full:
            self.stop_recording()

    # ---- importing -------------------------------------------------------------------------
    def choose_file(self) -> None:
        self.dialogs.open_file(self, FileKind.REFERENCE, "Import a reference clip", AUDIO_FILTER, self.import_file)

    def import_file(self, path: Path) -> bool:
        try:
            audio, rate = bridge.load_audio(path)
        except TimbreError as error:
            self.errorRaised.emit("Cannot import the clip", str(error))
            return False
        self.set_audio(audio, rate, Path(path).name)
        self.name_edit.setText(Path(path).stem.replace("_", " ").title()[:40])
        return True

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802
        for url in event.mimeData().urls():
            if url.isLocalFile():
                self.import_file(Path(url.toLocalFile()))
                event.acceptProposedAction()
                return

    # ---- editing ---------------------------------------------------------------------------
    def set_audio(self, audio: np.ndarray, sample_rate: int, source: str) -> None:
        """A new clip: a new voice to be, so the previous transcript, name and edit history go."""
        self.transcript.clear()
        self.name_edit.clear()
        self._history.clear()
        self.source_name = source
        self._set_clip(audio, sample_rate)

    def _set_clip(self, audio: np.ndarray, sample_rate: int, trim: tuple[float, float] | None = None) -> None:
        self.audio = np.asarray(audio, dtype=np.float32).reshape(-1)
        self.sample_rate = int(sample_rate)
        self._show_clip()
        if trim is not None:
            self.waveform.set_trim(*trim)
        self.analyse()
        self._update_enabled()
        self.referenceChanged.emit()

    def _show_clip(self) -> None:
        self.waveform.set_audio(self.audio, self.sample_rate)
        self.time_label.setText(f"{len(self.audio) / self.sample_rate:.1f} s" if len(self.audio) else
                                f"0.0 / {MAX_SECONDS:.0f} s")
        if not len(self.audio):
            self.analysis_label.setText(NO_CLIP_TEXT)
        elif self.report is not None:
            self.analysis_label.setText(self._report_html(self.report))

    def trimmed(self) -> np.ndarray:
        start, end = self.waveform.trim
        return self.audio[int(start * self.sample_rate):int(end * self.sample_rate)]

    def _edit(self, audio: np.ndarray, trim: tuple[float, float] | None = None) -> None:
        """Replace the clip by an edit of it, keeping what it was for :meth:`undo`."""
        self._history.append((self.audio, self.waveform.trim))
        self._set_clip(audio, self.sample_rate, trim)

    def undo(self) -> None:
        if self._history:
            audio, trim = self._history.pop()
            self._set_clip(audio, self.sample_rate, trim)

    @property
    def can_undo(self) -> bool:
        return bool(self._history)

    def apply_trim(self) -> None:
        if len(self.audio):
            self._edit(self.trimmed())

    def normalize(self) -> None:
        peak = float(np.max(np.abs(self.audio))) if len(self.audio) else 0.0
        if peak <= 1e-6:
            self.errorRaised.emit("Nothing to normalize", "The clip is silent. Record or import speech first.")
            return
        try:
            normalized = bridge.normalize_audio(self.audio, self.sample_rate)
        except TimbreError as error:
            self.errorRaised.emit("Cannot normalize", str(error))
            return
        self._edit(normalized, self.waveform.trim)

    def _use_suggestion(self) -> None:
        if self.report and self.report.suggested_window:
            self.waveform.set_trim(*self.report.suggested_window)

    def analyse(self) -> None:
        if not len(self.audio):
            self.report = None
            self.waveform.set_suggested(None)
            return
        try:
            self.report = bridge.analyse_reference(self.audio, self.sample_rate)
        except TimbreError as error:
            self.report = bridge.ReferenceReport(len(self.audio) / self.sample_rate, (str(error),))
        self.waveform.set_suggested(self.report.suggested_window)
        self.analysis_label.setText(self._report_html(self.report))
        self._update_enabled()

    @staticmethod
    def _report_html(report: bridge.ReferenceReport) -> str:
        lines = []
        if report.ok:
            lines.append(f"<span style='color:#3fb68b'>✔ Good reference</span> · {report.duration_s:.1f} s")
        for problem in report.problems:
            lines.append(f"<span style='color:#e0b341'>⚠ {problem}</span>")
        for note in report.notes:
            lines.append(f"<span style='color:palette(placeholder-text)'>{note}</span>")
        if report.suggested_window:
            s, e = report.suggested_window
            lines.append(f"Suggested window: {s:.1f}–{e:.1f} s")
        return "<br>".join(lines)

    # ---- playback (the window's player plays; it tells this panel where it is) -----------------------------
    def _play_or_stop(self) -> None:
        if self._playing:
            self.stopRequested.emit()
        elif len(self.audio):
            self.playRequested.emit(Clip(self.trimmed(), self.sample_rate))

    def set_playing(self, playing: bool) -> None:
        """The trimmed clip is playing (Play becomes Stop) or not."""
        self._playing = playing
        self.play_button.setText("■ Stop" if playing else "▶ Play")
        if not playing:
            self.waveform.set_playhead(None)

    def set_playhead(self, seconds: float) -> None:
        """``seconds`` into the trimmed clip are playing now."""
        self.waveform.set_playhead(self.waveform.trim[0] + seconds)

    def _save(self) -> None:
        name = self.name_edit.text().strip()
        if not len(self.audio):
            self.errorRaised.emit("No reference", "Record or import a clip first.")
            return
        if self.report is not None and self.report.silent:
            self.errorRaised.emit("The clip is silent", "There is no speech in this clip to make a voice from. "
                                  "Record or import 3–10 seconds of clear speech, then save it.")
            return
        if not name:
            self.errorRaised.emit("Name the voice", "Type a name for the voice, then press Save voice.")
            self.name_edit.setFocus()
            return
        self.saveVoiceRequested.emit(VoiceRequest(name, Clip(self.trimmed(), self.sample_rate),
                                                  self.transcript.toPlainText().strip()))

    def _update_enabled(self) -> None:
        has = bool(len(self.audio)) and not self.is_recording
        for b in (self.play_button, self.trim_button, self.normalize_button, self.save_button):
            b.setEnabled(has)
        self.suggest_button.setEnabled(has and bool(self.report and self.report.suggested_window))
        self.undo_button.setEnabled(bool(self._history) and not self.is_recording)
