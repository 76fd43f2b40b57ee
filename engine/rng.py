"""Random numbers: the engine's own (the same on every machine) and the official code's (for parity).

Every random draw of the engine goes through a :class:`RandomSource`, an object with three methods:

* ``uniform(shape)``  -> float32 tensor in [0, 1)
* ``normal(shape)``   -> float32 tensor, standard normal
* ``categorical(p)``  -> int, an index drawn with probability ``p[i] / sum(p)``

Two implementations:

* :class:`PortableRandom` - what a request uses. A counter-based Philox4x32-10 generator computed with
  integer numpy operations, so the raw bits of ``(seed, stream)`` are identical on x86, ARM and CUDA
  machines, whatever torch's CPU dispatch (``torch.randn`` itself returns other numbers under
  ``ATEN_CPU_CAPABILITY=default`` than under AVX2/AVX-512, and CUDA's generator is another algorithm).
  Uniforms are exact functions of the bits; normals use Box-Muller in float64 rounded to float32 and
  categorical draws an inverse CDF in float64, so across machines they can differ only where a float64
  libm rounding lands next to a float32 boundary (takes differ by float rounding, never by a reseed).
* :class:`TorchRandom` - the official code's draws on a ``torch.Generator`` (``torch.rand``,
  ``torch.randn``, ``torch.multinomial``), bit-compatible with the reference after ``torch.manual_seed``.
  Only the parity path and the reference's fixed flow noise use it.

Streams: one request seed drives several independent purposes (:class:`Stream`), so the LM's tokens do not
depend on how often the vocoder drew noise.
"""
from __future__ import annotations

import enum
import math
from typing import Protocol, Sequence

import numpy as np
import torch
from torch import Tensor

from .errors import GenerationError, InputError

SEED_LIMIT = 1 << 64  # seeds are unsigned 64-bit: the Philox key


class RandomSource(Protocol):
    """Where a random draw comes from (see the module docstring)."""

    def uniform(self, shape: Sequence[int]) -> Tensor: ...

    def normal(self, shape: Sequence[int]) -> Tensor: ...

    def categorical(self, probs: Tensor) -> int: ...


class Stream(enum.IntEnum):
    """Independent random streams of one request seed (the Philox counter's high word)."""

    SAMPLER = 1     # the LM's token draws
    FLOW_NOISE = 2  # the flow's initial noise (one buffer per request)
    HIFT_NOISE = 3  # HiFT's harmonic phases and additive noise
    WEIGHTS = 4     # random model weights (engine.tiny)


def check_seed(seed: object) -> int:
    """A seed as an int in [0, 2**64), or :class:`InputError` saying what a seed may be."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise InputError(f"A seed must be a whole number, got {seed!r}.")
    seed = int(seed)
    if not 0 <= seed < SEED_LIMIT:
        raise InputError(f"A seed must be between 0 and 2**64 - 1, got {seed}.")
    return seed


# -------------------------------------------------------------------------------------------------
# Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3", SC 2011)
# -------------------------------------------------------------------------------------------------
_M0, _M1 = np.uint64(0xD2511F53), np.uint64(0xCD9E8D57)
_W0, _W1 = 0x9E3779B9, 0xBB67AE85
_MASK32 = np.uint64(0xFFFFFFFF)
_SHIFT32 = np.uint64(32)


def philox4x32(counter: Sequence[np.ndarray | int], key: tuple[int, int], rounds: int = 10) -> np.ndarray:
    """Philox4x32 of counters (four uint32 words, each an array [N] or a number) under ``key`` -> ``[N, 4]`` uint32.

    Integer arithmetic only (32x32 -> 64-bit products, xor, masks), so every platform gives the same bits;
    computed in place on four word arrays (this runs for every HiFT call).
    """
    n = max(np.size(w) for w in counter)
    c0, c1, c2, c3 = (np.broadcast_to(np.asarray(w, dtype=np.uint64), (n,)).copy() for w in counter)
    p0, p1 = np.empty(n, np.uint64), np.empty(n, np.uint64)
    k0, k1 = key
    for r in range(rounds):
        if r:
            k0, k1 = (k0 + _W0) & 0xFFFFFFFF, (k1 + _W1) & 0xFFFFFFFF
        np.multiply(c0, _M0, out=p0)
        np.multiply(c2, _M1, out=p1)
        # (c0, c1, c2, c3) <- (hi(p1) ^ c1 ^ k0, lo(p1), hi(p0) ^ c3 ^ k1, lo(p0))
        np.right_shift(p1, _SHIFT32, out=c0)
        c0 ^= c1
        c0 ^= np.uint64(k0)
        np.right_shift(p0, _SHIFT32, out=c2)
        c2 ^= c3
        c2 ^= np.uint64(k1)
        np.bitwise_and(p1, _MASK32, out=c1)
        np.bitwise_and(p0, _MASK32, out=c3)
    return np.stack([c0, c1, c2, c3], axis=1).astype(np.uint32)


class PortableRandom:
    """Platform-independent draws for one ``(seed, stream)``; each draw advances the stream.

    Block ``i`` of the stream is ``philox4x32((i_lo, i_hi, 0, stream), key=(seed_lo, seed_hi))``: four
    32-bit words. A draw takes whole blocks (the unused words of its last block are skipped), so the numbers
    of a draw depend only on the seed, the stream and the sizes of the draws before it.
    """

    def __init__(self, seed: int, stream: Stream | int = 0):
        seed = check_seed(seed)
        self.key = (seed & 0xFFFFFFFF, seed >> 32)
        self.stream = int(stream)
        self.blocks_used = 0

    def words(self, n: int) -> np.ndarray:
        """The next ``n`` raw uint32 words."""
        n_blocks = -(-n // 4)
        index = np.arange(self.blocks_used, self.blocks_used + n_blocks, dtype=np.uint64)
        self.blocks_used += n_blocks
        counter = (index & _MASK32, index >> _SHIFT32, 0, self.stream)
        return philox4x32(counter, self.key).reshape(-1)[:n]

    def uniform(self, shape: Sequence[int]) -> Tensor:
        """float32 in [0, 1): the top 24 bits of a word times 2**-24 (exact in float32)."""
        n = math.prod(shape)
        u = (self.words(n) >> np.uint32(8)).astype(np.float32) * np.float32(2.0**-24)
        return torch.from_numpy(u.reshape(tuple(shape)))

    def normal(self, shape: Sequence[int]) -> Tensor:
        """float32 standard normals: Box-Muller on pairs of words, in float64, rounded once."""
        n = math.prod(shape)
        w = self.words(2 * (-(-n // 2))).astype(np.float64).reshape(-1, 2)
        u1 = (w[:, 0] + 1.0) * 2.0**-32  # (0, 1]: log never sees 0
        theta = (2.0 * np.pi * 2.0**-32) * w[:, 1]
        radius = np.sqrt(-2.0 * np.log(u1))
        z = np.stack([radius * np.cos(theta), radius * np.sin(theta)], axis=1).reshape(-1)[:n]
        return torch.from_numpy(z.astype(np.float32).reshape(tuple(shape)))

    def categorical(self, probs: Tensor) -> int:
        """Index ``i`` with probability ``probs[i] / sum(probs)`` (inverse CDF of a 53-bit uniform)."""
        p = probs.detach().to("cpu", torch.float64).reshape(-1).numpy()
        cdf = np.cumsum(p)
        total = float(cdf[-1]) if cdf.size else 0.0
        if not (math.isfinite(total) and total > 0.0) or bool(np.any(p < 0)):
            raise GenerationError("The LM produced probabilities that are not finite or all zero (its weights "
                                  "may be damaged); check the model folder or download the model again.")
        hi, lo = (int(x) for x in self.words(2))
        u = ((hi >> 5) * 67108864 + (lo >> 6)) * 2.0**-53  # [0, 1) with 53 bits
        return min(int(np.searchsorted(cdf, u * total, side="right")), p.size - 1)


class TorchRandom:
    """The official code's draws on ``generator`` (platform-dependent: see the module docstring)."""

    def __init__(self, generator: torch.Generator):
        self.generator = generator

    @classmethod
    def seeded(cls, seed: int, device: str | torch.device = "cpu") -> "TorchRandom":
        """A fresh generator after ``manual_seed(seed)``: what ``torch.manual_seed(seed)`` gives the reference."""
        return cls(torch.Generator(device=device).manual_seed(int(seed)))

    def uniform(self, shape: Sequence[int]) -> Tensor:
        return torch.rand(tuple(shape), generator=self.generator, device=self.generator.device)

    def normal(self, shape: Sequence[int]) -> Tensor:
        return torch.randn(tuple(shape), generator=self.generator, device=self.generator.device)

    def categorical(self, probs: Tensor) -> int:
        return int(torch.multinomial(probs, 1, replacement=True, generator=self.generator).item())


__all__ = ["PortableRandom", "RandomSource", "SEED_LIMIT", "Stream", "TorchRandom", "check_seed", "philox4x32"]
