"""How a take check's verdict looks: the badge text and colour, the reasons on hover, a take's scores in a line."""
from __future__ import annotations

from typing import Any

BADGES = {"pass": ("✓ pass", "#2e9d4f"), "warn": ("! warn", "#c98a00"), "fail": ("✗ fail", "#d64545"),
          "not checked": ("– not checked", "#8a8f98"), "not installed": ("– not installed", "#8a8f98")}
UNCHECKED = ("", "#8a8f98")
CHECKING = ("… checking", "#8a8f98")
KEY_NUMBERS = (("wer", "WER"), ("voice_similarity", "voice"), ("speaking_rate", "rate"), ("dnsmos", "MOS"))


def badge(verdict: str | None) -> tuple[str, str]:
    """(text, colour) of a verdict's badge ("" for a take not checked)."""
    return BADGES.get(verdict, UNCHECKED) if verdict else UNCHECKED


def reasons(report: Any) -> str:
    """The hover text: every check's line (``[fail] wer 0.82 (limit 0.7): …``), failed and warned checks first."""
    order = {"fail": 0, "warn": 1}
    return "\n".join(c.line() for c in sorted(report.checks, key=lambda c: order.get(c.verdict, 2)))


def scores(report: Any) -> str:
    """A take's score and its telling numbers, for comparing takes: ``score 9 · WER 0.33 · voice 0.88``."""
    parts = [f"score {report.score}"]
    for name, label in KEY_NUMBERS:
        check = report.get(name)
        if check is not None and check.value is not None:
            parts.append(f"{label} {check.value:.2f}")
    return " · ".join(parts)
