"""The studio window: reference + voices on the left, direction and narration in the centre, the
transport at the bottom, device/precision in the status bar. It wires the widgets to the engine
thread, the generation session, the player and the settings; it does no audio or model work itself."""
from __future__ import annotations

import dataclasses
import enum
import logging
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import QByteArray, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QCloseEvent, QIcon, QKeySequence
from PySide6.QtWidgets import (
    QFileDialog, QLabel, QMainWindow, QMessageBox, QSplitter, QVBoxLayout, QWidget,
)

from engine import TimbreError

from .. import autosave
from .. import engine_bridge as bridge
from ..audio import devices
from ..audio.player import StreamPlayer
from ..audio.wav import join_with_pauses, write_wav_atomic
from ..narration import Narration
from ..resources import icon_path, load_presets
from ..session import GenerationSession, Metrics
from ..settings import Settings
from ..workers.synthesis_worker import EngineReady, EngineThread, JobEnded, JobStats, Outcome, VoiceResult
from .direction_panel import DirectionPanel
from .model_manager import ModelManagerDialog
from .narration_editor import NarrationEditor
from .playback_bar import PlaybackBar
from .reference_panel import ReferencePanel
from .sentence_list import SentenceList
from .settings_dialog import SettingsDialog
from .voice_library import VoiceLibraryPanel

log = logging.getLogger(__name__)
AUTOSAVE_MS = 1000


class EngineState(str, enum.Enum):
    NONE = "none"
    LOADING = "loading"
    READY = "ready"
    FAILED = "failed"


class MainWindow(QMainWindow):
    engineStateChanged = Signal(object)  # EngineState  # noqa: N815
    voiceSaved = Signal(str)  # noqa: N815
    generationFinished = Signal(object)  # Outcome  # noqa: N815
    errorShown = Signal(str, str)  # noqa: N815

    def __init__(self, settings: Settings, library: Any, engine_thread: EngineThread | None = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.settings = settings
        self.library = library
        self.engine_thread = engine_thread or EngineThread(self)
        self.engine_state = EngineState.NONE
        self.engine_summary = ""
        self.narration = Narration()
        self.splitter_text = bridge.SentenceSplitter()
        self.player = StreamPlayer(bridge.OUTPUT_RATE, devices.resolve(settings.output_device, "output"))
        self.session = GenerationSession(self.engine_thread, self.player, self.narration,
                                         lambda: devices.resolve(self.settings.output_device, "output"), self)
        self.voice_name = ""
        self._voice_cache: dict[str, Any] = {}
        self.locked_voice = ""
        self._pending_voice: dict[int, tuple[str, str, dict]] = {}
        self._model_dialog: ModelManagerDialog | None = None
        self.last_error: tuple[str, str] | None = None
        self.exported: list[Path] = []
        self._shut_down = False

        self.setWindowTitle("Timbre")
        self.setWindowIcon(QIcon(str(icon_path())))
        self._build()
        self._build_menus()
        self._connect_engine()
        self._restore()

    # ---- construction ----------------------------------------------------------------------
    def _build(self) -> None:
        self.reference = ReferencePanel()
        self.reference.refresh_devices(self.settings.input_device)
        self.voices = VoiceLibraryPanel(self.library)
        presets = load_presets()
        try:
            tags = bridge.fine_grained_tags()
        except ImportError:
            tags = []
        self.direction = DirectionPanel(presets, tags, self.settings.custom_presets)
        self.editor = NarrationEditor()
        self.sentences = SentenceList(self.narration)
        self.bar = PlaybackBar()

        left = QSplitter(Qt.Orientation.Vertical)
        left.addWidget(self.reference)
        left.addWidget(self.voices)
        left.setStretchFactor(0, 3)
        left.setStretchFactor(1, 2)
        narration = QSplitter(Qt.Orientation.Vertical)
        narration.addWidget(self.editor)
        narration.addWidget(self.sentences)
        narration.setStretchFactor(0, 2)
        narration.setStretchFactor(1, 3)
        self.voice_banner = QLabel()
        self.voice_banner.setObjectName("voiceBanner")
        narration_box = QWidget()
        nb = QVBoxLayout(narration_box)
        nb.setContentsMargins(0, 0, 0, 0)
        nb.setSpacing(6)
        nb.addWidget(self.voice_banner)
        nb.addWidget(narration, 1)
        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.addWidget(left)
        self.splitter.addWidget(self.direction)
        self.splitter.addWidget(narration_box)
        self.splitter.setStretchFactor(0, 3)
        self.splitter.setStretchFactor(1, 3)
        self.splitter.setStretchFactor(2, 5)
        self.splitter.setSizes([360, 380, 660])
        central = QWidget()
        layout = QVBoxLayout(central)
        layout.setContentsMargins(8, 8, 8, 0)
        layout.setSpacing(8)
        layout.addWidget(self.splitter, 1)
        layout.addWidget(self.bar)
        self.setCentralWidget(central)

        self.model_label = QLabel("No model")
        self.device_label = QLabel("")
        self.output_label = QLabel("")
        for w in (self.model_label, self.device_label, self.output_label):
            w.setObjectName("statusField")
        self.statusBar().addPermanentWidget(self.model_label)
        self.statusBar().addPermanentWidget(self.device_label)
        self.statusBar().addPermanentWidget(self.output_label)
        self._update_output_label()

        self.reference.errorRaised.connect(self.show_error)
        self.reference.playRequested.connect(self.play_clip)
        self.reference.stopRequested.connect(self.player.stop)
        self.reference.saveVoiceRequested.connect(self.save_voice)
        self.voices.errorRaised.connect(self.show_error)
        self.voices.voiceSelected.connect(self._voice_selected)
        self.direction.tagChosen.connect(self.editor.insert_tag)
        self.direction.presetEdited.connect(lambda key, text: self.settings.custom_presets.__setitem__(key, text))
        self.editor.sentencesChanged.connect(self._resplit)
        self.editor.textEdited.connect(lambda _t: self._autosave_timer.start())
        self.sentences.generateRequested.connect(self.regenerate_sentence)
        self.sentences.playRequested.connect(self.play_sentence)
        self.bar.generateAllRequested.connect(self.generate_all)
        self.bar.stopRequested.connect(self.stop)
        self.bar.playRequested.connect(self.play_narration)
        self.bar.exportNarrationRequested.connect(lambda: self.export_narration())
        self.bar.exportSentenceRequested.connect(lambda: self.export_sentence())

        self._autosave_timer = QTimer(self)
        self._autosave_timer.setSingleShot(True)
        self._autosave_timer.setInterval(AUTOSAVE_MS)
        self._autosave_timer.timeout.connect(self.autosave_now)
        self._meter_timer = QTimer(self)
        self._meter_timer.setInterval(200)
        self._meter_timer.timeout.connect(self._update_buffer)
        self._meter_timer.start()

    def _build_menus(self) -> None:
        def action(menu, text: str, slot, shortcut: str | QKeySequence.StandardKey | None = None) -> QAction:
            a = QAction(text, self)
            if shortcut is not None:
                a.setShortcut(QKeySequence(shortcut))
            a.triggered.connect(slot)
            menu.addAction(a)
            return a

        file_menu = self.menuBar().addMenu("&File")
        action(file_menu, "Open text…", self._open_text, QKeySequence.StandardKey.Open)
        action(file_menu, "Save text…", self._save_text, QKeySequence.StandardKey.Save)
        file_menu.addSeparator()
        action(file_menu, "Export narration…", lambda: self.export_narration())
        action(file_menu, "Export sentence…", lambda: self.export_sentence())
        file_menu.addSeparator()
        action(file_menu, "Quit", self.close, QKeySequence.StandardKey.Quit)
        gen_menu = self.menuBar().addMenu("&Generate")
        action(gen_menu, "Generate all", self.generate_all)
        action(gen_menu, "Regenerate sentence", lambda: self.regenerate_sentence(self.sentences.current_index))
        action(gen_menu, "Stop", self.stop)
        action(gen_menu, "New seed", self.direction.roll_seed)
        tools = self.menuBar().addMenu("&Tools")
        action(tools, "Models…", lambda: self.open_model_manager(), "Ctrl+M")
        action(tools, "Settings…", self.open_settings, QKeySequence.StandardKey.Preferences)
        help_menu = self.menuBar().addMenu("&Help")
        action(help_menu, "Keyboard shortcuts", self._show_shortcuts, "F1")

    def _connect_engine(self) -> None:
        w = self.engine_thread.worker
        # Bound methods (not lambdas): PySide then queues the call into this window's (GUI) thread.
        w.engineLoading.connect(self._engine_loading)
        w.engineReady.connect(self._engine_ready)
        w.engineFailed.connect(self._engine_failed)
        w.voiceDone.connect(self._voice_done)
        self.session.sentenceActive.connect(self.sentences.set_active)
        self.session.takeAdded.connect(self._take_added)
        self.session.metricsChanged.connect(self._show_metrics)
        self.session.ended.connect(self._generation_ended)
        self.session.playbackFailed.connect(lambda message: self.show_error("Cannot play", message))

    def _restore(self) -> None:
        s = self.settings
        if s.window_geometry:
            self.restoreGeometry(QByteArray.fromHex(s.window_geometry.encode()))
        else:
            self.resize(1400, 860)
        if s.window_state:
            self.restoreState(QByteArray.fromHex(s.window_state.encode()))
        self.direction.set_mode(s.mode)
        self.direction.speed.setValue(s.speed)
        self.direction.seed.setValue(s.seed)
        self.direction.lock.setChecked(s.seed_locked)
        self.direction.streaming.setChecked(s.streaming)
        text = autosave.load_text()
        if text:
            self.editor.setPlainText(text)
            self.editor.flush()
        if s.last_voice:
            self.voices.select(s.last_voice)
        self._update_banner()

    # ---- engine ----------------------------------------------------------------------------
    def start_engine(self) -> bool:
        """Load the model from the settings; False (and the model manager) when there is none."""
        if not self.settings.model_dir:
            self.open_model_manager(first_run=True)
            return False
        self.engine_thread.load(self.settings.model_dir, self.settings.device, self.settings.precision)
        return True

    def _engine_loading(self, _model_dir: str) -> None:
        self._set_engine_state(EngineState.LOADING, "")

    def _engine_ready(self, ready: EngineReady) -> None:
        self.splitter_text = ready.splitter  # built on the engine thread (it takes seconds)
        self._set_engine_state(EngineState.READY, ready.summary)

    def _set_engine_state(self, state: EngineState, summary: str) -> None:
        self.engine_state = state
        self.engine_summary = summary
        name = Path(self.settings.model_dir).name if self.settings.model_dir else "no model"
        text = {EngineState.LOADING: f"Loading {name}…", EngineState.READY: f"Model: {name}",
                EngineState.FAILED: "Model failed to load", EngineState.NONE: "No model"}[state]
        self.model_label.setText(text)
        self.device_label.setText(summary or bridge.planned_device(self.settings.device, self.settings.precision))
        if state is EngineState.READY:
            self.statusBar().showMessage("Ready.", 3000)
            self._resplit()
        self.engineStateChanged.emit(state)

    def _engine_failed(self, message: str) -> None:
        self._set_engine_state(EngineState.FAILED, "")
        self.show_error("The model could not be loaded",
                        f"{message}\n\nOpen Tools → Models… to download it again or choose another folder.")

    def open_model_manager(self, first_run: bool = False) -> ModelManagerDialog:
        dialog = ModelManagerDialog(self.settings.model_dir, self.settings.device, self.settings.precision,
                                    first_run=first_run, parent=self)
        dialog.modelChosen.connect(self._model_chosen)
        self._model_dialog = dialog
        dialog.finished.connect(lambda _r: setattr(self, "_model_dialog", None))
        dialog.open()
        return dialog

    def _model_chosen(self, folder: str, device: str, precision: str) -> None:
        self.settings.model_dir, self.settings.device, self.settings.precision = folder, device, precision
        self._voice_cache.clear()
        self.settings.save()
        self.start_engine()

    # ---- voices ----------------------------------------------------------------------------
    def save_voice(self, name: str, audio: np.ndarray, sample_rate: int, transcript: str) -> None:
        if self.engine_state is not EngineState.READY:
            self.show_error("The model is not ready", "A voice is made with the model. Load a model first "
                            "(Tools → Models…), then press Save voice again.")
            return
        report = self.reference.report
        notes = {"analysis": {"problems": report.problems, "notes": report.notes}} if report else {}
        request = self.engine_thread.make_voice(audio, sample_rate, transcript, name)
        self._pending_voice[request] = (name, self.reference.source_name, notes)
        self.statusBar().showMessage(f"Making voice “{name}”…")

    def _voice_done(self, result: VoiceResult) -> None:
        name, source, notes = self._pending_voice.pop(result.request_id, ("voice", "", {}))
        if result.error:
            self.show_error(f"Cannot make the voice “{name}”", result.error)
            return
        voice = result.voice
        if dataclasses.is_dataclass(voice):
            fields = {f.name for f in dataclasses.fields(voice)}
            changes = {k: v for k, v in {"name": name, "source_clip": source, "notes": notes}.items() if k in fields}
            voice = dataclasses.replace(voice, **changes)
        overwrite = name in self.library
        try:
            info = self.library.save(voice, overwrite=overwrite)
        except TimbreError as error:
            self.show_error("Cannot save the voice", str(error))
            return
        self._voice_cache[info.name] = voice
        self.voices.refresh(select=info.name)
        self.statusBar().showMessage(f"Saved voice “{info.name}”.", 4000)
        self.voiceSaved.emit(info.name)

    def _voice_selected(self, name: str) -> None:
        self.voice_name = name
        if name:
            self.settings.last_voice = name
        self._update_banner()

    def _voice(self, name: str) -> Any:
        if name not in self._voice_cache:
            self._voice_cache[name] = self.library.load(name)
        return self._voice_cache[name]

    def _update_banner(self) -> None:
        if self.locked_voice:
            self.voice_banner.setText(f"Narrating with <b>{self.locked_voice}</b> (locked) "
                                      "<span style='color:#8a8f98'>— the voice stays fixed while this narration has takes; "
                                      "clear the text to change it</span>")
        elif self.voice_name:
            self.voice_banner.setText(f"Voice: <b>{self.voice_name}</b>")
        else:
            self.voice_banner.setText("Pick or save a voice on the left to start.")

    # ---- narration -------------------------------------------------------------------------
    def _resplit(self) -> None:
        text = self.editor.toPlainText()
        try:
            parts = self.splitter_text.split(text)
        except TimbreError as error:
            self.statusBar().showMessage(str(error), 5000)
            return
        if self.narration.set_sentences(parts):
            self.sentences.refresh()
        if self.narration.done_count == 0 and not self.session.generating:
            self.locked_voice = ""
            self._update_banner()
        self.bar.set_progress(self.narration.done_count, len(self.narration.sentences))

    def autosave_now(self) -> None:
        try:
            autosave.save_text(self.editor.toPlainText())
        except OSError as error:
            self.statusBar().showMessage(f"Autosave failed: {error}", 5000)

    # ---- generation ------------------------------------------------------------------------
    def _ready_to_generate(self) -> str | None:
        """The voice name to use, or None after telling the user what is missing."""
        if self.engine_state is not EngineState.READY:
            what = "is still loading; wait a moment" if self.engine_state is EngineState.LOADING else \
                "is not loaded. Open Tools → Models… to download or choose one"
            self.show_error("The model is not ready", f"The model {what}.")
            return None
        name = self.locked_voice or self.voice_name
        if not name:
            self.show_error("No voice", "Save a voice from a reference clip, or pick one in the Voices list.")
            return None
        if self.direction.mode == "instruct" and not self.direction.instruction.toPlainText().strip():
            self.show_error("No instruction", "Instruct mode needs an instruction: pick a preset or type one.")
            return None
        return name

    def generate_all(self) -> int | None:
        self.editor.flush()
        todo = [i for i, s in enumerate(self.narration.sentences) if s.take is None]
        if not todo:
            todo = list(range(len(self.narration.sentences)))
        if not todo:
            self.show_error("Nothing to say", "Type some text in the narration editor first.")
            return None
        return self._generate(todo)

    def regenerate_sentence(self, index: int) -> int | None:
        self.editor.flush()
        if not 0 <= index < len(self.narration.sentences):
            self.show_error("No sentence selected", "Select a sentence in the list first.")
            return None
        return self._generate([index])

    def _generate(self, indices: list[int]) -> int | None:
        name = self._ready_to_generate()
        if name is None:
            return None
        try:
            voice = self._voice(name)
        except TimbreError as error:
            self.show_error("Cannot load the voice", str(error))
            return None
        # The list shows the engine's own pieces (the splitter normalised them): spoken as they are.
        pieces = {i: (self.narration.sentences[i].text,) for i in indices}
        seeds = [self.direction.next_seed() for _ in indices]
        self.locked_voice = name
        self._update_banner()
        job = self.session.generate(indices, pieces, seeds, voice, name, self.direction.direction())
        self.bar.set_busy(True)
        self.bar.set_metrics(None, None, None)
        self.bar.latency_label.setText("first audio …")
        self.statusBar().showMessage(f"Generating {len(indices)} sentence(s)…")
        return job

    def _take_added(self, _index: int) -> None:
        self.bar.set_progress(self.narration.done_count, len(self.narration.sentences))

    def _show_metrics(self, metrics: Metrics) -> None:
        self.bar.set_metrics(metrics.first_audio_s, metrics.rtf, metrics.buffered_s)

    def _generation_ended(self, event: JobEnded) -> None:
        self.bar.set_busy(False)
        if event.outcome is Outcome.FINISHED:
            stats = event.stats
            self.bar.set_metrics(stats.first_audio_s, stats.rtf, None)
            self.statusBar().showMessage(f"Done: {stats.audio_s:.1f} s of audio in {stats.compute_s:.1f} s.", 6000)
        elif event.outcome is Outcome.FAILED:
            self.show_error("Generation failed", event.message)
        else:
            self.statusBar().showMessage("Stopped.", 3000)
        self.generationFinished.emit(event.outcome)

    @property
    def generating(self) -> bool:
        return self.session.generating

    @property
    def last_stats(self) -> JobStats | None:
        return self.session.last_stats

    def stop(self) -> None:
        """Stop generation and playback at once."""
        self.session.stop()

    # ---- playback --------------------------------------------------------------------------
    def play_clip(self, audio: np.ndarray, sample_rate: int) -> None:
        self.stop()
        try:
            self.player.device = devices.resolve(self.settings.output_device, "output")
            self.player.play(bridge.resample(audio, sample_rate, self.player.sample_rate))
        except TimbreError as error:
            self.show_error("Cannot play", str(error))

    def play_sentence(self, index: int) -> None:
        if 0 <= index < len(self.narration.sentences) and self.narration.sentences[index].take:
            take = self.narration.sentences[index].take
            self.play_clip(take.audio, take.sample_rate)

    def play_narration(self) -> None:
        parts = self.narration.audio_parts()
        if not parts:
            self.show_error("Nothing to play", "Generate the narration first (Ctrl+Enter).")
            return
        self.play_clip(join_with_pauses(parts, self.narration.sample_rate, self.settings.sentence_pause_ms),
                       self.narration.sample_rate)

    def _update_buffer(self) -> None:
        metrics = self.session.buffer_metrics()
        if metrics is not None:
            self._show_metrics(metrics)

    # ---- export ----------------------------------------------------------------------------
    def _ask_path(self, suggested: str) -> Path | None:
        folder = Path(self.settings.output_dir) if self.settings.output_dir else Path.home()
        path, _ = QFileDialog.getSaveFileName(self, "Export WAV", str(folder / suggested), "WAV audio (*.wav)")
        return Path(path) if path else None

    def export_narration(self, path: Path | None = None) -> Path | None:
        parts = self.narration.audio_parts()
        if not parts:
            self.show_error("Nothing to export", "Generate the narration first (Ctrl+Enter).")
            return None
        missing = len(self.narration.sentences) - len(parts)
        path = path or self._ask_path("narration.wav")
        if path is None:
            return None
        audio = join_with_pauses(parts, self.narration.sample_rate, self.settings.sentence_pause_ms)
        return self._write(path, audio, f" ({missing} sentence(s) without a take were left out)" if missing else "")

    def export_sentence(self, index: int | None = None, path: Path | None = None) -> Path | None:
        index = self.sentences.current_index if index is None else index
        if not 0 <= index < len(self.narration.sentences) or self.narration.sentences[index].take is None:
            self.show_error("Nothing to export", "Select a sentence that has a take.")
            return None
        path = path or self._ask_path(f"sentence-{index + 1:02d}.wav")
        if path is None:
            return None
        return self._write(path, self.narration.sentences[index].take.audio, "")

    def _write(self, path: Path, audio: np.ndarray, note: str) -> Path | None:
        if path.suffix.lower() != ".wav":
            path = path.with_suffix(".wav")
        try:
            write_wav_atomic(path, audio, self.narration.sample_rate, float32=self.settings.export_float)
        except (OSError, RuntimeError) as error:
            self.show_error("Export failed", f"Cannot write {path}: {error}. Pick another folder.")
            return None
        self.exported.append(path)
        self.statusBar().showMessage(f"Exported {path}{note}.", 6000)
        return path

    # ---- text files, settings, help -------------------------------------------------------
    def _open_text(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open text", "", "Text (*.txt);;All files (*)")
        if path:
            try:
                self.editor.setPlainText(Path(path).read_text(encoding="utf-8"))
            except (OSError, UnicodeDecodeError) as error:
                self.show_error("Cannot open the text", f"{error}. Save it as UTF-8 text and try again.")

    def _save_text(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Save text", "narration.txt", "Text (*.txt)")
        if path:
            from ..settings import atomic_write_text

            atomic_write_text(Path(path), self.editor.toPlainText())

    def open_settings(self) -> None:
        dialog = SettingsDialog(self.settings, self)

        def accepted() -> None:
            theme = self.settings.theme
            dialog.apply()
            self.settings.save()
            self._update_output_label()
            self.reference.refresh_devices(self.settings.input_device)
            if self.settings.theme != theme:
                from ..theme import apply_theme

                apply_theme(self.settings.theme)

        dialog.accepted.connect(accepted)
        dialog.open()

    def _update_output_label(self) -> None:
        reason = devices.no_device_reason("output")
        name = self.settings.output_device or "default output"
        self.output_label.setText(f"Output: {name}" if reason is None else "No audio output")
        self.output_label.setToolTip(reason or "Audio output device (Tools → Settings…)")

    def _show_shortcuts(self) -> None:
        QMessageBox.information(self, "Keyboard shortcuts", (
            "Ctrl+Enter  Generate all\nCtrl+Shift+Enter  Regenerate selected sentence\nEsc  Stop\n"
            "Ctrl+P  Play narration\nCtrl+E  Export narration\nCtrl+R  Record / stop\nCtrl+I  Import reference\n"
            "Ctrl+Shift+S  Save voice\nCtrl+D  New seed\nAlt+1/2/3  Clone / Cross-lingual / Instruct\n"
            "Ctrl+M  Models\nF1  This help"))

    # ---- errors ----------------------------------------------------------------------------
    def show_error(self, title: str, message: str) -> None:
        """Tell the user what went wrong and what to do, without blocking (never a nested loop)."""
        log.warning("%s: %s", title, message)
        self.last_error = (title, message)
        self.statusBar().showMessage(f"{title}: {message}", 8000)
        box = QMessageBox(QMessageBox.Icon.Warning, title, message, QMessageBox.StandardButton.Ok, self)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.open()
        self.errorShown.emit(title, message)

    # ---- shutdown --------------------------------------------------------------------------
    def shutdown(self) -> None:
        """Ordered: cancel generation, stop audio, stop threads, save text and settings."""
        if self._shut_down:
            return
        self._shut_down = True
        self.engine_thread.cancel()
        self.player.stop()
        if self.reference.is_recording:
            self.reference.stop_recording()
        if self._model_dialog is not None:
            self._model_dialog.shutdown()
        self.engine_thread.shutdown()
        self._meter_timer.stop()
        self._autosave_timer.stop()
        self.autosave_now()
        s = self.settings
        s.window_geometry = bytes(self.saveGeometry().toHex()).decode()
        s.window_state = bytes(self.saveState().toHex()).decode()
        s.mode = self.direction.mode
        s.speed = float(self.direction.speed.value())
        s.seed = int(self.direction.seed.value())
        s.seed_locked = self.direction.lock.isChecked()
        s.streaming = self.direction.streaming.isChecked()
        s.input_device = self.reference.input_device_name or s.input_device
        s.custom_presets = dict(self.direction.custom)
        try:
            s.save()
        except OSError as error:
            log.error("cannot save settings: %s", error)

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802
        self.shutdown()
        event.accept()
