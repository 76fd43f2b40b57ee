"""Speech-token samplers of CosyVoice 2, bit-compatible with the official ones.

All samplers have the signature ``sampler(scores, decoded_tokens, rng) -> int`` where
``scores`` [V] are log-probabilities (the LM applies ``log_softmax`` and masks EOS first),
``decoded_tokens`` are the tokens produced so far and ``rng`` is the caller's
:class:`~engine.rng.RandomSource` (no global RNG). The draws go through ``rng.categorical`` in the
official order: the same softmax, the same *stable* descending sort, then one categorical draw per
``multinomial(1, replacement=True)`` of the official code. With a :class:`~engine.rng.TorchRandom`
after ``manual_seed`` they are exactly the official draws; a request's
:class:`~engine.rng.PortableRandom` gives the same tokens on every machine. Samplers never modify
``scores``.
"""
from __future__ import annotations

from typing import Callable, Sequence

import numpy as np
from torch import Tensor

from ..config import SamplingConfig
from ..rng import RandomSource

Sampler = Callable[[Tensor, Sequence[int], RandomSource], int]

__all__ = ["Sampler", "nucleus_sampling", "random_sampling", "ras_sampling", "make_ras_sampler"]


def nucleus_sampling(scores: Tensor, rng: RandomSource, top_p: float = 0.8, top_k: int = 25) -> int:
    """Sample among the most likely tokens: at most ``top_k`` of them, stopping once their
    cumulated probability reaches ``top_p`` (the token that crosses ``top_p`` is included)."""
    probs, order = scores.softmax(dim=0).sort(descending=True, stable=True)
    head = probs[:top_k].tolist()
    # The official loop adds fp32 tensors one at a time; accumulate in fp32 the same way so the
    # cut-off lands on the same token even when the sum grazes top_p.
    cum, limit, n = np.float32(0.0), np.float32(top_p), 0
    while n < len(head) and cum < limit:
        cum = np.float32(cum + np.float32(head[n]))
        n += 1
    return int(order[rng.categorical(probs[:n].contiguous())].item())


def random_sampling(scores: Tensor, rng: RandomSource) -> int:
    """Sample from the full distribution softmax(scores)."""
    return rng.categorical(scores.softmax(dim=0))


def ras_sampling(scores: Tensor, decoded_tokens: Sequence[int], rng: RandomSource, *,
                 top_p: float = 0.8, top_k: int = 25, win_size: int = 10, tau_r: float = 0.1) -> int:
    """Repetition-aware sampling (CosyVoice 2 paper, sec. 2.4 / VALL-E 2).

    Nucleus-sample a token; if it already occurs at least ``win_size * tau_r`` times among the
    last ``win_size`` decoded tokens, draw again from the full distribution with that token
    banned. This breaks the loops a purely greedy/nucleus decoder falls into.
    """
    token = nucleus_sampling(scores, rng, top_p=top_p, top_k=top_k)
    repeats = sum(1 for t in decoded_tokens[-win_size:] if t == token) if win_size > 0 else 0
    if repeats >= win_size * tau_r:
        banned = scores.clone()
        banned[token] = -float("inf")
        token = random_sampling(banned, rng)
    return token


def make_ras_sampler(cfg: SamplingConfig) -> Sampler:
    """``ras_sampling`` with the parameters of ``cosyvoice2.yaml``."""

    def sampler(scores: Tensor, decoded_tokens: Sequence[int], rng: RandomSource) -> int:
        return ras_sampling(scores, decoded_tokens, rng, top_p=cfg.top_p, top_k=cfg.top_k,
                            win_size=cfg.win_size, tau_r=cfg.tau_r)

    return sampler
