"""F0 predictor of HiFT: mel frames -> fundamental frequency per frame (Hz).

Five weight-normed 3-tap convolutions with ELU, then a per-frame linear head. The official head
returns ``abs`` of the linear output, so the prediction is never negative; frames below the voiced
threshold (10 Hz) are treated as unvoiced by the source module.

Parameter names equal the official ``ConvRNNF0Predictor`` keys (``condnet.{0,2,4,6,8}`` are the
convolutions, the odd indices are the parameter-free ELUs).
"""
from __future__ import annotations

from torch import Tensor, nn
from torch.nn.utils.parametrizations import weight_norm

from ..config import F0PredictorConfig

N_CONV_LAYERS = 5


class ConvRNNF0Predictor(nn.Module):
    """``forward(mel [B, in_channels, T]) -> f0 [B, T]`` (Hz, >= 0)."""

    def __init__(self, cfg: F0PredictorConfig):
        super().__init__()
        layers: list[nn.Module] = []
        for i in range(N_CONV_LAYERS):
            in_ch = cfg.in_channels if i == 0 else cfg.cond_channels
            layers += [weight_norm(nn.Conv1d(in_ch, cfg.cond_channels, kernel_size=3, padding=1)), nn.ELU()]
        self.condnet = nn.Sequential(*layers)
        self.classifier = nn.Linear(cfg.cond_channels, cfg.num_class)

    def forward(self, mel: Tensor) -> Tensor:
        h = self.condnet(mel).transpose(1, 2)  # [B, T, C]
        return self.classifier(h).squeeze(-1).abs()
