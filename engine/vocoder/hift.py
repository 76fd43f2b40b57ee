"""HiFT vocoder (HiFTGenerator, 24 kHz): mel [1, 80, T] -> waveform [1, T * 480].

    mel ──► F0 predictor ──► f0 [T] ──nearest x480──► NSF source [T*480] ──STFT──┐
     │                                                                           │ (added at every
     └► conv_pre ─► (leaky_relu ─► upsample x8/x5/x3 ─► + source branch ─► mean of resblocks) x3
                 ─► leaky_relu ─► conv_post ─► exp(magnitude), sin(phase) ─► iSTFT ─► clamp

The network predicts a 16-point STFT (9 bins of log-magnitude + 9 of phase) at 1/4 of the sample
rate; the iSTFT (hop 4) gives the waveform. The harmonic source enters at every upsampling stage
through a strided conv of its own STFT ("source_downs") and a residual block.

Parameter names equal the official ``hift.pt`` keys in current torch weight-norm naming
(``parametrizations.weight.original0/1``); :func:`load_hift` also accepts the legacy
``weight_g/weight_v`` naming and a ``generator.`` prefix.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils.parametrizations import weight_norm

from ..checkpoints import load_into, normalize_hift_keys, read_state_dict
from ..config import HiFTConfig, ModelConfig
from ..errors import Cancelled, InputError
from ..rng import PortableRandom, Stream
from .f0 import ConvRNNF0Predictor
from .source import DrawnNoise, Excitation, SourceModuleHnNSF

HIFT_FILE = "hift.pt"
SNAKE_EPS = 1e-9  # keeps 1/alpha finite, as in the official Snake


def _same_padding(kernel_size: int, dilation: int = 1) -> int:
    return (kernel_size * dilation - dilation) // 2


class Snake(nn.Module):
    """x + sin^2(alpha * x) / alpha, one alpha per channel. x: [B, C, T]."""

    def __init__(self, channels: int):
        super().__init__()
        self.alpha = nn.Parameter(torch.ones(channels))

    def forward(self, x: Tensor) -> Tensor:
        alpha = self.alpha.view(1, -1, 1)
        inv_alpha = 1.0 / (alpha + SNAKE_EPS)
        # The official expression x + inv_alpha * sin(x * alpha)^2, evaluated with the same float ops
        # but in place on one temporary: Snake is a large share of HiFT's CPU time, most of it spent
        # allocating and touching fresh full-size tensors (profile: README, Performance).
        t = torch.mul(x, alpha).sin_().square_()
        return t.mul_(inv_alpha).add_(x)


class ResBlock(nn.Module):
    """HiFi-GAN residual block with Snake: per dilation d, x += conv(snake(conv_d(snake(x))))."""

    def __init__(self, channels: int, kernel_size: int, dilations: tuple[int, ...]):
        super().__init__()
        self.convs1 = nn.ModuleList(
            weight_norm(nn.Conv1d(channels, channels, kernel_size, 1, dilation=d,
                                  padding=_same_padding(kernel_size, d)))
            for d in dilations
        )
        self.convs2 = nn.ModuleList(
            weight_norm(nn.Conv1d(channels, channels, kernel_size, 1, padding=_same_padding(kernel_size)))
            for _ in dilations
        )
        self.activations1 = nn.ModuleList(Snake(channels) for _ in dilations)
        self.activations2 = nn.ModuleList(Snake(channels) for _ in dilations)

    def forward(self, x: Tensor) -> Tensor:
        for conv1, conv2, act1, act2 in zip(self.convs1, self.convs2, self.activations1, self.activations2):
            x = conv2(act2(conv1(act1(x)))).add_(x)  # in place on the fresh conv output
        return x


class HiFT(nn.Module):
    """The 24 kHz HiFTGenerator (non-causal, SineGen2 source) at the sizes of ``cfg``."""

    def __init__(self, cfg: HiFTConfig):
        super().__init__()
        self.cfg = cfg
        self.upsample_factor = cfg.upsample_factor  # waveform samples per mel frame (480)
        n_fft = cfg.istft_n_fft
        # Registration order follows the official module so state_dict() lists keys in the same order.
        self.m_source = SourceModuleHnNSF(
            sampling_rate=cfg.sampling_rate, upsample_scale=self.upsample_factor, harmonic_num=cfg.nb_harmonics,
            sine_amp=cfg.nsf_alpha, noise_std=cfg.nsf_sigma, voiced_threshold=cfg.nsf_voiced_threshold,
        )
        self.conv_pre = weight_norm(nn.Conv1d(cfg.in_channels, cfg.base_channels, 7, 1, padding=3))

        ch = cfg.base_channels
        self.ups = nn.ModuleList(
            weight_norm(nn.ConvTranspose1d(ch // 2**i, ch // 2 ** (i + 1), k, u, padding=(k - u) // 2))
            for i, (u, k) in enumerate(zip(cfg.upsample_rates, cfg.upsample_kernel_sizes))
        )

        # The source STFT runs at the final (pre-iSTFT) rate; stage i sees it downsampled by the product
        # of the upsample rates still to come (15, 3, 1 for [8, 5, 3]).
        rates_after = [int(np.prod(cfg.upsample_rates[i + 1:])) for i in range(len(cfg.upsample_rates))]
        self.source_downs = nn.ModuleList()
        self.source_resblocks = nn.ModuleList()
        for i, (down, k, d) in enumerate(zip(rates_after, cfg.source_resblock_kernel_sizes,
                                             cfg.source_resblock_dilation_sizes)):
            out_ch = ch // 2 ** (i + 1)
            if down == 1:
                self.source_downs.append(nn.Conv1d(n_fft + 2, out_ch, 1, 1))
            else:
                self.source_downs.append(nn.Conv1d(n_fft + 2, out_ch, down * 2, down, padding=down // 2))
            self.source_resblocks.append(ResBlock(out_ch, k, d))

        self.resblocks = nn.ModuleList(
            ResBlock(ch // 2 ** (i + 1), k, d)
            for i in range(len(self.ups))
            for k, d in zip(cfg.resblock_kernel_sizes, cfg.resblock_dilation_sizes)
        )
        self.conv_post = weight_norm(nn.Conv1d(ch // 2 ** len(self.ups), n_fft + 2, 7, 1, padding=3))
        self.f0_predictor = ConvRNNF0Predictor(cfg.f0)

    # ---------------------------------------------------------------------------------------------
    def _stft_window(self, device: torch.device) -> Tensor:
        # Periodic Hann computed in float64 then rounded, as scipy's get_window('hann', fftbins=True).
        n = self.cfg.istft_n_fft
        w = 0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(n) / n)
        return torch.from_numpy(w.astype(np.float32)).to(device)

    def f0(self, mel: Tensor) -> Tensor:
        """mel [B, 80, T] -> f0 [B, T] in Hz."""
        return self.f0_predictor(mel)

    def source(self, f0: Tensor, noise: Excitation | None = None) -> tuple[Tensor, Tensor]:
        """f0 [B, T] -> (source [B, 1, T*480], uv [B, 1, T*480]); ``noise`` as in :meth:`inference`."""
        f0_samples = F.interpolate(f0[:, None].float(), scale_factor=float(self.upsample_factor), mode="nearest")
        f0_samples = f0_samples.transpose(1, 2)  # [B, L, 1]
        batch, length, dim = f0_samples.shape[0], f0_samples.shape[1], self.m_source.dim
        # Without noise, a fresh seed-0 stream keeps the call deterministic and private.
        noise = noise if noise is not None else DrawnNoise(PortableRandom(0, Stream.HIFT_NOISE))
        rand_ini, randn = noise.take(batch, length, dim, f0.device)
        src, uv = self.m_source(f0_samples, rand_ini, randn)
        return src.transpose(1, 2), uv.transpose(1, 2)

    def decode(self, mel: Tensor, source: Tensor, should_stop: Callable[[], bool] | None = None) -> Tensor:
        """mel [B, 80, T] + source [B, 1, T*480] -> waveform [B, T*480] (no randomness).

        ``should_stop`` is asked after each upsampling stage (a long sentence's decode takes a second on a
        CPU); True raises :class:`~engine.errors.Cancelled`."""
        cfg = self.cfg
        n_fft, hop = cfg.istft_n_fft, cfg.istft_hop_len
        window = self._stft_window(mel.device)
        spec = torch.view_as_real(torch.stft(source.squeeze(1).float(), n_fft, hop, n_fft, window=window,
                                             return_complex=True))
        s_stft = torch.cat([spec[..., 0], spec[..., 1]], dim=1).to(mel.dtype)  # [B, n_fft + 2, L/hop + 1]

        # In-place ops below only ever touch tensors this function just created (inference only).
        x = self.conv_pre(mel)
        n_kernels = len(cfg.resblock_kernel_sizes)
        for i, up in enumerate(self.ups):
            x = up(F.leaky_relu(x, cfg.lrelu_slope, inplace=True))
            if i == len(self.ups) - 1:
                # One extra frame on the left so the frame count matches the source STFT (center=True).
                x = F.pad(x, (1, 0), mode="reflect")
            x = x.add_(self.source_resblocks[i](self.source_downs[i](s_stft)))
            xs = self.resblocks[i * n_kernels](x)
            for j in range(1, n_kernels):
                xs = xs.add_(self.resblocks[i * n_kernels + j](x))
            x = xs.div_(n_kernels)
            if should_stop is not None and should_stop():
                raise Cancelled("The vocoder was cancelled.")
        # NOTE the official code uses leaky_relu's default slope (0.01) here, not lrelu_slope.
        x = self.conv_post(F.leaky_relu(x, inplace=True)).float()

        n_bins = n_fft // 2 + 1
        magnitude = torch.exp(x[:, :n_bins]).clamp(max=1e2)
        phase = torch.sin(x[:, n_bins:])  # the official network bounds its phase with sin
        spec = torch.complex(magnitude * torch.cos(phase), magnitude * torch.sin(phase))
        wav = torch.istft(spec, n_fft, hop, n_fft, window=window)
        return wav.clamp(-cfg.audio_limit, cfg.audio_limit)

    @torch.inference_mode()
    def inference(self, mel: Tensor, cache_source: Tensor | None = None, *, noise: Excitation | None = None,
                  should_stop: Callable[[], bool] | None = None) -> tuple[Tensor, Tensor]:
        """mel [1, 80, T] -> (speech [1, T*480], source [1, 1, T*480]).

        cache_source [1, 1, S]: the previous chunk's last S source samples; they replace the first S
        samples of this call's source so the excitation continues without a glitch (streaming).
        Randomness: ``noise``, a :class:`HiftNoise` (explicit, the same on every call) or a :class:`DrawnNoise`
        (its stream advances: the next call gets fresh noise); without it a fresh seed-0 stream (so the result
        is deterministic). ``should_stop``: see :meth:`decode`.
        """
        if mel.dim() != 3 or mel.shape[1] != self.cfg.in_channels or mel.shape[2] < 1:
            raise InputError(
                f"HiFT expects a mel of shape [batch, {self.cfg.in_channels}, frames>=1], got {tuple(mel.shape)}."
            )
        mel = mel.to(self.conv_pre.bias.dtype)
        f0 = self.f0(mel)
        source, _ = self.source(f0, noise)
        if cache_source is not None and cache_source.shape[-1] > 0:
            n = cache_source.shape[-1]
            if n > source.shape[-1]:
                raise InputError(
                    f"cache_source has {n} samples but this chunk's source has only {source.shape[-1]}; "
                    "the chunk must be at least as long as the cache."
                )
            source = source.clone()
            source[:, :, :n] = cache_source.to(source)
        return self.decode(mel, source, should_stop), source


def build_hift(cfg: HiFTConfig, state_dict: dict[str, Tensor], device: str | torch.device = "cpu",
               dtype: torch.dtype = torch.float32) -> HiFT:
    """Build HiFT without a random init (meta device), then load ``state_dict`` strictly."""
    with torch.device("meta"):
        model = HiFT(cfg)
    # assign=True: the (memory-mapped) checkpoint tensors become the parameters, no second copy.
    load_into(model, normalize_hift_keys(state_dict), HIFT_FILE, assign=True)
    return model.to(device=device, dtype=dtype).eval().requires_grad_(False)


def load_hift(model_dir: str | Path, cfg: ModelConfig | HiFTConfig, device: str | torch.device = "cpu",
              dtype: torch.dtype = torch.float32) -> HiFT:
    """Load ``<model_dir>/hift.pt`` (any of the four key styles) into a HiFT built from ``cfg``."""
    hift_cfg = cfg.hift if isinstance(cfg, ModelConfig) else cfg
    return build_hift(hift_cfg, read_state_dict(Path(model_dir) / HIFT_FILE), device, dtype)
