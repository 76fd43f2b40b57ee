"""How the desktop starts and stops the app: "Open with Timbre" (audio files on the command line),
Ctrl+C in the terminal, the X11 window class the desktop file names, and a self-test that reports the
first real error rather than a later symptom."""
from __future__ import annotations

import json
import os
import queue
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import soundfile as sf

from app.application import DESKTOP_FILE_NAME, WINDOW_CLASS, make_qapp, open_window

ROOT = Path(__file__).resolve().parents[2]
DESKTOP_FILE = ROOT / "resources" / "timbre.desktop"


def desktop_entry() -> dict[str, str]:
    lines = DESKTOP_FILE.read_text(encoding="utf-8").splitlines()
    return dict(line.split("=", 1) for line in lines if "=" in line and not line.startswith("#"))


@pytest.fixture
def voice_wav(tmp_path: Path, reference_wav: Path) -> Path:
    """A real recording saved under a name a user would give it, outside the fixture folder."""
    audio, rate = sf.read(reference_wav, dtype="float32")
    path = tmp_path / "clips" / "my_voice.wav"
    path.parent.mkdir()
    sf.write(path, audio, rate)
    return path


@pytest.fixture
def opened(qtbot):
    windows = []

    def open_(files):
        window = open_window(files)
        qtbot.addWidget(window)
        windows.append(window)
        return window

    yield open_
    for window in windows:
        window.shutdown()


# ---- "Open with Timbre" ---------------------------------------------------------------------------
def test_command_line_takes_audio_files(monkeypatch: pytest.MonkeyPatch, voice_wav: Path) -> None:
    """The desktop file runs `timbre-app %F`: the files must reach the window, not an argparse error."""
    from app import __main__ as entry
    from app import application

    calls = []
    monkeypatch.setattr(application, "run", lambda **kw: calls.append(kw) or 0)
    assert entry.main([str(voice_wav), "second.wav"]) == 0
    assert calls == [{"files": [str(voice_wav), "second.wav"]}]
    assert desktop_entry()["Exec"].split()[1] == "%F"


def test_open_with_imports_the_first_file_as_the_reference(qtbot, opened, voice_wav: Path,
                                                           tmp_path: Path) -> None:
    window = opened([voice_wav, tmp_path / "ignored.wav"])
    panel = window.reference
    qtbot.waitUntil(lambda: panel.source_name == "my_voice.wav", timeout=30_000)
    assert window.isVisible()
    expected, rate = sf.read(voice_wav, dtype="float32")
    assert panel.sample_rate > 0 and abs(len(panel.audio) / panel.sample_rate - len(expected) / rate) < 0.01
    assert panel.report is not None and panel.report.duration_s > 0
    assert "Good reference" in panel.analysis_label.text() or panel.report.problems
    assert panel.name_edit.text() == "My Voice"
    assert panel.save_button.isEnabled()
    assert window.last_error is None  # the second file is ignored, not an error


def test_open_with_an_unreadable_file_shows_the_import_error(qtbot, opened, tmp_path: Path) -> None:
    bad = tmp_path / "broken.wav"
    bad.write_bytes(b"RIFF\x00\x00\x00\x00WAVE this is not audio")
    errors = []
    window = opened([bad])
    window.errorShown.connect(lambda title, message: errors.append((title, message)))
    qtbot.waitUntil(lambda: bool(errors), timeout=30_000)
    title, message = errors[0]
    assert title == "Cannot import the clip"
    assert "broken.wav" in message
    assert len(window.reference.audio) == 0 and window.reference.source_name == ""


# ---- self-test failures name their cause ----------------------------------------------------------
def test_self_test_reports_the_first_error_not_its_symptom(tiny_model_dir: Path, output_device,
                                                           monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    """wetext failing inside the editor's slot used to end as "Nothing to say: Type some text…". The normaliser
    is now built while the model loads (so the first re-split does not take seconds), which is where it fails."""
    from app.selftest import run_self_test
    from engine.frontend import text as text_frontend

    monkeypatch.setitem(sys.modules, "wetext", None)  # what a broken install looks like: import fails
    text_frontend._wetext_normalizer.cache_clear()  # an earlier test may have made a normaliser already
    try:
        assert run_self_test(str(tiny_model_dir)) == 1
    finally:
        text_frontend._wetext_normalizer.cache_clear()
    failure = capsys.readouterr().err.strip().splitlines()
    line = next(text for text in failure if text.startswith("self-test FAILED"))
    assert line == ("self-test FAILED at step 2/7 (loading the model): "
                    "engine load failed: ModuleNotFoundError: import of wetext halted; None in sys.modules")
    assert "Nothing to say" not in "\n".join(failure)


def test_self_test_names_the_step_and_the_model_error(tmp_path: Path, output_device, capsys) -> None:
    from app.selftest import run_self_test

    empty = tmp_path / "not-a-model"
    empty.mkdir()
    assert run_self_test(str(empty)) == 1
    err = capsys.readouterr().err
    line = next(text for text in err.splitlines() if text.startswith("self-test FAILED"))
    assert line.startswith("self-test FAILED at step 2/7 (loading the model): "
                           "engine load failed: ModelFolderError: Model folder ")
    assert "not-a-model" in line


def test_self_test_reports_a_crash_before_the_first_step(monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    from app.audio import devices
    from app.selftest import run_self_test

    def broken(kind: str) -> str | None:
        raise OSError("PortAudio library not found")

    monkeypatch.setattr(devices, "no_device_reason", broken)
    assert run_self_test(None) == 1
    assert capsys.readouterr().err.strip() == \
        "self-test FAILED at checking the audio output: OSError: PortAudio library not found"


# ---- Ctrl+C ---------------------------------------------------------------------------------------
def _start_app(args: list[str], env: dict[str, str]) -> tuple[subprocess.Popen, queue.Queue]:
    proc = subprocess.Popen([sys.executable, "-m", "app", *args], cwd=ROOT, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    lines: queue.Queue = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in proc.stdout], daemon=True).start()
    return proc, lines


def _wait_for_line(proc: subprocess.Popen, lines: queue.Queue, needle: str, seen: list[str],
                   timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            seen.append(lines.get(timeout=0.5))
        except queue.Empty:
            assert proc.poll() is None, "the app exited early:\n" + "".join(seen)
            continue
        if needle in seen[-1]:
            return
    proc.kill()
    pytest.fail(f"no {needle!r} within {timeout:.0f} s:\n" + "".join(seen))


@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT from another process is a POSIX thing")
def test_ctrl_c_closes_the_app_and_saves_its_settings(tmp_path: Path, tiny_model_dir: Path,
                                                      voice_wav: Path) -> None:
    config = tmp_path / "config"
    config.mkdir()
    (config / "settings.json").write_text(json.dumps({"model_dir": str(tiny_model_dir), "seed": 1234}))
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "TIMBRE_CONFIG_DIR": str(config),
           "TIMBRE_DATA_DIR": str(tmp_path / "data")}
    proc, lines = _start_app([str(voice_wav)], env)
    seen: list[str] = []
    _wait_for_line(proc, lines, "Timbre is running", seen)
    time.sleep(0.5)  # let the engine thread get busy loading, so shutdown has a thread to stop
    sent = time.monotonic()
    proc.send_signal(signal.SIGINT)
    try:
        code = proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        pytest.fail("Ctrl+C did not close the app:\n" + "".join(seen))
    elapsed = time.monotonic() - sent
    time.sleep(0.2)  # the reader thread drains what is left
    while not lines.empty():
        seen.append(lines.get())
    output = "".join(seen)
    assert code == 0, output
    assert elapsed < 10, f"shutdown took {elapsed:.1f} s"
    assert "KeyboardInterrupt" not in output and "Traceback" not in output, output
    settings = json.loads((config / "settings.json").read_text())
    assert settings["window_geometry"], "the ordered shutdown saves the window geometry"
    assert settings["seed"] == 1234 and settings["model_dir"] == str(tiny_model_dir)


# ---- window class -------------------------------------------------------------------------------------
def test_application_names_match_the_desktop_file(qapp) -> None:
    app = make_qapp()
    entry = desktop_entry()
    assert DESKTOP_FILE.stem == DESKTOP_FILE_NAME == app.desktopFileName()
    assert entry["StartupWMClass"] == WINDOW_CLASS == app.applicationName()
    assert entry["Icon"] == DESKTOP_FILE_NAME


@pytest.mark.skipif(not (sys.platform.startswith("linux") and shutil.which("xvfb-run") and shutil.which("xprop")
                                                        and shutil.which("xwininfo")),
                    reason="needs X11 tools (xvfb-run, xprop, xwininfo)")
def test_x11_window_class_is_the_desktop_files(tmp_path: Path) -> None:
    """The real `python -m app` on a virtual X server: its main window's WM_CLASS class is the desktop
    file's StartupWMClass, so the dock groups the window under the Timbre menu entry."""
    script = f"""
        {sys.executable} -m app & app=$!
        for _ in $(seq 300); do
            # the title names the open project ("Untitled — Timbre"): find the window by the end of its name
            id=$(xwininfo -root -tree 2>/dev/null | grep -m1 'Timbre": ("' | awk '{{print $1}}')
            [ -n "$id" ] && xprop -id "$id" WM_CLASS 2>/dev/null && break
            sleep 0.2
        done
        kill -INT $app
        wait $app
    """
    env = {**os.environ, "QT_QPA_PLATFORM": "xcb", "TIMBRE_CONFIG_DIR": str(tmp_path / "config"),
           "TIMBRE_DATA_DIR": str(tmp_path / "data")}
    result = subprocess.run(["xvfb-run", "-a", "bash", "-c", script], cwd=ROOT, env=env, capture_output=True,
                            text=True, timeout=180)
    if "could not load the Qt platform plugin" in result.stderr.lower():
        pytest.skip(f"Qt's xcb plugin cannot start here: {result.stderr[-300:]}")
    assert result.returncode == 0, result.stdout + result.stderr
    wm_class = next(line for line in result.stdout.splitlines() if line.startswith("WM_CLASS"))
    assert wm_class == f'WM_CLASS(STRING) = "{DESKTOP_FILE_NAME}", "{desktop_entry()["StartupWMClass"]}"'
