"""The real main window driven like a user, with the real engine on the tiny model and real
PortAudio streams (a JACK dummy device in CI): record, import, analyse, save a voice, type text,
pick a preset, insert a tag, stream a generation, stop mid-way, regenerate a sentence, export,
close during generation, reopen."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from app.application import create_main_window
from app.settings import Settings

pytestmark = pytest.mark.slow
LOAD_MS = 120_000
GEN_MS = 240_000


@pytest.fixture
def make_window(qtbot, tiny_model_dir: Path, app_dirs: Path):
    windows = []

    def make(settings: Settings | None = None):
        window = create_main_window(settings or Settings(model_dir=str(tiny_model_dir)),
                                    voices_dir=app_dirs / "voices")
        qtbot.addWidget(window)
        window.show()
        windows.append(window)
        return window

    yield make
    for window in windows:
        window.shutdown()


def load_engine(qtbot, window) -> None:
    with qtbot.waitSignal(window.engineStateChanged, timeout=LOAD_MS,
                          check_params_cb=lambda state: state in ("ready", "failed")):
        window.start_engine()
    assert window.engine_state == "ready", window.last_error
    assert window.device_label.text().startswith("cpu")


def save_voice(qtbot, window, reference_wav: Path, name: str = "Narrator") -> None:
    panel = window.reference
    assert panel.import_file(reference_wav)
    assert panel.report is not None and panel.analysis_label.text()
    # Keep ~2 s: the tiny model's flow cost grows with the prompt, and it exercises the trim handles.
    panel.waveform.set_trim(0.3, 2.3)
    panel.apply_trim()
    assert abs(len(panel.audio) / panel.sample_rate - 2.0) < 0.01
    panel.normalize()
    panel.transcript.setPlainText("Hello, this is a test of my voice.")
    panel.name_edit.setText(name)
    with qtbot.waitSignal(window.voiceSaved, timeout=LOAD_MS) as saved:
        panel.save_button.click()
    assert saved.args == [name]
    assert window.voice_name == name and name in window.library


def test_record_from_the_microphone_stops_and_analyses(qtbot, make_window, input_device) -> None:
    window = make_window(Settings())
    panel = window.reference
    panel.record_button.click()
    assert panel.is_recording
    qtbot.waitUntil(lambda: panel._recorder is not None and panel._recorder.seconds > 0.5, timeout=5000)
    panel.record_button.click()
    assert not panel.is_recording
    assert len(panel.audio) >= 0.5 * panel.sample_rate
    # The dummy device records silence, and the analysis says so in plain words.
    assert panel.report is not None and not panel.report.ok
    assert "⚠" in panel.analysis_label.text()


def test_errors_reach_the_user_without_a_model(qtbot, make_window, monkeypatch) -> None:
    window = make_window(Settings())
    window.editor.setPlainText("Hello there.")
    assert not window.generate_all()
    assert window.last_error[0] == "The model is not ready"
    assert "Models" in window.last_error[1]
    # First start without a model opens the model manager with the explanation.
    window.start_engine()
    dialog = window._model_dialog
    assert dialog is not None and dialog.isVisible()
    assert "needs a speech model" in dialog.findChild(type(window.model_label), "introLabel").text()
    assert dialog.plan_label.text().startswith("cpu")
    dialog.reject()


def test_full_studio_session(qtbot, make_window, reference_wav: Path, output_device, app_dirs: Path) -> None:
    window = make_window()
    load_engine(qtbot, window)
    save_voice(qtbot, window, reference_wav)

    # Type text, pick a preset (switches to Instruct), insert a tag around a selection.
    window.editor.setPlainText("Good morning.")
    assert window.direction.choose_preset("Emotion", "Happy")
    assert window.direction.mode == "instruct"
    assert "happily" in window.direction.instruction.toPlainText()
    cursor = window.editor.textCursor()
    cursor.setPosition(0)
    cursor.setPosition(4, cursor.MoveMode.KeepAnchor)  # "Good"
    window.editor.setTextCursor(cursor)
    window.direction.palette_widget.buttons["<strong>"].click()
    assert window.editor.toPlainText() == "<strong>Good</strong> morning."
    window.editor.flush()
    qtbot.waitUntil(lambda: window.narration_current, timeout=LOAD_MS)  # split on the text thread
    assert len(window.narration.sentences) == 1

    # Generate with streaming: chunks reach the real output stream.
    window.direction.lock.setChecked(True)
    window.direction.seed.setValue(11)
    with qtbot.waitSignal(window.generationFinished, timeout=GEN_MS) as done:
        assert window.generate_all()
    assert done.args == ["finished"], window.last_error
    take = window.narration.sentences[0].take
    assert take is not None and take.seed == 11 and take.mode == "instruct" and len(take.audio) > 0
    assert "happily" in take.instruction
    qtbot.waitUntil(lambda: window.player.stats.finished, timeout=30_000)
    stats = window.player.stats
    assert stats.queued_frames >= len(take.audio) and stats.played_frames == stats.queued_frames
    assert window.bar.latency_label.text().startswith("first audio") and "ms" in window.bar.latency_label.text()
    assert window.bar.rtf_label.text().startswith("RTF ")
    assert window.bar.progress.value() == 1

    # Regenerate the sentence with a new seed and another instruction: a second take, voice locked.
    window.direction.lock.setChecked(False)
    window.direction.choose_preset("Role", "Robot")
    window.sentences.select(0)
    with qtbot.waitSignal(window.generationFinished, timeout=GEN_MS) as done:
        window.sentences.generate_button.click()
    assert done.args == ["finished"], window.last_error
    sentence = window.narration.sentences[0]
    assert len(sentence.takes) == 2 and sentence.chosen == 1
    assert sentence.takes[1].seed != 11 and "robot" in sentence.takes[1].instruction
    assert {t.voice for t in sentence.takes} == {"Narrator"}
    window.sentences.step_take(-1)
    assert sentence.take is sentence.takes[0]

    # Export the narration and one sentence: 24 kHz WAVs, written atomically.
    out = window.export_narration(app_dirs / "out" / "narration.wav")
    assert out is not None and sf.info(str(out)).samplerate == 24000
    assert sf.info(str(out)).frames == len(sentence.takes[0].audio)
    one = window.export_sentence(0, app_dirs / "out" / "one.wav")
    data, rate = sf.read(str(one), dtype="float32")
    # 16-bit PCM: one quantisation step (a property of the format, not of the CPU)
    assert rate == 24000 and np.allclose(data, np.clip(sentence.take.audio, -1, 1), atol=1 / 32768 * 1.01)

    # Stop mid-way: a longer text, stop as soon as the first chunk is out.
    window.editor.setPlainText("Good morning. The storm has passed and the sea is quiet again today.")
    window.editor.flush()
    window.direction.set_mode("cross_lingual")
    with qtbot.waitSignal(window.engine_thread.worker.chunkReady, timeout=GEN_MS):
        window.generate_all()
    with qtbot.waitSignal(window.generationFinished, timeout=GEN_MS) as done:
        window.bar.stop_button.click()
        assert not window.player.is_active
    assert done.args == ["cancelled"]
    assert not window.generating

    # Close during a generation: ordered shutdown, then reopen with everything restored.
    window.generate_all()
    assert window.generating
    window.close()
    assert not window.engine_thread.thread.isRunning()
    reopened = make_window(Settings.load())
    assert reopened.voice_name == "Narrator"
    assert reopened.editor.toPlainText().startswith("Good morning. The storm")
    assert reopened.direction.mode == "cross_lingual"
    assert reopened.settings.my_presets == {}  # choosing presets never writes them


def test_voice_library_rename_export_import_delete(qtbot, make_window, reference_wav: Path,
                                                  app_dirs: Path) -> None:
    window = make_window()
    load_engine(qtbot, window)
    save_voice(qtbot, window, reference_wav, "First")
    voices = window.voices
    voices.rename_selected("Second")
    assert voices.current_name == "Second" and window.voice_name == "Second"
    exported = voices.export_file(app_dirs / "second.safetensors")
    assert exported is not None and exported.is_file()
    voices.delete_selected()
    assert "Second" not in window.library and voices.current_name == ""
    assert voices.import_file(exported) == "Second"
    assert voices.current_name == "Second"


def test_self_test_command_passes(tiny_model_dir: Path, output_device, app_dirs: Path) -> None:
    """`python -m app --self-test` drives the whole path and exits 0 (here on the fixture's tiny model;
    without --model it makes one with engine.tiny.make_tiny_model)."""
    import subprocess
    import sys

    result = subprocess.run([sys.executable, "-m", "app", "--self-test", "--model", str(tiny_model_dir)],
                            capture_output=True, text=True, timeout=300,
                            env={**__import__("os").environ, "QT_QPA_PLATFORM": "offscreen"})
    assert result.returncode == 0, result.stdout + result.stderr
    assert "self-test passed" in result.stdout
