"""Speed of the speech LM at official size with random weights (no model download needed).

``bench_lm(cfg, dtype)`` measures, in the calling process:

* ``prefill_s``: one forward pass over ``n_prompt`` positions into a fresh KV cache (median);
* ``first_token_s``: ``SpeechLM.generate`` up to its first token (prefill + sampling), the latency
  a user waits before streaming can start;
* ``decode_tokens_per_s`` / ``ms_per_token``: the following ``n_decode`` tokens of the real
  generation loop (one-token forward + ras_sampling), EOS held off so every run decodes as many;
* ``decode_cpu_ms_per_token``: CPU seconds of all threads per token (less sensitive to other
  processes than wall time), ``env_before``/``env_after``: load average and a matmul probe;
* ``peak_rss_mb`` (``ru_maxrss`` of the process: includes building the model, so run one
  precision per process for a clean number), ``rss_mb`` now and ``weights_mb``.

Reference numbers (official code, same sizes, 2 threads) are in
tests/fixtures/parity/reference_cpu_perf.json: 8.54 tokens/s, first token 0.98 s, 2830 MB.

Measured here (2-core AMD EPYC with AVX512-BF16/VNNI, torch 2.13 CPU, 2 threads, idle machine:
matmul probe ~200 GFLOPS, 152-position prompt, 30 decoded tokens, median of 3):

    precision  decode tok/s  ms/token  prefill s  first token s  RSS MB
    fp32            13.4       74.8      0.63        0.74         2289
    bf16            25.3       39.6      0.20        0.20         1304
    int8            63.8       15.7      0.14        0.14         1433  (peak 3091 while quantising)
    int8w           59.7       16.7      0.36        0.37         1326  (peak 2516 while converting)

Under heavy contention from other processes the same runs gave 2-9 tokens/s: always look at
``env_before``/``env_after`` before comparing numbers.

``python -m engine.bench.lm [fp32 bf16 int8 int8w] [--decode N] [--threads T]`` runs each LM conversion
(:func:`engine.llm.speech_lm.convert_lm`'s names) in its own process and prints one JSON line per conversion.
Here ``int8`` is fbgemm's dynamic int8; the engine's ``int8`` precision runs ``int8w`` where torch has its
kernel (:func:`engine.precision.pick_precision`), which is what ``python -m engine.bench --precisions int8``
measures.
"""
from __future__ import annotations

import argparse
import json
import multiprocessing
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
from torch import nn

from ..config import LMConfig, ModelConfig, official_config
from ..llm.speech_lm import LLM_FILE, LM_CONVERSIONS, SpeechLM, convert_lm, load_lm
from ..rng import PortableRandom
from . import probes

_DTYPE_NAMES = {torch.float32: "fp32", torch.bfloat16: "bf16", torch.qint8: "int8", torch.int8: "int8"}


def random_lm(cfg: LMConfig, precision: str = "fp32", seed: int = 0) -> SpeechLM:
    """A SpeechLM of ``cfg``'s size with random weights, built on meta and materialised once."""
    with torch.device("meta"):
        lm = SpeechLM(cfg)
    if precision == "bf16":
        lm = lm.to(torch.bfloat16)  # free on meta: never hold an fp32 copy
    lm = lm.to_empty(device="cpu")
    lm.qwen.tie_weights()
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in lm.named_parameters():
            if name.endswith("layernorm.weight") or name.endswith("norm.weight"):
                p.fill_(1.0)
            elif name.endswith("bias"):
                p.zero_()
            else:
                p.copy_(torch.randn(p.shape, generator=g, dtype=torch.float32).mul_(0.02))
    return convert_lm(lm, precision).eval().requires_grad_(False)


def _write_random_lm(cfg: LMConfig, seed: int, path: str) -> None:
    torch.save(random_lm(cfg, "fp32", seed).state_dict(), path)


def mapped_random_lm(cfg: LMConfig, seed: int = 0) -> SpeechLM:
    """:func:`random_lm` in fp32, held the way :meth:`engine.Engine.load` holds an fp32 LM: an ``llm.pt``
    read through :func:`engine.llm.speech_lm.load_lm` (memory-mapped, assigned). Only the pages a run touches
    are then resident: of the 545 MB text embedding, the rows of the texts it reads. In-memory random weights
    would count all of it and overstate the app's peak RSS by that much. The file is written by a child
    process, so this one never holds (or keeps freed heap of) an in-memory copy."""
    with tempfile.TemporaryDirectory() as folder:
        child = multiprocessing.get_context("spawn").Process(
            target=_write_random_lm, args=(cfg, seed, str(Path(folder) / LLM_FILE)))
        child.start()
        child.join()
        if child.exitcode != 0:
            raise RuntimeError(f"writing the random LM failed (exit code {child.exitcode})")
        return load_lm(folder, cfg)  # the mapping outlives the deleted file


def _weights_mb(module: nn.Module) -> float:
    seen, total = set(), 0
    for t in list(module.parameters()) + list(module.buffers()):
        if t.data_ptr() not in seen:
            seen.add(t.data_ptr())
            total += t.numel() * t.element_size()
    for m in module.modules():  # dynamically quantised Linear keeps packed weights outside parameters()
        packed = getattr(m, "_packed_params", None)
        if packed is not None:
            w, b = m._weight_bias()
            total += w.numel() * w.element_size() + (b.numel() * b.element_size() if b is not None else 0)
    return total / 2**20


def bench_lm(cfg: ModelConfig | LMConfig | None = None, dtype: torch.dtype | str = torch.float32,
             n_prompt: int = 152, n_decode: int = 50, threads: int = 2, repeats: int = 3) -> dict:
    """Measure prefill / first-token latency / decode speed of the LM at ``cfg``'s size (default official)."""
    precision = _DTYPE_NAMES.get(dtype, dtype) if not isinstance(dtype, str) else dtype
    if precision not in LM_CONVERSIONS:
        raise ValueError(f"dtype must be one of {LM_CONVERSIONS} (or torch.float32/bfloat16/qint8), not {dtype!r}")
    cfg = cfg or official_config()
    lm_cfg = cfg.lm if isinstance(cfg, ModelConfig) else cfg
    torch.set_num_threads(threads)

    env_before = probes.snapshot()
    t0 = time.perf_counter()
    lm = random_lm(lm_cfg, precision)
    build_s = time.perf_counter() - t0

    # The official prompt layout: sos | prompt text ++ text | task_id | prompt speech.
    n_text = max(1, min(40, n_prompt // 4))
    n_speech = max(0, n_prompt - n_text - 2)
    g = torch.Generator().manual_seed(0)
    text = torch.randint(0, lm_cfg.qwen.vocab_size, (n_text,), generator=g).tolist()
    speech = torch.randint(0, lm_cfg.speech_token_size, (n_speech,), generator=g).tolist()
    rows = lm.layout_rows(text, (), speech)

    with torch.inference_mode():
        x = lm.embed_rows(rows)
        prefill = []
        for _ in range(repeats + 1):
            cache = lm.new_cache(len(rows) + 1)
            t = time.perf_counter()
            lm.forward_step(x, cache)
            prefill.append(time.perf_counter() - t)
        prefill_s = statistics.median(prefill[1:])  # the first run warms up allocators/kernels

    ratio = (n_decode + 2) / n_text  # min_len >= n_decode + 1: EOS cannot end the run early
    first, rates, cpu_ms = [], [], []
    for r in range(repeats):
        gen = lm.generate(text, (), speech, rng=PortableRandom(r),
                          min_token_text_ratio=ratio, max_token_text_ratio=ratio + 1)
        t = time.perf_counter()
        next(gen)
        t1, c1 = time.perf_counter(), time.process_time()
        for _ in range(n_decode):
            next(gen)
        t2, c2 = time.perf_counter(), time.process_time()
        gen.close()
        first.append(t1 - t)
        rates.append(n_decode / (t2 - t1))
        cpu_ms.append((c2 - c1) / n_decode * 1000)
    tokens_per_s = statistics.median(rates)
    return {
        "precision": precision,
        "threads": threads,
        "n_prompt": len(rows),
        "n_decode": n_decode,
        "build_s": round(build_s, 2),
        "prefill_s": round(prefill_s, 4),
        "first_token_s": round(statistics.median(first), 4),
        "decode_tokens_per_s": round(tokens_per_s, 2),
        "ms_per_token": round(1000.0 / tokens_per_s, 2),
        "decode_runs_tokens_per_s": [round(v, 2) for v in rates],
        "decode_cpu_ms_per_token": round(statistics.median(cpu_ms), 2),  # all threads together
        "weights_mb": round(_weights_mb(lm), 1),
        "rss_mb": round(probes.rss_mb(), 1),
        "peak_rss_mb": round(probes.peak_rss_mb(), 1),
        "env_before": env_before,
        "env_after": probes.snapshot(),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m engine.bench.lm", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("precisions", nargs="*", default=list(LM_CONVERSIONS), choices=LM_CONVERSIONS)
    p.add_argument("--prompt", type=int, default=152)
    p.add_argument("--decode", type=int, default=50)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--in-process", action="store_true", help="run in this process (one precision)")
    args = p.parse_args(argv)
    if args.in_process:
        for prec in args.precisions:
            print(json.dumps(bench_lm(None, prec, args.prompt, args.decode, args.threads, args.repeats)), flush=True)
        return 0
    for prec in args.precisions:  # one process each, so peak RSS belongs to that precision
        cmd = [sys.executable, "-m", "engine.bench.lm", prec, "--in-process", "--prompt", str(args.prompt),
               "--decode", str(args.decode), "--threads", str(args.threads), "--repeats", str(args.repeats)]
        rc = subprocess.call(cmd)
        if rc:
            return rc
    return 0


if __name__ == "__main__":
    sys.exit(main())
