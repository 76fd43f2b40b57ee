"""Voice similarity with a real speaker-verification model (resemblyzer's GE2E, weights in its wheel) on
espeak-ng voices: the same voice saying another sentence scores higher than another voice (engine/checks/
speaker.py; margin measured by engine.checks.calibrate voice)."""
from __future__ import annotations

import numpy as np
import pytest

from engine.checks import Reference, TakeChecker
from take_speech import OTHER, RATE, SENTENCE, THIRD, speech

pytest.importorskip("resemblyzer")


@pytest.fixture(scope="module")
def checker() -> TakeChecker:
    return TakeChecker(groups=("voice",))


@pytest.mark.parametrize("voice, other_voice", [("en-us", "en-us+f3"), ("en-us+m7", "fr+f2"),
                                                ("en-us+klatt2", "en-us")])
def test_same_voice_scores_higher_than_a_different_voice(checker, voice, other_voice):
    ref = Reference(audio=speech(THIRD, voice), sample_rate=RATE)
    same = checker.check(speech(SENTENCE, voice), RATE, SENTENCE, reference=ref).get("voice_similarity")
    diff = checker.check(speech(SENTENCE, other_voice), RATE, SENTENCE, reference=ref).get("voice_similarity")
    assert same.verdict == "pass", same
    assert diff.verdict != "pass", diff
    # calibrate voice measured a mean margin of 0.19 over 8 voices; 0.08 is its smallest between these pairs
    assert same.value - diff.value > 0.08


def test_a_saved_voice_is_compared_by_cam_plus_plus_but_not_judged(tiny_model_dir):
    from engine.frontend.onnx_models import SpeakerEncoder

    ref_audio = speech(OTHER)
    embedding = SpeakerEncoder(tiny_model_dir / "campplus.onnx")(ref_audio.reshape(1, -1)).numpy()[0]
    checker = TakeChecker(groups=("voice",), model_dir=tiny_model_dir)
    check = checker.check(ref_audio, RATE, OTHER, reference=Reference(embedding=embedding)).get("voice_similarity")
    # the tiny model's CAM++ is random: a number (the same clip: cosine 1), never a verdict
    assert check.verdict == "not checked" and check.value == pytest.approx(1.0, abs=1e-4)
    without_model = TakeChecker(groups=("voice",)).check(ref_audio, RATE, OTHER,
                                                         reference=Reference(embedding=embedding))
    assert "model folder" in without_model.get("voice_similarity").message


def test_no_reference_is_not_checked(checker):
    assert checker.check(np.zeros(RATE, np.float32) + 0.01, RATE, "Hi.").get("voice_similarity").verdict == "not checked"
