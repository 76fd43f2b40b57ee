"""cosyvoice2.yaml / config.json reading and checkpoint loading errors."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch

from engine import checkpoints
from engine.config import Tagged, load_config, load_hyperpyyaml, official_config
from engine.errors import CheckpointError, ConfigError, ModelFolderError


def test_reads_every_dimension_of_the_tiny_model(tiny_model_dir: Path) -> None:
    cfg = load_config(tiny_model_dir)
    qwen = json.loads((tiny_model_dir / "CosyVoice-BlankEN" / "config.json").read_text())
    assert cfg.lm.qwen.hidden_size == qwen["hidden_size"]
    assert cfg.lm.qwen.num_key_value_heads == qwen["num_key_value_heads"]
    assert cfg.lm.speech_token_size == 6561 and cfg.lm.mix_ratio == (5, 15)
    assert cfg.lm.sampling.top_k == 25 and cfg.lm.sampling.tau_r == pytest.approx(0.1)
    # `static_chunk_size: !ref <chunk_size> * <token_mel_ratio>` is arithmetic on two refs.
    assert cfg.flow.estimator.static_chunk_size == cfg.chunk_size * cfg.token_mel_ratio
    assert cfg.flow.cfm.inference_cfg_rate == pytest.approx(0.7)
    assert cfg.flow.cfm.sigma_min == pytest.approx(1e-6)  # "1e-06" must be a float, not a string
    assert cfg.hift.upsample_factor == 480
    assert cfg.feat.n_fft == 1920 and cfg.feat.fmax == 8000


def test_config_is_frozen(tiny_model_dir: Path) -> None:
    cfg = load_config(tiny_model_dir)
    with pytest.raises(AttributeError):
        cfg.sample_rate = 16000  # type: ignore[misc]


def test_tags_are_kept_as_data_and_never_executed(tmp_path: Path) -> None:
    marker = tmp_path / "executed"
    (tmp_path / "x.yaml").write_text(
        f"a: 3\nb: !ref <a> * 2 + 1\nboom: !apply:os.mkdir ['{marker}']\nobj: !new:foo.Bar\n  k: !ref <b>\n"
    )
    data = load_hyperpyyaml(tmp_path / "x.yaml")
    assert data["b"] == 7
    assert isinstance(data["obj"], Tagged) and data["obj"]["k"] == 7
    assert not marker.exists()


def test_missing_and_bad_folders_raise_typed_errors(tmp_path: Path, tiny_model_dir: Path) -> None:
    with pytest.raises(ModelFolderError, match="does not exist"):
        load_config(tmp_path / "nope")
    with pytest.raises(ModelFolderError, match="cosyvoice2.yaml"):
        load_config(tmp_path)
    (tmp_path / "cosyvoice2.yaml").write_text("llm: [unclosed")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(tmp_path)
    shutil.copy(tiny_model_dir / "cosyvoice2.yaml", tmp_path / "cosyvoice2.yaml")
    with pytest.raises(ModelFolderError, match="config.json"):
        load_config(tmp_path)
    with pytest.raises(ModelFolderError, match="llm.pt"):
        checkpoints.check_model_folder(tmp_path)


def test_truncated_and_empty_checkpoints_name_the_file(tmp_path: Path, tiny_model_dir: Path) -> None:
    data = (tiny_model_dir / "hift.pt").read_bytes()
    (tmp_path / "hift.pt").write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="hift.pt.*truncated or corrupt"):
        checkpoints.read_state_dict(tmp_path / "hift.pt")
    (tmp_path / "llm.pt").write_bytes(b"")
    with pytest.raises(CheckpointError, match="llm.pt is empty"):
        checkpoints.read_state_dict(tmp_path / "llm.pt")


def test_shape_mismatch_is_reported_per_key() -> None:
    module = torch.nn.Linear(4, 3)
    with pytest.raises(CheckpointError, match=r"flow.pt does not fit.*weight: file \(3, 5\) vs model \(3, 4\)"):
        checkpoints.load_into(module, {"weight": torch.zeros(3, 5), "bias": torch.zeros(3)}, "flow.pt")
    with pytest.raises(CheckpointError, match="missing keys"):
        checkpoints.load_into(module, {"weight": torch.zeros(3, 4)}, "flow.pt")


def test_hift_key_styles_normalise_to_one_naming() -> None:
    t = torch.zeros(1)
    styles = [
        {"conv_pre.weight_g": t, "conv_pre.weight_v": t, "conv_pre.bias": t},
        {"generator.conv_pre.weight_g": t, "generator.conv_pre.weight_v": t, "generator.conv_pre.bias": t},
        {"conv_pre.parametrizations.weight.original0": t, "conv_pre.parametrizations.weight.original1": t,
         "conv_pre.bias": t},
    ]
    keys = {frozenset(checkpoints.normalize_hift_keys(s)) for s in styles}
    assert keys == {frozenset({"conv_pre.parametrizations.weight.original0",
                               "conv_pre.parametrizations.weight.original1", "conv_pre.bias"})}


def test_official_config_matches_the_official_qwen_dims(parity_dir: Path) -> None:
    cfg = official_config()
    real = json.loads((parity_dir / "qwen2-tokenizer" / "config.json").read_text())
    assert cfg.lm.qwen.hidden_size == real["hidden_size"]
    assert cfg.lm.qwen.num_hidden_layers == real["num_hidden_layers"]
    assert cfg.lm.qwen.vocab_size == real["vocab_size"]
