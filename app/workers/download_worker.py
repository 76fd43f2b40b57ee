"""Model download on its own QThread: engine.hub does the transfer, .part files and verification;
this worker only forwards progress as signals and turns the UI's Cancel into the hub's CancelToken."""
from __future__ import annotations

import logging
import time
import traceback

from PySide6.QtCore import QObject, QThread, Signal, Slot

from engine import Cancelled

from .synthesis_worker import user_message

log = logging.getLogger(__name__)


class DownloadWorker(QObject):
    progress = Signal(object, object, int, int, str)  # bytes done, bytes total, files done, files total, file
    finished = Signal(str)  # the verified model folder
    failed = Signal(str)
    cancelled = Signal()

    def __init__(self) -> None:
        super().__init__()
        self._token = None
        self._last_emit = 0.0

    def set_token(self, token: object) -> None:
        self._token = token

    @Slot(str, str)
    def run(self, repo_id: str, local_dir: str) -> None:
        from .. import engine_bridge as bridge

        def on_progress(p) -> None:  # engine.DownloadProgress
            now = time.monotonic()
            # The hub reports every block; 10 updates a second is plenty for a progress bar.
            if now - self._last_emit >= 0.1 or p.bytes_done >= p.bytes_total:
                self._last_emit = now
                self.progress.emit(p.bytes_done, p.bytes_total, p.files_done, p.files_total, p.current_file)

        try:
            path = bridge.download_model(repo_id, local_dir or None, on_progress, self._token)
        except Cancelled:
            self.cancelled.emit()
            return
        except Exception as error:  # noqa: BLE001 - every failure must reach the user
            log.error("download failed: %s", traceback.format_exc())
            self.failed.emit(user_message(error))
            return
        self.finished.emit(str(path))


class DownloadThread(QObject):
    _run = Signal(str, str)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.thread = QThread()
        self.thread.setObjectName("timbre-download")
        self.worker = DownloadWorker()
        self.worker.moveToThread(self.thread)
        self._run.connect(self.worker.run)
        self.thread.start()
        self._token = None

    def start(self, repo_id: str, local_dir: str = "") -> None:
        from engine import CancelToken

        self._token = CancelToken()
        self.worker.set_token(self._token)
        self._run.emit(repo_id, local_dir)

    def cancel(self) -> None:
        if self._token is not None:
            self._token.cancel()

    def shutdown(self, timeout_ms: int = 5000) -> bool:
        self.cancel()
        self.thread.quit()
        return self.thread.wait(timeout_ms)
