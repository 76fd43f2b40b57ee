"""How far a float result may lie from its golden, and why.

The goldens are one float32 rounding history of the official code on one CPU, not the truth: the official
code itself moves on another CPU (MKL and ATen pick other FFT, GEMM and interpolation kernels), and a float64
pipeline is as far from the goldens. So a bound rests on the computation, not on a machine:

    bound = max(family floor, NOISE_FACTOR x spread[key])

``spread`` is the key's entry in the fixture set's ``goldens/noise_floor.json``: how far the official output
moved when its float inputs were perturbed by one ulp (max over 3 seeds). Every cross-CPU difference measured
so far is <= 2x the spread; the factor 4 leaves room for kernels not measured yet. The family floor is the
least a kind of result may move from summation order alone, for keys whose spread is 0 or tiny because the
perturbed inputs do not reach them (e.g. the flow encoder's ``mu`` only sees tokens). Integers are exact.

The bounds stay tight enough to catch bugs: a wrong window, mel edge, resampler setting, activation slope,
interpolation mode, noise offset or cross-fade moves features by >= 6e-2 and waveforms by >= 0.26
(``tests/engine/test_parity_tolerance.py`` injects such bugs and sees the checks fail).

Where the chaos is not, the checks are stricter (see :data:`GIVEN_SOURCE`, :data:`STITCH`,
:data:`LOUD_FEATURES`), and waveforms are also compared by relative L2 (:data:`WAVE_REL_L2`), which a small
error spread over the whole signal (a gain, a filter) cannot pass the way it may pass a max-abs bound.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Callable

import numpy as np
import torch

NOISE_FACTOR = 4.0


@dataclass(frozen=True)
class Family:
    """A kind of result with the least bound it gets (``floor``, max-abs), why, and for waveforms the
    relative L2 error it may have (``rel_l2``, see :data:`REL_L2_WHY`)."""

    name: str
    floor: float
    why: str
    rel_l2: float | None = None

    def bound(self, spread: float) -> float:
        return max(self.floor, NOISE_FACTOR * spread)


# The family floors (written once; every parity check names one).
AUDIO = Family("audio", 1e-6, "resampled samples in [-1, 1]: a windowed-sinc sum in float32; another summation "
               "order moves a sample by a few ulps of 1.0 (1.2e-7 each)")
FEATURES = Family("features", 1e-4, "log spectra (Whisper log-mel, Kaldi fbank, flow mel) of magnitude <= 16: a "
                  "float32 FFT's rounding is ~1e-7 of the frame's peak, so a bin 60 dB down moves by ~1e-4 after "
                  "the log, and bins near the log floor (80 dB down) much more (their spread covers those)")
LOUD_FEATURES = Family("loud features", 5e-4, "the same features restricted to bins within 60 dB of their frame's "
                       "peak, where FFT rounding stays below ~1e-4 after the log on every CPU: the strict check "
                       "that a wrong window or mel edge (>= 6e-2) cannot pass even where whole-array spreads are "
                       "large")
EMBEDDING = Family("embedding", 1e-5, "speaker embeddings (~8) from onnxruntime: its CPU kernels differ per ISA by "
                   "a few ulps (5e-7 each) over a few thousand-term dot products")
NETWORK = Family("network", 2e-5, "LM logits and hidden states, flow encoder, estimator and mel (magnitude <= 6): "
                 "float32 GEMMs reordered by another kernel move a result by ~sqrt(K) ulps; measured <= 2.1e-6 "
                 "across CPUs and <= 4.6e-6 under the most different dispatch imitated here (ATen default, MKL "
                 "SSE4.2, oneDNN SSE4.1, one thread)")
F0 = Family("f0", 2e-3, "HiFT's f0 in Hz (up to ~1 kHz, ulp 6e-5): five convolutions and a linear head whose "
            "SGEMM differs per CPU by ~1e-6 relative (measured 1.2e-3 Hz across CPUs)")
EXCITATION = Family("excitation", 1e-3, "the NSF source (0.1-amplitude sines): its phase reaches ~1e5 rad, where one "
                    "float32 ulp is 8e-3 rad, so one ulp anywhere in the phase path (another linear-interpolation "
                    "kernel) moves the source by up to 8e-4")
WAVEFORM = Family("waveform", 1e-3, "HiFT output whose excitation comes from a predicted f0: the NSF integrates "
                  "f0 to phase over the whole call and exp() follows, so float32 rounding upstream becomes 1e-3..3e-2 "
                  "on the waveform (official reruns across CPUs); the spread carries the key's own amplification",
                  rel_l2=2e-2)
GIVEN_F0 = Family("waveform given f0", 2e-4, "HiFT output with the golden f0 injected: no f0 predictor, but the "
                  "phase rounding of EXCITATION remains; the spread is measured on this computation itself (same "
                  "1-ulp method as noise_floor.json, see measured_spread)", rel_l2=5e-3)
GIVEN_SOURCE = Family("waveform given source", 2e-4, "HiFT decode with the golden source injected: convolutions, "
                      "Snake and the iSTFT in float32, no phase integration (spread 1.1e-5; measured across "
                      "dispatches <= 1.4e-5)", rel_l2=1e-4)
STITCH = Family("stitch", 0.0, "the streaming cross-fade fed with the golden HiFT outputs: float64 window products "
                "rounded once, the same on every CPU")
FIXED_BUFFER = Family("fixed buffer", 0.0, "CosyVoice 3's fixed excitation buffers (rand_ini, sine_waves): torch.rand "
                      "on the CPU is a serial integer computation (24 random bits times 2^-24), the same bits on "
                      "every CPU, so a replay of the official draw sequence must give them exactly")

REL_L2_WHY = """Relative L2 (||got - want|| / ||want||) of waveforms: a phase error is large at a few samples and
small on average; a wrong gain, filter or fade is not. Largest values measured under every CPU dispatch imitated
here (AVX-512, AVX2, default; MKL AVX2/SSE4.2; oneDNN AVX2/SSE4.1; 1 and 2 threads): predicted f0 2.6e-3, golden f0
7.6e-4, golden source 4.0e-6. The floors keep >= 5x above those; for the predicted-f0 waveforms 8x, since the
max-abs errors reported on an Intel Xeon are up to 3x the ones seen here."""

EXACT_MAX_ABS = 0.0


@lru_cache(maxsize=8)
def _noise_floor(path: str) -> dict[str, float]:
    p = Path(path)
    if not p.is_file():
        return {}
    keys = json.loads(p.read_text(encoding="utf-8")).get("keys", {})
    return {k: float(v.get("spread") or 0.0) for k, v in keys.items()}


def spread(goldens_dir: Path, file: str, key: str) -> float | None:
    """The noise floor of ``file:key`` (None when the set has no noise_floor.json or no entry for it)."""
    table = _noise_floor(str(goldens_dir / "noise_floor.json"))
    return table.get(f"{file}:{key}")


def max_spread(goldens_dir: Path, file: str, pattern: Callable[[str], bool]) -> float:
    """The largest spread among ``file``'s keys that ``pattern`` accepts (0 if none)."""
    table = _noise_floor(str(goldens_dir / "noise_floor.json"))
    return max((v for k, v in table.items() if k.startswith(f"{file}:") and pattern(k.split(":", 1)[1])),
               default=0.0)


PERTURBATION_EPS = 1e-7
PERTURBATION_SEEDS = (1000, 1001, 1002)


def measured_spread(fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor) -> float:
    """The noise-floor method of ``noise_floor.json`` applied here, for a check the file has no key for.

    ``max over seeds of max|fn(x * (1 + 1e-7 * N(0, 1))) - fn(x)|``. This measures how chaotic the
    computation is, not how close it is to the golden (our code equals the official one bit for bit on one
    machine, so its sensitivity is the official one's).
    """
    base = fn(x).double()
    worst = 0.0
    for seed in PERTURBATION_SEEDS:
        g = torch.Generator().manual_seed(seed)
        noisy = x * (1 + PERTURBATION_EPS * torch.randn(x.shape, generator=g, dtype=x.dtype))
        worst = max(worst, float((fn(noisy).double() - base).abs().max()))
    return worst


def rel_l2(got: np.ndarray, want: np.ndarray) -> float:
    """||got - want|| / ||want|| in float64 (0 when both are empty or zero)."""
    g, w = np.asarray(got, dtype=np.float64).reshape(-1), np.asarray(want, dtype=np.float64).reshape(-1)
    norm = float(np.linalg.norm(w))
    diff = float(np.linalg.norm(g - w))
    return diff / norm if norm > 0 else diff


def utterance_wave_bound(goldens_dir: Path) -> float:
    """What two computations of one utterance of this set's model may differ by when they differ only in float
    rounding (thread counts, guidance-row layout, chunking): WAVEFORM with the largest spread of the set's
    end-to-end chunks. Tests of the engine's own variants use it instead of a bound one machine happens to meet."""
    return WAVEFORM.bound(max_spread(goldens_dir, "e2e.npz", lambda k: "/yield" in k))
