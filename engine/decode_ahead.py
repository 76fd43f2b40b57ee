"""CPU threads for a streamed sentence: the LM decoding ahead on a worker thread while the caller runs the
flow and the vocoder, and a second lane for the flow's guidance rows.

Why: on a CPU the LM's one-token step is bound by memory bandwidth (it streams all of the decoder's
weights, ~1.4 GB in fp32, for every token), while the flow and HiFT are bound by arithmetic. Measured at
official size on a 2-core EPYC (fp32, idle): one LM step takes 66 ms on one core and 66 ms on two; a 25-token
flow chunk takes 2.2 s on one core and 1.5 s on two. Run one after the other, the second core idles through
every LM step. With the LM on a worker thread using one core and the flow on the other, both proceed at once
(LM 66 ms/token, flow 2.2 s per 25 tokens, measured concurrently), and once the LM has finished the flow gets
every core back.

What changes is timing, not the schedule: the worker produces the tokens in the same order (its sampler has
its own ``torch.Generator``), and the consumer decides when to run the flow from the token count alone. Only
float rounding differs from the one-thread-of-control path, because a different number of threads sums in a
different order; the counts used are fixed per call (never "whichever is free now"), so one request gives the
same samples every time.

Thread counts: ``torch.set_num_threads`` sets the OpenMP/MKL thread count of the *calling* thread (plus a
process-wide default for threads that start later), so the worker sets its own count and the consumer sets
its count before each flow call. :class:`ThreadBudget` restores the caller's count when the sentence ends.

The flow lane: classifier-free guidance runs the estimator on two rows that only meet at the end of each ODE
step. With split rows (:data:`engine.flow.cfm.SPLIT_ROWS`) the unconditioned row can run on a
:class:`FlowLane` thread while the caller runs the conditioned one: two single-thread calls use two cores
better than one two-thread call. The lane is offered only while no LM worker is decoding (so the cores are
free), which is timing; but both threads use the same fixed thread count, so a row's result does not depend
on which thread ran it, and the samples stay the same on every run.
"""
from __future__ import annotations

import queue
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Callable, Iterator

import torch

_END = object()


class _Failure:
    def __init__(self, exc: BaseException):
        self.exc = exc


def split_threads(total: int) -> tuple[int, int]:
    """(LM threads, flow threads while the LM runs) for ``total`` intra-op threads.

    The LM step is bandwidth-bound, so it gets a quarter (at least one); the arithmetic-bound flow the rest.
    Measured only at total = 2 (1 + 1 is 1.6x faster than running them in turn; 1 + 2 oversubscribes the
    two cores and slows the LM to 94 ms/token)."""
    lm = max(1, total // 4)
    return lm, max(1, total - lm)


class DecodeAhead:
    """Iterates ``tokens`` (a generator) on a worker thread; iterating this yields the same tokens.

    ``lm_threads``: intra-op threads for the worker. ``should_stop``: polled after every token (e.g. a cancel
    token); when true the worker stops decoding and this iterator ends. :meth:`close` (the consumer calls it in
    a ``finally``) stops the worker and waits for it; the LM generator is always closed (its KV cache freed) on
    the worker's own thread. An exception raised by the LM is re-raised by ``next`` in the consumer.
    """

    def __init__(self, tokens: Iterator[int], *, lm_threads: int = 1,
                 should_stop: Callable[[], bool] | None = None):
        self._tokens = tokens
        self._lm_threads = max(1, int(lm_threads))
        self._should_stop = should_stop
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._stop = threading.Event()
        self._done = threading.Event()
        self._ended = False
        self._thread = threading.Thread(target=self._run, name="timbre-lm-decode", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        torch.set_num_threads(self._lm_threads)
        try:
            for token in self._tokens:
                self._queue.put(token)
                if self._stop.is_set() or (self._should_stop is not None and self._should_stop()):
                    break
        except BaseException as exc:  # handed to the consumer, which re-raises it in its own thread
            self._queue.put(_Failure(exc))
        finally:
            close = getattr(self._tokens, "close", None)
            if close is not None:
                close()
            self._done.set()
            self._queue.put(_END)

    @property
    def decoding(self) -> bool:
        """True while the worker may still produce tokens."""
        return not self._done.is_set()

    def __iter__(self) -> "DecodeAhead":
        return self

    def __next__(self) -> int:
        if self._ended:
            raise StopIteration
        item = self._queue.get()
        if item is _END:
            self._ended = True
            raise StopIteration
        if isinstance(item, _Failure):
            self._ended = True
            self._thread.join()
            raise item.exc
        return item

    def close(self) -> None:
        """Stop decoding and wait for the worker (at most one LM step)."""
        self._stop.set()
        self._thread.join()
        self._ended = True


class ThreadBudget:
    """Sets the calling thread's intra-op thread count only when it changes; restores the original on exit."""

    def __init__(self) -> None:
        self.total = torch.get_num_threads()
        self._current = self.total

    def use(self, n: int) -> None:
        n = max(1, int(n))
        if n != self._current:
            torch.set_num_threads(n)
            self._current = n

    def __enter__(self) -> "ThreadBudget":
        return self

    def __exit__(self, *exc) -> None:
        # Always, not only when it changed: this also resets the process-wide default the workers changed.
        torch.set_num_threads(self.total)
        self._current = self.total


def _in_inference_mode(fn: Callable, *args):
    with torch.inference_mode():  # thread-local: the flow's caches are inference tensors
        return fn(*args)


class FlowLane:
    """One extra thread with ``threads`` intra-op threads for the flow's second guidance row (an executor for
    :data:`engine.flow.cfm.Helper`). The caller must run its own row with the same thread count."""

    def __init__(self, threads: int):
        self.threads = max(1, int(threads))
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="timbre-flow-lane",
                                        initializer=torch.set_num_threads, initargs=(self.threads,))

    def submit(self, fn: Callable, *args) -> Future:
        return self._pool.submit(_in_inference_mode, fn, *args)

    def close(self) -> None:
        self._pool.shutdown(wait=True)
