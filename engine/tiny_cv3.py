"""A random tiny CosyVoice 3 folder in the official Fun-CosyVoice3 layout, for tests and the app's self-test.

The CosyVoice 3 sibling of :func:`engine.tiny.make_tiny_model` (same weights recipe, same stand-in ONNX
graphs, the same tiny BPE vocabulary): ``cosyvoice3.yaml``, ``llm.pt`` (CosyVoice3LM), ``flow.pt``
(pre-lookahead + DiT), ``hift.pt`` (CausalHiFT), ``campplus.onnx``, ``speech_tokenizer_v3.onnx`` and
``CosyVoice-BlankEN/``. It exercises every CosyVoice 3 code path in a few seconds but speaks nonsense.

The tiny vocabulary has no room for CosyVoice 3's 281 special tokens at the real ids, so ``config.json``'s
``vocab_size`` is raised to hold them and ``<|endofprompt|>`` gets the id the tokenizer gives it (the engine
reads that id from the tokenizer; the official code hard-codes 151646, the id of the real vocabulary).
All randomness comes from ``PortableRandom(seed)``; modules are built on the meta device.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import torch

from .rng import PortableRandom, Stream
from .tiny import TOKENIZER_FILES, _campplus_onnx, _random_state_dict, _speech_tokenizer_onnx, tiny_tokenizer_dir

TINY_VOCAB = 1536  # the tiny BPE (1203 ids) + CosyVoice 3's specials (277 new) rounded up

_YAML = """# TINY RANDOM-WEIGHT COSYVOICE 3 MODEL made by engine.tiny_cv3.make_tiny_cv3_model (seed {seed}); speaks nonsense.
sample_rate: 24000
llm_input_size: 64
llm_output_size: 64
spk_embed_dim: 192
qwen_pretrain_path: ''
token_frame_rate: 25
token_mel_ratio: 2
chunk_size: 25
num_decoding_left_chunks: -1
llm: !new:cosyvoice.llm.llm.CosyVoice3LM
    llm_input_size: !ref <llm_input_size>
    llm_output_size: !ref <llm_output_size>
    speech_token_size: 6561
    mix_ratio: [5, 15]
    llm: !new:cosyvoice.llm.llm.Qwen2Encoder
        pretrain_path: !ref <qwen_pretrain_path>
    sampling: !name:cosyvoice.utils.common.ras_sampling
        top_p: 0.8
        top_k: 25
        win_size: 10
        tau_r: 0.1
flow: !new:cosyvoice.flow.flow.CausalMaskedDiffWithDiT
    input_size: 80
    output_size: 80
    spk_embed_dim: !ref <spk_embed_dim>
    vocab_size: 6561
    input_frame_rate: !ref <token_frame_rate>
    token_mel_ratio: !ref <token_mel_ratio>
    pre_lookahead_len: 3
    pre_lookahead_layer: !new:cosyvoice.transformer.upsample_encoder.PreLookaheadLayer
        in_channels: 80
        channels: 64
        pre_lookahead_len: 3
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
        estimator: !new:cosyvoice.flow.DiT.dit.DiT
            dim: 64
            depth: 2
            heads: 4
            dim_head: 16
            ff_mult: 2
            mel_dim: 80
            mu_dim: 80
            spk_dim: 80
            out_channels: 80
            static_chunk_size: !ref <chunk_size> * <token_mel_ratio>
            num_decoding_left_chunks: !ref <num_decoding_left_chunks>
hift: !new:cosyvoice.hifigan.generator.CausalHiFTGenerator
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
    conv_pre_look_right: 4
    f0_predictor: !new:cosyvoice.hifigan.f0_predictor.CausalConvRNNF0Predictor
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
    fmax: null
    center: False
get_tokenizer: !name:cosyvoice.tokenizer.tokenizer.get_qwen_tokenizer
    token_path: !ref <qwen_pretrain_path>
    skip_special_tokens: True
    version: cosyvoice3
"""


def _tokenizer_folder(dest: Path) -> None:
    """The tiny BPE files, with ``config.json``'s vocabulary raised to :data:`TINY_VOCAB`."""
    dest.mkdir(parents=True, exist_ok=True)
    src = tiny_tokenizer_dir()
    for f in TOKENIZER_FILES:
        if (src / f).is_file() and f != "config.json":
            shutil.copyfile(src / f, dest / f)
    config = json.loads((src / "config.json").read_text(encoding="utf-8"))
    config["vocab_size"] = TINY_VOCAB
    (dest / "config.json").write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")


def make_tiny_cv3_model(dest: str | Path, seed: int = 0) -> Path:
    """Write a random tiny CosyVoice 3 folder at ``dest`` (created; existing files replaced) and return it."""
    import onnx

    from .config import load_config3
    from .flow.dit import rope_inv_freq
    from .flow.dit_flow import DiTFlow
    from .llm.cosyvoice3_lm import CosyVoice3LM
    from .vocoder.causal_hift import CausalHiFT, flow_sizes_of

    dest = Path(dest)
    _tokenizer_folder(dest / "CosyVoice-BlankEN")
    (dest / "cosyvoice3.yaml").write_text(_YAML.format(seed=seed), encoding="utf-8")
    cfg = load_config3(dest)

    g = PortableRandom(seed, Stream.WEIGHTS)
    with torch.device("meta"):
        modules = {"llm.pt": CosyVoice3LM(cfg.lm), "flow.pt": DiTFlow(cfg.flow),
                   "hift.pt": CausalHiFT(cfg.hift, flow_sizes_of(cfg))}
    for file_name, module in modules.items():
        state = _random_state_dict(module, g)
        if file_name == "flow.pt":  # a buffer of fixed values, not a weight
            state["decoder.estimator.rotary_embed.inv_freq"] = rope_inv_freq(cfg.flow.dit.dim_head)
        torch.save(state, dest / file_name)
    onnx.save(_speech_tokenizer_onnx(g), str(dest / "speech_tokenizer_v3.onnx"))
    onnx.save(_campplus_onnx(g), str(dest / "campplus.onnx"))
    return dest
