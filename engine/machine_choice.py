"""Which precision and CPU threading plan is fastest on this machine, from measured speeds (a pure function).

:mod:`engine.machine_check` measures the loaded networks (:class:`Measurements`); :func:`choose_plan` predicts
a streamed utterance's time for every candidate and returns them ranked. Nothing here times anything, so the
choice is tested with injected numbers.

A candidate is a thread total x an LM precision x a flow precision x LM decoding ahead (on/off) x flow lanes
(on/off); each thread total is one :class:`Measurements` (the same fixed input timed with that many threads:
on a machine where one core gets half the memory bandwidth, or where another process holds a core, fewer
threads can be faster). It is *eligible* only if both its networks agree with fp32 on the check's fixed input
(:class:`Agreement`); fp32 is the reference and always eligible. Among eligible candidates the lowest
predicted real-time factor wins; candidates within :attr:`Agreement.margin` of it count as equally fast (the
measurements are that noisy on a shared machine), and of those the more accurate precision wins.

The prediction follows the engine's streaming schedule (:func:`engine.token2wav.token_hop_schedule`): a chunk
call when its tokens exist, flow then HiFT for the tokens new since the last call, the final call over the
rest. In turn, the LM and the flow alternate on every thread. Decoding ahead, the LM's worker makes tokens at
its measured rate while the flow runs (``AheadSpeed.lm_s``, both slowed by sharing cores and memory bandwidth)
or while the consumer waits (``lm_alone_s``); chunk calls run at the concurrent flow rate and the final call on
every thread. HiFT beside the LM is assumed slowed by the flow's measured factor (it is ~10 % of the time).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from .token2wav import token_hop_schedule

LM_ACCURACY = {"fp32": 0, "bf16": 1, "int8w": 2, "int8": 3}  # lower: closer to the fp32 reference
FLOW_ACCURACY = {"fp32": 0, "bf16": 1}
TOKENS_PER_S = 25  # speech tokens per second of audio (CosyVoice 2 and 3)


@dataclass(frozen=True)
class Agreement:
    """When a faster precision counts as agreeing with fp32 on the check's fixed input.

    min_token_agreement: share of teacher-forced LM steps whose best speech token is fp32's (the bound the
    LM's own precision tests use for int8 on the parity goldens, tests/engine/test_lm.py). Measured on the
    check's input: bf16 0.97 (tiny model and official size, random weights), int8w 0.97 (tiny) and 0.75 (official
    size with random weights, whose near-flat logits make the best token a coin toss: it fails there).
    max_mel_error: largest |mel - fp32 mel| over the check's two flow chunk calls, in natural-log mel units
    (0.25 is about 2 dB on the worst bin). Measured for bf16: 0.054 (tiny), 0.045 (official size, random
    weights); the bound is about 5x that, so bf16's rounding passes and a broken kernel (errors of order 1)
    does not. CosyVoice 3's DiT flow in bf16: 0.197 on its tiny random model (closer to the bound; its
    official-size error is not measured here).
    margin: candidates whose predicted RTF is within this share of the fastest count as equally fast (repeated
    checks on a shared machine differ by more than that).
    """

    min_token_agreement: float = 0.90
    max_mel_error: float = 0.25
    margin: float = 0.05


@dataclass(frozen=True)
class LMSpeed:
    """One LM precision, measured: ``turn_s`` seconds per decoded token on every thread, ``first_token_s`` the
    prefill and first token, ``agreement`` the share of steps whose best token is fp32's (1.0 for fp32)."""

    precision: str
    turn_s: float
    first_token_s: float
    agreement: float = 1.0


@dataclass(frozen=True)
class CallCost:
    """Seconds one flow call takes for ``n`` new tokens: ``fixed_s + n * per_token_s`` (a call has a cost of its
    own: ten ODE steps over the cached history and the convolutions' context)."""

    fixed_s: float
    per_token_s: float

    def cost(self, n: int) -> float:
        return self.fixed_s + n * self.per_token_s if n > 0 else 0.0

    @classmethod
    def from_two(cls, n1: int, t1: float, n2: int, t2: float) -> "CallCost":
        """The line through two measured calls (n1 != n2), never negative."""
        per = max(0.0, (t2 - t1) / (n2 - n1))
        return cls(max(0.0, t1 - n1 * per), per)


@dataclass(frozen=True)
class FlowSpeed:
    """One flow precision: a streamed chunk call with both guidance rows in one call on every thread
    (``batched``) and with the rows on two lanes (``lanes``; None where there is one thread); ``start_s`` the
    voice prompt's chunks; ``mel_error`` max |mel - fp32 mel| on the check's chunk (0.0 for fp32)."""

    precision: str
    batched: CallCost
    start_s: float
    lanes: CallCost | None = None
    mel_error: float = 0.0


@dataclass(frozen=True)
class AheadSpeed:
    """The LM (``lm``) decoding on its worker while the flow (``flow``) runs a chunk on the other threads:
    seconds per token of the worker meanwhile (``lm_s``) and alone (``lm_alone_s``), and how much slower the
    flow's call is than in turn on every thread (``slowdown``, >= 1 in practice)."""

    lm: str
    flow: str
    lm_s: float
    lm_alone_s: float
    slowdown: float


@dataclass(frozen=True)
class Measurements:
    """Everything :func:`choose_plan` needs, as measured on one machine with ``total_threads`` intra-op threads
    (seconds; per token unless named)."""

    total_threads: int
    lm: tuple[LMSpeed, ...]
    flow: tuple[FlowSpeed, ...]
    hift_s: float
    ahead: tuple[AheadSpeed, ...] = ()
    prompt_tokens: int = 75  # a 3 s voice prompt
    utterance_tokens: int = 250  # 10 s of speech
    chunk_size: int = 25
    pre_lookahead: int = 3
    max_hop: int = 100


@dataclass(frozen=True)
class Candidate:
    """One way to run, with its predicted streamed-utterance numbers and why it may not be used."""

    lm: str
    flow: str
    decode_ahead: bool
    flow_lanes: bool
    threads: int  # the intra-op thread total it runs with (the Measurements' total_threads)
    predicted_rtf: float
    first_audio_s: float
    problem: str = ""  # "" when eligible

    @property
    def eligible(self) -> bool:
        return not self.problem

    @property
    def accuracy_rank(self) -> int:
        return LM_ACCURACY.get(self.lm, 9) + FLOW_ACCURACY.get(self.flow, 9)

    def describe(self) -> str:
        threads = (f"{self.threads} thread{'s' if self.threads != 1 else ''}, LM ahead "
                   f"{'on' if self.decode_ahead else 'off'}, lanes {'on' if self.flow_lanes else 'off'}")
        tail = f" - {self.problem}" if self.problem else ""
        return (f"LM {self.lm} + flow {self.flow}, {threads}: RTF {self.predicted_rtf:.2f}, first audio "
                f"{self.first_audio_s:.1f} s{tail}")


@dataclass
class _Worker:
    """The LM decoding ahead: ``made`` tokens so far, ``delay`` seconds of prefill left."""

    total: int
    delay: float
    made: int = 0
    _part: float = 0.0  # seconds spent on the token in progress

    def run(self, seconds: float, s_per_token: float) -> None:
        if self.made >= self.total:
            return
        used = min(seconds, self.delay)
        self.delay -= used
        seconds -= used
        if self.delay <= 0 and self.made == 0 and used > 0:
            self.made = 1
        while seconds > 0 and self.made < self.total:
            step = min(seconds, s_per_token - self._part)
            self._part += step
            seconds -= step
            if self._part >= s_per_token - 1e-12:
                self.made, self._part = self.made + 1, 0.0

    def time_until(self, n: int, s_per_token: float) -> float:
        """Seconds of running alone until ``n`` tokens exist."""
        if self.made >= n:
            return 0.0
        first = self.delay + (s_per_token if self.made == 0 and self.delay <= 0 else 0.0)
        done = max(self.made, 1)
        return first + (n - done) * s_per_token - self._part


def _calls(m: Measurements) -> list[int]:
    """Token counts of the chunk calls of one streamed utterance (the final call takes the rest)."""
    out = []
    for hop in token_hop_schedule(m.prompt_tokens, m.chunk_size, m.pre_lookahead, m.max_hop):
        if hop.n_tokens > m.utterance_tokens:
            return out
        out.append(hop.n_tokens)


def predict_in_turn(m: Measurements, lm: LMSpeed, flow: CallCost, start_s: float) -> tuple[float, float]:
    """(total seconds, first audio seconds) with the LM and the flow taking turns on every thread."""
    n_all = m.utterance_tokens

    def lm_time(have: int, want: int) -> float:
        return (lm.first_token_s + (want - 1) * lm.turn_s) if have == 0 else (want - have) * lm.turn_s

    t, made, first = start_s, 0, None
    for n in _calls(m) + [n_all]:
        t += lm_time(made, n) + flow.cost(n - made) + (n - made) * m.hift_s
        made = n
        first = t if first is None else first
    return t, first


def predict_ahead(m: Measurements, lm: LMSpeed, flow: FlowSpeed, ahead: AheadSpeed, final: CallCost
                  ) -> tuple[float, float]:
    """(total seconds, first audio seconds) with the LM decoding ahead on its worker; ``final``: the last
    call's cost (every thread, the plan's row layout)."""
    slow = ahead.slowdown  # what sharing the machine does to the arithmetic-bound stages
    worker = _Worker(m.utterance_tokens, lm.first_token_s * ahead.lm_alone_s / lm.turn_s)
    t = flow.start_s * slow  # the prompt's chunks, while the worker starts
    worker.run(t, ahead.lm_s)
    fed, first = 0, None
    for n in _calls(m):
        wait = worker.time_until(n, ahead.lm_alone_s)
        worker.run(wait, ahead.lm_alone_s)
        busy = slow * (flow.batched.cost(n - fed) + (n - fed) * m.hift_s)
        worker.run(busy, ahead.lm_s)
        t += wait + busy
        fed = n
        first = t if first is None else first
    t += worker.time_until(m.utterance_tokens, ahead.lm_alone_s)
    t += final.cost(m.utterance_tokens - fed) + (m.utterance_tokens - fed) * m.hift_s
    return t, (t if first is None else first)


def candidates(m: Measurements, agreement: Agreement = Agreement()) -> list[Candidate]:
    """Every candidate one thread total's measurements describe, with its prediction and problem ("" if none)."""
    audio_s = m.utterance_tokens / TOKENS_PER_S
    out = []

    def add(ahead_on: bool, lanes: bool, total: float, first: float) -> None:
        out.append(Candidate(lm.precision, flow.precision, ahead_on, lanes, m.total_threads, total / audio_s, first,
                             problem))

    for lm in m.lm:
        for flow in m.flow:
            problem = _disagreement(lm, flow, agreement)
            lanes_options = [False] + ([True] if flow.lanes is not None and m.total_threads >= 2 else [])
            for lanes in lanes_options:
                flow_turn = flow.lanes if lanes and flow.lanes is not None else flow.batched
                add(False, lanes, *predict_in_turn(m, lm, flow_turn, flow.start_s))
                ahead = next((a for a in m.ahead if a.lm == lm.precision and a.flow == flow.precision), None)
                if ahead is not None and m.total_threads >= 2:
                    add(True, lanes, *predict_ahead(m, lm, flow, ahead, flow_turn))
    return out


def _disagreement(lm: LMSpeed, flow: FlowSpeed, agreement: Agreement) -> str:
    problems = []
    if lm.precision != "fp32" and lm.agreement < agreement.min_token_agreement:
        problems.append(f"LM {lm.precision} agrees on {lm.agreement:.0%} of tokens "
                        f"(needs {agreement.min_token_agreement:.0%})")
    if flow.precision != "fp32" and flow.mel_error > agreement.max_mel_error:
        problems.append(f"flow {flow.precision} mel error {flow.mel_error:.3f} (at most {agreement.max_mel_error})")
    return "; ".join(problems)


def choose_plan(m: Measurements | Sequence[Measurements], agreement: Agreement = Agreement()
                ) -> tuple[Candidate, tuple[Candidate, ...]]:
    """(the winner, every candidate ranked best first) over one or several thread totals' measurements. The
    winner is eligible: fastest predicted RTF, the most accurate precision among those within
    ``agreement.margin`` of it, then the earliest first audio. A thread total is chosen by the same rule as
    everything else: measured, never by how many cores there are."""
    every = [c for one in ([m] if isinstance(m, Measurements) else m) for c in candidates(one, agreement)]
    eligible = [c for c in every if c.eligible]
    if not eligible:
        raise ValueError("the measurements hold no fp32 candidate (the reference is always eligible)")
    fastest = min(c.predicted_rtf for c in eligible)
    close = [c for c in eligible if c.predicted_rtf <= fastest * (1 + agreement.margin)]
    winner = min(close, key=lambda c: (c.accuracy_rank, c.predicted_rtf, c.first_audio_s))
    ranked = sorted(every, key=lambda c: (not c.eligible, c is not winner, c.predicted_rtf))
    return winner, tuple(ranked)


__all__ = ["AheadSpeed", "Agreement", "CallCost", "Candidate", "FlowSpeed", "LMSpeed", "Measurements", "candidates",
           "choose_plan", "predict_ahead", "predict_in_turn"]
