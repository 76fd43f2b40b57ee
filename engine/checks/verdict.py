"""What a take check says: a number, the threshold it was held against, and a verdict in plain words.

Every check of :mod:`engine.checks` returns one :class:`Check`; a take's checks together are a
:class:`TakeReport`. The verdicts:

* ``pass`` / ``warn`` / ``fail`` - the check ran and the value was inside, near or past its threshold;
* ``not checked`` - the check cannot judge this take (a language no installed recogniser covers, no
  reference voice given, a model whose thresholds were never measured);
* ``not installed`` - the optional model or package the check needs is missing (``pip install
  'timbre[checks]'``, or a model folder the user has not downloaded).

Only ``fail`` fails a take; the two "not" verdicts never count for or against it.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Iterable

PASS, WARN, FAIL = "pass", "warn", "fail"
NOT_CHECKED, NOT_INSTALLED = "not checked", "not installed"
VERDICTS = (PASS, WARN, FAIL, NOT_CHECKED, NOT_INSTALLED)
JUDGED = (PASS, WARN, FAIL)
POINTS = {PASS: 2, WARN: 1, FAIL: 0}  # a take's score: the sum over its judged checks (see TakeReport.score)


@dataclass(frozen=True)
class Check:
    """One check of one take.

    name: what was checked (``speaking_rate``, ``wer``, ...). group: the family (timing, intelligibility,
    instruction, voice, quality, watchdog). value: the measured number (None when nothing was measured).
    threshold: the value past which the check fails, in the same unit (None when not judged).
    message: one plain sentence for a person. details: extra values (JSON-friendly) for tools.
    """

    name: str
    group: str
    verdict: str
    message: str
    value: float | None = None
    threshold: float | None = None
    unit: str = ""
    details: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.verdict not in VERDICTS:
            raise ValueError(f"unknown verdict {self.verdict!r}; use one of {VERDICTS}")

    @property
    def judged(self) -> bool:
        return self.verdict in JUDGED

    def line(self) -> str:
        """``[fail] wer 0.82 (fail above 0.55): ...`` - what the CLI prints."""
        number = ""
        if self.value is not None:
            number = f" {_fmt(self.value)}{self.unit}"
            if self.threshold is not None:
                number += f" (limit {_fmt(self.threshold)}{self.unit})"
        return f"[{self.verdict}] {self.name}{number}: {self.message}"

    def to_dict(self) -> dict:
        return asdict(self)


def _fmt(x: float) -> str:
    return f"{x:.3g}" if abs(x) < 100 else f"{x:.0f}"


def not_installed(name: str, group: str, what: str) -> Check:
    return Check(name, group, NOT_INSTALLED, what)


def not_checked(name: str, group: str, why: str, value: float | None = None, unit: str = "") -> Check:
    return Check(name, group, NOT_CHECKED, why, value=value, unit=unit)


def grade_above(value: float, warn_at: float, fail_at: float) -> str:
    """Verdict for a value that is bad when large: ``fail`` above ``fail_at``, ``warn`` above ``warn_at``."""
    return FAIL if value > fail_at else WARN if value > warn_at else PASS


def grade_below(value: float, warn_at: float, fail_at: float) -> str:
    """Verdict for a value that is bad when small: ``fail`` below ``fail_at``, ``warn`` below ``warn_at``."""
    return FAIL if value < fail_at else WARN if value < warn_at else PASS


@dataclass(frozen=True)
class TakeReport:
    """Every check of one take, and what they add up to."""

    checks: tuple[Check, ...]
    seconds: float = 0.0  # time the checks took

    @classmethod
    def of(cls, checks: Iterable[Check], seconds: float = 0.0) -> "TakeReport":
        return cls(tuple(checks), seconds)

    @property
    def verdict(self) -> str:
        """``fail`` if any check failed, ``warn`` if any warned, ``pass`` if any passed, else ``not checked``."""
        verdicts = {c.verdict for c in self.checks}
        for v in (FAIL, WARN, PASS):
            if v in verdicts:
                return v
        return NOT_CHECKED

    @property
    def passed(self) -> bool:
        """No check failed (a take nothing could judge has not failed either)."""
        return self.verdict != FAIL

    @property
    def score(self) -> int:
        """Best-of-N's score: 2 points per passed check, 1 per warning, 0 per failure; unjudged checks add
        nothing, so takes checked by the same checker compare fairly."""
        return sum(POINTS[c.verdict] for c in self.checks if c.judged)

    def failures(self) -> list[Check]:
        return [c for c in self.checks if c.verdict == FAIL]

    def get(self, name: str) -> Check | None:
        return next((c for c in self.checks if c.name == name), None)

    def summary(self) -> str:
        """One line: the verdict and the reasons (failed and warned checks)."""
        bad = [c for c in self.checks if c.verdict in (FAIL, WARN)]
        reasons = "; ".join(f"{c.name}: {c.message}" for c in bad)
        return self.verdict + (f" ({reasons})" if reasons else "")

    def to_dict(self) -> dict:
        return {"verdict": self.verdict, "score": self.score, "seconds": round(self.seconds, 3),
                "checks": [c.to_dict() for c in self.checks]}
