"""HiFT speed at a given size with random weights (no checkpoint needed).

``python -m engine.bench.hift [seconds] [threads]`` prints the result at the official
CosyVoice2-0.5B size. Compare with ``tests/fixtures/parity/reference_cpu_perf.json`` (the reference
HiFT: 1.32 s for 10 s of audio on 2 threads), measured the same way: median of 3 runs after a warm-up.
"""
from __future__ import annotations

import json
import statistics
import sys
import time

import torch

from ..config import HiFTConfig, ModelConfig, official_config
from ..rng import PortableRandom
from ..vocoder.hift import HiFT
from ..vocoder.source import DrawnNoise
from . import probes

STREAM_CHUNK_FRAMES = 58  # a typical streaming call: 50 new frames + 8 cached ones


def _median_time(fn, runs: int) -> tuple[float, list[float]]:
    fn()  # warm-up (allocator, oneDNN primitive cache)
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), times


def bench_hift(cfg: ModelConfig | HiFTConfig, seconds: float = 10.0, threads: int = 2, runs: int = 3) -> dict:
    """Time ``HiFT.inference`` on ``seconds`` of random mel; returns medians and the real-time factor."""
    hcfg = cfg.hift if isinstance(cfg, ModelConfig) else cfg
    old_threads = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        gflops_before = probes.matmul_gflops()
        gen = PortableRandom(0)
        with torch.random.fork_rng(devices=[]):  # random init must not disturb the caller's global RNG
            torch.manual_seed(0)
            hift = HiFT(hcfg).eval().requires_grad_(False)
        frames_per_second = hcfg.sampling_rate / hcfg.upsample_factor
        n_frames = max(1, round(seconds * frames_per_second))
        mel = gen.normal([1, hcfg.in_channels, n_frames]) - 5.0  # log-mel-like level
        chunk = mel[:, :, :STREAM_CHUNK_FRAMES]

        full_s, full_runs = _median_time(lambda: hift.inference(mel, noise=DrawnNoise(gen)), runs)
        chunk_s, _ = _median_time(lambda: hift.inference(chunk, noise=DrawnNoise(gen)), runs)
        gflops_after = probes.matmul_gflops()
    finally:
        torch.set_num_threads(old_threads)
    audio_s = n_frames / frames_per_second
    return {
        "params": sum(p.numel() for p in hift.parameters()),
        "mel_frames": n_frames,
        "samples_out": n_frames * hcfg.upsample_factor,
        "threads": threads,
        "runs_s": full_runs,
        "median_s": full_s,
        "rtf": full_s / audio_s,
        f"chunk_{STREAM_CHUNK_FRAMES}_frames_median_s": chunk_s,
        "matmul_1024_fp32_gflops_before_after": [gflops_before, gflops_after],
        "torch": torch.__version__,
    }


if __name__ == "__main__":
    secs = float(sys.argv[1]) if len(sys.argv) > 1 else 10.0
    n_threads = int(sys.argv[2]) if len(sys.argv) > 2 else 2
    print(json.dumps(bench_hift(official_config(), secs, n_threads), indent=1))
