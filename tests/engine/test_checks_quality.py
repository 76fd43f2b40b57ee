"""Quality: a clipped take fails, clean speech passes; DNSMOS (speechmos) flags a noisy take
(limits: engine/checks/quality.py, measured by engine.checks.calibrate quality)."""
from __future__ import annotations

import numpy as np
import pytest

from engine.checks import TakeChecker
from take_speech import RATE, SENTENCE, speech


@pytest.fixture(scope="module")
def checker() -> TakeChecker:
    return TakeChecker(groups=("quality",))


@pytest.mark.parametrize("voice", ["en-us", "en-us+f3"])
def test_a_clipped_take_fails_and_the_clean_one_passes(checker, voice):
    clean = speech(SENTENCE, voice)
    clipped = np.clip(clean / np.max(np.abs(clean)) * 2.0, -1.0, 1.0)  # 6 dB into the rails
    assert checker.check(clean, RATE, SENTENCE).get("clipping").verdict == "pass"
    bad = checker.check(clipped, RATE, SENTENCE)
    assert bad.get("clipping").verdict == "fail" and bad.verdict == "fail"
    assert bad.get("clipping").details["clipped_places"] > 10


def test_dnsmos_scores_clean_speech_above_noisy_speech(checker):
    pytest.importorskip("speechmos")
    pytest.importorskip("librosa")
    clean = speech(SENTENCE)
    noisy = np.clip(clean + np.random.default_rng(1).normal(0, 0.05, clean.size), -1, 1).astype(np.float32)
    good, bad = checker.check(clean, RATE, SENTENCE).get("dnsmos"), checker.check(noisy, RATE, SENTENCE).get("dnsmos")
    assert good.verdict == "pass" and bad.verdict == "warn", (good, bad)
    assert good.value - bad.value > 0.3  # calibrate quality: clean 2.1-2.9 against 1.6-1.8 with this noise
