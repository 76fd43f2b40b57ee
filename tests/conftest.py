"""Shared test setup: Qt offscreen, the copied parity fixtures, torch thread count."""
from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest  # noqa: E402

FIXTURES = Path(__file__).parent / "fixtures"
PARITY = FIXTURES / "parity"


@pytest.fixture(scope="session")
def parity_dir() -> Path:
    """The parity fixture folder copied from ../shared/parity (model/, goldens/, wavs/, ...)."""
    return PARITY


@pytest.fixture(scope="session")
def tiny_model_dir(parity_dir: Path) -> Path:
    """The tiny official-layout model folder."""
    return parity_dir / "model"
