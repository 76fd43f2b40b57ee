"""make_tiny_cv3_model: a small random CosyVoice 3 folder the engine's CosyVoice 3 networks load and run."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from engine.config import COSYVOICE3, model_family
from engine.families import load_networks
from engine.frontend.audio import load_audio
from engine.llm.cosyvoice3_lm import drop_long_silences
from engine.rng import PortableRandom, Stream
from engine.tiny_cv3 import make_tiny_cv3_model
from engine.token2wav import FlowPrompt, StreamPlan
from engine.token2wav_cv3 import stream_sentence


def test_tiny_cv3_model_loads_and_speaks(tmp_path: Path, parity_cv3_dir: Path) -> None:
    d = make_tiny_cv3_model(tmp_path / "m", seed=3)
    assert model_family(d) == COSYVOICE3
    assert sum(p.stat().st_size for p in d.rglob("*") if p.is_file()) < 20e6
    d2 = make_tiny_cv3_model(tmp_path / "m2", seed=3)
    for name in ("llm.pt", "flow.pt", "hift.pt"):  # same seed, same weights: reproducible self-tests
        a, b = torch.load(d / name, weights_only=True), torch.load(d2 / name, weights_only=True)
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)

    nets = load_networks(d)
    frontend, lm, flow, hift = nets
    assert nets.family == COSYVOICE3 and lm.end_of_prompt_id == frontend.tokenizer.special_ids["<|endofprompt|>"]
    audio, sr = load_audio(parity_cv3_dir / "wavs" / "prompt_en_16k_stereo.wav")
    inputs = frontend.zero_shot("Hello world, how are you?", "The quick brown fox.", frontend.prompt(audio, sr))
    tokens = list(lm.generate(inputs.text, inputs.prompt_text, inputs.llm_prompt_speech_token,
                              rng=PortableRandom(1, Stream.SAMPLER), max_token_text_ratio=8))
    noise = PortableRandom(1, Stream.FLOW_NOISE).normal([1, 80, 4000])
    prompt = FlowPrompt(inputs.flow_prompt_speech_token, inputs.prompt_speech_feat, inputs.flow_embedding, noise)
    pieces = list(stream_sentence(drop_long_silences(tokens), flow, hift, StreamPlan(stream=True), prompt))
    audio_out = np.concatenate([p.numpy() for p in pieces])
    assert audio_out.size > 0 and np.isfinite(audio_out).all() and np.abs(audio_out).max() <= 0.99
