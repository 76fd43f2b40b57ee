"""Each check's model is optional: without its package (or model folder) that check says "not installed",
the other checks still run, nothing crashes. A package is made unimportable the way Python itself knows
(``sys.modules[name] = None``)."""
from __future__ import annotations

import json
import sys

import numpy as np
import pytest

from engine.checks import Reference, TakeChecker
from engine.checks.asr import FasterWhisper, check_whisper_folder
from engine.errors import CheckError, CheckModelMissing
from take_speech import RATE, SENTENCE, speech

MODULES = ["silero_vad", "pocketsphinx", "jiwer", "resemblyzer", "speechmos.dnsmos", "speechmos", "faster_whisper"]


def test_without_any_optional_package_every_model_check_says_not_installed(monkeypatch):
    for name in MODULES:
        monkeypatch.setitem(sys.modules, name, None)
    audio = speech()
    report = TakeChecker().check(audio, RATE, SENTENCE, reference=Reference(audio=audio, sample_rate=RATE),
                                 watchdog=None)
    verdicts = {c.name: c.verdict for c in report.checks}
    assert verdicts == {"timing": "not installed", "wer": "not installed", "voice_similarity": "not installed",
                        "clipping": "pass", "dnsmos": "not installed", "watchdog": "pass"}
    assert all("timbre[checks]" in c.message for c in report.checks if c.verdict == "not installed")
    assert report.verdict == "pass"  # judged by what could be judged; "not installed" counts neither way


def test_jiwer_missing_alone_turns_only_the_word_check_off(monkeypatch):
    pytest.importorskip("pocketsphinx")
    monkeypatch.setitem(sys.modules, "jiwer", None)
    check = TakeChecker(groups=("intelligibility",)).check(speech(), RATE, SENTENCE).get("wer")
    assert check.verdict == "not installed" and "jiwer" in check.message


def test_whisper_folder_is_checked_before_anything_loads(tmp_path):
    with pytest.raises(CheckModelMissing, match="No Whisper model folder"):
        check_whisper_folder(tmp_path / "nothing")
    (tmp_path / "model.bin").write_bytes(b"x")
    with pytest.raises(CheckModelMissing, match="lacks config.json, tokenizer.json"):
        check_whisper_folder(tmp_path)


def test_a_damaged_whisper_model_is_a_clear_error_and_the_check_is_not_checked(tmp_path):
    pytest.importorskip("faster_whisper")
    (tmp_path / "model.bin").write_bytes(b"not a CTranslate2 model")
    (tmp_path / "config.json").write_text(json.dumps({}))
    (tmp_path / "tokenizer.json").write_text(json.dumps({}))
    with pytest.raises(CheckError, match="cannot be loaded"):
        FasterWhisper(tmp_path)
    check = TakeChecker(whisper_dir=tmp_path, groups=("intelligibility",)).check(
        np.full(RATE, 0.01, np.float32), RATE, "Hallo Welt.", language="de").get("wer")
    assert check.verdict == "not checked" and "cannot be loaded" in check.message


def test_whisper_without_its_package_is_not_installed(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "faster_whisper", None)
    for f in ("model.bin", "config.json", "tokenizer.json"):
        (tmp_path / f).write_text("{}")
    check = TakeChecker(whisper_dir=tmp_path, groups=("intelligibility",)).check(
        np.full(RATE, 0.01, np.float32), RATE, "Hallo Welt.", language="de").get("wer")
    assert check.verdict == "not installed" and "faster-whisper" in check.message


def test_bad_requests_are_typed_errors():
    with pytest.raises(CheckError, match="Unknown check group"):
        TakeChecker(groups=("timing", "vibes"))
    with pytest.raises(CheckError, match="Which text"):
        TakeChecker().check(np.zeros(100, np.float32), RATE, "  ")
    report = TakeChecker().check(np.zeros(0, np.float32), RATE, "Hi.")
    assert report.verdict == "fail" and "no audio" in report.checks[0].message
