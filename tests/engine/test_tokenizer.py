"""Tokenizer: parity with the official CosyVoice2Tokenizer, fine-grained tags, bad folders and ids."""
from __future__ import annotations

import json
import shutil
import unicodedata
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.errors import ModelFolderError, TextInputError
from engine.frontend.tokenizer import (
    COSYVOICE2_SPECIAL_TOKENS,
    END_OF_PROMPT,
    FINE_GRAINED_TAGS,
    TextTokenizer,
    load_tokenizer,
)

PARITY = Path(__file__).resolve().parents[1] / "fixtures" / "parity"
TINY_DIR = PARITY / "model" / "CosyVoice-BlankEN"
QWEN2_DIR = PARITY / "qwen2-tokenizer"


@pytest.fixture(scope="module")
def tiny() -> TextTokenizer:
    return load_tokenizer(TINY_DIR)


@pytest.fixture(scope="module")
def qwen2() -> TextTokenizer:
    if not QWEN2_DIR.is_dir():
        pytest.skip("fixture set has no qwen2-tokenizer/")
    return load_tokenizer(QWEN2_DIR)


def test_parity_with_official_tokenizer_goldens(stage_parity):
    stage_parity("tokenizer")


def test_special_tokens_follow_the_official_list_and_order(tiny):
    assert list(tiny.special_ids) == ["<|endoftext|>", *COSYVOICE2_SPECIAL_TOKENS]
    ids = list(tiny.special_ids.values())
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    assert len(tiny) == max(ids) + 1
    assert tiny.eos_id == tiny.special_ids["<|endoftext|>"]


def test_real_tokenizer_reads_chinese_per_character(qwen2):
    # The official merges.txt lacks multi-character Chinese merges; a stock Qwen2 file gives [108386].
    assert qwen2.encode("你好") == [56568, 52801]
    assert len(qwen2) == 151663
    assert qwen2.special_ids[END_OF_PROMPT] == 151646


def test_special_tokens_are_never_split_and_decode_skips_them(qwen2):
    text = f"Say it{END_OF_PROMPT}[laughter]<strong>now</strong>"
    ids = qwen2.encode(text)
    for token in (END_OF_PROMPT, "[laughter]", "<strong>", "</strong>"):
        assert ids.count(qwen2.special_ids[token]) == 1
    assert qwen2.decode(ids) == "Say itnow"
    assert qwen2.convert_ids_to_tokens([qwen2.special_ids["[mn]"]]) == ["[mn]"]


def test_fine_grained_tags_are_single_special_tokens(tiny):
    want = ["[breath]", "[laughter]", "<strong>", "<laughter>", "[noise]", "[cough]", "[clucking]", "[accent]",
            "[quick_breath]", "[hissing]", "[sigh]", "[vocalized-noise]", "[lipsmack]", "[mn]"]
    assert [t.token for t in FINE_GRAINED_TAGS] == want
    for tag in FINE_GRAINED_TAGS:
        assert tag.label.strip()
        for token in filter(None, (tag.token, tag.close)):
            assert tiny.encode(token) == [tiny.special_ids[token]]
    wrapping = {t.token: t.close for t in FINE_GRAINED_TAGS if t.wraps_selection}
    assert wrapping == {"<strong>": "</strong>", "<laughter>": "</laughter>"}


# Printable text without CosyVoice tag strings (decode drops those on purpose).
_plain_text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=60).filter(
    lambda t: not any(s in t for s in ("<|endoftext|>", *COSYVOICE2_SPECIAL_TOKENS)))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=_plain_text)
def test_decode_inverts_encode_up_to_nfc(tiny, text):
    ids = tiny.encode(text)
    assert all(0 <= i < len(tiny) for i in ids)
    assert tiny.decode(ids) == unicodedata.normalize("NFC", text)


def test_bad_text_and_ids_raise_text_input_error(tiny):
    with pytest.raises(TextInputError, match="surrogate"):
        tiny.encode("a\ud800b")
    with pytest.raises(TextInputError, match="string"):
        tiny.encode(None)  # type: ignore[arg-type]
    with pytest.raises(TextInputError, match="outside"):
        tiny.decode([len(tiny)])
    with pytest.raises(TextInputError, match="outside"):
        tiny.convert_ids_to_tokens([-1])


def _copy(tmp_path: Path) -> Path:
    dst = tmp_path / "CosyVoice-BlankEN"
    shutil.copytree(TINY_DIR, dst, ignore=shutil.ignore_patterns("*.safetensors"))
    return dst


def test_missing_folder_or_files_raise_model_folder_error(tmp_path):
    with pytest.raises(ModelFolderError, match="does not exist"):
        load_tokenizer(tmp_path / "nope")
    folder = _copy(tmp_path)
    (folder / "merges.txt").unlink()
    with pytest.raises(ModelFolderError, match="merges.txt"):
        load_tokenizer(folder)


@pytest.mark.parametrize("name, content, match", [
    ("vocab.json", "{not json", "JSON"),
    ("vocab.json", "[1, 2]", "JSON object"),
    ("merges.txt", "zzzq yyyq\n", "unreadable"),
    ("tokenizer_config.json", "{oops", "JSON"),
])
def test_corrupt_files_raise_model_folder_error(tmp_path, name, content, match):
    folder = _copy(tmp_path)
    (folder / name).write_text(content, encoding="utf-8")
    with pytest.raises(ModelFolderError, match=match):
        load_tokenizer(folder)


def test_added_token_ids_that_do_not_fit_the_vocabulary_are_refused(tmp_path):
    folder = _copy(tmp_path)
    cfg_path = folder / "tokenizer_config.json"
    cfg = json.loads(cfg_path.read_text(encoding="utf-8"))
    decoder = cfg["added_tokens_decoder"]
    first = min(decoder, key=int)
    decoder[str(int(first) + 1000)] = decoder.pop(first)
    cfg_path.write_text(json.dumps(cfg), encoding="utf-8")
    with pytest.raises(ModelFolderError, match="do not belong together"):
        load_tokenizer(folder)
