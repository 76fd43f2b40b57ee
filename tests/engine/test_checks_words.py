"""Intelligibility and spoken instruction on real espeak-ng speech with pocketsphinx (limits:
engine/checks/intelligibility.py, measured by engine.checks.calibrate asr)."""
from __future__ import annotations

import pytest

from engine.checks import TakeChecker
from take_speech import OTHER, RATE, SENTENCE, THIRD, speech

pytest.importorskip("pocketsphinx")
pytest.importorskip("jiwer")


@pytest.fixture(scope="module")
def checker() -> TakeChecker:
    return TakeChecker(groups=("intelligibility", "instruction"))


@pytest.mark.parametrize("voice", ["en-us", "en-us+f3", "en-us+klatt2"])
def test_right_text_passes_and_a_different_text_fails(checker, voice):
    for said, other in ((SENTENCE, OTHER), (THIRD, SENTENCE)):
        audio = speech(said, voice)
        right = checker.check(audio, RATE, said, language="en").get("wer")
        wrong = checker.check(audio, RATE, other, language="en").get("wer")
        assert right.verdict != "fail", right
        assert wrong.verdict == "fail", wrong
        assert wrong.value > right.value
        assert right.details["recogniser"].startswith("pocketsphinx")


def test_a_regional_language_code_uses_its_language(checker):
    report = checker.check(speech(SENTENCE), RATE, SENTENCE, language="en-US")
    assert report.get("wer").details["recogniser"].startswith("pocketsphinx")


def test_a_language_no_installed_recogniser_covers_is_not_checked(checker):
    text = "Der Hund läuft schnell über die grüne Wiese."
    report = checker.check(speech(text, "de"), RATE, text, language="de")
    wer = report.get("wer")
    assert wer.verdict == "not checked" and "'de'" in wer.message and wer.value is None
    assert report.verdict == "not checked"  # nothing judged, nothing faked


def test_a_spoken_instruction_fails_and_an_unspoken_one_passes(checker):
    instruction = "Speak slowly in a calm and gentle voice."
    text = "Our meeting has been moved to Thursday afternoon at three."
    leaked = speech(f"{instruction} {text}")
    clean = speech(text)
    bad = checker.check(leaked, RATE, text, language="en", instruction=instruction).get("instruction_spoken")
    good = checker.check(clean, RATE, text, language="en", instruction=instruction).get("instruction_spoken")
    assert bad.verdict == "fail" and len(bad.details["heard"]) >= 2, bad
    assert good.verdict == "pass", good
