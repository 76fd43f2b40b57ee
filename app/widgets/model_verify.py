""""Verify model" off the GUI thread: the engine re-hashes every file of a model folder against its download's
checksums (a few seconds for the 3 GB model, ``engine_bridge.verify_model``); this thread runs it and reports
progress and the outcome as signals."""
from __future__ import annotations

import logging
import time

from PySide6.QtCore import QObject, Signal, Slot

from engine import Cancelled, CancelToken, TimbreError

from .. import engine_bridge as bridge
from ..workers.cancellable_thread import CancellableThread

log = logging.getLogger(__name__)


class VerifyWorker(QObject):
    progress = Signal(object, object)  # bytes hashed, bytes to hash
    finished = Signal(bool, str)  # nothing wrong found, the sentence for the user

    def __init__(self) -> None:
        super().__init__()
        self._token = CancelToken()
        self._last = 0.0

    def set_token(self, token: CancelToken) -> None:
        self._token = token

    def _progress(self, done: int, total: int) -> None:  # on the verify thread, as blocks are hashed
        now = time.monotonic()
        if now - self._last >= 0.1 or done >= total:
            self._last = now
            self.progress.emit(done, total)

    @Slot(str)
    def run(self, folder: str) -> None:
        try:
            report = bridge.verify_model(folder, self._token, self._progress)
        except Cancelled:
            self.finished.emit(False, "Verification cancelled.")
        except TimbreError as error:
            self.finished.emit(False, str(error))
        except Exception as error:  # noqa: BLE001 - whatever it is, the user gets a sentence, not a dead button
            log.exception("verifying %s failed", folder)
            self.finished.emit(False, f"Verification failed unexpectedly ({type(error).__name__}: {error}).")
        else:
            self.finished.emit(report.ok, report.describe())


class VerifyThread(CancellableThread):
    """"Verify model"'s worker on its own thread."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(VerifyWorker(), "timbre-verify", parent)
