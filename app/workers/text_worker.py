"""Sentence splitting on its own QThread, so typing in a long narration never waits for it.

Splitting runs the engine's text frontend (normalisation, LM-sized pieces): about 0.7 s for 20 000 characters,
far too long for the GUI thread. The GUI asks :class:`TextThread` to split a text and gets a
:class:`SplitResult` back for the newest text only: each request gets a revision number, the worker skips a
request that a newer one has already replaced, and a result that arrives after a newer request is dropped.
The splitter (built on the engine thread when the model loads) is handed over with :meth:`set_splitter` and is
used on this thread only from then on.
"""
from __future__ import annotations

import itertools
import logging
import traceback
from dataclasses import dataclass

from PySide6.QtCore import QObject, QThread, Signal, Slot

from engine import TimbreError

from .. import engine_bridge as bridge

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SplitResult:
    revision: int
    text: str  # what was split
    sentences: tuple[str, ...]
    exact: bool  # split by the model's frontend (False: by punctuation, no model yet)
    error: str = ""  # a sentence for the user when the text cannot be split (sentences then empty)


class TextWorker(QObject):
    done = Signal(object)  # SplitResult

    def __init__(self) -> None:
        super().__init__()
        self._splitter = bridge.SentenceSplitter()
        # The newest revision asked for, written by the GUI thread before it queues the request (one int
        # attribute: reading it here while the GUI writes it is safe under the GIL).
        self.latest = 0

    @Slot(object)
    def set_splitter(self, splitter: bridge.SentenceSplitter) -> None:
        self._splitter = splitter

    @Slot(int, str)
    def split(self, revision: int, text: str) -> None:
        if revision < self.latest:
            return  # a newer text is already queued behind this one
        try:
            sentences, error = tuple(self._splitter.split(text)), ""
        except TimbreError as problem:
            sentences, error = (), str(problem)
        except Exception as problem:  # noqa: BLE001 - a frontend bug must reach the user, not kill the thread
            log.error("splitting failed: %s", traceback.format_exc())
            sentences, error = (), f"The text could not be split into sentences ({type(problem).__name__}: {problem})."
        self.done.emit(SplitResult(revision, text, sentences, self._splitter.exact, error))


class TextThread(QObject):
    """The GUI's handle: :meth:`request` a split, get :attr:`splitDone` for the newest request only."""

    splitDone = Signal(object)  # SplitResult  # noqa: N815
    _split = Signal(int, str)
    _set_splitter = Signal(object)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.thread = QThread()
        self.thread.setObjectName("timbre-text")
        self.worker = TextWorker()
        self.worker.moveToThread(self.thread)
        self._split.connect(self.worker.split)
        self._set_splitter.connect(self.worker.set_splitter)
        self.worker.done.connect(self._done)  # a bound method: queued into the GUI thread
        self._revisions = itertools.count(1)
        self.latest = 0
        self.thread.start()

    def set_splitter(self, splitter: bridge.SentenceSplitter) -> None:
        """Split with ``splitter`` from now on (requests made after this call use it)."""
        self._set_splitter.emit(splitter)

    def request(self, text: str) -> int:
        """Queue a split of ``text``; returns its revision (earlier requests are now stale)."""
        self.latest = next(self._revisions)
        self.worker.latest = self.latest
        self._split.emit(self.latest, text)
        return self.latest

    def _done(self, result: SplitResult) -> None:
        if result.revision == self.latest:
            self.splitDone.emit(result)

    def shutdown(self, timeout_ms: int = 5000) -> bool:
        self.worker.latest = next(self._revisions)  # whatever is queued is stale now
        self.thread.quit()
        return self.thread.wait(timeout_ms)
