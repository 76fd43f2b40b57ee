"""Fixtures the engine tests share: one tiny engine (the copied parity model) and a voice made from a real clip
(helpers to make and run requests: tinyengine.py)."""
from __future__ import annotations

from pathlib import Path

import pytest

from engine import Engine
from tinyengine import PROMPT_TEXT


@pytest.fixture(scope="session")
def engine(tiny_model_dir: Path) -> Engine:
    """The tiny model on the CPU in fp32, default runtime (incremental flow, this machine's threading)."""
    return Engine.load(tiny_model_dir, device="cpu", normalizer="none")


@pytest.fixture(scope="session")
def voice(engine: Engine, parity_dir: Path):
    return engine.make_voice(parity_dir / "wavs" / "prompt_en_22k.wav", PROMPT_TEXT, name="Prompt", language="en")
