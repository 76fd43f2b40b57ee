"""Typed, frozen configuration read from an official CosyVoice 2 model folder.

``cosyvoice2.yaml`` is HyperPyYAML: it uses tags (``!new:``, ``!name:``, ``!ref``, ``!apply:``)
that, in the official code, build training objects. We never execute them. A tag-tolerant
loader turns every tagged node into a plain :class:`Tagged` value, ``!ref`` expressions such as
``<chunk_size> * <token_mel_ratio>`` are resolved with a tiny arithmetic evaluator, and the
numbers we need are copied into the dataclasses below. The Qwen2 dimensions come from
``CosyVoice-BlankEN/config.json``.
"""
from __future__ import annotations

import ast
import json
import math
import operator
import re
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, ClassVar

import yaml

from .config_checks import (MAX_ARITH, MAX_CONFIG_BYTES, MAX_REF_CHARS, MAX_YAML_DEPTH, MAX_YAML_NODES,
                            check_model_config)
from .errors import ConfigError, ModelFamilyError, ModelFolderError

YAML_NAME = "cosyvoice2.yaml"
YAML3_NAME = "cosyvoice3.yaml"
QWEN_DIR = "CosyVoice-BlankEN"

# The two model families and the files that tell them apart (the official ``AutoModel`` looks at the YAML;
# each family's speech tokenizer is its own ONNX file with the same I/O contract).
COSYVOICE2 = "cosyvoice2"
COSYVOICE3 = "cosyvoice3"
FAMILY_FILES: dict[str, tuple[str, str]] = {
    COSYVOICE2: (YAML_NAME, "speech_tokenizer_v2.onnx"),
    COSYVOICE3: (YAML3_NAME, "speech_tokenizer_v3.onnx"),
}
FAMILY_NAMES = {COSYVOICE2: "CosyVoice 2", COSYVOICE3: "CosyVoice 3"}


# --------------------------------------------------------------------------------------------
# Tag-tolerant HyperPyYAML reading
# --------------------------------------------------------------------------------------------
@dataclass
class Tagged:
    """A YAML node carrying a HyperPyYAML tag, e.g. ``!new:cosyvoice.flow.flow.X`` + its args."""

    tag: str
    value: Any

    def get(self, key: str, default: Any = None) -> Any:
        return self.value.get(key, default) if isinstance(self.value, dict) else default

    def __getitem__(self, key: str) -> Any:
        if not isinstance(self.value, dict) or key not in self.value:
            raise KeyError(key)
        return self.value[key]

    def __contains__(self, key: str) -> bool:
        return isinstance(self.value, dict) and key in self.value


@dataclass
class _Ref:
    expr: str


class _TolerantLoader(yaml.SafeLoader):
    """SafeLoader that keeps unknown tags as data instead of failing or executing them.

    It also refuses nesting deeper than :data:`MAX_YAML_DEPTH` while composing (PyYAML's composer recurses
    once per level, so ``[[[[...`` would otherwise end in a RecursionError after a second).
    """

    _depth = 0

    def compose_node(self, parent, index):  # noqa: D102 - PyYAML API
        self._depth += 1
        try:
            if self._depth > MAX_YAML_DEPTH:
                raise ConfigError(f"nesting deeper than {MAX_YAML_DEPTH} levels")
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


def _construct_tagged(loader: _TolerantLoader, tag_suffix: str, node: yaml.Node) -> Any:
    tag = "!" + tag_suffix
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    if tag == "!ref":
        return _Ref(str(value))
    return Tagged(tag, value)


_TolerantLoader.add_multi_constructor("!", _construct_tagged)

# YAML 1.1 reads "1e-06" as a string; HyperPyYAML reads it as a float. Do the same.
_TolerantLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)$"),
    list("-+0123456789."),
)

_BINOPS = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: operator.pow,
}


def _bounded(value: Any, expr: str) -> Any:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
            or abs(value) > MAX_ARITH:
        raise ValueError(f"{expr[:60]!r} leaves the range of numbers a config holds")
    return value


def _power(base: Any, exp: Any, expr: str) -> Any:
    # Refuse before computing: 9**9**9**9 would run for ever (Python ints have no size limit).
    if abs(base) > 1 and abs(exp) * math.log2(abs(base)) > math.log2(MAX_ARITH):
        raise ValueError(f"{expr[:60]!r} leaves the range of numbers a config holds")
    return base**exp


def _eval_arith(expr: str) -> Any:
    """Evaluate +-*/ arithmetic on numbers only (what HyperPyYAML allows inside !ref).

    Every step stays within :data:`MAX_ARITH` and finite, and the expression within :data:`MAX_REF_CHARS`,
    so no expression can take long or build a huge number; a bad one is a ValueError.
    """
    if len(expr) > MAX_REF_CHARS:
        raise ValueError(f"!ref expression longer than {MAX_REF_CHARS} characters")

    def ev(node: ast.AST) -> Any:
        if isinstance(node, ast.Expression):
            return ev(node.body)
        if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)):
            return _bounded(node.value, expr)
        if isinstance(node, ast.BinOp) and type(node.op) in _BINOPS:
            left, right = ev(node.left), ev(node.right)
            if isinstance(node.op, ast.Pow):
                return _bounded(_power(left, right, expr), expr)
            return _bounded(_BINOPS[type(node.op)](left, right), expr)
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
            v = ev(node.operand)
            return -v if isinstance(node.op, ast.USub) else v
        raise ValueError(f"unsupported expression {expr!r}")

    try:
        return ev(ast.parse(expr, mode="eval"))
    except (SyntaxError, ZeroDivisionError, OverflowError, TypeError) as e:
        raise ValueError(f"cannot evaluate {expr[:60]!r} ({type(e).__name__})") from e


_REF_RE = re.compile(r"<([^<>]+)>")


def _lookup(root: dict, path: str) -> Any:
    node: Any = root
    for part in re.split(r"[.\[\]]+", path.strip()):
        if not part:
            continue
        if isinstance(node, Tagged):
            node = node.value
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit():
            node = node[int(part)]
        else:
            raise KeyError(path)
    return node


def _resolve(node: Any, root: dict, depth: int = 0, budget: list[int] | None = None) -> Any:
    """A copy of ``node`` with every ``!ref`` replaced by its value.

    ``budget`` counts the nodes produced (:data:`MAX_YAML_NODES` at most): aliases and references share
    nodes in the file, but the copy expands them, so an alias or reference bomb would otherwise take
    minutes and gigabytes."""
    if budget is None:
        budget = [MAX_YAML_NODES]
    budget[0] -= 1
    if budget[0] < 0:
        raise ConfigError(f"it expands to more than {MAX_YAML_NODES} values (an alias or !ref bomb?)")
    if depth > 50:
        raise ConfigError("it has a cycle of !ref references")
    if isinstance(node, _Ref):
        expr = node.expr.strip()
        whole = _REF_RE.fullmatch(expr)
        if whole:
            return _resolve(_lookup(root, whole.group(1)), root, depth + 1, budget)

        def sub(m: re.Match) -> str:
            return repr(_resolve(_lookup(root, m.group(1)), root, depth + 1, budget))

        return _eval_arith(_REF_RE.sub(sub, expr))
    if isinstance(node, Tagged):
        return Tagged(node.tag, _resolve(node.value, root, depth, budget))
    if isinstance(node, dict):
        return {k: _resolve(v, root, depth, budget) for k, v in node.items()}
    if isinstance(node, list):
        return [_resolve(v, root, depth, budget) for v in node]
    return node


def _read_config_text(path: Path) -> str:
    """The UTF-8 text of a config file of at most :data:`MAX_CONFIG_BYTES` (typed errors otherwise)."""
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_CONFIG_BYTES + 1)
    except FileNotFoundError:
        raise
    except OSError as e:
        raise ModelFolderError(f"Cannot read {path}: {e.strerror or e}. Check the model folder.") from e
    if len(data) > MAX_CONFIG_BYTES:
        raise ConfigError(f"{path} is larger than {MAX_CONFIG_BYTES >> 20} MB; a model's configuration is a few "
                          "KB. The model folder is damaged; download the model again.")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ConfigError(f"{path} is not UTF-8 text (byte {e.start}). The model folder is damaged; "
                          "download the model again.") from e


def load_hyperpyyaml(path: Path) -> dict:
    """Read a HyperPyYAML file into plain data (tags kept as :class:`Tagged`, refs resolved)."""
    try:
        text = _read_config_text(Path(path))
    except FileNotFoundError as e:
        raise ModelFolderError(f"Cannot read {path}: it does not exist. Check the model folder.") from e
    try:
        raw = yaml.load(text, Loader=_TolerantLoader)  # noqa: S506 - SafeLoader subclass
    except ConfigError as e:
        raise ConfigError(f"{path} cannot be used: {e}. Re-download the model.") from e
    except (yaml.YAMLError, ValueError, RecursionError) as e:  # ValueError: e.g. a 5000-digit integer
        raise ConfigError(f"{path} is not valid YAML ({str(e)[:200]}). Re-download the model.") from e
    if not isinstance(raw, dict):
        raise ConfigError(f"{path} does not hold a mapping at the top level. Re-download the model.")
    try:
        return _resolve(raw, raw)
    except ConfigError as e:
        raise ConfigError(f"{path} cannot be used: {e}. Re-download the model.") from e
    except (KeyError, ValueError, IndexError, TypeError, RecursionError) as e:
        raise ConfigError(f"{path}: cannot resolve reference {str(e)[:200]}. Re-download the model.") from e


# --------------------------------------------------------------------------------------------
# Typed configs
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class QwenDims:
    """Qwen2 decoder dimensions (CosyVoice-BlankEN/config.json)."""

    hidden_size: int
    num_hidden_layers: int
    num_attention_heads: int
    num_key_value_heads: int
    intermediate_size: int
    vocab_size: int
    rope_theta: float = 1_000_000.0
    rms_norm_eps: float = 1e-6
    max_position_embeddings: int = 32768
    tie_word_embeddings: bool = True

    @property
    def head_dim(self) -> int:
        return self.hidden_size // self.num_attention_heads


@dataclass(frozen=True)
class SamplingConfig:
    """Repetition-aware sampling (ras_sampling) parameters."""

    top_p: float = 0.8
    top_k: int = 25
    win_size: int = 10
    tau_r: float = 0.1


@dataclass(frozen=True)
class LMConfig:
    """The text-speech LM (Qwen2LM in the official code)."""

    llm_input_size: int
    llm_output_size: int
    speech_token_size: int
    mix_ratio: tuple[int, int]
    sampling: SamplingConfig
    qwen: QwenDims


@dataclass(frozen=True)
class FlowEncoderConfig:
    """UpsampleConformerEncoder."""

    input_size: int
    output_size: int
    attention_heads: int
    linear_units: int
    num_blocks: int
    normalize_before: bool
    static_chunk_size: int
    pre_lookahead_len: int = 3
    num_up_blocks: int = 4  # fixed in the official code, not in the YAML
    up_stride: int = 2  # fixed in the official code (Upsample1D stride)


@dataclass(frozen=True)
class EstimatorConfig:
    """CausalConditionalDecoder (the UNet velocity estimator of the CFM)."""

    in_channels: int
    out_channels: int
    channels: tuple[int, ...]
    attention_head_dim: int
    n_blocks: int
    num_mid_blocks: int
    num_heads: int
    act_fn: str
    static_chunk_size: int
    num_decoding_left_chunks: int


@dataclass(frozen=True)
class CFMConfig:
    """CausalConditionalCFM solver settings."""

    in_channels: int
    spk_emb_dim: int
    sigma_min: float
    solver: str
    t_scheduler: str
    inference_cfg_rate: float
    n_timesteps: int = 10  # what CosyVoice2Model passes at inference


@dataclass(frozen=True)
class FlowConfig:
    """CausalMaskedDiffWithXvec."""

    input_size: int
    output_size: int
    spk_embed_dim: int
    vocab_size: int
    input_frame_rate: int
    token_mel_ratio: int
    pre_lookahead_len: int
    encoder: FlowEncoderConfig
    cfm: CFMConfig
    estimator: EstimatorConfig


@dataclass(frozen=True)
class F0PredictorConfig:
    num_class: int
    in_channels: int
    cond_channels: int


@dataclass(frozen=True)
class HiFTConfig:
    """HiFTGenerator (NSF + HiFi-GAN + iSTFT vocoder)."""

    in_channels: int
    base_channels: int
    nb_harmonics: int
    sampling_rate: int
    nsf_alpha: float
    nsf_sigma: float
    nsf_voiced_threshold: float
    upsample_rates: tuple[int, ...]
    upsample_kernel_sizes: tuple[int, ...]
    istft_n_fft: int
    istft_hop_len: int
    resblock_kernel_sizes: tuple[int, ...]
    resblock_dilation_sizes: tuple[tuple[int, ...], ...]
    source_resblock_kernel_sizes: tuple[int, ...]
    source_resblock_dilation_sizes: tuple[tuple[int, ...], ...]
    lrelu_slope: float
    audio_limit: float
    f0: F0PredictorConfig

    @property
    def upsample_factor(self) -> int:
        """Waveform samples per mel frame (480 at 24 kHz)."""
        f = self.istft_hop_len
        for r in self.upsample_rates:
            f *= r
        return f


@dataclass(frozen=True)
class MelConfig:
    """The flow's 24 kHz mel (matcha mel_spectrogram; yaml ``feat_extractor``)."""

    n_fft: int = 1920
    num_mels: int = 80
    sampling_rate: int = 24000
    hop_size: int = 480
    win_size: int = 1920
    fmin: float = 0.0
    fmax: float | None = 8000.0
    center: bool = False


@dataclass(frozen=True)
class ModelConfig:
    """Everything the engine needs to build CosyVoice 2 from one model folder."""

    family: ClassVar[str] = COSYVOICE2
    sample_rate: int
    token_frame_rate: int
    token_mel_ratio: int
    chunk_size: int
    num_decoding_left_chunks: int
    lm: LMConfig
    flow: FlowConfig
    hift: HiFTConfig
    feat: MelConfig = field(default_factory=MelConfig)


@dataclass(frozen=True)
class PreLookaheadConfig:
    """CosyVoice 3's ``PreLookaheadLayer``: token embeddings see ``pre_lookahead_len`` tokens ahead."""

    in_channels: int
    channels: int
    pre_lookahead_len: int


@dataclass(frozen=True)
class DiTConfig:
    """The DiT velocity estimator of CosyVoice 3's CFM (``cosyvoice.flow.DiT.dit.DiT``)."""

    dim: int
    depth: int
    heads: int
    dim_head: int
    ff_mult: int
    mel_dim: int
    mu_dim: int
    spk_dim: int
    out_channels: int
    static_chunk_size: int  # frames; the official streaming mask sees every earlier chunk (the yaml's left chunks are ignored)


@dataclass(frozen=True)
class DiTFlowConfig:
    """CausalMaskedDiffWithDiT: token embedding + pre-lookahead (no encoder), DiT CFM."""

    input_size: int
    output_size: int
    spk_embed_dim: int
    vocab_size: int
    input_frame_rate: int
    token_mel_ratio: int
    pre_lookahead_len: int
    pre_lookahead: PreLookaheadConfig
    cfm: CFMConfig
    dit: DiTConfig


@dataclass(frozen=True)
class CausalHiFTConfig(HiFTConfig):
    """CausalHiFTGenerator: the HiFT sizes plus the right look-ahead of its first convolution."""

    conv_pre_look_right: int = 4


@dataclass(frozen=True)
class CosyVoice3Config:
    """Everything the engine needs to build CosyVoice 3 from one model folder (shared parts as CosyVoice 2)."""

    family: ClassVar[str] = COSYVOICE3
    sample_rate: int
    token_frame_rate: int
    token_mel_ratio: int
    chunk_size: int
    num_decoding_left_chunks: int
    lm: LMConfig
    flow: DiTFlowConfig
    hift: CausalHiFTConfig
    feat: MelConfig = field(default_factory=lambda: MelConfig(fmax=None))


def _need(d: Any, key: str, where: str, yaml_name: str = YAML_NAME) -> Any:
    if isinstance(d, Tagged):
        d = d.value
    if not isinstance(d, dict) or key not in d:
        family = COSYVOICE3 if yaml_name == YAML3_NAME else COSYVOICE2
        raise ConfigError(f"{yaml_name}: '{where}' has no '{key}'. Is this a {FAMILY_NAMES[family]} model folder?")
    return d[key]


def _ints(v: Any) -> tuple[int, ...]:
    return tuple(int(x) for x in v)


def read_qwen_dims(path: Path) -> QwenDims:
    """Read the Qwen2 dimensions from ``CosyVoice-BlankEN/config.json``."""
    try:
        cfg = json.loads(_read_config_text(Path(path)))
    except FileNotFoundError as e:
        raise ModelFolderError(f"Missing {path}. The model folder must contain {QWEN_DIR}/config.json.") from e
    except (ValueError, RecursionError) as e:  # JSONDecodeError, a 5000-digit integer, [[[[...
        raise ConfigError(f"Cannot read {path}: {str(e)[:200]}. Re-download the model.") from e
    if not isinstance(cfg, dict):
        raise ConfigError(f"{path} does not hold a JSON object. Re-download the model.")
    def num(key: str, kind: type, default: Any = None) -> Any:
        value = cfg.get(key, default)
        if value is None:
            raise ConfigError(f"{path} has no {key}. Re-download the model.")
        try:
            return kind(value)
        except (TypeError, ValueError, OverflowError) as e:  # OverflowError: int(Infinity)
            raise ConfigError(f"{path} has {key} = {str(value)[:40]!r}, not a number. Re-download the model.") from e

    # torch_dtype is deliberately ignored: the official code runs the LM in fp32.
    return QwenDims(
        hidden_size=num("hidden_size", int),
        num_hidden_layers=num("num_hidden_layers", int),
        num_attention_heads=num("num_attention_heads", int),
        num_key_value_heads=num("num_key_value_heads", int, cfg.get("num_attention_heads")),
        intermediate_size=num("intermediate_size", int),
        vocab_size=num("vocab_size", int),
        rope_theta=num("rope_theta", float, 10000.0),
        rms_norm_eps=num("rms_norm_eps", float, 1e-6),
        max_position_embeddings=num("max_position_embeddings", int, 32768),
        tie_word_embeddings=bool(cfg.get("tie_word_embeddings", True)),
    )


def _lm_config(data: dict, qwen: QwenDims, yaml_name: str) -> LMConfig:
    """The ``llm`` section (Qwen2LM and CosyVoice3LM read the same keys)."""
    llm = _need(data, "llm", "top level", yaml_name)
    sampling = llm.get("sampling")
    samp = _defaults_overridden(SamplingConfig(), sampling) if isinstance(sampling, Tagged) else SamplingConfig()
    return LMConfig(
        llm_input_size=int(_need(llm, "llm_input_size", "llm", yaml_name)),
        llm_output_size=int(_need(llm, "llm_output_size", "llm", yaml_name)),
        speech_token_size=int(_need(llm, "speech_token_size", "llm", yaml_name)),
        mix_ratio=tuple(_ints(llm.get("mix_ratio", [5, 15]))),  # type: ignore[arg-type]
        sampling=samp,
        qwen=qwen,
    )


def _cfm_config(dec: Any) -> CFMConfig:
    """``flow.decoder`` (CausalConditionalCFM, the same solver in both families)."""
    cfm_params = dec.get("cfm_params")
    if isinstance(cfm_params, Tagged):  # !new:omegaconf.DictConfig {content: {...}}
        cfm_params = cfm_params.get("content", cfm_params.value)
    cfm_params = cfm_params or {}
    return CFMConfig(
        in_channels=int(dec.get("in_channels", 240)),
        spk_emb_dim=int(dec.get("spk_emb_dim", 80)),
        sigma_min=float(cfm_params.get("sigma_min", 1e-6)),
        solver=str(cfm_params.get("solver", "euler")),
        t_scheduler=str(cfm_params.get("t_scheduler", "cosine")),
        inference_cfg_rate=float(cfm_params.get("inference_cfg_rate", 0.7)),
    )


def _hift_fields(data: dict, yaml_name: str) -> tuple[Any, dict[str, Any]]:
    """The ``hift`` node and the :class:`HiFTConfig` fields (HiFTGenerator and CausalHiFTGenerator share them)."""
    hift = _need(data, "hift", "top level", yaml_name)
    f0 = _need(hift, "f0_predictor", "hift", yaml_name)
    istft = _need(hift, "istft_params", "hift", yaml_name)
    return hift, dict(
        in_channels=int(hift.get("in_channels", 80)),
        base_channels=int(_need(hift, "base_channels", "hift", yaml_name)),
        nb_harmonics=int(hift.get("nb_harmonics", 8)),
        sampling_rate=int(hift.get("sampling_rate", 24000)),
        nsf_alpha=float(hift.get("nsf_alpha", 0.1)),
        nsf_sigma=float(hift.get("nsf_sigma", 0.003)),
        nsf_voiced_threshold=float(hift.get("nsf_voiced_threshold", 10)),
        upsample_rates=_ints(_need(hift, "upsample_rates", "hift", yaml_name)),
        upsample_kernel_sizes=_ints(_need(hift, "upsample_kernel_sizes", "hift", yaml_name)),
        istft_n_fft=int(istft["n_fft"]),
        istft_hop_len=int(istft["hop_len"]),
        resblock_kernel_sizes=_ints(hift.get("resblock_kernel_sizes", [3, 7, 11])),
        resblock_dilation_sizes=tuple(_ints(d) for d in hift.get("resblock_dilation_sizes", [[1, 3, 5]] * 3)),
        source_resblock_kernel_sizes=_ints(hift.get("source_resblock_kernel_sizes", [7, 7, 11])),
        source_resblock_dilation_sizes=tuple(
            _ints(d) for d in hift.get("source_resblock_dilation_sizes", [[1, 3, 5]] * 3)
        ),
        lrelu_slope=float(hift.get("lrelu_slope", 0.1)),
        audio_limit=float(hift.get("audio_limit", 0.99)),
        f0=F0PredictorConfig(
            num_class=int(f0.get("num_class", 1)),
            in_channels=int(f0.get("in_channels", 80)),
            cond_channels=int(f0.get("cond_channels", 512)),
        ),
    )


def _mel_config(data: dict, default: MelConfig) -> MelConfig:
    """``feat_extractor`` (matcha mel_spectrogram); ``fmax: null`` means half the sample rate."""
    feat = data.get("feat_extractor")
    if not isinstance(feat, Tagged):
        return default
    return _defaults_overridden(default, feat)


def _defaults_overridden(default: Any, node: Any) -> Any:
    """``default`` (a flat config dataclass) with the values ``node`` gives, each converted to its field's type,
    so every default is written once, on the dataclass. Only ``fmax`` may be ``null`` (half the sample rate)."""
    given = {}
    for f in fields(default):
        if f.name not in node:
            continue
        value = node.get(f.name)
        if f.name == "fmax":
            given[f.name] = None if value is None else float(value)
        else:
            given[f.name] = type(getattr(default, f.name))(value)
    return replace(default, **given)


def _stream_fields(data: dict) -> dict[str, int]:
    """The top-level rates and streaming sizes both families' YAMLs define."""
    return dict(
        sample_rate=int(data.get("sample_rate", 24000)),
        token_frame_rate=int(data.get("token_frame_rate", 25)),
        token_mel_ratio=int(data.get("token_mel_ratio", 2)),
        chunk_size=int(data.get("chunk_size", 25)),
        num_decoding_left_chunks=int(data.get("num_decoding_left_chunks", -1)),
    )


def config_from_yaml(data: dict, qwen: QwenDims) -> ModelConfig:
    """Build :class:`ModelConfig` from resolved HyperPyYAML data and the Qwen2 dims."""
    try:
        lm = _lm_config(data, qwen, YAML_NAME)
        flow = _need(data, "flow", "top level")
        enc = _need(flow, "encoder", "flow")
        dec = _need(flow, "decoder", "flow")
        est = _need(dec, "estimator", "flow.decoder")
        pre_lookahead = int(flow.get("pre_lookahead_len", 3))
        flow_cfg = FlowConfig(
            input_size=int(_need(flow, "input_size", "flow")),
            output_size=int(_need(flow, "output_size", "flow")),
            spk_embed_dim=int(_need(flow, "spk_embed_dim", "flow")),
            vocab_size=int(_need(flow, "vocab_size", "flow")),
            input_frame_rate=int(flow.get("input_frame_rate", 25)),
            token_mel_ratio=int(flow.get("token_mel_ratio", 2)),
            pre_lookahead_len=pre_lookahead,
            encoder=FlowEncoderConfig(
                input_size=int(enc.get("input_size", 512)),
                output_size=int(enc.get("output_size", 512)),
                attention_heads=int(enc.get("attention_heads", 8)),
                linear_units=int(enc.get("linear_units", 2048)),
                num_blocks=int(enc.get("num_blocks", 6)),
                normalize_before=bool(enc.get("normalize_before", True)),
                static_chunk_size=int(enc.get("static_chunk_size", 25)),
                pre_lookahead_len=pre_lookahead,
            ),
            cfm=_cfm_config(dec),
            estimator=EstimatorConfig(
                in_channels=int(_need(est, "in_channels", "flow.decoder.estimator")),
                out_channels=int(_need(est, "out_channels", "flow.decoder.estimator")),
                channels=_ints(est.get("channels", [256])),
                attention_head_dim=int(est.get("attention_head_dim", 64)),
                n_blocks=int(est.get("n_blocks", 4)),
                num_mid_blocks=int(est.get("num_mid_blocks", 12)),
                num_heads=int(est.get("num_heads", 8)),
                act_fn=str(est.get("act_fn", "gelu")),
                static_chunk_size=int(est.get("static_chunk_size", 50)),
                num_decoding_left_chunks=int(est.get("num_decoding_left_chunks", -1)),
            ),
        )
        _, hift_fields = _hift_fields(data, YAML_NAME)
        return ModelConfig(**_stream_fields(data), lm=lm, flow=flow_cfg, hift=HiFTConfig(**hift_fields),
                           feat=_mel_config(data, MelConfig()))
    except ConfigError:
        raise
    except (KeyError, TypeError, ValueError, OverflowError, AttributeError) as e:
        raise ConfigError(f"cosyvoice2.yaml has a missing or bad value ({e!r}). Re-download the model.") from e


def _dit_flow_config(data: dict) -> DiTFlowConfig:
    """``flow`` of cosyvoice3.yaml (CausalMaskedDiffWithDiT), with the sizes its code relies on checked."""
    y = YAML3_NAME
    flow = _need(data, "flow", "top level", y)
    pre = _need(flow, "pre_lookahead_layer", "flow", y)
    dec = _need(flow, "decoder", "flow", y)
    est = _need(dec, "estimator", "flow.decoder", y)
    if est.get("long_skip_connection", False):
        raise ConfigError(f"{y}: flow.decoder.estimator.long_skip_connection is not used by CosyVoice 3 and is "
                          "not supported. Use an official Fun-CosyVoice3 model.")
    mel_dim = int(est.get("mel_dim", 80))
    mu_dim, spk_dim = est.get("mu_dim"), est.get("spk_dim")
    lookahead = int(flow.get("pre_lookahead_len", 3))
    cfg = DiTFlowConfig(
        input_size=int(_need(flow, "input_size", "flow", y)),
        output_size=int(_need(flow, "output_size", "flow", y)),
        spk_embed_dim=int(_need(flow, "spk_embed_dim", "flow", y)),
        vocab_size=int(_need(flow, "vocab_size", "flow", y)),
        input_frame_rate=int(flow.get("input_frame_rate", 25)),
        token_mel_ratio=int(flow.get("token_mel_ratio", 2)),
        pre_lookahead_len=lookahead,
        pre_lookahead=PreLookaheadConfig(
            in_channels=int(_need(pre, "in_channels", "flow.pre_lookahead_layer", y)),
            channels=int(_need(pre, "channels", "flow.pre_lookahead_layer", y)),
            pre_lookahead_len=int(pre.get("pre_lookahead_len", 1)),
        ),
        cfm=_cfm_config(dec),
        dit=DiTConfig(
            dim=int(_need(est, "dim", "flow.decoder.estimator", y)),
            depth=int(est.get("depth", 8)),
            heads=int(est.get("heads", 8)),
            dim_head=int(est.get("dim_head", 64)),
            ff_mult=int(est.get("ff_mult", 4)),
            mel_dim=mel_dim,
            mu_dim=mel_dim if mu_dim is None else int(mu_dim),
            spk_dim=0 if spk_dim is None else int(spk_dim),
            out_channels=int(est.get("out_channels") or mel_dim),
            static_chunk_size=int(est.get("static_chunk_size", 50)),
        ),
    )
    _check_dit_flow(cfg)
    return cfg


def _check_dit_flow(cfg: DiTFlowConfig) -> None:
    """The relations CosyVoice 3's flow code takes for granted (it would fail deep inside torch otherwise)."""
    y, d = YAML3_NAME, cfg.dit
    problems = []
    if cfg.pre_lookahead.in_channels != cfg.input_size or d.mu_dim != cfg.input_size:
        problems.append(f"the token embedding ({cfg.input_size}), pre_lookahead_layer.in_channels "
                        f"({cfg.pre_lookahead.in_channels}) and the estimator's mu_dim ({d.mu_dim}) must be equal")
    if cfg.pre_lookahead.pre_lookahead_len != cfg.pre_lookahead_len:
        problems.append(f"flow.pre_lookahead_len ({cfg.pre_lookahead_len}) and pre_lookahead_layer.pre_lookahead_len "
                        f"({cfg.pre_lookahead.pre_lookahead_len}) must be equal")
    if d.mel_dim != cfg.output_size or d.out_channels != cfg.output_size:
        problems.append(f"the estimator's mel_dim/out_channels ({d.mel_dim}/{d.out_channels}) must equal "
                        f"flow.output_size ({cfg.output_size})")
    if d.dim % 16:
        problems.append(f"the estimator's dim ({d.dim}) must be a multiple of 16 (its position convolution has 16 "
                        "groups)")
    if d.dim_head % 2:
        problems.append(f"the estimator's dim_head ({d.dim_head}) must be even (rotary embedding pairs)")
    if problems:
        raise ConfigError(f"{y}: {'; '.join(problems)}. The model folder is damaged; download it again.")


def config3_from_yaml(data: dict, qwen: QwenDims) -> CosyVoice3Config:
    """Build :class:`CosyVoice3Config` from resolved cosyvoice3.yaml data and the Qwen2 dims."""
    try:
        hift, hift_fields = _hift_fields(data, YAML3_NAME)
        return CosyVoice3Config(
            **_stream_fields(data), lm=_lm_config(data, qwen, YAML3_NAME), flow=_dit_flow_config(data),
            hift=CausalHiFTConfig(**hift_fields, conv_pre_look_right=int(hift.get("conv_pre_look_right", 4))),
            feat=_mel_config(data, MelConfig(fmax=None)))
    except ConfigError:
        raise
    except (KeyError, TypeError, ValueError, OverflowError, AttributeError) as e:
        raise ConfigError(f"cosyvoice3.yaml has a missing or bad value ({e!r}). Re-download the model.") from e


def load_config(model_dir: str | Path) -> ModelConfig:
    """Read ``cosyvoice2.yaml`` and ``CosyVoice-BlankEN/config.json`` of an official model folder."""
    model_dir = Path(model_dir)
    if not model_dir.is_dir():
        raise ModelFolderError(f"Model folder {model_dir} does not exist. Download the model or pick its folder.")
    yaml_path = model_dir / YAML_NAME
    if not yaml_path.is_file():
        raise ModelFolderError(
            f"{model_dir} has no {YAML_NAME}; it is not a CosyVoice2 model folder. "
            "Pick the folder that holds cosyvoice2.yaml, llm.pt, flow.pt and hift.pt."
        )
    cfg = config_from_yaml(load_hyperpyyaml(yaml_path), read_qwen_dims(model_dir / QWEN_DIR / "config.json"))
    return check_model_config(cfg)


def official_config() -> ModelConfig:
    """The CosyVoice2-0.5B dimensions (used to build at official size without the folder)."""
    qwen = QwenDims(hidden_size=896, num_hidden_layers=24, num_attention_heads=14, num_key_value_heads=2,
                    intermediate_size=4864, vocab_size=151936)
    return ModelConfig(
        sample_rate=24000, token_frame_rate=25, token_mel_ratio=2, chunk_size=25, num_decoding_left_chunks=-1,
        lm=LMConfig(llm_input_size=896, llm_output_size=896, speech_token_size=6561, mix_ratio=(5, 15),
                    sampling=SamplingConfig(), qwen=qwen),
        flow=FlowConfig(
            input_size=512, output_size=80, spk_embed_dim=192, vocab_size=6561, input_frame_rate=25,
            token_mel_ratio=2, pre_lookahead_len=3,
            encoder=FlowEncoderConfig(input_size=512, output_size=512, attention_heads=8, linear_units=2048,
                                      num_blocks=6, normalize_before=True, static_chunk_size=25),
            cfm=CFMConfig(in_channels=240, spk_emb_dim=80, sigma_min=1e-6, solver="euler", t_scheduler="cosine",
                          inference_cfg_rate=0.7),
            estimator=EstimatorConfig(in_channels=320, out_channels=80, channels=(256,), attention_head_dim=64,
                                      n_blocks=4, num_mid_blocks=12, num_heads=8, act_fn="gelu",
                                      static_chunk_size=50, num_decoding_left_chunks=-1),
        ),
        hift=HiFTConfig(
            in_channels=80, base_channels=512, nb_harmonics=8, sampling_rate=24000, nsf_alpha=0.1, nsf_sigma=0.003,
            nsf_voiced_threshold=10, upsample_rates=(8, 5, 3), upsample_kernel_sizes=(16, 11, 7), istft_n_fft=16,
            istft_hop_len=4, resblock_kernel_sizes=(3, 7, 11), resblock_dilation_sizes=((1, 3, 5),) * 3,
            source_resblock_kernel_sizes=(7, 7, 11), source_resblock_dilation_sizes=((1, 3, 5),) * 3,
            lrelu_slope=0.1, audio_limit=0.99, f0=F0PredictorConfig(num_class=1, in_channels=80, cond_channels=512),
        ),
        feat=MelConfig(),
    )


# --------------------------------------------------------------------------------------------
# CosyVoice 3, and telling the families apart
# --------------------------------------------------------------------------------------------
def model_family(model_dir: str | Path) -> str:
    """:data:`COSYVOICE2` or :data:`COSYVOICE3`, by the YAML the folder holds.

    Raises :class:`ModelFolderError` for a missing folder and :class:`ModelFamilyError` for a folder that is
    neither (naming a lone speech tokenizer when one says what the folder was meant to be) or both.
    """
    model_dir = Path(model_dir)
    if not model_dir.is_dir():
        raise ModelFolderError(f"Model folder {model_dir} does not exist. Download the model or pick its folder.")
    found = [family for family, (yaml_name, _) in FAMILY_FILES.items() if (model_dir / yaml_name).is_file()]
    if len(found) == 1:
        return found[0]
    if found:
        raise ModelFamilyError(
            f"{model_dir} holds both {YAML_NAME} and {YAML3_NAME}, so it is not clear which model it is. "
            "Keep each model in its own folder, as downloaded.")
    hints = [f for f, (_, onnx) in FAMILY_FILES.items() if (model_dir / onnx).is_file()]
    seems = (f" It has the {FAMILY_NAMES[hints[0]]} speech tokenizer but no {FAMILY_FILES[hints[0]][0]}."
             if len(hints) == 1 else "")
    raise ModelFamilyError(
        f"{model_dir} is not a CosyVoice model folder: it has neither {YAML_NAME} nor {YAML3_NAME}.{seems} "
        "Pick the folder that holds the YAML, llm.pt, flow.pt and hift.pt (CosyVoice2-0.5B or "
        "Fun-CosyVoice3-0.5B), or download one.")


def load_config3(model_dir: str | Path) -> CosyVoice3Config:
    """Read ``cosyvoice3.yaml`` and ``CosyVoice-BlankEN/config.json`` of an official CosyVoice 3 folder."""
    model_dir = Path(model_dir)
    if model_family(model_dir) != COSYVOICE3:
        raise ModelFamilyError(f"{model_dir} holds {YAML_NAME}: it is a CosyVoice 2 model, not CosyVoice 3.")
    cfg = config3_from_yaml(load_hyperpyyaml(model_dir / YAML3_NAME),
                            read_qwen_dims(model_dir / QWEN_DIR / "config.json"))
    return check_model_config(cfg)


def load_model_config(model_dir: str | Path) -> ModelConfig | CosyVoice3Config:
    """The typed config of either family (its ``family`` attribute says which)."""
    return load_config3(model_dir) if model_family(model_dir) == COSYVOICE3 else load_config(model_dir)


def official_config3() -> CosyVoice3Config:
    """The Fun-CosyVoice3-0.5B dimensions (to build at official size without the folder)."""
    base = official_config()
    return CosyVoice3Config(
        sample_rate=24000, token_frame_rate=25, token_mel_ratio=2, chunk_size=25, num_decoding_left_chunks=-1,
        lm=base.lm,
        flow=DiTFlowConfig(
            input_size=80, output_size=80, spk_embed_dim=192, vocab_size=6561, input_frame_rate=25,
            token_mel_ratio=2, pre_lookahead_len=3,
            pre_lookahead=PreLookaheadConfig(in_channels=80, channels=1024, pre_lookahead_len=3),
            cfm=base.flow.cfm,
            dit=DiTConfig(dim=1024, depth=22, heads=16, dim_head=64, ff_mult=2, mel_dim=80, mu_dim=80, spk_dim=80,
                          out_channels=80, static_chunk_size=50),
        ),
        hift=CausalHiFTConfig(**{f: getattr(base.hift, f) for f in base.hift.__dataclass_fields__},
                              conv_pre_look_right=4),
        feat=MelConfig(fmax=None),
    )
