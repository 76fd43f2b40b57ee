"""Parity of the HiFT vocoder against ``goldens/hift.npz`` (README section 8, "HiFT").

The goldens control HiFT's two random draws: ``noise_rand_ini`` (initial harmonic phases) and a
prefix of ``noise_randn_buffer`` (additive noise), the same on every call; ``*_zero_noise`` uses
zeros for both. All shapes come from the data.
"""
from __future__ import annotations

from typing import Iterator

import numpy as np
import torch

from . import CheckResult, Fixture, compare, equal

# Source from the golden f0 and decode from the golden source: 1e-4 (the README's lower bound; this
# port follows the reference's op order and lands at 0 on the reference's CPU build).
TOL_WAVE = 1e-4
# Waveforms whose f0 comes from OUR predictor: 1e-3. The NSF integrates f0 to phase over the whole
# call (up to the 9th harmonic, tens of thousands of samples), so one float32 ulp of f0 (~3e-5 Hz
# at 300 Hz, e.g. from a different conv kernel on another CPU) already moves the waveform by ~2e-4;
# measured on this set: a 1e-7 mel perturbation changes f0 by 2e-4 Hz and the waveform by 1e-3.
TOL_WAVE_F0 = 1e-3
# f0 is in Hz (hundreds): 1e-3 Hz is a relative error of ~3e-6, a few float32 ulps.
TOL_F0 = 1e-3


def golden_noise(fx: Fixture):
    """The HiftNoise the goldens were made with (None if hift.npz lacks it)."""
    from ..vocoder.source import HiftNoise

    if not fx.has("hift.npz"):
        return None
    g = fx.npz("hift.npz")
    if "noise_rand_ini" not in g.files or "noise_randn_buffer" not in g.files:
        return None
    return HiftNoise(torch.from_numpy(g["noise_rand_ini"]), torch.from_numpy(g["noise_randn_buffer"]))


def checks(fx: Fixture) -> Iterator[CheckResult]:
    if not fx.has("hift.npz"):
        return
    from ..checkpoints import normalize_hift_keys, read_state_dict
    from ..vocoder.hift import load_hift
    from ..vocoder.source import HiftNoise

    g = fx.npz("hift.npz")
    t = lambda k: torch.from_numpy(np.ascontiguousarray(g[k]))  # noqa: E731
    hift = load_hift(fx.model_dir, fx.config)
    noise = golden_noise(fx)

    with torch.inference_mode():
        f0 = hift.f0(t("mel"))
        yield compare("hift/f0", f0, g["f0"], TOL_F0)
        # Source from the GOLDEN f0 so a tiny f0 difference does not hide/blame the source module.
        source, uv = hift.source(t("f0"), noise=noise)
        yield compare("hift/source", source, g["source"], TOL_WAVE)
        yield compare("hift/uv", uv, g["uv"], TOL_WAVE)
        yield compare("hift/decode_out", hift.decode(t("mel"), t("source")), g["decode_out"], TOL_WAVE)

    speech, _ = hift.inference(t("mel"), noise=noise)
    yield compare("hift/inference_speech", speech, g["inference_speech"], TOL_WAVE_F0)

    zero = HiftNoise(torch.zeros_like(noise.rand_ini), torch.zeros_like(noise.randn_buffer))
    speech0, _ = hift.inference(t("mel"), noise=zero)
    yield compare("hift/inference_speech_zero_noise", speech0, g["inference_speech_zero_noise"], TOL_WAVE_F0)

    if "cache_test_mel" in g.files:
        cached, _ = hift.inference(t("cache_test_mel"), t("cache_test_cache_source"), noise=noise)
        yield compare("hift/cache_test_speech", cached, g["cache_test_speech"], TOL_WAVE_F0)

    # Every hift.pt key style shipped with the fixture must hold the same weights as hift.pt.
    variants_dir = fx.model_dir / "hift_key_variants"
    if variants_dir.is_dir():
        base = hift.state_dict()
        for path in sorted(variants_dir.glob("*.pt")):
            sd = normalize_hift_keys(read_state_dict(path))
            same = sd.keys() == base.keys() and all(torch.equal(sd[k], base[k]) for k in base)
            yield equal(f"hift/key_variant {path.name} == hift.pt", same, True)
