"""A random tiny model folder in the official layout, for self-tests (app ``--self-test``, CI).

It exercises every code path of the real model (same files, same loaders, same I/O contracts) in a
few seconds, but speaks nonsense. Sizes follow the parity fixture: Qwen2 hidden 64, 2 layers; flow
estimator 64 channels; HiFT 32 channels. The flow encoder cannot shrink below 512 channels (the
official code hard-codes them), so to keep ``flow.pt`` small every large tensor is a view into ONE
shared random storage (``torch.save`` writes a storage once); tensors larger than the storage are
row-overlapping strided views (odd row stride, rows still distinct). Loaders copy them as usual.

All randomness comes from ``PortableRandom(seed)`` (the same weights on every machine, so a test may compare
runs across CPUs); modules are built on the meta device, so no global RNG is touched.
"""
from __future__ import annotations

import math
import shutil
import sys
from pathlib import Path

import torch

from .rng import PortableRandom, Stream

SHARED_NUMEL = 1 << 19  # 2 MB of fp32 shared by every large tensor
LARGE = 16384

_YAML = """# TINY RANDOM-WEIGHT MODEL made by engine.tiny.make_tiny_model (seed {seed}); speaks nonsense.
sample_rate: 24000
llm_input_size: 64
llm_output_size: 64
spk_embed_dim: 192
token_frame_rate: 25
token_mel_ratio: 2
chunk_size: 25
num_decoding_left_chunks: -1
llm: !new:cosyvoice.llm.llm.Qwen2LM
    llm_input_size: !ref <llm_input_size>
    llm_output_size: !ref <llm_output_size>
    speech_token_size: 6561
    mix_ratio: [5, 15]
    sampling: !name:cosyvoice.utils.common.ras_sampling
        top_p: 0.8
        top_k: 25
        win_size: 10
        tau_r: 0.1
flow: !new:cosyvoice.flow.flow.CausalMaskedDiffWithXvec
    input_size: 512
    output_size: 80
    spk_embed_dim: !ref <spk_embed_dim>
    vocab_size: 6561
    input_frame_rate: !ref <token_frame_rate>
    token_mel_ratio: !ref <token_mel_ratio>
    pre_lookahead_len: 3
    encoder: !new:cosyvoice.transformer.upsample_encoder.UpsampleConformerEncoder
        output_size: 512
        attention_heads: 4
        linear_units: 64
        num_blocks: 1
        normalize_before: True
        input_size: 512
        static_chunk_size: !ref <chunk_size>
    decoder: !new:cosyvoice.flow.flow_matching.CausalConditionalCFM
        in_channels: 240
        n_spks: 1
        spk_emb_dim: 80
        cfm_params: !new:omegaconf.DictConfig
            content:
                sigma_min: 1e-06
                solver: 'euler'
                t_scheduler: 'cosine'
                inference_cfg_rate: 0.7
        estimator: !new:cosyvoice.flow.decoder.CausalConditionalDecoder
            in_channels: 320
            out_channels: 80
            channels: [64]
            attention_head_dim: 16
            n_blocks: 1
            num_mid_blocks: 2
            num_heads: 2
            act_fn: 'gelu'
            static_chunk_size: !ref <chunk_size> * <token_mel_ratio>
            num_decoding_left_chunks: !ref <num_decoding_left_chunks>
hift: !new:cosyvoice.hifigan.generator.HiFTGenerator
    in_channels: 80
    base_channels: 32
    nb_harmonics: 8
    sampling_rate: !ref <sample_rate>
    nsf_alpha: 0.1
    nsf_sigma: 0.003
    nsf_voiced_threshold: 10
    upsample_rates: [8, 5, 3]
    upsample_kernel_sizes: [16, 11, 7]
    istft_params:
        n_fft: 16
        hop_len: 4
    resblock_kernel_sizes: [3, 7, 11]
    resblock_dilation_sizes: [[1, 3, 5], [1, 3, 5], [1, 3, 5]]
    source_resblock_kernel_sizes: [7, 7, 11]
    source_resblock_dilation_sizes: [[1, 3, 5], [1, 3, 5], [1, 3, 5]]
    lrelu_slope: 0.1
    audio_limit: 0.99
    f0_predictor: !new:cosyvoice.hifigan.f0_predictor.ConvRNNF0Predictor
        num_class: 1
        in_channels: 80
        cond_channels: 32
feat_extractor: !name:matcha.utils.audio.mel_spectrogram
    n_fft: 1920
    num_mels: 80
    sampling_rate: !ref <sample_rate>
    hop_size: 480
    win_size: 1920
    fmin: 0
    fmax: 8000
    center: False
"""

TOKENIZER_FILES = ("config.json", "vocab.json", "merges.txt", "tokenizer_config.json", "generation_config.json")


def tiny_tokenizer_dir() -> Path:
    """resources/tiny_tokenizer in a checkout or inside a PyInstaller bundle."""
    roots = [Path(__file__).resolve().parents[1]]
    if hasattr(sys, "_MEIPASS"):
        roots.insert(0, Path(sys._MEIPASS))  # type: ignore[attr-defined]
    for root in roots:
        d = root / "resources" / "tiny_tokenizer"
        if (d / "vocab.json").is_file():
            return d
    raise FileNotFoundError("resources/tiny_tokenizer is missing from this installation.")


def _random_state_dict(module: torch.nn.Module, g: PortableRandom) -> dict[str, torch.Tensor]:
    """Random values for every state_dict entry of a meta-device module (shapes only are used)."""
    shared = g.normal([SHARED_NUMEL]) * (1.0 / math.sqrt(512))
    out: dict[str, torch.Tensor] = {}
    for name, t in module.state_dict().items():
        shape = tuple(t.shape)
        n = math.prod(shape) if shape else 1
        if not t.dtype.is_floating_point:
            out[name] = torch.zeros(shape, dtype=t.dtype)
            continue
        leaf = name.rsplit(".", 1)[-1]
        if len(shape) <= 1 or leaf in ("original0", "weight_g"):
            if leaf == "bias" or n == 0:
                out[name] = g.normal(shape) * 0.02
            else:  # norm scales, Snake alphas, weight-norm magnitudes: around 1
                out[name] = 1.0 + 0.1 * g.normal(shape)
            continue
        if n < LARGE:
            fan_in = max(n // shape[0], 1)
            out[name] = g.normal(shape) / math.sqrt(fan_in)
            continue
        rest = n // shape[0]
        if n <= SHARED_NUMEL:
            out[name] = shared[:n].view(shape)
        else:
            stride0 = (SHARED_NUMEL - rest) // max(shape[0] - 1, 1)
            stride0 -= 1 - stride0 % 2  # odd: shifted rows never coincide
            inner = torch.empty(shape[1:]).stride() if len(shape) > 1 else ()
            out[name] = shared.as_strided(shape, (stride0, *inner))
    return out


def _speech_tokenizer_onnx(g: PortableRandom):
    """feats [1,128,T] float32, feats_length [1] int32 -> indices [1, ceil(T/4)] int32 in [0, 6561)."""
    import numpy as np
    from onnx import TensorProto, helper, numpy_helper

    w = (g.normal([1, 128, 4]) * 0.1).numpy().astype(np.float32)
    nodes = [
        helper.make_node("Conv", ["feats", "w"], ["c"], strides=[4], pads=[0, 3], kernel_shape=[4]),
        helper.make_node("Abs", ["c"], ["a"]),
        helper.make_node("Mul", ["a", "scale"], ["s"]),
        helper.make_node("Cast", ["s"], ["i64"], to=TensorProto.INT64),
        helper.make_node("Mod", ["i64", "n_tokens"], ["m"]),
        helper.make_node("Squeeze", ["m", "axis1"], ["sq"]),
        helper.make_node("Cast", ["sq"], ["indices"], to=TensorProto.INT32),
    ]
    inits = [numpy_helper.from_array(w, "w"), numpy_helper.from_array(np.array(1000.0, np.float32), "scale"),
             numpy_helper.from_array(np.array(6561, np.int64), "n_tokens"),
             numpy_helper.from_array(np.array([1], np.int64), "axis1")]
    graph = helper.make_graph(
        nodes, "tiny_speech_tokenizer",
        [helper.make_tensor_value_info("feats", TensorProto.FLOAT, [1, 128, "T"]),
         helper.make_tensor_value_info("feats_length", TensorProto.INT32, [1])],
        [helper.make_tensor_value_info("indices", TensorProto.INT32, [1, "N"])], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)


def _campplus_onnx(g: PortableRandom):
    """input [1, T, 80] float32 -> output [1, 192] float32 (mean over time, then a linear map)."""
    import numpy as np
    from onnx import TensorProto, helper, numpy_helper

    w = (g.normal([80, 192]) * 0.3).numpy().astype(np.float32)
    nodes = [helper.make_node("ReduceMean", ["input"], ["m"], axes=[1], keepdims=0),
             helper.make_node("MatMul", ["m", "w"], ["output"])]
    graph = helper.make_graph(
        nodes, "tiny_campplus", [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, "T", 80])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, 192])], [numpy_helper.from_array(w, "w")])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)


def make_tiny_model(dest: str | Path, seed: int = 0) -> Path:
    """Write a random tiny model folder at ``dest`` (created; existing files replaced) and return it."""
    import onnx

    from .config import load_config
    from .flow.flow import Flow
    from .llm.speech_lm import SpeechLM
    from .vocoder.hift import HiFT

    dest = Path(dest)
    qwen_dir = dest / "CosyVoice-BlankEN"
    qwen_dir.mkdir(parents=True, exist_ok=True)
    src = tiny_tokenizer_dir()
    for f in TOKENIZER_FILES:
        if (src / f).is_file():
            shutil.copyfile(src / f, qwen_dir / f)
    (dest / "cosyvoice2.yaml").write_text(_YAML.format(seed=seed), encoding="utf-8")
    cfg = load_config(dest)

    g = PortableRandom(seed, Stream.WEIGHTS)
    with torch.device("meta"):
        modules = {"llm.pt": SpeechLM(cfg.lm), "flow.pt": Flow(cfg.flow), "hift.pt": HiFT(cfg.hift)}
    for file_name, module in modules.items():
        torch.save(_random_state_dict(module, g), dest / file_name)
    onnx.save(_speech_tokenizer_onnx(g), str(dest / "speech_tokenizer_v2.onnx"))
    onnx.save(_campplus_onnx(g), str(dest / "campplus.onnx"))
    return dest
