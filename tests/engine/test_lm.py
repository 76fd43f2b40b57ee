"""The text-speech LM on the tiny official-layout model: parity, determinism, loading, input checks."""
from __future__ import annotations

import itertools
import json
import shutil

import pytest
import torch

from engine.bench.lm import bench_lm
from engine.config import load_config, official_config
from engine.errors import AudioInputError, CheckpointError, ConfigError, TextInputError
from engine.llm import SpeechLM, load_lm
from engine.llm.speech_lm import convert_lm
from engine.parity import Fixture, tolerance
from engine.parity import lm as lm_parity
from engine.parity.tolerance import NETWORK
from engine.rng import PortableRandom


@pytest.fixture(scope="module")
def lm(tiny_model_dir):
    return load_lm(tiny_model_dir)


def test_lm_parity(stage_parity):
    assert len(stage_parity("lm")) >= 10


def test_same_seed_same_tokens(lm):
    text, prompt_text, prompt_speech = [5, 6, 7, 8, 9], [10, 11], [100, 200, 300, 400]

    def run(seed: int) -> list[int]:
        return list(lm.generate(text, prompt_text, prompt_speech, rng=PortableRandom(seed)))

    a, b = run(123), run(123)
    assert a == b
    assert 10 <= len(a) <= 100  # min_len = 2 * 5, max_len = 20 * 5
    assert all(0 <= t < lm.cfg.speech_token_size for t in a)
    # A second run on the same module gives the same result: no state leaks between calls.
    assert run(123) == a


def test_generation_can_stop_between_steps(lm):
    gen = lm.generate([5, 6, 7], rng=PortableRandom(0))
    first = list(itertools.islice(gen, 3))
    gen.close()
    assert len(first) == 3


def test_bistream_sampled_never_yields_specials(lm):
    pieces = [[20, 21], [22], [], [23, 24, 25, 26, 27, 28, 29], [30, 31, 32, 33]]  # 16 text tokens

    def run() -> list[int]:
        return list(lm.generate_bistream(pieces, [10, 11, 12], list(range(100, 120)), rng=PortableRandom(1),
                                         max_token_text_ratio=4))

    tokens = run()
    assert 0 < len(tokens) <= 4 * 16  # the last phase's runaway limit holds
    assert all(0 <= t < lm.cfg.speech_token_size for t in tokens)  # fill tokens are not yielded
    assert run() == tokens


def test_bad_inputs_raise_typed_errors(lm):
    g = PortableRandom(0)
    with pytest.raises(TextInputError):
        list(lm.generate([], rng=g))
    with pytest.raises(TextInputError):
        list(lm.generate([lm.cfg.qwen.vocab_size], rng=g))
    with pytest.raises(AudioInputError):
        list(lm.generate([1, 2], [3], [lm.cfg.speech_token_size], rng=g))


def test_official_size_keys_and_shapes(parity_dir):
    want = json.loads((parity_dir / "official_shapes.json").read_text())["llm.pt"]
    with torch.device("meta"):
        lm = SpeechLM(official_config().lm)
    got = {k: list(v.shape) for k, v in lm.state_dict().items()}
    assert got == want
    # lm_head is tied: one tensor, not 136 M more parameters
    assert lm.qwen.lm_head.weight is lm.qwen.model.embed_tokens.weight


def test_loaded_lm_is_fp32_and_tied(lm):
    assert lm.qwen.lm_head.weight is lm.qwen.model.embed_tokens.weight
    assert all(p.dtype == torch.float32 for p in lm.parameters())


def _copy_model(src, dst):
    shutil.copytree(src, dst, ignore=shutil.ignore_patterns("flow.pt", "hift.pt", "*.onnx", "hift_key_variants"))
    return dst


def test_truncated_llm_pt_names_the_file(tiny_model_dir, tmp_path):
    d = _copy_model(tiny_model_dir, tmp_path / "m")
    data = (d / "llm.pt").read_bytes()
    (d / "llm.pt").write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="llm.pt"):
        load_lm(d)


def test_corrupt_llm_pt_names_the_file(tiny_model_dir, tmp_path):
    d = _copy_model(tiny_model_dir, tmp_path / "m")
    (d / "llm.pt").write_bytes(b"this is not a checkpoint" * 100)
    with pytest.raises(CheckpointError, match="llm.pt"):
        load_lm(d)


def test_mismatched_llm_pt_names_the_file(tiny_model_dir, tmp_path):
    d = _copy_model(tiny_model_dir, tmp_path / "m")
    sd = torch.load(d / "llm.pt", weights_only=True)
    sd["llm_decoder.weight"] = sd["llm_decoder.weight"][:, :-1].clone()
    del sd["llm_embedding.weight"]
    torch.save(sd, d / "llm.pt")
    with pytest.raises(CheckpointError, match="llm.pt"):
        load_lm(d)
    # and a file for other dimensions than the yaml describes
    with pytest.raises(CheckpointError, match="llm.pt"):
        load_lm(tiny_model_dir, official_config())


def test_load_lm_reads_config_from_folder(tiny_model_dir):
    lm = load_lm(tiny_model_dir)
    assert lm.cfg == load_config(tiny_model_dir).lm


# Faster CPU precisions, teacher-forced on the fp32 goldens (engine.parity.lm.precision_agreement).
# Measured on the tiny fixture model (109 steps, golden logits spread ~9.9):
#   bf16: 98.2 % same best speech token, max logit error 0.045
#   int8: 97.2 % same best speech token, max logit error 0.164
#   int8w: 97.2 % same best speech token, max logit error 0.073
# The tiny model's random weights give flat, near-tied logits, so this is a pessimistic view.
@pytest.mark.parametrize("precision,min_agreement,max_logit_err",
                         [("bf16", 0.95, 0.15), ("int8", 0.90, 0.40), ("int8w", 0.90, 0.25)])
def test_fast_precisions_agree_with_fp32_goldens(parity_dir, precision, min_agreement, max_logit_err):
    r = lm_parity.precision_agreement(Fixture(parity_dir), precision)
    assert r["steps"] >= 10
    assert r["token_agreement"] >= min_agreement, r
    assert r["max_logit_err"] <= max_logit_err, r


def test_fp32_agreement_is_exact(parity_dir):
    fx = Fixture(parity_dir)
    r = lm_parity.precision_agreement(fx, "fp32")
    # fp32 is the parity path: its logits within the parity policy's bound for the step logits
    worst = tolerance.max_spread(fx.goldens_dir, "lm.npz", lambda k: k.endswith("/step_logits"))
    assert r["token_agreement"] == 1.0 and r["max_logit_err"] <= NETWORK.bound(worst)


def test_convert_lm(tiny_model_dir):
    lm = convert_lm(load_lm(tiny_model_dir), "int8")
    assert lm.qwen.lm_head.weight is lm.qwen.model.embed_tokens.weight  # the unused head is not quantised
    assert lm.llm_decoder.weight.dtype == torch.float32  # scores keep full resolution
    assert lm.qwen.model.layers[0].mlp.up_proj._get_name() == "DynamicQuantizedLinear"
    tokens = list(lm.generate([5, 6, 7], rng=PortableRandom(0)))
    assert all(0 <= t < lm.cfg.speech_token_size for t in tokens)
    bf16 = convert_lm(load_lm(tiny_model_dir), "bf16")
    assert bf16.qwen.lm_head.weight is bf16.qwen.model.embed_tokens.weight
    assert {p.dtype for p in bf16.parameters()} == {torch.bfloat16}
    with pytest.raises(ConfigError):
        convert_lm(bf16, "fp8")
    w8 = convert_lm(load_lm(tiny_model_dir), "int8w")
    assert w8.qwen.model.layers[0].self_attn.q_proj.weight_int8.dtype == torch.int8
    assert all(0 <= t < w8.cfg.speech_token_size
               for t in w8.generate([5, 6, 7], rng=PortableRandom(0)))


@pytest.mark.parametrize("precision", ["fp32", "int8", "int8w"])
def test_bench_lm_small(tiny_model_dir, precision):
    r = bench_lm(load_config(tiny_model_dir), precision, n_prompt=24, n_decode=4, threads=1, repeats=1)
    assert r["precision"] == precision and r["n_prompt"] == 24 and r["n_decode"] == 4
    assert r["prefill_s"] > 0 and r["decode_tokens_per_s"] > 0 and r["peak_rss_mb"] > 0 and r["weights_mb"] > 0


def test_kv_cache_chunks_and_growth_match_one_pass(lm):
    """Feeding a sequence in uneven chunks into a cache that must grow equals one full pass."""
    x = PortableRandom(0).normal([1, 23, lm.cfg.qwen.hidden_size])
    with torch.inference_mode():
        full = lm.qwen.prefill(x, lm.new_cache(23))
        cache = lm.new_cache(1)
        parts, pos = [], 0
        for n in (5, 1, 1, 7, 1, 8):
            step = lm.qwen.decode_one_token if n == 1 else lm.qwen.prefill
            parts.append(step(x[:, pos:pos + n], cache))
            pos += n
    assert cache.length == 23 and cache.capacity >= 23
    # two summation orders of one computation: the parity policy's NETWORK floor
    assert torch.allclose(torch.cat(parts, dim=1), full, atol=NETWORK.floor, rtol=0)
