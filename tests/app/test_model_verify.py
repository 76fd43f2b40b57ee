""""Verify model" in the model manager: clicked like a person would, on a model folder built here with the
download manifest the downloader writes, then with a flipped bit (issue 14, item 2)."""
from __future__ import annotations

import shutil
import threading
from pathlib import Path

import pytest
from PySide6.QtCore import Qt

from engine import hub
from engine import model_manifest as mf

WAIT_MS = 60_000  # only ends a test that would otherwise hang; never a speed bound


@pytest.fixture()
def downloaded(tmp_path: Path, tiny_model_dir: Path) -> Path:
    """The tiny model as the downloader leaves it: the files plus a manifest of their sha256."""
    folder = tmp_path / "model"
    manifest = mf.Manifest(repo="FakeOrg/Tiny", commit="0" * 40)
    for rel in hub.MODEL_FILES:
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(tiny_model_dir / rel, folder / rel)
        digest = mf.hash_file(folder / rel)
        manifest.files[rel] = mf.entry_for(folder / rel, digest.sha256, digest)
    mf.write_manifest(folder, manifest)
    return folder


@pytest.fixture()
def dialog(qtbot, downloaded: Path):
    from app.widgets.model_manager import ModelManagerDialog

    d = ModelManagerDialog(str(downloaded), "cpu", "fp32")
    qtbot.addWidget(d)
    yield d
    d.shutdown()


def _click_verify(qtbot, dialog) -> str:
    assert dialog.verify_button.isEnabled()
    with qtbot.waitSignal(dialog.verified, timeout=WAIT_MS):
        qtbot.mouseClick(dialog.verify_button, Qt.MouseButton.LeftButton)
        assert not dialog.verify_button.isEnabled()  # one check at a time, and the GUI thread is free meanwhile
    assert dialog.verify_button.isEnabled()
    return dialog.folder_status.text()


def test_verify_model_reports_a_good_folder_then_a_flipped_bit(qtbot, dialog, downloaded: Path, monkeypatch):
    threads: list[threading.Thread] = []
    real = hub.verify_model

    def spy(*args, **kwargs):  # the real check, noting the thread it runs on
        threads.append(threading.current_thread())
        return real(*args, **kwargs)

    monkeypatch.setattr(hub, "verify_model", spy)
    text = _click_verify(qtbot, dialog)
    assert "✔" in text and f"All {len(hub.MODEL_FILES)} model files match" in text
    assert threads and threads[0] is not threading.main_thread()

    with open(downloaded / "llm.pt", "r+b") as f:
        f.seek(1000)
        byte = f.read(1)
        f.seek(1000)
        f.write(bytes([byte[0] ^ 0x01]))
    text = _click_verify(qtbot, dialog)
    assert "✖" in text and "llm.pt" in text and "Download the model again" in text
    assert dialog.verify_button.isEnabled()


def test_verify_model_on_a_folder_timbre_did_not_download(qtbot, tiny_model_dir: Path):
    from app.widgets.model_manager import ModelManagerDialog

    d = ModelManagerDialog(str(tiny_model_dir), "cpu", "fp32")
    qtbot.addWidget(d)
    try:
        text = _click_verify(qtbot, d)
        assert "not downloaded by Timbre" in text and "present and can be read" in text
    finally:
        d.shutdown()


def test_verify_is_disabled_for_an_incomplete_folder(qtbot, tmp_path: Path):
    from app.widgets.model_manager import ModelManagerDialog

    d = ModelManagerDialog(str(tmp_path), "cpu", "fp32")
    qtbot.addWidget(d)
    assert not d.verify_button.isEnabled()
    d.shutdown()
