"""Parity of text normalisation/splitting with CosyVoice 3's ``text_normalize`` (``text_frontend_qwen2.json``).

The same frontend code as CosyVoice 2 (no normaliser backend: the reference's English fallback), splitting
counted with CosyVoice 3's tokenizer. Sections: ``split`` (pieces), ``nosplit`` (one string),
``split_text_frontend_false`` (normalisation off). Entries holding ``raises`` must raise (TextInputError).
"""
from __future__ import annotations

from typing import Iterator

from .. import CheckResult, Fixture
from ..text import _check_entry, _entry
from . import load_tokenizer3

GOLDEN = "text_frontend_qwen2.json"
SECTIONS = (
    ("split", {"split": True}),
    ("nosplit", {"split": False}),
    ("split_text_frontend_false", {"split": True, "text_frontend": False}),
)


def checks(fx: Fixture) -> Iterator[CheckResult]:
    if not fx.has(GOLDEN):
        return
    cases = fx.json(GOLDEN)["cases"]
    tok = load_tokenizer3(fx)
    for key, kwargs in SECTIONS:
        checked, bad = 0, []
        for case in cases:
            want = _entry(case, key)
            if want is None:
                continue
            checked += 1
            problem = _check_entry(want, case["text"], tok, kwargs)
            if problem:
                bad.append(problem)
        detail = (f"{len(bad)} of {checked} texts differ; " + " | ".join(bad[:3])) if bad else f"{checked} texts"
        yield CheckResult(f"text_frontend: {key}", 0.0 if not bad else float("inf"), 0.0, not bad, detail)
