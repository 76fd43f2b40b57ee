"""Whole-engine benchmark at the official CosyVoice2-0.5B size, random weights (no download needed).

``python -m engine.bench [--backends cpu,cuda] [--precisions fp32,bf16,int8,fp16] [--tokens N] [--json out.json]
[--quick]`` measures, for every backend x precision that this machine can run:

* LM: prefill of a 152-position prompt, first token (prefill + sampling), decode tokens/s over ``--tokens``
  tokens (ras_sampling on; stop tokens can never be drawn, so every run decodes as many tokens);
* flow: cost of each streaming chunk k = 1..6 on the official schedule (75-token prompt: calls over 28, 78,
  178, 278, 378, 478 tokens), both the official way (re-run the flow over everything so far, chunk k costs
  O(k)) and ours (:meth:`Flow.stream_step`, only the new chunk); and 10 s of speech offline;
* HiFT: 10 s of speech (500 mel frames) and one 58-frame streaming call;
* a streamed 10 s utterance (250 tokens) through :func:`engine.token2wav.speak`, the code path the app
  uses: first-audio latency (LM prefill + the 28 tokens of the first chunk + first flow chunk + first HiFT
  chunk, measured as the time to the first waveform piece) and the real-time factor of the whole utterance,
  with the official recomputing flow, with the incremental one, and with the incremental one using the
  engine's CPU threading (``threaded``: LM decoding ahead, flow rows on two threads; the Engine's default);
* peak memory: ``ru_maxrss`` of the process (each configuration runs in its own process) and, on CUDA, the
  peak allocated GPU memory.

Compute does not depend on weight values, so the networks are built on the meta device and filled with
random weights (:func:`engine.bench.lm.random_lm`, :func:`engine.bench.flow.random_flow`).

A precision is ``LM[/flow]``, built as :meth:`engine.Engine.load` builds it (:func:`engine_precision`, from
:func:`engine.precision.pick_precision`): ``int8`` is the engine's int8 LM (int8 weights with bf16 activations,
``int8w``, where torch has that kernel) with the flow in fp32, ``bf16`` both in bf16, ``int8/bf16`` mixes them;
``int8dyn`` is fbgemm's dynamic int8 LM, measured for comparison. The ``threaded`` and ``lanes`` streams use
:mod:`engine.cpu_threads` plans. HiFT always runs in fp32 (its iSTFT and exp need it). ``--machine-check`` runs
the hardware check behind ``precision="auto"`` (:mod:`engine.machine_check`) on the random networks instead.

``--reference`` (default: tests/fixtures/parity/reference_cpu_perf.json when present) adds ratios against the
official code's numbers measured on a 2-core CPU like this one. They are a STORED reference, not a side-by-side
run: the machine state differs, so treat them as indicative only. 2 threads by default (``--threads``).
``--quick`` runs a tiny model with tiny counts (seconds; used by the tests). ``--components lm,flow,hift,stream``
and ``--flow-modes recompute,incremental,threaded`` select what is timed (the recomputing flow is the slow part).

On a shared machine, contention distorts everything (with 2 threads, OpenMP barriers stall when a core is
taken away): each configuration records the load average and a matmul probe (``matmul_gflops_*``) before and
after, so a reader can tell a quiet run from a contended one.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import math
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Callable

import torch

from ..config import ModelConfig, official_config
from ..precision import PRECISIONS as ENGINE_PRECISIONS
from ..precision import Precision, pick_precision
from ..rng import PortableRandom
from ..vocoder.source import DrawnNoise
from .probes import loadavg, machine_info, matmul_gflops, peak_rss_mb

BACKENDS = ("cpu", "cuda")
PRECISIONS = tuple(p for p in ENGINE_PRECISIONS if p != "auto")  # the engine's choices, each measured
COMPONENTS = ("lm", "flow", "hift", "stream")
FLOW_MODES = ("recompute", "incremental", "lanes", "threaded")
"""How streamed flow is run: the official recomputing calls; our incremental chunks with one thread of control;
incremental with the LM in turn and the flow's guidance rows on two lanes (``lanes``); and incremental chunks
with the engine's default CPU threading for the precision (:func:`engine.cpu_threads.plan_cpu_threads`: the LM
decoding ahead on a worker thread unless it is int8, the rows on two threads), which is what
:class:`engine.Engine` does on a multi-core CPU without a hardware check (:mod:`engine.machine_check`). The
per-chunk flow section times only the first two."""
CHUNK_MODES = ("recompute", "incremental")
DEFAULT_REFERENCE = Path(__file__).resolve().parents[2] / "tests" / "fixtures" / "parity" / "reference_cpu_perf.json"
_DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}
LM_ONLY = {"int8dyn": "int8"}
"""Bench-only LM conversions: ``int8dyn`` is fbgemm's dynamic int8 (int8 activations too), which the engine's
``int8`` only falls back to where torch lacks the weight-only kernel; measured for comparison."""


@dataclass(frozen=True)
class BenchPlan:
    """What is measured and how often (the defaults match reference_cpu_perf.json)."""

    prompt_positions: int = 152  # LM input: sos + text + task_id + prompt speech tokens
    decode_tokens: int = 100  # LM tokens timed for tokens/s
    flow_prompt_tokens: int = 75  # 3 s prompt: 150 prompt mel frames
    chunks: int = 6  # streaming chunks timed (k = 1..chunks)
    utterance_tokens: int = 250  # 10 s of speech at 25 tokens/s
    hift_frames: int = 500  # 10 s of mel at 50 frames/s
    repeats: int = 3  # timed runs per measurement (median), after a warm-up
    stream_repeats: int = 1  # streamed utterances per flow mode (each takes about as long as the LM run)
    threads: int = 2
    flow_history: str | None = None  # the flow's key/value storage (None: what Engine.load's Runtime picks)


QUICK_PLAN = BenchPlan(prompt_positions=24, decode_tokens=8, flow_prompt_tokens=25, chunks=2, utterance_tokens=60,
                       hift_frames=60, repeats=1, stream_repeats=1, threads=1)


def quick_config() -> ModelConfig:
    """Tiny dimensions (those of the parity fixture model) in the official structure, for ``--quick``."""
    cfg = official_config()
    qwen = replace(cfg.lm.qwen, hidden_size=64, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                   intermediate_size=128, vocab_size=1280)
    lm = replace(cfg.lm, llm_input_size=64, llm_output_size=64, qwen=qwen)
    # The flow encoder keeps 512 channels: the official structure fixes them (see the parity README).
    enc = replace(cfg.flow.encoder, attention_heads=4, linear_units=64, num_blocks=1)
    est = replace(cfg.flow.estimator, channels=(64,), attention_head_dim=16, n_blocks=1, num_mid_blocks=2,
                  num_heads=2)
    flow = replace(cfg.flow, encoder=enc, estimator=est)
    hift = replace(cfg.hift, base_channels=32, f0=replace(cfg.hift.f0, cond_channels=32))
    return replace(cfg, lm=lm, flow=flow, hift=hift)


# --------------------------------------------------------------------------------------------------------------
# Configurations: what runs where
# --------------------------------------------------------------------------------------------------------------
def split_precision(precision: str) -> tuple[str, str]:
    """``"int8"`` -> ("int8", "fp32"); ``"bf16"`` -> ("bf16", "bf16"); ``"int8/bf16"`` -> ("int8", "bf16")."""
    lm_p, _, flow_p = precision.partition("/")
    if not flow_p:
        flow_p = lm_p if lm_p in _DTYPES else "fp32"
    if (lm_p not in PRECISIONS and lm_p not in LM_ONLY) or flow_p not in _DTYPES:
        raise ValueError(f"Unknown precision {precision!r}: use LM[/flow] with LM in {PRECISIONS} and flow in "
                         f"{tuple(_DTYPES)}, e.g. fp32, bf16, int8, int8/bf16.")
    return lm_p, flow_p


def skip_reason(backend: str, precision: str) -> str | None:
    """Why ``precision`` cannot run on ``backend`` here (None: it can)."""
    lm_p, flow_p = split_precision(precision)
    if backend == "cuda" and not torch.cuda.is_available():
        return "CUDA is not available on this machine"
    if backend == "cpu" and "fp16" in (lm_p, flow_p):
        return "fp16 is not supported on the CPU (use bf16)"
    if backend == "cuda" and lm_p.startswith("int8"):
        return "int8 is a CPU path"
    if backend == "cuda" and "bf16" in (lm_p, flow_p) and not torch.cuda.is_bf16_supported():
        return "this GPU has no bf16"
    return None


def engine_precision(backend: str, precision: str) -> Precision:
    """What :meth:`engine.Engine.load` runs for ``precision`` (``LM[/flow]``) on ``backend``: the LM conversion
    :func:`engine.precision.pick_precision` picks (``int8`` -> the weight-only ``int8w`` kernel where this torch
    has it), the flow in the named dtype, HiFT fp32. ``int8dyn`` names fbgemm's dynamic int8 LM."""
    lm_p, flow_p = split_precision(precision)
    lm = LM_ONLY[lm_p] if lm_p in LM_ONLY else pick_precision(lm_p, torch.device(backend)).lm
    return Precision(precision, lm, _DTYPES[flow_p])


# --------------------------------------------------------------------------------------------------------------
# Measuring helpers
# --------------------------------------------------------------------------------------------------------------
def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _timed(fn: Callable[[], object], device: torch.device) -> tuple[float, object]:
    _sync(device)
    t0 = time.perf_counter()
    out = fn()
    _sync(device)
    return time.perf_counter() - t0, out


def _median(values: list[float]) -> float:
    return statistics.median(values)


def _forbid_stops(lm) -> None:
    """Make EOS and the other stop tokens unreachable, so every run decodes exactly as many tokens.

    A random LM would otherwise stop at a random step (the stop tokens are 3 of 6564 outputs). Only the
    bias values change; the compute per token is the same."""
    with torch.no_grad():
        lm.llm_decoder.bias[lm.eos_token:] = -1e4


def lm_prompt(cfg: ModelConfig, positions: int, seed: int = 0) -> tuple[list[int], list[int]]:
    """(text ids, prompt speech ids) whose official layout has ``positions`` rows (as engine.bench_lm)."""
    n_text = max(1, min(40, positions // 4))
    n_speech = max(0, positions - n_text - 2)
    g = torch.Generator().manual_seed(seed)
    text = torch.randint(0, cfg.lm.qwen.vocab_size, (n_text,), generator=g).tolist()
    speech = torch.randint(0, cfg.lm.speech_token_size, (n_speech,), generator=g).tolist()
    return text, speech


def _exact_ratio(n_tokens: int, n_text: int) -> float:
    """min = max token/text ratio that makes ``generate`` produce exactly ``n_tokens`` tokens."""
    return (n_tokens + 0.5) / n_text


# --------------------------------------------------------------------------------------------------------------
# Sections
# --------------------------------------------------------------------------------------------------------------
def bench_lm_section(lm, cfg: ModelConfig, plan: BenchPlan, device: torch.device) -> dict:
    """Prefill, first token and decode speed (median of ``plan.repeats`` after a warm-up)."""
    text, speech = lm_prompt(cfg, plan.prompt_positions)
    rows = lm.layout_rows(text, (), speech)
    with torch.inference_mode():
        x = lm.embed_rows(rows).to(device)
        prefill = []
        for _ in range(plan.repeats + 1):
            cache = lm.new_cache(len(rows) + 1)
            prefill.append(_timed(lambda: lm.forward_step(x, cache), device)[0])
    ratio = _exact_ratio(plan.decode_tokens + 1, len(text))
    first, rates = [], []
    for r in range(plan.repeats):
        gen = lm.generate(text, (), speech, rng=PortableRandom(r),
                          min_token_text_ratio=ratio, max_token_text_ratio=ratio)
        t_first, _ = _timed(lambda: next(gen), device)
        t_decode, _ = _timed(lambda: [next(gen) for _ in range(plan.decode_tokens)], device)
        gen.close()
        first.append(t_first)
        rates.append(plan.decode_tokens / t_decode)
    return {
        "prompt_positions": len(rows),
        "decode_tokens": plan.decode_tokens,
        "prefill_s": _median(prefill[1:]),  # the first run warms up allocators and kernels
        "first_token_s": _median(first),
        "decode_tokens_per_s": _median(rates),
        "ms_per_token": 1000.0 / _median(rates),
        "decode_runs_tokens_per_s": rates,
    }


def _flow_inputs(cfg: ModelConfig, plan: BenchPlan, n_tokens: int, dtype: torch.dtype, device: torch.device,
                 seed: int = 0) -> dict:
    g = torch.Generator().manual_seed(seed)
    p = plan.flow_prompt_tokens
    vocab = cfg.flow.vocab_size
    return {
        "tokens": torch.randint(0, vocab, (1, n_tokens), generator=g).to(device),
        "prompt_token": torch.randint(0, vocab, (1, p), generator=g).to(device),
        "prompt_feat": (torch.randn(1, cfg.token_mel_ratio * p, 80, generator=g) - 5.0).to(device, dtype),
        "embedding": torch.randn(1, cfg.flow.spk_embed_dim, generator=g).to(device, dtype),
        "noise": torch.randn(1, 80, cfg.token_mel_ratio * (p + n_tokens) + 8, generator=g).to(device),
    }


def chunk_schedule(cfg: ModelConfig, plan: BenchPlan) -> list[tuple[int, int]]:
    """(tokens in the call, first new token) of the first ``plan.chunks`` official streaming calls."""
    from ..token2wav import token_hop_schedule

    hops = token_hop_schedule(plan.flow_prompt_tokens, cfg.chunk_size, cfg.flow.pre_lookahead_len)
    return [(h.n_tokens, h.token_offset) for _, h in zip(range(plan.chunks), hops)]


def bench_flow_section(flow, cfg: ModelConfig, plan: BenchPlan, device: torch.device, dtype: torch.dtype,
                       modes: tuple[str, ...] = FLOW_MODES) -> dict:
    """Per-chunk streaming cost (recomputing vs incremental, interleaved) and 10 s offline."""
    modes = tuple(m for m in modes if m in CHUNK_MODES)
    schedule = chunk_schedule(cfg, plan)
    n_max = max(schedule[-1][0], plan.utterance_tokens)
    inp = _flow_inputs(cfg, plan, n_max, dtype, device)
    prompt = (inp["prompt_token"], inp["prompt_feat"], inp["embedding"])

    def recompute(n: int):
        return flow.inference(inp["tokens"][:, :n], *prompt, streaming=True, finalize=False, noise=inp["noise"])

    if "recompute" in modes:
        recompute(schedule[0][0])  # warm-up
    start_runs: list[float] = []
    per_k: list[dict[str, list[float]]] = [{"recompute": [], "incremental": []} for _ in schedule]
    for _ in range(plan.repeats):
        t, state = _timed(lambda: flow.start_stream(*prompt, noise=inp["noise"]), device)
        start_runs.append(t)
        fed = 0
        for k, (n_call, _) in enumerate(schedule):
            if "recompute" in modes:
                per_k[k]["recompute"].append(_timed(lambda: recompute(n_call), device)[0])
            if "incremental" in modes:
                t, (_, state) = _timed(lambda: flow.stream_step(state, inp["tokens"][:, fed:n_call],
                                                                finalize=False), device)
                per_k[k]["incremental"].append(t)
            fed = n_call
    chunks = []
    for k, ((n_call, offset), runs) in enumerate(zip(schedule, per_k), start=1):
        row = {"k": k, "tokens_in_call": n_call, "new_tokens": n_call - offset - cfg.flow.pre_lookahead_len}
        for mode in modes:
            row[f"{mode}_s"] = _median(runs[mode])
        if set(modes) == set(CHUNK_MODES):
            row["speedup"] = row["recompute_s"] / row["incremental_s"]
        chunks.append(row)
    n = plan.utterance_tokens
    offline = [_timed(lambda: flow.inference(inp["tokens"][:, :n], *prompt, streaming=False, finalize=True,
                                             noise=inp["noise"]), device)[0] for _ in range(plan.repeats)]
    audio_s = n / cfg.token_frame_rate
    return {
        "prompt_tokens": plan.flow_prompt_tokens,
        "start_stream_s": _median(start_runs),
        "chunks": chunks,
        "offline_tokens": n,
        "offline_s": _median(offline),
        "offline_rtf": _median(offline) / audio_s,
    }


def build_hift(cfg: ModelConfig, device: torch.device):
    from ..vocoder.hift import HiFT

    with torch.random.fork_rng(devices=[]):  # the default init must not disturb the caller's global RNG
        torch.manual_seed(0)
        hift = HiFT(cfg.hift)
    return hift.to(device).eval().requires_grad_(False)


def bench_hift_section(hift, cfg: ModelConfig, plan: BenchPlan, device: torch.device) -> dict:
    """HiFT on ``plan.hift_frames`` frames of random log-mel and on one 58-frame streaming call."""
    g = torch.Generator().manual_seed(0)
    mel = (torch.randn(1, cfg.hift.in_channels, plan.hift_frames, generator=g) - 5.0).to(device)
    chunk = mel[:, :, :58]

    def timed_median(x: torch.Tensor) -> float:
        hift.inference(x, noise=DrawnNoise(PortableRandom(0)))  # warm-up
        return _median([_timed(lambda: hift.inference(x, noise=DrawnNoise(PortableRandom(0))), device)[0]
                        for _ in range(plan.repeats)])

    full = timed_median(mel)
    audio_s = plan.hift_frames * cfg.hift.upsample_factor / cfg.sample_rate
    return {"mel_frames": plan.hift_frames, "audio_s": audio_s, "full_s": full, "rtf": full / audio_s,
            "chunk_58_frames_s": timed_median(chunk)}


def _flow_history(plan: BenchPlan, precision: Precision):
    """The key/value storage of the streamed utterance: the plan's, else what the engine's Runtime picks."""
    from ..engine import Runtime
    from ..flow.kv_history import KVStorage

    return KVStorage(plan.flow_history) if plan.flow_history else Runtime().resolved_flow_history(precision)


def bench_stream_section(lm, flow, hift, cfg: ModelConfig, plan: BenchPlan, device: torch.device,
                         dtype: torch.dtype, mode: str, precision: Precision | None = None) -> dict:
    """One streamed utterance of ``plan.utterance_tokens`` tokens through :func:`engine.token2wav.speak` (the
    engine's per-sentence loop), the flow run as ``mode`` (see :data:`FLOW_MODES`)."""
    from ..cpu_threads import CpuPlan, SentenceThreads, plan_cpu_threads
    from ..engine import Runtime
    from ..token2wav import FinalCall, FlowMode, FlowPrompt, StageClock, StreamPlan, Token2Wav, speak
    from ..watchdog import Watchdog, WatchedTokens

    threads_plan = CpuPlan(torch.get_num_threads())
    if mode == "lanes":
        threads_plan = CpuPlan(threads_plan.total, 0, max(1, threads_plan.total // 2))
    if mode == "threaded":
        threads_plan = plan_cpu_threads(device, precision or Precision("fp32", "fp32", dtype))  # as Engine.load
    flow_mode = FlowMode.RECOMPUTE if mode == "recompute" else FlowMode.INCREMENTAL
    stream = StreamPlan(stream=True, flow_mode=flow_mode,
                        final_call=FinalCall.FULL_ATTENTION if mode == "recompute" else FinalCall.STREAMING_MASKS,
                        chunk_size=cfg.chunk_size, pre_lookahead=cfg.flow.pre_lookahead_len,
                        max_hop=4 * cfg.chunk_size, token_mel_ratio=cfg.token_mel_ratio,
                        kv_storage=_flow_history(plan, precision or Precision("fp32", "fp32", dtype)),
                        history_budget=Runtime().resolved_history_budget(device))  # as Engine.load
    text, speech = lm_prompt(cfg, plan.prompt_positions)
    ratio = _exact_ratio(plan.utterance_tokens, len(text))
    inp = _flow_inputs(cfg, plan, plan.utterance_tokens, dtype, device, seed=1)
    prompt = FlowPrompt(inp["prompt_token"], inp["prompt_feat"], inp["embedding"], inp["noise"])
    runs = []
    for r in range(plan.stream_repeats):
        clock = StageClock()
        tokens = lm.generate(text, (), speech, rng=PortableRandom(r),
                             min_token_text_ratio=ratio, max_token_text_ratio=ratio)
        watched = WatchedTokens(tokens, Watchdog(enabled=False), len(text))
        t2w = Token2Wav(flow, hift, stream, prompt, noise=DrawnNoise(PortableRandom(r)), clock=clock)
        first_s, samples, n_pieces = None, 0, 0
        _sync(device)
        t0 = time.perf_counter()
        with SentenceThreads(threads_plan, watched, streamed=True, split_rows=stream.incremental) as threads:
            for piece in speak(watched, t2w, threads):
                _sync(device)
                if first_s is None:
                    first_s = time.perf_counter() - t0
                samples += piece.wave.numel()
                n_pieces += 1
        total = time.perf_counter() - t0
        audio_s = samples / cfg.sample_rate
        runs.append({"first_audio_s": first_s, "total_s": total, "audio_s": audio_s, "rtf": total / audio_s,
                     "pieces": n_pieces, "lm_s": clock.lm, "flow_s": clock.flow, "vocoder_s": clock.vocoder})
    out = {key: _median([r[key] for r in runs]) for key in runs[0]}
    out["tokens"] = plan.utterance_tokens
    out["runs"] = runs
    return out


# --------------------------------------------------------------------------------------------------------------
# One configuration (in this process)
# --------------------------------------------------------------------------------------------------------------
@contextlib.contextmanager
def _threads(n: int):
    """torch's thread count set to ``n`` meanwhile (the benchmark runs in tests' processes too: never leak it)."""
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def run_config(cfg: ModelConfig, plan: BenchPlan, backend: str, precision: str,
               components: tuple[str, ...] = COMPONENTS, flow_modes: tuple[str, ...] = FLOW_MODES) -> dict:
    """Build what ``components`` need at ``cfg`` size and measure them. Run one configuration per process
    for a meaningful peak RSS."""
    with _threads(plan.threads), torch.no_grad():
        return _measure(cfg, plan, backend, precision, components, flow_modes)


def _measure(cfg: ModelConfig, plan: BenchPlan, backend: str, precision: str, components: tuple[str, ...],
             flow_modes: tuple[str, ...]) -> dict:
    from .flow import random_flow
    from .lm import mapped_random_lm, random_lm

    lm_p, flow_p = split_precision(precision)
    device = torch.device(backend)
    prec = engine_precision(backend, precision)
    flow_dtype = prec.flow
    result: dict = {"backend": backend, "precision": precision, "lm_precision": lm_p, "lm_conversion": prec.lm,
                    "flow_precision": flow_p,
                    "hift_precision": "fp32", "status": "ok", "components": list(components),
                    "flow_modes": list(flow_modes), "loadavg_before": loadavg(),
                    "matmul_gflops_before": matmul_gflops(1.0)}
    need_lm = "lm" in components or "stream" in components
    need_flow = "flow" in components or "stream" in components
    need_hift = "hift" in components or "stream" in components
    t0 = time.perf_counter()
    lm = flow = hift = None
    if need_lm:
        if prec.lm == "fp32" and device.type == "cpu":
            lm = mapped_random_lm(cfg.lm)  # as Engine.load holds it: the resident pages count, not the file
        else:
            lm = random_lm(cfg.lm, "fp32" if prec.lm == "fp16" else prec.lm)
        lm = (lm.to(torch.float16) if prec.lm == "fp16" else lm).to(device)
        _forbid_stops(lm)
    if need_flow:
        flow = random_flow(cfg.flow).to(device=device, dtype=flow_dtype)
    if need_hift:
        hift = build_hift(cfg, device)
    result["build_s"] = time.perf_counter() - t0

    if "lm" in components:
        result["lm"] = bench_lm_section(lm, cfg, plan, device)
    if "flow" in components:
        result["flow"] = bench_flow_section(flow, cfg, plan, device, flow_dtype, flow_modes)
    if "hift" in components:
        result["hift"] = bench_hift_section(hift, cfg, plan, device)
    if "stream" in components:
        result["stream"] = {mode: bench_stream_section(lm, flow, hift, cfg, plan, device, flow_dtype, mode, prec)
                            for mode in flow_modes}
        result["flow_history"] = _flow_history(plan, prec or Precision("fp32", "fp32", flow_dtype)).value
    result["peak_rss_mb"] = peak_rss_mb()
    if device.type == "cuda":
        result["peak_cuda_mb"] = torch.cuda.max_memory_allocated(device) / 2**20
    result["loadavg_after"] = loadavg()
    result["matmul_gflops_after"] = matmul_gflops(1.0)
    return result


def run_machine_check(cfg: ModelConfig, plan: BenchPlan) -> dict:
    """The hardware check (:func:`engine.machine_measure.measure_networks`, :func:`engine.machine_check.plan_from`)
    on this benchmark's random fp32 networks at ``cfg`` size: how long it takes, what it measures and picks."""
    from .flow import random_flow
    from .lm import random_lm

    with _threads(plan.threads):
        return _check(cfg, plan, random_lm(cfg.lm, "fp32"), random_flow(cfg.flow), build_hift(cfg, torch.device("cpu")))


def _check(cfg: ModelConfig, plan: BenchPlan, lm, flow, hift) -> dict:
    from ..machine_check import plan_from
    from ..machine_measure import measure_networks

    before = loadavg()
    t0 = time.perf_counter()
    m, details = measure_networks(lm, flow, hift, cfg, threads=plan.threads,
                                  progress=lambda what, share: print(f"[machine check {share:4.0%}] {what}",
                                                                     file=sys.stderr, flush=True))
    chosen = plan_from(m, (("bench", "random weights"),), time.perf_counter() - t0,
                       load=(before[0] if before else 0.0, loadavg()[0] if before else 0.0))
    return {"check_s": chosen.check_s, "chosen": chosen.describe(), "plan": chosen.to_json(), "details": details,
            "loadavg_before": before, "loadavg_after": loadavg()}


def _run_child(args: argparse.Namespace, backend: str, precision: str) -> dict:
    """Run one configuration in a fresh process (its own peak RSS) and read back its JSON."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "result.json"
        cmd = [sys.executable, "-m", "engine.bench", "--child", "--backends", backend, "--precisions", precision,
               "--json", str(out), "--components", ",".join(args.components), "--flow-modes", ",".join(args.flow_modes)]
        cmd += _plan_args(args)
        proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                              cwd=Path(__file__).resolve().parents[2])
        if proc.returncode != 0 or not out.exists():
            tail = proc.stdout.strip().splitlines()[-15:]
            return {"backend": backend, "precision": precision, "status": "failed",
                    "reason": f"exit code {proc.returncode}", "log_tail": tail}
        return json.loads(out.read_text())["results"][0]


def _plan_args(args: argparse.Namespace) -> list[str]:
    flags = ["--threads", str(args.threads)]
    for name in ("tokens", "repeats", "stream_repeats", "chunks", "flow_history"):
        value = getattr(args, name)
        if value is not None:
            flags += [f"--{name.replace('_', '-')}", str(value)]
    return flags + (["--quick"] if args.quick else [])


# --------------------------------------------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------------------------------------------
def load_reference(path: Path | None) -> dict | None:
    if path is None or not Path(path).is_file():
        return None
    return json.loads(Path(path).read_text(encoding="utf-8"))


def reference_ratios(result: dict, reference: dict) -> dict:
    """Speed-ups against the stored official numbers (official time / our time; > 1 means we are faster).

    The reference is the official code in fp32 on CPU, measured at another time: NOT side by side."""
    ref = reference["components"]
    out: dict = {"note": "vs stored reference (official code, fp32 CPU, reference_cpu_perf.json), not side by side; "
                         "speedup = official time / our time"}
    if "lm" in result:
        out["lm_decode_speedup"] = result["lm"]["decode_tokens_per_s"] / ref["lm"]["median_decode_tokens_per_s"]
        out["lm_first_token_speedup"] = (ref["lm"]["median_first_token_s (prefill 152 positions + 1 step)"]
                                         / result["lm"]["first_token_s"])
    if "flow" in result:
        ref_chunks = {c["k"]: c["median_s"] for c in ref["flow"]["stream_chunks_reference_schedule"]}
        out["flow_chunk_speedup"] = [
            {"k": c["k"], **{mode: ref_chunks[c["k"]] / c[f"{mode}_s"] for mode in CHUNK_MODES if f"{mode}_s" in c}}
            for c in result["flow"]["chunks"] if c["k"] in ref_chunks]
        out["flow_offline_speedup"] = ref["flow"]["nonstream_250_tokens"]["median_s"] / result["flow"]["offline_s"]
    if "hift" in result:
        out["hift_speedup"] = ref["hift"]["median_s"] / result["hift"]["full_s"]
    return out


def _fmt(v: float | None, digits: int = 2) -> str:
    return "-" if v is None else f"{v:.{digits}f}"


def format_table(report: dict) -> str:
    """A plain-text table of the main numbers, one column per configuration."""
    ok = [r for r in report["results"] if r.get("status") == "ok"]
    lines = []
    if ok:
        heads = [f"{r['backend']} {r['precision']}" for r in ok]
        rows: list[tuple[str, list[str]]] = []

        def add(label: str, get: Callable[[dict], float | None], digits: int = 2) -> None:
            vals = []
            for r in ok:
                try:
                    vals.append(_fmt(get(r), digits))
                except (KeyError, IndexError, TypeError):
                    vals.append("-")
            rows.append((label, vals))

        add("LM prefill (s)", lambda r: r["lm"]["prefill_s"], 3)
        add("LM first token (s)", lambda r: r["lm"]["first_token_s"], 3)
        add("LM decode (tokens/s)", lambda r: r["lm"]["decode_tokens_per_s"])
        n_chunks = max((len(r["flow"]["chunks"]) for r in ok if "flow" in r), default=0)
        for k in range(n_chunks):
            add(f"flow chunk {k + 1} recompute (s)", lambda r, k=k: r["flow"]["chunks"][k]["recompute_s"])
            add(f"flow chunk {k + 1} incremental (s)", lambda r, k=k: r["flow"]["chunks"][k]["incremental_s"])
        add("flow offline 10 s (s)", lambda r: r["flow"]["offline_s"])
        add("HiFT 10 s (s)", lambda r: r["hift"]["full_s"])
        for mode in FLOW_MODES:
            add(f"first audio, {mode} (s)", lambda r, m=mode: r["stream"][m]["first_audio_s"])
            add(f"stream RTF, {mode}", lambda r, m=mode: r["stream"][m]["rtf"])
        add("peak RSS (MB)", lambda r: r["peak_rss_mb"], 0)
        width = max(len(label) for label, _ in rows)
        col = max(12, *(len(h) for h in heads))
        lines.append(" " * width + "  " + "  ".join(h.rjust(col) for h in heads))
        for label, vals in rows:
            lines.append(label.ljust(width) + "  " + "  ".join(v.rjust(col) for v in vals))
    for r in report["results"]:
        if r.get("status") != "ok":
            lines.append(f"{r['backend']} {r['precision']}: {r['status']} ({r.get('reason', '')})")
    for r in ok:
        ratios = r.get("vs_reference")
        if ratios:
            chunks = ", ".join(f"k={c['k']} " + "/".join(_fmt(c.get(m)) for m in CHUNK_MODES)
                               for c in ratios.get("flow_chunk_speedup", []))
            lines.append(f"{r['backend']} {r['precision']} speed-up {ratios['note']}: "
                         + ", ".join(f"{k} {v:.2f}" for k, v in ratios.items() if isinstance(v, float))
                         + (f"; flow chunks recompute/incremental: {chunks}" if chunks else ""))
    m = report["machine"]
    lines.append(f"machine: {m['cpu']}, {m['nproc']} CPUs, torch {m['torch']}, {m['threads']} threads, "
                 f"load average {m['loadavg']}{', QUICK (tiny model)' if report['quick'] else ''}")
    return "\n".join(lines)


def _csv(value: str, allowed: tuple[str, ...] | None, what: str) -> list[str]:
    items = [v.strip() for v in value.split(",") if v.strip()]
    if not items:
        raise argparse.ArgumentTypeError(f"no {what} given")
    for v in items:
        if allowed is not None and v not in allowed:
            raise argparse.ArgumentTypeError(f"unknown {what} {v!r}; use {', '.join(allowed)}")
    return items


def make_plan(args: argparse.Namespace) -> BenchPlan:
    plan = QUICK_PLAN if args.quick else BenchPlan()
    changes = {"threads": args.threads}
    if args.tokens is not None:
        changes["decode_tokens"] = args.tokens
    if args.repeats is not None:
        changes["repeats"] = args.repeats
    if args.stream_repeats is not None:
        changes["stream_repeats"] = args.stream_repeats
    if args.chunks is not None:
        changes["chunks"] = args.chunks
    if args.flow_history is not None:
        changes["flow_history"] = args.flow_history
    return replace(plan, **changes)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m engine.bench", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--backends", default="cpu,cuda", type=lambda v: _csv(v, BACKENDS, "backend"))
    p.add_argument("--precisions", default="fp32,bf16,int8,fp16", type=lambda v: _csv(v, None, "precision"),
                   help="LM[/flow] precisions, e.g. fp32,bf16,int8,int8/bf16,fp16")
    p.add_argument("--components", default=",".join(COMPONENTS), type=lambda v: _csv(v, COMPONENTS, "component"))
    p.add_argument("--flow-modes", default=",".join(FLOW_MODES), type=lambda v: _csv(v, FLOW_MODES, "flow mode"),
                   help="streaming flow ways to time: recompute (official), incremental (ours), threaded (incremental "
                        "with the engine's CPU threading; streamed utterance only)")
    p.add_argument("--tokens", type=int, help="LM tokens timed for tokens/s (default 100)")
    p.add_argument("--repeats", type=int, help="timed runs per measurement, median reported (default 3)")
    p.add_argument("--stream-repeats", type=int, help="streamed utterances per flow mode (default 1)")
    p.add_argument("--chunks", type=int, help="streaming chunks timed (default 6)")
    p.add_argument("--flow-history", choices=("exact", "bf16", "int8"),
                   help="the incremental flow's key/value storage (default: as Engine.load picks per precision)")
    p.add_argument("--threads", type=int, default=None, help="torch threads (default 2; --quick: 1)")
    p.add_argument("--json", type=Path, help="write the full report here")
    p.add_argument("--reference", type=Path, default=DEFAULT_REFERENCE,
                   help="reference_cpu_perf.json of the official code (ratios are labelled: not side by side)")
    p.add_argument("--quick", action="store_true", help="tiny model, tiny counts (for tests)")
    p.add_argument("--machine-check", action="store_true",
                   help="run the hardware check behind precision=auto (engine.machine_check) on the random networks "
                        "and print every candidate's predicted RTF, instead of the benchmark")
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)  # one configuration, this process
    p.add_argument("--family", default="cosyvoice2", choices=("cosyvoice2", "cosyvoice3"),
                   help="cosyvoice3: the CosyVoice 3 benchmark (engine.bench.cv3: LM step, DiT flow and causal HiFT "
                        "per streaming chunk, official vs ours; CPU fp32; takes --chunks --tokens --threads --json "
                        "--quick)")
    args = p.parse_args(argv)
    if args.threads is None:
        args.threads = QUICK_PLAN.threads if args.quick else BenchPlan.threads
    if args.family == "cosyvoice3":
        from . import cv3

        return cv3.main([*(["--chunks", str(args.chunks)] if args.chunks else []),
                         *(["--tokens", str(args.tokens)] if args.tokens else []), "--threads", str(args.threads),
                         *(["--json", str(args.json)] if args.json else []), *(["--quick"] if args.quick else [])])
    for prec in args.precisions:
        try:
            split_precision(prec)
        except ValueError as e:
            p.error(str(e))
    plan = make_plan(args)
    cfg = quick_config() if args.quick else official_config()
    if args.machine_check:
        check = run_machine_check(cfg, plan)
        if args.json:
            args.json.parent.mkdir(parents=True, exist_ok=True)
            args.json.write_text(json.dumps({"machine": machine_info(plan.threads), "quick": args.quick,
                                             "machine_check": check}, indent=1))
        print(f"auto would run: {check['chosen']} (check took {check['check_s']:.1f} s, load average "
              f"{check['loadavg_before']} -> {check['loadavg_after']})")
        for c in check["plan"]["candidates"]:
            print(f"  LM {c['lm']} + flow {c['flow']}, ahead {c['decode_ahead']}, lanes {c['flow_lanes']}: RTF "
                  f"{c['predicted_rtf']:.2f}, first audio {c['first_audio_s']:.2f} s {c['problem']}")
        return 0

    results = []
    for backend in args.backends:
        for prec in args.precisions:
            reason = skip_reason(backend, prec)
            if reason:
                results.append({"backend": backend, "precision": prec, "status": "skipped", "reason": reason})
            elif args.child:
                results.append(run_config(cfg, plan, backend, prec, tuple(args.components), tuple(args.flow_modes)))
            else:
                print(f"[bench] {backend} {prec} ...", file=sys.stderr, flush=True)
                results.append(_run_child(args, backend, prec))
    # A tiny model's times say nothing about the official one: no reference ratios in quick mode.
    reference = None if args.child or args.quick else load_reference(args.reference)
    if reference is not None:
        for r in results:
            if r.get("status") == "ok" and r["backend"] == "cpu":
                r["vs_reference"] = reference_ratios(r, reference)
    report = {"machine": machine_info(plan.threads), "quick": args.quick, "plan": asdict(plan),
              "config": "quick (tiny)" if args.quick else "official CosyVoice2-0.5B dimensions, random weights",
              "results": results}
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=1, allow_nan=False if _all_finite(report) else True))
    if not args.child:
        print(format_table(report))
    return 0 if all(r.get("status") != "failed" for r in results) else 1


def _all_finite(obj) -> bool:
    if isinstance(obj, float):
        return math.isfinite(obj)
    if isinstance(obj, dict):
        return all(_all_finite(v) for v in obj.values())
    if isinstance(obj, (list, tuple)):
        return all(_all_finite(v) for v in obj)
    return True


if __name__ == "__main__":
    raise SystemExit(main())
