"""CosyVoice 3's vocoder (``CausalHiFTGenerator``, 24 kHz): mel [1, 80, T] -> waveform, causal and look-ahead bounded.

The HiFT of CosyVoice 2 (:mod:`engine.vocoder.hift`) made causal: every convolution pads on the left only,
except ``conv_pre`` (kernel 5) and the f0 predictor's first convolution (kernel 4), which look 4 and 3 frames
ahead; the up-sampling layers are nearest repetition + a causal convolution; the source enters through causal
strided convolutions. With ``finalize=False`` the look-ahead comes from real frames instead of zeros, so a
call over T frames returns (T - 8) x 480 samples (3 frames for the f0 predictor, 4 for conv_pre, 1 for the
iSTFT tail) that a longer call would reproduce; ``finalize=True`` pads with zeros and returns T x 480.

Official behaviour kept:
* the f0 predictor runs in float64 (the official ``inference`` converts it to float64 on the first call and
  keeps it so: the module changes state when used). Here its weights stay fp32 and a float64 copy is used
  for every call from the first one, so a call's result never depends on whether it is the first.
* the fixed excitation buffers (:class:`~engine.vocoder.causal_source.FixedExcitation`): no randomness.
* ``leaky_relu`` before ``conv_post`` with the default slope 0.01, the ``sin`` bound on the phase, magnitudes
  clipped at 1e2, output clamped at ``audio_limit``.

Parameter names equal the official ``hift.pt`` keys (weight-norm in current naming; :func:`load_causal_hift`
accepts every key style :func:`~engine.checkpoints.normalize_hift_keys` knows).
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.func import functional_call
from torch.nn.utils.parametrizations import weight_norm

from ..checkpoints import check_fits, load_into, normalize_hift_keys, read_state_dict
from ..config import CausalHiFTConfig, CosyVoice3Config, F0PredictorConfig
from ..errors import Cancelled, InputError
from .causal_source import CausalSineSource, FixedExcitation
from .hift import HIFT_FILE, ResBlock, Snake

F0_LOOKAHEAD = 3  # the f0 predictor's first convolution: kernel 4, right-padded (hard-coded officially)


class CausalConv1d(nn.Conv1d):
    """Conv1d padded on one side by ``(kernel - 1) * dilation`` zeros, or by ``context`` (real frames) instead.

    ``side='left'``: output t sees inputs t-pad..t (causal). ``side='right'``: inputs t..t+pad (look-ahead);
    ``context`` are then the frames after ``x``."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, dilation: int = 1, side: str = "left"):
        super().__init__(in_channels, out_channels, kernel_size, dilation=dilation)
        self.pad, self.side = (kernel_size - 1) * dilation, side

    def forward(self, x: Tensor, context: Tensor | None = None) -> Tensor:  # type: ignore[override]
        if context is None:
            context = x.new_zeros(x.size(0), x.size(1), self.pad)
        if context.size(2) != self.pad:
            raise InputError(f"A causal convolution needs {self.pad} context frames, got {context.size(2)}.")
        return super().forward(torch.cat([context, x] if self.side == "left" else [x, context], dim=2))


class CausalConv1dUpsample(nn.Conv1d):
    """Nearest ×stride, then a causal convolution (left pad kernel - 1)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int):
        super().__init__(in_channels, out_channels, kernel_size)
        self.stride_up = stride

    def forward(self, x: Tensor) -> Tensor:  # type: ignore[override]
        x = F.interpolate(x, scale_factor=self.stride_up, mode="nearest")
        return super().forward(F.pad(x, (self.kernel_size[0] - 1, 0)))


class CausalConv1dDownSample(nn.Conv1d):
    """A strided convolution (kernel 2·stride) after ``stride - 1`` zeros on the left."""

    def forward(self, x: Tensor) -> Tensor:  # type: ignore[override]
        return super().forward(F.pad(x, (self.stride[0] - 1, 0)))


class CausalResBlock(ResBlock):
    """The HiFi-GAN residual block with Snake (same keys and forward as CosyVoice 2's) on causal convolutions."""

    def __init__(self, channels: int, kernel_size: int, dilations: tuple[int, ...]):
        nn.Module.__init__(self)
        self.convs1 = nn.ModuleList(weight_norm(CausalConv1d(channels, channels, kernel_size, d)) for d in dilations)
        self.convs2 = nn.ModuleList(weight_norm(CausalConv1d(channels, channels, kernel_size)) for _ in dilations)
        self.activations1 = nn.ModuleList(Snake(channels) for _ in dilations)
        self.activations2 = nn.ModuleList(Snake(channels) for _ in dilations)


class CausalF0Predictor(nn.Module):
    """``CausalConvRNNF0Predictor``: conv k4 (3 frames ahead) + 4 × causal conv k3, ELU, Linear, abs.

    Keys ``condnet.{0,2,4,6,8}`` (the odd entries are the ELUs) and ``classifier``."""

    def __init__(self, cfg: F0PredictorConfig):
        super().__init__()
        layers: list[nn.Module] = [weight_norm(CausalConv1d(cfg.in_channels, cfg.cond_channels, 4, side="right")),
                                   nn.ELU()]
        for _ in range(4):
            layers += [weight_norm(CausalConv1d(cfg.cond_channels, cfg.cond_channels, 3)), nn.ELU()]
        self.condnet = nn.Sequential(*layers)
        self.classifier = nn.Linear(cfg.cond_channels, cfg.num_class)

    def forward(self, mel: Tensor, finalize: bool = True) -> Tensor:
        """mel [B, 80, T] -> f0 [B, T] (finalize) or [B, T - 3] (the last 3 frames are look-ahead only)."""
        if finalize:
            h = self.condnet[0](mel)
        else:
            h = self.condnet[0](mel[:, :, :-F0_LOOKAHEAD], mel[:, :, -F0_LOOKAHEAD:])
        for layer in self.condnet[1:]:
            h = layer(h)
        return self.classifier(h.transpose(1, 2)).squeeze(-1).abs()


class CausalHiFT(nn.Module):
    """CausalHiFTGenerator at the sizes of ``cfg``; ``excitation`` defaults to the official fixed buffers."""

    def __init__(self, cfg: CausalHiFTConfig, flow_sizes: tuple[int, int, int, int] = (6561, 80, 192, 80),
                 excitation: FixedExcitation | None = None):
        super().__init__()
        self.cfg = cfg
        self.upsample_factor = cfg.upsample_factor
        self.look_right = cfg.conv_pre_look_right
        n_fft = cfg.istft_n_fft
        self.m_source = CausalSineSource(cfg.sampling_rate, self.upsample_factor, cfg.nb_harmonics, cfg.nsf_alpha,
                                         cfg.nsf_sigma, cfg.nsf_voiced_threshold)
        self.conv_pre = weight_norm(CausalConv1d(cfg.in_channels, cfg.base_channels, self.look_right + 1,
                                                 side="right"))
        ch = cfg.base_channels
        self.ups = nn.ModuleList(
            weight_norm(CausalConv1dUpsample(ch // 2**i, ch // 2 ** (i + 1), k, u))
            for i, (u, k) in enumerate(zip(cfg.upsample_rates, cfg.upsample_kernel_sizes)))
        rates_after = [int(np.prod(cfg.upsample_rates[i + 1:])) for i in range(len(cfg.upsample_rates))]
        self.source_downs = nn.ModuleList()
        self.source_resblocks = nn.ModuleList()
        for i, (down, k, d) in enumerate(zip(rates_after, cfg.source_resblock_kernel_sizes,
                                             cfg.source_resblock_dilation_sizes)):
            out_ch = ch // 2 ** (i + 1)
            self.source_downs.append(CausalConv1d(n_fft + 2, out_ch, 1) if down == 1
                                     else CausalConv1dDownSample(n_fft + 2, out_ch, down * 2, down))
            self.source_resblocks.append(CausalResBlock(out_ch, k, d))
        self.resblocks = nn.ModuleList(
            CausalResBlock(ch // 2 ** (i + 1), k, d)
            for i in range(len(self.ups)) for k, d in zip(cfg.resblock_kernel_sizes, cfg.resblock_dilation_sizes))
        self.conv_post = weight_norm(CausalConv1d(ch // 2 ** len(self.ups), n_fft + 2, 7))
        self.f0_predictor = CausalF0Predictor(cfg.f0)
        self.flow_sizes = flow_sizes
        self._excitation = excitation
        self._f0_weights64: tuple[tuple, dict[str, Tensor]] | None = None

    @property
    def excitation(self) -> FixedExcitation:
        """The fixed buffers (the official ones, replayed on first use, unless given)."""
        if self._excitation is None:
            f0 = self.cfg.f0
            self._excitation = FixedExcitation.official(*self.flow_sizes, f0.in_channels, f0.cond_channels,
                                                        f0.num_class)
        return self._excitation

    # ---------------------------------------------------------------------------------------------
    def f0(self, mel: Tensor, finalize: bool = True) -> Tensor:
        """mel [1, 80, T] -> f0 [1, T or T - 3] in Hz: the predictor run in float64, rounded to float32."""
        return self.f0_float64(mel, finalize).float()

    def f0_float64(self, mel: Tensor, finalize: bool = True) -> Tensor:
        """The float64 f0 before rounding (the weights converted once per device and weight version)."""
        params = dict(self.f0_predictor.named_parameters())
        key = tuple((name, id(p), p._version, p.device) for name, p in params.items())
        cached = self._f0_weights64
        if cached is None or cached[0] != key:
            cached = (key, {name: p.detach().double() for name, p in params.items()})
            self._f0_weights64 = cached
        return functional_call(self.f0_predictor, cached[1], (mel.double(), finalize))

    def _stft_window(self, device: torch.device) -> Tensor:
        n = self.cfg.istft_n_fft  # periodic Hann in float64, rounded (scipy's get_window('hann', fftbins=True))
        return torch.from_numpy((0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(n) / n)).astype(np.float32)).to(device)

    def decode(self, mel: Tensor, source: Tensor, finalize: bool = True,
               should_stop: Callable[[], bool] | None = None) -> Tensor:
        """mel [1, 80, T] + source [1, 1, T·480] -> waveform [1, T·480] (finalize) or [1, (T - 5)·480]: the last
        4 frames are conv_pre's look-ahead and the last 480 samples the iSTFT tail. No randomness."""
        cfg = self.cfg
        n_fft, hop, up = cfg.istft_n_fft, cfg.istft_hop_len, int(np.prod(cfg.upsample_rates))
        window = self._stft_window(mel.device)
        spec = torch.view_as_real(torch.stft(source.squeeze(1).float(), n_fft, hop, n_fft, window=window,
                                             return_complex=True))
        s_stft = torch.cat([spec[..., 0], spec[..., 1]], dim=1).to(mel.dtype)
        if finalize:
            x = self.conv_pre(mel)
        else:
            x = self.conv_pre(mel[:, :, :-self.look_right], mel[:, :, -self.look_right:])
            s_stft = s_stft[:, :, :-up * self.look_right]
        n_kernels = len(cfg.resblock_kernel_sizes)
        for i, upsample in enumerate(self.ups):
            x = upsample(F.leaky_relu(x, cfg.lrelu_slope))
            if i == len(self.ups) - 1:
                x = F.pad(x, (1, 0), mode="reflect")
            x = x + self.source_resblocks[i](self.source_downs[i](s_stft))
            xs = self.resblocks[i * n_kernels](x)
            for j in range(1, n_kernels):
                xs = xs + self.resblocks[i * n_kernels + j](x)
            x = xs / n_kernels
            if should_stop is not None and should_stop():
                raise Cancelled("The vocoder was cancelled.")
        x = self.conv_post(F.leaky_relu(x)).float()  # the official default slope 0.01 here
        n_bins = n_fft // 2 + 1
        magnitude = torch.exp(x[:, :n_bins]).clamp(max=1e2)
        phase = torch.sin(x[:, n_bins:])
        wav = torch.istft(torch.complex(magnitude * torch.cos(phase), magnitude * torch.sin(phase)), n_fft, hop,
                          n_fft, window=window)
        if not finalize:
            wav = wav[:, :-up * hop]
        return wav.clamp(-cfg.audio_limit, cfg.audio_limit)

    def source(self, f0: Tensor, first_frame: int = 0, phase_before: Tensor | None = None,
               excitation: FixedExcitation | None = None) -> tuple[Tensor, Tensor]:
        """f0 [1, n] of frames first_frame.. -> (source [1, 1, n·480], uv); ``phase_before``: see CausalSineSource;
        ``excitation``: other buffers than the model's (e.g. zeros)."""
        if phase_before is None:
            phase_before = torch.zeros(1, self.m_source.dim, dtype=torch.float64)
        src, uv, _ = self.m_source(f0, first_frame, phase_before, excitation or self.excitation)
        return src, uv

    @torch.inference_mode()
    def inference(self, mel: Tensor, finalize: bool = True, should_stop: Callable[[], bool] | None = None,
                  excitation: FixedExcitation | None = None) -> tuple[Tensor, Tensor]:
        """The official call over a whole mel [1, 80, T] -> (speech [1, T·480 or (T - 8)·480], source)."""
        if mel.dim() != 3 or mel.shape[0] != 1 or mel.shape[1] != self.cfg.in_channels:
            raise InputError(f"The vocoder expects a mel of shape [1, {self.cfg.in_channels}, frames], "
                             f"got {tuple(mel.shape)}.")
        need = 1 if finalize else F0_LOOKAHEAD + self.look_right + 2
        if mel.shape[2] < need:
            raise InputError(f"The vocoder needs at least {need} mel frames for this call, got {mel.shape[2]}.")
        mel = mel.to(self.conv_pre.bias.dtype)
        source, _ = self.source(self.f0(mel, finalize), excitation=excitation)
        x = mel if finalize else mel[:, :, :-F0_LOOKAHEAD]
        return self.decode(x, source, finalize, should_stop), source


def build_causal_hift(cfg: CausalHiFTConfig, state_dict: dict[str, Tensor], flow_sizes: tuple[int, int, int, int],
                      device: str | torch.device = "cpu", excitation: FixedExcitation | None = None) -> CausalHiFT:
    """Build on the meta device (no random init), load ``state_dict`` strictly, move to ``device`` (always fp32)."""
    with torch.device("meta"):
        model = CausalHiFT(cfg, flow_sizes, excitation)
    state_dict = normalize_hift_keys(state_dict)
    check_fits(model, state_dict, HIFT_FILE)
    load_into(model, state_dict, HIFT_FILE, assign=True)
    return model.to(device=device, dtype=torch.float32).eval().requires_grad_(False)


def flow_sizes_of(cfg: CosyVoice3Config) -> tuple[int, int, int, int]:
    """(vocab, embedding width, speaker embedding, flow output): what the official buffers' draw depends on."""
    f = cfg.flow
    return f.vocab_size, f.input_size, f.spk_embed_dim, f.output_size


def load_causal_hift(model_dir: str | Path, cfg: CosyVoice3Config, device: str | torch.device = "cpu",
                     excitation: FixedExcitation | None = None) -> CausalHiFT:
    """Load ``<model_dir>/hift.pt`` (any of the key styles) into a CausalHiFT built from ``cfg``."""
    return build_causal_hift(cfg.hift, read_state_dict(Path(model_dir) / HIFT_FILE), flow_sizes_of(cfg), device,
                             excitation)
