"""Conditional flow matching sampler (CosyVoice 2 ``CausalConditionalCFM`` at inference).

Euler integration of dx/dt = v(x, t) from noise (t=0) to mel (t=1) on the cosine schedule
``t_k = 1 - cos(k/n · π/2)``, n = 10 steps. Classifier-free guidance runs the estimator on a batch of two:
row 0 with the conditions (mu, speaker, prompt mel), row 1 with all three zeroed, and mixes
``v = (1 + w)·v_cond - w·v_uncond`` (w = 0.7).

The noise is an argument: the reference draws ``torch.randn([1, 80, 15000])`` once after seeding 0 and uses
its prefix on every call; :func:`official_noise` rebuilds that tensor from a private generator.
The streaming variant :meth:`CFM.solve_chunk` integrates only the new frames, keeping one
:class:`EstimatorCache` per ODE step.
"""
from __future__ import annotations

import hashlib
import math
from concurrent.futures import Future, wait
from functools import lru_cache
from typing import Callable, Protocol

import torch
from torch import Tensor, nn

from ..config import CFMConfig, EstimatorConfig
from ..errors import Cancelled
from ..rng import TorchRandom
from .decoder import CausalConditionalDecoder, EstimatorCache
from .kv_history import KVStorage, frame_bytes

OFFICIAL_NOISE_FRAMES = 15000  # 50 frames/s x 300 s, as the reference allocates

# A cancel hook: called before every Euler step and between the estimator's stages; True stops the solve with
# :class:`Cancelled`. One estimator pass over a long sentence takes up to a second at full size on a CPU (the
# whole 10-step solve several), so checking inside the pass is what keeps cancelling responsive.
ShouldStop = Callable[[], bool]

# How the two classifier-free-guidance rows (0: conditioned, 1: unconditioned) go through the estimator: as one
# batch of two (fewest kernel calls: GPUs, one CPU thread), or as two calls of one row, which need not wait for
# each other within an ODE step, so they can run on two CPU threads at once (:meth:`CFM.solve_chunk`'s
# ``helper``). Two single-thread calls can beat one two-thread call on a CPU (measured: README, Performance), and
# they keep every operation's thread count fixed, so the result does not depend on which thread ran a row. A
# stream state's caches follow its layout.
BATCH_ROWS: tuple[tuple[int, int], ...] = ((0, 2),)
SPLIT_ROWS: tuple[tuple[int, int], ...] = ((0, 1), (1, 2))


class Submitter(Protocol):
    """Runs a call on another thread (a ``concurrent.futures.Executor`` or :class:`engine.decode_ahead.FlowLane`)."""

    def submit(self, fn: Callable, /, *args) -> Future: ...


# Where the second row group may run, asked before every ODE step: a Submitter with a free thread, or None (run
# it here, after the first).
Helper = Callable[[], "Submitter | None"]


@lru_cache(maxsize=1)
def official_noise() -> Tensor:
    """The reference's fixed CFM noise: seed 0, ``randn([1, 80, 15000])`` (drawn from a private generator).

    This is torch's own normal generator, so its numbers depend on the CPU dispatch (see :mod:`engine.rng`);
    only the parity path uses it. A request's noise comes from its portable stream."""
    return TorchRandom.seeded(0).normal([1, 80, OFFICIAL_NOISE_FRAMES])


def tensor_sha256(t: Tensor) -> bytes:
    """SHA-256 of the tensor's raw bytes (any dtype: bf16 has no numpy type, so its bytes are hashed)."""
    raw = t.detach().cpu().contiguous().reshape(-1).view(torch.uint8)
    return hashlib.sha256(raw.numpy().tobytes()).digest()


def t_schedule(n_timesteps: int, scheduler: str, dtype=torch.float32) -> Tensor:
    """[n+1] time points; 'cosine' bends them towards t=0 where the flow changes fastest."""
    t = torch.linspace(0, 1, n_timesteps + 1, dtype=dtype)
    if scheduler == "cosine":
        t = 1 - torch.cos(t * 0.5 * math.pi)
    return t


def euler_times(t_span: Tensor) -> list[tuple[Tensor, Tensor]]:
    """(t, dt) of every Euler step, accumulated exactly as the reference does (t += dt; dt = t_next - t)."""
    steps = []
    t, dt = t_span[0:1], t_span[1] - t_span[0]
    for k in range(1, len(t_span)):
        steps.append((t, dt))
        t = t + dt
        if k < len(t_span) - 1:
            dt = t_span[k + 1] - t
    return steps


class CFM(nn.Module):
    """Holds the estimator (keys ``estimator.*``) and integrates the ODE."""

    def __init__(self, cfg: CFMConfig, estimator_cfg: EstimatorConfig):
        super().__init__()
        self.cfg = cfg
        self.estimator = CausalConditionalDecoder(estimator_cfg)

    def step_inputs(self, dtype=torch.float32) -> list[tuple[Tensor, Tensor, Tensor]]:
        """Per Euler step: (t [2], dt, time embedding [2, D]); the same on every call, so computed once per call."""
        out = []
        for t, dt in euler_times(t_schedule(self.cfg.n_timesteps, self.cfg.t_scheduler)):
            t2 = t.expand(2).to(dtype)
            out.append((t2, dt.to(dtype), self.estimator.time_embedding(t2)))
        return out

    def history_frame_bytes(self, storage: KVStorage, dtype: torch.dtype) -> int:
        """Bytes a stream's estimator caches hold per mel frame: every attention layer's keys and values for
        every ODE step and both guidance rows (4.6 MB in fp32 at the official CosyVoice 2 size)."""
        return frame_bytes(self.estimator, storage, dtype, rows=2, steps=self.cfg.n_timesteps)

    def _cfg_batch(self, mu: Tensor, spks: Tensor, cond: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        zero = torch.zeros_like
        return torch.cat([mu, zero(mu)]), torch.cat([spks, zero(spks)]), torch.cat([cond, zero(cond)])

    def _guide(self, v: Tensor) -> Tensor:
        w = self.cfg.inference_cfg_rate
        return (1.0 + w) * v[:1] - w * v[1:]

    def solve(self, noise: Tensor, mu: Tensor, spks: Tensor, cond: Tensor, streaming: bool, *,
              should_stop: ShouldStop | None = None) -> Tensor:
        """noise, mu, cond: [1, 80, T]; spks: [1, 80]. Returns the mel [1, 80, T].

        ``should_stop`` (optional) is asked before every Euler step; True raises :class:`Cancelled`."""
        return self.solve_chunk(noise, mu, spks, cond, None, streaming, keep_cache=False,
                                should_stop=should_stop)[0]

    def solve_chunk(self, noise: Tensor, mu: Tensor, spks: Tensor, cond: Tensor,
                    caches: tuple[tuple[EstimatorCache, ...], ...] | None, streaming: bool = True,
                    keep_cache: bool = True, *, should_stop: ShouldStop | None = None,
                    rows: tuple[tuple[int, int], ...] = BATCH_ROWS, helper: Helper | None = None,
                    kv_storage: KVStorage = KVStorage.EXACT
                    ) -> tuple[Tensor, tuple[tuple[EstimatorCache, ...], ...] | None]:
        """Integrate the new frames (those after the caches' ``frames``) given the caches of every step.

        Because the estimator is causal/chunk-causal, the trajectory of earlier frames never depends on later
        ones, so earlier frames' per-step states can be kept instead of recomputed. ``caches[k][g]``: ODE step
        k, row group g of ``rows`` (:data:`BATCH_ROWS` or :data:`SPLIT_ROWS`; a stream keeps one layout).
        ``helper``: with split rows, where the unconditioned row may run meanwhile (see :data:`Helper`).
        ``kv_storage``: how caches started here keep keys/values (:mod:`engine.flow.kv_history`).
        ``should_stop`` as in :meth:`solve` (a cancelled solve returns nothing; the caller's caches are
        untouched values)."""
        mu2, spks2, cond2 = self._cfg_batch(mu, spks, cond)
        x = noise
        new_caches = []
        for k, (t2, dt, time_emb) in enumerate(self.step_inputs(mu.dtype)):
            if should_stop is not None and should_stop():
                raise Cancelled(f"The flow was cancelled before ODE step {k + 1} of {self.cfg.n_timesteps}.")
            x2 = x.expand(2, -1, -1)
            step_caches = caches[k] if caches else (None,) * len(rows)

            def velocity(g: int, x2=x2, time_emb=time_emb, step_caches=step_caches):
                a, b = rows[g]
                return self.estimator.forward_chunk(x2[a:b], mu2[a:b], time_emb[a:b], spks2[a:b], cond2[a:b],
                                                    step_caches[g], streaming, keep_cache, should_stop, kv_storage)

            out = _run_groups(velocity, len(rows), helper)
            v = out[0][0] if len(out) == 1 else torch.cat([o[0] for o in out])
            x = x + dt * self._guide(v)
            new_caches.append(tuple(o[1] for o in out))
        return x, (tuple(new_caches) if keep_cache else None)


def _run_groups(velocity: Callable[[int], tuple], n: int, helper: Helper | None) -> list[tuple]:
    """velocity(g) for g = 0..n-1; the last group on the helper's thread when one is free, else in turn."""
    executor = helper() if helper is not None and n > 1 else None
    if executor is None:
        return [velocity(g) for g in range(n)]
    future = executor.submit(velocity, n - 1)
    try:
        first = [velocity(g) for g in range(n - 1)]
    finally:
        wait([future])  # never leave it running, also when this thread's part raised
    return first + [future.result()]  # re-raises what the helper raised (e.g. Cancelled)
