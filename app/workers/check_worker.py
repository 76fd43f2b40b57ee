"""The take checks on their own QThread: every new take is listened to while the engine makes the next one.

A check (voice activity, speech recognition against the line's text, speaker similarity, clipping, DNSMOS, the
watchdog's verdict) costs about 0.16 CPU seconds per second of audio once its models are loaded (3.4 s, on the
first take), so it never runs on the GUI thread, nor on the engine thread between takes. The GUI sends a
:class:`CheckRequest` and gets a :class:`CheckDone` back. The checker (its models) is shared with the engine
thread, whose best-of-N retakes check each take as it is made (``TakeChecker`` is thread-safe).
"""
from __future__ import annotations

import logging
import traceback
from dataclasses import dataclass
from typing import Any

import numpy as np
from PySide6.QtCore import QObject, QThread, Signal, Slot

from .. import engine_bridge as bridge

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CheckRequest:
    """Check take ``take_id``: its audio (float32 mono), what it should say (the text the engine was given),
    its instruction (instruct mode), the voice it should have and the watchdog's note."""

    take_id: str
    audio: np.ndarray
    sample_rate: int
    text: str
    instruction: str = ""
    voice: Any = None
    watchdog: str | None = None


@dataclass(frozen=True)
class CheckDone:
    take_id: str
    report: Any = None  # engine.checks.TakeReport
    error: str = ""  # a sentence for the user when the checks could not run


class CheckWorker(QObject):
    done = Signal(object)  # CheckDone

    def __init__(self) -> None:
        super().__init__()
        self.stopping = False  # set by the GUI at shutdown: queued checks are skipped

    @Slot(object, object)
    def check(self, checker: Any, request: CheckRequest) -> None:
        if self.stopping:
            return
        try:
            report = bridge.check_take(checker, request.audio, request.sample_rate, request.text,
                                       request.instruction, request.voice, request.watchdog)
        except Exception as error:  # noqa: BLE001 - a check that breaks must reach the user, not kill the thread
            log.error("checking take %s failed: %s", request.take_id, traceback.format_exc())
            self.done.emit(CheckDone(request.take_id, error=f"{type(error).__name__}: {error}"))
            return
        self.done.emit(CheckDone(request.take_id, report))


class CheckThread(QObject):
    """The GUI's handle on the checks: :meth:`check` a take, hear :attr:`checkDone`."""

    checkDone = Signal(object)  # CheckDone  # noqa: N815
    _check = Signal(object, object)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.thread = QThread()
        self.thread.setObjectName("timbre-checks")
        self.worker = CheckWorker()
        self.worker.moveToThread(self.thread)
        self._check.connect(self.worker.check)
        self.worker.done.connect(self._done)  # a bound method: queued into the GUI thread
        self.checker: Any = None
        self.pending: set[str] = set()
        self.thread.start()

    def use_model(self, model_dir: str | None) -> None:
        """Check with a new checker (the model folder's speaker model compares voices); its models load on first use
        on this thread, never on the GUI's."""
        self.checker = bridge.take_checker(model_dir)

    def check(self, request: CheckRequest) -> None:
        if self.checker is None:
            self.use_model(None)
        self.pending.add(request.take_id)
        self._check.emit(self.checker, request)

    def _done(self, done: CheckDone) -> None:
        self.pending.discard(done.take_id)
        self.checkDone.emit(done)

    def shutdown(self, timeout_ms: int = 30000) -> bool:
        """Skip what is queued, let the check that runs finish (a few seconds at most) and stop the thread."""
        self.worker.stopping = True
        self.thread.quit()
        return self.thread.wait(timeout_ms)
