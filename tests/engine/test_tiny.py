"""make_tiny_model: a small random official-layout folder that the whole engine loads and runs."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from engine.hub import verify_model_folder
from engine import Engine, SynthesisRequest, Watchdog
from engine.tiny import make_tiny_model


def test_tiny_model_loads_and_speaks(tmp_path: Path, parity_dir: Path):
    d = make_tiny_model(tmp_path / "m", seed=3)
    assert verify_model_folder(d) == d
    assert sum(p.stat().st_size for p in d.rglob("*") if p.is_file()) < 20e6
    # Same seed, same bytes of weights: reproducible self-tests.
    d2 = make_tiny_model(tmp_path / "m2", seed=3)
    import torch

    a, b = torch.load(d / "llm.pt", weights_only=True), torch.load(d2 / "llm.pt", weights_only=True)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    engine = Engine.load(d, device="cpu", normalizer="none")
    voice = engine.make_voice(parity_dir / "wavs" / "prompt_en_22k.wav", "Hello there.", name="t")
    chunks = list(engine.synthesize(SynthesisRequest("Hello world.", voice,
                                                     watchdog=Watchdog(max_tokens_per_text_token=3))))
    audio = np.concatenate([c.samples for c in chunks])
    assert chunks[-1].is_last and audio.size > 0 and np.isfinite(audio).all()
