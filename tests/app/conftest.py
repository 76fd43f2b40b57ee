"""App test setup: settings and data in a temp folder, audio-device checks, the real engine's tiny model."""
from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def app_dirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Never touch the user's settings, voices or autosave."""
    monkeypatch.setenv("TIMBRE_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.setenv("TIMBRE_DATA_DIR", str(tmp_path / "data"))
    return tmp_path


def _no_audio(kind: str) -> str | None:
    from app.audio import devices

    return devices.no_device_reason(kind)


@pytest.fixture
def output_device() -> None:
    """Skip (with the reason) only when this machine has no PortAudio output device at all."""
    reason = _no_audio("output")
    if reason:
        pytest.skip(f"no PortAudio output device: {reason} (CI starts one with .ci/audio.sh)")


@pytest.fixture
def input_device() -> None:
    reason = _no_audio("input")
    if reason:
        pytest.skip(f"no PortAudio input device: {reason} (CI starts one with .ci/audio.sh)")


@pytest.fixture
def reference_wav(parity_dir: Path) -> Path:
    return parity_dir / "wavs" / "prompt_en_22k.wav"
