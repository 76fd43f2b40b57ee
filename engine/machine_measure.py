"""Measure loaded CosyVoice 2 networks on this machine for :func:`engine.machine_choice.choose_plan`.

:func:`measure_networks` takes the fp32 LM, flow and HiFT (a loaded model, or the benchmark's random ones at
official size) and times, on a fixed input (seeded, the same on every machine):

* each LM precision (fp32, bf16, the engine's int8 = ``int8w`` when this torch has its kernel): the first
  token and ``lm_tokens`` decoded tokens on every thread; fp32 decodes greedily, the others are
  teacher-forced on fp32's tokens, and their *token agreement* is the share of steps whose best speech
  token is fp32's;
* each flow precision (fp32, bf16): the voice prompt's chunks and the first two streamed chunk calls of the
  engine's schedule (28 then 50 tokens), both guidance rows in one call and on two lanes; the *mel error*
  is max |mel - fp32 mel| over both calls;
* HiFT (fp32) on one chunk call's frames;
* with two or more threads, every agreeing LM precision decoding ahead on its worker
  (:class:`engine.cpu_threads.SentenceThreads`, the engine's own machinery) while the fastest agreeing flow
  runs the 50-token call beside it: the worker's tokens/s meanwhile and alone, and the flow's slowdown (the
  other flow precision is assumed to share them: one flow call less per LM precision).

A precision that fails agreement is not timed further. The faster precisions are copies of the fp32
networks converted as :meth:`engine.Engine.load` converts them (:func:`engine.precision.pick_precision`),
made one at a time and dropped after use.
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


def lm_precisions() -> tuple[str, ...]:
    """The LM conversions the engine's precisions use on the CPU: fp32, bf16 and int8's (``int8w`` or
    ``int8`` where this torch lacks the weight-only kernel)."""
    return ("fp32", "bf16", pick_precision("int8", "cpu").lm)


def _fixed_input(cfg, seed: int) -> dict:
    g = torch.Generator().manual_seed(seed)
    p = PROMPT_TOKENS
    return {
        "text": torch.randint(0, cfg.lm.qwen.vocab_size, (TEXT_TOKENS,), generator=g).tolist(),
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
def _decode(lm, inp: dict, n: int, teacher: list[int] | None) -> tuple[float, float, list[int]]:
    """(first token s, s per later token, best token of every step) over ``n`` tokens (teacher-forced if given)."""
    eos = lm.eos_token
    best: list[int] = []

    def pick(scores, decoded, rng):
        best.append(int(scores[:eos].argmax()))
        return teacher[len(decoded)] if teacher is not None else best[-1]

    ratio = (n + 0.5) / len(inp["text"])
    for _ in lm.generate(inp["text"], (), inp["speech"], rng=PortableRandom(0),  # warm-up: kernels, allocator
                         sampler=lambda s, d, r: int(s[:eos].argmax()), min_token_text_ratio=3.5 / len(inp["text"]),
                         max_token_text_ratio=3.5 / len(inp["text"])):
        pass
    gen = lm.generate(inp["text"], (), inp["speech"], rng=PortableRandom(0), sampler=pick,
                      min_token_text_ratio=ratio, max_token_text_ratio=ratio)
    t0 = time.perf_counter()
    next(gen)
    stamps = [time.perf_counter()]
    for _ in gen:
        stamps.append(time.perf_counter())
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
    twin.load_state_dict({k: v.to(torch.bfloat16) for k, v in lm.state_dict().items()}, assign=True)
    twin.qwen.tie_weights()
    return convert_lm(twin.eval().requires_grad_(False), precision)


# --------------------------------------------------------------------------------------------------------------
# Flow and HiFT
# --------------------------------------------------------------------------------------------------------------
def _flow_calls(flow, inp: dict, dtype: torch.dtype, threads: SentenceThreads, cfg
                ) -> tuple[float, list[tuple[int, float, torch.Tensor]], object]:
    """Start the prompt, run the first chunk call once to warm up (oneDNN builds its kernels for these shapes),
    then time the first two chunk calls of the schedule in ``threads``' layout from the same post-prompt state:
    (start s, [(new tokens, s, mel)], the state after the first call)."""
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


def _hift_s_per_token(hift, inp: dict, cfg, total: int) -> float:
    from .vocoder.source import DrawnNoise

    torch.set_num_threads(total)
    runs = []
    for r in range(3):  # the first warms up oneDNN's primitive cache
        t0 = time.perf_counter()
        hift.inference(inp["mel"], noise=DrawnNoise(PortableRandom(r)))
        runs.append(time.perf_counter() - t0)
    return statistics.median(runs[1:]) / (2 * cfg.chunk_size / cfg.token_mel_ratio)


# --------------------------------------------------------------------------------------------------------------
# The LM decoding ahead beside the flow
# --------------------------------------------------------------------------------------------------------------
def _stamped(tokens: Iterator[int], stamps: list[float]) -> Iterator[int]:
    for t in tokens:
        stamps.append(time.perf_counter())
        yield t


def _ahead(lm, flow, state, inp: dict, dtype, cfg, total: int, alone_tokens: int = 4) -> tuple[float, float, float]:
    """(worker s/token beside the flow, alone, flow call seconds beside the worker) for the 50-token call."""
    c, la = cfg.chunk_size, cfg.flow.pre_lookahead_len
    eos = lm.eos_token
    stamps: list[float] = []
    many = 4000 / len(inp["text"])
    tokens = _stamped(lm.generate(inp["text"], (), inp["speech"], rng=PortableRandom(0),
                                  sampler=lambda s, d, r: int(s[:eos].argmax()), min_token_text_ratio=many,
                                  max_token_text_ratio=many), stamps)
    plan = CpuPlan(total, split_threads(total)[0], 0)
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


# --------------------------------------------------------------------------------------------------------------
# All of it
# --------------------------------------------------------------------------------------------------------------
class _Check:
    """One check's state: the fp32 networks, the fixed input, what is measured so far (``details`` for the
    report), and where progress and cancellation go."""

    STEPS = 8.0  # progress: 3 LM precisions, 2 flow precisions, HiFT, the LM ahead, done

    def __init__(self, lm, flow, hift, cfg, total: int, lm_tokens: int, agreement: Agreement, say: Progress,
                 cancel: CancelToken, seed: int):
        self.lm, self.flow, self.hift, self.cfg = lm, flow, hift, cfg
        self.total, self.lm_tokens, self.agreement, self.say, self.cancel = total, lm_tokens, agreement, say, cancel
        self.inp = _fixed_input(cfg, seed)
        self.details: dict = {"threads": total, "lm_tokens": lm_tokens, "lm": {}, "flow": {}, "ahead": {}}
        self.states: dict = {}  # flow precision -> (network, state after the first call, dtype, 2nd call in turn)

    def step(self, what: str, share: float) -> None:
        self.cancel.raise_if_cancelled("The machine check")
        self.say(what, share / self.STEPS)

    def lms(self) -> list[LMSpeed]:
        out, teacher = [], None
        for i, p in enumerate(lm_precisions()):
            self.step(f"LM {p}", i)
            net = _converted_lm(self.lm, p)
            torch.set_num_threads(self.total)
            first, per, best = _decode(net, self.inp, self.lm_tokens, teacher)
            teacher = best if teacher is None else teacher
            agree = sum(a == b for a, b in zip(best, teacher)) / len(teacher)
            out.append(LMSpeed(p, per, first, agree))
            self.details["lm"][p] = {"first_token_s": first, "s_per_token": per, "token_agreement": agree}
            del net
            gc.collect()
        return out

    def flows(self) -> list[FlowSpeed]:
        out, reference = [], None
        for i, p in enumerate(("fp32", "bf16")):
            self.step(f"flow {p}", 3 + i)
            dtype = torch.float32 if p == "fp32" else torch.bfloat16
            net = self.flow if p == "fp32" else copy.deepcopy(self.flow).to(dtype)
            with SentenceThreads(CpuPlan(self.total), iter(()), streamed=False, split_rows=False) as th:
                start, calls, after_first = _flow_calls(net, self.inp, dtype, th, self.cfg)
            mels = torch.cat([m for _, _, m in calls], dim=2)
            reference = mels if reference is None else reference
            err = float((mels - reference).abs().max())
            lanes = None
            if self.total >= 2 and (p == "fp32" or err <= self.agreement.max_mel_error):
                lane_plan = CpuPlan(self.total, 0, max(1, self.total // 2))
                with SentenceThreads(lane_plan, iter(()), streamed=False, split_rows=True) as th:
                    lanes = _cost(_flow_calls(net, self.inp, dtype, th, self.cfg)[1])
            out.append(FlowSpeed(p, _cost(calls), start, lanes, err))
            self.states[p] = (net, after_first, dtype, calls[1][1])
            self.details["flow"][p] = {"start_s": start, "calls_s": [t for _, t, _ in calls], "mel_error": err,
                                       "lanes_fixed_and_per_token_s": None if lanes is None else
                                       [lanes.fixed_s, lanes.per_token_s]}
        return out

    def ahead(self, lms: list[LMSpeed], flows: list[FlowSpeed]) -> list[AheadSpeed]:
        """The LM beside the fastest agreeing flow; the other flow precision is assumed to share its numbers."""
        if self.total < 2:
            return []
        a = self.agreement
        flows = [f for f in flows if f.precision == "fp32" or f.mel_error <= a.max_mel_error]
        beside_flow = min(flows, key=lambda f: f.batched.cost(2 * self.cfg.chunk_size))
        out = []
        for lm_p in [s for s in lms if s.precision == "fp32" or s.agreement >= a.min_token_agreement]:
            self.step(f"LM {lm_p.precision} ahead beside flow {beside_flow.precision}", 6)
            net = _converted_lm(self.lm, lm_p.precision)
            fnet, state, dtype, in_turn = self.states[beside_flow.precision]
            beside, alone, flow_t = _ahead(net, fnet, state, self.inp, dtype, self.cfg, self.total)
            out += [AheadSpeed(lm_p.precision, f.precision, beside, alone, flow_t / in_turn) for f in flows]
            self.details["ahead"][f"{lm_p.precision}/{beside_flow.precision}"] = {
                "lm_s_per_token_beside_flow": beside, "lm_s_per_token_alone": alone, "flow_call_s": flow_t,
                "flow_call_in_turn_s": in_turn}
            del net
            gc.collect()
        return out


def _cost(calls: list[tuple[int, float, torch.Tensor]]) -> CallCost:
    return CallCost.from_two(calls[0][0], calls[0][1], calls[1][0], calls[1][1])


def measure_networks(lm, flow, hift, cfg, *, threads: int | None = None, lm_tokens: int = 24,
                     agreement: Agreement = Agreement(), progress: Progress | None = None,
                     cancel: CancelToken = NEVER_CANCELLED, seed: int = 0) -> tuple[Measurements, dict]:
    """Time the fp32 networks and their faster precisions (see the module docstring) -> (measurements, details:
    every raw timing and agreement, for the report). ``lm``/``flow``/``hift`` are not changed."""
    total = threads or torch.get_num_threads()
    before = torch.get_num_threads()
    check = _Check(lm, flow, hift, cfg, total, lm_tokens, agreement, progress or (lambda what, share: None),
                   cancel, seed)
    try:
        torch.set_num_threads(total)
        with torch.inference_mode():
            lms, flows = check.lms(), check.flows()
            check.step("HiFT", 5)
            hift_s = _hift_s_per_token(hift, check.inp, cfg, total)
            ahead = check.ahead(lms, flows)
    finally:
        check.states.clear()
        torch.set_num_threads(before)
    check.say("done", 1.0)
    check.details["hift_s_per_token"] = hift_s
    m = Measurements(total, tuple(lms), tuple(flows), hift_s, tuple(ahead), chunk_size=cfg.chunk_size,
                     pre_lookahead=cfg.flow.pre_lookahead_len, max_hop=4 * cfg.chunk_size)
    return m, check.details


__all__ = ["lm_precisions", "measure_networks"]
