"""One writer per folder, across threads and processes (the studio, the CLI, a second studio).

:func:`exclusive` holds an OS file lock (``filelock``: ``flock`` on Unix, ``LockFileEx`` on Windows) on a
lock file inside the folder. The OS drops the lock when its holder exits or crashes, so a killed download or
save never leaves the folder locked. A second writer either gets a typed error at once (``wait=0``) or waits,
still honouring its :class:`CancelToken`.
"""
from __future__ import annotations

import contextlib
import time
from pathlib import Path
from typing import Callable, Iterator

from .errors import NEVER_CANCELLED, CancelToken, TimbreError

_POLL_S = 0.1  # how often a waiting writer looks at its cancel token


@contextlib.contextmanager
def exclusive(lock_path: Path, *, busy: Callable[[], TimbreError], wait: float = 0.0,
              cancel: CancelToken = NEVER_CANCELLED, on_wait: Callable[[], None] | None = None) -> Iterator[None]:
    """Hold the lock at ``lock_path`` (created, with its folder, if missing) for the ``with`` block.

    If another holder has it: raise ``busy()`` after ``wait`` seconds (0: at once; ``float('inf')``: wait until
    it is free). ``on_wait`` is called once when waiting starts (to tell the user); ``cancel`` is polled
    while waiting. Raises :class:`OSError` only if the lock file itself cannot be created (read-only folder).
    """
    from filelock import FileLock, Timeout

    lock_path.parent.mkdir(parents=True, exist_ok=True)
    lock = FileLock(lock_path)
    deadline = time.monotonic() + wait
    told = False
    while True:
        try:
            lock.acquire(timeout=0 if wait <= 0 else min(_POLL_S, max(deadline - time.monotonic(), 0)))
            break
        except Timeout:
            cancel.raise_if_cancelled("Waiting for the other writer")
            if time.monotonic() >= deadline:
                raise busy() from None
            if not told and on_wait is not None:
                on_wait()
            told = True
    try:
        yield
    finally:
        lock.release()
