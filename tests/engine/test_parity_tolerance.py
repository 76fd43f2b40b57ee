"""The parity bounds catch real bugs: each test injects one into the engine and the parity checks must fail.

The tolerance policy (``engine/parity/tolerance.py``) widens bounds to what another CPU's kernels do to the
official code; these bugs (a wrong window, mel edge, resampler setting, activation slope, interpolation mode,
noise offset or cross-fade) move features by >= 6e-2 and waveforms by >= 0.26, far outside every bound.
"""
from __future__ import annotations

import os
import subprocess
import sys
import types
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import engine.flow.cfm as cfm
import engine.flow.flow as flow_mod
import engine.parity.flow as flow_parity
import engine.frontend.audio as audio
import engine.token2wav as token2wav
import engine.vocoder.hift as hift_mod
import engine.vocoder.source as source_mod
from engine.parity import run_checks, tolerance
from engine.vocoder.source import HiftNoise


def _functional(**overrides) -> types.SimpleNamespace:
    """torch.nn.functional with some functions replaced, to patch into one engine module only."""
    ns = types.SimpleNamespace(**{n: getattr(F, n) for n in dir(F) if not n.startswith("__")})
    for name, fn in overrides.items():
        setattr(ns, name, fn)
    return ns


def _wrong_window(mp):
    mp.setattr(audio.torch, "hann_window", torch.hamming_window)


def _wrong_mel_edge(mp):
    real = audio.slaney_mel_filters.__wrapped__

    def filters(sample_rate, n_fft, n_mels, fmin=0.0, fmax=None):
        return real(sample_rate, n_fft, n_mels, fmin, (fmax or sample_rate / 2) * 0.95)

    mp.setattr(audio, "slaney_mel_filters", filters)


def _wrong_resampler(mp):
    real = audio._sinc_kernel.__wrapped__
    mp.setattr(audio, "_sinc_kernel", lambda orig, new, zero_crossings, rolloff: real(orig, new, zero_crossings, 0.95))


def _wrong_activation_slope(mp):
    mp.setattr(hift_mod, "F", _functional(
        leaky_relu=lambda x, negative_slope=0.01, inplace=False: F.leaky_relu(x, negative_slope * 2, inplace)))


def _wrong_interpolation(mp):
    def interpolate(x, size=None, scale_factor=None, mode="nearest", **kw):
        return F.interpolate(x, size=size, scale_factor=scale_factor, mode="nearest")

    mp.setattr(source_mod, "F", _functional(interpolate=interpolate))


def _hift_noise_offset(mp):
    real = HiftNoise.take

    def take(self, batch, length, dim, device):
        shifted = HiftNoise(self.rand_ini, self.randn_buffer[:, 1:])
        return real(shifted, batch, length, dim, device)

    mp.setattr(HiftNoise, "take", take)


def _flow_noise_offset(mp):
    real = flow_mod.Flow._noise

    def noise(noise, rng, n_frames, dtype):
        return real(None if noise is None else noise[:, :, 1:], rng, n_frames, dtype)

    mp.setattr(flow_mod.Flow, "_noise", staticmethod(noise))


def _wrong_cross_fade(mp):
    mp.setattr(token2wav.np, "hamming", np.hanning)


BUGS = [
    # (bug, stage, checks that must fail)
    (_wrong_window, "features", ["features/prompt_en_22k/matcha_mel80_24k (within 60 dB)",
                                 "features/prompt_en_22k/whisper_logmel128 (within 60 dB)"]),
    (_wrong_mel_edge, "features", ["features/prompt_en_22k/matcha_mel80_24k"]),
    (_wrong_resampler, "features", ["features/prompt_en_22k/speech_16k", "features/prompt_en_22k/speech_24k"]),
    (_wrong_activation_slope, "hift", ["hift/decode_out", "hift/inference_speech"]),
    (_wrong_interpolation, "hift", ["hift/source", "hift/inference_speech [golden f0]"]),
    (_hift_noise_offset, "hift", ["hift/inference_speech", "hift/inference_speech [golden f0]"]),
    (_flow_noise_offset, "flow", ["flow/nonstream/mel", "flow/stream_chunk/mel"]),
    (_wrong_cross_fade, "token2wav", ["token2wav/vc_stream/yield1 [golden HiFT]", "token2wav/vc_stream/yield1"]),
]


@pytest.mark.parametrize("bug,stage,must_fail", BUGS, ids=[b[0].__name__.strip("_") for b in BUGS])
def test_an_injected_bug_fails_the_parity_checks(parity_dir, monkeypatch, bug, stage, must_fail):
    bug(monkeypatch)
    results = {r.name: r for r in run_checks(parity_dir, only=stage)}
    crashed = [r.line() for r in results.values() if "crashed" in r.name]
    assert not crashed, crashed
    for name in must_fail:
        assert name in results, f"{name} is not a {stage} check"
        r = results[name]
        assert not r.passed, f"the bug passed {r.line()}"
        # not a near miss: the bug is well outside the bound the policy gives this check
        assert r.max_abs_err > 3 * r.tol, r.line()


def test_a_wrong_seeding_procedure_fails_the_official_noise_check(parity_dir, monkeypatch):
    wrong = cfm.TorchRandom.seeded(1).normal([1, 80, cfm.OFFICIAL_NOISE_FRAMES])
    monkeypatch.setattr(flow_parity, "official_noise", lambda: wrong)
    results = {r.name: r for r in run_checks(parity_dir, only="flow")}
    assert not results["flow/official_noise_sha256"].passed
    assert "not the reference's" in results["flow/official_noise_sha256"].detail
    assert not results["flow/official_noise_prefix"].passed


def test_another_cpus_randn_passes_the_official_noise_check_and_says_why(parity_dir):
    """torch.randn rounds differently under ATEN_CPU_CAPABILITY=default (other sha256, same procedure)."""
    proc = subprocess.run([sys.executable, "-m", "engine.parity", str(parity_dir), "--only", "flow"],
                          cwd=Path(__file__).resolve().parents[2], capture_output=True, text=True, timeout=600,
                          env={**os.environ, "ATEN_CPU_CAPABILITY": "default"})
    line = next(ln for ln in proc.stdout.splitlines() if ln.startswith("flow/official_noise_sha256"))
    assert "PASS" in line and "rounds differently" in line and "DEFAULT" in line, line
    assert proc.returncode == 0, proc.stdout[-2000:]


def test_every_family_floor_is_explained_and_the_factor_is_four():
    families = [v for v in vars(tolerance).values() if isinstance(v, tolerance.Family)]
    assert len(families) >= 10
    assert tolerance.NOISE_FACTOR == 4.0
    for fam in families:
        assert fam.floor >= 0 and len(fam.why) > 40, fam
        assert fam.bound(0.0) == fam.floor and fam.bound(1.0) == 4.0
