"""CosyVoice 3's CFM velocity estimator: a DiT (``cosyvoice.flow.DiT.dit.DiT``) with chunk masks.

    [x | cond | mu | spks] (4·80 ch) ─► proj ─► + causal conv position embedding
      ─► depth × DiT block: AdaLN-Zero(t) ─► self-attention (RoPE, chunk mask) ─► gate
                            AdaLN(t) ─► FF (GELU tanh) ─► gate
      ─► AdaLN(t) ─► proj_out (80 ch)

``t`` enters only through the sinusoidal time embedding (256, scale 1000) and its MLP; every block reads
its six modulations (shift, scale, gate for attention and FF) from it. LayerNorms have no affine (eps 1e-6).

Official quirk kept (the weights were trained with it): RoPE (x_transformers, GPT-J interleaved pairs,
base 10000, the ``rotary_embed.inv_freq`` buffer of flow.pt) is applied to q and k of shape
[b, n, heads·dim_head] BEFORE the heads are split, with ``rot_dim = dim_head``, so only the first head's
channels are rotated; the other heads see no position from RoPE (position comes from the causal conv).

Streaming: attention uses chunks of ``static_chunk_size`` frames counted from frame 0 (each frame sees every
earlier chunk and its own); the official code passes ``num_decoding_left_chunks = -1`` literally, so the
yaml's value is ignored here too. Everything else is per frame or causal, so a chunk of new frames can be
computed from an :class:`~engine.flow.decoder.EstimatorCache` holding both position convolutions' last 30
input frames and every block's keys/values (RoPE already applied, at absolute positions). The utterance mask
is omitted (one unpadded utterance, twice for guidance: the reference's mask is all ones).
"""
from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..config import DiTConfig
from ..errors import Cancelled
from .decoder import EstimatorCache, _CacheCursor, sinusoidal_time_embedding
from .encoder import chunk_mask
from .kv_history import AttendsHistory, KVStorage

TIME_FREQ_DIM = 256  # the sinusoidal embedding width, hard-coded officially
POS_KERNEL, POS_GROUPS = 31, 16  # CausalConvPositionEmbedding, hard-coded officially
LN_EPS = 1e-6
ROPE_BASE = 10000.0


def rope_inv_freq(dim_head: int) -> Tensor:
    """x_transformers' ``RotaryEmbedding(dim_head).inv_freq`` (base 10000): what flow.pt stores as a buffer."""
    return 1.0 / (ROPE_BASE ** (torch.arange(0, dim_head, 2).float() / dim_head))


def rope_tables(inv_freq: Tensor, start: int, n: int, dtype: torch.dtype) -> tuple[Tensor, Tensor]:
    """cos/sin [n, rot_dim] for absolute positions start..start+n-1, each frequency repeated for its pair.

    As x_transformers computes them: positions as fp32 floats times ``inv_freq``, then cos/sin, always in fp32
    (it disables autocast there; a bf16 position would be off by whole frames past 256)."""
    inv_freq = inv_freq.float()
    pos = torch.arange(start, start + n, device=inv_freq.device, dtype=torch.float32)
    freqs = (pos[:, None] * inv_freq[None, :]).repeat_interleave(2, dim=-1)
    return freqs.cos().to(dtype), freqs.sin().to(dtype)


def rotate_first_head(x: Tensor, cos: Tensor, sin: Tensor) -> Tensor:
    """x [B, n, heads·dim_head]: the first ``rot_dim`` channels rotated in pairs (x0, x1) -> (-x1, x0), the rest as is."""
    rot_dim = cos.size(-1)
    head, rest = x[..., :rot_dim], x[..., rot_dim:]
    pairs = head.unflatten(-1, (-1, 2))
    rotated = torch.stack((-pairs[..., 1], pairs[..., 0]), dim=-1).flatten(-2)
    return torch.cat((head * cos + rotated * sin, rest), dim=-1)


class TimestepEmbedding(nn.Module):
    """t [B] -> [B, dim]: sinusoidal(256, scale 1000) -> Linear -> SiLU -> Linear (keys ``time_mlp.0/.2``)."""

    def __init__(self, dim: int):
        super().__init__()
        self.time_mlp = nn.Sequential(nn.Linear(TIME_FREQ_DIM, dim), nn.SiLU(), nn.Linear(dim, dim))

    def forward(self, t: Tensor) -> Tensor:
        return self.time_mlp(sinusoidal_time_embedding(t, TIME_FREQ_DIM))


class CausalConvPositionEmbedding(nn.Module):
    """Two × (left zero pad 30 (or the cached frames), grouped Conv1d k31, Mish); keys ``conv1.0``, ``conv2.0``."""

    def __init__(self, dim: int):
        super().__init__()
        self.conv1 = nn.Sequential(nn.Conv1d(dim, dim, POS_KERNEL, groups=POS_GROUPS), nn.Mish())
        self.conv2 = nn.Sequential(nn.Conv1d(dim, dim, POS_KERNEL, groups=POS_GROUPS), nn.Mish())

    def forward(self, x: Tensor, cursor: _CacheCursor | None) -> Tensor:
        """x [B, T, D] -> [B, T, D]."""
        h = x.transpose(1, 2)
        for conv in (self.conv1, self.conv2):
            left = cursor.conv_context() if cursor is not None else None
            if left is None:
                left = h.new_zeros(h.size(0), h.size(1), POS_KERNEL - 1)
            h = torch.cat([left, h], dim=2)
            if cursor is not None:
                cursor.convs.append(h[:, :, h.size(2) - (POS_KERNEL - 1):].clone())  # not a view of all h
            h = conv(h)
        return h.transpose(1, 2)


class InputEmbedding(nn.Module):
    """``proj(cat[x, cond, mu, spks])`` then ``+ conv_pos_embed`` of it (keys ``proj``, ``conv_pos_embed``)."""

    def __init__(self, cfg: DiTConfig):
        super().__init__()
        self.proj = nn.Linear(2 * cfg.mel_dim + cfg.mu_dim + cfg.spk_dim, cfg.dim)
        self.conv_pos_embed = CausalConvPositionEmbedding(cfg.dim)

    def forward(self, x: Tensor, cond: Tensor, mu: Tensor, spks: Tensor, cursor: _CacheCursor | None) -> Tensor:
        """x, cond, mu [B, T, 80]; spks [B, 80] -> [B, T, dim]."""
        parts = [x, cond, mu] + ([spks.unsqueeze(1).expand(-1, x.size(1), -1)] if spks.size(-1) else [])
        h = self.proj(torch.cat(parts, dim=-1))
        return self.conv_pos_embed(h, cursor) + h


class AdaLayerNormZero(nn.Module):
    """``linear(silu(t))`` -> (shift, scale, gate) for attention and for FF (key ``linear``)."""

    def __init__(self, dim: int, n_chunks: int = 6):
        super().__init__()
        self.linear = nn.Linear(dim, dim * n_chunks)
        self.n_chunks = n_chunks

    def forward(self, t: Tensor) -> tuple[Tensor, ...]:
        return tuple(c[:, None] for c in torch.chunk(self.linear(F.silu(t)), self.n_chunks, dim=1))


def modulate(x: Tensor, scale: Tensor, shift: Tensor) -> Tensor:
    """LayerNorm without affine, then ``* (1 + scale) + shift``."""
    return F.layer_norm(x, x.shape[-1:], eps=LN_EPS) * (1 + scale) + shift


class DiTAttention(nn.Module, AttendsHistory):
    """q/k/v Linear with bias, RoPE on the first head only, heads, SDPA, ``to_out.0`` (keys as the reference)."""

    def __init__(self, cfg: DiTConfig):
        super().__init__()
        self.heads, self.dim_head = cfg.heads, cfg.dim_head
        self.kv_head_dim = cfg.dim_head
        inner = cfg.heads * cfg.dim_head
        self.to_q = nn.Linear(cfg.dim, inner)
        self.to_k = nn.Linear(cfg.dim, inner)
        self.to_v = nn.Linear(cfg.dim, inner)
        self.to_out = nn.ModuleList([nn.Linear(inner, cfg.dim)])

    def _heads(self, x: Tensor) -> Tensor:
        return x.view(x.size(0), -1, self.heads, self.dim_head).transpose(1, 2)

    def forward(self, x: Tensor, rope: tuple[Tensor, Tensor], chunk_size: int, cursor: _CacheCursor | None) -> Tensor:
        cos, sin = rope
        q = self._heads(rotate_first_head(self.to_q(x), cos, sin))
        k = self._heads(rotate_first_head(self.to_k(x), cos, sin))
        v = self._heads(self.to_v(x))
        if cursor is not None:
            k, v = cursor.attend(k, v)
        t_q, t_k = q.size(2), k.size(2)
        mask = chunk_mask(t_k - t_q, t_q, t_k, chunk_size, device=x.device)
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        return self.to_out[0](out.transpose(1, 2).reshape(x.size(0), t_q, self.heads * self.dim_head))


class FeedForward(nn.Module):
    """Keys ``ff.0.0`` (Linear, GELU tanh) and ``ff.2`` (Linear), as the reference's Sequential names them."""

    def __init__(self, dim: int, mult: int):
        super().__init__()
        self.ff = nn.Sequential(nn.Sequential(nn.Linear(dim, dim * mult), nn.GELU(approximate="tanh")), nn.Identity(),
                                nn.Linear(dim * mult, dim))

    def forward(self, x: Tensor) -> Tensor:
        return self.ff(x)


class DiTBlock(nn.Module):
    def __init__(self, cfg: DiTConfig):
        super().__init__()
        self.attn_norm = AdaLayerNormZero(cfg.dim)
        self.attn = DiTAttention(cfg)
        self.ff = FeedForward(cfg.dim, cfg.ff_mult)

    def forward(self, x: Tensor, t: Tensor, rope: tuple[Tensor, Tensor], chunk_size: int,
                cursor: _CacheCursor | None) -> Tensor:
        shift_msa, scale_msa, gate_msa, shift_mlp, scale_mlp, gate_mlp = self.attn_norm(t)
        x = x + gate_msa * self.attn(modulate(x, scale_msa, shift_msa), rope, chunk_size, cursor)
        return x + gate_mlp * self.ff(modulate(x, scale_mlp, shift_mlp))


class DiT(nn.Module):
    """``forward(x, mu, t, spks, cond, streaming)`` / ``forward_chunk``: the CFM estimator interface of
    :class:`~engine.flow.decoder.CausalConditionalDecoder`, so :class:`~engine.flow.cfm.CFM` drives either."""

    def __init__(self, cfg: DiTConfig):
        super().__init__()
        self.cfg = cfg
        self.time_embed = TimestepEmbedding(cfg.dim)
        self.input_embed = InputEmbedding(cfg)
        self.rotary_embed = nn.Module()
        self.rotary_embed.register_buffer("inv_freq", rope_inv_freq(cfg.dim_head))  # persistent: flow.pt holds it
        self.transformer_blocks = nn.ModuleList(DiTBlock(cfg) for _ in range(cfg.depth))
        self.norm_out = AdaLayerNormZero(cfg.dim, n_chunks=2)
        self.proj_out = nn.Linear(cfg.dim, cfg.mel_dim)

    def time_embedding(self, t: Tensor) -> Tensor:
        """t [B] -> [B, dim] (every block's modulations are computed from it)."""
        return self.time_embed(t)

    def forward(self, x: Tensor, mu: Tensor, t: Tensor, spks: Tensor, cond: Tensor, streaming: bool = False) -> Tensor:
        """x, mu, cond: [B, 80, T]; t: [B]; spks: [B, 80]. Returns the velocity [B, 80, T]."""
        return self.forward_chunk(x, mu, self.time_embedding(t), spks, cond, None, streaming, keep_cache=False)[0]

    def forward_chunk(self, x: Tensor, mu: Tensor, time_emb: Tensor, spks: Tensor, cond: Tensor,
                      cache: EstimatorCache | None, streaming: bool = True, keep_cache: bool = True,
                      should_stop: Callable[[], bool] | None = None, kv_storage: KVStorage = KVStorage.EXACT
                      ) -> tuple[Tensor, EstimatorCache | None]:
        """The velocity of frames ``cache.frames ..`` [B, 80, n] given the cache of the frames before them.

        ``cache=None`` with ``keep_cache=False`` is the one-shot pass. ``should_stop`` is asked after every block;
        True raises :class:`~engine.errors.Cancelled` (the caller's caches are values, unchanged). ``kv_storage``
        as in :meth:`~engine.flow.decoder.CausalConditionalDecoder.forward_chunk`."""
        cursor = _CacheCursor(cache, kv_storage, record=keep_cache) if keep_cache or cache is not None else None
        start = cache.frames if cache is not None else 0
        chunk = self.cfg.static_chunk_size if streaming else 0
        h = self.input_embed(x.transpose(1, 2), cond.transpose(1, 2), mu.transpose(1, 2), spks, cursor)
        rope = rope_tables(self.rotary_embed.inv_freq, start, h.size(1), h.dtype)
        for block in self.transformer_blocks:
            h = block(h, time_emb, rope, chunk, cursor)
            if should_stop is not None and should_stop():
                raise Cancelled("The flow was cancelled.")
        scale, shift = self.norm_out(time_emb)
        out = self.proj_out(modulate(h, scale, shift)).transpose(1, 2)
        if cursor is None or not keep_cache:
            return out, None
        return out, EstimatorCache(start + x.size(2), tuple(cursor.convs), tuple(cursor.kv))
