"""Best-of-N: generate takes with new seeds until one passes its checks, else keep the best.

Take k's seed is :func:`take_seed` (the request's own seed for k = 0, then Philox draws keyed by it), so
the same request and N give the same takes on every machine (:mod:`engine.rng`). Takes are made through
the public :meth:`Engine.synthesize` only, one after another; the first take whose report passes (no check
failed) is chosen and no more are made. If none passes, the take with the highest
:attr:`TakeReport.score` (2 points per passed check, 1 per warning) is kept; ties go to the earlier take.
"""
from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from typing import Callable

import numpy as np

from ..errors import CheckError
from ..rng import SEED_LIMIT, check_seed, philox4x32
from .take import Reference, TakeChecker
from .verdict import TakeReport

MAX_TAKES = 32
_TAKE_STREAM = 0x7A4E  # the Philox counter word that keeps take seeds apart from the request's streams


def take_seed(seed: int, k: int) -> int:
    """The seed of take ``k`` of a request with ``seed``: ``seed`` itself for k = 0, then 64-bit Philox words."""
    seed = check_seed(seed)
    if k == 0:
        return seed
    w = philox4x32([np.uint32(k), 0, 0, _TAKE_STREAM], (seed & 0xFFFFFFFF, seed >> 32))[0]
    return (int(w[0]) | int(w[1]) << 32) % SEED_LIMIT


@dataclass(frozen=True)
class Take:
    """One generated take: its seed, audio (float32 [N] at the engine's rate, the concatenated ``chunks``,
    the engine's AudioChunks), report and timings."""

    index: int
    seed: int
    audio: np.ndarray
    sample_rate: int
    report: TakeReport
    generate_s: float
    watchdog: tuple[str, ...] = ()
    chunks: tuple = ()

    def to_dict(self) -> dict:
        return {"index": self.index, "seed": self.seed, "seconds": round(self.audio.shape[0] / self.sample_rate, 3),
                "generate_s": round(self.generate_s, 3), **self.report.to_dict()}


@dataclass(frozen=True)
class BestOf:
    """Every take made (in order) and which one was chosen."""

    takes: tuple[Take, ...]
    chosen_index: int

    @property
    def chosen(self) -> Take:
        return self.takes[self.chosen_index]

    @property
    def passed(self) -> bool:
        return self.chosen.report.passed

    def check_fraction(self) -> float:
        """Time spent checking / time spent generating, over all takes."""
        gen = sum(t.generate_s for t in self.takes)
        return sum(t.report.seconds for t in self.takes) / max(gen, 1e-9)

    def to_dict(self) -> dict:
        return {"chosen": self.chosen_index, "passed": self.passed, "takes": [t.to_dict() for t in self.takes]}


def _generate(engine, request, cancel) -> tuple[tuple, tuple[str, ...], float]:
    t0 = time.perf_counter()
    chunks = tuple(engine.synthesize(request) if cancel is None else engine.synthesize(request, cancel=cancel))
    notes = tuple(f"sentence {c.sentence_index + 1}: {c.watchdog}" for c in chunks if c.watchdog)
    return chunks, notes, time.perf_counter() - t0


def check_takes(n: object) -> int:
    """``n`` as a number of takes (1 to :data:`MAX_TAKES`), or CheckError saying what it may be."""
    if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= MAX_TAKES:
        raise CheckError(f"The number of takes (best of N) must be a whole number from 1 to {MAX_TAKES}, got {n!r}.")
    return n


def best_of(engine, request, n: int, checker: TakeChecker | None = None, *, reference: Reference | None = None,
            language: str = "", cancel=None, on_take: Callable[[Take], None] | None = None) -> BestOf:
    """Up to ``n`` takes of ``request`` (a :class:`SynthesisRequest`) with seeds :func:`take_seed`, checked
    against ``request.text`` (and ``request.instruction``); stops at the first that passes.

    reference: the voice to compare with (default: the request voice's CAM++ embedding, judged only when the
    checker has a model folder). on_take: called with each take as soon as it is checked (progress).
    """
    check_takes(n)
    checker = checker or TakeChecker()
    if reference is None:
        reference = Reference(embedding=request.voice.embedding.numpy())
    instruction = request.instruction if request.mode == "instruct" else ""
    takes: list[Take] = []
    for k in range(n):
        seed = take_seed(request.seed, k)
        chunks, notes, gen_s = _generate(engine, dataclasses.replace(request, seed=seed), cancel)
        audio = np.concatenate([c.samples for c in chunks]) if chunks else np.zeros(0, dtype=np.float32)
        report = checker.check(audio, engine.sample_rate, request.text, language=language or request.voice.language,
                               reference=reference, instruction=instruction, watchdog=notes)
        take = Take(k, seed, audio, engine.sample_rate, report, gen_s, notes, chunks)
        takes.append(take)
        if on_take is not None:
            on_take(take)
        if report.passed:
            return BestOf(tuple(takes), k)
    best = max(range(len(takes)), key=lambda i: (takes[i].report.score, -i))
    return BestOf(tuple(takes), best)
