"""The studio window: a compact side column with the cast and its direction (and, in a second tab, the voices: a
reference clip and the saved voices), the project (script, lines, takes) taking the rest, the transport at the
bottom, model and device in the status bar.

It wires the widgets to the project document, the engine thread (takes, conversions, words), the check thread, the
text thread (the script's parse), the player and the settings; it does no audio, text or model work itself (nothing
heavier than a few milliseconds runs on the GUI thread). Files (New, Open, Save, recovery) are
:class:`~app.project_files.ProjectFiles`' and listening (takes, A/B, the whole narration) is
:class:`~app.listening.Listening`'s.
"""
from __future__ import annotations

import dataclasses
import enum
import logging
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
from PySide6.QtCore import QByteArray, QRect, QSize, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QCloseEvent, QIcon, QKeySequence, QShowEvent
from PySide6.QtWidgets import (QApplication, QLabel, QMainWindow, QMessageBox, QSplitter, QTabWidget, QVBoxLayout,
                               QWidget)

from engine import TimbreError

from .. import engine_bridge as bridge
from ..audio import devices
from ..audio.player import StreamPlayer
from ..document import Change, ProjectDocument
from ..line_rows import line_rows
from ..listening import Listening
from ..playback import Playing
from ..project_files import ProjectFiles
from ..resources import icon_path, load_presets
from ..session import GenerationSession, Metrics, Retaken
from ..settings import Settings, autosave_dir, data_dir, pronunciations_file
from ..take_checks import TakeChecks
from ..workers.check_worker import CheckThread
from ..workers.synthesis_worker import (EngineFailed, EngineReady, EngineThread, JobEnded, JobStats, LoadProblem,
                                        Outcome, RequestDone, VoiceResult)
from ..workers.text_worker import ParseResult, TextThread
from . import studio_actions
from .cast_panel import CastPanel, CastRow
from .direction_panel import DirectionPanel
from .export_dialog import ExportDialog
from .file_dialogs import FileDialogs, FileKind
from .line_list import LineList
from .model_manager import ModelManagerDialog
from .perform_dialog import PerformDialog
from .playback_bar import PlaybackBar
from .pronunciation_dialog import PronunciationDialog
from .reference_panel import ReferencePanel
from .script_panel import ScriptPanel
from .settings_dialog import SettingsDialog
from .take_panel import TakePanel, take_rows
from .voice_banner import Banner, BannerState, VoiceBanner
from .voice_library import VoiceLibraryPanel

log = logging.getLogger(__name__)
FIRST_SIZE = QSize(1400, 860)  # on a screen that has room for it; otherwise most of the screen
SCREEN_SHARE = 0.94  # of the available screen the first window may take
VOICE_ACTIONS = ("Record / stop", "Import clip…", "Play / stop the clip", "Undo trim or normalize", "Save voice")
OLD_TEXT_AUTOSAVE = ("autosave", "narration-autosave.txt")  # what Timbre kept before projects (data folder)
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
    scriptApplied = Signal()  # the project has the editor's text, parsed  # noqa: N815
    takePerformed = Signal(str)  # take id of a performed line  # noqa: N815
    exported = Signal(object)  # the engine's ExportResult  # noqa: N815
    errorShown = Signal(str, str)  # noqa: N815

    def __init__(self, settings: Settings, library: Any, engine_thread: EngineThread | None = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.settings = settings
        self.library = library
        self.engine_thread = engine_thread or EngineThread(self)
        self.text_thread = TextThread(self)
        self.check_thread = CheckThread(self)
        self.engine_state = EngineState.NONE
        self.engine_summary = ""
        self.document = ProjectDocument(autosave_dir(), pronunciations_file(), self)
        self.player = StreamPlayer(bridge.OUTPUT_RATE, devices.resolve(settings.output_device, "output"))
        self.session = GenerationSession(self.engine_thread, self.player, self.document,
                                         lambda: devices.resolve(self.settings.output_device, "output"), self)
        self.checks = TakeChecks(self.check_thread, self.document, lambda: self.settings.check_takes, self)
        self.dialogs = FileDialogs(settings.last_folders, lambda: self.settings.output_dir)
        self.voice_name = ""
        self._voice_cache: dict[str, Any] = {}
        self._pending_voice: dict[int, tuple[str, str, dict, bool]] = {}
        self._requests: dict[int, str] = {}  # engine request id -> "convert" / "word"
        self._applied = 0  # the parse revision the project has
        self._after_parse: Callable[[], None] | None = None
        self._active_line: str | None = None
        self._model_dialog: ModelManagerDialog | None = None
        self.last_error: tuple[str, str] | None = None
        self.exported_files: list[Path] = []
        self._shut_down = False
        self._closing = False
        self._fitted = False

        self.setWindowTitle("Timbre")
        self.setWindowIcon(QIcon(str(icon_path())))
        self._build()
        self.listening = Listening(self)
        self.files = ProjectFiles(self)
        self._connect()
        self.actions = studio_actions.install(self, self._menu_entries())
        for text in VOICE_ACTIONS:  # the keys of the Voices tab show it
            self.actions[text].triggered.connect(self.show_voices)
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
        self.cast = CastPanel()
        self.direction = DirectionPanel(load_presets(), tags, self.settings.my_presets)
        self.script = ScriptPanel()
        self.editor = self.script.editor
        self.lines = LineList()
        self.takes = TakePanel()
        self.bar = PlaybackBar()
        self.banner = VoiceBanner()

        # The side column: the cast and its direction, or the voices (made from a reference clip) in a second tab,
        # so the project gets the room of a small screen.
        self.side = QTabWidget()
        self.side.setObjectName("sideTabs")
        self.side.setDocumentMode(True)  # no frame: the panels sit on the window as before
        self.side.addTab(self._column((self.cast, 2), (self.direction, 3)), "Cast")
        self.side.addTab(self._column((self.reference, 3), (self.voices, 2)), "Voices")
        self.side.setMaximumWidth(400)  # compact: the project gets the room
        project = self._column((self.script, 3), (self.lines, 4), (self.takes, 3))
        project_box = QWidget()
        pb = QVBoxLayout(project_box)
        pb.setContentsMargins(0, 0, 0, 0)
        pb.setSpacing(6)
        pb.addWidget(self.banner)
        pb.addWidget(project, 1)
        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        for i, (widget, stretch) in enumerate(((self.side, 0), (project_box, 1))):
            self.splitter.addWidget(widget)
            self.splitter.setStretchFactor(i, stretch)
            self.splitter.setCollapsible(i, False)
        self.splitter.setSizes([340, 1060])
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
        self._meter_timer = QTimer(self)
        self._meter_timer.setInterval(200)
        self._meter_timer.timeout.connect(self._update_buffer)
        self._meter_timer.start()

    @staticmethod
    def _column(*parts: tuple[QWidget, int]) -> QSplitter:
        column = QSplitter(Qt.Orientation.Vertical)
        for i, (widget, stretch) in enumerate(parts):
            column.addWidget(widget)
            column.setStretchFactor(i, stretch)
            column.setCollapsible(i, False)
        return column

    def _connect(self) -> None:
        self.reference.errorRaised.connect(self.show_error)
        self.reference.playRequested.connect(
            lambda audio, rate: self.listening.play_clip(audio, rate, Playing.REFERENCE))
        self.reference.stopRequested.connect(self.stop)
        self.reference.saveVoiceRequested.connect(self.save_voice)
        self.voices.errorRaised.connect(self.show_error)
        self.voices.voiceSelected.connect(self._voice_selected)
        self.voices.listChanged.connect(self._refresh_cast)
        self.cast.voiceChosen.connect(self.choose_cast_voice)
        self.cast.memberSelected.connect(self._member_selected)
        self.direction.tagChosen.connect(self.editor.insert_tag)
        self.direction.myPresetsChanged.connect(self._my_presets_changed)
        self.direction.memberDirectionEdited.connect(self._member_direction_edited)
        self.editor.settled.connect(self._request_parse)
        self.text_thread.parseDone.connect(self._parse_done)
        self.document.changed.connect(self._document_changed)
        self.document.scriptReplaced.connect(self.editor.show_text)
        self.document.autosaveFailed.connect(lambda m: self.statusBar().showMessage(f"Autosave failed: {m}", 8000))
        self.lines.lineSelected.connect(lambda _line: self.show_line_takes())
        self.lines.generateRequested.connect(self.generate_line)
        self.lines.playRequested.connect(self._play_line)
        self.lines.retakeRequested.connect(self.retake_failed)
        self.lines.checkRequested.connect(self.check_takes)
        self.takes.takeSelected.connect(lambda _take: self.show_selected_take())
        self.takes.playRequested.connect(self.listening.play_take)
        self.takes.stopRequested.connect(self.stop)
        self.takes.abRequested.connect(self.listening.ab)
        self.takes.chooseRequested.connect(self.document.choose_take)
        self.takes.deleteRequested.connect(self.document.delete_take)
        self.takes.performRequested.connect(self.perform_line)
        self.bar.generateAllRequested.connect(self.generate_all)
        self.bar.generateStaleRequested.connect(self.generate_stale)
        self.bar.stopRequested.connect(self.stop)
        self.bar.playRequested.connect(self.listening.play_all)
        self.bar.exportRequested.connect(lambda: self.open_export())
        self.banner.actionRequested.connect(self._banner_action)
        self.checks.checked.connect(lambda _take: self.show_selected_take())
        self.checks.checkFailed.connect(lambda m: self.statusBar().showMessage(f"Checks did not run: {m}", 8000))

    def _menu_entries(self) -> list[studio_actions.Entry]:
        e, r, d, b, f = studio_actions.Entry, self.reference, self.direction, self.bar, self.files
        undo, redo = self._undo_actions()
        return [
            e("&File", "New project", f.new, QKeySequence.StandardKey.New),
            e("&File", "Open project…", f.open, QKeySequence.StandardKey.Open),
            e("&File", "Open Recent", f.recent_menu),
            e("&File", "Save", lambda: f.save(), QKeySequence.StandardKey.Save),
            e("&File", "Save as…", lambda: f.save_as(), "Ctrl+Shift+S"),
            e("&File"),
            e("&File", "Import script…", f.import_script),
            e("&File", "Export…", lambda: self.open_export(), "Ctrl+Shift+E"),
            e("&File"),
            e("&File", "Quit", self.close, QKeySequence.StandardKey.Quit),
            e("&Edit", "Undo", undo, QKeySequence.StandardKey.Undo),
            e("&Edit", "Redo", redo, "Ctrl+Shift+Z"),
            e("&Edit"),
            e("&Edit", "Pronunciations…", lambda: self.open_pronunciations(), "Ctrl+Shift+P"),
            e("&Voice", "Record / stop", r.record_button, "Ctrl+R"),
            e("&Voice", "Import clip…", r.import_button, "Ctrl+I"),
            e("&Voice", "Play / stop the clip", r.play_button),
            e("&Voice", "Undo trim or normalize", r.undo_button),
            e("&Voice", "Save voice", r.save_button, "Ctrl+Alt+S"),
            e("&Direction", "Clone", d.mode_buttons["zero_shot"], "Alt+1"),
            e("&Direction", "Cross-lingual", d.mode_buttons["cross_lingual"], "Alt+2"),
            e("&Direction", "Instruct", d.mode_buttons["instruct"], "Alt+3"),
            e("&Direction"),
            e("&Direction", "New seed", d.dice, "Ctrl+D"),
            e("&Generate", "Generate all", b.generate_button, "Ctrl+Return"),
            e("&Generate", "Generate stale lines", b.stale_button),
            e("&Generate", "Generate line", self.lines.generate_button, "Ctrl+Shift+Return"),
            e("&Generate", "Retake failed lines", self.lines.retake_button),
            e("&Generate", "Check takes", self.lines.check_button),
            e("&Generate", "Stop", b.stop_button, "Esc"),
            e("&Generate"),
            e("&Generate", "Play all / stop", b.play_button, "Ctrl+P"),
            e("&Generate", "Play / stop take", self.takes.play_button),
            e("&Generate", "A/B with the take before", self.takes.ab_button, "Ctrl+B"),
            e("&Tools", "Models…", lambda: self.open_model_manager(), "Ctrl+M"),
            e("&Tools", "Settings…", self.open_settings, "Ctrl+,"),
            e("&Help", "Keyboard shortcuts", self._show_shortcuts, "F1"),
        ]

    def _undo_actions(self) -> tuple[QAction, QAction]:
        """Edit ▸ Undo / Redo: typing that waits for its debounce is first made a step of its own."""
        stack = self.document.undo
        undo, redo = QAction("Undo", self), QAction("Redo", self)
        undo.triggered.connect(lambda: self.undo())
        redo.triggered.connect(lambda: self.redo())
        for action, can, text, signal in ((undo, stack.canUndo, stack.undoText, stack.undoTextChanged),
                                          (redo, stack.canRedo, stack.redoText, stack.redoTextChanged)):
            label = action.text()
            signal.connect(lambda t, a=action, w=label: a.setToolTip(f"{w} {t.lower()}" if t else w))
            action.setEnabled(True)  # typing not yet a step can always be undone; a no-op otherwise
        return undo, redo

    def undo(self) -> None:
        self.apply_typing()
        self.document.undo.undo()

    def redo(self) -> None:
        self.apply_typing()
        self.document.undo.redo()

    def apply_typing(self) -> None:
        """Typing still waiting for its debounce becomes the project's script now (one undo step)."""
        self.direction.flush()
        text = self.editor.toPlainText()
        if text != self.document.project.script_text:
            self.editor.cancel_settle()
            self.document.set_script(text)

    def _connect_engine(self) -> None:
        w = self.engine_thread.worker
        # Bound methods (not lambdas): PySide then queues the call into this window's (GUI) thread.
        w.engineLoading.connect(self._engine_loading)
        w.engineReady.connect(self._engine_ready)
        w.engineFailed.connect(self._engine_failed)
        w.voiceDone.connect(self._voice_done)
        w.requestDone.connect(self._request_done)
        self.session.lineActive.connect(self._line_active)
        self.session.takeAdded.connect(self.checks.take_added)
        self.session.lineRetaken.connect(self._line_retaken)
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
        self.direction.speed.setValue(s.speed)
        self.direction.seed.setValue(s.seed)
        self.direction.lock.setChecked(s.seed_locked)
        self.direction.streaming.setChecked(s.streaming)
        if s.last_voice:
            self.voices.select(s.last_voice)
        narrator = self.narrator_voice()
        if narrator is not None:
            self.document.set_cast(bridge.NARRATOR, narrator)
        self._adopt_old_text()
        self._document_changed(Change.ALL)

    def _adopt_old_text(self) -> None:
        """The narration text an older Timbre autosaved becomes the new project's script (and the old file goes:
        the project's autosave keeps it from now on)."""
        old = data_dir().joinpath(*OLD_TEXT_AUTOSAVE)
        try:
            text = old.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            return
        if text.strip():
            self.editor.show_text(text)
            self.editor.settled.emit()
        old.unlink(missing_ok=True)

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
        self.check_thread.use_model(self.settings.model_dir)  # its speaker model compares the takes' voices
        self._set_engine_state(EngineState.READY, ready.summary, ready.model)

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
        if kind is Banner.STALE:
            self.generate_stale()
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
                             "Replace it with this clip and transcript? The old voice cannot be brought back "
                             "(projects keep their own copy of the voices they use).", f"Replace “{name}”")
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
        self._voice_cache[info.name] = voice
        self.voices.refresh(select=info.name)
        narrator = self.document.member(bridge.NARRATOR)
        if narrator is None or narrator.voice is None:
            self.document.set_cast(bridge.NARRATOR, voice)  # the first voice narrates
        self.statusBar().showMessage(f"Saved voice “{info.name}”.", 4000)
        self._refresh_cast()
        self.voiceSaved.emit(info.name)

    def show_voices(self) -> None:
        self.side.setCurrentIndex(1)

    def show_cast(self) -> None:
        self.side.setCurrentIndex(0)

    def _voice_selected(self, name: str) -> None:
        self.voice_name = name
        if name:
            self.settings.last_voice = name
        self._refresh_cast()

    def narrator_voice(self) -> Any:
        """The voice a new project's narrator speaks in: the last voice used, if the library still has it."""
        name = self.settings.last_voice
        try:
            return self._voice(name) if name and name in self.library else None
        except TimbreError:
            return None

    def _voice(self, name: str) -> Any:
        if name not in self._voice_cache:
            self._voice_cache[name] = self.library.load(name)
        return self._voice_cache[name]

    def voice_names(self) -> list[str]:
        """The saved voices, as the Voices list shows them."""
        lst = self.voices.list
        return [n for n in (lst.item(i).data(Qt.ItemDataRole.UserRole) for i in range(lst.count())) if n]

    def _my_presets_changed(self, presets: dict[str, str]) -> None:
        self.settings.my_presets = dict(presets)
        try:
            self.settings.save()
        except TimbreError as error:
            self.statusBar().showMessage(f"Cannot save the presets: {error}", 6000)

    # ---- the cast -----------------------------------------------------------------------------
    def choose_cast_voice(self, name: str, voice_name: str) -> None:
        """Map cast member ``name`` to the saved voice ``voice_name`` ("": none); its lines turn stale, takes kept."""
        try:
            voice = self._voice(voice_name) if voice_name else None
        except TimbreError as error:
            self.show_error("Cannot load the voice", str(error))
            self._refresh_cast()
            return
        self.document.set_cast(name, voice)
        self.statusBar().showMessage(f"{name} speaks in {voice_name}." if voice_name else f"{name} has no voice.",
                                     4000)

    def cast_rows(self) -> list[CastRow]:
        project = self.document.project
        names = list(project.script.speakers)
        for member in project.cast:
            if bridge.name_key(member) not in {bridge.name_key(n) for n in names}:
                names.append(member)
        names.sort(key=lambda n: bridge.name_key(n) != bridge.name_key(bridge.NARRATOR))  # the narrator first
        library = set(self.voice_names())
        counts: dict[str, list[int]] = {}
        for view in self.document.rows():
            c = counts.setdefault(bridge.name_key(view.line.speaker), [0, 0])
            c[0] += 1
            c[1] += view.status.value == "stale"
        rows = []
        for name in names:
            member = self.document.member(name)
            voice = member.voice.name if member is not None and member.voice is not None else ""
            lines, stale = counts.get(bridge.name_key(name), [0, 0])
            rows.append(CastRow(member.name if member else name, voice, voice in library,
                                direction_words(member), lines, stale))
        return rows

    def _refresh_cast(self) -> None:
        self.cast.show_cast(self.cast_rows(), self.voice_names())
        self._member_selected(self.cast.current_name)

    def _member_selected(self, name: str) -> None:
        member = self.document.member(name) if name else None
        if member is None and name:
            self.direction.show_member(name, "zero_shot", "")
            return
        if member is not None:
            mode, instruction = member_direction(member)
            self.direction.show_member(member.name, mode, instruction)

    def _member_direction_edited(self, mode: str, instruction: str) -> None:
        name = self.direction.member
        member = self.document.member(name)
        if member is not None and member_direction(member) == (mode, instruction) and member.mode:
            return
        if mode == "instruct" and not instruction:
            return  # nothing to direct with yet: wait for the instruction
        self.document.set_cast(name, mode=mode, instruction=instruction)

    # ---- the script: parsed on the text thread --------------------------------------------------
    def _request_parse(self) -> None:
        project = self.document.project
        self.text_thread.request(self.editor.toPlainText(), tuple(project.cast), project.presets)

    def _parse_done(self, result: ParseResult) -> None:
        if self._shut_down:
            return  # a parse that was under way when the studio closed: the project is gone
        if result.error:
            self.show_error("Cannot read the script", result.error)
        elif result.text == self.editor.toPlainText():  # not a text undone or replaced meanwhile
            self.document.set_script(result.text)  # the project's own parse hits the sentence cache now
        self._applied = result.revision
        self.scriptApplied.emit()
        action, self._after_parse = self._after_parse, None
        if action is not None and self.script_current:
            action()
        elif action is not None:
            self._after_parse = action  # a newer parse is on its way

    @property
    def script_current(self) -> bool:
        """The project has the editor's text (the lines on screen are the script's)."""
        return not self.editor.settling and self._applied == self.text_thread.latest and \
            self.editor.toPlainText() == self.document.project.script_text

    def flush_edits(self) -> None:
        """Typing that waits for its debounce reaches the project now (before generating, saving, undoing)."""
        self.direction.flush()
        if self.editor.settling:
            self.editor.flush()

    def _when_parsed(self, action: Callable[[], None]) -> None:
        """Run ``action`` now if the project has the editor's text, else as soon as it does."""
        self.flush_edits()
        if self.script_current:
            action()
            return
        self._after_parse = action
        if self._applied == self.text_thread.latest and not self.editor.settling:
            self._request_parse()  # the editor changed without typing (show_text): parse it now
        self.statusBar().showMessage("Reading the script…", 3000)

    # ---- what the project shows -------------------------------------------------------------------
    def _document_changed(self, change: Change) -> None:
        if change & (Change.SCRIPT | Change.CAST | Change.WORDS | Change.FILE):
            self.script.show_parse(self.document.project.script)
            self._refresh_cast()
        self._refresh_lines()
        self.show_line_takes()
        self._update_banner()
        self._update_title()

    def _refresh_lines(self) -> None:
        rows = self.document.rows()
        self.lines.show_rows(line_rows(rows, self.checks.report, self._active_line, self.check_thread.pending))
        ready = sum(v.status.value == "ready" for v in rows)
        self.bar.set_progress(ready, len(rows))

    def show_line_takes(self) -> None:
        line = self.lines.current_line
        view = self.document.row(line) if line else None
        if view is None:
            self.takes.show_takes("", "", [])
        else:
            self.takes.show_takes(view.id, f"line {view.line.index + 1} · {view.line.speaker}",
                                  take_rows(view, self.checks.report))
        self.show_selected_take()

    def show_selected_take(self) -> None:
        """The selected take's waveform and checks (unless a take is playing: its waveform stays)."""
        take = self.takes.current_take
        if self.listening.tracker.state.what in (Playing.TAKE, Playing.NARRATION):
            return
        self.takes.show_checks(self.checks.report(take) if take else None)
        if not take:
            self.takes.show_audio(np.zeros(0, np.float32), bridge.OUTPUT_RATE)
            return
        try:
            self.takes.show_audio(self.document.take_audio(take), self.document.take_info(take).sample_rate)
        except TimbreError as error:
            self.takes.show_audio(np.zeros(0, np.float32), bridge.OUTPUT_RATE)
            self.statusBar().showMessage(str(error), 8000)

    def _banner_state(self) -> BannerState:
        if self.engine_state is EngineState.NONE:
            return BannerState(Banner.MODEL_NEEDED)
        if self.engine_state is EngineState.FAILED:
            return BannerState(Banner.MODEL_FAILED)
        project, rows = self.document.project, self.document.rows()
        silent = tuple(r.name for r in self.cast_rows() if not r.voice and (r.lines or r.name == bridge.NARRATOR))
        if silent and rows:
            return BannerState(Banner.NO_VOICE, silent)
        if project.script.problems:
            return BannerState(Banner.PROBLEMS, count=len(project.script.problems))
        stale = sum(v.status.value == "stale" for v in rows)
        if stale:
            return BannerState(Banner.STALE, count=stale)
        if self.engine_state is EngineState.LOADING:
            return BannerState(Banner.MODEL_LOADING)
        return BannerState(Banner.READY, count=sum(v.chosen is not None for v in rows), total=len(rows),
                           failed=len(self.lines.failed_lines()))

    def _update_banner(self) -> None:
        self.banner.show_state(self._banner_state())

    def _update_title(self) -> None:
        self.setWindowTitle(f"{self.document.title}[*] — Timbre")
        self.setWindowModified(self.document.has_unsaved_work())

    # ---- generation ------------------------------------------------------------------------
    def _model_ready(self) -> bool:
        if self.engine_state is EngineState.READY:
            return True
        what = "is still loading; wait a moment" if self.engine_state is EngineState.LOADING else \
            "is not loaded. Open Tools → Models… to download or choose one"
        self.show_error("The model is not ready", f"The model {what}.")
        return False

    def _jobs(self, which: str | list[str]) -> list | None:
        """LineJobs for ``which`` ("pending", "stale", ... or line ids), each with its own seed; None (and a
        message) when the script or the cast cannot make them."""
        project, speed = self.document.project, float(self.direction.speed.value())
        try:
            jobs = project.jobs(which, speed=speed) if isinstance(which, str) else \
                [project.job(line_id, speed=speed) for line_id in which]
        except TimbreError as error:
            self.show_error("Cannot generate yet", str(error))
            return None
        return [bridge.with_seed(job, self.direction.next_seed()) for job in jobs]

    def generate_all(self) -> bool:
        """Takes of every line without a current one (of every line when all have one)."""
        return self._generate(lambda: self._jobs("pending") if any(v.status.value != "ready"
                                                                   for v in self.document.rows())
                              else self._jobs("all"))

    def generate_stale(self) -> bool:
        return self._generate(lambda: self._jobs("stale"))

    def generate_line(self, line_id: str | None = None) -> bool:
        """A new take of one line (the selected one by default)."""
        line_id = line_id or self.lines.current_line
        if not line_id:
            self.show_error("No line selected", "Select a line in the list first.")
            return False
        return self._generate(lambda: self._jobs([line_id]) if self.document.row(line_id) else
                              self.show_error("The line changed", "Its text was edited meanwhile. Select it again."))

    def _generate(self, jobs: Callable[[], list | None]) -> bool:
        if not self._model_ready():
            return False

        def now() -> None:
            made = jobs()
            if made == []:
                self.show_error("Nothing to generate", "Every line has a current take (or there are no lines yet).")
            elif made:
                self.listening.stop()
                self.session.generate(made, self.direction.streaming.isChecked())
                self._generation_started(len(made))

        self._when_parsed(now)
        return True

    def retake_failed(self) -> bool:
        """Best-of-N takes of every line whose take failed its checks (N from Settings)."""
        if not self._model_ready():
            return False
        failed = self.checks.failed_lines()
        if not failed:
            self.show_error("No failed lines", "No chosen take failed its checks.")
            return False
        jobs = self._jobs(failed)
        if jobs:
            if self.check_thread.checker is None:
                self.check_thread.use_model(self.settings.model_dir)
            self.session.retake(jobs, self.settings.best_of, self.check_thread.checker)
            self._generation_started(len(jobs), f"Retaking {len(jobs)} line(s), best of {self.settings.best_of}…")
        return bool(jobs)

    def check_takes(self) -> int:
        queued = self.checks.check_unchecked()
        self.statusBar().showMessage(f"Checking {queued} take(s)…" if queued else "Every chosen take is checked.",
                                     4000)
        self._refresh_lines()
        return queued

    def _generation_started(self, lines: int, message: str = "") -> None:
        self.bar.set_busy(True)
        self.bar.set_metrics(None, None, None)
        self.bar.latency_label.setText("first audio …")
        self.statusBar().showMessage(message or f"Generating {lines} line(s)…")

    def _line_active(self, line_id: str | None) -> None:
        self._active_line = line_id
        self._refresh_lines()

    def _line_retaken(self, event: Retaken) -> None:
        verdict = "one passed its checks" if event.passed else "none passed; the best was kept"
        self.statusBar().showMessage(f"{event.tries} take(s) of a line: {verdict}.", 6000)

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
        self._refresh_lines()
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
        self.listening.stop()
        self.bar.clear_buffer()

    def _update_buffer(self) -> None:
        metrics = self.session.buffer_metrics()
        if metrics is not None:
            self._show_metrics(metrics)
        else:
            self.bar.clear_buffer()

    def _play_line(self, line_id: str) -> None:
        view = self.document.row(line_id)
        if view is not None and view.chosen:
            self.listening.play_take(view.chosen)

    # ---- performed lines and words -----------------------------------------------------------------
    def perform_line(self, line_id: str = "") -> PerformDialog | None:
        line_id = line_id or self.lines.current_line
        view = self.document.row(line_id) if line_id else None
        if view is None:
            self.show_error("No line selected", "Select the line to perform in the list first.")
            return None
        member = self.document.member(view.line.speaker)
        if member is None or member.voice is None:
            self.show_error("No voice", f"{view.line.speaker} has no voice: choose one in the Cast first.")
            return None
        dialog = PerformDialog(view.line.text, view.line.speaker, member.voice.name,
                               devices.resolve(self.reference.input_device_name, "input"), self.dialogs, self)
        dialog.errorRaised.connect(self.show_error)
        dialog.performed.connect(lambda audio, rate: self.convert_reading(line_id, audio, rate))
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.open()
        return dialog

    def convert_reading(self, line_id: str, audio: np.ndarray, sample_rate: int) -> int | None:
        """Turn the creator's reading of a line into a take in its speaker's voice (on the engine thread)."""
        if not self._model_ready():
            return None
        jobs = self._jobs([line_id])
        if not jobs:
            return None
        request = self.engine_thread.convert(jobs[0], audio, sample_rate)
        self._requests[request] = "convert"
        self.statusBar().showMessage("Turning your reading into the speaker's voice…")
        return request

    def hear_word(self, text: str, lexicon: Any) -> int | None:
        """"Hear this word": ``text`` respelled by ``lexicon``, in the selected cast member's voice."""
        if not self._model_ready():
            return None
        member = self.document.member(self.cast.current_name or bridge.NARRATOR) or \
            self.document.member(bridge.NARRATOR)
        if member is None or member.voice is None:
            self.show_error("No voice", "Give the selected cast member a voice first.")
            return None
        request = self.engine_thread.hear(text, member.voice, lexicon)
        self._requests[request] = "word"
        return request

    def _request_done(self, done: RequestDone) -> None:
        kind = self._requests.pop(done.request_id, None)
        if kind is None:
            return
        if done.error:
            self.show_error("Cannot convert the reading" if kind == "convert" else "Cannot say it", done.error)
        elif kind == "convert":
            info = self.document.add_take(done.take)
            if info is not None:
                self.statusBar().showMessage("The performed take is the line's take now.", 5000)
                self.checks.take_added(info.id)
                self.takePerformed.emit(info.id)
        else:
            self.listening.play_word(done.audio)

    def open_pronunciations(self) -> PronunciationDialog:
        doc = self.document
        dialog = PronunciationDialog(doc.project.pronunciations, doc.global_words,
                                     self.cast.current_name or bridge.NARRATOR, doc.global_words_problem, self)
        dialog.hearRequested.connect(self.hear_word)
        dialog.applied.connect(self._pronunciations_applied)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.open()
        return dialog

    def _pronunciations_applied(self, project: Any, everyone: Any) -> None:
        if project != self.document.project.pronunciations:
            self.document.set_pronunciations(project)
        if everyone is not None and everyone != self.document.global_words:
            try:
                self.document.set_global_pronunciations(everyone)
            except (OSError, TimbreError) as error:
                self.show_error("Cannot save the pronunciations", str(error))

    # ---- export ----------------------------------------------------------------------------
    def open_export(self, path: Path | None = None) -> ExportDialog | None:
        """The export dialog for the chosen takes of every line, with the project's last export settings."""
        rows = self.document.rows()
        if not any(v.chosen for v in rows):
            self.show_error("Nothing to export", "Generate the lines first (Ctrl+Enter).")
            return None
        saved = self.document.project.export
        settings = None
        if saved:
            try:
                settings = bridge.export_settings_from_json(saved)
            except TimbreError as error:
                self.statusBar().showMessage(str(error), 6000)
        suffix = ".wav"
        if settings is not None and settings.format:
            suffix = next((f.suffixes[0] for f in bridge.export_api().FORMATS if f.name == settings.format), suffix)
        target = path or self.dialogs.folder(FileKind.EXPORT) / f"{self.document.title}{suffix}"
        self.flush_edits()
        dialog = ExportDialog(self.document.timeline_source(), target, settings, self)
        if settings is None or not settings.metadata.title:
            dialog.title_edit.setText(self.document.title if self.document.path else "")
        dialog.exported.connect(lambda result: self._exported(dialog, result))
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.open()
        return dialog

    def _exported(self, dialog: ExportDialog, result: Any) -> None:
        self.document.set_export(bridge.export_settings_to_json(dialog.saved_settings()))
        paths = [f.path for f in result.files]
        self.exported_files += paths
        if paths:
            self.dialogs.remember(FileKind.EXPORT, paths[0])
        self.statusBar().showMessage(f"Exported {result.summary()}.", 6000)
        self.exported.emit(result)

    # ---- settings, help -----------------------------------------------------------------------
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
        """Ordered: cancel generation, stop audio, stop the threads, keep unsaved work in the autosave, save the
        settings."""
        if self._shut_down:
            return
        self._shut_down = True
        self.engine_thread.cancel()
        self.listening.stop()
        if self.reference.is_recording:
            self.reference.stop_recording()
        if self._model_dialog is not None:
            self._model_dialog.shutdown()
        self.engine_thread.shutdown()
        self.check_thread.shutdown()
        self.text_thread.shutdown()
        self.listening.shutdown()
        self._meter_timer.stop()
        self.flush_edits()
        if self.editor.toPlainText() != self.document.project.script_text and not self.document.discarded:
            self.document.apply_script(self.editor.toPlainText(), show=False)  # the parse thread has stopped
        self.document.close()
        self._save_settings()

    def _save_settings(self) -> None:
        s = self.settings
        s.window_geometry = bytes(self.saveGeometry().toHex()).decode()
        s.window_state = bytes(self.saveState().toHex()).decode()
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
            QTimer.singleShot(0, self.files.offer_recovery)  # what a crashed Timbre left, once the window is up

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802
        if self._shut_down or self._closing or not self.document.has_unsaved_work():
            self.shutdown()
            event.accept()
            return
        event.ignore()  # first the question; the window closes once the work is saved or given up
        self.files.when_saved(self._close_now)

    def _close_now(self) -> None:
        self._closing = True
        self.close()


def member_direction(member: Any) -> tuple[str, str]:
    """(mode, instruction) the member's lines without their own direction are spoken with."""
    return bridge.expected_direction(SimpleNamespace(instruction=""), member)


def direction_words(member: Any) -> str:
    """The member's default direction in words, for the cast list."""
    if member is None:
        return "no voice yet"
    mode, instruction = member_direction(member)
    label = bridge.MODE_LABELS.get(mode, mode)
    return f"{label}: {instruction}" if instruction else label + ("" if member.mode else " (the voice's default)")
