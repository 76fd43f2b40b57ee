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
