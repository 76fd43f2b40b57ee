"""The model's state as the studio shows it: loading, ready or failed, the status bar's model, device and output
fields, the model manager, and the one question every action that needs the model asks (:meth:`model_ready`).

The engine thread reports; this object keeps the :class:`EngineState` (a small enum, never a label's text) and tells
the window (``engineStateChanged``) so the banner and the buttons follow.
"""
from __future__ import annotations

import enum
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject
from PySide6.QtWidgets import QLabel

from . import engine_bridge as bridge
from .audio import devices
from .widgets.model_manager import ModelManagerDialog
from .workers.synthesis_worker import EngineFailed, EngineReady, LoadProblem

if TYPE_CHECKING:
    from .widgets.main_window import MainWindow

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


class EngineStatus(QObject):
    def __init__(self, window: "MainWindow") -> None:
        super().__init__(window)
        self.w = window
        self.state = EngineState.NONE
        self.summary = ""
        self.model_dialog: ModelManagerDialog | None = None
        self.model_label, self.device_label, self.output_label = QLabel("No model"), QLabel(""), QLabel("")
        for label in (self.model_label, self.device_label, self.output_label):
            label.setObjectName("statusField")

    def start(self) -> bool:
        """Load the model from the settings; False (and the model manager) when there is none."""
        if not self.w.settings.model_dir:
            self.open_model_manager(first_run=True)
            return False
        s = self.w.settings
        self.w.engine_thread.load(s.model_dir, s.device, s.precision, s.flow_history)
        return True

    def loading(self, _model_dir: str) -> None:
        self.set_state(EngineState.LOADING, "")

    def ready(self, ready: EngineReady) -> None:
        self.w.check_thread.use_model(self.w.settings.model_dir)  # its speaker model compares the takes' voices
        self.set_state(EngineState.READY, ready.summary, ready.model)

    def set_state(self, state: EngineState, summary: str, model: str = "") -> None:
        self.state = state
        self.summary = summary
        text = {EngineState.LOADING: "Loading the model…", EngineState.READY: model or "Model ready",
                EngineState.FAILED: "Model failed to load", EngineState.NONE: "No model"}[state]
        self.model_label.setText(text)
        self.model_label.setToolTip(self.w.settings.model_dir or "No model folder chosen (Tools → Models…)")
        self.device_label.setText(summary or bridge.planned_device(self.w.settings.device, self.w.settings.precision))
        if state is EngineState.READY:
            self.w.statusBar().showMessage("Ready.", 3000)
        self.w.project_view.update_banner()
        self.w.engineStateChanged.emit(state)

    def failed(self, failed: EngineFailed) -> None:
        self.set_state(EngineState.FAILED, "")
        self.w.show_error("The model could not be loaded", f"{failed.message}\n\n{LOAD_ADVICE[failed.problem]}")

    def open_model_manager(self, first_run: bool = False) -> ModelManagerDialog:
        s = self.w.settings
        dialog = ModelManagerDialog(s.model_dir, s.device, s.precision, flow_history=s.flow_history,
                                    first_run=first_run, parent=self.w, dialogs=self.w.dialogs)
        dialog.modelChosen.connect(self.model_chosen)
        self.model_dialog = dialog
        dialog.finished.connect(lambda _r: setattr(self, "model_dialog", None))
        dialog.open()
        return dialog

    def model_chosen(self, folder: str, device: str, precision: str, flow_history: str = "auto") -> None:
        s = self.w.settings
        s.model_dir, s.device, s.precision, s.flow_history = folder, device, precision, flow_history
        self.w.voice_work.forget()
        self.w.settings.save()
        self.start()

    def model_ready(self) -> bool:
        if self.state is EngineState.READY:
            return True
        what = "is still loading; wait a moment" if self.state is EngineState.LOADING else \
            "is not loaded. Open Tools → Models… to download or choose one"
        self.w.show_error("The model is not ready", f"The model {what}.")
        return False

    def update_output_label(self) -> None:
        reason = devices.no_device_reason("output")
        name = self.w.settings.output_device or "default output"
        self.output_label.setText(f"Output: {name}" if reason is None else "No audio output")
        self.output_label.setToolTip(reason or "Audio output device (Tools → Settings…)")
