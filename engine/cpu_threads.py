"""CPU threads for a streamed sentence: decided once per engine (:class:`CpuPlan`), run by one scheduler per
sentence (:class:`SentenceThreads`).

Why: on a CPU the LM's one-token step is bound by memory bandwidth (it streams all of the decoder's weights
for every token), while the flow and HiFT are bound by arithmetic. On a machine where one core gets most of
the memory bandwidth, the LM decoding on a worker thread with one core while the flow runs on the others
makes both proceed at once; once the LM has finished, the flow gets every core back (``lm_threads``). The
flow's two classifier-free-guidance rows only meet at the end of each ODE step, so with split rows
(:data:`engine.flow.cfm.SPLIT_ROWS`) the unconditioned row can run on a lane thread while the caller runs the
conditioned one (``lane_threads``). Whether either pays depends on the machine (measured numbers: README,
Performance), which is why the plan is a value the engine is loaded with: measured on the user's machine by
:mod:`engine.machine_check` when that has run, else :func:`plan_cpu_threads`' rule.

What changes is timing, not the schedule: the worker produces the tokens in the same order (its sampler has
its own random stream) and the consumer decides when to run the flow from the token count alone. Only float
rounding differs from one thread of control, because another thread count sums in another order; the counts
are fixed per call (never "whichever is free now"), so one request gives the same samples every time.

``torch.set_num_threads`` sets the OpenMP/MKL thread count of the *calling* thread (plus a process-wide
default for threads started later): :class:`SentenceThreads` runs the sentence with the plan's ``total`` (the
hardware check's measured choice, which may be fewer, ``measured``) or else the caller's count (its
budget, and what an unmeasured plan always used), the worker sets its own count,
the consumer sets its count before each call, and the caller's count is restored when the sentence ends.
"""
from __future__ import annotations

import queue
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Callable, Iterator

import torch

from .errors import NEVER_CANCELLED, CancelToken
from .precision import Precision

_END = object()


class _Failure:
    def __init__(self, exc: BaseException):
        self.exc = exc


def split_threads(total: int) -> tuple[int, int]:
    """(LM threads, flow threads while the LM runs) for ``total`` intra-op threads: the bandwidth-bound LM gets a
    quarter (at least one), the arithmetic-bound flow the rest (1 + 2 on two cores oversubscribes them)."""
    lm = max(1, total // 4)
    return lm, max(1, total - lm)


@dataclass(frozen=True)
class CpuPlan:
    """How a streamed sentence uses the threads: ``total`` intra-op threads of the caller, the LM decoding ahead
    on a worker with ``lm_threads`` (0: in turn with the flow), the guidance rows split over two threads of
    ``lane_threads`` each (0: one batch of both rows). Non-streamed sentences always run in turn."""

    total: int
    lm_threads: int = 0
    lane_threads: int = 0
    measured: bool = False  # total chosen by the hardware check: sentences run with it (at most the caller's)

    @property
    def decode_ahead(self) -> bool:
        return self.lm_threads > 0

    @property
    def flow_lanes(self) -> bool:
        return self.lane_threads > 0


def plan_cpu_threads(device: torch.device, precision: Precision, *, decode_ahead: bool | None = None,
                     flow_lanes: bool | None = None, total: int | None = None) -> CpuPlan:
    """The plan for an engine on ``device``; ``None`` options are decided here, once.

    Both only pay on a CPU with two or more threads (``total``, default ``torch.get_num_threads()``). Flow
    lanes: on there. Decoding ahead: on there unless the LM is int8 (an int8 LM step is so short that the flow
    is the bottleneck, and the flow on every core, in turn, is faster)."""
    total = torch.get_num_threads() if total is None else total
    multi = device.type == "cpu" and total >= 2
    ahead = decode_ahead if decode_ahead is not None else (multi and not precision.lm.startswith("int8"))
    lanes = flow_lanes if flow_lanes is not None else multi
    return CpuPlan(total, split_threads(total)[0] if ahead else 0, max(1, total // 2) if lanes else 0)


class DecodeAhead:
    """Iterates ``tokens`` (a generator) on a worker thread once :meth:`start` ed; iterating this yields the same
    tokens. ``stop`` is polled after every token. :meth:`close` stops the worker and waits for it (at most one LM
    step); the token generator is always closed (its KV cache freed) on the worker's own thread. An exception
    raised by the LM is re-raised by ``next`` in the consumer."""

    def __init__(self, tokens: Iterator[int], lm_threads: int = 1, stop: CancelToken = NEVER_CANCELLED):
        self._tokens = tokens
        self._lm_threads = max(1, int(lm_threads))
        self._cancel = stop
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._stop = threading.Event()
        self._done = threading.Event()
        self._ended = False
        self._thread = threading.Thread(target=self._run, name="timbre-lm-decode", daemon=True)

    def start(self) -> "DecodeAhead":
        self._thread.start()
        return self

    def _run(self) -> None:
        torch.set_num_threads(self._lm_threads)
        try:
            for token in self._tokens:
                self._queue.put(token)
                if self._stop.is_set() or self._cancel.cancelled:
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
        """Stop decoding and wait for the worker."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()
        self._ended = True


def _in_inference_mode(fn: Callable, *args):
    with torch.inference_mode():  # thread-local: the flow's caches are inference tensors
        return fn(*args)


class FlowLane:
    """One extra thread with ``threads`` intra-op threads for the flow's second guidance row (a
    :data:`engine.flow.cfm.Submitter`). The caller runs its own row with the same thread count."""

    def __init__(self, threads: int):
        self.threads = max(1, int(threads))
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="timbre-flow-lane",
                                        initializer=torch.set_num_threads, initargs=(self.threads,))

    def submit(self, fn: Callable, *args) -> Future:
        return self._pool.submit(_in_inference_mode, fn, *args)

    def close(self) -> None:
        self._pool.shutdown(wait=True)


class SentenceThreads:
    """The threads of one sentence, started on ``with`` and closed once when it ends.

    ``tokens`` is what to iterate: the LM worker's output when the plan decodes ahead (streamed sentences only),
    else ``lm_tokens`` itself. Inside, this thread runs with a measured plan's ``total`` threads, at most the
    caller's count, else with the caller's count (restored on exit). :meth:`use` sets this thread's count for the next call; :meth:`helper` is where the
    flow's second row may run now (the lane, when no LM worker is decoding; the result is the same either way).
    """

    def __init__(self, plan: CpuPlan, lm_tokens: Iterator[int], *, streamed: bool, split_rows: bool,
                 stop: CancelToken = NEVER_CANCELLED):
        self.plan = plan
        self._worker = DecodeAhead(lm_tokens, plan.lm_threads, stop) if streamed and plan.decode_ahead else None
        self._lane_threads = plan.lane_threads if split_rows and plan.flow_lanes else 0
        self._lane: FlowLane | None = None
        self.tokens: Iterator[int] = self._worker if self._worker is not None else lm_tokens
        self._total = max(1, int(plan.total))  # at most the caller's count: set on entering
        self._entered_with = 0
        self._current = 0

    @property
    def decoding_ahead(self) -> bool:
        return self._worker is not None

    @property
    def split_rows(self) -> bool:
        return self._lane_threads > 0

    def __enter__(self) -> "SentenceThreads":
        self._entered_with = self._current = torch.get_num_threads()
        # A measured total applies (capped by the caller's count); otherwise the caller's count, as always.
        self._total = max(1, min(int(self.plan.total), self._entered_with)) if self.plan.measured else \
            self._entered_with
        if self._total != self._current:  # a measured total below the caller's (LM in turn, prefill, HiFT)
            torch.set_num_threads(self._total)
            self._current = self._total
        if self._lane_threads:
            self._lane = FlowLane(self._lane_threads)
        if self._worker is not None:
            self._worker.start()
        return self

    def __exit__(self, *exc) -> None:
        try:
            if self._worker is not None:
                self._worker.close()  # before the thread count is restored
            else:
                close = getattr(self.tokens, "close", None)
                if close is not None:
                    close()  # stop the LM generator now (frees its KV cache)
            if self._lane is not None:
                self._lane.close()
        finally:
            # Always: this also resets the process-wide default the workers changed.
            torch.set_num_threads(self._entered_with)

    def use(self, *, flow: bool, final: bool) -> None:
        """Set this thread's count for the next flow (``flow``) or vocoder call, a chunk or the final call.

        With a lane the flow's rows always run with the lane's count, on whichever thread. With an LM worker the
        chunk calls leave it its cores; the final call comes after the last token and takes them all. Decided by
        the call, never by whether the worker happens to be done (the count changes float rounding)."""
        if flow and self._lane_threads:
            n = self._lane_threads
        elif self._worker is not None and not final:
            n = split_threads(self._total)[1]
        else:
            n = self._total
        if n != self._current:
            torch.set_num_threads(n)
            self._current = n

    def helper(self) -> FlowLane | None:
        if self._lane is None or (self._worker is not None and self._worker.decoding):
            return None
        return self._lane
