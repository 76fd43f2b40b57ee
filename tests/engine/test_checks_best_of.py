"""Best-of-N on the real tiny engine: new seeds derived from the request's, stop at the first take that
passes, else keep the best score; the same request gives the same takes (engine/checks/best_of.py)."""
from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from engine import SynthesisRequest
from engine.checks import BestOf, TakeChecker, best_of, take_seed
from engine.errors import CheckError


def test_take_seeds_are_derived_from_the_request_seed():
    seeds = [take_seed(7, k) for k in range(6)]
    assert seeds[0] == 7 and len(set(seeds)) == 6 and all(0 <= s < 2 ** 64 for s in seeds)
    assert seeds == [take_seed(7, k) for k in range(6)]  # a function of (seed, k) alone
    assert [take_seed(8, k) for k in range(1, 6)] != seeds[1:]


def _request(voice, seed: int) -> SynthesisRequest:
    # the default watchdog (15 speech tokens per text token): the tiny random LM, which never says EOS,
    # is stopped by it for some seeds and by the LM's own length cap for others
    return SynthesisRequest("Hi there. How are you?", voice, seed=seed)


@pytest.fixture(scope="module")
def watchdog_runs(engine, voice) -> tuple[BestOf, BestOf]:
    checker = TakeChecker(groups=("watchdog",))
    return best_of(engine, _request(voice, 5), 4, checker), best_of(engine, _request(voice, 5), 4, checker)


def test_it_stops_at_the_first_passing_take(watchdog_runs):
    run, _ = watchdog_runs
    first_pass = next(i for i, t in enumerate(run.takes) if t.report.passed)
    assert run.chosen_index == first_pass == len(run.takes) - 1  # nothing made after the first pass
    assert all(not t.report.passed and t.watchdog for t in run.takes[:first_pass])
    assert run.passed and [t.seed for t in run.takes] == [take_seed(5, k) for k in range(len(run.takes))]
    # seed 5 itself is stopped by the watchdog, so this run really retook (tiny model, portable seeds)
    assert first_pass >= 1


def test_the_same_request_gives_the_same_takes(watchdog_runs):
    a, b = watchdog_runs
    assert a.chosen_index == b.chosen_index
    assert [t.seed for t in a.takes] == [t.seed for t in b.takes]
    for x, y in zip(a.takes, b.takes):
        np.testing.assert_array_equal(x.audio, y.audio)
        assert x.report.to_dict()["checks"] == y.report.to_dict()["checks"]


def test_when_no_take_passes_the_best_score_is_kept(engine, voice):
    # timing on tiny-model noise: no speech is ever found, every take fails; clipping passes (score 2)
    run = best_of(engine, _request(voice, 3), 3, TakeChecker(groups=("timing", "quality")))
    assert len(run.takes) == 3 and not run.passed
    scores = [t.report.score for t in run.takes]
    assert run.chosen_index == scores.index(max(scores))  # the earliest of the best
    d = run.to_dict()
    assert d["chosen"] == run.chosen_index and len(d["takes"]) == 3 and d["takes"][0]["checks"]
    assert run.check_fraction() > 0


def test_bad_numbers_of_takes_are_refused(engine, voice):
    for n in (0, 33, 2.5, True):
        with pytest.raises(CheckError, match="whole number from 1 to 32"):
            best_of(engine, _request(voice, 0), n)


def test_synth_best_of_writes_the_chosen_take(tiny_model_dir, parity_dir, tmp_path, capsys):
    from engine.cli import main

    out = tmp_path / "best.wav"
    rc = main(["synth", "--model", str(tiny_model_dir), "--normalizer", "none", "--voices-dir", str(tmp_path / "v"),
               "--prompt", str(parity_dir / "wavs" / "prompt_en_22k.wav"),
               "--transcript", "Hello there, this is a short prompt for voice cloning.",
               "--text", "Hi there.", "--seed", "5", "--best-of", "2", "-o", str(out)])
    err = capsys.readouterr().err
    assert rc == 0 and "timbre: take 1 (seed 5)" in err and "chose take" in err
    data, sr = sf.read(out)
    assert sr == 24000 and data.size > 0
    assert main(["synth", "--model", str(tiny_model_dir), "--prompt", "x.wav", "--text", "Hi.",
                 "--best-of", "0", "-o", str(out)]) == 1
    assert "from 1 to 32" in capsys.readouterr().err
