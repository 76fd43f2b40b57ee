"""The model manager's hardware check (issue 20, item 4), clicked as a person does, with the real engine's check on the
tiny model and a cache file of the test's own: what "auto" will run and the predicted real-time factor are shown
before generating; the check runs (again) from its button with progress, Cancel stops it, a damaged cache is
"not measured", and a check made while the computer was busy says so."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDialogButtonBox

pytestmark = pytest.mark.slow
WAIT_MS = 180_000  # only ends a test that would otherwise hang; never a speed bound


@pytest.fixture(scope="module")
def measured(tmp_path_factory: pytest.TempPathFactory, tiny_model_dir: Path) -> Path:
    """A cache file written by a real check of this computer on the tiny model (the engine's own, no dialog)."""
    import engine

    path = tmp_path_factory.mktemp("measured") / "machine-check.json"
    engine.check_machine(tiny_model_dir, path=path)
    return path


@pytest.fixture()
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The cache file the studio and the engine read and write in this test."""
    path = tmp_path / "cache" / "machine-check.json"
    monkeypatch.setenv("TIMBRE_MACHINE_CHECK_CACHE", str(path))
    return path


def entries(path: Path) -> list[dict]:
    return list(json.loads(path.read_text(encoding="utf-8"))["plans"].values())


def open_dialog(qtbot, folder: Path, precision: str = "auto"):
    from app.widgets.model_manager import ModelManagerDialog

    dialog = ModelManagerDialog(str(folder), "cpu", precision)
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitExposed(dialog)
    return dialog


def click(qtbot, button) -> None:
    assert button.isVisible() and button.isEnabled(), button.text()
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)


def speed(rtf: float) -> str:
    """How the prediction reads: seconds of work per second of speech, as a factor either side of real time."""
    if rtf > 1.05:
        return f"{rtf:.1f}× slower than real time"
    return f"{1 / rtf:.1f}× faster than real time" if rtf < 0.95 else "about real time"


def shows_plan(panel, entry: dict) -> bool:
    """The panel shows the cached entry's prediction: in words, and the engine's line with the RTF itself."""
    return (f"Predicted: {speed(entry['predicted_rtf'])} — first audio after "
            f"{entry['predicted_first_audio_s']:.1f} s" in panel.summary_label.text()
            and f"predicted RTF {entry['predicted_rtf']:.2f}" in panel.detail_label.text())


def test_run_measures_shows_the_cached_prediction_and_auto_uses_it(qtbot, cache: Path, tiny_model_dir: Path) -> None:
    dialog = open_dialog(qtbot, tiny_model_dir)
    panel = dialog.check_panel
    assert "Not measured yet on this computer" in panel.summary_label.text()
    assert "About 2 minutes for CosyVoice2-0.5B" in panel.detail_label.text()
    assert not panel.progress.isVisible() and not panel.cancel_button.isVisible()
    static = dialog.plan_label.text()
    seen: list[tuple[int, str]] = []
    panel.progress.valueChanged.connect(lambda value: seen.append((value, panel.step_label.text())))

    click(qtbot, panel.run_button)
    assert panel.progress.isVisible() and panel.cancel_button.isEnabled() and not panel.run_button.isEnabled()
    qtbot.waitUntil(panel.run_button.isEnabled, timeout=WAIT_MS)

    values = [value for value, _ in seen]
    assert values == sorted(values) and values[-1] == 1000 and len(set(values)) >= 5  # eight steps, in order
    steps = [text for _, text in seen]  # the step shown as the bar moved past it
    # Which steps a value change lands on depends on how the engine spreads its shares over its steps (two
    # steps can share a tenth of a percent): several distinct timing steps, then the choice.
    timing = {t for t in steps if t.startswith("Timing ")}
    assert len(timing) >= 3 and any(t.startswith("Timing LM") for t in timing)
    assert "Choosing the fastest plan…" in steps
    [entry] = entries(cache)
    assert shows_plan(panel, entry)
    assert "Measured " in panel.detail_label.text()
    assert panel.run_button.text() == "Re-run hardware check"
    assert not panel.progress.isVisible() and not panel.cancel_button.isVisible()
    # "Will use" now names what Engine.load with "auto" runs: the measured plan
    assert "as measured on this computer" in dialog.plan_label.text() and dialog.plan_label.text() != static
    assert f"flow {entry['flow']}" in dialog.plan_label.text()


def test_a_cached_plan_is_shown_on_opening_and_follows_the_folder(qtbot, cache: Path, measured: Path,
                                                                  tiny_model_dir: Path, tiny_cv3_model_dir: Path
                                                                  ) -> None:
    cache.parent.mkdir(parents=True)
    shutil.copyfile(measured, cache)
    [entry] = entries(cache)
    dialog = open_dialog(qtbot, tiny_model_dir)
    panel = dialog.check_panel
    assert shows_plan(panel, entry)
    assert panel.run_button.text() == "Re-run hardware check"
    busy = max(entry["load"]) > entry["max_threads"]  # what the check saw; the next test writes a busy entry
    assert ("measured while the computer was busy" in panel.note_label.text().lower()) == busy

    dialog.folder_edit.selectAll()
    qtbot.keyClick(dialog.folder_edit, Qt.Key.Key_Delete)
    assert "Choose a complete model folder" in panel.summary_label.text() and not panel.run_button.isEnabled()
    qtbot.keyClicks(dialog.folder_edit, str(tiny_cv3_model_dir))
    assert "Not measured yet on this computer" in panel.summary_label.text()
    assert panel.run_button.text() == "Run hardware check" and panel.run_button.isEnabled()
    dialog.folder_edit.selectAll()
    qtbot.keyClicks(dialog.folder_edit, str(tiny_model_dir))
    assert shows_plan(panel, entry)


def test_cancel_stops_the_check_caches_nothing_and_the_dialog_stays(qtbot, cache: Path, tiny_model_dir: Path) -> None:
    dialog = open_dialog(qtbot, tiny_model_dir)
    panel = dialog.check_panel
    click(qtbot, panel.run_button)
    qtbot.waitUntil(lambda: panel.step_label.text().startswith("Timing"), timeout=WAIT_MS)
    click(qtbot, panel.cancel_button)
    assert panel.step_label.text().startswith("Cancelling")
    qtbot.waitUntil(panel.run_button.isEnabled, timeout=WAIT_MS)
    assert "Check cancelled; nothing was changed." in panel.note_label.text()
    assert "Not measured yet on this computer" in panel.summary_label.text()
    assert not cache.exists()
    assert dialog.isVisible() and panel.run_button.text() == "Run hardware check"


def test_closing_the_dialog_during_a_check_stops_its_thread(qtbot, cache: Path, tiny_model_dir: Path) -> None:
    dialog = open_dialog(qtbot, tiny_model_dir)
    panel = dialog.check_panel
    click(qtbot, panel.run_button)
    qtbot.waitUntil(lambda: panel.step_label.text().startswith("Timing"), timeout=WAIT_MS)
    thread = panel._checker.thread  # noqa: SLF001 - the thread itself is what must be gone
    click(qtbot, dialog.buttons.button(QDialogButtonBox.StandardButton.Close))
    assert not dialog.isVisible()
    qtbot.waitUntil(thread.isFinished, timeout=WAIT_MS)
    assert not cache.exists()


@pytest.mark.parametrize("damage", ["cut in half", "not JSON", "a field of the wrong kind"])
def test_a_damaged_cache_reads_as_not_measured(qtbot, caplog, cache: Path, measured: Path, tiny_model_dir: Path,
                                               damage: str) -> None:
    text = measured.read_text(encoding="utf-8")
    if damage == "cut in half":
        text = text[:len(text) // 2]
    elif damage == "not JSON":
        text = "\x00\xff garbage"
    else:
        data = json.loads(text)
        for entry in data["plans"].values():
            entry["predicted_rtf"] = "fast"
        text = json.dumps(data)
    cache.parent.mkdir(parents=True)
    cache.write_text(text, encoding="utf-8")
    dialog = open_dialog(qtbot, tiny_model_dir)
    panel = dialog.check_panel
    assert "Not measured yet on this computer" in panel.summary_label.text()
    assert panel.run_button.isEnabled() and panel.run_button.text() == "Run hardware check"
    assert "as measured" not in dialog.plan_label.text()
    assert not [r for r in caplog.records if r.levelname in ("ERROR", "CRITICAL")]


def test_a_plan_measured_while_busy_says_so(qtbot, cache: Path, measured: Path, tiny_model_dir: Path) -> None:
    data = json.loads(measured.read_text(encoding="utf-8"))
    for entry in data["plans"].values():
        entry["load"] = [entry["max_threads"] + 1.5, entry["max_threads"] + 2.25]  # more wanting the cores than there are
    cache.parent.mkdir(parents=True)
    cache.write_text(json.dumps(data), encoding="utf-8")
    [entry] = entries(cache)
    dialog = open_dialog(qtbot, tiny_model_dir)
    panel = dialog.check_panel
    assert shows_plan(panel, entry)
    note = panel.note_label.text()
    assert panel.note_label.isVisible()
    assert "Measured while the computer was busy" in note and "re-run when idle for a reliable choice" in note
    assert f"load {entry['max_threads'] + 2.25:.1f} on {entry['max_threads']} threads" in note


def choose(qtbot, combo, text: str) -> None:
    """Open a combo box and click the entry that reads ``text``."""
    combo.showPopup()
    view = combo.view()
    qtbot.waitUntil(view.isVisible)
    rect = view.visualRect(view.model().index(combo.findText(text), 0))
    qtbot.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    qtbot.waitUntil(lambda: not view.isVisible())
    assert combo.currentText() == text


def test_the_plan_applies_only_with_auto(qtbot, cache: Path, measured: Path, tiny_model_dir: Path) -> None:
    cache.parent.mkdir(parents=True)
    shutil.copyfile(measured, cache)
    dialog = open_dialog(qtbot, tiny_model_dir, precision="fp32")
    panel = dialog.check_panel
    assert "applies only with precision “auto” on the CPU (chosen now: fp32)" in panel.note_label.text()
    assert "as measured" not in dialog.plan_label.text()
    choose(qtbot, dialog.precision_combo, "auto")
    assert "applies only" not in panel.note_label.text()
    assert "as measured on this computer" in dialog.plan_label.text()


def test_a_cosyvoice3_folder_is_measured_too(qtbot, cache: Path, tiny_cv3_model_dir: Path) -> None:
    dialog = open_dialog(qtbot, tiny_cv3_model_dir)
    panel = dialog.check_panel
    click(qtbot, panel.run_button)
    qtbot.waitUntil(lambda: panel.run_button.text() == "Re-run hardware check", timeout=WAIT_MS)
    [entry] = entries(cache)
    assert shows_plan(panel, entry) and dialog.isVisible()


def test_a_model_the_check_cannot_measure_is_one_clear_message(qtbot, cache: Path, tiny_model_dir: Path,
                                                                tmp_path: Path) -> None:
    damaged = tmp_path / "damaged"
    shutil.copytree(tiny_model_dir, damaged)
    (damaged / "llm.pt").write_bytes((tiny_model_dir / "llm.pt").read_bytes()[:4096])  # a cut-off download
    dialog = open_dialog(qtbot, damaged)
    panel = dialog.check_panel
    click(qtbot, panel.run_button)
    qtbot.waitUntil(panel.run_button.isEnabled, timeout=WAIT_MS)
    assert "✖ Not measured: " in panel.note_label.text() and "llm.pt" in panel.note_label.text()
    assert dialog.isVisible() and "Not measured yet" in panel.summary_label.text() and not cache.exists()
