"""Parity of the HiFT vocoder against ``goldens/hift.npz`` (README section 8, "HiFT").

The goldens control HiFT's two random draws: ``noise_rand_ini`` (initial harmonic phases) and a
prefix of ``noise_randn_buffer`` (additive noise), the same on every call; ``*_zero_noise`` uses
zeros for both. All shapes come from the data.

Where the chaos is: the NSF integrates f0 to a phase of ~1e5 rad, so one float32 ulp of f0 (another CPU's
SGEMM in the f0 predictor) or of the phase (another interpolation kernel) moves the waveform by 1e-3..3e-2.
So besides the whole vocoder (WAVEFORM), the checks inject what the goldens recorded: the source from the
golden f0 (EXCITATION), decode from the golden source (GIVEN_SOURCE, strict: no phase integration), and the
whole inference with the golden f0 (GIVEN_F0, bounded by this computation's own 1-ulp spread).
"""
from __future__ import annotations

from typing import Iterator

import numpy as np
import torch

from . import CheckResult, Fixture, compare, equal
from .tolerance import EXCITATION, F0, GIVEN_F0, GIVEN_SOURCE, WAVEFORM, measured_spread

GOLDEN = "hift.npz"


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
    if not fx.has(GOLDEN):
        return
    from ..checkpoints import normalize_hift_keys, read_state_dict
    from ..vocoder.hift import load_hift
    from ..vocoder.source import HiftNoise

    g = fx.npz(GOLDEN)
    t = lambda k: torch.from_numpy(np.ascontiguousarray(g[k]))  # noqa: E731
    hift = load_hift(fx.model_dir, fx.config)
    noise = golden_noise(fx)
    mel = t("mel")

    with torch.inference_mode():
        yield fx.check("hift/f0", hift.f0(mel), GOLDEN, "f0", F0)
        # Source from the GOLDEN f0, so a tiny f0 difference does not hide or blame the source module.
        source, uv = hift.source(t("f0"), noise=noise)
        yield fx.check("hift/source", source, GOLDEN, "source", EXCITATION)
        yield compare("hift/uv", uv, g["uv"])  # f0 > 10 Hz on the golden f0: a comparison, exact
        yield from fx.check_wave("hift/decode_out", hift.decode(mel, t("source")), GOLDEN, "decode_out", GIVEN_SOURCE)

        def from_f0(f0: torch.Tensor) -> torch.Tensor:
            return hift.decode(mel, hift.source(f0, noise=noise)[0])

        # The whole inference with the golden f0 injected: the goldens' inference used their own f0.
        yield from fx.check_wave("hift/inference_speech [golden f0]", from_f0(t("f0")), GOLDEN, "inference_speech",
                                 GIVEN_F0, spread=measured_spread(from_f0, t("f0")))

    speech, _ = hift.inference(mel, noise=noise)
    yield from fx.check_wave("hift/inference_speech", speech, GOLDEN, "inference_speech", WAVEFORM)

    zero = HiftNoise(torch.zeros_like(noise.rand_ini), torch.zeros_like(noise.randn_buffer))
    speech0, _ = hift.inference(mel, noise=zero)
    yield from fx.check_wave("hift/inference_speech_zero_noise", speech0, GOLDEN, "inference_speech_zero_noise",
                             WAVEFORM)

    if "cache_test_mel" in g.files:
        cached, _ = hift.inference(t("cache_test_mel"), t("cache_test_cache_source"), noise=noise)
        yield from fx.check_wave("hift/cache_test_speech", cached, GOLDEN, "cache_test_speech", WAVEFORM)

    # Every hift.pt key style shipped with the fixture must hold the same weights as hift.pt.
    variants_dir = fx.model_dir / "hift_key_variants"
    if variants_dir.is_dir():
        base = hift.state_dict()
        for path in sorted(variants_dir.glob("*.pt")):
            sd = normalize_hift_keys(read_state_dict(path))
            same = sd.keys() == base.keys() and all(torch.equal(sd[k], base[k]) for k in base)
            yield equal(f"hift/key_variant {path.name} == hift.pt", same, True)
