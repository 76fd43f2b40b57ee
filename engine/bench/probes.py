"""What a benchmark records about the machine while it runs, so a reader can tell a quiet run from a contended
one: load average, a matmul throughput probe, memory, and the CPU/torch it ran on.

On a shared 2-core machine another process can halve any single number (with 2 threads, OpenMP barriers stall
when a core is taken away); a probe well under ~200 GFLOPS on such a machine means the numbers are not usable.
"""
from __future__ import annotations

import os
import platform
import resource
import time

import torch


def matmul_gflops(seconds: float = 0.5) -> float:
    """1024x1024 fp32 matmul throughput with the current thread count: how much CPU this process gets now."""
    g = torch.Generator().manual_seed(1)
    a, b = torch.randn(1024, 1024, generator=g), torch.randn(1024, 1024, generator=g)
    a @ b  # warm-up
    n, t0 = 0, time.perf_counter()
    while n == 0 or time.perf_counter() - t0 < seconds:
        a @ b
        n += 1
    return round(2 * 1024**3 * n / (time.perf_counter() - t0) / 1e9, 1)


def loadavg() -> list[float]:
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except OSError:
        return []


def snapshot(seconds: float = 0.5) -> dict:
    """Load average and the matmul probe, now (record one before and one after a measurement)."""
    return {"loadavg": loadavg(), "matmul_gflops": matmul_gflops(seconds)}


def peak_rss_mb() -> float:
    """The process's peak resident memory (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def rss_mb() -> float:
    """The process's resident memory now."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize() / 2**20


def machine_info(threads: int) -> dict:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            cpu = next((ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name")), cpu)
    except OSError:
        pass
    return {"cpu": cpu, "nproc": os.cpu_count(), "torch": torch.__version__, "threads": threads,
            "cpu_capability": torch.backends.cpu.get_cpu_capability(),
            "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None, "loadavg": loadavg(),
            "python": platform.python_version()}
