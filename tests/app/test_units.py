"""Fast checks of the app's non-widget parts: settings, the line rows a project's lines become, player maths, the
take audio cache, presets, and the project document's autosave."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from app import engine_bridge as bridge
from app.audio.player import FADE_S, MIN_PREBUFFER_S, fade, required_prebuffer
from app.document import ProjectDocument
from app.line_rows import line_rows
from app.resources import load_presets
from app.settings import Settings, config_dir


def test_settings_round_trip_and_damaged_file(app_dirs: Path) -> None:
    s = Settings(model_dir="/m", theme="light", seed=42, speed=1.25, output_device="jack", last_voice="Ann")
    path = s.save()
    assert path.parent == config_dir()
    assert Settings.load() == s
    path.write_text(json.dumps({"seed": "not a number", "theme": "dark", "unknown": 1, "speed": 2}))
    loaded = Settings.load()
    assert loaded.seed == Settings().seed and loaded.theme == "dark" and loaded.speed == 2.0
    path.write_text("{ broken")
    assert Settings.load() == Settings()


def test_line_rows_are_the_lines_as_written_with_their_takes(tmp_path: Path) -> None:
    """What the line list shows, from a real project: the creator's sentences, each with its speaker and direction."""
    project = bridge.new_project()
    project.set_script("It was 3 o'clock. Rain.\nAnn: {whisper} Who is there?")
    rows = line_rows(project.rows(), lambda _take: None, None, set())
    assert [(r.number, r.speaker, r.text, r.take, r.status) for r in rows] == [
        (1, "Narrator", "It was 3 o'clock.", "—", "missing"), (2, "Narrator", "Rain.", "—", "missing"),
        (3, "Ann", "{whisper} Who is there?", "—", "missing")]
    busy = line_rows(project.rows(), lambda _take: None, rows[1].line_id, set())
    assert busy[1].take == "generating…" and busy[1].status == "generating" and busy[0].status == "missing"
    project.close()


def test_prebuffer_covers_predicted_shortfall() -> None:
    assert required_prebuffer(None, 10.0) == MIN_PREBUFFER_S
    assert required_prebuffer(0.5, 10.0) == MIN_PREBUFFER_S  # faster than real time: start at once
    # 2x slower than real time with 10 s to come: 10 s would be missing, so wait for them (+10 %).
    assert required_prebuffer(2.0, 10.0) == pytest.approx(11.0)


def test_fades_ramp_both_ends() -> None:
    x = np.ones(2400, np.float32)
    y = fade(x, 24000, fade_in=True, fade_out=True)
    n = int(FADE_S * 24000)
    # the engine's raised cosine starts half a sample in: sin^2(pi / 4n) ~ 3e-5 of full scale, below -80 dB
    assert y[0] < 1e-4 and y[-1] < 1e-4 and y[n] == 1.0 and np.all(np.diff(y[:n]) >= 0)
    assert fade(x, 24000, fade_in=False, fade_out=False)[0] == 1.0


def test_take_audio_is_decoded_once_and_the_oldest_goes_first() -> None:
    from app.take_audio import TakeAudioCache

    decoded = []

    def decode(take_id: str) -> np.ndarray:
        decoded.append(take_id)
        return np.ones(10, np.float32)

    cache = TakeAudioCache(budget_samples=25)
    a = cache.get("a", decode)
    assert cache.get("a", decode) is a and decoded == ["a"] and not a.flags.writeable
    cache.get("b", decode)
    cache.get("a", decode)  # a is the most recently used now
    cache.get("c", decode)  # 30 samples > 25: b, the least recently used, goes
    cache.get("b", decode)
    assert decoded == ["a", "b", "c", "b"]


def test_presets_cover_the_issue_groups() -> None:
    presets = load_presets()
    assert list(presets) == ["Emotion", "Speaking rate", "Dialect / accent", "Role"]
    names = {g: [p.name for p in ps] for g, ps in presets.items()}
    assert names["Emotion"] == ["Happy", "Sad", "Surprised", "Angry", "Fearful", "Disgusted", "Calm", "Serious"]
    assert names["Speaking rate"][0] == "Very slow" and names["Speaking rate"][-1] == "Very fast"
    assert {"Mysterious", "Fierce", "Curious", "Elegant", "Lonely", "Robot"} == set(names["Role"])
    assert all(p.instruction for ps in presets.values() for p in ps)


def test_the_document_autosaves_the_whole_project_a_moment_after_a_change(qtbot, app_dirs: Path) -> None:
    from app.settings import autosave_dir, pronunciations_file

    document = ProjectDocument(autosave_dir(), pronunciations_file())
    state = autosave_dir() / document.project.id / "project.json"
    qtbot.wait(100)
    assert not state.exists()  # a new, empty project is not worth keeping
    document.set_script("Unsaved words.")
    qtbot.waitUntil(lambda: state.is_file() and "Unsaved words." in state.read_text(encoding="utf-8"),
                    timeout=5000)
    assert bridge.find_recoveries(autosave_dir()) == []  # the open project's own: nothing to recover from it
    assert str(autosave_dir()).startswith(str(app_dirs / "data"))
    document.close()  # unsaved work stays for the next start
    [left] = bridge.find_recoveries(autosave_dir())
    recovered = bridge.recover_project(left)
    assert recovered.script_text == "Unsaved words." and recovered.modified
    recovered.close()
