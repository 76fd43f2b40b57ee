"""What a model folder's configuration may ask for, checked before any network is built.

A config file describes networks; a damaged or hostile one can ask for a million layers, a 10^9-wide
embedding, zero attention heads or a YAML file that expands to gigabytes. The YAML reader
(:mod:`engine.config`) applies the size limits below while it reads; :func:`check_model_config` then checks
every number of the typed config, so loading fails at once with a :class:`ConfigError` naming the field,
never after minutes of building or a ``ZeroDivisionError`` deep in a network.

The limits are far above every CosyVoice model (each says what it is compared with) and far below what
would take long to build: building cost grows with the number of layers and blocks, so those are limited
tightly; widths only decide tensor shapes, which the checkpoint must match before anything is allocated
(:func:`engine.checkpoints.check_fits`).
"""
from __future__ import annotations

import dataclasses
import math
from typing import Any

from .errors import ConfigError

MAX_CONFIG_BYTES = 1 << 20  # cosyvoice2.yaml is 7.6 KB, CosyVoice-BlankEN/config.json 0.7 KB
MAX_YAML_DEPTH = 32  # the official cosyvoice2.yaml nests 5 levels deep
MAX_YAML_NODES = 100_000  # the official YAML has ~500 nodes; bounds what aliases and !ref may expand to
MAX_REF_CHARS = 256  # a !ref expression after substitution (the official ones: "<chunk_size> * <token_mel_ratio>")
MAX_ARITH = 2**64  # |value| of any step of !ref arithmetic; configs hold sizes, rates and small factors

MAX_WIDTH = 1 << 20  # any size, rate or id count (the largest official one: Qwen2 vocab 151936)
MAX_COUNT = 256  # repeated layers/blocks/steps (official: 24 Qwen2 layers, 22 DiT blocks, 10 ODE steps)
MAX_LIST = 64  # entries of a per-stage list (official: 3 upsample rates, 3 resblock kernels)

# Integer fields that count repeated modules or steps: building cost is linear in them.
_COUNTS = frozenset({"num_hidden_layers", "num_blocks", "n_blocks", "num_mid_blocks", "num_up_blocks",
                     "n_timesteps", "nb_harmonics", "num_class", "depth"})
# The integer fields that may be below 1, and their least value (each means "none"/"all" in the official code).
_LEAST = {"num_decoding_left_chunks": -1, "num_mid_blocks": 0, "pre_lookahead_len": 0, "static_chunk_size": 0,
          "nb_harmonics": 0}
# Float fields that must be > 0 (a log, a division or a probability mass depends on them).
_POSITIVE = frozenset({"rope_theta", "rms_norm_eps", "top_p", "audio_limit", "sampling_rate"})


def check_model_config(cfg: Any) -> Any:
    """Check every number of a typed config (a frozen dataclass tree); return it unchanged.

    Raises :class:`ConfigError` naming the first bad field, e.g. ``lm.qwen.num_attention_heads``.
    """
    _check_fields(cfg, "")
    _check_structure(cfg)
    return cfg


def _bad(path: str, value: Any, what: str) -> ConfigError:
    return ConfigError(f"The model's configuration has {path} = {_short(value)}, but {what}. "
                       "The model folder is damaged or not a CosyVoice model; download it again.")


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _check_fields(node: Any, path: str) -> None:
    for f in dataclasses.fields(node):
        value = getattr(node, f.name)
        where = f"{path}{f.name}"
        if dataclasses.is_dataclass(value):
            _check_fields(value, where + ".")
        else:
            _check_value(value, f.name, where)


def _check_value(value: Any, name: str, where: str) -> None:
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return
    if isinstance(value, int):
        _check_int(value, name, where)
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise _bad(where, value, "it must be a finite number")
        if name in _POSITIVE and value <= 0:
            raise _bad(where, value, "it must be greater than 0")
    elif isinstance(value, tuple):
        if len(value) > MAX_LIST:
            raise _bad(where, value, f"a list there has at most {MAX_LIST} entries")
        for i, item in enumerate(value):
            _check_value(item, name, f"{where}[{i}]")


def _check_int(value: int, name: str, where: str) -> None:
    least = _LEAST.get(name, 1)
    most = MAX_COUNT if name in _COUNTS else MAX_WIDTH
    if not least <= value <= most:
        raise _bad(where, value, f"it must be a whole number from {least} to {most}")


def _check_structure(cfg: Any) -> None:
    """The relations the networks divide by: heads into widths, key/value heads into heads."""
    qwen = getattr(getattr(cfg, "lm", None), "qwen", None)
    if qwen is not None:
        _divides(qwen.num_attention_heads, qwen.hidden_size, "lm.qwen.num_attention_heads", "hidden_size")
        _divides(qwen.num_key_value_heads, qwen.num_attention_heads, "lm.qwen.num_key_value_heads",
                 "num_attention_heads")
        if qwen.head_dim % 2:
            raise _bad("lm.qwen.hidden_size / num_attention_heads", qwen.head_dim, "rotary embeddings need it even")
    enc = getattr(getattr(cfg, "flow", None), "encoder", None)
    if enc is not None:
        _divides(enc.attention_heads, enc.output_size, "flow.encoder.attention_heads", "output_size")
    feat = getattr(cfg, "feat", None)
    if feat is not None and feat.win_size > feat.n_fft:
        raise _bad("feat.win_size", feat.win_size, f"the window cannot be longer than n_fft ({feat.n_fft})")


def _divides(part: int, whole: int, where: str, whole_name: str) -> None:
    if whole % part:
        raise _bad(where, part, f"it must divide {whole_name} ({whole})")
