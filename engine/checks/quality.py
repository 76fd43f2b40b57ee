"""Quality: clipping (counted on the samples) and DNSMOS (a no-reference speech-quality model).

Clipping reuses the reference analysis's definition (:mod:`engine.frontend.analysis`): a place where the
waveform sits flat at a near-full-scale peak for 3+ samples. espeak-ng speech (15 recordings, 5 voices)
has none; the same speech driven 2x (6 dB) into clipping measured 19-51 clipped places per second
(``python -m engine.checks.calibrate quality``). One clipped place per second warns,
:data:`CLIP_FAIL_PER_S` fail.

DNSMOS P.835 (Reddy et al., ICASSP 2022) via ``speechmos``, which ships the ONNX models but imports librosa
and requests without declaring them (the ``checks`` extra names them). It judges noise and distortion of
real recordings: the 15 clean espeak-ng recordings measured OVRL 2.35-3.01, the same with white noise at
-26 dBFS 1.66-1.91, noise alone 1.11. It does NOT see clipping (the clipped copies scored 2.27-2.98, as
clean), so clipping is judged by the count above, and DNSMOS only warns, below :data:`DNSMOS_WARN`.
Cost: speechmos itself evaluates 9.01 s windows one second apart after repeating short audio to 9 s or more
(a 4 s take: 7 windows); this check evaluates each 9.01 s stretch once (a short take repeated to one
window), about 1 s of CPU per window here.
"""
from __future__ import annotations

import threading

import numpy as np

from ..frontend.analysis import _clipped_runs
from .optional import optional_module
from .verdict import FAIL, PASS, WARN, Check

GROUP = "quality"
CLIP_WARN_PER_S, CLIP_FAIL_PER_S = 1.0, 5.0
DNSMOS_WARN = 2.1
DNSMOS_SAMPLE_RATE = 16000
DNSMOS_WINDOW_S = 9.01
_lock = threading.Lock()
_dnsmos = None


def clipping_check(audio: np.ndarray, sample_rate: int) -> Check:
    peak = float(np.max(np.abs(audio))) if audio.size else 0.0
    runs = _clipped_runs(audio, peak)
    per_s = runs / max(audio.shape[0] / sample_rate, 1e-9)
    verdict = FAIL if per_s >= CLIP_FAIL_PER_S else WARN if per_s >= CLIP_WARN_PER_S else PASS
    msg = "no clipping" if runs == 0 else f"{runs} clipped places ({per_s:.1f} per second): the take is distorted"
    return Check("clipping", GROUP, verdict, msg, value=round(per_s, 2), threshold=CLIP_FAIL_PER_S, unit="/s",
                 details={"clipped_places": runs, "peak": round(peak, 4)})


def _model():
    global _dnsmos
    dn = optional_module("speechmos.dnsmos")
    with _lock:
        if _dnsmos is None:
            from pathlib import Path

            models = Path(dn.__file__).parent / "dnsmos_models"
            _dnsmos = dn.DNSMOS(str(models / "sig_bak_ovr.onnx"), str(models / "model_v8.onnx"))
        return _dnsmos


def dnsmos(audio_16k: np.ndarray) -> dict:
    """Mean DNSMOS scores (``ovrl_mos``, ``sig_mos``, ``bak_mos``, ``p808_mos``) over 9.01 s windows."""
    model = _model()
    n = int(DNSMOS_WINDOW_S * DNSMOS_SAMPLE_RATE)
    x = np.clip(np.asarray(audio_16k, dtype=np.float32), -1.0, 1.0)
    if x.size < n:
        x = np.resize(x, n)  # repeat, as speechmos does, but to exactly one window
    starts = list(range(0, x.size - n + 1, n))
    if starts[-1] + n < x.size:  # the tail: one more window ending at the end
        starts.append(x.size - n)
    with _lock:
        scores = [model(x[s:s + n], DNSMOS_SAMPLE_RATE, False) for s in starts]
    return {k: float(np.mean([s[k] for s in scores])) for k in ("ovrl_mos", "sig_mos", "bak_mos", "p808_mos")}


def dnsmos_check(audio_16k: np.ndarray) -> Check:
    s = dnsmos(audio_16k)
    ovrl = s["ovrl_mos"]
    verdict = WARN if ovrl < DNSMOS_WARN else PASS
    msg = "clean speech" if verdict == PASS else "noisy or distorted speech"
    return Check("dnsmos", GROUP, verdict, f"{msg} (DNSMOS overall {ovrl:.2f} of 5)", value=round(ovrl, 2),
                 threshold=DNSMOS_WARN, details={k: round(v, 3) for k, v in s.items()})
