"""Parity of CosyVoice 3's causal HiFT with ``goldens/hift.npz`` (README section 10).

* The fixed excitation: our replay of the official loader's draws must give ``noise_rand_ini`` and the
  ``sine_waves`` prefix bit for bit (FIXED_BUFFER).
* f0 (float64 and its float32 rounding) for the whole mel and with the last 3 frames as look-ahead (F0).
* The source from the GOLDEN f0 (EXCITATION) and its voicing (exact), decode from the GOLDEN source
  (GIVEN_SOURCE, strict: no phase integration there), the whole call from the golden f0 (GIVEN_F0, bounded by
  that computation's own 1-ulp spread), and the whole call as it is (WAVEFORM), for ``finalize`` True/False,
  with zero buffers, and on the recorded prefixes.
* Every ``hift.pt`` key style shipped with the fixture holds the same weights.
"""
from __future__ import annotations

from typing import Iterator

import numpy as np
import torch

from .. import CheckResult, Fixture, compare, equal
from ..tolerance import EXCITATION, F0, FIXED_BUFFER, GIVEN_F0, GIVEN_SOURCE, WAVEFORM, measured_spread

GOLDEN = "hift.npz"


def load_hift3(fx: Fixture):
    from ...vocoder.causal_hift import load_causal_hift

    return load_causal_hift(fx.model_dir, fx.config)


def _buffers(fx: Fixture, hift, g) -> Iterator[CheckResult]:
    if "noise_rand_ini" in g.files:
        yield fx.check("hift/noise_rand_ini (replayed)", hift.excitation.rand_ini, GOLDEN, "noise_rand_ini",
                       FIXED_BUFFER, spread=0.0)
    if "noise_sine_waves_used" in g.files:
        n = g["noise_sine_waves_used"].shape[1]
        yield fx.check("hift/noise_sine_waves_used (replayed)", hift.excitation.noise(0, n), GOLDEN,
                       "noise_sine_waves_used", FIXED_BUFFER, spread=0.0)


def _one_call(fx: Fixture, hift, g, finalize: bool) -> Iterator[CheckResult]:
    sfx = "" if finalize else "_stream"
    t = lambda k: torch.from_numpy(np.ascontiguousarray(g[k]))  # noqa: E731
    mel = t("mel")
    x = mel if finalize else mel[:, :, :-3]
    with torch.inference_mode():
        if f"f0{sfx}_float64" in g.files:
            yield fx.check(f"hift/f0{sfx}_float64", hift.f0_float64(mel, finalize), GOLDEN, f"f0{sfx}_float64", F0)
        yield fx.check(f"hift/f0{sfx}", hift.f0(mel, finalize), GOLDEN, f"f0{sfx}", F0)
        source, uv = hift.source(t(f"f0{sfx}"))  # from the GOLDEN f0: a tiny f0 difference cannot hide here
        yield fx.check(f"hift/source{sfx}", source, GOLDEN, f"source{sfx}", EXCITATION)
        yield compare(f"hift/uv{sfx}", uv, g[f"uv{sfx}"])  # f0 > 10 Hz on the golden f0: exact
        yield from fx.check_wave(f"hift/decode_out{sfx}", hift.decode(x, t(f"source{sfx}"), finalize), GOLDEN,
                                 f"decode_out{sfx}", GIVEN_SOURCE)

        def from_f0(f0: torch.Tensor) -> torch.Tensor:
            return hift.decode(x, hift.source(f0)[0], finalize)

        yield from fx.check_wave(f"hift/inference_speech{sfx} [golden f0]", from_f0(t(f"f0{sfx}")), GOLDEN,
                                 f"inference_speech{sfx}", GIVEN_F0, spread=measured_spread(from_f0, t(f"f0{sfx}")))
    speech, _ = hift.inference(mel, finalize)
    yield from fx.check_wave(f"hift/inference_speech{sfx}", speech, GOLDEN, f"inference_speech{sfx}", WAVEFORM)


def checks(fx: Fixture) -> Iterator[CheckResult]:
    if not fx.has(GOLDEN):
        return
    from ...checkpoints import normalize_hift_keys, read_state_dict
    from ...vocoder.causal_source import FixedExcitation

    g = fx.npz(GOLDEN)
    hift = load_hift3(fx)
    yield from _buffers(fx, hift, g)
    for finalize in (True, False):
        if ("f0" if finalize else "f0_stream") in g.files:
            yield from _one_call(fx, hift, g, finalize)
    mel = torch.from_numpy(np.ascontiguousarray(g["mel"]))
    if "inference_speech_zero_noise" in g.files:
        zeros = FixedExcitation.given(torch.zeros(1, 9), torch.zeros(1, mel.shape[2] * hift.upsample_factor, 9))
        speech0, _ = hift.inference(mel, True, excitation=zeros)
        yield from fx.check_wave("hift/inference_speech_zero_noise", speech0, GOLDEN, "inference_speech_zero_noise",
                                 WAVEFORM)
    for key in sorted(k for k in g.files if k.endswith("/n_frames")):
        pre = key.rsplit("/", 1)[0]
        speech, _ = hift.inference(mel[:, :, : int(g[key])], False)
        yield from fx.check_wave(f"hift/{pre}/speech", speech, GOLDEN, f"{pre}/speech", WAVEFORM)

    variants_dir = fx.model_dir / "hift_key_variants"
    if variants_dir.is_dir():
        base = hift.state_dict()
        for path in sorted(variants_dir.glob("*.pt")):
            sd = normalize_hift_keys(read_state_dict(path))
            same = sd.keys() == base.keys() and all(torch.equal(sd[k], base[k]) for k in base)
            yield equal(f"hift/key_variant {path.name} == hift.pt", same, True)
