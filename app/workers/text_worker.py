"""Script parsing on its own QThread, so typing in a long script never waits for it.

Parsing a script (its lines, speakers, directions and pauses; each paragraph cut into the creator's sentences
by pySBD) costs about 0.4 s for 500 lines the first time, far too long for the GUI thread. The GUI asks
:class:`TextThread` to parse a text and gets a :class:`ParseResult` back for the newest text only: each request
gets a revision number, the worker skips a request that a newer one has already replaced, and a result that
arrives after a newer request is dropped. The sentence cutting is cached by paragraph, so the project's own
parse of the same text on the GUI thread afterwards only re-reads the lines (see main_window).
"""
from __future__ import annotations

import itertools
import logging
import traceback
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import QObject, QThread, Signal, Slot

from .. import engine_bridge as bridge

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ParseResult:
    revision: int
    text: str  # what was parsed
    script: Any = None  # the engine's Script (frozen): lines, marks for the highlighter, problems
    error: str = ""  # a sentence for the user when the parser itself failed


class TextWorker(QObject):
    done = Signal(object)  # ParseResult

    def __init__(self) -> None:
        super().__init__()
        # The newest revision asked for, written by the GUI thread before it queues the request (one int
        # attribute: reading it here while the GUI writes it is safe under the GIL).
        self.latest = 0

    @Slot(int, str, object, object)
    def parse(self, revision: int, text: str, cast: tuple[str, ...], presets: object) -> None:
        if revision < self.latest:
            return  # a newer text is already queued behind this one
        try:
            result = ParseResult(revision, text, bridge.parse_script(text, cast, presets))
        except Exception as problem:  # noqa: BLE001 - a parser bug must reach the user, not kill the thread
            log.error("parsing the script failed: %s", traceback.format_exc())
            result = ParseResult(revision, text, error=f"The script could not be read ({type(problem).__name__}: "
                                                       f"{problem}).")
        self.done.emit(result)


class TextThread(QObject):
    """The GUI's handle: :meth:`request` a parse, get :attr:`parseDone` for the newest request only."""

    parseDone = Signal(object)  # ParseResult  # noqa: N815
    _parse = Signal(int, str, object, object)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.thread = QThread()
        self.thread.setObjectName("timbre-text")
        self.worker = TextWorker()
        self.worker.moveToThread(self.thread)
        self._parse.connect(self.worker.parse)
        self.worker.done.connect(self._done)  # a bound method: queued into the GUI thread
        self._revisions = itertools.count(1)
        self.latest = 0
        self.thread.start()

    def request(self, text: str, cast: tuple[str, ...] = (), presets: Any = None) -> int:
        """Queue a parse of ``text`` against the cast's names (and the instruction presets); returns its revision
        (earlier requests are now stale)."""
        self.latest = next(self._revisions)
        self.worker.latest = self.latest
        self._parse.emit(self.latest, text, tuple(cast), presets or {})
        return self.latest

    def _done(self, result: ParseResult) -> None:
        if result.revision == self.latest:
            self.parseDone.emit(result)

    def shutdown(self, timeout_ms: int = 5000) -> bool:
        self.worker.latest = next(self._revisions)  # whatever is queued is stale now
        self.thread.quit()
        return self.thread.wait(timeout_ms)
