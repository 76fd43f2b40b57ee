"""CosyVoice 3 folders: the family is read from the files, the YAML into typed values, bad ones are typed errors."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from engine.config import (COSYVOICE2, COSYVOICE3, CosyVoice3Config, load_config, load_config3, load_model_config,
                           model_family)
from engine.errors import ConfigError, ModelFamilyError, ModelFolderError


def test_each_fixture_is_its_family(tiny_model_dir: Path, tiny_cv3_model_dir: Path) -> None:
    assert model_family(tiny_model_dir) == COSYVOICE2
    assert model_family(tiny_cv3_model_dir) == COSYVOICE3
    assert load_model_config(tiny_model_dir).family == COSYVOICE2
    assert isinstance(load_model_config(tiny_cv3_model_dir), CosyVoice3Config)


def test_neither_or_both_is_a_typed_error(tmp_path: Path, tiny_cv3_model_dir: Path) -> None:
    with pytest.raises(ModelFolderError, match="does not exist"):
        model_family(tmp_path / "nope")
    with pytest.raises(ModelFamilyError, match="neither cosyvoice2.yaml nor cosyvoice3.yaml"):
        model_family(tmp_path)
    shutil.copy(tiny_cv3_model_dir / "speech_tokenizer_v3.onnx", tmp_path)
    with pytest.raises(ModelFamilyError, match="CosyVoice 3 speech tokenizer but no cosyvoice3.yaml"):
        model_family(tmp_path)
    (tmp_path / "cosyvoice2.yaml").write_text("a: 1\n")
    (tmp_path / "cosyvoice3.yaml").write_text("a: 1\n")
    with pytest.raises(ModelFamilyError, match="both"):
        model_family(tmp_path)
    with pytest.raises(ModelFamilyError, match="CosyVoice 2 model, not CosyVoice 3"):
        load_config3(Path(__file__).parents[1] / "fixtures" / "parity" / "model")


def test_cosyvoice3_yaml_values(tiny_cv3_model_dir: Path) -> None:
    cfg = load_config3(tiny_cv3_model_dir)
    assert cfg.feat.fmax is None  # feat_extractor fmax: null -> 12 kHz
    assert (cfg.flow.dit.dim, cfg.flow.dit.depth, cfg.flow.dit.heads, cfg.flow.dit.dim_head) == (64, 2, 4, 16)
    assert cfg.flow.dit.static_chunk_size == 50  # !ref <chunk_size> * <token_mel_ratio>
    assert (cfg.flow.pre_lookahead.in_channels, cfg.flow.pre_lookahead.channels) == (80, 64)
    assert cfg.hift.conv_pre_look_right == 4 and cfg.hift.f0.cond_channels == 32
    assert cfg.lm.speech_token_size == 6561 and cfg.lm.qwen.hidden_size == 64
    with pytest.raises(ModelFolderError, match="cosyvoice2.yaml"):
        load_config(tiny_cv3_model_dir)


@pytest.mark.parametrize("old,new,needle", [
    ("            dim: 64\n", "            dim: 60\n", "multiple of 16"),
    ("            dim_head: 16\n", "            dim_head: 15\n", "even"),
    ("        channels: 64\n        pre_lookahead_len: 3\n", "        channels: 64\n        pre_lookahead_len: 2\n",
     "pre_lookahead_len"),
    ("    output_size: 80\n    spk_embed_dim", "    output_size: 40\n    spk_embed_dim", "mel_dim"),
])
def test_sizes_the_dit_code_relies_on_are_checked(tmp_path: Path, tiny_cv3_model_dir: Path, old: str, new: str,
                                                  needle: str) -> None:
    shutil.copytree(tiny_cv3_model_dir / "CosyVoice-BlankEN", tmp_path / "CosyVoice-BlankEN")
    text = (tiny_cv3_model_dir / "cosyvoice3.yaml").read_text(encoding="utf-8")
    assert old in text
    (tmp_path / "cosyvoice3.yaml").write_text(text.replace(old, new, 1), encoding="utf-8")
    with pytest.raises(ConfigError, match=needle):
        load_config3(tmp_path)


def test_required_files_follow_the_family(tmp_path: Path, tiny_cv3_model_dir: Path) -> None:
    from engine.checkpoints import check_model_folder

    assert check_model_folder(tiny_cv3_model_dir) == tiny_cv3_model_dir
    shutil.copy(tiny_cv3_model_dir / "cosyvoice3.yaml", tmp_path)
    with pytest.raises(ModelFolderError, match="speech_tokenizer_v3.onnx.*Fun-CosyVoice3-0.5B"):
        check_model_folder(tmp_path)
