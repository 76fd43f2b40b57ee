"""One QThread for the studio's other slow reads: gathering a project's takes into one clip to play (decoding every
chosen take's FLAC costs about 0.3 ms per second of audio, a second for a book).

:meth:`BackgroundThread.run` queues a function; its result (or the sentence of the typed error it raised) comes
back to the GUI thread as a :class:`Done` value with the request's id. A function given here must only read what
the GUI thread may change meanwhile, and check that it did not (see ``ProjectDocument.timeline_source``).
"""
from __future__ import annotations

import itertools
import logging
import traceback
from dataclasses import dataclass
from typing import Any, Callable

from PySide6.QtCore import QObject, QThread, Signal, Slot

from engine import TimbreError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Done:
    request_id: int
    result: Any = None
    error: str = ""


class BackgroundWorker(QObject):
    done = Signal(object)  # Done

    @Slot(int, object)
    def run(self, request_id: int, fn: Callable[[], Any]) -> None:
        try:
            self.done.emit(Done(request_id, fn()))
        except TimbreError as error:
            self.done.emit(Done(request_id, error=str(error)))
        except Exception as error:  # noqa: BLE001 - a bug must reach the user, not kill the thread
            log.error("background work failed: %s", traceback.format_exc())
            self.done.emit(Done(request_id, error=f"Unexpected error: {type(error).__name__}: {error}."))


class BackgroundThread(QObject):
    finished = Signal(object)  # Done

    _run = Signal(int, object)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.thread = QThread()
        self.thread.setObjectName("timbre-background")
        self.worker = BackgroundWorker()
        self.worker.moveToThread(self.thread)
        self._run.connect(self.worker.run)
        self.worker.done.connect(self.finished)  # a signal-to-signal connection, queued into the GUI thread
        self._ids = itertools.count(1)
        self.thread.start()

    def run(self, fn: Callable[[], Any]) -> int:
        request_id = next(self._ids)
        self._run.emit(request_id, fn)
        return request_id

    def shutdown(self, timeout_ms: int = 10000) -> bool:
        self.thread.quit()
        return self.thread.wait(timeout_ms)
