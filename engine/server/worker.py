"""One thread owns the engine and speaks the queued requests one after another, in the order they came.

The :class:`~engine.Engine` is not thread-safe, so every synthesis runs on the worker thread. The event loop
hands a request in with :meth:`EngineWorker.submit` (refused at once when the queue is full or the worker is
closing) and awaits the chunks from :meth:`SpeechJob.next`; the worker passes each chunk over with
``call_soon_threadsafe``. Cancelling a job's token (the client went away) stops the engine within one step of
its own polling (after every LM token, between flow and vocoder stages) or skips the job if it still waits.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections import deque
from dataclasses import dataclass
from typing import ContextManager

from ..errors import Cancelled, CancelToken, TimbreError
from .errors import not_serving, queue_full

log = logging.getLogger("timbre.server")

_DONE = object()


class SpeechJob:
    """One request on its way through the queue; consumed by exactly one coroutine on ``loop``."""

    def __init__(self, request, loop: asyncio.AbstractEventLoop, on_abandon=None):
        self.request = request
        self.cancel = CancelToken()
        self.outcome: str | None = None  # "done" | "cancelled" | "failed", set by the worker
        self._loop = loop
        self._events: asyncio.Queue = asyncio.Queue()
        self._on_abandon = on_abandon

    def abandon(self) -> None:
        """Nobody wants the answer any more: stop the engine at its next step, or free the queue slot now."""
        self.cancel.cancel()
        if self._on_abandon is not None:
            self._on_abandon(self)

    def _push(self, item) -> None:
        """Worker thread: hand ``item`` (a chunk, an exception or _DONE) to the coroutine."""
        try:
            self._loop.call_soon_threadsafe(self._events.put_nowait, item)
        except RuntimeError:  # the loop is closed: nobody will read this answer any more
            self.cancel.cancel()

    async def next(self):
        """The next :class:`~engine.AudioChunk`, or None after the last; raises the engine's error."""
        item = await self._events.get()
        if item is _DONE:
            self._events.put_nowait(_DONE)  # keep answering None
            return None
        if isinstance(item, BaseException):
            raise item
        return item


@dataclass(frozen=True)
class WorkerStats:
    running: bool
    waiting: int
    depth: int
    served: int
    cancelled: int
    failed: int


class EngineWorker:
    """The engine's only user. ``queue_depth`` requests may wait behind the running one.

    engine_lock: held around every synthesis; pass the lock the rest of the process holds around its own
    engine calls (the studio's worker) when the server shares an engine with it.
    """

    def __init__(self, engine, queue_depth: int, *, engine_lock: ContextManager | None = None):
        self.engine = engine
        self.depth = queue_depth
        self._lock = engine_lock if engine_lock is not None else contextlib.nullcontext()
        self._cond = threading.Condition()
        self._waiting: deque[SpeechJob] = deque()
        self._current: SpeechJob | None = None
        self._closed = False
        self._counts = {"done": 0, "cancelled": 0, "failed": 0}
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        with self._cond:
            if self._thread is not None:
                return
            self._thread = threading.Thread(target=self._run, name="timbre-server-engine", daemon=True)
            self._thread.start()

    def submit(self, request) -> SpeechJob:
        """Queue ``request``; raises the 429 (queue full) or 503 (closing) :class:`~engine.server.errors.APIError`."""
        job = SpeechJob(request, asyncio.get_running_loop(), self._discard)
        with self._cond:
            if self._closed or self._thread is None:
                raise not_serving()
            if (self._current is not None) + len(self._waiting) > self.depth:
                raise queue_full(self.depth)
            self._waiting.append(job)
            self._cond.notify()
        return job

    def stats(self) -> WorkerStats:
        with self._cond:
            return WorkerStats(self._current is not None, len(self._waiting), self.depth, self._counts["done"],
                               self._counts["cancelled"], self._counts["failed"])

    def close(self, timeout: float | None = 30.0) -> None:
        """Refuse new requests, cancel the running and the waiting ones, and wait for the thread to end."""
        with self._cond:
            self._closed = True
            abandoned = list(self._waiting)
            self._waiting.clear()
            if self._current is not None:
                self._current.cancel.cancel()
            thread = self._thread
            self._cond.notify_all()
        for job in abandoned:
            job.cancel.cancel()
            self._finish(job, "cancelled", not_serving())
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)

    def _discard(self, job: SpeechJob) -> None:
        """A waiting job whose client left leaves the queue at once (a running one stops on its token)."""
        with self._cond:
            if job not in self._waiting:
                return
            self._waiting.remove(job)
        self._finish(job, "cancelled", Cancelled("The client went away before the request started."))

    # ---- worker thread -------------------------------------------------------------------------
    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._waiting and not self._closed:
                    self._cond.wait()
                if not self._waiting:
                    return
                job = self._current = self._waiting.popleft()
            try:
                self._serve(job)
            finally:
                with self._cond:
                    self._current = None

    def _serve(self, job: SpeechJob) -> None:
        if job.cancel.cancelled:
            return self._finish(job, "cancelled", Cancelled("The request was cancelled before it started."))
        try:
            with self._lock:
                for chunk in self.engine.synthesize(job.request, cancel=job.cancel):
                    job._push(chunk)
        except Cancelled as e:
            self._finish(job, "cancelled", e)
        except TimbreError as e:
            self._finish(job, "failed", e)
        except Exception as e:  # noqa: BLE001 - one broken request must not stop the server; it gets a 500
            log.exception("synthesis failed")
            self._finish(job, "failed", e)
        else:
            self._finish(job, "done", _DONE)

    def _finish(self, job: SpeechJob, outcome: str, last) -> None:
        job.outcome = outcome
        with self._cond:
            self._counts[outcome] += 1
        job._push(last)
