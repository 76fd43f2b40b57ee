"""CosyVoice 3 text and audio frontend: parity with the official goldens, and the mandatory system prompt."""
from __future__ import annotations

from pathlib import Path

import pytest

from engine.errors import TextInputError
from engine.frontend.audio import load_audio
from engine.frontend.cosyvoice3_tokens import (CMU_PHONEME_TOKENS, COSYVOICE3_SPECIAL_TOKENS, PINYIN_TOKENS,
                                               SYSTEM_PROMPT, instruct_prompt, with_system_prompt)
from engine.frontend.frontend_cv3 import CosyVoice3Frontend
from engine.frontend.tokenizer import END_OF_PROMPT, load_tokenizer


@pytest.mark.parametrize("stage", ["tokenizer", "text", "features", "frontend"])
def test_parity_against_reference_goldens(stage_parity_cv3, stage: str) -> None:
    stage_parity_cv3(stage)


def test_special_tokens_are_the_official_list() -> None:
    assert len(COSYVOICE3_SPECIAL_TOKENS) == 280 and len(CMU_PHONEME_TOKENS) == 84 and len(PINYIN_TOKENS) == 176
    assert COSYVOICE3_SPECIAL_TOKENS[19] == "<|endofsystem|>"
    assert len(set(COSYVOICE3_SPECIAL_TOKENS)) == len(COSYVOICE3_SPECIAL_TOKENS)


def test_system_prompt_is_added_only_where_missing() -> None:
    assert with_system_prompt("Hello.") == f"{SYSTEM_PROMPT}{END_OF_PROMPT}Hello."
    official = "You are a helpful assistant.<|endofprompt|>Hello."
    assert with_system_prompt(official) == official
    assert instruct_prompt(" Speak slowly. ") == "You are a helpful assistant. Speak slowly.<|endofprompt|>"
    assert instruct_prompt("You are a helpful assistant. 请用广东话表达。<|endofprompt|>").count(END_OF_PROMPT) == 1


def test_pronunciation_markup_is_one_token_each_and_vanishes_when_decoded(tiny_cv3_model_dir: Path) -> None:
    tok = load_tokenizer(tiny_cv3_model_dir / "CosyVoice-BlankEN", COSYVOICE3_SPECIAL_TOKENS)
    ids = tok.encode("对报道[j][ǐ]予 [HH][AH0][L][OW1]")
    marks = [tok.special_ids[t] for t in ("[j]", "[ǐ]", "[HH]", "[AH0]", "[L]", "[OW1]")]
    assert all(m in ids for m in marks)
    assert "[" not in tok.decode(ids)


def test_every_mode_carries_the_system_prompt(tiny_cv3_model_dir: Path, parity_cv3_dir: Path) -> None:
    front = CosyVoice3Frontend.from_model_dir(tiny_cv3_model_dir)
    audio, sr = load_audio(parity_cv3_dir / "wavs" / "prompt_zh_24k.wav")
    prompt = front.prompt(audio, sr)
    system = front.tokenizer.encode(f"{SYSTEM_PROMPT}{END_OF_PROMPT}")
    zs = front.zero_shot("Hello there.", "今天天气很好。", prompt)
    assert zs.prompt_text[0, : len(system)].tolist() == system
    cl = front.cross_lingual("Hello there.", prompt)
    assert cl.text[0, : len(system)].tolist() == system and cl.prompt_text is None
    ins = front.instruct2("Hello there.", "Speak slowly.", prompt)
    assert ins.prompt_text[0].tolist() == front.tokenizer.encode(instruct_prompt("Speak slowly."))
    with pytest.raises(TextInputError, match="no text to speak"):
        front.cross_lingual("", prompt)  # the prompt alone is not something to say
