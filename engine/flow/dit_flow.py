"""Speech tokens + prompt -> 80-bin mel, CosyVoice 3 (``CausalMaskedDiffWithDiT`` at inference).

    [prompt tokens | tokens] ─► embedding (6561 × 80) ─► PreLookaheadLayer (80 -> channels -> 80, sees 3 tokens
    ahead) ─► repeat ×2 = mu [1, 80, 2·(P+T)]   (no encoder, no projection)
    cond = prompt mel on the first F frames, 0 after; spks = Linear(normalize(x-vector))
    CFM with the DiT estimator: noise ─(10 Euler steps, CFG 0.7)─► mel; the first F (prompt) frames are dropped.

Everything around the token encoder is CosyVoice 2's (:class:`~engine.flow.flow.StreamingFlow`): the same
one-shot call (``finalize=False``: the last 3 tokens are look-ahead only), the same fixed noise and the same
incremental stream, here cheap twice over: the pre-lookahead layer only needs its conv2's 2-token tail, and
the DiT caches its position convolutions' tails and its keys/values per ODE step (:mod:`engine.flow.dit`).
A streaming chunk then costs its own frames plus attention over the history, where the official code re-runs
the flow over every token so far. As for CosyVoice 2, the official LAST streaming call runs with
``streaming=False`` (full attention), which ``stream_step(..., reference_final=True)`` reproduces in one pass.
"""
from __future__ import annotations

from pathlib import Path

import torch
from torch import Tensor, nn

from ..config import CFMConfig, CosyVoice3Config, DiTConfig, DiTFlowConfig, load_config3
from ..errors import ConfigError
from .cfm import CFM
from .dit import DiT
from .encoder import PreLookaheadLayer
from .flow import StreamingFlow, load_flow_weights


class DiTCFM(CFM):
    """The CosyVoice 2 solver (Euler, cosine schedule, CFG, chunked caches) driving a :class:`DiT`."""

    def __init__(self, cfg: CFMConfig, dit: DiTConfig):
        nn.Module.__init__(self)
        self.cfg = cfg
        self.estimator = DiT(dit)


class DiTFlow(StreamingFlow):
    """Parameter names equal the official ``flow.pt`` keys (``input_embedding``, ``spk_embed_affine_layer``,
    ``pre_lookahead_layer.conv1/2``, ``decoder.estimator.*``)."""

    def __init__(self, cfg: DiTFlowConfig):
        super().__init__()
        chunk, ratio = cfg.dit.static_chunk_size, cfg.token_mel_ratio
        if chunk <= 0 or chunk % ratio:
            raise ConfigError(f"cosyvoice3.yaml: the estimator's static_chunk_size ({chunk}) must be a positive "
                              f"multiple of token_mel_ratio ({ratio}) for streaming. Re-download the model.")
        self.cfg = cfg
        self.input_embedding = nn.Embedding(cfg.vocab_size, cfg.input_size)
        self.spk_embed_affine_layer = nn.Linear(cfg.spk_embed_dim, cfg.output_size)
        self.pre_lookahead_layer = PreLookaheadLayer(cfg.pre_lookahead.in_channels, cfg.pre_lookahead_len,
                                                     cfg.pre_lookahead.channels)
        self.decoder = DiTCFM(cfg.cfm, cfg.dit)

    @property
    def frames_per_token(self) -> int:
        return self.cfg.token_mel_ratio

    @property
    def token_chunk(self) -> int:
        return self.cfg.dit.static_chunk_size // self.cfg.token_mel_ratio

    def encode_chunk(self, x: Tensor, context: Tensor | None, cache: Tensor | None,
                     streaming: bool) -> tuple[Tensor, Tensor]:
        """mu = the pre-lookahead output repeated ``token_mel_ratio`` times; the cache is conv2's 2-token tail."""
        h, tail = self.pre_lookahead_layer(x, context, cache)
        return h.repeat_interleave(self.cfg.token_mel_ratio, dim=1).transpose(1, 2), tail


def load_dit_flow(model_dir: str | Path, cfg: DiTFlowConfig | CosyVoice3Config | None = None,
                  device: str | torch.device = "cpu", dtype: torch.dtype = torch.float32) -> DiTFlow:
    """Build the CosyVoice 3 flow on the meta device and load ``flow.pt`` strictly."""
    if cfg is None:
        cfg = load_config3(model_dir)
    if isinstance(cfg, CosyVoice3Config):
        cfg = cfg.flow
    with torch.device("meta"):
        flow = DiTFlow(cfg)
    return load_flow_weights(flow, model_dir, device, dtype)
