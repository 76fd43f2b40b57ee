"""Parity of the text tokenizer with ``CosyVoice2Tokenizer`` (goldens/tokenizer_*.json).

``tokenizer_tiny.json`` is checked against ``model/CosyVoice-BlankEN``; ``tokenizer_qwen2.json``
against ``qwen2-tokenizer/`` (the real official files) when the fixture folder has it. Per golden
file: special ids + ``len``, then one check each for ids, tokens and decode over every string
(a failure names the first strings that differ).
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterator

from ..frontend.tokenizer import load_tokenizer
from . import CheckResult, Fixture, equal


def _golden_sets(fx: Fixture) -> list[tuple[str, Path]]:
    sets = [("tokenizer_tiny.json", fx.model_dir / "CosyVoice-BlankEN")]
    if fx.qwen2_tokenizer_dir.is_dir():
        sets.append(("tokenizer_qwen2.json", fx.qwen2_tokenizer_dir))
    return [(name, folder) for name, folder in sets if fx.has(name)]


def _all_equal(name: str, cases: list[dict], key: str, compute) -> CheckResult:
    bad = []
    for case in cases:
        got = compute(case)
        if got != case[key]:
            bad.append(f"{case['text'][:40]!r}: got {got!r:.80} want {case[key]!r:.80}")
    detail = f"{len(bad)} of {len(cases)} strings differ; " + " | ".join(bad[:3]) if bad else f"{len(cases)} strings"
    return CheckResult(name, 0.0 if not bad else float("inf"), 0.0, not bad, detail)


def checks(fx: Fixture) -> Iterator[CheckResult]:
    for golden_name, folder in _golden_sets(fx):
        golden = fx.json(golden_name)
        tok = load_tokenizer(folder)
        stem = golden_name.removesuffix(".json")
        yield equal(f"{stem}: special token ids", tok.special_ids, golden["special_tokens"])
        yield equal(f"{stem}: special token order", list(tok.special_ids), list(golden["special_tokens"]))
        yield equal(f"{stem}: len(tokenizer)", len(tok), golden["len_tokenizer"])
        cases = golden["cases"]
        yield _all_equal(f"{stem}: encode ids", cases, "ids", lambda c: tok.encode(c["text"]))
        yield _all_equal(f"{stem}: convert_ids_to_tokens", cases, "tokens",
                         lambda c: tok.convert_ids_to_tokens(c["ids"]))
        yield _all_equal(f"{stem}: decode (skip special)", cases, "decode_skip_special",
                         lambda c: tok.decode(c["ids"]))
