"""A Qwen2 decoder (the backbone of the CosyVoice 2 text-speech LM), written gpt-fast style.

The official code wraps Hugging Face's ``Qwen2ForCausalLM``; CosyVoice only feeds it input
*embeddings* and reads the last hidden state (after the final RMSNorm). This file is that
network and nothing more:

    x [B, T, H] -> n x (RMSNorm -> GQA self-attention (+RoPE) -> residual
                        RMSNorm -> SwiGLU MLP -> residual) -> RMSNorm -> [B, T, H]

Module names mirror Hugging Face so that ``Qwen2ForCausalLM.state_dict()`` keys
(``model.layers.<i>.self_attn.q_proj.weight`` ...) load unchanged.

Everything that depends on the position in the sequence (keys, values, rotary cos/sin) lives in
a :class:`KVCache` value that the caller creates, passes in and keeps; the modules themselves
hold only weights, so one model can serve several generations one after another without state
leaking between them.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..config import QwenDims

__all__ = ["QwenDims", "KVCache", "RMSNorm", "Attention", "MLP", "DecoderLayer", "Qwen2Model", "Qwen2ForCausalLM"]


class KVCache:
    """Preallocated keys/values of every layer plus the rotary tables for the same positions.

    ``k[i]``/``v[i]``: [B, n_kv_heads, capacity, head_dim]. ``length`` positions are filled.
    New positions are written in place; when a write would not fit the buffers are reallocated
    with twice the room (rare: callers usually know the length they need up front).
    """

    def __init__(self, dims: QwenDims, capacity: int, batch: int = 1,
                 dtype: torch.dtype = torch.float32, device: torch.device | str = "cpu"):
        self.dims = dims
        self.batch = batch
        self.dtype = dtype
        self.device = torch.device(device)
        self.length = 0
        self.k: list[Tensor] = []
        self.v: list[Tensor] = []
        self.cos = self.sin = torch.empty(0)
        self.capacity = 0
        self._allocate(max(int(capacity), 1))

    def _allocate(self, capacity: int) -> None:
        d = self.dims
        shape = (self.batch, d.num_key_value_heads, capacity, d.head_dim)
        old_k, old_v, n = self.k, self.v, self.length
        self.k = [torch.zeros(shape, dtype=self.dtype, device=self.device) for _ in range(d.num_hidden_layers)]
        self.v = [torch.zeros(shape, dtype=self.dtype, device=self.device) for _ in range(d.num_hidden_layers)]
        for new, old in zip(self.k + self.v, old_k + old_v):
            new[:, :, :n] = old[:, :, :n]
        self.cos, self.sin = rotary_tables(d, capacity, self.dtype, self.device)
        self.capacity = capacity

    def reserve(self, n_new: int) -> None:
        """Make room for ``n_new`` more positions."""
        need = self.length + n_new
        if need > self.capacity:
            self._allocate(max(need, 2 * self.capacity))


def rotary_tables(dims: QwenDims, n_positions: int, dtype: torch.dtype,
                  device: torch.device | str) -> tuple[Tensor, Tensor]:
    """cos/sin [n_positions, 1, head_dim] of rotary embeddings, computed in fp32 like Hugging Face.

    The sin table has the sign of "rotate half" folded in (its first half negated), so that
    applying RoPE needs no negation at run time; see :func:`apply_rotary`.
    """
    hd = dims.head_dim
    inv_freq = 1.0 / (dims.rope_theta ** (torch.arange(0, hd, 2, dtype=torch.int64, device=device).float() / hd))
    pos = torch.arange(n_positions, dtype=torch.float32, device=device)
    freqs = pos[:, None] * inv_freq[None, :]  # [P, hd/2]
    cos, sin = freqs.cos(), freqs.sin()
    cos = torch.cat([cos, cos], dim=-1)
    sin = torch.cat([-sin, sin], dim=-1)
    return cos[:, None].to(dtype), sin[:, None].to(dtype)


def apply_rotary(x: Tensor, cos: Tensor, sin: Tensor) -> Tensor:
    """RoPE in the "rotate half" layout: x [B, T, heads, hd]; cos/sin [T, 1, hd] from :func:`rotary_tables`.

    rotate_half(x) * sin == swap_halves(x) * signed_sin, and swapping the halves is one flip.
    """
    swapped = x.unflatten(-1, (2, -1)).flip(-2).flatten(-2)
    return x * cos + swapped * sin


class RMSNorm(nn.Module):
    def __init__(self, dim: int, eps: float):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: Tensor) -> Tensor:
        # One fused op instead of eight small ones (this runs 49 times per token). Same result as
        # Hugging Face's fp32 formula in fp32; bf16 inputs are normalised in fp32 internally.
        return F.rms_norm(x, self.weight.shape, self.weight, self.eps)


class Attention(nn.Module):
    """Grouped-query attention: q/k/v projections with bias, output projection without."""

    def __init__(self, d: QwenDims):
        super().__init__()
        self.n_heads, self.n_kv, self.head_dim = d.num_attention_heads, d.num_key_value_heads, d.head_dim
        self.q_proj = nn.Linear(d.hidden_size, self.n_heads * self.head_dim, bias=True)
        self.k_proj = nn.Linear(d.hidden_size, self.n_kv * self.head_dim, bias=True)
        self.v_proj = nn.Linear(d.hidden_size, self.n_kv * self.head_dim, bias=True)
        self.o_proj = nn.Linear(self.n_heads * self.head_dim, d.hidden_size, bias=False)

    def forward(self, x: Tensor, cache: KVCache, layer: int) -> Tensor:
        """x [B, T, H] at positions cache.length .. cache.length+T-1 -> [B, T, H]."""
        B, T, _ = x.shape
        start, end = cache.length, cache.length + T
        q = self.q_proj(x).view(B, T, self.n_heads, self.head_dim)
        k = self.k_proj(x).view(B, T, self.n_kv, self.head_dim)
        v = self.v_proj(x).view(B, T, self.n_kv, self.head_dim)
        cos, sin = cache.cos[start:end], cache.sin[start:end]
        q, k = apply_rotary(q, cos, sin).transpose(1, 2), apply_rotary(k, cos, sin)
        cache.k[layer][:, :, start:end] = k.transpose(1, 2)
        cache.v[layer][:, :, start:end] = v.transpose(1, 2)
        keys, values = cache.k[layer][:, :, :end], cache.v[layer][:, :, :end]

        # Grouped queries without copying K/V: query head h uses kv head h // n_rep, so fold the
        # n_rep heads of one group into the query-length axis: [B, n_kv, n_rep*T, hd].
        n_rep = self.n_heads // self.n_kv
        q = q.reshape(B, self.n_kv, n_rep * T, self.head_dim)
        if T == 1:
            mask = None  # one new token sees every cached position: no mask at all
        else:
            # Causal within the new block, full view of everything cached before it.
            mask = torch.ones(T, end, dtype=torch.bool, device=x.device).tril(diagonal=start).repeat(n_rep, 1)
        out = F.scaled_dot_product_attention(q, keys, values, attn_mask=mask)
        out = out.reshape(B, self.n_heads, T, self.head_dim).transpose(1, 2).reshape(B, T, -1)
        return self.o_proj(out)


class MLP(nn.Module):
    """SwiGLU: down(silu(gate(x)) * up(x))."""

    def __init__(self, d: QwenDims):
        super().__init__()
        self.gate_proj = nn.Linear(d.hidden_size, d.intermediate_size, bias=False)
        self.up_proj = nn.Linear(d.hidden_size, d.intermediate_size, bias=False)
        self.down_proj = nn.Linear(d.intermediate_size, d.hidden_size, bias=False)

    def forward(self, x: Tensor) -> Tensor:
        return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))


class DecoderLayer(nn.Module):
    def __init__(self, d: QwenDims):
        super().__init__()
        self.self_attn = Attention(d)
        self.mlp = MLP(d)
        self.input_layernorm = RMSNorm(d.hidden_size, d.rms_norm_eps)
        self.post_attention_layernorm = RMSNorm(d.hidden_size, d.rms_norm_eps)

    def forward(self, x: Tensor, cache: KVCache, layer: int) -> Tensor:
        x = x + self.self_attn(self.input_layernorm(x), cache, layer)
        return x + self.mlp(self.post_attention_layernorm(x))


class Qwen2Model(nn.Module):
    """Token embedding table + decoder layers + final norm (HF ``Qwen2Model``)."""

    def __init__(self, d: QwenDims):
        super().__init__()
        self.dims = d
        self.embed_tokens = nn.Embedding(d.vocab_size, d.hidden_size)
        self.layers = nn.ModuleList(DecoderLayer(d) for _ in range(d.num_hidden_layers))
        self.norm = RMSNorm(d.hidden_size, d.rms_norm_eps)

    def forward(self, x_embeds: Tensor, cache: KVCache) -> Tensor:
        """x_embeds [B, T, H] appended after the ``cache.length`` cached positions -> hidden [B, T, H].

        The hidden states are taken after the final norm (what CosyVoice feeds ``llm_decoder``).
        """
        T = x_embeds.shape[1]
        cache.reserve(T)
        x = x_embeds
        for i, layer in enumerate(self.layers):
            x = layer(x, cache, i)
        cache.length += T
        return self.norm(x)


class Qwen2ForCausalLM(nn.Module):
    """``model`` + ``lm_head``. CosyVoice never uses the LM head, but llm.pt contains it (tied to
    ``embed_tokens``), so it is kept as the *same* parameter: it costs no memory and loads strictly."""

    def __init__(self, d: QwenDims):
        super().__init__()
        self.model = Qwen2Model(d)
        self.lm_head = nn.Linear(d.hidden_size, d.vocab_size, bias=False)
        self.tie_weights()

    def tie_weights(self) -> None:
        """Share ``lm_head.weight`` with ``embed_tokens.weight`` (again after loading/converting)."""
        self.lm_head.weight = self.model.embed_tokens.weight

    def new_cache(self, capacity: int, batch: int = 1) -> KVCache:
        """An empty cache for ``capacity`` positions, in this model's dtype and device."""
        w = self.model.embed_tokens.weight
        return KVCache(self.model.dims, capacity, batch, dtype=_compute_dtype(self), device=w.device)

    def prefill(self, x_embeds: Tensor, cache: KVCache) -> Tensor:
        """Run a block of embeddings [B, T, H] (the prompt, or any chunk) -> hidden [B, T, H]."""
        return self.model(x_embeds, cache)

    def decode_one_token(self, x_embed: Tensor, cache: KVCache) -> Tensor:
        """Run one embedding [B, 1, H] -> hidden [B, 1, H]."""
        return self.model(x_embed, cache)


def _compute_dtype(module: nn.Module) -> torch.dtype:
    """The dtype activations (and so the cache) use: that of the first floating parameter/buffer."""
    for t in module.parameters():
        if t.is_floating_point():
            return t.dtype
    return torch.float32

