"""One cancellable worker on its own QThread, started per folder: what "Verify model" and the hardware check share.

The worker is a QObject with ``set_token(CancelToken)`` and a ``run(str)`` slot; each :meth:`start` gives it a
fresh token (a cancelled run never cancels the next) and queues ``run`` on the thread."""
from __future__ import annotations

from PySide6.QtCore import QObject, QThread, Signal

from engine import CancelToken


class CancellableThread(QObject):
    """Owns ``worker``'s QThread; :meth:`shutdown` cancels and joins it (the dialog calls it when it closes)."""

    _run = Signal(str)

    def __init__(self, worker: QObject, name: str, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.thread = QThread()
        self.thread.setObjectName(name)
        self.worker = worker
        self.worker.moveToThread(self.thread)
        self._run.connect(self.worker.run)
        self.thread.start()
        self._token = CancelToken()

    def start(self, folder: str) -> None:
        self._token = CancelToken()
        self.worker.set_token(self._token)
        self._run.emit(folder)

    def cancel(self) -> None:
        """The run stops at its next cancel check."""
        self._token.cancel()

    def shutdown(self, timeout_ms: int = 5000) -> bool:
        """Cancel, stop the thread and wait for it; False when the current step outlasted ``timeout_ms`` (the
        thread then ends on its own after that step: keep this object until :attr:`thread` finishes)."""
        self.cancel()
        self.thread.quit()
        return self.thread.wait(timeout_ms)
