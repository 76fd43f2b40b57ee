"""Shared test setup: Qt offscreen, the copied parity fixtures, torch thread count."""
from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest  # noqa: E402

FIXTURES = Path(__file__).parent / "fixtures"
PARITY = FIXTURES / "parity"
PARITY_CV3 = FIXTURES / "parity-cv3"


@pytest.fixture(scope="session")
def parity_dir() -> Path:
    """The parity fixture folder copied from ../shared/parity (model/, goldens/, wavs/, ...)."""
    return PARITY


@pytest.fixture(scope="session")
def tiny_model_dir(parity_dir: Path) -> Path:
    """The tiny official-layout model folder."""
    return parity_dir / "model"


@pytest.fixture(scope="session")
def stage_parity(parity_dir: Path):
    """Run one stage's parity checks (``engine.parity.<stage>``) on the copied fixtures.

    Fails with every failing check's line (or a crash of the stage) and returns the results, so a
    test only adds what is specific to its stage.
    """
    return _stage_runner(parity_dir)


@pytest.fixture(scope="session")
def parity_cv3_dir() -> Path:
    """The CosyVoice 3 parity fixture folder copied from ../shared/parity-cv3."""
    return PARITY_CV3


@pytest.fixture(scope="session")
def tiny_cv3_model_dir(parity_cv3_dir: Path) -> Path:
    """The tiny official-layout CosyVoice 3 model folder."""
    return parity_cv3_dir / "model"


@pytest.fixture(scope="session")
def stage_parity_cv3(parity_cv3_dir: Path):
    """:func:`stage_parity` on the CosyVoice 3 fixtures (``python -m engine.parity`` picks its stages)."""
    return _stage_runner(parity_cv3_dir)


def _stage_runner(root: Path):
    from engine.parity import run_checks

    def run(stage: str) -> list:
        results = run_checks(root, only=stage)
        assert results, f"no {stage} goldens were checked"
        failed = [r.line() for r in results if not r.passed]
        assert not failed, "\n".join(failed)
        return results

    return run
