"""Automatic take checks: does a take say the text, in time, in the reference's voice, without damage?

    from engine.checks import TakeChecker, Reference, best_of

    checker = TakeChecker()                                   # models load on first use
    report = checker.check(audio, 24000, "Hello there.", reference=Reference(prompt, 16000))
    print(report.verdict, [c.line() for c in report.checks])
    result = best_of(engine, request, 4, checker)             # new seeds until a take passes

Every check is a :class:`Check` (a number, its threshold, a plain verdict); a missing optional model makes
its check say "not installed" (``pip install 'timbre[checks]'``). No Qt here: the studio calls these from
its worker thread.
"""
from __future__ import annotations

from .best_of import BestOf, Take, best_of, take_seed
from .take import GROUPS, Reference, TakeChecker, watchdog_check
from .verdict import FAIL, NOT_CHECKED, NOT_INSTALLED, PASS, VERDICTS, WARN, Check, TakeReport

__all__ = ["BestOf", "Check", "FAIL", "GROUPS", "NOT_CHECKED", "NOT_INSTALLED", "PASS", "Reference", "Take",
           "TakeChecker", "TakeReport", "VERDICTS", "WARN", "best_of", "take_seed", "watchdog_check"]
