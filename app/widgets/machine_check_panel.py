"""The model manager's "Hardware check" section (issue 20, item 4): what precision "auto" runs on this computer with
the chosen model, how fast speech will be made (the predicted real-time factor, before generating), and the
button that measures it (again), with its progress, Cancel and any error in words."""
from __future__ import annotations

from datetime import datetime

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QGroupBox, QHBoxLayout, QLabel, QProgressBar, QPushButton, QVBoxLayout, QWidget

from .. import engine_bridge as bridge
from ..workers.hardware_check_worker import HardwareCheckThread

WHAT_IT_DOES = (
    "The check times each precision and threading choice with this model; “auto” then loads the fastest that "
    "sounds like full precision. About 2 minutes for CosyVoice2-0.5B on two idle cores (longer when "
    "busy); keep the computer idle meanwhile."
)
RTF_TIP = ("Real-time factor: seconds of work per second of speech, for a streamed 10 s sentence with a new voice. "
           "Below 1 is faster than real time.")
AMBER, RED = "#e0b341", "#e5534b"


def speed_words(rtf: float) -> str:
    """"1.8× slower than real time", "8.1× faster than real time" or "about real time" (within 5 %)."""
    if rtf > 1.05:
        return f"{rtf:.1f}× slower than real time"
    if rtf < 0.95:
        return f"{1 / rtf:.1f}× faster than real time"
    return "about real time"


def measured_words(plan: bridge.HardwarePlan) -> str:
    """"Measured 1 Dec 2026, 20:07 (the check took 15 s)", in local time."""
    try:
        when = datetime.strptime(plan.measured_at, "%Y-%m-%dT%H:%M:%S%z").astimezone().strftime("%d %b %Y, %H:%M")
    except ValueError:
        when = plan.measured_at
    return f"Measured {when.lstrip('0')} (the check took {plan.check_s:.0f} s)."


def colored(color: str, text: str) -> str:
    return f"<span style='color:{color}'>{text}</span>"


class MachineCheckPanel(QGroupBox):
    planChanged = Signal()  # a check finished: what "auto" loads for this folder changed  # noqa: N815

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Hardware check", parent)
        self._folder = ""
        self._plan: bridge.HardwarePlan | None = None
        self._applies, self._precision = True, "auto"
        self._problem = ""  # the last check's error or cancellation, until the next one or another folder
        self._checker: HardwareCheckThread | None = None
        self._finishing: list[HardwareCheckThread] = []  # shut down mid-step: kept until their thread ends
        self._running_for = ""  # the folder being checked now ("" when none)

        self.summary_label = QLabel()
        self.summary_label.setWordWrap(True)
        self.summary_label.setToolTip(RTF_TIP)
        self.detail_label = QLabel()
        self.detail_label.setWordWrap(True)
        self.detail_label.setObjectName("dimLabel")
        self.note_label = QLabel()
        self.note_label.setWordWrap(True)
        self.run_button = QPushButton("Run hardware check")
        self.run_button.clicked.connect(lambda: self.run_check())
        self.cancel_button = QPushButton("Cancel check")
        self.cancel_button.clicked.connect(lambda: self.cancel_check())
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.step_label = QLabel()
        self.step_label.setObjectName("dimLabel")
        self.step_label.setWordWrap(True)  # "Timing LM int8w ahead beside flow bf16…" beside the bar

        # One row for the button or, while a check runs, Cancel, the bar and the step: the dialog fits 1280x800.
        row = QHBoxLayout()
        row.addWidget(self.run_button)
        row.addWidget(self.cancel_button)
        row.addWidget(self.progress, 1)
        row.addWidget(self.step_label, 1)
        row.addStretch()  # the button keeps its size while no bar is shown
        layout = QVBoxLayout(self)
        layout.addWidget(self.summary_label)
        layout.addLayout(row)
        layout.addWidget(self.detail_label)
        layout.addWidget(self.note_label)
        self._show()

    # ---- what the dialog tells it ---------------------------------------------------------------
    def set_folder(self, folder: str) -> None:
        """The complete model folder now chosen ("" for none): shows its cached plan; a check running for another
        folder is cancelled (its plan would not be this folder's)."""
        if folder == self._folder:
            return
        self._folder, self._problem = folder, ""
        if self._running_for and self._running_for != folder:
            self.cancel_check()
        self._plan = bridge.cached_hardware_plan(folder) if folder else None
        self._show()

    def set_compute(self, device: str, precision: str) -> None:
        self._applies = bridge.plan_applies(device, precision)
        self._precision = precision
        self._show()

    # ---- the check ---------------------------------------------------------------------------------
    def run_check(self) -> None:
        if self._checker is None:
            self._checker = HardwareCheckThread(self)
            w = self._checker.worker
            w.progress.connect(self._on_progress)
            w.finished.connect(self._on_finished)
            w.failed.connect(self._on_failed)
            w.cancelled.connect(self._on_cancelled)
        self._running_for, self._problem = self._folder, ""
        self.progress.setValue(0)
        self._show()
        self._checker.start(self._folder)

    def cancel_check(self) -> None:
        if self._checker is not None and self._running_for:
            self._checker.cancel()
            self.cancel_button.setEnabled(False)
            self.step_label.setText("Cancelling… (the check stops after its current step)")

    def _on_progress(self, what: str, share: float) -> None:
        if self._running_for and self.cancel_button.isEnabled():
            self.step_label.setText(f"{what}…")
            self.progress.setValue(int(1000 * share))

    def _on_finished(self, plan: bridge.HardwarePlan) -> None:
        self._running_for = ""
        if plan.folder == self._folder:
            self._plan = plan
        self._show()
        self.planChanged.emit()

    def _on_failed(self, message: str) -> None:
        self._ended(colored(RED, f"✖ Not measured: {message}"))

    def _on_cancelled(self) -> None:
        self._ended("Check cancelled; nothing was changed.")

    def _ended(self, problem: str) -> None:
        self._running_for, self._problem = "", problem
        self._show()

    # ---- what it shows ---------------------------------------------------------------------------------
    def _show(self) -> None:
        running = bool(self._running_for)
        plan = self._plan
        if not self._folder:
            self.summary_label.setText("Choose a complete model folder to check this computer with it.")
            self.detail_label.setText(WHAT_IT_DOES)
        elif plan is None:
            self.summary_label.setText("<b>Not measured yet on this computer.</b>")
            self.detail_label.setText(WHAT_IT_DOES)
        else:
            self.summary_label.setText(f"<b>Predicted: {speed_words(plan.predicted_rtf)} — first audio after "
                                       f"{plan.first_audio_s:.1f} s</b>")
            self.detail_label.setText(f"“auto” runs {plan.summary}. {measured_words(plan)}")
        notes = self._notes()
        self.note_label.setText("<br>".join(notes))
        self.note_label.setVisible(bool(notes))
        self.run_button.setText("Re-run hardware check" if plan is not None else "Run hardware check")
        self.run_button.setEnabled(bool(self._folder) and not running)
        self.run_button.setVisible(not running)
        self.cancel_button.setVisible(running)
        self.cancel_button.setEnabled(running)
        self.progress.setVisible(running)
        self.step_label.setVisible(running)

    def _notes(self) -> list[str]:
        notes = [self._problem] if self._problem else []
        plan = self._plan
        if plan is not None and plan.busy:
            notes.append(colored(AMBER, f"⚠ Measured while the computer was busy (load {plan.load:.1f} on "
                                        f"{plan.threads} threads) — re-run when idle for a reliable choice."))
        if self._folder and not self._applies:
            notes.append(f"The measured plan applies only with precision “auto” on the CPU (chosen now: "
                         f"{self._precision}).")
        return notes

    def shutdown(self) -> None:
        """Cancel a running check and stop its thread (the dialog closes)."""
        if self._checker is not None:
            if not self._checker.shutdown():
                self._finishing.append(self._checker)  # its step outlasted the wait: never destroy a running thread
                self._checker.thread.finished.connect(self._forget_finished)
            self._checker = None
        self._running_for = ""

    def _forget_finished(self) -> None:
        self._finishing = [c for c in self._finishing if not c.thread.isFinished()]
