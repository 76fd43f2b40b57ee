"""Measure loaded networks of either family on this machine for :func:`engine.machine_choice.choose_plan`.

:func:`measure_networks` takes the fp32 LM, flow and HiFT (a loaded CosyVoice 2 or 3 model, or the benchmark's
random ones at official size; both families share the LM's decode loop, the flow's stream API and the
streaming schedule) and times, on a fixed input (seeded, the same on every machine), at every thread total
of :func:`thread_counts` (the process's count first; ``torch.set_num_threads`` for each, restored after):

* each LM precision (fp32, bf16, the engine's int8 = ``int8w`` when this torch has its kernel): the first
  token and ``lm_tokens`` decoded tokens; fp32 decodes greedily, the others are teacher-forced on fp32's
  tokens, and their *token agreement* (at the first total) is the share of steps whose best speech token is
  fp32's. At the other totals only the time is wanted, so decoding stops once :data:`MIN_STEPS` steps are
  timed and their spread is within :data:`STEADY_SPREAD` (a quiet machine needs no more; a busy one runs on);
* each flow precision (fp32, bf16): the voice prompt's chunks and the first two streamed chunk calls of the
  engine's schedule (28 then 50 tokens), both guidance rows in one call and, with two or more threads, on
  two lanes; the *mel error* (at the first total) is max |mel - fp32 mel| over both calls;
* the vocoder (fp32) on one chunk call's frames, as the engine's stream calls it (CosyVoice 2's HiFT with a
  fresh excitation, CosyVoice 3's causal HiFT through its window);
* at totals of two or more threads, every agreeing LM precision decoding ahead on its worker
  (:class:`engine.cpu_threads.SentenceThreads`, the engine's own machinery) while the fastest agreeing flow
  runs the 50-token call beside it: the worker's tokens/s meanwhile and alone, and the flow's slowdown (the
  other flow precision is assumed to share them: one flow call less per LM precision).

A precision that fails agreement is not timed further (at no other total either: its agreement does not
depend on the thread count beyond float rounding). The faster precisions are copies of the fp32 networks
converted as :meth:`engine.Engine.load` converts them (:func:`engine.precision.pick_precision`), made once
each and dropped after use. ``details["phases_s"]`` says where the check's time went.
"""
from __future__ import annotations

import copy
import gc
import statistics
import time
from typing import Callable, Iterator

import torch

from .cpu_threads import CpuPlan, SentenceThreads, split_threads
from .errors import NEVER_CANCELLED, CancelToken
from .machine_choice import (AheadSpeed, Agreement, CallCost, FlowSpeed, LMSpeed, Measurements)
from .precision import pick_precision
from .rng import PortableRandom

Progress = Callable[[str, float], None]  # (what is measured now, share done 0..1)
PROMPT_TOKENS = 25  # one flow chunk of voice prompt: the shortest prompt whose schedule is the official one
TEXT_TOKENS = 16
MIN_STEPS = 8  # LM steps timed at least at the thread totals after the first
STEADY_SPREAD = 0.10  # ... and until their interquartile range is within this share of their median


def lm_precisions() -> tuple[str, ...]:
    """The LM conversions the engine's precisions use on the CPU: fp32, bf16 and int8's (``int8w`` or
    ``int8`` where this torch lacks the weight-only kernel)."""
    return ("fp32", "bf16", pick_precision("int8", "cpu").lm)


def thread_counts(total: int) -> tuple[int, ...]:
    """The thread totals to measure, ``total`` first: 1 and ``total``; on more than two, ``total // 2`` too."""
    return tuple(sorted({max(1, total), max(1, total // 2) if total > 2 else 1, 1}, reverse=True))


def _fixed_input(cfg, seed: int, end_of_prompt: int | None = None) -> dict:
    """The check's input; ``end_of_prompt``: the token CosyVoice 3's LM needs before the text (its first)."""
    g = torch.Generator().manual_seed(seed)
    p = PROMPT_TOKENS
    text = torch.randint(0, cfg.lm.qwen.vocab_size, (TEXT_TOKENS,), generator=g).tolist()
    return {
        "text": text if end_of_prompt is None else [end_of_prompt] + text[1:],
        "speech": torch.randint(0, cfg.lm.speech_token_size, (3 * TEXT_TOKENS,), generator=g).tolist(),
        "tokens": torch.randint(0, cfg.flow.vocab_size, (1, 3 * cfg.chunk_size + 2 * cfg.flow.pre_lookahead_len),
                                generator=g, dtype=torch.int32),
        "prompt_token": torch.randint(0, cfg.flow.vocab_size, (1, p), generator=g, dtype=torch.int32),
        "prompt_feat": torch.randn(1, cfg.token_mel_ratio * p, 80, generator=g) - 5.0,
        "embedding": torch.randn(1, cfg.flow.spk_embed_dim, generator=g),
        "noise": torch.randn(1, 80, cfg.token_mel_ratio * (p + 4 * cfg.chunk_size), generator=g),
        "mel": torch.randn(1, cfg.hift.in_channels, 2 * cfg.chunk_size + 8, generator=g) - 5.0,
    }


# --------------------------------------------------------------------------------------------------------------
# LM
# --------------------------------------------------------------------------------------------------------------
def _steady(stamps: list[float]) -> bool:
    """Whether the steps between ``stamps`` are enough for their median: at least MIN_STEPS, spread small."""
    steps = [b - a for a, b in zip(stamps, stamps[1:])]
    if len(steps) < MIN_STEPS:
        return False
    q1, _, q3 = statistics.quantiles(steps, n=4)
    return q3 - q1 <= STEADY_SPREAD * statistics.median(steps)


def _decode(lm, inp: dict, n: int, teacher: list[int] | None, steady: bool = False
            ) -> tuple[float, float, list[int]]:
    """(first token s, s per later token, best token of every step) over ``n`` tokens (teacher-forced if given;
    ``steady``: stop early once the step times are :func:`_steady`)."""
    n_speech = lm.cfg.speech_token_size
    best: list[int] = []

    def pick(scores, decoded, rng):
        best.append(int(scores[:n_speech].argmax()))
        return teacher[len(decoded)] if teacher is not None else best[-1]

    def ratio(tokens: float) -> dict:
        return {"min_token_text_ratio": tokens / len(inp["text"]), "max_token_text_ratio": tokens / len(inp["text"])}

    for _ in lm.generate(inp["text"], (), inp["speech"], rng=PortableRandom(0),  # warm-up: kernels, allocator
                         sampler=lambda s, d, r: int(s[:n_speech].argmax()), **ratio(2.5)):
        pass
    gen = lm.generate(inp["text"], (), inp["speech"], rng=PortableRandom(0), sampler=pick, **ratio(n + 0.5))
    t0 = time.perf_counter()
    next(gen)
    stamps = [time.perf_counter()]
    for _ in gen:
        stamps.append(time.perf_counter())
        if steady and _steady(stamps):
            break
    gen.close()
    steps = [b - a for a, b in zip(stamps, stamps[1:])] or [stamps[0] - t0]
    # the median step: another process taking a core stalls a few steps by many times their cost
    return stamps[0] - t0, statistics.median(steps), best


def _converted_lm(lm, precision: str):
    """A converted copy of the fp32 ``lm`` (``lm`` itself for fp32), as Engine.load converts it. bf16 and
    int8w start from a bf16 twin, so an official-size check never holds a second fp32 LM."""
    from .llm.speech_lm import convert_lm

    if precision == "fp32":
        return lm
    if precision == "int8":  # dynamic quantisation reads fp32 weights
        return convert_lm(copy.deepcopy(lm), precision)
    with torch.device("meta"):
        twin = type(lm)(lm.cfg)
    if hasattr(lm, "end_of_prompt_id"):  # CosyVoice 3: the tokenizer's <|endofprompt|>, set after loading
        twin.end_of_prompt_id = lm.end_of_prompt_id
    twin.load_state_dict({k: v.to(torch.bfloat16) for k, v in lm.state_dict().items()}, assign=True)
    twin.qwen.tie_weights()
    return convert_lm(twin.eval().requires_grad_(False), precision)


# --------------------------------------------------------------------------------------------------------------
# Flow and vocoder
# --------------------------------------------------------------------------------------------------------------
def _flow_calls(flow, inp: dict, dtype: torch.dtype, threads: SentenceThreads, cfg
                ) -> tuple[float, list[tuple[int, float, torch.Tensor]], object]:
    """Start the prompt, run the first chunk call once to warm up (oneDNN builds its kernels for these shapes
    and this thread count), then time the first two chunk calls of the schedule in ``threads``' layout from
    the same post-prompt state: (start s, [(new tokens, s, mel)], the state after the first call)."""
    c, la = cfg.chunk_size, cfg.flow.pre_lookahead_len
    threads.use(flow=True, final=False)
    t0 = time.perf_counter()
    start_state = flow.start_stream(inp["prompt_token"], inp["prompt_feat"].to(dtype), inp["embedding"].to(dtype),
                                    noise=inp["noise"], split_rows=threads.split_rows, helper=threads.helper)
    start = time.perf_counter() - t0
    flow.stream_step(start_state, inp["tokens"][:, :c + la], finalize=False, helper=threads.helper)
    state, fed, calls, after_first = start_state, 0, [], None
    for n_call in (c + la, 3 * c + la):
        t0 = time.perf_counter()
        mel, state = flow.stream_step(state, inp["tokens"][:, fed:n_call], finalize=False, helper=threads.helper)
        calls.append((n_call - fed, time.perf_counter() - t0, mel.float()))
        fed = n_call
        after_first = state if after_first is None else after_first
    return start, calls, after_first


def _vocode_once(hift, mel: torch.Tensor, run: int) -> None:
    """One streamed vocoder call on ``mel`` as the engine makes it for this family."""
    from .vocoder.causal_hift import CausalHiFT

    if isinstance(hift, CausalHiFT):  # CosyVoice 3: the window of new frames (Token2Wav3, streamed)
        from .token2wav_cv3 import Token2Wav3State, VocoderMode, vocode

        vocode(hift, VocoderMode.WINDOW, Token2Wav3State(), mel, False)
    else:
        from .vocoder.source import DrawnNoise

        hift.inference(mel, noise=DrawnNoise(PortableRandom(run)))


def _hift_s_per_token(hift, inp: dict, cfg, threads: int) -> float:
    """Seconds per token of a chunk's vocoding (``mel`` is one chunk's new frames plus 8 of cache)."""
    torch.set_num_threads(threads)
    runs = []
    for r in range(3):  # the first warms up oneDNN's primitive cache
        t0 = time.perf_counter()
        _vocode_once(hift, inp["mel"], r)
        runs.append(time.perf_counter() - t0)
    return statistics.median(runs[1:]) / (2 * cfg.chunk_size / cfg.token_mel_ratio)


# --------------------------------------------------------------------------------------------------------------
# The LM decoding ahead beside the flow
# --------------------------------------------------------------------------------------------------------------
def _stamped(tokens: Iterator[int], stamps: list[float]) -> Iterator[int]:
    for t in tokens:
        stamps.append(time.perf_counter())
        yield t


def _ahead(lm, flow, state, inp: dict, cfg, total: int, alone_tokens: int = 4) -> tuple[float, float, float]:
    """(worker s/token beside the flow, alone, flow call seconds beside the worker) for the 50-token call."""
    c, la = cfg.chunk_size, cfg.flow.pre_lookahead_len
    n_speech = lm.cfg.speech_token_size
    stamps: list[float] = []
    many = 4000 / len(inp["text"])
    tokens = _stamped(lm.generate(inp["text"], (), inp["speech"], rng=PortableRandom(0),
                                  sampler=lambda s, d, r: int(s[:n_speech].argmax()), min_token_text_ratio=many,
                                  max_token_text_ratio=many), stamps)
    plan = CpuPlan(total, split_threads(total)[0], 0, measured=True)
    with SentenceThreads(plan, tokens, streamed=True, split_rows=False) as threads:
        it = iter(threads.tokens)
        next(it), next(it)  # the worker is past its prefill
        threads.use(flow=True, final=False)
        flow_runs, beside = [], []
        for _ in range(8):  # until the worker made a few tokens meanwhile (a tiny model's call is short)
            t0 = time.perf_counter()
            flow.stream_step(state, inp["tokens"][:, c + la:3 * c + la], finalize=False)
            t1 = time.perf_counter()
            flow_runs.append(t1 - t0)
            beside += [s for s in stamps if t0 <= s <= t1]
            if len(beside) >= 4:
                break
        first_alone = len(stamps)
        while len(stamps) <= first_alone + alone_tokens:  # the consumer waits: the worker runs alone
            next(it)
        alone = stamps[first_alone:first_alone + alone_tokens + 1]
    lm_beside = _gap(beside, sum(flow_runs))
    lm_alone = (alone[-1] - alone[0]) / max(1, len(alone) - 1)
    return lm_beside, lm_alone, statistics.median(flow_runs)


def _gap(stamps: list[float], span: float) -> float:
    """Seconds per token from the time stamps that fell in a span (the whole span when fewer than two)."""
    if len(stamps) < 2:
        return span / max(1, len(stamps))
    stamps = sorted(stamps)
    return (stamps[-1] - stamps[0]) / (len(stamps) - 1)


def _threads(t: int) -> str:
    return f"{t} thread{'s' if t != 1 else ''}"


def _cost(calls: list[tuple[int, float, torch.Tensor]]) -> CallCost:
    return CallCost.from_two(calls[0][0], calls[0][1], calls[1][0], calls[1][1])


# --------------------------------------------------------------------------------------------------------------
# All of it
# --------------------------------------------------------------------------------------------------------------
class _Check:
    """One check's state: the fp32 networks, the fixed input, the thread totals, what is measured so far (per
    total; ``details`` for the report, ``phases_s`` where the time went), and where progress and
    cancellation go. Runs flows, vocoder, then LMs: each converted LM is timed in turn and decoding ahead
    beside the flow states kept from the flow phase, so it is converted once."""

    def __init__(self, nets: tuple, cfg, counts: tuple[int, ...], lm_tokens: int, agreement: Agreement,
                 say: Progress, cancel: CancelToken, seed: int):
        self.lm, self.flow, self.hift = nets
        self.cfg, self.counts, self.lm_tokens, self.agreement = cfg, counts, lm_tokens, agreement
        self.say, self.cancel = say, cancel
        self.inp = _fixed_input(cfg, seed, getattr(self.lm, "end_of_prompt_id", None))
        n_lm = len(lm_precisions())
        self.units = len(counts) * (n_lm + 3) + n_lm * sum(t >= 2 for t in counts)  # steps at most
        self.done, self.phase, self.phase_t0 = 0, "", 0.0
        self.details: dict = {"threads": list(counts), "lm_tokens": lm_tokens, "lm": {}, "flow": {},
                              "hift_s_per_token": {}, "ahead": {}, "phases_s": {}}
        self.lm_speeds: dict[int, list[LMSpeed]] = {t: [] for t in counts}
        self.flow_speeds: dict[int, list[FlowSpeed]] = {t: [] for t in counts}
        self.hift_s: dict[int, float] = {}
        self.aheads: dict[int, list[AheadSpeed]] = {t: [] for t in counts}
        self.states: dict = {}  # (flow precision, threads) -> (network, state after the first call, 2nd call s)

    def step(self, what: str) -> None:
        self.cancel.raise_if_cancelled("The machine check")
        self.end_phase()
        self.say(what, min(1.0, self.done / self.units))
        self.done += 1
        self.phase, self.phase_t0 = what, time.perf_counter()

    def end_phase(self) -> None:
        if self.phase:
            self.details["phases_s"][self.phase] = round(time.perf_counter() - self.phase_t0, 4)
            self.phase = ""

    def _agrees_flow(self, precision: str, err: float) -> bool:
        return precision == "fp32" or err <= self.agreement.max_mel_error

    def flows(self) -> None:
        reference, err = None, 0.0
        for p in ("fp32", "bf16"):
            dtype = torch.float32 if p == "fp32" else torch.bfloat16
            net = self.flow if p == "fp32" else copy.deepcopy(self.flow).to(dtype)
            entry = self.details["flow"][p] = {"threads": {}}
            for t in self.counts:
                self.step(f"flow {p}, {_threads(t)}")
                torch.set_num_threads(t)  # the caller's count is SentenceThreads' budget
                with SentenceThreads(CpuPlan(t, measured=True), iter(()), streamed=False, split_rows=False) as th:
                    start, calls, after_first = _flow_calls(net, self.inp, dtype, th, self.cfg)
                if t == self.counts[0]:  # agreement: on the first total
                    mels = torch.cat([m for _, _, m in calls], dim=2)
                    reference = mels if reference is None else reference
                    err = entry["mel_error"] = float((mels - reference).abs().max())
                lanes = None
                if t >= 2 and self._agrees_flow(p, err):
                    with SentenceThreads(CpuPlan(t, 0, max(1, t // 2), True), iter(()), streamed=False,
                                         split_rows=True) as th:
                        lanes = _cost(_flow_calls(net, self.inp, dtype, th, self.cfg)[1])
                self.flow_speeds[t].append(FlowSpeed(p, _cost(calls), start, lanes, err))
                self.states[(p, t)] = (net, after_first, calls[1][1])
                entry["threads"][str(t)] = {"start_s": start, "calls_s": [s for _, s, _ in calls],
                                            "lanes_fixed_and_per_token_s": None if lanes is None else
                                            [lanes.fixed_s, lanes.per_token_s]}
                if not self._agrees_flow(p, err):
                    break

    def hifts(self) -> None:
        for t in self.counts:
            self.step(f"vocoder, {_threads(t)}")
            self.hift_s[t] = _hift_s_per_token(self.hift, self.inp, self.cfg, t)
            self.details["hift_s_per_token"][str(t)] = self.hift_s[t]

    def lms(self) -> None:
        teacher, need = None, self.agreement.min_token_agreement
        for p in lm_precisions():
            net, agree = None, 1.0
            entry = self.details["lm"][p] = {"threads": {}}
            for t in self.counts:
                self.step(f"LM {p}, {_threads(t)}")
                net = _converted_lm(self.lm, p) if net is None else net
                torch.set_num_threads(t)
                first_total = t == self.counts[0]
                first, per, best = _decode(net, self.inp, self.lm_tokens, teacher, steady=not first_total)
                if first_total:  # agreement: on the first total, every step
                    teacher = best if teacher is None else teacher
                    agree = entry["token_agreement"] = sum(a == b for a, b in zip(best, teacher)) / len(teacher)
                self.lm_speeds[t].append(LMSpeed(p, per, first, agree))
                entry["threads"][str(t)] = {"first_token_s": first, "s_per_token": per, "steps": len(best) - 1}
                if p != "fp32" and agree < need:
                    break
                if t >= 2:
                    self._ahead(net, p, t)
            del net
            gc.collect()

    def _ahead(self, net, lm_p: str, t: int) -> None:
        """The LM beside the fastest agreeing flow; the other flow precision is assumed to share its numbers."""
        flows = [f for f in self.flow_speeds[t] if self._agrees_flow(f.precision, f.mel_error)]
        beside = min(flows, key=lambda f: f.batched.cost(2 * self.cfg.chunk_size))
        self.step(f"LM {lm_p} ahead beside flow {beside.precision}, {_threads(t)}")
        fnet, state, in_turn = self.states[(beside.precision, t)]
        lm_s, alone, flow_t = _ahead(net, fnet, state, self.inp, self.cfg, t)
        self.aheads[t] += [AheadSpeed(lm_p, f.precision, lm_s, alone, flow_t / in_turn) for f in flows]
        self.details["ahead"][f"{lm_p}/{beside.precision}/{t}"] = {
            "lm_s_per_token_beside_flow": lm_s, "lm_s_per_token_alone": alone, "flow_call_s": flow_t,
            "flow_call_in_turn_s": in_turn}

    def measurements(self) -> tuple[Measurements, ...]:
        c = self.cfg
        return tuple(Measurements(t, tuple(self.lm_speeds[t]), tuple(self.flow_speeds[t]), self.hift_s[t],
                                  tuple(self.aheads[t]), chunk_size=c.chunk_size,
                                  pre_lookahead=c.flow.pre_lookahead_len, max_hop=4 * c.chunk_size)
                     for t in self.counts)


def measure_networks(lm, flow, hift, cfg, *, threads: int | None = None, lm_tokens: int = 24,
                     agreement: Agreement = Agreement(), progress: Progress | None = None,
                     cancel: CancelToken = NEVER_CANCELLED, seed: int = 0,
                     counts: tuple[int, ...] | None = None) -> tuple[tuple[Measurements, ...], dict]:
    """Time the fp32 networks and their faster precisions at every thread total (``counts``, default
    :func:`thread_counts` of ``threads`` or torch's count; the first one also measures agreement; see the
    module docstring) -> (one :class:`Measurements` per total, details: every raw timing and agreement, for
    the report). ``lm``/``flow``/``hift`` are not changed, and the caller's thread count is restored."""
    counts = counts or thread_counts(threads or torch.get_num_threads())
    before = torch.get_num_threads()
    check = _Check((lm, flow, hift), cfg, counts, lm_tokens, agreement, progress or (lambda what, share: None),
                   cancel, seed)
    try:
        with torch.inference_mode():
            check.flows()
            check.hifts()
            check.lms()
    finally:
        check.states.clear()
        torch.set_num_threads(before)
    check.end_phase()
    check.say("done", 1.0)
    return check.measurements(), check.details


__all__ = ["lm_precisions", "measure_networks", "thread_counts"]
