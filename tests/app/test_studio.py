"""The real main window driven like a user, with the real engine on the tiny model and real
PortAudio streams (a JACK dummy device in CI): record, import, analyse, save a voice, type a script,
pick a preset, insert a tag, stream a generation, stop mid-way, a second take of a line, choose a take,
export the project, save it, close during generation, reopen it."""
from __future__ import annotations

from pathlib import Path

import pytest
import soundfile as sf
from PySide6.QtCore import QEvent, QPoint, Qt
from PySide6.QtWidgets import QApplication, QFileDialog, QLineEdit, QMessageBox

from app.application import create_main_window
from app.settings import Settings
from app.widgets.export_dialog import ExportDialog

pytestmark = pytest.mark.slow
LOAD_MS = 120_000
GEN_MS = 240_000


@pytest.fixture
def make_window(qtbot, tiny_model_dir: Path, app_dirs: Path):
    windows = []

    def make(settings: Settings | None = None):
        window = create_main_window(settings or Settings(model_dir=str(tiny_model_dir)),
                                    voices_dir=app_dirs / "voices")
        window.show()
        windows.append(window)
        return window

    yield make
    for window in windows:  # shut down first: a window with unsaved work would ask before it closes
        window.shutdown()  # closes its dialogs too: an unanswered message box would outlive the test
        window.close()
        window.deleteLater()
    QApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)


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
    window.close()  # the error's box goes with the window (it would be the next window's active one)
    boxes = [w.windowTitle() for w in QApplication.topLevelWidgets() if isinstance(w, QMessageBox) and w.isVisible()]
    assert boxes == []


def click_preset(studio, window, group: str, name: str) -> None:
    direction = window.direction
    studio.choose(direction.group_combo, group)
    lst = direction.preset_list
    item = next(lst.item(i) for i in range(lst.count()) if lst.item(i).text() == name)
    qtbot = studio.qtbot
    qtbot.mouseClick(lst.viewport(), Qt.MouseButton.LeftButton, pos=lst.visualItemRect(item).center())


def replace_text(studio, widget, text: str) -> None:
    """Click into a box, Ctrl+A, type."""
    studio.click(widget)
    studio.qtbot.keyClick(widget, Qt.Key.Key_A, Qt.KeyboardModifier.ControlModifier)
    studio.qtbot.keyClicks(widget, text)


def save_voice_by_hand(studio, window, reference_wav: Path, name: str) -> None:
    """The Voices tab: import a clip, trim it by dragging, normalize, type the transcript and name, Save voice."""
    studio.tab(window, "Voices")
    panel = window.reference
    assert panel.import_file(reference_wav)
    view = panel.waveform
    y = view.height() // 2
    x = int(view.width() * 2.3 / view.duration)  # the end handle to 2.3 s: the tiny model's flow grows with it
    studio.qtbot.mousePress(view, Qt.MouseButton.LeftButton, pos=QPoint(view.width() - 1, y))
    studio.qtbot.mouseMove(view, QPoint(x, y))
    studio.qtbot.mouseRelease(view, Qt.MouseButton.LeftButton, pos=QPoint(x, y))
    studio.click(panel.trim_button)
    assert len(panel.audio) < 2.5 * panel.sample_rate
    studio.click(panel.normalize_button)
    studio.type(panel.transcript, "Hello, this is a test of my voice.")
    replace_text(studio, panel.name_edit, name)
    with studio.qtbot.waitSignal(window.voiceSaved, timeout=LOAD_MS) as saved:
        studio.click(panel.save_button)
    assert saved.args == [name] and name in window.library
    studio.tab(window, "Cast")


def test_full_studio_session(studio, qtbot, reference_wav: Path, output_device, tmp_path: Path) -> None:
    window = studio.window()
    studio.load(window)
    save_voice_by_hand(studio, window, reference_wav, "Narrator")
    assert window.cast_rows()[0].voice == "Narrator"  # the first voice narrates

    # Type a line, pick a preset for the narrator (Instruct), put a tag around the first word.
    studio.type_script(window, "Good morning.")
    click_preset(studio, window, "Emotion", "Happy")
    assert window.direction.mode == "instruct" and "happily" in window.document.member("Narrator").instruction
    cursor = window.editor.textCursor()
    cursor.setPosition(0)
    cursor.setPosition(4, cursor.MoveMode.KeepAnchor)  # "Good", as a drag over it selects it
    window.editor.setTextCursor(cursor)
    studio.click(window.direction.palette_widget.buttons["<strong>"])
    assert window.editor.toPlainText() == "<strong>Good</strong> morning."
    studio.settled(window)
    assert [row[1] for row in studio.lines(window)] == ["<strong>Good</strong> morning."]

    # Lock the seed and generate: the take streams to the real output.
    replace_text(studio, window.direction.seed, "11")
    studio.click(window.direction.lock)
    assert studio.generate_all(window) == "finished", window.last_error
    first = window.document.rows()[0].takes[0]
    assert first.seed == 11 and first.mode == "instruct" and "happily" in first.instruction
    audio = window.document.take_audio(first.id)
    qtbot.waitUntil(lambda: window.player.stats.finished, timeout=30_000)
    assert window.player.stats.queued_frames >= len(audio) > 0
    assert window.bar.latency_label.text().startswith("first audio") and "ms" in window.bar.latency_label.text()
    assert window.bar.rtf_label.text().startswith("RTF ") and window.bar.progress.text() == "1 / 1 lines ready"

    # Another direction and a new seed: Generate line makes a second take, chosen; choose the first again.
    studio.click(window.direction.lock)
    click_preset(studio, window, "Role", "Robot")
    studio.click_line(window, 0)
    with qtbot.waitSignal(window.generationFinished, timeout=GEN_MS) as done:
        studio.click(window.lines.generate_button)
    assert done.args == ["finished"], window.last_error
    view = window.document.rows()[0]
    assert len(view.takes) == 2 and view.chosen == view.takes[1].id
    assert view.takes[1].seed != 11 and "robot" in view.takes[1].instruction.lower()
    studio.click_take(window, 1)
    studio.click(window.takes.choose_button)
    assert window.document.rows()[0].chosen == first.id

    # Export the project's timeline (the chosen take) through File ▸ Export…: a 24 kHz WAV, the take's length.
    out = tmp_path / "out" / "morning.wav"
    out.parent.mkdir()
    window.actions["Export…"].trigger()
    dialog = studio.modal(ExportDialog)
    assert dialog.path_edit.text().endswith("Untitled.wav")  # the project has no name yet
    studio.click(dialog.browse_button)  # Choose…: where to, in a file dialog of its own
    type_path(studio, out)
    qtbot.waitUntil(lambda: dialog.path_edit.text() == str(out))
    studio.modal(ExportDialog)
    with qtbot.waitSignal(window.exported, timeout=GEN_MS):
        studio.click(dialog.export_button)
    info = sf.info(str(out))
    assert info.samplerate == 24000 and info.frames == len(audio)  # one line, no padding without a preset
    dialog.close()

    # Stop mid-way: a longer script, Stop as soon as the first chunk is out.
    window.editor.selectAll()
    qtbot.keyClicks(window.editor, "Good morning. The storm has passed and the sea is quiet again today.")
    studio.settled(window)
    with qtbot.waitSignal(window.engine_thread.worker.chunkReady, timeout=GEN_MS):
        studio.click(window.bar.generate_button)
    with qtbot.waitSignal(window.generationFinished, timeout=GEN_MS) as done:
        studio.click(window.bar.stop_button)
    assert done.args == ["cancelled"] and not window.player.is_active and not window.generating

    # Save, close during a generation (ordered shutdown), reopen from Open Recent: the script and its takes.
    window.actions["Save"].trigger()
    type_path(studio, tmp_path / "morning.timbre")
    qtbot.waitUntil(lambda: not window.isWindowModified())
    studio.click(window.bar.generate_button)
    assert window.generating
    window.close()
    if isinstance(QApplication.activeModalWidget(), QMessageBox):  # a take arrived first: its work is unsaved
        studio.answer(studio.modal(QMessageBox), "Don't Save")
    qtbot.waitUntil(lambda: not window.engine_thread.thread.isRunning())
    reopened = studio.window(Settings.load())
    reopened.files.recent_menu.aboutToShow.emit()
    reopened.files.recent_menu.actions()[0].trigger()
    qtbot.waitUntil(lambda: reopened.document.path is not None)
    assert reopened.editor.toPlainText().startswith("Good morning. The storm")
    assert reopened.voice_name == "Narrator" and reopened.settings.my_presets == {}  # presets never written


def type_path(studio, path: Path) -> None:
    dialog = studio.modal(QFileDialog)
    edit = dialog.findChild(QLineEdit, "fileNameEdit")
    edit.clear()
    studio.qtbot.keyClicks(edit, str(path))
    studio.qtbot.keyClick(edit, Qt.Key.Key_Return)


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
