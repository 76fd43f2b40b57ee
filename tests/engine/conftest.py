"""Fixtures the engine tests share: one tiny engine (the copied parity model) and a voice made from a real clip
(helpers to make and run requests: tinyengine.py)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from engine import Engine
from engine.flow import load_flow
from tinyengine import PROMPT_TEXT


@pytest.fixture(scope="session")
def engine(tiny_model_dir: Path) -> Engine:
    """The tiny model on the CPU in fp32, default runtime (incremental flow, this machine's threading)."""
    return Engine.load(tiny_model_dir, device="cpu", normalizer="none")


@pytest.fixture(scope="session")
def voice(engine: Engine, parity_dir: Path):
    return engine.make_voice(parity_dir / "wavs" / "prompt_en_22k.wav", PROMPT_TEXT, name="Prompt", language="en")


@pytest.fixture(scope="module")
def flow_and_case(tiny_model_dir: Path, parity_dir: Path):
    """The tiny CosyVoice 2 flow and the flow goldens' non-streaming case (tokens, prompt, embedding, noise)."""
    torch.set_grad_enabled(False)
    z = np.load(parity_dir / "goldens" / "flow.npz")
    case = {k: torch.from_numpy(z[f"nonstream/{k}"]) for k in ("token", "prompt_token", "prompt_feat", "embedding")}
    case["noise"] = torch.from_numpy(z["rand_noise_used"])
    return load_flow(tiny_model_dir), case
