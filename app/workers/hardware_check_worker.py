"""The hardware check off the GUI thread: the engine times every precision and threading choice on a model folder
(seconds on a small model, minutes on CosyVoice2-0.5B; ``engine_bridge.check_hardware``) and caches the plan that
precision "auto" then loads by. One worker on its own QThread; progress and the outcome come back as signals."""
from __future__ import annotations

import logging

from PySide6.QtCore import QObject, Signal, Slot

from engine import Cancelled, CancelToken, TimbreError

from .. import engine_bridge as bridge
from .cancellable_thread import CancellableThread

log = logging.getLogger(__name__)

LOADING = "Loading the model's networks"  # the first step: the engine reports its own steps after it


class HardwareCheckWorker(QObject):
    progress = Signal(str, float)  # what is measured now, share done 0..1
    finished = Signal(object)  # bridge.HardwarePlan, already cached
    failed = Signal(str)  # the sentence for the user
    cancelled = Signal()

    def __init__(self) -> None:
        super().__init__()
        self._token = CancelToken()

    def set_token(self, token: CancelToken) -> None:
        self._token = token

    def _step(self, what: str, share: float) -> None:  # on the check's thread, once per step
        # The engine looks at the token before each step but not after the last one: a Cancel during that step
        # would still cache its plan. Raised from here, its report of "done" ends the check before it caches.
        self._token.raise_if_cancelled("The hardware check")
        self.progress.emit(f"Timing {what}" if share < 1 else "Choosing the fastest plan", float(share))

    @Slot(str)
    def run(self, folder: str) -> None:
        self.progress.emit(LOADING, 0.0)
        try:
            plan = bridge.check_hardware(folder, self._step, self._token)
        except Cancelled:
            self.cancelled.emit()
        except TimbreError as error:
            self.failed.emit(str(error))
        except Exception as error:  # noqa: BLE001 - whatever it is, the user gets a sentence, not a dead button
            log.exception("the hardware check on %s failed", folder)
            self.failed.emit(f"The hardware check failed unexpectedly ({type(error).__name__}: {error}).")
        else:
            self.finished.emit(plan)


class HardwareCheckThread(CancellableThread):
    """The hardware check's worker on its own thread (cancel: the check stops at its next step, under a second on
    a small model, up to half a minute on the 0.5B one: loading the networks and each timing run are not
    interrupted)."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(HardwareCheckWorker(), "timbre-hardware-check", parent)
