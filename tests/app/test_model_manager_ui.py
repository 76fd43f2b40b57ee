"""The model manager as a new user meets it (issue 13, bug 10): every message is shown whole, only devices this
computer has are offered, a device it lacks is refused before loading (and the load's advice is about the device,
not the folder), and a download that failed at once does not offer to "resume"."""
from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtWidgets import QDialogButtonBox, QLabel, QMessageBox

from app import engine_bridge as bridge
from app.settings import Settings

pytestmark = pytest.mark.slow


def shown_whole(label: QLabel) -> bool:
    """All of the label's text is on screen: it wraps inside its width and has the height for all its lines."""
    if not label.wordWrap():
        return label.sizeHint().width() <= label.width()
    return label.heightForWidth(label.width()) <= label.height() and label.width() <= label.window().width()


def open_manager(studio, settings: Settings):
    window = studio.window(settings)
    dialog = window.open_model_manager()
    studio.qtbot.waitExposed(dialog)
    return window, dialog


def test_only_this_computers_devices_are_offered(studio) -> None:
    _, dialog = open_manager(studio, Settings(model_dir=str(studio.model)))
    offered = [dialog.device_combo.itemText(i) for i in range(dialog.device_combo.count())]
    assert offered == list(bridge.available_devices())
    assert all(bridge.device_plan(device).ok for device in offered)
    studio.qtbot.waitUntil(lambda: shown_whole(dialog.plan_label))


@pytest.mark.skipif("cuda" in bridge.available_devices(), reason="this computer has a CUDA GPU")
def test_a_saved_device_this_computer_lacks_is_refused_before_loading(studio) -> None:
    _, dialog = open_manager(studio, Settings(model_dir=str(studio.model), device="cuda"))
    assert dialog.device_combo.currentText() == "cuda"
    assert "CUDA" in dialog.plan_label.text()
    studio.qtbot.waitUntil(lambda: shown_whole(dialog.plan_label))
    use = dialog.buttons.button(QDialogButtonBox.StandardButton.Ok)
    assert not use.isEnabled()
    dialog.device_combo.setCurrentText("cpu")
    assert use.isEnabled()


@pytest.mark.skipif("cuda" in bridge.available_devices(), reason="this computer has a CUDA GPU")
def test_loading_on_a_missing_device_points_at_the_device(studio, qtbot) -> None:
    window = studio.window(Settings(model_dir=str(studio.model), device="cuda"))
    errors = []
    window.errorShown.connect(lambda title, message: errors.append(message))
    with qtbot.waitSignal(window.engineStateChanged, check_params_cb=lambda state: state == "failed", timeout=60_000):
        window.start_engine()
    assert "CUDA" in errors[0] and "pick a device" in errors[0] and "another folder" not in errors[0]
    studio.answer(studio.modal(QMessageBox), "OK")
    assert "could not be loaded" in window.banner.label.text() and window.banner.button.text() == "Open Models…"


def test_an_offline_download_says_why_whole_and_does_not_offer_to_resume(studio, qtbot, monkeypatch,
                                                                         tmp_path: Path) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    _, dialog = open_manager(studio, Settings())
    dialog.dest_edit.setText(str(tmp_path / "model"))
    studio.click(dialog.download_button)
    qtbot.waitUntil(lambda: dialog.download_button.isEnabled(), timeout=60_000)
    assert "Offline" in dialog.progress_label.text()
    qtbot.waitUntil(lambda: shown_whole(dialog.progress_label))  # once the dialog has laid the message out
    assert dialog.download_button.text() == "Try again"


def test_the_memory_choice_is_kept_loads_the_engine_with_it_and_shows_in_the_status_bar(studio, qtbot) -> None:
    """Memory (how streaming keeps earlier frames' keys/values): a person picks "Compact" with the keyboard,
    clicks OK; the model loads with bf16 history, the status bar says so, the setting is saved, and the dialog
    shows it again next time. The default ("As the precision keeps it") loads fp32 exact."""
    from PySide6.QtCore import Qt

    window, dialog = open_manager(studio, Settings(model_dir=str(studio.model), device="cpu", precision="fp32"))
    combo = dialog.memory_combo
    assert combo.currentText() == "As the precision keeps it" and combo.toolTip()
    combo.setFocus()
    while combo.currentData() != "bf16":
        qtbot.keyClick(combo, Qt.Key.Key_Down)
    assert combo.currentText() == "Compact: half the memory"
    with qtbot.waitSignal(window.engineStateChanged, check_params_cb=lambda state: state == "ready", timeout=120_000):
        studio.click(dialog.buttons.button(QDialogButtonBox.StandardButton.Ok))
    assert window.device_label.text() == "cpu · fp32 · compact memory"
    assert window.settings.flow_history == "bf16" and Settings.load().flow_history == "bf16"
    again = window.open_model_manager()
    qtbot.waitExposed(again)
    assert again.memory_combo.currentText() == "Compact: half the memory"
    again.reject()

    plain = studio.window(Settings(model_dir=str(studio.model), device="cpu", precision="fp32"))
    with qtbot.waitSignal(plain.engineStateChanged, check_params_cb=lambda state: state == "ready", timeout=120_000):
        plain.start_engine()
    assert plain.device_label.text() == "cpu · fp32"


def test_the_bridge_loads_each_memory_choice_and_reads_anything_else_as_auto(tiny_model_dir: Path) -> None:
    assert bridge.flow_history_choice("huge") == "auto" and bridge.flow_history_choice("int8") == "int8"
    for choice, storage in (("int8", "int8"), ("exact", "exact"), ("huge", "exact")):
        loaded = bridge.load_engine(tiny_model_dir, "cpu", "fp32", choice)
        assert loaded.stream_plan(True).kv_storage.value == storage
