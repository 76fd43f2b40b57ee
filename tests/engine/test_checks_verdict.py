"""How checks add up to a take's verdict and best-of score (engine/checks/verdict.py)."""
from __future__ import annotations

import json

import pytest

from engine.checks import Check, TakeReport, watchdog_check


def c(name: str, verdict: str, value: float | None = 1.0) -> Check:
    return Check(name, "timing", verdict, f"{name} is {verdict}", value=value, threshold=2.0, unit=" s")


def test_any_failure_fails_the_take_and_unjudged_checks_count_neither_way():
    report = TakeReport.of([c("a", "pass"), c("b", "warn"), c("d", "not installed", None)])
    assert report.verdict == "warn" and report.passed and report.score == 3
    failed = TakeReport.of([*report.checks, c("e", "fail")])
    assert failed.verdict == "fail" and not failed.passed and failed.score == 3
    assert [x.name for x in failed.failures()] == ["e"] and "e: e is fail" in failed.summary()
    unjudged = TakeReport.of([c("x", "not checked", None)])
    assert unjudged.verdict == "not checked" and unjudged.passed and unjudged.score == 0


def test_lines_and_json_say_the_number_and_its_limit():
    assert c("pause", "fail", 3.01).line() == "[fail] pause 3.01 s (limit 2 s): pause is fail"
    d = json.loads(json.dumps(TakeReport.of([c("pause", "pass")], 0.5).to_dict()))
    assert d == {"verdict": "pass", "score": 2, "seconds": 0.5, "checks": [
        {"name": "pause", "group": "timing", "verdict": "pass", "message": "pause is pass", "value": 1.0,
         "threshold": 2.0, "unit": " s", "details": {}}]}
    with pytest.raises(ValueError, match="unknown verdict"):
        c("x", "great")


def test_the_watchdog_verdicts_become_a_check():
    assert watchdog_check(None).verdict == "pass"
    bad = watchdog_check(["sentence 2: stopped a loop"])
    assert bad.verdict == "fail" and "stopped a loop" in bad.message
