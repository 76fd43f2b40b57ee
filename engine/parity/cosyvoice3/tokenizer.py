"""Parity of the CosyVoice 3 tokenizer with ``CosyVoice3Tokenizer`` (``goldens/tokenizer_qwen2.json``).

The special-token map (281 tokens, their order and ids), ``len(tokenizer)``, and per string the ids, the
byte-level tokens and the decoded text (special tokens skipped: phoneme, pinyin and tag tokens vanish).
"""
from __future__ import annotations

from typing import Iterator

from .. import CheckResult, Fixture, equal
from ..tokenizer import _all_equal
from . import load_tokenizer3

GOLDEN = "tokenizer_qwen2.json"


def checks(fx: Fixture) -> Iterator[CheckResult]:
    if not fx.has(GOLDEN):
        return
    golden = fx.json(GOLDEN)
    tok = load_tokenizer3(fx)
    yield equal("tokenizer: special token ids", tok.special_ids, golden["special_tokens"])
    yield equal("tokenizer: special token order", list(tok.special_ids), list(golden["special_tokens"]))
    yield equal("tokenizer: len(tokenizer)", len(tok), golden["len_tokenizer"])
    cases = golden["cases"]
    yield _all_equal("tokenizer: encode ids", cases, "ids", lambda c: tok.encode(c["text"]))
    yield _all_equal("tokenizer: convert_ids_to_tokens", cases, "tokens", lambda c: tok.convert_ids_to_tokens(c["ids"]))
    yield _all_equal("tokenizer: decode (skip special)", cases, "decode", lambda c: tok.decode(c["ids"]))
