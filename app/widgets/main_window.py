"""The studio window: reference + voices on the left, direction in a compact middle column, the narration (where
a creator works) taking the rest, the transport at the bottom, model and device in the status bar. It wires the
widgets to the engine thread, the text thread, the generation session, the player and the settings; it does no
audio, text or model work itself (nothing heavier than a few milliseconds runs on the GUI thread)."""
from __future__ import annotations

import dataclasses
import enum
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import QByteArray, QRect, QSize, Qt, QTimer, Signal
from PySide6.QtGui import QCloseEvent, QIcon, QKeySequence, QShowEvent
from PySide6.QtWidgets import QApplication, QLabel, QMainWindow, QMessageBox, QSplitter, QVBoxLayout, QWidget

from engine import TimbreError

from .. import autosave
from .. import engine_bridge as bridge
from ..audio import devices
from ..audio.player import StreamPlayer
from ..audio.wav import join_with_pauses, write_wav_atomic
from ..narration import Narration
from ..playback import PlaybackState, PlaybackTracker, Playing, narration_segments
from ..resources import icon_path, load_presets
from ..session import GenerationSession, Metrics
from ..settings import Settings, atomic_write_text
from ..workers.synthesis_worker import (EngineFailed, EngineReady, EngineThread, JobEnded, JobStats, LoadProblem,
                                        Outcome, VoiceResult)
from ..workers.text_worker import SplitResult, TextThread
from . import studio_actions
from .direction_panel import DirectionPanel
from .file_dialogs import FileDialogs, FileKind
from .model_manager import ModelManagerDialog
from .narration_editor import NarrationEditor
from .playback_bar import PlaybackBar
from .reference_panel import ReferencePanel
from .sentence_list import SentenceList
from .settings_dialog import SettingsDialog
from .voice_banner import Banner, BannerState, VoiceBanner
from .voice_library import VoiceLibraryPanel

log = logging.getLogger(__name__)
AUTOSAVE_MS = 1000
FIRST_SIZE = QSize(1400, 860)  # on a screen that has room for it; otherwise most of the screen
SCREEN_SHARE = 0.94  # of the available screen the first window may take
LOAD_ADVICE = {
    LoadProblem.DEVICE: "Open Tools → Models… and pick a device this computer has (auto picks one).",
    LoadProblem.FOLDER: "Open Tools → Models… to download it again or choose another folder.",
    LoadProblem.OTHER: "Open Tools → Models… to check the model folder and the device.",
}


class EngineState(str, enum.Enum):
    NONE = "none"
    LOADING = "loading"
    READY = "ready"
    FAILED = "failed"


class MainWindow(QMainWindow):
    engineStateChanged = Signal(object)  # EngineState  # noqa: N815
    voiceSaved = Signal(str)  # noqa: N815
    generationFinished = Signal(object)  # Outcome  # noqa: N815
    sentencesUpdated = Signal()  # a split of the current text is shown  # noqa: N815
    errorShown = Signal(str, str)  # noqa: N815

    def __init__(self, settings: Settings, library: Any, engine_thread: EngineThread | None = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.settings = settings
        self.library = library
        self.engine_thread = engine_thread or EngineThread(self)
        self.text_thread = TextThread(self)
        self.engine_state = EngineState.NONE
        self.engine_summary = ""
        self.narration = Narration()
        self.player = StreamPlayer(bridge.OUTPUT_RATE, devices.resolve(settings.output_device, "output"))
        self.session = GenerationSession(self.engine_thread, self.player, self.narration,
                                         lambda: devices.resolve(self.settings.output_device, "output"), self)
        self.playback = PlaybackTracker(self.player, self)
        self.dialogs = FileDialogs(settings.last_folders, lambda: self.settings.output_dir)
        self.voice_name = ""
        self._voice_cache: dict[str, Any] = {}
        self.locked_voice = ""
        self._pending_voice: dict[int, tuple[str, str, dict, bool]] = {}
        self._applied: tuple[int, bool] = (0, False)  # (revision, exact) of the split on screen
        self._after_split: Callable[[], None] | None = None
        self._model_dialog: ModelManagerDialog | None = None
        self.last_error: tuple[str, str] | None = None
        self.exported: list[Path] = []
        self._shut_down = False
        self._fitted = False

        self.setWindowTitle("Timbre")
        self.setWindowIcon(QIcon(str(icon_path())))
        self._build()
        self._connect()
        self.actions = studio_actions.install(self, self._menu_entries())
        self._connect_engine()
        self._restore()

    # ---- construction ----------------------------------------------------------------------
    def _build(self) -> None:
        self.reference = ReferencePanel(self.dialogs)
        self.reference.refresh_devices(self.settings.input_device)
        self.voices = VoiceLibraryPanel(self.library, self.dialogs)
        try:
            tags = bridge.fine_grained_tags()
        except ImportError:
            tags = []
        self.direction = DirectionPanel(load_presets(), tags, self.settings.my_presets)
        self.direction.setMaximumWidth(380)  # compact: the narration gets the room
        self.editor = NarrationEditor()
        self.sentences = SentenceList(self.narration)
        self.bar = PlaybackBar()
        self.banner = VoiceBanner()

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
        narration_box = QWidget()
        nb = QVBoxLayout(narration_box)
        nb.setContentsMargins(0, 0, 0, 0)
        nb.setSpacing(6)
        nb.addWidget(self.banner)
        nb.addWidget(narration, 1)
        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        for i, (widget, stretch) in enumerate(((left, 0), (self.direction, 0), (narration_box, 1))):
            self.splitter.addWidget(widget)
            self.splitter.setStretchFactor(i, stretch)
            self.splitter.setCollapsible(i, False)
        self.splitter.setSizes([340, 320, 740])
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
            self.statusBar().addPermanentWidget(w)
        self._update_output_label()

        self._autosave_timer = QTimer(self)
        self._autosave_timer.setSingleShot(True)
        self._autosave_timer.setInterval(AUTOSAVE_MS)
        self._autosave_timer.timeout.connect(self.autosave_now)
        self._meter_timer = QTimer(self)
        self._meter_timer.setInterval(200)
        self._meter_timer.timeout.connect(self._update_buffer)
        self._meter_timer.start()

    def _connect(self) -> None:
        self.reference.errorRaised.connect(self.show_error)
        self.reference.playRequested.connect(lambda audio, rate: self.play_clip(audio, rate, Playing.REFERENCE))
        self.reference.stopRequested.connect(self.stop)
        self.reference.saveVoiceRequested.connect(self.save_voice)
        self.voices.errorRaised.connect(self.show_error)
        self.voices.voiceSelected.connect(self._voice_selected)
        self.direction.tagChosen.connect(self.editor.insert_tag)
        self.direction.myPresetsChanged.connect(self._my_presets_changed)
        self.editor.sentencesChanged.connect(self._request_split)
        self.editor.textEdited.connect(lambda _t: self._autosave_timer.start())
        self.text_thread.splitDone.connect(self._split_done)
        self.sentences.generateRequested.connect(self.regenerate_sentence)
        self.sentences.playRequested.connect(self.play_sentence)
        self.sentences.stopRequested.connect(self.stop)
        self.bar.generateAllRequested.connect(self.generate_all)
        self.bar.stopRequested.connect(self.stop)
        self.bar.playRequested.connect(self.play_narration)
        self.bar.exportNarrationRequested.connect(lambda: self.export_narration())
        self.bar.exportSentenceRequested.connect(lambda: self.export_sentence())
        self.banner.actionRequested.connect(self._banner_action)
        self.playback.changed.connect(self._playback_changed)

    def _menu_entries(self) -> list[studio_actions.Entry]:
        e, r, d, b = studio_actions.Entry, self.reference, self.direction, self.bar
        return [
            e("&File", "Open text…", self._open_text, QKeySequence.StandardKey.Open),
            e("&File", "Save text…", self._save_text, QKeySequence.StandardKey.Save),
            e("&File"),
            e("&File", "Export narration…", lambda: self.export_narration(), "Ctrl+Shift+E"),
            e("&File", "Export sentence…", lambda: self.export_sentence()),
            e("&File"),
            e("&File", "Quit", self.close, QKeySequence.StandardKey.Quit),
            e("&Voice", "Record / stop", r.record_button, "Ctrl+R"),
            e("&Voice", "Import clip…", r.import_button, "Ctrl+I"),
            e("&Voice", "Play / stop the clip", r.play_button),
            e("&Voice", "Undo trim or normalize", r.undo_button),
            e("&Voice", "Save voice", r.save_button, "Ctrl+Shift+S"),
            e("&Direction", "Clone", d.mode_buttons["zero_shot"], "Alt+1"),
            e("&Direction", "Cross-lingual", d.mode_buttons["cross_lingual"], "Alt+2"),
            e("&Direction", "Instruct", d.mode_buttons["instruct"], "Alt+3"),
            e("&Direction"),
            e("&Direction", "New seed", d.dice, "Ctrl+D"),
            e("&Generate", "Generate all", b.generate_button, "Ctrl+Return"),
            e("&Generate", "Regenerate sentence", self.sentences.generate_button, "Ctrl+Shift+Return"),
            e("&Generate", "Stop", b.stop_button, "Esc"),
            e("&Generate"),
            e("&Generate", "Play / stop narration", b.play_button, "Ctrl+P"),
            e("&Generate", "Play / stop take", self.sentences.play_button),
            e("&Tools", "Models…", lambda: self.open_model_manager(), "Ctrl+M"),
            e("&Tools", "Settings…", self.open_settings, "Ctrl+,"),
            e("&Help", "Keyboard shortcuts", self._show_shortcuts, "F1"),
        ]

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
        if not (s.window_geometry and self.restoreGeometry(QByteArray.fromHex(s.window_geometry.encode()))):
            self.resize(self._first_size())
        self.fit_to_screen()
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

    def _available(self) -> QRect:
        screen = self.screen() or QApplication.primaryScreen()
        return screen.availableGeometry()

    def _first_size(self) -> QSize:
        area = self._available()
        return QSize(min(FIRST_SIZE.width(), int(area.width() * SCREEN_SHARE)),
                     min(FIRST_SIZE.height(), int(area.height() * SCREEN_SHARE)))

    def fit_to_screen(self) -> None:
        """Keep the whole window on its screen: no larger than the available area, and inside it."""
        area = self._available()
        frame = self.frameGeometry()
        extra = QSize(frame.width() - self.width(), frame.height() - self.height())
        size = self.size().boundedTo(QSize(area.width() - extra.width(), area.height() - extra.height()))
        self.resize(size.expandedTo(self.minimumSizeHint().boundedTo(size)))
        frame = self.frameGeometry()
        x = min(max(frame.x(), area.left()), area.right() + 1 - frame.width())
        y = min(max(frame.y(), area.top()), area.bottom() + 1 - frame.height())
        self.move(max(x, area.left()), max(y, area.top()))

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
        self.text_thread.set_splitter(ready.splitter)  # built on the engine thread; used on the text thread
        self._set_engine_state(EngineState.READY, ready.summary, ready.model)
        self._request_split()  # now split exactly as the engine will speak

    def _set_engine_state(self, state: EngineState, summary: str, model: str = "") -> None:
        self.engine_state = state
        self.engine_summary = summary
        text = {EngineState.LOADING: "Loading the model…", EngineState.READY: model or "Model ready",
                EngineState.FAILED: "Model failed to load", EngineState.NONE: "No model"}[state]
        self.model_label.setText(text)
        self.model_label.setToolTip(self.settings.model_dir or "No model folder chosen (Tools → Models…)")
        self.device_label.setText(summary or bridge.planned_device(self.settings.device, self.settings.precision))
        if state is EngineState.READY:
            self.statusBar().showMessage("Ready.", 3000)
        self._update_banner()
        self.engineStateChanged.emit(state)

    def _engine_failed(self, failed: EngineFailed) -> None:
        self._set_engine_state(EngineState.FAILED, "")
        self.show_error("The model could not be loaded", f"{failed.message}\n\n{LOAD_ADVICE[failed.problem]}")

    def open_model_manager(self, first_run: bool = False) -> ModelManagerDialog:
        dialog = ModelManagerDialog(self.settings.model_dir, self.settings.device, self.settings.precision,
                                    first_run=first_run, parent=self, dialogs=self.dialogs)
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

    def _banner_action(self, kind: Banner) -> None:
        if kind is Banner.LOCKED:
            self.ask_clear_takes()
        else:
            self.open_model_manager(first_run=kind is Banner.MODEL_NEEDED)

    # ---- voices ----------------------------------------------------------------------------
    def save_voice(self, name: str, audio: np.ndarray, sample_rate: int, transcript: str) -> None:
        if self.engine_state is not EngineState.READY:
            self.show_error("The model is not ready", "A voice is made with the model. Load a model first "
                            "(Tools → Models…), then press Save voice again.")
            return
        if name not in self.library:
            self._make_voice(name, audio, sample_rate, transcript, overwrite=False)
            return
        box = self._question("Replace the voice?", f"A voice named “{name}” exists already.",
                             "Replace it with this clip and transcript? The old voice cannot be brought back.",
                             f"Replace “{name}”")
        box.accepted.connect(lambda: self._make_voice(name, audio, sample_rate, transcript, overwrite=True))

    def _make_voice(self, name: str, audio: np.ndarray, sample_rate: int, transcript: str, overwrite: bool) -> None:
        report = self.reference.report
        notes = {"analysis": {"problems": report.problems, "notes": report.notes}} if report else {}
        request = self.engine_thread.make_voice(audio, sample_rate, transcript, name)
        self._pending_voice[request] = (name, self.reference.source_name, notes, overwrite)
        self.statusBar().showMessage(f"Making voice “{name}”…")

    def _voice_done(self, result: VoiceResult) -> None:
        name, source, notes, overwrite = self._pending_voice.pop(result.request_id, ("voice", "", {}, False))
        if result.error:
            self.show_error(f"Cannot make the voice “{name}”", result.error)
            return
        voice = result.voice
        if dataclasses.is_dataclass(voice):
            fields = {f.name for f in dataclasses.fields(voice)}
            changes = {k: v for k, v in {"name": name, "source_clip": source, "notes": notes}.items() if k in fields}
            voice = dataclasses.replace(voice, **changes)
        try:
            info = self.library.save(voice, overwrite=overwrite)
        except TimbreError as error:
            self.show_error("Cannot save the voice", str(error))
            return
        self._voice_cache.pop(info.name, None)
        self._voice_cache[info.name] = voice
        self.voices.refresh(select=info.name)
        self.statusBar().showMessage(f"Saved voice “{info.name}”.", 4000)
        self.voiceSaved.emit(info.name)

    def _voice_selected(self, name: str) -> None:
        if name and self.locked_voice and name != self.locked_voice and (self.narration.take_count or self.generating):
            self._ask_voice_change(name)
            return
        self._use_voice(name)

    def _use_voice(self, name: str) -> None:
        self.voice_name = name
        if name:
            self.settings.last_voice = name
        self._update_banner()

    def _ask_voice_change(self, name: str) -> QMessageBox:
        """Takes exist (or are being made) with the locked voice: keep them, or clear them and use ``name``."""
        locked, takes = self.locked_voice, self.narration.take_count
        made = {0: "The takes being generated are", 1: "The take of this narration was"}.get(
            takes, f"The {takes} takes of this narration were")
        box = self._question("Change the voice?", f"{made} made with “{locked}”. A narration is spoken with one "
                             "voice, so it stays locked while takes exist.",
                             f"Keep the takes and go on with “{locked}”, or clear every take and narrate with "
                             f"“{name}”.", f"Clear takes and use “{name}”", "Keep takes")
        box.accepted.connect(lambda: self.clear_takes(then_use=name))
        box.rejected.connect(lambda: self.voices.select(locked))
        return box

    def ask_clear_takes(self) -> QMessageBox:
        takes = self.narration.take_count
        box = self._question("Clear the takes?", f"Clear all {takes} take{'s' if takes != 1 else ''} of this "
                             "narration?", "The text stays. The voice is free to change afterwards.", "Clear takes")
        box.accepted.connect(lambda: self.clear_takes())
        return box

    def clear_takes(self, then_use: str | None = None) -> None:
        """Forget every take (generation stops first) and unlock the voice."""
        self.stop()
        self.narration.clear_takes()
        self.locked_voice = ""
        self.sentences.refresh()
        self.bar.set_progress(0, len(self.narration.sentences))
        self._use_voice(self.voices.current_name if then_use is None else then_use)

    def _voice(self, name: str) -> Any:
        if name not in self._voice_cache:
            self._voice_cache[name] = self.library.load(name)
        return self._voice_cache[name]

    def _banner_state(self) -> BannerState:
        if self.engine_state is EngineState.NONE:
            return BannerState(Banner.MODEL_NEEDED)
        if self.engine_state is EngineState.FAILED:
            return BannerState(Banner.MODEL_FAILED)
        if self.locked_voice:
            return BannerState(Banner.LOCKED, self.locked_voice, self.narration.take_count)
        if self.engine_state is EngineState.LOADING:
            return BannerState(Banner.MODEL_LOADING)
        return BannerState(Banner.VOICE, self.voice_name) if self.voice_name else BannerState(Banner.NO_VOICE)

    def _update_banner(self) -> None:
        self.banner.show_state(self._banner_state())

    def _my_presets_changed(self, presets: dict[str, str]) -> None:
        self.settings.my_presets = dict(presets)
        try:
            self.settings.save()
        except TimbreError as error:
            self.statusBar().showMessage(f"Cannot save the presets: {error}", 6000)

    # ---- narration text: split on the text thread ------------------------------------------
    def _request_split(self) -> None:
        self.text_thread.request(self.editor.toPlainText())

    def _split_done(self, result: SplitResult) -> None:
        if result.error:
            self.statusBar().showMessage(result.error, 6000)
        elif self.narration.set_sentences(list(result.sentences)):
            self.sentences.refresh()
        self._applied = (result.revision, result.exact)
        if self.narration.take_count == 0 and not self.session.generating:
            self.locked_voice = ""
        self._update_banner()
        self.bar.set_progress(self.narration.done_count, len(self.narration.sentences))
        self.sentencesUpdated.emit()
        action, self._after_split = self._after_split, None
        if action is not None and self.narration_current:
            if result.error:
                self.show_error("Cannot split the text", result.error)
            else:
                action()
        elif action is not None:
            self._after_split = action  # a newer split is on its way

    @property
    def narration_current(self) -> bool:
        """The sentence list shows the editor's text, split as the engine will speak it (once it is loaded)."""
        revision, exact = self._applied
        return not self.editor.settling and revision == self.text_thread.latest and \
            (exact or self.engine_state is not EngineState.READY)

    def _when_split(self, action: Callable[[], None]) -> None:
        """Run ``action`` now if the sentences are up to date, else as soon as the text is split."""
        if self.narration_current:
            action()
            return
        self._after_split = action
        self.statusBar().showMessage("Splitting the text into sentences…", 3000)
        if self.editor.settling or self._applied[0] == self.text_thread.latest:
            self.editor.flush()

    def autosave_now(self) -> None:
        try:
            autosave.save_text(self.editor.toPlainText())
        except (OSError, TimbreError) as error:
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

    def generate_all(self) -> bool:
        """Generate every sentence without a take (all when each has one), once the text is split; False (and a
        message) when something is missing."""
        if self._ready_to_generate() is None:
            return False
        self._when_split(self._generate_all_now)
        return True

    def _generate_all_now(self) -> None:
        todo = [i for i, s in enumerate(self.narration.sentences) if s.take is None]
        if not todo:
            todo = list(range(len(self.narration.sentences)))
        if not todo:
            self.show_error("Nothing to say", "Type some text in the narration editor first.")
            return
        self._generate(todo)

    def regenerate_sentence(self, index: int | None = None) -> bool:
        """A new take of sentence ``index`` (the selected one by default)."""
        index = self.sentences.current_index if index is None else index
        if not 0 <= index < len(self.narration.sentences):
            self.show_error("No sentence selected", "Select a sentence in the list first.")
            return False
        if self._ready_to_generate() is None:
            return False
        text = self.narration.sentences[index].text

        def now() -> None:
            at = next((i for i, s in enumerate(self.narration.sentences) if s.text == text), -1)
            if at < 0:
                self.show_error("The sentence changed", "Its text was edited meanwhile. Select it again.")
            else:
                self._generate([at])

        self._when_split(now)
        return True

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
        self.playback.stopped()
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
        self._update_banner()

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
        if self.narration.take_count == 0:
            self.locked_voice = ""
        self._update_banner()
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
        self.playback.stopped()
        self.bar.clear_buffer()

    # ---- playback --------------------------------------------------------------------------
    def play_clip(self, audio: np.ndarray, sample_rate: int, what: Playing = Playing.TAKE,
                  segments: tuple = ()) -> None:
        self.stop()
        try:
            self.player.device = devices.resolve(self.settings.output_device, "output")
            self.player.play(bridge.resample(audio, sample_rate, self.player.sample_rate))
        except TimbreError as error:
            self.show_error("Cannot play", str(error))
            return
        self.playback.started(what, segments)

    def play_sentence(self, index: int) -> None:
        if 0 <= index < len(self.narration.sentences) and self.narration.sentences[index].take:
            take = self.narration.sentences[index].take
            self.play_clip(take.audio, take.sample_rate, Playing.TAKE,
                           narration_segments([index], [take.seconds], 0.0))

    def play_narration(self) -> None:
        chosen = [(i, s.take) for i, s in enumerate(self.narration.sentences) if s.take is not None]
        if not chosen:
            self.show_error("Nothing to play", "Generate the narration first (Ctrl+Enter).")
            return
        pause = self.settings.sentence_pause_ms
        audio = join_with_pauses([t.audio for _, t in chosen], self.narration.sample_rate, pause)
        segments = narration_segments([i for i, _ in chosen], [t.seconds for _, t in chosen], pause / 1000)
        self.play_clip(audio, self.narration.sample_rate, Playing.NARRATION, segments)

    def _playback_changed(self, state: PlaybackState) -> None:
        self.reference.set_playing(state.what is Playing.REFERENCE)
        if state.what is Playing.REFERENCE:
            self.reference.set_playhead(state.position_s)
        self.bar.set_playing(state.what is Playing.NARRATION)
        self.sentences.set_playing(state.what is Playing.TAKE)
        if state.sentence >= 0:
            if state.what is Playing.NARRATION and self.sentences.current_index != state.sentence:
                self.sentences.select(state.sentence)  # the list follows the narration as it plays
            self.sentences.set_playhead(state.sentence_position_s)
        else:
            self.sentences.waveform.set_playhead(None)

    def _update_buffer(self) -> None:
        metrics = self.session.buffer_metrics()
        if metrics is not None:
            self._show_metrics(metrics)
        else:
            self.bar.clear_buffer()

    # ---- export ----------------------------------------------------------------------------
    def export_narration(self, path: Path | None = None) -> Path | None:
        """Write the chosen takes as one WAV: to ``path``, or where the user picks (then None now)."""
        parts = self.narration.audio_parts()
        if not parts:
            self.show_error("Nothing to export", "Generate the narration first (Ctrl+Enter).")
            return None
        if path is None:
            self.dialogs.save_file(self, FileKind.EXPORT, "Export narration", "narration.wav", "WAV audio (*.wav)",
                                   self.export_narration)
            return None
        missing = len(self.narration.sentences) - len(parts)
        audio = join_with_pauses(parts, self.narration.sample_rate, self.settings.sentence_pause_ms)
        return self._write(path, audio, f" ({missing} sentence(s) without a take were left out)" if missing else "")

    def export_sentence(self, index: int | None = None, path: Path | None = None) -> Path | None:
        index = self.sentences.current_index if index is None else index
        if not 0 <= index < len(self.narration.sentences) or self.narration.sentences[index].take is None:
            self.show_error("Nothing to export", "Select a sentence that has a take.")
            return None
        if path is None:
            self.dialogs.save_file(self, FileKind.EXPORT, "Export sentence", f"sentence-{index + 1:02d}.wav",
                                   "WAV audio (*.wav)", lambda chosen: self.export_sentence(index, chosen))
            return None
        return self._write(path, self.narration.sentences[index].take.audio, "")

    def _write(self, path: Path, audio: np.ndarray, note: str) -> Path | None:
        if path.suffix.lower() != ".wav":
            path = path.with_suffix(".wav")
        try:
            write_wav_atomic(path, audio, self.narration.sample_rate, float32=self.settings.export_float)
        except (OSError, RuntimeError, TimbreError) as error:
            self.show_error("Export failed", f"Cannot write {path}: {error}")
            return None
        self.exported.append(path)
        self.statusBar().showMessage(f"Exported {path}{note}.", 6000)
        return path

    # ---- text files, settings, help -------------------------------------------------------
    def _open_text(self) -> None:
        self.dialogs.open_file(self, FileKind.TEXT, "Open text", "Text (*.txt);;All files (*)", self.open_text)

    def open_text(self, path: Path) -> None:
        try:
            self.editor.setPlainText(Path(path).read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError) as error:
            self.show_error("Cannot open the text", f"{error}. Save it as UTF-8 text and try again.")

    def _save_text(self) -> None:
        self.dialogs.save_file(self, FileKind.TEXT, "Save text", "narration.txt", "Text (*.txt)", self.save_text)

    def save_text(self, path: Path) -> None:
        try:
            atomic_write_text(Path(path), self.editor.toPlainText())
        except (OSError, TimbreError) as error:
            self.show_error("Cannot save the text", str(error))

    def open_settings(self) -> SettingsDialog:
        dialog = SettingsDialog(self.settings, self, dialogs=self.dialogs)

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
        return dialog

    def _update_output_label(self) -> None:
        reason = devices.no_device_reason("output")
        name = self.settings.output_device or "default output"
        self.output_label.setText(f"Output: {name}" if reason is None else "No audio output")
        self.output_label.setToolTip(reason or "Audio output device (Tools → Settings…)")

    def _show_shortcuts(self) -> None:
        QMessageBox.information(self, "Keyboard shortcuts", "\n".join(studio_actions.shortcut_lines(self.actions)))

    # ---- messages --------------------------------------------------------------------------
    def _question(self, title: str, text: str, detail: str, yes: str, no: str = "Cancel") -> QMessageBox:
        """A window-modal question (never a nested event loop): accepted() for ``yes``, rejected() otherwise;
        ``no`` is the default button, so Enter never destroys anything."""
        box = QMessageBox(QMessageBox.Icon.Question, title, text, parent=self)
        box.setInformativeText(detail)
        box.addButton(yes, QMessageBox.ButtonRole.AcceptRole)
        box.setDefaultButton(box.addButton(no, QMessageBox.ButtonRole.RejectRole))
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.open()
        return box

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
        self.playback.stopped()
        if self.reference.is_recording:
            self.reference.stop_recording()
        if self._model_dialog is not None:
            self._model_dialog.shutdown()
        self.engine_thread.shutdown()
        self.text_thread.shutdown()
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
        s.my_presets = dict(self.direction.my_presets)
        try:
            s.save()
        except (OSError, TimbreError) as error:
            log.error("cannot save settings: %s", error)

    def showEvent(self, event: QShowEvent) -> None:  # noqa: N802
        super().showEvent(event)
        if not self._fitted:  # the window frame's size is known once the window is on screen
            self._fitted = True
            self.fit_to_screen()

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802
        self.shutdown()
        event.accept()
