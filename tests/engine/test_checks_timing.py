"""Timing checks on real espeak-ng speech with silero-vad: natural takes pass, inserted silence, a cut
mid-word and a crawling rate fail (bounds: engine/checks/timing.py, measured by engine.checks.calibrate)."""
from __future__ import annotations

import numpy as np
import pytest

from engine.checks import TakeChecker
from engine.checks.calibrate import OTHER as OTHER_LANGUAGES
from take_speech import RATE, SENTENCE, speech, with_pause

pytest.importorskip("silero_vad")


@pytest.fixture(scope="module")
def checker() -> TakeChecker:
    return TakeChecker(groups=("timing",))


def verdicts(report) -> dict[str, str]:
    return {c.name: c.verdict for c in report.checks}


@pytest.mark.parametrize("voice, text, language", [
    ("en-us", SENTENCE, "en"), ("en-us+f3", SENTENCE, "en"), ("en-gb+m3", SENTENCE, "en"),
    ("de", OTHER_LANGUAGES["de"][1], "de"), ("fr", OTHER_LANGUAGES["fr"][0], "fr"),
])
def test_natural_speech_passes_every_timing_check(checker, voice, text, language):
    report = checker.check(speech(text, voice), RATE, text, language=language)
    assert set(verdicts(report)) == {"speaking_rate", "leading_silence", "trailing_silence", "longest_pause", "end_cut"}
    assert report.verdict == "pass", report.summary()


def test_three_seconds_of_inserted_silence_fail(checker):
    report = checker.check(with_pause(speech(), 3.0), RATE, SENTENCE, language="en")
    pause = report.get("longest_pause")
    assert pause.verdict == "fail" and 2.9 <= pause.value <= 3.2  # 3 s inserted between two words' VAD edges
    assert report.verdict == "fail"


def test_leading_silence_of_three_seconds_fails(checker):
    report = checker.check(with_pause(speech(), 3.0, at=0.0), RATE, SENTENCE, language="en")
    assert report.get("leading_silence").verdict == "fail"


@pytest.mark.parametrize("fraction", [0.55, 0.8])
def test_a_take_cut_mid_word_fails(checker, fraction):
    audio = speech()
    # cut inside the last word ("store"): the VAD's last segment ends there; cut at a loud 30 ms frame of it
    from engine.checks.vad import find_speech

    start, end = find_speech(audio).segments[-1]
    cut = audio[: int((start + (end - start) * fraction) * RATE)]
    report = checker.check(cut, RATE, SENTENCE, language="en")
    assert report.get("end_cut").verdict == "fail", report.get("end_cut")
    assert report.get("end_cut").value > -35.0
    assert checker.check(audio, RATE, SENTENCE, language="en").get("end_cut").verdict == "pass"


def test_crawling_and_racing_speech_do_not_pass_the_rate(checker):
    slow = checker.check(speech(words_per_minute=80), RATE, SENTENCE, language="en").get("speaking_rate")
    fast = checker.check(speech(words_per_minute=450), RATE, SENTENCE, language="en").get("speaking_rate")
    assert slow.verdict in ("warn", "fail") and "slow" in slow.message
    assert fast.verdict in ("warn", "fail") and "fast" in fast.message


def test_silence_only_fails_with_no_speech(checker):
    report = checker.check(np.zeros(RATE * 2, np.float32), RATE, SENTENCE)
    assert report.verdict == "fail" and report.checks[0].name == "speech_found"
