"""Take-check scores kept in a narration project (issue 17: "the narration project stores them"): a take's report
saved in the .timbre file and read back, and best-of-N retakes of a line made from the same request a take of the
line is made from, so a best-of take is the take synthesize_line makes with that seed."""
from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from engine.checks import TakeChecker, best_of
from engine.errors import ProjectError
from engine.frontend.audio import load_audio, resample_hq
from engine.project import LineStatus, Project, line_request, synthesize_line, synthesized_take
from tinyengine import SHORT


@pytest.fixture(scope="module")
def speech(parity_dir) -> np.ndarray:
    audio, rate = load_audio(parity_dir / "wavs" / "prompt_en_22k.wav")
    return resample_hq(audio, rate, 24000).astype(np.float32)


def test_a_takes_checks_are_saved_with_it(tmp_path, engine, voice, speech):
    project = Project.new("Narrator: Hello there.")
    project.set_cast("Narrator", voice)
    job = project.jobs()[0]
    take = synthesized_take(engine, job, speech)
    info = project.add_take(take)
    assert info.checks is None and project.rows()[0].status is LineStatus.READY
    report = TakeChecker(groups=("quality", "watchdog")).check(speech, 24000, job.text, watchdog="stopped early")
    revision = project.revision
    project.set_take_checks(info.id, report.to_dict())
    assert project.revision > revision  # a change the autosave and Save write
    path = project.save(tmp_path / "book.timbre")
    project.close()

    again = Project.open(path)
    saved = again.take_info(info.id).checks
    assert saved == report.to_dict()
    assert saved["verdict"] == "fail" and [c["name"] for c in saved["checks"]][-1] == "watchdog"
    np.testing.assert_allclose(again.take_audio(info.id), speech, atol=2.0 ** -23)  # FLAC 24-bit step
    again.set_take_checks(info.id, None)
    assert again.take_info(info.id).checks is None
    again.close()


def test_checks_that_json_cannot_hold_are_refused(engine, voice, speech):
    project = Project.new("Narrator: Hello there.")
    project.set_cast("Narrator", voice)
    info = project.add_take(synthesized_take(engine, project.jobs()[0], speech))
    with pytest.raises(ProjectError, match="cannot be saved"):
        project.set_take_checks(info.id, {"score": math.nan})
    with pytest.raises(ProjectError, match="no take"):
        project.set_take_checks("0123456789abcdef", {})
    assert project.take_info(info.id).checks is None


def test_best_of_takes_are_the_lines_own_takes(engine, voice):
    project = Project.new("Narrator: Tiny models talk.")
    project.set_cast("Narrator", voice, mode="cross_lingual")
    job = project.jobs(seed=11)[0]
    checker = TakeChecker(groups=("quality", "watchdog"))
    result = best_of(engine, line_request(job, SHORT), 2, checker)
    assert len(result.takes) == 2 and not result.passed  # the tiny model never stops: the watchdog fails each take
    for made in result.takes:
        one = dataclasses.replace(job, seed=made.seed)
        take = synthesized_take(engine, one, made.audio, watchdog="; ".join(made.watchdog),
                                checks=made.report.to_dict())
        alone = synthesize_line(engine, one, watchdog=SHORT)
        np.testing.assert_array_equal(take.audio, alone.audio)  # same request, same seed: the same take
        assert (take.info.seed, take.info.mode, take.info.checks["score"]) == (made.seed, "cross_lingual",
                                                                             made.report.score)
        project.add_take(take, choose=made.index == result.chosen_index)
    view = project.rows()[0]
    assert len(view.takes) == 2 and view.chosen == view.takes[result.chosen_index].id
