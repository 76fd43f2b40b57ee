"""Loading refuses what it cannot build, before building or allocating it (issue 14, item 4).

Every hostile or damaged file here is written by the test into a copy of the tiny model folder; each must end
in a typed error (ConfigError / CheckpointError) that names the problem, never a hang, a traceback or a
multi-GB allocation. The malicious ones (pickles, YAML tags) are kept as regression tests.
"""
from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import pytest
import torch

from engine import checkpoints
from engine.config import load_config, load_hyperpyyaml, official_config
from engine.config_checks import MAX_CONFIG_BYTES, MAX_COUNT, MAX_WIDTH, check_model_config
from engine.errors import CheckpointError, ConfigError


@pytest.fixture()
def model(tmp_path: Path, tiny_model_dir: Path) -> Path:
    """A writable copy of the tiny model folder."""
    out = tmp_path / "model"
    shutil.copytree(tiny_model_dir, out)
    return out


def _yaml(tmp_path: Path, text: str | bytes) -> Path:
    p = tmp_path / "x.yaml"
    p.write_bytes(text if isinstance(text, bytes) else text.encode())
    return p


def _edit_yaml(model: Path, old: str, new: str) -> None:
    p = model / "cosyvoice2.yaml"
    text = p.read_text()
    assert text.count(old) == 1, old
    p.write_text(text.replace(old, new))


def _edit_qwen(model: Path, **values) -> None:
    p = model / "CosyVoice-BlankEN" / "config.json"
    cfg = json.loads(p.read_text())
    cfg.update(values)
    p.write_text(json.dumps(cfg))  # json writes float("inf") as Infinity, which json.loads reads back


# ---- the YAML reader ---------------------------------------------------------------------------
def test_alias_bomb_is_refused(tmp_path: Path) -> None:
    # 9 aliases per level, 9 levels: ~387 million values once expanded (the file is 0.4 KB).
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, 10)]
    with pytest.raises(ConfigError, match="expands to more than"):
        load_hyperpyyaml(_yaml(tmp_path, "\n".join(lines) + "\n"))


def test_ref_fan_out_bomb_is_refused(tmp_path: Path) -> None:
    # The same blow-up through !ref instead of YAML aliases.
    lines = ["r0: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]"]
    lines += [f"r{i}: [" + ", ".join([f"!ref <r{i - 1}>"] * 10) + "]" for i in range(1, 9)]
    with pytest.raises(ConfigError, match="expands to more than"):
        load_hyperpyyaml(_yaml(tmp_path, "\n".join(lines) + "\n"))


@pytest.mark.parametrize("expr", ["9**9**9**9", "2**70", "10**400 / 3", "1e308 * 10", "1 / 0", "7 % 0",
                                  "(" * 200 + "1" + ")" * 200])
def test_ref_arithmetic_is_bounded(tmp_path: Path, expr: str) -> None:
    with pytest.raises(ConfigError):
        load_hyperpyyaml(_yaml(tmp_path, f"a: !ref {expr}\n"))


def test_ref_arithmetic_still_computes_config_values(tmp_path: Path) -> None:
    data = load_hyperpyyaml(_yaml(tmp_path, "a: 25\nb: !ref <a> * 2\nc: !ref 2**10 - <b> // 3\nd: !ref <a> / 2\n"))
    assert (data["b"], data["c"], data["d"]) == (50, 1024 - 16, 12.5)


@pytest.mark.parametrize("text, needle", [
    ("a: " + "9" * 5000 + "\n", "not valid YAML"),  # Python refuses int() of > 4300 digits with ValueError
    (b"a: \xff\xfe caf\xe9\n", "not UTF-8"),
    ("a: " + "[" * 100_000 + "]" * 100_000 + "\n", "nesting deeper"),
    ("a:\n" + "".join(" " * i + f"k{i}:\n" for i in range(1, 200)), "nesting deeper"),
    ("a: !ref <b[7]>\nb: [1, 2]\n", "cannot resolve"),
    ("a: !ref <a>\n", "cycle"),
])
def test_damaged_yaml_is_a_config_error(tmp_path: Path, text, needle: str) -> None:
    with pytest.raises(ConfigError, match=needle):
        load_hyperpyyaml(_yaml(tmp_path, text))


def test_huge_yaml_is_refused_before_parsing(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="larger than"):
        load_hyperpyyaml(_yaml(tmp_path, "a: 1\n" + "#" * MAX_CONFIG_BYTES + "\n"))


def test_yaml_that_would_run_code_is_refused_and_runs_nothing(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    for text in (f"a: !!python/object/apply:os.mkdir ['{marker}']\n",
                 f"a: !!python/name:os.system\nb: !!python/object/new:os.mkdir ['{marker}']\n"):
        with pytest.raises(ConfigError, match="not valid YAML"):
            load_hyperpyyaml(_yaml(tmp_path, text))
    # HyperPyYAML's own tags are kept as data, never called.
    data = load_hyperpyyaml(_yaml(tmp_path, f"a: !new:os.system ['touch {marker}']\nb: !apply:os.mkdir ['{marker}']\n"))
    assert data["a"].tag == "!new:os.system"
    assert not marker.exists()


# ---- config.json and the typed config --------------------------------------------------------------
@pytest.mark.parametrize("values, field", [
    ({"num_hidden_layers": 1e6}, "num_hidden_layers"),
    ({"num_attention_heads": 0}, "num_attention_heads"),
    ({"num_attention_heads": -2}, "num_attention_heads"),
    ({"num_attention_heads": 3}, "num_attention_heads"),  # does not divide hidden_size 64
    ({"num_key_value_heads": 3}, "num_key_value_heads"),  # does not divide 4 heads
    ({"hidden_size": 10**12}, "hidden_size"),
    ({"vocab_size": float("inf")}, "vocab_size"),
    ({"rope_theta": float("nan")}, "rope_theta"),
    ({"rms_norm_eps": 0.0}, "rms_norm_eps"),
])
def test_impossible_qwen_dims_name_the_field(model: Path, values: dict, field: str) -> None:
    _edit_qwen(model, **values)
    with pytest.raises(ConfigError, match=field):
        load_config(model)


@pytest.mark.parametrize("body, needle", [
    ('{"hidden_size": ' + "9" * 5000 + "}", "Cannot read"),
    ("[" * 100_000 + "]" * 100_000, "Cannot read"),
    ('[1, 2]', "JSON object"),
])
def test_damaged_config_json_is_a_config_error(model: Path, body: str, needle: str) -> None:
    (model / "CosyVoice-BlankEN" / "config.json").write_text(body)
    with pytest.raises(ConfigError, match=needle):
        load_config(model)
    (model / "CosyVoice-BlankEN" / "config.json").write_bytes(b'{"hidden_size": "\xff"}')
    with pytest.raises(ConfigError, match="not UTF-8"):
        load_config(model)


@pytest.mark.parametrize("old, new, field", [
    ("    input_size: 512\n    output_size: 80", "    input_size: 1e9\n    output_size: 80", "flow.input_size"),
    ("num_blocks: 1", "num_blocks: 1000000", "num_blocks"),
    ("attention_heads: 4", "attention_heads: 0", "attention_heads"),
    ("num_heads: 2", "num_heads: -1", "num_heads"),
    ("channels: [64]", "channels: [64, 0]", "channels"),
    ("upsample_rates: [8, 5, 3]", "upsample_rates: [8, 5, .inf]", "cosyvoice2.yaml"),
    ("speech_token_size: 6561", "speech_token_size: " + "9" * 4000, "speech_token_size"),
])
def test_impossible_yaml_values_name_the_field(model: Path, old: str, new: str, field: str) -> None:
    _edit_yaml(model, old, new)
    with pytest.raises(ConfigError, match=field):
        load_config(model)


def _int_leaves(node, path=()):
    for f in dataclasses.fields(node):
        value = getattr(node, f.name)
        if dataclasses.is_dataclass(value):
            yield from _int_leaves(value, path + (f.name,))
        elif isinstance(value, int) and not isinstance(value, bool):
            yield path + (f.name,)


def _replace(node, path, value):
    if len(path) == 1:
        return dataclasses.replace(node, **{path[0]: value})
    return dataclasses.replace(node, **{path[0]: _replace(getattr(node, path[0]), path[1:], value)})


@pytest.mark.parametrize("family", ["cosyvoice2", "cosyvoice3"])
def test_every_integer_of_the_config_is_bounded(family: str) -> None:
    from engine.config import official_config3

    cfg = check_model_config(official_config() if family == "cosyvoice2" else official_config3())
    leaves = list(_int_leaves(cfg))
    assert len(leaves) > 40
    for path in leaves:
        for bad in (-2, MAX_WIDTH + 1, 10**4000):
            with pytest.raises(ConfigError, match=path[-1]):
                check_model_config(_replace(cfg, path, bad))
    counts = {"cosyvoice2": ("num_hidden_layers", "num_blocks", "n_blocks", "num_mid_blocks"),
              "cosyvoice3": ("num_hidden_layers", "depth")}[family]
    for count in counts:
        path = next(p for p in leaves if p[-1] == count)
        with pytest.raises(ConfigError, match=count):
            check_model_config(_replace(cfg, path, MAX_COUNT + 1))


# ---- checkpoints ------------------------------------------------------------------------------------
def test_a_config_the_checkpoint_does_not_fit_is_refused_before_allocating(model: Path, monkeypatch) -> None:
    from engine.flow.flow import load_flow

    # 16384-wide flow input: allowed by the config limits, but the embedding alone would be 6561 x 16384
    # floats (430 MB) allocated by to_empty before the old shape check.
    _edit_yaml(model, "    input_size: 512\n    output_size: 80", "    input_size: 16384\n    output_size: 80")
    cfg = load_config(model)
    allocated = []
    real = torch.nn.Module.to_empty
    monkeypatch.setattr(torch.nn.Module, "to_empty", lambda self, **kw: allocated.append(self) or real(self, **kw))
    with pytest.raises(CheckpointError, match="flow.pt does not fit.*shape mismatches"):
        load_flow(model, cfg)
    assert allocated == []


@pytest.mark.parametrize("kind", [torch.int64, torch.bool])
def test_integer_or_bool_weights_are_refused(model: Path, tiny_model_dir: Path, kind: torch.dtype) -> None:
    from engine.flow.flow import load_flow
    from engine.llm.speech_lm import load_lm
    from engine.vocoder.hift import load_hift

    cfg = load_config(model)
    for name, load in (("llm.pt", lambda: load_lm(model, cfg)), ("flow.pt", lambda: load_flow(model, cfg)),
                       ("hift.pt", lambda: load_hift(model, cfg))):
        sd = checkpoints.read_state_dict(tiny_model_dir / name)
        key = next(k for k, v in sd.items() if v.is_floating_point() and v.dim() == 2)
        sd[key] = torch.ones_like(sd[key], dtype=kind)
        torch.save(sd, model / name)
        with pytest.raises(CheckpointError, match=f"{name} does not fit.*wrong kind"):
            load()
        shutil.copy(tiny_model_dir / name, model / name)


@pytest.mark.parametrize("content", [5, True, None, [torch.zeros(2)], {"w": 3}])
def test_a_checkpoint_that_is_not_a_state_dict_is_refused(tmp_path: Path, content) -> None:
    torch.save(content, tmp_path / "llm.pt")
    with pytest.raises(CheckpointError, match="state_dict of tensors"):
        checkpoints.read_state_dict(tmp_path / "llm.pt")


class _RunsCode:
    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        import os

        return os.mkdir, (str(self.marker),)


def test_a_pickle_that_runs_code_is_refused_and_runs_nothing(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    torch.save({"w": torch.zeros(2), "evil": _RunsCode(marker)}, tmp_path / "flow.pt")
    with pytest.raises(CheckpointError, match="flow.pt cannot be read"):
        checkpoints.read_state_dict(tmp_path / "flow.pt")
    assert not marker.exists()
