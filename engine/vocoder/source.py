"""Neural-source-filter excitation of HiFT: f0 (Hz, per sample) -> one harmonic source signal.

``SineGen2`` is the 24 kHz sine generator of the official code (``sinegen_type='2'``, non-causal):
the fundamental and ``nb_harmonics`` overtones are integrated to phase at FRAME rate (the per-sample
frequency is linearly down-sampled by the upsample factor, cumulated, then linearly up-sampled
again), which keeps the phase smooth across frame boundaries. Unvoiced samples (f0 <= threshold)
get only noise. ``SourceModuleHnNSF`` merges the harmonics with one linear layer + tanh.

Randomness. The official code draws two things inside the network: a random initial phase per
harmonic (``torch.rand``, the fundamental's forced to 0) and additive Gaussian noise
(``torch.randn_like``). Here both come from the caller: an explicit :class:`HiftNoise` (what the
parity goldens use: the same values on every call) or a :class:`DrawnNoise` over a
:class:`~engine.rng.RandomSource` (a request's portable stream). Nothing touches the global RNG. (The official module also draws a third "noise branch" tensor that inference never
uses; it is not reproduced.)
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..errors import InputError
from ..rng import RandomSource


@dataclass(frozen=True)
class HiftNoise:
    """Explicit HiFT noise, laid out as the goldens save it.

    rand_ini:     [1, H+1] uniform initial phases in cycles; column 0 (the fundamental) is ignored
                  and treated as 0, as the official code forces it.
    randn_buffer: [1, N, H+1] standard normal; a call producing L samples uses ``[:, :L]`` (the SAME
                  prefix on every call), so N must be >= the longest call's L.
    """

    rand_ini: Tensor
    randn_buffer: Tensor

    @classmethod
    def zeros(cls, n_harmonics_total: int, max_samples: int) -> "HiftNoise":
        """No randomness at all: zero initial phases and zero additive noise."""
        return cls(torch.zeros(1, n_harmonics_total), torch.zeros(1, max_samples, n_harmonics_total))

    def take(self, batch: int, length: int, dim: int, device: torch.device) -> tuple[Tensor, Tensor]:
        """(rand_ini [batch, dim], randn [batch, length, dim]) as float32 on ``device``."""
        if self.rand_ini.shape[-1] != dim or self.randn_buffer.shape[-1] != dim:
            raise InputError(
                f"HiFT noise has {self.rand_ini.shape[-1]}/{self.randn_buffer.shape[-1]} harmonic columns but the "
                f"vocoder needs {dim} (nb_harmonics + 1). Build the noise for this model."
            )
        if self.randn_buffer.shape[1] < length:
            raise InputError(
                f"HiFT noise buffer holds {self.randn_buffer.shape[1]} samples but this call needs {length}. "
                "Pass a longer buffer or vocode shorter chunks."
            )
        rand_ini = self.rand_ini.reshape(-1, dim)[:1].to(device=device, dtype=torch.float32).expand(batch, dim)
        randn = self.randn_buffer[:1, :length].to(device=device, dtype=torch.float32).expand(batch, length, dim)
        return rand_ini, randn


class DrawnNoise:
    """HiFT noise drawn from ``rng`` on every call, in the official order (phases first, then the noise): a
    request's excitation (its portable stream advances, so consecutive calls get fresh noise)."""

    def __init__(self, rng: RandomSource):
        self.rng = rng

    def take(self, batch: int, length: int, dim: int, device: torch.device) -> tuple[Tensor, Tensor]:
        rand_ini = self.rng.uniform((batch, dim))
        randn = self.rng.normal((batch, length, dim))
        return rand_ini.to(device), randn.to(device)


Excitation = HiftNoise | DrawnNoise  # what HiFT.inference takes as ``noise``: fixed (parity) or drawn


class SineGen2(nn.Module):
    """``forward(f0 [B, L, 1], rand_ini [B, D], randn [B, L, D]) -> (sine_waves [B, L, D], uv [B, L, 1])``.

    D = harmonic_num + 1. No parameters; the module only holds the constants.
    """

    def __init__(self, sampling_rate: int, upsample_scale: int, harmonic_num: int, sine_amp: float,
                 noise_std: float, voiced_threshold: float):
        super().__init__()
        self.sampling_rate = sampling_rate
        self.upsample_scale = upsample_scale
        self.dim = harmonic_num + 1
        self.sine_amp = sine_amp
        self.noise_std = noise_std
        self.voiced_threshold = voiced_threshold

    def _harmonic_sines(self, f: Tensor, rand_ini: Tensor) -> Tensor:
        """f: [B, L, D] per-harmonic frequency (Hz) -> sin(phase) [B, L, D]."""
        # Phase increments in cycles per sample; the integer part never matters for a sine.
        rad = (f / self.sampling_rate) % 1
        rand_ini = rand_ini.clone()
        rand_ini[:, 0] = 0  # the fundamental starts at phase 0, only overtones get random phases
        rad[:, 0, :] = rad[:, 0, :] + rand_ini
        # Integrate at frame rate, then interpolate the phase back to samples (times the scale, since
        # each frame-rate increment stands for ``upsample_scale`` samples).
        rad = F.interpolate(rad.transpose(1, 2), scale_factor=1 / self.upsample_scale, mode="linear").transpose(1, 2)
        phase = torch.cumsum(rad, dim=1) * 2 * math.pi
        phase = F.interpolate(phase.transpose(1, 2) * self.upsample_scale, scale_factor=self.upsample_scale,
                              mode="linear").transpose(1, 2)
        return torch.sin(phase)

    def forward(self, f0: Tensor, rand_ini: Tensor, randn: Tensor) -> tuple[Tensor, Tensor]:
        harmonics = torch.arange(1, self.dim + 1, dtype=f0.dtype, device=f0.device).view(1, 1, self.dim)
        sine_waves = self._harmonic_sines(f0 * harmonics, rand_ini) * self.sine_amp
        uv = (f0 > self.voiced_threshold).to(f0.dtype)
        # Voiced samples get faint noise (noise_std); unvoiced ones noise about as loud as the sines.
        noise_amp = uv * self.noise_std + (1 - uv) * self.sine_amp / 3
        return sine_waves * uv + noise_amp * randn, uv


class SourceModuleHnNSF(nn.Module):
    """``forward(f0 [B, L, 1], rand_ini, randn) -> (source [B, L, 1], uv [B, L, 1])``.

    Keys: ``l_linear.{weight,bias}`` (the harmonic merge), as in the official checkpoint.
    """

    def __init__(self, sampling_rate: int, upsample_scale: int, harmonic_num: int, sine_amp: float,
                 noise_std: float, voiced_threshold: float):
        super().__init__()
        self.l_sin_gen = SineGen2(sampling_rate, upsample_scale, harmonic_num, sine_amp, noise_std, voiced_threshold)
        self.l_linear = nn.Linear(harmonic_num + 1, 1)

    @property
    def dim(self) -> int:
        return self.l_sin_gen.dim

    def forward(self, f0: Tensor, rand_ini: Tensor, randn: Tensor) -> tuple[Tensor, Tensor]:
        # The sine generator runs in fp32 whatever the model dtype: large phases lose too much in half.
        sine_waves, uv = self.l_sin_gen(f0.float(), rand_ini.float(), randn.float())
        merged = torch.tanh(self.l_linear(sine_waves.to(self.l_linear.weight.dtype)))
        return merged, uv
