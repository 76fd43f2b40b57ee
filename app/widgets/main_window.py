"""The studio window: a compact side column with the cast and its direction (and, in a second tab, the voices: a
reference clip and the saved voices), the project (script, lines, takes) taking the rest, the transport at the
bottom, model and device in the status bar.

The window builds the widgets and wires them to the objects that do the work, one idea each: the project document
(app/document.py), files (app/project_files.py), the model's state (app/engine_status.py), voices
(app/voice_work.py), the cast (app/cast_work.py), the script's parse (app/script_sync.py), generation
(app/generation.py), performed lines and pronunciations (app/performing.py), what the project shows
(app/project_view.py), export (app/exporting.py) and listening (app/listening.py). It does no audio, text or model
work itself: that runs on the engine, text and check threads (app/workers), and nothing heavier than a few
milliseconds runs on the GUI thread.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from PySide6.QtCore import QByteArray, Qt, QTimer, Signal
from PySide6.QtGui import QCloseEvent, QIcon, QShowEvent
from PySide6.QtWidgets import QDialog, QLabel, QMainWindow, QMessageBox, QSplitter, QTabWidget, QVBoxLayout, QWidget

from engine import TimbreError

from .. import engine_bridge as bridge
from ..audio import devices
from ..audio.player import StreamPlayer
from ..cast_work import CastWork
from ..document import Change, ProjectDocument
from ..engine_status import EngineState, EngineStatus
from ..exporting import Exporting
from ..generation import Generation
from ..listening import Listening
from ..performing import Performing
from ..playback import Playing
from ..project_files import ProjectFiles
from ..project_view import ProjectView
from ..resources import icon_path, load_presets
from ..script_sync import ScriptSync
from ..session import GenerationSession
from ..settings import Settings, autosave_dir, data_dir, pronunciations_file
from ..studio_extras import StudioExtras
from ..take_checks import TakeChecks
from ..voice_work import VoiceWork
from ..workers.check_worker import CheckThread
from ..workers.synthesis_worker import EngineThread
from ..workers.text_worker import TextThread
from . import studio_actions, studio_menu, window_fit
from .cast_panel import CastPanel
from .direction_panel import DirectionPanel
from .export_dialog import ExportDialog
from .file_dialogs import FileDialogs
from .line_list import LineList
from .model_manager import ModelManagerDialog
from .playback_bar import PlaybackBar
from .pronunciation_dialog import PronunciationDialog
from .reference_panel import ReferencePanel
from .script_panel import ScriptPanel
from .settings_dialog import SettingsDialog
from .take_panel import TakePanel
from .voice_banner import Banner, VoiceBanner
from .voice_library import VoiceLibraryPanel

log = logging.getLogger(__name__)
VOICE_ACTIONS = ("Record / stop", "Import clip…", "Play / stop the clip", "Undo trim or normalize", "Save voice")
OLD_TEXT_AUTOSAVE = ("autosave", "narration-autosave.txt")  # what Timbre kept before projects (data folder)


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
        self.document = ProjectDocument(autosave_dir(), pronunciations_file(), self)
        self.player = StreamPlayer(bridge.OUTPUT_RATE, devices.resolve(settings.output_device, "output"))
        self.session = GenerationSession(self.engine_thread, self.player, self.document,
                                         lambda: devices.resolve(self.settings.output_device, "output"), self)
        self.checks = TakeChecks(self.check_thread, self.document, lambda: self.settings.check_takes, self)
        self.dialogs = FileDialogs(settings.last_folders, lambda: self.settings.output_dir)
        self.last_error: tuple[str, str] | None = None
        self._shut_down = False
        self._closing = False
        self._fitted = False

        self.setWindowTitle("Timbre")
        self.setWindowIcon(QIcon(str(icon_path())))
        # What the window does is done by these, one idea each; the window builds the widgets and wires them.
        self.engine_status = EngineStatus(self)
        self.voice_work = VoiceWork(self)
        self.cast_work = CastWork(self)
        self.script_sync = ScriptSync(self)
        self.generation = Generation(self)
        self.performing = Performing(self)
        self.project_view = ProjectView(self)
        self.exporting = Exporting(self)
        self._build()
        self.listening = Listening(self)
        self.files = ProjectFiles(self)
        self.extras = StudioExtras(self)  # model guard, families, A/B, speech server
        self._connect()
        self.actions = studio_actions.install(self, studio_menu.entries(self))
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
        project = self._column((self.script, 3), (self.lines, 4), (self.takes, 4))  # takes: their checks fit too
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

        status = self.engine_status
        for label in (status.model_label, status.device_label, status.output_label):
            self.statusBar().addPermanentWidget(label)
        self.engine_status.update_output_label()
        self._meter_timer = QTimer(self)
        self._meter_timer.setInterval(200)
        self._meter_timer.timeout.connect(self.generation.update_buffer)
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
            lambda clip: self.listening.play_clip(clip.audio, clip.sample_rate, Playing.REFERENCE))
        self.reference.stopRequested.connect(self.generation.stop)
        self.reference.saveVoiceRequested.connect(self.voice_work.save_voice)
        self.voices.errorRaised.connect(self.show_error)
        self.voices.voiceSelected.connect(self.voice_work.voice_selected)
        self.voices.listChanged.connect(self.cast_work.refresh)
        self.cast.voiceChosen.connect(self.cast_work.choose_voice)
        self.cast.memberSelected.connect(self.cast_work.member_selected)
        self.direction.tagChosen.connect(self.editor.insert_tag)
        self.direction.myPresetsChanged.connect(self.voice_work.my_presets_changed)
        self.direction.memberDirectionEdited.connect(self.cast_work.direction_edited)
        self.editor.settled.connect(self.script_sync.request_parse)
        self.text_thread.parseDone.connect(self.script_sync.parse_done)
        self.document.changed.connect(self.project_view.document_changed)
        self.document.scriptReplaced.connect(self.editor.show_text)
        self.document.autosaveFailed.connect(lambda m: self.statusBar().showMessage(f"Autosave failed: {m}", 8000))
        self.lines.lineSelected.connect(lambda _line: self.project_view.show_line_takes())
        self.lines.generateRequested.connect(self.generation.generate_line)
        self.lines.playRequested.connect(self.generation.play_line)
        self.lines.retakeRequested.connect(self.generation.retake_failed)
        self.lines.checkRequested.connect(self.generation.check_takes)
        self.takes.takeSelected.connect(lambda _take: self.project_view.show_selected_take())
        self.takes.playRequested.connect(self.listening.play_take)
        self.takes.stopRequested.connect(self.generation.stop)
        self.takes.abRequested.connect(self.listening.ab)
        self.takes.chooseRequested.connect(self.document.choose_take)
        self.takes.deleteRequested.connect(self.document.delete_take)
        self.takes.performRequested.connect(self.performing.perform_line)
        self.bar.generateAllRequested.connect(self.generation.generate_all)
        self.bar.generateStaleRequested.connect(self.generation.generate_stale)
        self.bar.stopRequested.connect(self.generation.stop)
        self.bar.playRequested.connect(self.listening.play_all)
        self.bar.exportRequested.connect(lambda: self.exporting.open_export())
        self.banner.actionRequested.connect(self._banner_action)
        self.checks.checked.connect(lambda _take: self.project_view.show_selected_take())
        self.checks.checkFailed.connect(lambda m: self.statusBar().showMessage(f"Checks did not run: {m}", 8000))

    def _connect_engine(self) -> None:
        w = self.engine_thread.worker
        # Bound methods (not lambdas): PySide then queues the call into this window's (GUI) thread.
        w.engineLoading.connect(self.engine_status.loading)
        w.engineReady.connect(self.engine_status.ready)
        w.engineFailed.connect(self.engine_status.failed)
        w.voiceDone.connect(self.voice_work.voice_done)
        w.requestDone.connect(self.performing.request_done)
        self.session.lineActive.connect(self.generation.line_active)
        self.session.takeAdded.connect(self.checks.take_added)
        self.session.lineRetaken.connect(self.generation.line_retaken)
        self.session.metricsChanged.connect(self.generation.show_metrics)
        self.session.ended.connect(self.generation.ended)
        self.session.playbackFailed.connect(self.extras.audio_notice.report)  # one box per reason, not per line

    def _restore(self) -> None:
        s = self.settings
        if not (s.window_geometry and self.restoreGeometry(QByteArray.fromHex(s.window_geometry.encode()))):
            self.resize(window_fit.first_size(self))
        window_fit.fit_to_screen(self)
        if s.window_state:
            self.restoreState(QByteArray.fromHex(s.window_state.encode()))
        self.direction.speed.setValue(s.speed)
        self.direction.seed.setValue(s.seed)
        self.direction.lock.setChecked(s.seed_locked)
        self.direction.streaming.setChecked(s.streaming)
        if s.last_voice:
            self.voices.select(s.last_voice)
        narrator = self.voice_work.narrator_voice()
        if narrator is not None:
            self.document.set_cast(bridge.NARRATOR, narrator)
        self._adopt_old_text()
        self.project_view.document_changed(Change.ALL)

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

    def fit_to_screen(self) -> None:
        window_fit.fit_to_screen(self)

    def _banner_action(self, kind: Banner) -> None:
        if kind is Banner.STALE:
            self.generation.generate_stale()
        else:
            self.engine_status.open_model_manager(first_run=kind is Banner.MODEL_NEEDED)

    def show_voices(self) -> None:
        self.side.setCurrentIndex(1)

    def show_cast(self) -> None:
        self.side.setCurrentIndex(0)

    # ---- what the others ask of the window (each done by the object named) -----------------------
    @property
    def engine_state(self) -> EngineState:
        return self.engine_status.state

    @property
    def _model_dialog(self) -> ModelManagerDialog | None:
        return self.engine_status.model_dialog

    @property
    def model_label(self) -> QLabel:
        return self.engine_status.model_label

    @property
    def device_label(self) -> QLabel:
        return self.engine_status.device_label

    @property
    def voice_name(self) -> str:
        return self.voice_work.voice_name

    @property
    def script_current(self) -> bool:
        return self.script_sync.current

    @property
    def generating(self) -> bool:
        return self.generation.generating

    def start_engine(self) -> bool:
        return self.extras.guard.start()  # asks first when the model failed to load last time

    def open_model_manager(self, first_run: bool = False) -> ModelManagerDialog:
        return self.engine_status.open_model_manager(first_run)

    def narrator_voice(self) -> Any:
        return self.voice_work.narrator_voice()

    def cast_rows(self) -> list:
        return self.cast_work.rows()

    def choose_cast_voice(self, name: str, voice_name: str) -> None:
        self.cast_work.choose_voice(name, voice_name)

    def apply_typing(self) -> None:
        self.script_sync.apply_typing()

    def flush_edits(self) -> None:
        self.script_sync.flush_edits()

    def generate_all(self) -> bool:
        return self.generation.generate_all()

    def generate_line(self, line_id: str | None = None) -> bool:
        return self.generation.generate_line(line_id)

    def stop(self) -> None:
        self.generation.stop()

    def open_export(self, path: Path | None = None) -> ExportDialog | None:
        return self.exporting.open_export(path)

    def open_pronunciations(self) -> PronunciationDialog:
        return self.performing.open_pronunciations()

    # ---- settings, help -----------------------------------------------------------------------
    def open_settings(self) -> SettingsDialog:
        dialog = SettingsDialog(self.settings, self, dialogs=self.dialogs)

        def accepted() -> None:
            theme = self.settings.theme
            dialog.apply()
            self.settings.save()
            self.engine_status.update_output_label()
            self.reference.refresh_devices(self.settings.input_device)
            if self.settings.theme != theme:
                from ..theme import apply_theme

                apply_theme(self.settings.theme)

        dialog.accepted.connect(accepted)
        dialog.open()
        return dialog


    def show_shortcuts(self) -> None:
        QMessageBox.information(self, "Keyboard shortcuts", "\n".join(studio_actions.shortcut_lines(self.actions)))

    # ---- messages --------------------------------------------------------------------------
    def ask(self, title: str, text: str, detail: str, yes: str, no: str = "Cancel") -> QMessageBox:
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
        if self._shut_down:  # a report that arrived after the window closed (a model that failed meanwhile)
            return
        box = QMessageBox(QMessageBox.Icon.Warning, title, message, QMessageBox.StandardButton.Ok, self)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.open()
        self.errorShown.emit(title, message)

    # ---- shutdown --------------------------------------------------------------------------
    @property
    def shut_down(self) -> bool:
        """The studio has shut down (threads stopped, project closed): late reports are dropped."""
        return self._shut_down

    def shutdown(self) -> None:
        """Ordered: cancel generation, stop audio, stop the threads, keep unsaved work in the autosave, save the
        settings."""
        if self._shut_down:
            return
        self._shut_down = True
        self.engine_thread.cancel()
        self.extras.shutdown()
        self.listening.stop()
        if self.reference.is_recording:
            self.reference.stop_recording()
        if self.engine_status.model_dialog is not None:
            self.engine_status.model_dialog.shutdown()
        self.engine_thread.shutdown()
        self.check_thread.shutdown()
        self.text_thread.shutdown()
        self.listening.shutdown()
        self._meter_timer.stop()
        self.script_sync.flush_edits()
        if self.editor.toPlainText() != self.document.project.script_text and not self.document.discarded:
            self.document.apply_script(self.editor.toPlainText(), show=False)  # the parse thread has stopped
        self.document.close()
        self._save_settings()
        for dialog in self.findChildren(QDialog):  # a message box or the model manager would outlive the window
            dialog.close()

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
