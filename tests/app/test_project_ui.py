"""Projects through the File menu, as a person uses them (issue 15): save a project with its takes, open it again on
a machine without the model and play its takes, Open Recent, the question before unsaved work is lost, clear
messages for damaged and newer project files (left untouched), and a studio that was killed mid-work offering
its project back when it starts again."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFileDialog, QLineEdit, QMessageBox

from app.settings import Settings

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]
SCRIPT = "# One\nThe door opened.\nAnn: Who is there?"


def type_path(studio, path: Path) -> None:
    """Type ``path`` into the file dialog that is open and press Return."""
    dialog = studio.modal(QFileDialog)
    edit = dialog.findChild(QLineEdit, "fileNameEdit")
    edit.clear()
    studio.qtbot.keyClicks(edit, str(path))
    studio.qtbot.keyClick(edit, Qt.Key.Key_Return)


def made_project(studio, voice_file: Path, other_voice_file: Path):
    window = studio.window()
    studio.load(window)
    studio.import_voice(window, voice_file, "Me")
    studio.import_voice(window, other_voice_file, "Ann voice")
    studio.type_script(window, SCRIPT)
    studio.cast_voice(window, "Narrator", "Me")
    studio.cast_voice(window, "Ann", "Ann voice")
    assert studio.generate_all(window) == "finished", window.last_error
    return window


def test_a_saved_project_opens_without_the_model_and_plays(studio, qtbot, voice_file: Path, other_voice_file: Path,
                                                          tmp_path: Path, output_device) -> None:
    window = made_project(studio, voice_file, other_voice_file)
    made = {v.line.text: window.document.take_audio(v.chosen) for v in window.document.rows()}
    assert window.isWindowModified()
    window.actions["Save"].trigger()  # never saved: Save asks where, as Save as… does
    type_path(studio, tmp_path / "book")
    qtbot.waitUntil(lambda: (tmp_path / "book.timbre").is_file())
    assert window.windowTitle() == "book[*] — Timbre" and not window.isWindowModified()
    window.close()  # nothing unsaved: no question
    assert not window.engine_thread.thread.isRunning()

    other = studio.window(Settings(), voices_dir=tmp_path / "no-voices")  # another machine: no model, no voices
    other.settings.recent_projects = [str(tmp_path / "book.timbre")]
    other.files.refresh_recent()
    recent = other.files.recent_menu.actions()
    assert [a.text() for a in recent] == ["book.timbre"]
    recent[0].trigger()
    qtbot.waitUntil(lambda: other.document.path is not None)
    assert [row[:2] for row in studio.lines(other)] == [("Narrator", "The door opened."), ("Ann", "Who is there?")]
    assert all(row[2].startswith("1/1 · Clone · ") for row in studio.lines(other))
    assert [(r.name, r.voice, r.in_library) for r in other.cast_rows()] == [("Narrator", "Me", False),
                                                                           ("Ann", "Ann voice", False)]
    assert other.cast.combo("Ann").currentText() == "Ann voice (in the project)"
    studio.click_line(other, 1)
    view = other.document.rows()[1]
    assert other.takes.current_take == view.chosen
    studio.click(other.takes.play_button)
    qtbot.waitUntil(lambda: other.player.stats.finished, timeout=30_000)
    assert other.player.stats.queued_frames == len(made["Who is there?"])  # the whole take, from the file
    assert other.engine_state == "none" and other.last_error is None


def test_unsaved_work_is_asked_about_before_it_goes(studio, qtbot, tmp_path: Path) -> None:
    window = studio.window(model=False)
    studio.type_script(window, "Words worth keeping.")
    window.actions["New project"].trigger()
    box = studio.modal(QMessageBox)
    assert box.text() == "Save the changes to “Untitled”?" and box.defaultButton().text() == "Cancel"
    studio.answer(box, "Cancel")
    assert window.editor.toPlainText() == "Words worth keeping."
    window.actions["New project"].trigger()
    studio.answer(studio.modal(QMessageBox), "Save")
    type_path(studio, tmp_path / "kept.timbre")
    qtbot.waitUntil(lambda: window.editor.toPlainText() == "")  # saved, then the new project
    assert (tmp_path / "kept.timbre").is_file() and window.document.path is None
    studio.type_script(window, "Throwaway words.")
    autosave = window.document.autosave_root / window.document.project.id / "project.json"
    qtbot.waitUntil(autosave.is_file)  # a moment after the edit
    window.close()
    box = studio.modal(QMessageBox)
    studio.click(next(b for b in box.buttons() if b.text() == "Don't Save"))  # the window closes with the box
    qtbot.waitUntil(lambda: not window.isVisible())
    assert not autosave.exists()  # given up: nothing to recover at the next start


@pytest.mark.parametrize("damage", ["not a zip", "newer format"])
def test_a_damaged_or_newer_project_is_refused_and_left_as_it_is(studio, qtbot, tmp_path: Path, damage: str) -> None:
    path = tmp_path / "book.timbre"
    if damage == "not a zip":
        path.write_bytes(b"PK\x03\x04 this was cut short by a full disk")
    else:
        with zipfile.ZipFile(path, "w") as z:
            z.writestr("mimetype", "application/x-timbre-project")
            z.writestr("project.json", '{"format": 99, "id": "00000000000000aa", "script": "", "cast": [],'
                                       ' "lines": [], "takes": {}}')
    before = path.read_bytes()
    window = studio.window(model=False)
    studio.type_script(window, "My current work.")
    window.actions["Open project…"].trigger()
    studio.answer(studio.modal(QMessageBox), "Don't Save")
    type_path(studio, path)
    box = studio.modal(QMessageBox)
    assert box.windowTitle() == "Cannot open the project"
    assert ("is not a Timbre project, or it is damaged" if damage == "not a zip" else
            "was saved by a newer Timbre (project format 99") in box.text()
    assert "left as it is" in box.text()
    studio.answer(box, "OK")
    assert path.read_bytes() == before and window.document.path is None
    # the work given up for the other file is still open: typing on keeps it in the autosave again
    studio.type_script(window, " And more.")
    autosave = window.document.autosave_root / window.document.project.id / "project.json"
    qtbot.waitUntil(autosave.is_file)


CRASH = textwrap.dedent("""
    import json, os, signal, sys, time
    from pathlib import Path
    from app.application import create_main_window, make_qapp
    from app.settings import Settings
    app = make_qapp()
    window = create_main_window(Settings(model_dir=sys.argv[1]), voices_dir=Path(sys.argv[2]))
    window.show()
    def wait(condition):
        while not condition():
            app.processEvents()
            time.sleep(0.01)
    window.start_engine()
    wait(lambda: window.engine_state == "ready")
    window.library.import_file(sys.argv[3], name="Me")
    window.voices.refresh()
    window.choose_cast_voice("Narrator", "Me")
    window.editor.setPlainText("Unsaved words. And more of them.")
    window.editor.flush()
    wait(lambda: window.script_current)
    done = []
    window.generationFinished.connect(done.append)
    window.generate_all()
    wait(lambda: done)
    state = Path(window.document.autosave_root) / window.document.project.id / "project.json"
    wait(lambda: state.is_file() and len(json.loads(state.read_text())["takes"]) == 2)  # a second after the take
    print("killing", flush=True)
    os.kill(os.getpid(), signal.SIGKILL)
""")


def test_a_project_left_by_a_killed_studio_opens_with_recovery(studio, qtbot, tiny_model_dir: Path,
                                                               voice_file: Path, app_dirs: Path) -> None:
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    killed = subprocess.run([sys.executable, "-c", CRASH, str(tiny_model_dir), str(app_dirs / "voices-crash"),
                             str(voice_file)], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert killed.returncode == -9 and "killing" in killed.stdout, killed.stdout + killed.stderr[-2000:]

    window = studio.window(model=False)
    box = studio.modal(QMessageBox)
    assert box.windowTitle() == "Recover unsaved work?"
    assert "an untitled project" in box.text() and "2 takes" in box.informativeText()
    studio.answer(box, "Recover")
    qtbot.waitUntil(lambda: len(window.document.rows()) == 2)
    assert window.editor.toPlainText() == "Unsaved words. And more of them."
    assert [row[1] for row in studio.lines(window)] == ["Unsaved words.", "And more of them."]
    assert all(row[2].startswith("1/1 · ") for row in studio.lines(window))
    assert window.isWindowModified()  # recovered work is not in a file yet
    audio = window.document.take_audio(window.document.rows()[0].chosen)
    assert audio.size > 0 and window.cast_rows()[0].voice == "Me"
