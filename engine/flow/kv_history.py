"""Key/value histories of the streaming flow's attention layers, and how they are stored.

The incremental flow keeps every earlier frame's keys and values for every attention layer of every ODE step
(that is what makes a chunk cost its own frames, not all frames so far). At the official CosyVoice 2 size that
is 56 estimator layers x 10 steps x 2 guidance rows x (K + V) x 512 channels: about 4.6 MB per mel frame in
fp32, 2.8 GB for a 10 s sentence after a 3 s prompt, more than the model's weights. :class:`KVStorage` says how
past frames are kept:

* ``EXACT``: in the compute dtype (the parity reference; bit-identical to recomputing);
* ``BF16``: bfloat16, half the bytes; ``INT8``: int8 with one fp32 scale per (row, head, frame), a quarter
  plus 1/64. Both are decoded to the compute dtype when read.

Only *earlier* chunks' frames are read back from storage: a call's own new keys and values enter its
attention exactly (``History.tensor(exact_tail=...)``), so within-chunk attention is unchanged and the
storage error only touches attention to the past. The errors this gives are measured, not assumed (README,
Performance).

How much all of this may hold per stream is bounded: :func:`frame_bytes` says what one frame costs, and
:class:`~engine.flow.flow.StreamingFlow` stops keeping histories once a stream would pass its budget.
"""
from __future__ import annotations

import math
import threading
from dataclasses import dataclass
from enum import Enum

import torch
from torch import Tensor


class KVStorage(Enum):
    EXACT = "exact"
    BF16 = "bf16"
    INT8 = "int8"


_INT8_MAX = 127.0
PAGE_FRAMES = 128  # a history grows by pages of this many frames (its first page is exactly its first block)


class AttendsHistory:
    """Marks an attention layer whose keys/values a stream keeps (it calls ``cursor.attend``): ``heads`` and
    ``kv_head_dim`` size its history, for :func:`frame_bytes`."""

    heads: int
    kv_head_dim: int


def position_bytes(storage: KVStorage, heads: int, head_dim: int, dtype: torch.dtype) -> int:
    """Bytes one position (one row, one frame) of a layer's key AND value histories takes in ``storage``."""
    if storage is KVStorage.INT8:
        per = heads * head_dim + heads * 4  # int8 data + one fp32 scale per head
    elif storage is KVStorage.BF16:
        per = heads * head_dim * 2
    else:
        per = heads * head_dim * dtype.itemsize
    return 2 * per


def frame_bytes(estimator: torch.nn.Module, storage: KVStorage, dtype: torch.dtype, rows: int, steps: int) -> int:
    """Bytes the histories of every attention layer of ``estimator`` hold per mel frame over ``steps`` ODE
    steps and ``rows`` guidance rows (page rounding aside: a history's last page may have up to
    ``PAGE_FRAMES - 1`` frames of spare room)."""
    per_row_step = sum(position_bytes(storage, m.heads, m.kv_head_dim, dtype)
                       for m in estimator.modules() if isinstance(m, AttendsHistory))
    return per_row_step * rows * steps


def _encode(x: Tensor, storage: KVStorage) -> tuple[Tensor, Tensor | None]:
    """x [B, H, n, d] -> (stored data, per-(b, h, frame) scale [B, H, n, 1] for INT8 else None)."""
    if storage is KVStorage.EXACT:
        return x, None
    if storage is KVStorage.BF16:
        return x.to(torch.bfloat16), None
    scale = x.abs().amax(dim=-1, keepdim=True).float().clamp_min(torch.finfo(torch.float32).tiny) / _INT8_MAX
    return torch.round(x.float() / scale).to(torch.int8), scale


class _Workspace(threading.local):
    """Per thread, one buffer for keys and one for values that every layer's :meth:`History.tensor` reads the
    history into. Attention consumes them before the next layer reads, so reusing them is safe, and it keeps
    the allocator from carving a fresh multi-MB buffer per layer, step and call: that churn fragmented the heap
    around the pages (measured: README, Performance). Grown by half again when too small; a thread of its own
    per flow lane."""

    def __init__(self) -> None:
        self.buffers: dict[tuple, Tensor] = {}

    def take(self, slot: str, shape: tuple[int, ...], dtype: torch.dtype, device: torch.device) -> Tensor:
        # An inference-mode buffer cannot be written outside inference mode (and vice versa): one of each.
        key = (slot, dtype, device, torch.is_inference_mode_enabled())
        need = math.prod(shape)
        buf = self.buffers.get(key)
        if buf is None or buf.numel() < need:
            buf = self.buffers[key] = torch.empty(need + need // 2, dtype=dtype, device=device)
        return buf[:need].view(shape)


_WORKSPACE = _Workspace()


class _Slabs:
    """Where history pages live: carved in order out of big CPU blocks, instead of one ``malloc`` per page.

    A page is 0.1-0.5 MB and lives as long as its stream, while the flow allocates and frees blocks of the
    same sizes all the time. glibc serves both from the same heap (its mmap threshold rises to whatever size
    was freed last), so every page pinned a hole of freed transients around it: the int8 history's process
    peaked 0.5-0.8 GB above its weights + pages (README, Performance). A block of ``SLAB_BYTES`` is above
    glibc's highest threshold (32 MiB), so it is always a mapping of its own, returned whole to the system
    once its last page is dropped. Only the block being filled is held here (one per dtype and inference
    mode), and only what was written of it is resident. Other devices have caching allocators of their own:
    plain tensors there.
    """

    SLAB_BYTES = 40 << 20
    _ALIGN = 64  # bytes: every page starts on a cache line, like a fresh allocation

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._filling: dict[tuple, tuple[Tensor, int]] = {}

    def empty(self, shape: tuple[int, ...] | list[int], dtype: torch.dtype, device: torch.device) -> Tensor:
        need = math.prod(shape)
        itemsize = dtype.itemsize
        per_slab = self.SLAB_BYTES // itemsize
        if torch.device(device).type != "cpu" or need > per_slab // 8:
            return torch.empty(shape, dtype=dtype, device=device)
        step = -(-need * itemsize // self._ALIGN) * self._ALIGN // itemsize
        # An inference-mode block cannot be written outside inference mode (and vice versa): one of each.
        key = (dtype, torch.is_inference_mode_enabled())
        with self._lock:
            slab, used = self._filling.get(key, (None, 0))
            if slab is None or used + need > slab.numel():
                slab, used = torch.empty(per_slab, dtype=dtype), 0
            self._filling[key] = (slab, used + step)
        return slab[used:used + need].view(shape)


_SLABS = _Slabs()


class _Page:
    """One slab of history storage ([B, H, capacity, d], plus its scales for INT8) shared by every state
    that reaches into it.

    ``filled`` is how far it has been written; it only grows. A state that reads this page up to ``filled``
    may append in place; any other state (an older one that someone already advanced from) copies first."""

    __slots__ = ("data", "scale", "filled")

    def __init__(self, data: Tensor, filled: int, scale: Tensor | None = None):
        self.data, self.scale, self.filled = data, scale, filled

    @property
    def capacity(self) -> int:
        return self.data.size(2)

    @staticmethod
    def empty(shape: tuple[int, ...] | list[int], dtype: torch.dtype, device: torch.device,
              scaled: bool) -> "_Page":
        """An unwritten page [B, H, capacity, d] (and its [B, H, capacity, 1] fp32 scales when ``scaled``)."""
        shape = list(shape)
        scale = _SLABS.empty(shape[:3] + [1], torch.float32, device) if scaled else None
        return _Page(_SLABS.empty(shape, dtype, device), 0, scale)

    def empty_like(self, capacity: int | None = None) -> "_Page":
        shape = list(self.data.shape)
        shape[2] = capacity or shape[2]
        return _Page.empty(shape, self.data.dtype, self.data.device, self.scale is not None)

    def write(self, at: int, data: Tensor, scale: Tensor | None) -> None:
        n = data.size(2)
        self.data[:, :, at:at + n] = data
        if self.scale is not None:
            self.scale[:, :, at:at + n] = scale

    def decode_into(self, out: Tensor, at: int, n: int) -> None:
        """Write this page's first ``n`` frames, in ``out``'s dtype, to ``out[:, :, at:at + n]``."""
        part = out[:, :, at:at + n]
        part.copy_(self.data[:, :, :n])
        if self.scale is not None:
            part.mul_(self.scale[:, :, :n])


@dataclass(frozen=True)
class History:
    """A value: the first ``length`` positions (dim 2) of a growing K or V history, stored in shared pages.

    Appending never copies what is already there: it writes into the last page's spare room (positions
    at or after every existing state's length, so older states still read their own unchanged prefix) or
    into new pages. Only a fork (appending to a state that is not the newest one on its last page) copies,
    and only that last page. So keeping an older state costs nothing, and the peak of one streaming step is
    the history once plus one layer's transient, not old + new history (what ``torch.cat`` per step gave).
    Every page except the last is full.
    """

    pages: tuple[_Page, ...] = ()
    length: int = 0
    storage: KVStorage = KVStorage.EXACT

    def _used_in_last(self) -> int:
        return self.length - sum(p.capacity for p in self.pages[:-1])

    def append(self, x: Tensor, page_size: int = PAGE_FRAMES) -> "History":
        """This history followed by ``x`` [B, H, n, d] (a new value; ``self`` still reads the same)."""
        n = x.size(2)
        data, scale = _encode(x, self.storage)
        if not self.pages:  # the first block: a page of exactly its size (no spare room)
            first = _Page.empty(data.shape, data.dtype, data.device, scale is not None)
            first.write(0, data, scale)
            first.filled = n
            return History((first,), n, self.storage)
        pages = list(self.pages)
        used = self._used_in_last()
        last = pages[-1]
        if used < last.capacity and last.filled != used:
            # Someone already appended after this state: copy-on-write so their frames stay theirs.
            copy = last.empty_like()
            copy.write(0, last.data[:, :, :used], None if last.scale is None else last.scale[:, :, :used])
            copy.filled = used
            pages[-1] = last = copy
        pos = 0
        while pos < n:
            if used == last.capacity:  # full: start a page (exactly the rest if that is more than a page)
                last, used = last.empty_like(max(page_size, n - pos)), 0
                pages.append(last)
            m = min(n - pos, last.capacity - used)
            last.write(used, data[:, :, pos:pos + m], None if scale is None else scale[:, :, pos:pos + m])
            used += m
            last.filled = used
            pos += m
        return History(tuple(pages), self.length + n, self.storage)

    def tensor(self, exact_tail: Tensor | None = None, slot: str | None = None) -> Tensor:
        """[B, H, length, d] in the compute dtype: a view when one exact page holds it all, else one copy.

        ``exact_tail`` ([B, H, n, d], the block appended last): used for the last n positions instead of
        their stored (rounded) form, so a call attends to its own keys/values exactly. ``slot`` (``"k"``/``"v"``):
        read into this thread's reused buffer of that name, valid until the next read into the same slot."""
        used = self._used_in_last()
        first = self.pages[0].data
        if self.storage is KVStorage.EXACT and len(self.pages) == 1:
            return first[:, :, :used]
        if self.storage is KVStorage.EXACT:
            dtype = first.dtype
        else:
            dtype = exact_tail.dtype if exact_tail is not None else torch.float32
        shape = first.shape[:2] + (self.length, first.size(3))
        out = (_WORKSPACE.take(slot, shape, dtype, first.device) if slot
               else torch.empty(shape, dtype=dtype, device=first.device))
        if self.storage is KVStorage.EXACT:
            return torch.cat([p.data for p in self.pages[:-1]] + [self.pages[-1].data[:, :, :used]], dim=2, out=out)
        n_exact = 0 if exact_tail is None else exact_tail.size(2)
        at, stop = 0, self.length - n_exact
        for i, page in enumerate(self.pages):
            page_len = used if i == len(self.pages) - 1 else page.capacity
            if stop - at > 0:
                page.decode_into(out, at, min(page_len, stop - at))
            at += page_len
        if n_exact:
            out[:, :, self.length - n_exact:] = exact_tail
        return out

    @property
    def nbytes(self) -> int:
        """Bytes of the pages this history reaches (shared pages are counted by every history using them)."""
        return sum(p.data.nbytes + (0 if p.scale is None else p.scale.nbytes) for p in self.pages)


def attend_history(old: tuple[History, History] | None, k: Tensor, v: Tensor, storage: KVStorage
                   ) -> tuple[tuple[History, History], Tensor, Tensor]:
    """Append a call's new keys/values [B, H, n, d] to the layer's histories (empty ones in ``storage`` when
    ``old`` is None). Returns the grown histories and the full keys and values to attend to."""
    hk, hv = old if old is not None else (History(storage=storage), History(storage=storage))
    hk, hv = hk.append(k), hv.append(v)
    return (hk, hv), hk.tensor(exact_tail=k, slot="k"), hv.tensor(exact_tail=v, slot="v")
