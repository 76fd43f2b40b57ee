"""The CFM velocity estimator: CosyVoice 2's ``CausalConditionalDecoder`` (a 1-D UNet without resampling).

    [x | mu | spks | cond] (4·80 ch) ─► down: causal ResNet + transformer blocks ─► causal conv
      ─► mid ×N: causal ResNet + transformer blocks
      ─► up: concat skip, causal ResNet + transformer blocks ─► causal conv ─► causal final block ─► 1×1 proj

Every convolution is causal (kernel 3, two frames of left context) and, when streaming, attention uses a chunk
mask of ``static_chunk_size`` frames counted from frame 0 (each frame sees all earlier chunks and its own).
So a chunk of new frames can be computed from an :class:`EstimatorCache` holding every causal conv's last two
input frames and every attention layer's keys/values of the earlier frames.

CosyVoice 2 uses one channel level (``channels: [256]``): its "downsample"/"upsample" are stride-1 causal
convs. Multi-level UNets (strided, non-causal resampling) are not supported. The utterance mask is omitted: a
batch here is one utterance (twice, for classifier-free guidance) and has no padding, so the reference's mask
is all ones. Parameter names equal the reference ``decoder.estimator.*`` keys.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..config import EstimatorConfig
from ..errors import Cancelled, ConfigError
from .encoder import chunk_mask
from .kv_history import AttendsHistory, History, KVStorage, attend_history


@dataclass(frozen=True)
class EstimatorCache:
    """The estimator's memory of earlier frames for one ODE step (a value; never mutated).

    ``frames``: how many frames it covers. ``convs``: the last 2 input frames ([B, C, 2]) of every causal conv
    in forward order. ``kv``: key and value histories (:class:`~engine.flow.encoder.History` of
    [B, H, frames, d]) of every attention layer in forward order; they share storage with older caches
    without ever changing what those read.
    """

    frames: int = 0
    convs: tuple[Tensor, ...] = ()
    kv: tuple[tuple[History, History], ...] = ()


class _CacheCursor:
    """Reads the old cache entries in forward order and collects the new ones (lives for one forward call).

    ``record=False`` (a call that keeps no cache, e.g. a final or a recomputing one): layers still read the old
    keys/values, but a layer's grown history is dropped as soon as it has attended, so the call holds one layer's
    new pages at a time instead of every layer's."""

    def __init__(self, old: EstimatorCache | None, storage: KVStorage = KVStorage.EXACT, record: bool = True):
        self.old, self.storage, self.record = old, storage, record
        self.convs: list[Tensor] = []
        self.kv: list[tuple[History, History]] = []
        self._layer = 0  # attention layers seen so far in this call

    def conv_context(self) -> Tensor | None:
        return self.old.convs[len(self.convs)] if self.old and self.old.convs else None

    def kv_context(self) -> tuple[History, History] | None:
        return self.old.kv[self._layer] if self.old and self.old.kv else None

    def attend(self, k: Tensor, v: Tensor) -> tuple[Tensor, Tensor]:
        """One attention layer's new keys/values [B, H, n, d] -> all keys/values so far (recorded for the next
        call; a layer that starts a history stores it as this cursor's ``storage`` says)."""
        kv, k_all, v_all = attend_history(self.kv_context(), k, v, self.storage)
        self._layer += 1
        if self.record:
            self.kv.append(kv)
        return k_all, v_all


class CausalConv1d(nn.Conv1d):
    """Conv1d padded on the left only (by kernel-1 zeros, or by the cached tail of the previous chunk)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int):
        super().__init__(in_channels, out_channels, kernel_size)

    def forward(self, x: Tensor, cursor: _CacheCursor | None = None) -> Tensor:  # type: ignore[override]
        n_left = self.kernel_size[0] - 1
        left = cursor.conv_context() if cursor is not None else None
        if left is None:
            left = x.new_zeros(x.size(0), x.size(1), n_left)
        h = torch.cat([left, x], dim=2)
        if cursor is not None:
            # A copy: a view would keep this whole chunk's input alive for as long as the cache lives.
            cursor.convs.append(h[:, :, h.size(2) - n_left:].clone())
        return super().forward(h)


class CausalBlock1D(nn.Module):
    """causal conv k=3 -> LayerNorm over channels -> Mish (keys block.0, block.2 as in the reference)."""

    def __init__(self, dim: int, dim_out: int):
        super().__init__()
        self.block = nn.ModuleList([CausalConv1d(dim, dim_out, 3), nn.Identity(), nn.LayerNorm(dim_out)])

    def forward(self, x: Tensor, cursor: _CacheCursor | None) -> Tensor:
        h = self.block[0](x, cursor)
        h = self.block[2](h.transpose(1, 2)).transpose(1, 2)
        return F.mish(h)


class CausalResnetBlock1D(nn.Module):
    def __init__(self, dim: int, dim_out: int, time_emb_dim: int):
        super().__init__()
        self.mlp = nn.Sequential(nn.Mish(), nn.Linear(time_emb_dim, dim_out))
        self.block1 = CausalBlock1D(dim, dim_out)
        self.block2 = CausalBlock1D(dim_out, dim_out)
        self.res_conv = nn.Conv1d(dim, dim_out, 1)

    def forward(self, x: Tensor, time_emb: Tensor, cursor: _CacheCursor | None) -> Tensor:
        h = self.block1(x, cursor)
        h = h + self.mlp(time_emb).unsqueeze(-1)
        h = self.block2(h, cursor)
        return h + self.res_conv(x)


class SelfAttention(nn.Module, AttendsHistory):
    """diffusers ``Attention`` as the reference configures it: no q/k/v bias, output Linear with bias."""

    def __init__(self, dim: int, heads: int, head_dim: int):
        super().__init__()
        self.heads, self.head_dim = heads, head_dim
        self.kv_head_dim = head_dim
        inner = heads * head_dim
        self.to_q = nn.Linear(dim, inner, bias=False)
        self.to_k = nn.Linear(dim, inner, bias=False)
        self.to_v = nn.Linear(dim, inner, bias=False)
        self.to_out = nn.ModuleList([nn.Linear(inner, dim)])

    def _heads(self, x: Tensor) -> Tensor:
        return x.view(x.size(0), -1, self.heads, self.head_dim).transpose(1, 2)

    def forward(self, x: Tensor, chunk_size: int, cursor: _CacheCursor | None) -> Tensor:
        q, k, v = self._heads(self.to_q(x)), self._heads(self.to_k(x)), self._heads(self.to_v(x))
        if cursor is not None:
            k, v = cursor.attend(k, v)
        t_q, t_k = q.size(2), k.size(2)
        mask = chunk_mask(t_k - t_q, t_q, t_k, chunk_size, device=x.device)
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        out = out.transpose(1, 2).reshape(x.size(0), t_q, self.heads * self.head_dim)
        return self.to_out[0](out)


class GELUProj(nn.Module):
    def __init__(self, dim_in: int, dim_out: int):
        super().__init__()
        self.proj = nn.Linear(dim_in, dim_out)

    def forward(self, x: Tensor) -> Tensor:
        return F.gelu(self.proj(x))


class FeedForward(nn.Module):
    """Keys ``net.0.proj`` (Linear + GELU) and ``net.2`` (Linear), as diffusers/Matcha name them."""

    def __init__(self, dim: int, mult: int = 4):
        super().__init__()
        self.net = nn.ModuleList([GELUProj(dim, dim * mult), nn.Identity(), nn.Linear(dim * mult, dim)])

    def forward(self, x: Tensor) -> Tensor:
        return self.net[2](self.net[0](x))


class TransformerBlock(nn.Module):
    """Matcha ``BasicTransformerBlock`` with self-attention only: x + attn(LN(x)), then x + FF(LN(x))."""

    def __init__(self, dim: int, heads: int, head_dim: int):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn1 = SelfAttention(dim, heads, head_dim)
        self.norm3 = nn.LayerNorm(dim)
        self.ff = FeedForward(dim)

    def forward(self, x: Tensor, chunk_size: int, cursor: _CacheCursor | None) -> Tensor:
        x = x + self.attn1(self.norm1(x), chunk_size, cursor)
        return x + self.ff(self.norm3(x))


class TimestepEmbedding(nn.Module):
    def __init__(self, in_channels: int, dim: int):
        super().__init__()
        self.linear_1 = nn.Linear(in_channels, dim)
        self.linear_2 = nn.Linear(dim, dim)

    def forward(self, x: Tensor) -> Tensor:
        return self.linear_2(F.silu(self.linear_1(x)))


def sinusoidal_time_embedding(t: Tensor, dim: int, scale: float = 1000.0) -> Tensor:
    """Matcha ``SinusoidalPosEmb``: t [B] -> [B, dim] = [sin(scale·t·f_k), cos(scale·t·f_k)]."""
    half = dim // 2
    freq = torch.exp(torch.arange(half, device=t.device).float() * -(math.log(10000) / (half - 1)))
    angle = scale * t.unsqueeze(1) * freq.unsqueeze(0)
    return torch.cat((angle.sin(), angle.cos()), dim=-1).to(t.dtype)


def _stage(resnet: CausalResnetBlock1D, transformers: nn.ModuleList, extra: nn.Module | None = None) -> nn.ModuleList:
    mods = [resnet, transformers] + ([extra] if extra is not None else [])
    return nn.ModuleList(mods)


class CausalConditionalDecoder(nn.Module):
    def __init__(self, cfg: EstimatorConfig):
        super().__init__()
        if len(cfg.channels) != 1:
            raise ConfigError(
                f"flow.decoder.estimator.channels is {list(cfg.channels)}; only a single level (CosyVoice 2 uses "
                "[256]) is supported. Use an official CosyVoice 2 model.")
        self.cfg = cfg
        ch = cfg.channels[0]
        time_dim = ch * 4

        def transformers() -> nn.ModuleList:
            return nn.ModuleList(TransformerBlock(ch, cfg.num_heads, cfg.attention_head_dim)
                                 for _ in range(cfg.n_blocks))

        self.time_mlp = TimestepEmbedding(cfg.in_channels, time_dim)
        self.down_blocks = nn.ModuleList([_stage(CausalResnetBlock1D(cfg.in_channels, ch, time_dim), transformers(),
                                                 CausalConv1d(ch, ch, 3))])
        self.mid_blocks = nn.ModuleList(_stage(CausalResnetBlock1D(ch, ch, time_dim), transformers())
                                        for _ in range(cfg.num_mid_blocks))
        self.up_blocks = nn.ModuleList([_stage(CausalResnetBlock1D(2 * ch, ch, time_dim), transformers(),
                                               CausalConv1d(ch, ch, 3))])
        self.final_block = CausalBlock1D(ch, ch)
        self.final_proj = nn.Conv1d(ch, cfg.out_channels, 1)

    def time_embedding(self, t: Tensor) -> Tensor:
        """t [B] -> the time vector every ResNet block adds ([B, 4·channels])."""
        return self.time_mlp(sinusoidal_time_embedding(t, self.cfg.in_channels))

    def forward(self, x: Tensor, mu: Tensor, t: Tensor, spks: Tensor, cond: Tensor, streaming: bool = False) -> Tensor:
        """x, mu, cond: [B, 80, T]; t: [B]; spks: [B, 80]. Returns the velocity [B, 80, T]."""
        return self.forward_chunk(x, mu, self.time_embedding(t), spks, cond, None, streaming)[0]

    def forward_chunk(self, x: Tensor, mu: Tensor, time_emb: Tensor, spks: Tensor, cond: Tensor,
                      cache: EstimatorCache | None, streaming: bool = True, keep_cache: bool = True,
                      should_stop: Callable[[], bool] | None = None, kv_storage: KVStorage = KVStorage.EXACT
                      ) -> tuple[Tensor, EstimatorCache | None]:
        """The velocity of frames ``cache.frames ..`` given the cache of the frames before them.

        ``cache=None`` with ``keep_cache=False`` is the plain one-shot pass (nothing is recorded).
        ``should_stop`` is asked after every stage (ResNet + its transformer blocks): one pass over a long
        sentence is long on a CPU, a stage a small part of it. True raises
        :class:`~engine.errors.Cancelled`; nothing the caller holds has been changed (caches are values).
        ``kv_storage``: how a cache started here keeps its keys/values (:mod:`engine.flow.kv_history`)."""
        def check() -> None:
            if should_stop is not None and should_stop():
                raise Cancelled("The flow was cancelled.")

        cursor = _CacheCursor(cache, kv_storage, record=keep_cache) if keep_cache or cache is not None else None
        chunk = self.cfg.static_chunk_size if streaming else 0
        h = torch.cat([x, mu, spks.unsqueeze(-1).expand(-1, -1, x.size(2)), cond], dim=1)

        resnet, blocks, downsample = self.down_blocks[0]
        h = self._resnet_transformers(resnet, blocks, h, time_emb, chunk, cursor)
        skip = h
        h = downsample(h, cursor)
        for resnet, blocks in self.mid_blocks:
            check()
            h = self._resnet_transformers(resnet, blocks, h, time_emb, chunk, cursor)
        check()
        resnet, blocks, upsample = self.up_blocks[0]
        h = self._resnet_transformers(resnet, blocks, torch.cat([h, skip], dim=1), time_emb, chunk, cursor)
        h = upsample(h, cursor)
        h = self.final_block(h, cursor)
        out = self.final_proj(h)
        if cursor is None or not keep_cache:
            return out, None
        frames = (cache.frames if cache is not None else 0) + x.size(2)
        return out, EstimatorCache(frames, tuple(cursor.convs), tuple(cursor.kv))

    @staticmethod
    def _resnet_transformers(resnet: CausalResnetBlock1D, blocks: nn.ModuleList, h: Tensor, time_emb: Tensor,
                             chunk: int, cursor: _CacheCursor | None) -> Tensor:
        h = resnet(h, time_emb, cursor)
        h = h.transpose(1, 2)
        for block in blocks:
            h = block(h, chunk, cursor)
        return h.transpose(1, 2).contiguous()
