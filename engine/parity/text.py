"""Parity of text normalisation/splitting with ``CosyVoiceFrontEnd.text_normalize`` (goldens/text_frontend_*.json).

The goldens were made with no normaliser installed, so they are checked against our faithful
fallback (:func:`engine.frontend.text.reference_text_normalize`, the ``"inflect"`` normaliser) with
the tokenizer of the same golden (tiny model, or ``qwen2-tokenizer/`` when present). Sections:
``split_true`` (pieces), ``split_false`` (string), ``split_true_frontend_off`` (normalisation off,
exact). An entry holding ``"raises"`` must raise (our :class:`TextInputError`) in that backend.
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterator

from ..errors import TextInputError
from ..frontend.text import reference_text_normalize
from ..frontend.tokenizer import load_tokenizer
from . import CheckResult, Fixture

# (golden key, keyword arguments of text_normalize)
SECTIONS = (
    ("split_true", {"split": True}),
    ("split_false", {"split": False}),
    ("split_true_frontend_off", {"split": True, "text_frontend": False}),
)


def _golden_sets(fx: Fixture) -> list[tuple[str, Path]]:
    sets = [("text_frontend_tiny.json", fx.model_dir / "CosyVoice-BlankEN")]
    if fx.qwen2_tokenizer_dir.is_dir():
        sets.append(("text_frontend_qwen2.json", fx.qwen2_tokenizer_dir))
    return [(name, folder) for name, folder in sets if fx.has(name)]


def _check_entry(want, text: str, tok, kwargs: dict) -> str | None:
    """None when our result matches the golden entry, else a short description of the difference."""
    raises = isinstance(want, dict) and "raises" in want
    try:
        got = reference_text_normalize(text, tok, **kwargs)
    except TextInputError as e:
        return None if raises else f"{text[:40]!r}: raised {e}"
    if raises:
        return f"{text[:40]!r}: returned {got!r:.60} but the reference raises {want['raises']}"
    return None if got == want else f"{text[:40]!r}: got {got!r:.80} want {want!r:.80}"


def _entry(case: dict, key: str):
    """The golden for one section: a value, a ``{"raises": ...}`` dict, or None (not recorded).

    A raises-entry for the whole case applies to the sections that normalise: with
    ``text_frontend=False`` the reference returns the text as it is and cannot fail.
    """
    if key in case:
        return case[key]
    if "raises" in case and key != "split_true_frontend_off":
        return case
    return None


def checks(fx: Fixture) -> Iterator[CheckResult]:
    for golden_name, folder in _golden_sets(fx):
        cases = fx.json(golden_name)["cases"]
        tok = load_tokenizer(folder)
        stem = golden_name.removesuffix(".json")
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
            yield CheckResult(f"{stem}: {key}", 0.0 if not bad else float("inf"), 0.0, not bad, detail)
