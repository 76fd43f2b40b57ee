"""The CosyVoice 3 LM: parity with the official goldens, its stop ids, <|endofprompt|> and the silence filter."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from engine.config import load_config3, official_config3
from engine.errors import TextInputError
from engine.llm.cosyvoice3_lm import MAX_SILENT_RUN, SILENT_TOKENS, CosyVoice3LM, drop_long_silences
from engine.llm.speech_lm import convert_lm, load_lm
from engine.rng import PortableRandom, Stream


@pytest.fixture(scope="module")
def lm(tiny_cv3_model_dir: Path) -> CosyVoice3LM:
    return load_lm(tiny_cv3_model_dir, load_config3(tiny_cv3_model_dir).lm, lm_class=CosyVoice3LM)


@pytest.mark.parametrize("stage", ["lm", "sampling"])
def test_parity_against_reference_goldens(stage_parity_cv3, stage: str) -> None:
    stage_parity_cv3(stage)


def test_stop_ids_and_special_rows(lm: CosyVoice3LM) -> None:
    assert (lm.sos, lm.eos_token, lm.task_id, lm.fill_token) == (6561, 6562, 6563, 6564)
    assert lm.stop_tokens == frozenset(range(6561, 6761)) and lm.llm_decoder.bias is None
    rows = lm.layout_rows([10, 11], [151646], [5])
    assert rows[0] == (1, 6561) and rows[-2] == (1, 6563)  # sos and task_id come from speech_embedding


def test_input_without_end_of_prompt_is_refused_at_the_call(lm: CosyVoice3LM) -> None:
    with pytest.raises(TextInputError, match="endofprompt"):
        lm.generate([100, 101], [102], rng=PortableRandom(0, Stream.SAMPLER))
    with pytest.raises(TextInputError, match="endofprompt"):
        next(lm.generate_bistream([[100]], [102], rng=PortableRandom(0, Stream.SAMPLER)))


def test_sampled_tokens_are_speech_ids_and_reproducible(lm: CosyVoice3LM) -> None:
    def run() -> list[int]:
        return list(lm.generate([100, 101, 102], [151646], rng=PortableRandom(5, Stream.SAMPLER)))

    tokens = run()
    assert tokens == run() and 0 < len(tokens) <= 60 and all(0 <= t < 6561 for t in tokens)


def test_silence_runs_are_cut_after_five() -> None:
    s, v = sorted(SILENT_TOKENS)[0], 4000
    tokens = [v] + [s] * 8 + [v] + [s] * 3
    assert list(drop_long_silences(tokens)) == [v] + [s] * MAX_SILENT_RUN + [v] + [s] * 3


@pytest.mark.parametrize("precision", ["bf16", "int8"])
def test_faster_precisions_convert(lm: CosyVoice3LM, tiny_cv3_model_dir: Path, precision: str) -> None:
    fast = convert_lm(load_lm(tiny_cv3_model_dir, load_config3(tiny_cv3_model_dir).lm, lm_class=CosyVoice3LM),
                      precision)
    tokens = list(fast.generate([100, 101, 102], [151646], rng=PortableRandom(5, Stream.SAMPLER)))
    assert tokens and all(0 <= t < 6561 for t in tokens)


def test_official_size_matches_official_shapes(parity_cv3_dir: Path) -> None:
    want = json.loads((parity_cv3_dir / "official_shapes.json").read_text())["llm.pt"]
    with torch.device("meta"):
        lm = CosyVoice3LM(official_config3().lm)
    assert {k: list(v.shape) for k, v in lm.state_dict().items()} == want
