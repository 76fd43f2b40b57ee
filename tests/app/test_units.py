"""Fast checks of the app's non-widget parts: settings, narration takes, player maths, WAV export,
presets, autosave."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from app import autosave
from app.audio.player import FADE_S, MIN_PREBUFFER_S, fade, required_prebuffer
from app.audio.wav import join_with_pauses, write_wav_atomic
from app.narration import Narration, Take
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


def test_narration_keeps_takes_of_unchanged_sentences() -> None:
    n = Narration()
    assert n.set_sentences(["One.", "Two.", "Three."])
    take = Take(np.ones(10, np.float32), 24000, 5, "zero_shot", "", "Ann")
    n.sentences[1].add(take)
    assert not n.set_sentences(["One.", "Two.", "Three."])
    n.set_sentences(["Zero.", "Two.", "Three, changed."])
    assert n.sentences[1].take is take and n.sentences[0].take is None and n.done_count == 1
    assert n.audio_parts()[0] is take.audio


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


@pytest.mark.parametrize("float32,subtype", [(False, "PCM_16"), (True, "FLOAT")])
def test_wav_export_is_atomic_and_typed(tmp_path: Path, float32: bool, subtype: str) -> None:
    audio = join_with_pauses([np.full(100, 0.5, np.float32), np.full(50, -0.5, np.float32)], 24000, 10)
    assert len(audio) == 100 + 240 + 50
    out = write_wav_atomic(tmp_path / "a" / "x.wav", audio, 24000, float32=float32)
    info = sf.info(str(out))
    assert (info.samplerate, info.frames, info.subtype) == (24000, len(audio), subtype)
    assert [p.name for p in out.parent.iterdir()] == ["x.wav"]  # no temp file left behind


def test_presets_cover_the_issue_groups() -> None:
    presets = load_presets()
    assert list(presets) == ["Emotion", "Speaking rate", "Dialect / accent", "Role"]
    names = {g: [p.name for p in ps] for g, ps in presets.items()}
    assert names["Emotion"] == ["Happy", "Sad", "Surprised", "Angry", "Fearful", "Disgusted", "Calm", "Serious"]
    assert names["Speaking rate"][0] == "Very slow" and names["Speaking rate"][-1] == "Very fast"
    assert {"Mysterious", "Fierce", "Curious", "Elegant", "Lonely", "Robot"} == set(names["Role"])
    assert all(p.instruction for ps in presets.values() for p in ps)


def test_autosave_round_trip(app_dirs: Path) -> None:
    assert autosave.load_text() is None
    autosave.save_text("Unsaved words.")
    assert autosave.load_text() == "Unsaved words."
    assert str(autosave.autosave_path()).startswith(str(app_dirs / "data"))
