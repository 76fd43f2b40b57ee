"""CosyVoice 3's NSF excitation: the causal ``SineGen2`` with its fixed noise buffers, computable in pieces.

The computation (official ``SineGen2(causal=True)`` + ``SourceModuleHnNSF``), per sample at 24 kHz:

    f0 frames --nearest x480--> f0(t); f_h = f0 * h (h = 1..9); rad = (f_h / 24000) % 1, + rand_ini at sample 0
    rad --linear /480--> per frame; phase = cumsum over frames * 2 pi --(x480, NEAREST x480)--> per sample
    sine = 0.1 sin(phase) * uv + noise_amp * sine_waves[t], uv = f0 > 10, noise_amp = 0.003 voiced, 0.1/3 not
    source = tanh(Linear(9 -> 1)(sine))

What CosyVoice 3 changed from CosyVoice 2 (:mod:`engine.vocoder.source`): the phase is held per frame
(nearest, not linear, up-sampling) and nothing is random at inference: ``rand_ini`` [1, 9] and ``sine_waves``
[1, 300 s * 24000, 9] are buffers drawn once with ``torch.rand`` while the official loader builds the model
(uniform in [0, 1), not zero-mean as the training noise is; kept, the released weights were evaluated with
it). :class:`FixedExcitation` replays that draw sequence on a private generator and draws the 259 MB
``sine_waves`` only as far as an utterance needs (the official code holds all of it). ``torch.rand`` on the
CPU is a serial integer computation, so the buffers are the same on every machine.

Pieces: the phase of frame i is a running sum over ALL frames before it (the official ``torch.cumsum`` of
fp32 accumulates in float64 on the CPU and rounds each output once; here it is computed in float64 on every
device). :meth:`CausalSineSource.forward` takes that sum before its first frame and the frame's absolute
index, so the source of frames [a, b) equals the official one of the whole utterance, sample for sample.
"""
from __future__ import annotations

import math
import threading

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..errors import InputError

BUFFER_WIDTH = 9  # the official buffers are rand(1, 9) / rand(1, 300*24000, 9), whatever nb_harmonics says
BUFFER_SAMPLES = 300 * 24000  # 300 s at 24 kHz: the longest call the official buffers allow
FLOW_NOISE_SHAPE = (1, 80, 15000)  # CausalConditionalCFM's rand_noise, drawn first after manual_seed(0)
_GROW = 24000 * 10  # sine_waves are drawn 10 s at a time


def _replay_loader_draws(g: torch.Generator, flow_vocab: int, flow_input: int, spk_dim: int, flow_output: int,
                         f0_in: int, f0_cond: int, f0_classes: int) -> None:
    """Consume what the official loader draws between ``manual_seed(0)`` (in CausalConditionalCFM) and the
    HiFT buffers: the CFM noise, the flow's embedding and speaker Linear, the causal f0 predictor's init."""
    cpu = torch.device("cpu")  # explicit: a caller may be building modules under torch.device("meta")
    torch.randn(FLOW_NOISE_SHAPE, generator=g, device=cpu)
    nn.init.normal_(torch.empty(flow_vocab, flow_input, device=cpu), generator=g)  # nn.Embedding

    def linear_like(out_f: int, in_f: int, *kernel: int) -> None:  # nn.Linear / nn.Conv1d reset_parameters
        w = torch.empty(out_f, in_f, *kernel, device=cpu)
        nn.init.kaiming_uniform_(w, a=math.sqrt(5), generator=g)
        bound = 1 / math.sqrt(in_f * math.prod(kernel)) if in_f else 0.0
        nn.init.uniform_(torch.empty(out_f, device=cpu), -bound, bound, generator=g)

    linear_like(flow_output, spk_dim)
    linear_like(f0_cond, f0_in, 4)
    for _ in range(4):
        linear_like(f0_cond, f0_cond, 3)
    linear_like(f0_classes, f0_cond)


class FixedExcitation:
    """``rand_ini`` [1, 9] and ``sine_waves`` [1, N, 9] as the official loader makes them (thread-safe).

    :meth:`official` replays the loader's draws (they depend on the flow's and f0 predictor's sizes, as the
    official buffers do); :meth:`given` wraps recorded buffers (the goldens). Read with :meth:`noise`."""

    def __init__(self, rand_ini: Tensor, sine_waves: Tensor, generator: torch.Generator | None = None):
        if rand_ini.shape != (1, BUFFER_WIDTH) or sine_waves.dim() != 3 or sine_waves.shape[2] != BUFFER_WIDTH:
            raise InputError(f"HiFT buffers must be [1, {BUFFER_WIDTH}] and [1, N, {BUFFER_WIDTH}]; got "
                             f"{tuple(rand_ini.shape)} and {tuple(sine_waves.shape)}.")
        self.rand_ini = rand_ini.float()
        self._waves = sine_waves.float()
        self._generator = generator  # continues the draw when more samples are needed (None: fixed length)
        self._lock = threading.Lock()

    @classmethod
    def official(cls, flow_vocab: int, flow_input: int, spk_dim: int, flow_output: int, f0_in: int, f0_cond: int,
                 f0_classes: int = 1) -> "FixedExcitation":
        g = torch.Generator().manual_seed(0)
        _replay_loader_draws(g, flow_vocab, flow_input, spk_dim, flow_output, f0_in, f0_cond, f0_classes)
        rand_ini = torch.rand(1, BUFFER_WIDTH, generator=g, device="cpu")
        rand_ini[:, 0] = 0
        return cls(rand_ini, torch.zeros(1, 0, BUFFER_WIDTH, device="cpu"), g)

    @classmethod
    def given(cls, rand_ini: Tensor, sine_waves: Tensor) -> "FixedExcitation":
        return cls(rand_ini, sine_waves)

    @property
    def available(self) -> int:
        return int(self._waves.shape[1])

    def noise(self, start: int, length: int) -> Tensor:
        """``sine_waves[:, start:start + length]`` [1, length, 9], drawing further samples when needed."""
        end = start + length
        if end > BUFFER_SAMPLES:
            raise InputError(f"One vocoder call would need {end / 24000:.0f} s of the fixed noise; CosyVoice 3 "
                             f"allows at most {BUFFER_SAMPLES // 24000} s per sentence. Split the text.")
        with self._lock:
            if end > self.available:
                if self._generator is None:
                    raise InputError(f"The recorded HiFT noise holds {self.available} samples; this call needs {end}.")
                n = min(BUFFER_SAMPLES, max(end, self.available + _GROW)) - self.available
                more = torch.rand(1, n, BUFFER_WIDTH, generator=self._generator, device="cpu")
                self._waves = torch.cat([self._waves, more], dim=1)
            return self._waves[:, start:end]

    def full_sha256(self) -> str:
        """SHA-256 of the whole official ``sine_waves`` buffer (draws all 259 MB once; for checks only)."""
        import hashlib

        self.noise(0, BUFFER_SAMPLES)
        return hashlib.sha256(self._waves.contiguous().numpy().tobytes()).hexdigest()


class CausalSineSource(nn.Module):
    """``m_source`` of CausalHiFTGenerator (key ``l_linear``): f0 frames -> excitation, piece by piece."""

    def __init__(self, sampling_rate: int, upsample_scale: int, harmonic_num: int, sine_amp: float,
                 noise_std: float, voiced_threshold: float):
        super().__init__()
        if harmonic_num + 1 != BUFFER_WIDTH:
            raise InputError(f"CosyVoice 3's vocoder has {BUFFER_WIDTH - 1} overtones (its noise buffers are "
                             f"{BUFFER_WIDTH} wide); the config asks for {harmonic_num}.")
        self.sampling_rate, self.upsample_scale = sampling_rate, upsample_scale
        self.dim, self.sine_amp, self.noise_std = harmonic_num + 1, sine_amp, noise_std
        self.voiced_threshold = voiced_threshold
        self.l_linear = nn.Linear(harmonic_num + 1, 1)

    def _rad_frames(self, f0: Tensor, first_frame: int, excitation: FixedExcitation) -> tuple[Tensor, Tensor]:
        """(f0 per sample [1, L, 1], phase increments per frame [1, n, 9] in cycles), the official way."""
        up = self.upsample_scale
        f0_up = F.interpolate(f0[:, None].float(), scale_factor=up, mode="nearest").transpose(1, 2)  # [1, L, 1]
        harmonics = torch.arange(1, self.dim + 1, dtype=torch.float32, device=f0.device).view(1, 1, self.dim)
        rad = (f0_up * harmonics / self.sampling_rate) % 1
        if first_frame == 0:
            rad[:, 0, :] = rad[:, 0, :] + excitation.rand_ini.to(rad.device)
        rad = F.interpolate(rad.transpose(1, 2), scale_factor=1 / up, mode="linear").transpose(1, 2)
        return f0_up, rad

    def frame_increments(self, f0: Tensor, first_frame: int, excitation: FixedExcitation) -> Tensor:
        """The per-frame phase increments [1, n, 9] (cycles) of f0 frames first_frame.. (to carry a phase)."""
        return self._rad_frames(f0, first_frame, excitation)[1]

    def forward(self, f0: Tensor, first_frame: int, phase_before: Tensor, excitation: FixedExcitation
                ) -> tuple[Tensor, Tensor, Tensor]:
        """f0 [1, n] (Hz, frames first_frame..first_frame+n-1); ``phase_before`` float64 [1, 9]: the sum of the
        per-frame phase increments (cycles) of every earlier frame (zeros at frame 0).

        Returns (source [1, 1, n·480], uv [1, 1, n·480], running sums float64 [1, n, 9] including each frame)."""
        up = self.upsample_scale
        f0_up, rad = self._rad_frames(f0, first_frame, excitation)
        sums = torch.cumsum(torch.cat([phase_before.to(rad.device, torch.float64)[:, None], rad.double()], dim=1),
                            dim=1)[:, 1:]
        phase = sums.float() * 2 * np.pi
        phase = F.interpolate(phase.transpose(1, 2) * up, scale_factor=up, mode="nearest").transpose(1, 2)
        sines = torch.sin(phase) * self.sine_amp
        uv = (f0_up > self.voiced_threshold).type(torch.float32)
        noise_amp = uv * self.noise_std + (1 - uv) * self.sine_amp / 3
        noise = noise_amp * excitation.noise(first_frame * up, f0_up.shape[1]).to(sines.device)
        sine_waves = sines * uv + noise
        source = torch.tanh(self.l_linear(sine_waves.to(self.l_linear.weight.dtype)))
        return source.transpose(1, 2), uv.transpose(1, 2), sums
