"""Models: download CosyVoice2-0.5B (progress, time left, cancel, resume) or pick a local folder, verify
its files, choose the device/precision the engine will use, and see (or re-run) the hardware check behind "auto"."""
from __future__ import annotations

import time
from pathlib import Path

from PySide6.QtCore import QEvent, Signal
from PySide6.QtWidgets import (
    QComboBox, QDialog, QDialogButtonBox, QFormLayout, QGroupBox, QHBoxLayout, QLabel,
    QLineEdit, QProgressBar, QPushButton, QVBoxLayout, QWidget,
)

from engine import TimbreError

from .. import engine_bridge as bridge
from ..settings import data_dir
from ..workers.download_worker import DownloadThread
from .file_dialogs import FileDialogs, FileKind
from .machine_check_panel import MachineCheckPanel
from .model_verify import VerifyThread

FIRST_RUN_TEXT = (
    "<b>Timbre needs a speech model before it can speak.</b><br>"
    "Download <b>CosyVoice2-0.5B</b> (about 2 GB, once; an interrupted download resumes where it stopped) or "
    "<b>Fun-CosyVoice3-0.5B</b>, or point Timbre at a folder where you already have one. Everything then runs on this computer, offline."
)

MEMORY_TIP = (
    "While a sentence streams, the model keeps what it computed for every earlier frame. Exact is what the "
    "reference computes and needs the most memory (about 2.7 GB for a 10 s sentence at the 0.5B size); compact "
    "halves that, smallest keeps about a quarter, and both change the audio by far less than another precision "
    "does. However long a sentence is, this never takes more than a quarter of the computer's memory: past "
    "that, the rest of the sentence is recomputed piece by piece (the same audio, more slowly). Applies when the "
    "model loads."
)


def human_bytes(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if abs(n) < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GB"


def human_time(seconds: float) -> str:
    seconds = int(max(0, seconds))
    if seconds >= 3600:
        return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"
    if seconds >= 60:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds} s"


class ModelManagerDialog(QDialog):
    modelChosen = Signal(str, str, str, str)  # folder, device, precision, flow history  # noqa: N815
    verified = Signal(bool, str)  # "Verify model" finished: nothing wrong found, what the status line says

    def __init__(self, model_dir: str, device: str, precision: str, first_run: bool = False,
                 parent: QWidget | None = None, dialogs: FileDialogs | None = None,
                 flow_history: str = "auto") -> None:
        super().__init__(parent)
        self.setWindowTitle("Models")
        self.setMinimumWidth(560)
        self.dialogs = dialogs or FileDialogs({})
        self._bytes_seen = 0  # the most a download reported on disk: 0 means nothing to resume
        self._downloader: DownloadThread | None = None
        self._verifier: VerifyThread | None = None
        self._started_at = 0.0
        self._start_bytes = 0

        intro = QLabel(FIRST_RUN_TEXT if first_run else "Choose the model Timbre uses (CosyVoice 2 or 3).")
        intro.setWordWrap(True)
        intro.setObjectName("introLabel")

        self.folder_edit = QLineEdit(model_dir)
        self.folder_edit.setPlaceholderText("No model folder chosen")
        self.folder_edit.textChanged.connect(lambda _text: self._folder_changed())
        browse = QPushButton("Choose folder…")
        browse.clicked.connect(lambda: self._browse())
        self.verify_button = QPushButton("Verify model")
        self.verify_button.setToolTip("Re-read every model file and compare it with the checksums of its download "
                                      "(a few seconds); a damaged file is fetched again by the next download.")
        self.verify_button.clicked.connect(self.verify_model)
        self.folder_status = QLabel()
        self.folder_status.setWordWrap(True)
        local_box = QGroupBox("Model on this computer")
        local_row = QHBoxLayout()
        local_row.addWidget(self.folder_edit, 1)
        local_row.addWidget(browse)
        local_row.addWidget(self.verify_button)
        local_layout = QVBoxLayout(local_box)
        local_layout.addLayout(local_row)
        local_layout.addWidget(self.folder_status)

        self.repo_edit = QLineEdit(bridge.DEFAULT_REPO_ID)
        # Both families (issue 19): picking one fills in its repository and a folder of its own.
        self.model_choice = QComboBox()
        for repo, family in bridge.known_models().items():
            self.model_choice.addItem(f"{family} · {repo}", repo)
        self.model_choice.currentIndexChanged.connect(lambda _i: self._choose_repo())
        self.dest_edit = QLineEdit(str(bridge.default_download_folder(bridge.DEFAULT_REPO_ID, data_dir() / "models")))
        self.download_button = QPushButton("Download")
        self.download_button.setObjectName("primaryButton")
        self.download_button.clicked.connect(lambda: self.start_download())
        self.cancel_button = QPushButton("Cancel download")
        self.cancel_button.setEnabled(False)
        self.cancel_button.clicked.connect(lambda: self.cancel_download())
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.setValue(0)
        self.progress_label = QLabel("Not started. Partial downloads are kept and resumed.")
        self.progress_label.setObjectName("dimLabel")
        self.progress_label.setWordWrap(True)  # an error names a URL and what to do: it must not run off
        download_box = QGroupBox("Download")
        form = QFormLayout()
        form.addRow("Model", self.model_choice)
        form.addRow("Repository", self.repo_edit)
        form.addRow("Save to", self.dest_edit)
        buttons_row = QHBoxLayout()
        buttons_row.addWidget(self.download_button)
        buttons_row.addWidget(self.cancel_button)
        buttons_row.addStretch(1)
        download_layout = QVBoxLayout(download_box)
        download_layout.addLayout(form)
        download_layout.addLayout(buttons_row)
        download_layout.addWidget(self.progress)
        download_layout.addWidget(self.progress_label)

        # Only the devices this machine has; a saved one it lacks is listed too, and the plan says why it cannot
        # be used (and "Use this model" waits for another choice) instead of the load failing later.
        self.device_combo = QComboBox()
        self.device_combo.addItems(list(dict.fromkeys([*bridge.available_devices(), device or "auto"])))
        self.device_combo.setCurrentText(device or "auto")
        self.precision_combo = QComboBox()
        self.precision_combo.addItems(list(bridge.precision_choices()))
        self.precision_combo.setCurrentText(bridge.precision_choice(precision))
        self.memory_combo = QComboBox()
        for value, label in bridge.FLOW_HISTORY_CHOICES.items():
            self.memory_combo.addItem(label, value)
        self.memory_combo.setCurrentIndex(self.memory_combo.findData(bridge.flow_history_choice(flow_history)))
        self.memory_combo.setToolTip(MEMORY_TIP)
        self.plan_label = QLabel()
        self.plan_label.setWordWrap(True)
        self.device_combo.currentTextChanged.connect(self._update_plan)
        self.precision_combo.currentTextChanged.connect(self._update_plan)
        compute_box = QGroupBox("Compute")
        compute_form = QFormLayout(compute_box)
        compute_form.addRow("Device", self.device_combo)
        compute_form.addRow("Precision", self.precision_combo)
        compute_form.addRow("Memory", self.memory_combo)
        compute_form.addRow("Will use", self.plan_label)
        # What "auto" runs on this computer with this folder, and how fast (issue 20): measured, never assumed.
        self.check_panel = MachineCheckPanel()
        self.check_panel.planChanged.connect(self._update_plan)

        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Close)
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Use this model")
        self.buttons.accepted.connect(lambda: self._use())
        self.buttons.rejected.connect(self.reject)

        layout = QVBoxLayout(self)
        layout.setSpacing(10)
        layout.addWidget(intro)
        layout.addWidget(local_box)
        layout.addWidget(download_box)
        layout.addWidget(compute_box)
        layout.addWidget(self.check_panel)
        layout.addWidget(self.buttons)
        self._folder_changed()

    def event(self, event: QEvent) -> bool:
        handled = super().event(event)
        if event.type() == QEvent.Type.LayoutRequest:
            self._grow_to_fit()
        return handled

    def _grow_to_fit(self) -> None:
        """A message that wraps onto more lines makes the dialog taller, so no message is ever cut off."""
        layout = self.layout()
        need = layout.totalHeightForWidth(self.width()) if layout.hasHeightForWidth() else layout.sizeHint().height()
        if need > self.height():
            self.resize(self.width(), need)

    # ---- local folder ----------------------------------------------------------------------
    def _browse(self) -> None:
        self.dialogs.choose_folder(self, FileKind.MODEL, "CosyVoice2-0.5B folder", self.folder_edit.text(),
                                   lambda folder: self.folder_edit.setText(str(folder)))

    def _folder_changed(self) -> None:
        ok = self._update_plan()
        self.check_panel.set_folder(self.folder_edit.text().strip() if ok else "")

    def _check_folder(self) -> bool:
        text = self.folder_edit.text().strip()
        ok_button = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        self.verify_button.setEnabled(False)
        if not text:
            self.folder_status.setText("Download the model below or choose its folder.")
            ok_button.setEnabled(False)
            return False
        try:
            bridge.check_model_folder(Path(text))
        except TimbreError as error:
            self.folder_status.setText(f"<span style='color:#e0b341'>⚠ {error}</span>")
            ok_button.setEnabled(False)
            return False
        self.folder_status.setText(f"<span style='color:#3fb68b'>✔ Complete {self._family(text)} model folder</span>")
        ok_button.setEnabled(self._plan_ok())
        self.verify_button.setEnabled(not self._verifying)
        return True

    @staticmethod
    def _family(folder: str) -> str:
        """"CosyVoice 3": the family of a folder that passed the check (its YAML says which)."""
        try:
            return bridge.family_name(bridge.folder_family(folder))
        except TimbreError:
            return "CosyVoice"

    def _choose_repo(self) -> None:
        repo = self.model_choice.currentData()
        self.repo_edit.setText(repo)
        self.dest_edit.setText(str(bridge.default_download_folder(repo, data_dir() / "models")))

    # ---- verify ----------------------------------------------------------------------------
    _verifying = False

    def verify_model(self) -> None:
        """Re-hash the folder's files on the verify thread; the outcome lands in the folder status line."""
        if self._verifier is None:
            self._verifier = VerifyThread(self)
            self._verifier.worker.progress.connect(self._on_verify_progress)
            self._verifier.worker.finished.connect(self._on_verified)
        self._verifying = True
        self.verify_button.setEnabled(False)
        self.folder_status.setText("Checking the model files…")
        self._verifier.start(self.folder_edit.text().strip())

    def _on_verify_progress(self, done: int, total: int) -> None:
        if self._verifying and total:
            self.folder_status.setText(f"Checking the model files… {human_bytes(done)} of {human_bytes(total)}")

    def _on_verified(self, ok: bool, message: str) -> None:
        self._verifying = False
        self.verify_button.setEnabled(True)
        color, mark = ("#3fb68b", "✔") if ok else ("#e5534b", "✖")
        self.folder_status.setText(f"<span style='color:{color}'>{mark} {message}</span>")
        self.verified.emit(ok, message)

    def _plan_ok(self) -> bool:
        return bridge.device_plan(self.device_combo.currentText(), self.precision_combo.currentText()).ok

    def _update_plan(self) -> bool:
        """"Will use" for the settings (and the folder's measured plan, with "auto"); whether the folder is usable."""
        device, precision = self.device_combo.currentText(), self.precision_combo.currentText()
        plan = bridge.device_plan(device, precision, self.folder_edit.text().strip() or None)
        self.plan_label.setText(plan.text if plan.ok else f"<span style='color:#e0b341'>⚠ {plan.text}</span>")
        self.check_panel.set_compute(device, precision)
        return self._check_folder()

    def _use(self) -> None:
        if self._check_folder() and self._plan_ok():
            self.modelChosen.emit(self.folder_edit.text().strip(), self.device_combo.currentText(),
                                  self.precision_combo.currentText(), self.memory_combo.currentData())
            self.accept()

    # ---- download --------------------------------------------------------------------------
    def start_download(self) -> None:
        if self._downloader is None:
            self._downloader = DownloadThread(self)
            w = self._downloader.worker
            w.progress.connect(self._on_progress)
            w.finished.connect(self._on_finished)
            w.failed.connect(self._on_failed)
            w.cancelled.connect(self._on_cancelled)
        self._started_at = time.monotonic()
        self._start_bytes = -1
        self.download_button.setEnabled(False)
        self.cancel_button.setEnabled(True)
        self.progress_label.setText("Contacting the hub…")
        self._downloader.start(self.repo_edit.text().strip(), self.dest_edit.text().strip())

    def cancel_download(self) -> None:
        if self._downloader is not None:
            self._downloader.cancel()
            self.progress_label.setText("Cancelling…")

    def _on_progress(self, done: int, total: int, files_done: int, files_total: int, current: str) -> None:
        if self._start_bytes < 0:  # bytes already on disk (resumed) do not count towards the speed
            self._start_bytes, self._started_at = done, time.monotonic()
        self._bytes_seen = max(self._bytes_seen, done)
        self.progress.setValue(int(1000 * done / total) if total else 0)
        elapsed = time.monotonic() - self._started_at
        speed = (done - self._start_bytes) / elapsed if elapsed > 0.5 else 0.0
        left = f" · {human_time((total - done) / speed)} left" if speed > 0 else ""
        self.progress_label.setText(f"{human_bytes(done)} of {human_bytes(total)} · file {min(files_done + 1, files_total)}"
                                    f"/{files_total} {current}{left}")

    def _on_finished(self, folder: str) -> None:
        self._reset_buttons()
        self.progress.setValue(1000)
        self.progress_label.setText("Downloaded and verified.")
        self.folder_edit.setText(folder)

    def _on_failed(self, message: str) -> None:
        self._reset_buttons()
        # "Resume" only when there is something to resume: a download that failed at once (offline, a wrong
        # address) has downloaded nothing.
        self.download_button.setText("Resume download" if self._bytes_seen else "Try again")
        self.progress_label.setText(f"<span style='color:#e5534b'>✖ {message}</span>")

    def _on_cancelled(self) -> None:
        self._reset_buttons()
        if self._bytes_seen:
            self.download_button.setText("Resume download")
            self.progress_label.setText("Cancelled. What was downloaded is kept; Resume continues from there.")
        else:
            self.download_button.setText("Download")
            self.progress_label.setText("Cancelled before anything was downloaded.")

    def _reset_buttons(self) -> None:
        self.download_button.setEnabled(True)
        self.cancel_button.setEnabled(False)

    def shutdown(self) -> None:
        if self._downloader is not None:
            self._downloader.shutdown()
            self._downloader = None
        if self._verifier is not None:
            self._verifier.shutdown()
            self._verifier = None
            self._verifying = False
        self.check_panel.shutdown()

    def done(self, result: int) -> None:  # noqa: D401 - Qt API: closing cancels a running download or checks
        self.shutdown()
        super().done(result)
