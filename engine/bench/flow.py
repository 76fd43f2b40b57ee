"""Per-chunk cost of streaming the flow at official size (random weights): recomputing vs incremental.

The reference's chunk call re-runs encoder + 10 CFG estimator passes over prompt + ALL tokens so far, so chunk
k costs O(k). :meth:`Flow.stream_step` runs only the new chunk against cached keys/values and conv context.
Both run in this process, interleaved chunk by chunk, on the same inputs (a ``prompt_tokens`` prompt and
``hop`` new tokens per chunk, like ``stream_chunks_fixed_hop25`` in
tests/fixtures/parity/reference_cpu_perf.json: 75-token prompt, calls of 28, 53, ... 153 tokens).

``python -m engine.bench.flow [--chunks 6] [--hop 25] [--prompt-tokens 75] [--threads 2]`` prints one JSON
line per chunk and a summary line. ``--peak-rss S [--kv-storage bf16]`` instead streams one S-second sentence
incrementally (and nothing else, so the process's peak RSS is that of weights + stream) and prints its memory and
first-chunk times. ``--kv-error S`` streams one S-second sentence with each key/value storage and prints its mel
error against exact storage.
``--profile S [--dtype bf16]`` streams one S-second sentence under torch.profiler and prints the self time per op
group (attention kernel, linears, convolutions, copies, norms, activations, the rest).
"""
from __future__ import annotations

import argparse
import json
import time
from typing import Iterator

import torch

from ..config import FlowConfig, official_config
from ..flow import Flow, FlowStreamState
from ..flow.kv_history import KVStorage
from . import probes


def random_flow(cfg: FlowConfig, seed: int = 0) -> Flow:
    """A Flow of ``cfg``'s size with small random weights (built on meta, materialised once)."""
    with torch.device("meta"):
        flow = Flow(cfg)
    flow = flow.to_empty(device="cpu")
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in flow.named_parameters():
            if p.dim() == 1 and name.endswith("weight"):  # LayerNorm gains
                p.fill_(1.0)
            else:
                p.copy_(torch.randn(p.shape, generator=g) * 0.02)
    return flow.eval()


def state_mb(state: FlowStreamState) -> float:
    """Memory held by a stream state's caches (encoder + every ODE step's estimator cache), counting the
    K/V pages it reaches (some may be shared with older states) with their spare room."""
    n = 0
    for k, v in state.encoder.kv if state.encoder is not None else ():  # None: a recomputing stream
        n += k.nbytes + v.nbytes
    for step in state.decoder or ():
        for c in step:
            n += sum(t.nbytes for t in c.convs) + sum(k.nbytes + v.nbytes for k, v in c.kv)
    return n / 2**20


def bench_stream(flow: Flow, n_chunks: int, hop: int, prompt_tokens: int, seed: int = 0) -> Iterator[dict]:
    """Yields one row per chunk (k=0 is ``start_stream``, which encodes the prompt chunks)."""
    g = torch.Generator().manual_seed(seed)
    lookahead = flow.cfg.pre_lookahead_len
    n_gen = n_chunks * hop + lookahead
    vocab = flow.cfg.vocab_size
    gen = torch.randint(0, vocab, (1, n_gen), generator=g)
    prompt = torch.randint(0, vocab, (1, prompt_tokens), generator=g)
    prompt_feat = torch.randn(1, 2 * prompt_tokens, 80, generator=g)
    emb = torch.randn(1, 192, generator=g)
    noise = torch.randn(1, 80, 2 * (prompt_tokens + n_gen), generator=g)
    pad = -prompt_tokens % flow.cfg.encoder.static_chunk_size  # the reference's prompt_token_pad

    t0 = time.perf_counter()
    state = flow.start_stream(prompt, prompt_feat, emb, noise=noise)
    yield {"k": 0, "what": "start_stream (prompt chunks)", "incremental_s": round(time.perf_counter() - t0, 3)}
    fed = 0
    for k in range(1, n_chunks + 1):
        n_call = k * hop + pad + lookahead
        t0 = time.perf_counter()
        mel_re = flow.inference(gen[:, :n_call], prompt, prompt_feat, emb, streaming=True, finalize=False,
                                noise=noise)
        t_re = time.perf_counter() - t0
        t0 = time.perf_counter()
        mel_inc, state = flow.stream_step(state, gen[:, fed:n_call], finalize=False)
        t_inc = time.perf_counter() - t0
        fed = n_call
        new = mel_inc.size(2)
        err = (mel_re[:, :, -new:] - mel_inc).abs().max().item() if new else float("nan")
        yield {"k": k, "tokens_in_call": n_call, "new_frames": new, "recompute_s": round(t_re, 3),
               "incremental_s": round(t_inc, 3), "speedup": round(t_re / t_inc, 2),
               "max_abs_diff_new_frames": err, "state_mb": round(state_mb(state), 1)}


def _stream_sentence(flow: Flow, seconds: float, hop: int, prompt_tokens: int, seed: int,
                     kv_storage: KVStorage = KVStorage.EXACT, history_budget: int | None = None) -> dict:
    """Stream one ``seconds`` sentence (25 tokens/s) chunk by chunk as the engine does, on a seeded input.
    Returns the mel [1, 80, frames], the stream start and first chunk times, the state's largest MB (before
    the final call unless a ``history_budget`` dropped the caches earlier) and the chunk calls' times."""
    g = torch.Generator().manual_seed(seed)
    lookahead, vocab = flow.cfg.pre_lookahead_len, flow.cfg.vocab_size
    n_gen = int(seconds * 25)
    gen = torch.randint(0, vocab, (1, n_gen), generator=g)
    prompt = torch.randint(0, vocab, (1, prompt_tokens), generator=g)
    prompt_feat = torch.randn(1, 2 * prompt_tokens, 80, generator=g)
    emb = torch.randn(1, 192, generator=g)
    noise = torch.randn(1, 80, 2 * (prompt_tokens + n_gen), generator=g)
    pad = -prompt_tokens % flow.cfg.encoder.static_chunk_size
    t0 = time.perf_counter()
    state = flow.start_stream(prompt, prompt_feat, emb, noise=noise, kv_storage=kv_storage,
                              history_budget=history_budget)
    t_start = time.perf_counter() - t0
    fed, n_call, mels, times, held = 0, hop + pad + lookahead, [], [], state_mb(state)
    t0 = time.perf_counter()
    while n_call <= n_gen:
        t1 = time.perf_counter()
        mel, state = flow.stream_step(state, gen[:, fed:n_call], finalize=False)
        times.append(time.perf_counter() - t1)
        fed, n_call = n_call, n_call + hop
        mels.append(mel)
        held = max(held, state_mb(state))
    mel, state = flow.stream_step(state, gen[:, fed:], finalize=True)
    return {"mel": torch.cat(mels + [mel], dim=2), "start_stream_s": t_start,
            "first_chunk_step_s": times[0] if times else 0.0, "chunks_s": time.perf_counter() - t0,
            "state_mb": held, "chunk_times_s": times, "recomputed": state.recomputing}


def stream_peak_rss(flow: Flow, seconds: float, hop: int = 25, prompt_tokens: int = 75, seed: int = 0,
                    kv_storage: KVStorage = KVStorage.EXACT, history_budget: int | None = None) -> dict:
    """Stream one ``seconds`` sentence; report the process's peak RSS (Linux ru_maxrss: includes everything this
    process did before), the caches' largest size, the first-audio timings, the last chunk call's time and
    whether the ``history_budget`` made the stream recompute."""
    run = _stream_sentence(flow, seconds, hop, prompt_tokens, seed, kv_storage, history_budget)
    return {"seconds": seconds, "frames": run["mel"].size(2), "kv_storage": kv_storage.value,
            "history_budget_mb": None if history_budget is None else round(history_budget / 2**20),
            "recomputed": run["recomputed"], "start_stream_s": round(run["start_stream_s"], 3),
            "first_chunk_step_s": round(run["first_chunk_step_s"], 3),
            "last_chunk_step_s": round(run["chunk_times_s"][-1], 3) if run["chunk_times_s"] else None,
            "chunks_s": round(run["chunks_s"], 2), "state_mb": round(run["state_mb"]),
            "peak_rss_mb": round(probes.peak_rss_mb())}


def kv_storage_error(flow: Flow, seconds: float, storages: list[KVStorage], hop: int = 25, prompt_tokens: int = 75,
                     seed: int = 0) -> Iterator[dict]:
    """The same streamed sentence with the estimator's key/value history kept EXACT and in each of ``storages``:
    per storage its mel error against EXACT (max and mean |diff| in log-mel, relative L2), the caches' MB and
    the chunk calls' time (exact first, then each storage: one process, in turn)."""
    runs = {s: _stream_sentence(flow, seconds, hop, prompt_tokens, seed, s) for s in [KVStorage.EXACT] + storages}
    ref = runs[KVStorage.EXACT]["mel"]
    for storage, run in runs.items():
        d = run["mel"] - ref
        yield {"kv_storage": storage.value, "frames": ref.size(2), "max_abs_err": d.abs().max().item(),
               "mean_abs_err": d.abs().mean().item(), "rel_l2": (d.norm() / ref.norm()).item(),
               "state_mb": round(run["state_mb"]), "chunks_s": round(run["chunks_s"], 2)}


OP_KINDS = (
    ("attention kernel", ("scaled_dot_product", "_flash_attention", "_efficient_attention")),
    ("linear", ("aten::addmm", "aten::mm", "aten::bmm", "aten::linear", "aten::matmul", "_weight_int8pack_mm")),
    ("convolution", ("conv", "mkldnn_convolution")),
    ("copies (cat, copy_, clone)", ("aten::cat", "aten::copy_", "aten::clone", "aten::contiguous", "aten::_to_copy",
                                    "aten::index_put", "aten::new_empty", "aten::empty")),
    ("layer norm", ("layer_norm",)),
    ("activations", ("mish", "gelu", "silu", "softplus", "tanh", "sigmoid", "exp", "sin", "cos")),
)


def op_kind(name: str) -> str:
    """The group of a profiler op name (self time is summed per group)."""
    for kind, needles in OP_KINDS:
        if any(n in name for n in needles):
            return kind
    return "other (elementwise, views, Python glue)"


def profile_stream(flow: Flow, seconds: float = 10.0, prompt_tokens: int = 75, seed: int = 0,
                   split_rows: bool = False) -> dict:
    """One streamed ``seconds`` sentence through the incremental flow on the official schedule (the voice
    prompt's chunks done first, not profiled) under torch.profiler: self CPU time per op group and the wall time.
    """
    from torch.profiler import ProfilerActivity, profile

    from ..token2wav import token_hop_schedule

    g = torch.Generator().manual_seed(seed)
    vocab, n_gen = flow.cfg.vocab_size, int(seconds * 25)
    dtype = next(flow.parameters()).dtype
    gen = torch.randint(0, vocab, (1, n_gen), generator=g)
    prompt = torch.randint(0, vocab, (1, prompt_tokens), generator=g)
    feat = torch.randn(1, 2 * prompt_tokens, 80, generator=g).to(dtype)
    emb = torch.randn(1, 192, generator=g).to(dtype)
    noise = torch.randn(1, 80, 2 * (prompt_tokens + n_gen), generator=g)
    state = flow.start_stream(prompt, feat, emb, noise=noise, split_rows=split_rows)
    calls = []
    for hop in token_hop_schedule(prompt_tokens, 25, flow.cfg.pre_lookahead_len, 100):
        if hop.n_tokens > n_gen:
            break
        calls.append(hop.n_tokens)
    t0 = time.perf_counter()
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        fed = 0
        for n in calls + [n_gen]:
            _, state = flow.stream_step(state, gen[:, fed:n], finalize=n == n_gen)
            fed = n
    wall = time.perf_counter() - t0
    groups: dict[str, float] = {}
    ops: list[tuple[str, float]] = []
    for ev in prof.key_averages():
        self_s = ev.self_cpu_time_total / 1e6
        groups[op_kind(ev.key)] = groups.get(op_kind(ev.key), 0.0) + self_s
        ops.append((ev.key, self_s))
    total = sum(groups.values())
    return {"seconds": seconds, "calls": len(calls) + 1, "wall_s": round(wall, 2), "profiled_self_s": round(total, 2),
            "share": {k: round(v / total, 3) for k, v in sorted(groups.items(), key=lambda kv: -kv[1])},
            "top_ops_s": [(k, round(v, 3)) for k, v in sorted(ops, key=lambda kv: -kv[1])[:12]]}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m engine.bench.flow", description=__doc__)
    p.add_argument("--chunks", type=int, default=6)
    p.add_argument("--hop", type=int, default=25)
    p.add_argument("--prompt-tokens", type=int, default=75)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--peak-rss", type=float, default=None, metavar="SECONDS")
    p.add_argument("--profile", type=float, default=None, metavar="SECONDS",
                   help="profile one streamed sentence of SECONDS (torch.profiler): time per op group")
    p.add_argument("--dtype", default="fp32", choices=("fp32", "bf16"))
    p.add_argument("--kv-storage", default="exact", choices=[s.value for s in KVStorage],
                   help="how the estimator keeps earlier frames' keys/values (engine/flow/kv_history.py)")
    p.add_argument("--history-budget", type=float, default=None, metavar="MB",
                   help="with --peak-rss: the stream's key/value budget (the engine's default is 1/4 of memory)")
    p.add_argument("--kv-error", type=float, default=None, metavar="SECONDS",
                   help="stream one SECONDS sentence with every key/value storage; mel error against exact")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.set_grad_enabled(False)
    flow = random_flow(official_config().flow).to(torch.bfloat16 if args.dtype == "bf16" else torch.float32)
    if args.kv_error is not None:
        others = [s for s in KVStorage if s is not KVStorage.EXACT]
        for row in kv_storage_error(flow, args.kv_error, others, args.hop, args.prompt_tokens):
            print(json.dumps(row), flush=True)
    elif args.profile is not None:
        print(json.dumps(profile_stream(flow, args.profile, args.prompt_tokens)), flush=True)
    elif args.peak_rss is not None:
        print(json.dumps(stream_peak_rss(flow, args.peak_rss, args.hop, args.prompt_tokens,
                                         kv_storage=KVStorage(args.kv_storage),
                                         history_budget=None if args.history_budget is None
                                         else int(args.history_budget * 2**20))), flush=True)
    else:
        for row in bench_stream(flow, args.chunks, args.hop, args.prompt_tokens):
            print(json.dumps(row), flush=True)
    with open("/proc/loadavg") as f:
        print(json.dumps({"threads": args.threads, "loadavg": f.read().split()[:3]}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
