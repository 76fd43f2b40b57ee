"""``timbre check`` on real files: prints each check, exits 0 for a good take and 1 for a failed one."""
from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf

from engine.cli import main
from take_speech import OTHER, RATE, SENTENCE, THIRD, speech

pytest.importorskip("pocketsphinx")


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("takes")
    take, ref = d / "take.wav", d / "ref.wav"
    sf.write(take, speech(SENTENCE), RATE)
    sf.write(ref, speech(THIRD), RATE)
    clipped = d / "clipped.wav"
    a = speech(SENTENCE)
    sf.write(clipped, np.clip(a / np.max(np.abs(a)) * 2, -1, 1), RATE, subtype="FLOAT")
    return take, ref, clipped


def test_a_good_take_passes_with_every_check_printed(files, capsys):
    take, ref, _ = files
    assert main(["check", str(take), "--text", SENTENCE, "--prompt", str(ref), "--language", "en"]) == 0
    out = capsys.readouterr().out.splitlines()
    names = {line.split("]")[1].split()[0] for line in out if line.startswith("[")}
    assert {"speaking_rate", "longest_pause", "end_cut", "wer", "voice_similarity", "clipping", "watchdog"} <= names
    assert out[-1].startswith("take: pass")


def test_the_wrong_text_fails_with_exit_1_and_json(files, capsys):
    take, _, _ = files
    assert main(["check", str(take), "--text", OTHER, "--only", "intelligibility", "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["verdict"] == "fail" and report["checks"][0]["name"] == "wer"
    assert report["checks"][0]["value"] > report["checks"][0]["threshold"]


def test_a_clipped_take_fails(files, capsys):
    _, _, clipped = files
    assert main(["check", str(clipped), "--text", SENTENCE, "--only", "quality"]) == 1
    assert "[fail] clipping" in capsys.readouterr().out


@pytest.mark.parametrize("args, needle", [
    (["/no/take.wav", "--text", "Hi."], "does not exist"),
    (["TAKE"], "Nothing to say"),
    (["TAKE", "--text", "Hi.", "--prompt", "/no/ref.wav"], "does not exist"),
    (["TAKE", "--text", "Hi.", "--voice", "A", "--prompt", "REF"], "not both"),
    (["TAKE", "--text", "Hi.", "--only", "timing,vibes"], "Unknown check group"),
])
def test_bad_input_is_one_line(files, capsys, args, needle):
    take, ref, _ = files
    args = [str(take) if a == "TAKE" else str(ref) if a == "REF" else a for a in args]
    assert main(["check", *args]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("timbre: error: ") and needle in err[0]


def test_a_take_nothing_could_judge_has_not_failed(files, capsys):
    take, _, _ = files
    assert main(["check", str(take), "--text", "Hallo Welt.", "--language", "de", "--only", "intelligibility"]) == 0
    assert capsys.readouterr().out.splitlines()[-1].startswith("take: not checked")
