"""The flow's token encoder: CosyVoice 2's ``UpsampleConformerEncoder``.

    tokens (embedded, [1, T, 512]) ─► embed (Linear + LayerNorm, x·√d) ─► pre-lookahead conv (sees 3 tokens ahead)
      ─► N conformer blocks (rel-pos self-attention + FF, chunk mask of 25 tokens when streaming)
      ─► Upsample1D (nearest ×2 + causal conv k=5) ─► up_embed ─► 4 conformer blocks (chunk mask 50 frames)
      ─► after_norm ─► [1, 2T, 512]

Everything except attention is per position or causal (looks left only), and with the streaming chunk mask a
position attends to every earlier chunk plus its own. So the encoder can run chunk by chunk: ``forward_chunk``
takes the new tokens and an :class:`EncoderCache` (keys/values of every attention layer, the causal convs' left
context) and returns the new frames plus the updated cache, and concatenated chunk outputs equal one pass over
all tokens with the streaming mask. The one-shot ``forward`` is the same code with an empty cache.

Relative positions follow ESPnet's "new" rel-pos encoding: the score of query i and key j uses
sin/cos((i - j)·freq), so a chunk only needs the positions between its queries and all keys.
Dropout is omitted (inference only). The pre-lookahead layer, upsampler and up-block count are fixed in the
official code (512 channels, 4 up-blocks) whatever the YAML says; here they follow the config fields that
default to those values.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..config import FlowEncoderConfig
from .kv_history import History


def chunk_mask(q_start: int, q_len: int, k_len: int, chunk_size: int, device=None) -> Tensor | None:
    """Bool [q_len, k_len]: query at absolute position i sees key j iff j < (i // chunk_size + 1) * chunk_size.

    Chunks are counted from position 0 (the start of the prompt). ``chunk_size <= 0`` means full attention
    (returns None). Keys are positions 0..k_len-1.
    """
    if chunk_size <= 0:
        return None
    q_pos = torch.arange(q_start, q_start + q_len, device=device)
    visible_end = (torch.div(q_pos, chunk_size, rounding_mode="trunc") + 1) * chunk_size
    mask = torch.arange(k_len, device=device)[None, :] < visible_end[:, None]
    return None if bool(mask.all()) else mask


def rel_pos_table(d_model: int, r_max: int, r_min: int, dtype=torch.float32, device=None) -> Tensor:
    """ESPnet rel-pos encodings for relative positions r_max, r_max-1, ..., r_min: [1, r_max-r_min+1, d_model].

    Row for r is [sin(r·f_0), cos(r·f_0), sin(r·f_1), ...] with f_k = 10000^(-2k/d); computed with the same
    float32 operations as the reference table (negative positions as (-|r|)·f).
    """
    r = torch.arange(r_max, r_min - 1, -1, dtype=torch.float32, device=device)
    div_term = torch.exp(torch.arange(0, d_model, 2, dtype=torch.float32, device=device)
                         * -(math.log(10000.0) / d_model))
    angle = r[:, None] * div_term[None, :]
    pe = torch.zeros(r.numel(), d_model, dtype=torch.float32, device=device)
    pe[:, 0::2] = torch.sin(angle)
    pe[:, 1::2] = torch.cos(angle)
    return pe.to(dtype).unsqueeze(0)


class LinearEmbed(nn.Module):
    """``LinearNoSubsampling`` + ``EspnetRelPositionalEncoding`` scaling: LayerNorm(Linear(x)) · √d."""

    def __init__(self, idim: int, odim: int):
        super().__init__()
        self.out = nn.Sequential(nn.Linear(idim, odim), nn.LayerNorm(odim, eps=1e-5))
        self.xscale = math.sqrt(odim)

    def forward(self, x: Tensor) -> Tensor:
        return self.out(x) * self.xscale


class RelPositionAttention(nn.Module):
    """Multi-head self-attention with Transformer-XL style relative positions (wenet ``RelPositionMultiHeadedAttention``)."""

    def __init__(self, n_head: int, n_feat: int):
        super().__init__()
        self.h, self.d_k = n_head, n_feat // n_head
        self.linear_q = nn.Linear(n_feat, n_feat)
        self.linear_k = nn.Linear(n_feat, n_feat)
        self.linear_v = nn.Linear(n_feat, n_feat)
        self.linear_out = nn.Linear(n_feat, n_feat)
        self.linear_pos = nn.Linear(n_feat, n_feat, bias=False)
        self.pos_bias_u = nn.Parameter(torch.zeros(self.h, self.d_k))
        self.pos_bias_v = nn.Parameter(torch.zeros(self.h, self.d_k))

    def _heads(self, x: Tensor) -> Tensor:  # [1, T, C] -> [1, H, T, d_k]
        return x.view(x.size(0), -1, self.h, self.d_k).transpose(1, 2)

    def forward(self, x: Tensor, kv_cache: tuple[History, History] | None, chunk_size: int
                ) -> tuple[Tensor, tuple[History, History]]:
        """x: [1, Tq, C] new positions (absolute start = cached length). Returns output and the grown K/V."""
        q = self.linear_q(x).view(x.size(0), -1, self.h, self.d_k)  # [1, Tq, H, d_k]
        hk, hv = kv_cache if kv_cache is not None else (History(), History())  # exact: the encoder's are small
        hk, hv = hk.append(self._heads(self.linear_k(x))), hv.append(self._heads(self.linear_v(x)))
        k, v = hk.tensor(), hv.tensor()
        t_q, t_k = x.size(1), k.size(2)
        start = t_k - t_q  # absolute position of the first query

        # Positions i - j for queries start..t_k-1 and keys 0..t_k-1 run from t_k-1 down to start-t_k+1.
        pe = rel_pos_table(self.h * self.d_k, t_k - 1, start - t_k + 1, dtype=x.dtype, device=x.device)
        p = self._heads(self.linear_pos(pe))  # [1, H, R, d_k]
        q_u = (q + self.pos_bias_u).transpose(1, 2)
        q_v = (q + self.pos_bias_v).transpose(1, 2)
        matrix_ac = torch.matmul(q_u, k.transpose(-2, -1))  # [1, H, Tq, Tk]
        bd_all = torch.matmul(q_v, p.transpose(-2, -1)).contiguous()  # [1, H, Tq, R]
        # Query a (absolute start+a) and key j need column (t_k-1) - (start+a-j): a strided diagonal view
        # (the general form of Transformer-XL's rel_shift).
        n_b, n_h, _, n_r = bd_all.shape
        matrix_bd = bd_all.as_strided((n_b, n_h, t_q, t_k), (n_h * t_q * n_r, t_q * n_r, n_r - 1, 1),
                                      bd_all.storage_offset() + (t_k - 1 - start))
        scores = (matrix_ac + matrix_bd) / math.sqrt(self.d_k)
        mask = chunk_mask(start, t_q, t_k, chunk_size, device=x.device)
        if mask is not None:
            scores = scores.masked_fill(~mask, float("-inf"))
        attn = torch.softmax(scores, dim=-1)
        out = torch.matmul(attn, v).transpose(1, 2).reshape(x.size(0), t_q, self.h * self.d_k)
        return self.linear_out(out), (hk, hv)


class FeedForward(nn.Module):
    """Position-wise FF with SiLU (wenet ``PositionwiseFeedForward``, activation 'swish')."""

    def __init__(self, idim: int, hidden: int):
        super().__init__()
        self.w_1 = nn.Linear(idim, hidden)
        self.w_2 = nn.Linear(hidden, idim)

    def forward(self, x: Tensor) -> Tensor:
        return self.w_2(F.silu(self.w_1(x)))


class ConformerBlock(nn.Module):
    """Conformer layer as CosyVoice 2 configures it: self-attention + FF, no macaron FF, no conv module."""

    def __init__(self, size: int, heads: int, linear_units: int, normalize_before: bool):
        super().__init__()
        self.self_attn = RelPositionAttention(heads, size)
        self.feed_forward = FeedForward(size, linear_units)
        self.norm_ff = nn.LayerNorm(size, eps=1e-12)
        self.norm_mha = nn.LayerNorm(size, eps=1e-12)
        self.normalize_before = normalize_before

    def forward(self, x: Tensor, kv_cache: tuple[History, History] | None, chunk_size: int
                ) -> tuple[Tensor, tuple[History, History]]:
        pre = self.normalize_before
        att, kv = self.self_attn(self.norm_mha(x) if pre else x, kv_cache, chunk_size)
        x = x + att
        if not pre:
            x = self.norm_mha(x)
        x = x + self.feed_forward(self.norm_ff(x) if pre else x)
        if not pre:
            x = self.norm_ff(x)
        return x, kv


class PreLookaheadLayer(nn.Module):
    """conv1 (k = lookahead+1) over the current and next ``lookahead`` tokens, LeakyReLU, causal conv2 (k=3), residual.

    ``hidden``: conv1's output channels (CosyVoice 2: ``channels``; CosyVoice 3: 80 -> 1024 -> 80)."""

    def __init__(self, channels: int, lookahead: int, hidden: int | None = None):
        super().__init__()
        self.lookahead = lookahead
        hidden = channels if hidden is None else hidden
        self.conv1 = nn.Conv1d(channels, hidden, kernel_size=lookahead + 1)
        self.conv2 = nn.Conv1d(hidden, channels, kernel_size=3)

    def forward(self, x: Tensor, context: Tensor | None, tail: Tensor | None) -> tuple[Tensor, Tensor]:
        """x: [1, T, C]; context: [1, c<=lookahead, C] tokens after x (zeros stand in for missing ones);
        tail: conv1 activations of the 2 positions before x ([1, hidden, 2], zeros at the start).
        Returns the output and the new tail."""
        h = x.transpose(1, 2)
        if context is not None and context.size(1) > 0:
            h = torch.cat([h, context.transpose(1, 2)], dim=2)
        h = F.pad(h, (0, x.size(1) + self.lookahead - h.size(2)))
        h = F.leaky_relu(self.conv1(h))
        left = tail if tail is not None else h.new_zeros(h.size(0), h.size(1), self.conv2.kernel_size[0] - 1)
        h = torch.cat([left, h], dim=2)
        new_tail = h[:, :, h.size(2) - left.size(2):].clone()  # a view would keep all of h alive
        return self.conv2(h).transpose(1, 2) + x, new_tail


class Upsample1D(nn.Module):
    """Nearest-neighbour ×stride then a causal conv (kernel 2·stride+1) over the repeated frames."""

    def __init__(self, channels: int, out_channels: int, stride: int):
        super().__init__()
        self.stride = stride
        self.conv = nn.Conv1d(channels, out_channels, stride * 2 + 1)

    def forward(self, x: Tensor, tail: Tensor | None) -> tuple[Tensor, Tensor]:
        """x: [1, C, T]; tail: the last 2 input positions before x ([1, C, 2]; zeros at the start)."""
        # 2 zero tokens repeated ×stride are exactly the reference's 2·stride zero frames of left padding.
        left = tail if tail is not None else x.new_zeros(x.size(0), x.size(1), 2)
        h = torch.cat([left, x], dim=2)
        new_tail = h[:, :, h.size(2) - 2:].clone()  # a view would keep all of h alive
        up = torch.repeat_interleave(h, self.stride, dim=2)
        return self.conv(up), new_tail


@dataclass(frozen=True)
class EncoderCache:
    """What the encoder keeps of the tokens it has already encoded (a value; never mutated).

    ``tokens``: how many tokens are done (the next chunk starts there). ``kv``: K and V histories
    (:class:`History` of [1, H, t, d_k]) of every attention layer, first the token-rate blocks then the up-blocks. ``lookahead_tail`` / ``up_tail``: left
    context of the pre-lookahead conv2 and of the upsampler.
    """

    tokens: int = 0
    kv: tuple[tuple[History, History], ...] = ()
    lookahead_tail: Tensor | None = None
    up_tail: Tensor | None = None


class UpsampleConformerEncoder(nn.Module):
    def __init__(self, cfg: FlowEncoderConfig):
        super().__init__()
        self.cfg = cfg
        d = cfg.output_size
        self.embed = LinearEmbed(cfg.input_size, d)
        self.pre_lookahead_layer = PreLookaheadLayer(d, cfg.pre_lookahead_len)
        self.encoders = nn.ModuleList(
            ConformerBlock(d, cfg.attention_heads, cfg.linear_units, cfg.normalize_before) for _ in range(cfg.num_blocks))
        self.up_layer = Upsample1D(d, d, cfg.up_stride)
        self.up_embed = LinearEmbed(cfg.input_size, d)
        self.up_encoders = nn.ModuleList(
            ConformerBlock(d, cfg.attention_heads, cfg.linear_units, cfg.normalize_before)
            for _ in range(cfg.num_up_blocks))
        self.after_norm = nn.LayerNorm(d, eps=1e-5)

    def forward(self, xs: Tensor, context: Tensor | None = None, streaming: bool = False) -> Tensor:
        """xs: [1, T, D] embedded tokens; context: [1, c, D] embedded look-ahead tokens (not encoded, only
        seen by the pre-lookahead conv). Returns [1, T·stride, D]."""
        return self.forward_chunk(xs, context, EncoderCache(), streaming)[0]

    def forward_chunk(self, xs: Tensor, context: Tensor | None, cache: EncoderCache, streaming: bool = True
                      ) -> tuple[Tensor, EncoderCache]:
        """Encode tokens ``cache.tokens .. cache.tokens + T - 1`` given everything cached before them.

        Equal to slicing one full pass only when the cached part ended on a chunk boundary or the chunk mask
        is off, and when the tokens after the chunk are the ``context`` given here (they are what the
        pre-lookahead conv sees)."""
        chunk = self.cfg.static_chunk_size if streaming else 0
        n_main = len(self.encoders)
        old_kv = cache.kv or (None,) * (n_main + len(self.up_encoders))
        new_kv: list[tuple[History, History]] = []

        x = self.embed(xs)
        ctx = self.embed(context) if context is not None and context.size(1) > 0 else None
        x, lookahead_tail = self.pre_lookahead_layer(x, ctx, cache.lookahead_tail)
        for i, layer in enumerate(self.encoders):
            x, kv = layer(x, old_kv[i], chunk)
            new_kv.append(kv)

        x, up_tail = self.up_layer(x.transpose(1, 2), cache.up_tail)
        x = self.up_embed(x.transpose(1, 2))
        for i, layer in enumerate(self.up_encoders):
            x, kv = layer(x, old_kv[n_main + i], chunk * self.cfg.up_stride)
            new_kv.append(kv)
        if self.cfg.normalize_before:
            x = self.after_norm(x)
        return x, EncoderCache(cache.tokens + xs.size(1), tuple(new_kv), lookahead_tail, up_tail)
