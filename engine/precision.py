"""What each precision choice runs each network in, and which device "auto" means: decided here, once.

The engine (:meth:`Engine.load`), the CLI (``--precision``) and the studio's model manager all ask
:func:`pick_precision`; nothing else interprets a precision name.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import torch

from .errors import ConfigError

PRECISIONS: tuple[str, ...] = ("auto", "fp32", "bf16", "fp16", "int8")
"""What :meth:`Engine.load` (``precision=``), the CLI (``--precision``) and the studio's precision list accept."""

_PRECISION_ALIASES = {"float32": "fp32", "bfloat16": "bf16", "float16": "fp16", "half": "fp16",
                      torch.float32: "fp32", torch.bfloat16: "bf16", torch.float16: "fp16"}
_TORCH_DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


@dataclass(frozen=True)
class Precision:
    """What one precision choice runs each network in (the answer of :func:`pick_precision`).

    name: the concrete choice (never ``auto``). lm: how the LM's weights are converted
    (:func:`engine.llm.speech_lm.convert_lm`'s names, plus ``fp16``). flow: the flow's compute dtype
    (encoder, CFM estimator and its streaming K/V caches). hift: always fp32 (its iSTFT, exp and
    phase sums lose too much in 16 bits).
    """

    name: str
    lm: str
    flow: torch.dtype
    hift: torch.dtype = torch.float32

    def describe(self) -> str:
        """One line for the model manager: ``int8 (LM int8 weights + bf16 activations, flow fp32, HiFT fp32)``."""
        lm = {"int8w": "int8 weights + bf16 activations", "int8": "int8 dynamic"}.get(self.lm, self.lm)
        return f"{self.name} (LM {lm}, flow {_dtype_name(self.flow)}, HiFT {_dtype_name(self.hift)})"


def torch_dtype(name: str) -> torch.dtype | None:
    """The torch dtype of a float precision name (``fp32``/``bf16``/``fp16``); None for ``int8``/``int8w``."""
    return _TORCH_DTYPES.get(name)


def _dtype_name(dt: torch.dtype) -> str:
    return {torch.float32: "fp32", torch.bfloat16: "bf16", torch.float16: "fp16"}.get(dt, str(dt))


def pick_device(device: str | torch.device = "auto") -> torch.device:
    """``auto``: CUDA, then Apple MPS, then CPU. Anything else is checked to exist."""
    if str(device) == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as e:
        raise ConfigError(f"Unknown device {device!r}; use auto, cpu, cuda or mps.") from e
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError("CUDA was requested but no CUDA GPU is available; use device 'auto' or 'cpu'.")
    if dev.type == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise ConfigError("MPS was requested but this Mac (or this torch) has no MPS; use 'auto' or 'cpu'.")
    return dev


@lru_cache(maxsize=1)
def _int8_weight_kernel_works() -> bool:
    """Whether this torch build runs the int8-weight x bf16-activation CPU kernel ``int8w`` needs."""
    op = getattr(torch, "_weight_int8pack_mm", None)
    if op is None:
        return False
    try:
        w = torch.ones(8, 32, dtype=torch.int8)
        op(torch.ones(1, 32, dtype=torch.bfloat16), w, torch.ones(8, dtype=torch.bfloat16))
    except (RuntimeError, NotImplementedError):
        return False
    return True


def precision_name(precision: str | torch.dtype) -> str:
    """The canonical name of a precision choice (``auto`` stays ``auto``; ``float32`` -> ``fp32``, ...)."""
    key = precision if isinstance(precision, torch.dtype) else str(precision).strip().lower()
    name = _PRECISION_ALIASES.get(key, key)
    if name not in PRECISIONS:
        raise ConfigError(f"Unknown precision {precision!r}; use one of {', '.join(PRECISIONS)}.")
    return name


def pick_precision(precision: str | torch.dtype = "auto", device: str | torch.device = "cpu") -> Precision:
    """The one place that decides what a precision choice means on a device (engine, CLI and app use it).

    * ``auto``: fp32 on CPU and MPS; on CUDA bf16 if the GPU supports it, else fp16. (On a CPU,
      :meth:`engine.Engine.load` first asks :func:`engine.machine_check.measured_auto`: where this machine's
      hardware check is cached, ``auto`` is the fastest precision that agreed with fp32 there.)
    * ``fp32``: every network in float32, like the official code (the parity reference).
    * ``bf16``: LM and flow in bfloat16, HiFT fp32. About half the memory traffic; native speed on CPUs with
      AVX512-BF16/AMX and on recent GPUs, slow emulation on older CPUs.
    * ``fp16``: LM and flow in float16, HiFT fp32. CUDA and MPS only (CPUs have no fast fp16 matmul).
    * ``int8``: CPU only. The LM's decoder-layer Linears hold int8 weights (``convert_lm`` ``int8w``: bf16
      activations, so outlier channels cost no accuracy; falls back to dynamic ``int8`` quantisation when this
      torch lacks that kernel); embeddings and ``llm_decoder`` keep full resolution. Flow and HiFT stay fp32.

    Aliases ``float32``/``bfloat16``/``float16`` and torch dtypes are accepted. Unsupported combinations raise
    :class:`ConfigError` saying what to pick instead.
    """
    dev = pick_device(device) if isinstance(device, str) else device
    name = precision_name(precision)
    if name == "auto":
        if dev.type == "cuda":
            name = "bf16" if torch.cuda.is_bf16_supported() else "fp16"
        else:
            name = "fp32"
    if name == "fp16" and dev.type == "cpu":
        raise ConfigError("fp16 is not supported on the CPU; use fp32, bf16 or int8 (or auto).")
    if name == "bf16" and dev.type == "cuda" and not torch.cuda.is_bf16_supported():
        raise ConfigError("This GPU does not support bf16; use fp16 or fp32 (or auto).")
    if name == "int8":
        if dev.type != "cpu":
            raise ConfigError(f"int8 is a CPU precision; on {dev.type} use fp16 or bf16 (or auto).")
        return Precision("int8", "int8w" if _int8_weight_kernel_works() else "int8", torch.float32)
    return Precision(name, name, _TORCH_DTYPES[name])


__all__ = ["PRECISIONS", "Precision", "pick_device", "pick_precision", "precision_name", "torch_dtype"]
