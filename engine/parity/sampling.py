"""Parity of the speech-token samplers with ``goldens/sampling.npz``.

Each case holds scores, decoded tokens and the seed the reference passed to
``torch.manual_seed`` right before calling ``ras_sampling`` / ``nucleus_sampling``. We seed a
private ``torch.Generator`` with the same value (:class:`~engine.rng.TorchRandom`: the official draws)
and must draw the same token.
"""
from __future__ import annotations

from typing import Iterator

import torch

from . import CheckResult, Fixture, compare
from ..llm.sampling import nucleus_sampling, ras_sampling
from ..rng import TorchRandom

GOLDEN = "sampling.npz"


def _cases(z) -> list[str]:
    names = {k.split("/", 1)[0] for k in z.files if k.endswith("/weighted_scores")}
    return sorted(names, key=lambda n: (len(n), n))


def checks(fx: Fixture) -> Iterator[CheckResult]:
    if not fx.has(GOLDEN):
        return
    z = fx.npz(GOLDEN)
    # The goldens were drawn with the README's explicit parameters (the yaml's values).
    kw = dict(top_p=0.8, top_k=25, win_size=10, tau_r=0.1)
    for case in _cases(z):
        scores = torch.from_numpy(z[f"{case}/weighted_scores"].copy())
        decoded = [int(t) for t in z[f"{case}/decoded_tokens"]]
        seed = int(z[f"{case}/torch_manual_seed"])
        if f"{case}/ras_sampling_out" in z.files:
            got = ras_sampling(scores, decoded, TorchRandom.seeded(seed), **kw)
            yield compare(f"sampling/{case}/ras_sampling_out", got, z[f"{case}/ras_sampling_out"])
        if f"{case}/nucleus_sampling_out" in z.files:
            got = nucleus_sampling(scores, TorchRandom.seeded(seed), top_p=kw["top_p"], top_k=kw["top_k"])
            yield compare(f"sampling/{case}/nucleus_sampling_out", got, z[f"{case}/nucleus_sampling_out"])
