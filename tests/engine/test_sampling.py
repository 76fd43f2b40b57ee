"""Samplers: bit-exact with the official ones (TorchRandom), and reproducible from a caller's random source."""
from __future__ import annotations

import torch

from engine.llm.sampling import make_ras_sampler, nucleus_sampling, random_sampling, ras_sampling
from engine.config import SamplingConfig
from engine.rng import PortableRandom, TorchRandom


def test_sampling_parity(stage_parity):
    stage_parity("sampling")


def _scores(seed: int = 0, n: int = 6564) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(n, generator=g) * 3).log_softmax(0)


def test_same_seed_same_draws_and_scores_untouched():
    scores = _scores()
    before = scores.clone()
    decoded = [1, 2, 3]
    a = [ras_sampling(scores, decoded, g) for g in [TorchRandom.seeded(5)] for _ in range(20)]
    b = [ras_sampling(scores, decoded, g) for g in [TorchRandom.seeded(5)] for _ in range(20)]
    assert a == b
    assert torch.equal(scores, before)


def test_nucleus_stays_in_top_k():
    scores = _scores(1)
    top = set(scores.topk(5).indices.tolist())
    g = PortableRandom(0)
    draws = {nucleus_sampling(scores, g, top_p=1.0, top_k=5) for _ in range(200)}
    assert draws <= top and len(draws) > 1


def test_nucleus_top_p_cut_includes_the_crossing_token():
    # probabilities 0.5, 0.3, 0.2: top_p 0.6 keeps the first two (0.5 < 0.6, then 0.8 >= 0.6)
    scores = torch.tensor([0.5, 0.3, 0.2]).log()
    g = PortableRandom(0)
    draws = {nucleus_sampling(scores, g, top_p=0.6, top_k=25) for _ in range(300)}
    assert draws == {0, 1}


def test_ras_bans_a_repeated_token():
    # one dominant token that was just repeated: the fallback must draw something else
    scores = torch.full((100,), -10.0)
    scores[7] = 10.0
    scores = scores.log_softmax(0)
    g = PortableRandom(0)
    assert nucleus_sampling(scores, g) == 7
    assert ras_sampling(scores, [7] * 10, g) != 7
    assert ras_sampling(scores, [1, 2, 3], g) == 7


def test_random_sampling_never_draws_banned():
    scores = torch.zeros(10)
    scores[3] = -float("inf")
    g = PortableRandom(0)
    assert 3 not in {random_sampling(scores, g) for _ in range(200)}


def test_make_ras_sampler_uses_config():
    sampler = make_ras_sampler(SamplingConfig(top_p=1.0, top_k=1, win_size=10, tau_r=0.1))
    scores = _scores(2)
    best = int(scores.argmax())
    assert sampler(scores, [], PortableRandom(0)) == best
