"""Model inputs per mode, from the real tiny model folder (tokenizer + stand-in ONNX files)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from engine.errors import AudioInputError, TextInputError
from engine.frontend.audio import load_audio
from engine.frontend.frontend import (
    Frontend,
    PromptFeatures,
    cross_lingual_inputs,
    instruct2_inputs,
    vc_inputs,
    zero_shot_inputs,
)
from engine.parity import Fixture

# The reference's model_input keys per mode (CosyVoiceFrontEnd.frontend_*).
ZERO_SHOT_KEYS = {"text", "text_len", "prompt_text", "prompt_text_len", "llm_prompt_speech_token",
                  "llm_prompt_speech_token_len", "flow_prompt_speech_token", "flow_prompt_speech_token_len",
                  "prompt_speech_feat", "prompt_speech_feat_len", "llm_embedding", "flow_embedding"}


@pytest.fixture(scope="module")
def front(tiny_model_dir: Path) -> Frontend:
    return Frontend.from_model_dir(tiny_model_dir)


@pytest.fixture(scope="module")
def recording(parity_dir: Path) -> tuple[np.ndarray, int]:
    return load_audio(parity_dir / "wavs" / "prompt_en_22k.wav")


@pytest.fixture(scope="module")
def raw_prompt(front: Frontend, recording) -> PromptFeatures:
    return front.prompt(*recording, trim=False)


def test_every_frontend_golden_passes(parity_dir: Path) -> None:
    from engine.parity.frontend import checks

    results = list(checks(Fixture(parity_dir)))
    assert len(results) >= 4
    bad = [r.line() for r in results if not r.passed]
    assert not bad, "\n".join(bad)


def test_prompt_is_trimmed_to_two_frames_per_token(front, recording, raw_prompt) -> None:
    p = front.prompt(*recording)
    assert p.n_frames == 2 * p.n_tokens
    assert p.n_tokens == min(raw_prompt.n_frames // 2, raw_prompt.n_tokens)
    assert torch.equal(p.speech_feat, raw_prompt.speech_feat[:, : p.n_frames])
    assert torch.equal(p.embedding, raw_prompt.embedding)
    again = p.trimmed()
    assert torch.equal(again.speech_tokens, p.speech_tokens) and again.n_frames == p.n_frames


def test_trim_rule_when_tokens_are_the_shorter_side() -> None:
    p = PromptFeatures(torch.arange(10, dtype=torch.int32)[None], torch.zeros(1, 25, 80), torch.zeros(1, 192))
    t = p.trimmed()
    assert (t.n_tokens, t.n_frames) == (10, 20)
    p = PromptFeatures(torch.arange(10, dtype=torch.int32)[None], torch.zeros(1, 17, 80), torch.zeros(1, 192))
    t = p.trimmed()
    assert (t.n_tokens, t.n_frames) == (8, 16)


def test_modes_carry_what_the_reference_carries(raw_prompt) -> None:
    text, prompt_text, instruct = [5, 6, 7], [1, 2], [9, 9, 9, 9]
    zs = zero_shot_inputs(text, prompt_text, raw_prompt).as_dict()
    assert set(zs) == ZERO_SHOT_KEYS
    assert zs["text"].dtype == torch.int32 and zs["text"].tolist() == [text]
    assert zs["prompt_speech_feat"].shape[1] == 2 * zs["flow_prompt_speech_token"].shape[1]
    cl = cross_lingual_inputs(text, raw_prompt).as_dict()
    assert set(cl) == ZERO_SHOT_KEYS - {"prompt_text", "prompt_text_len", "llm_prompt_speech_token",
                                        "llm_prompt_speech_token_len"}
    ins = instruct2_inputs(text, instruct, raw_prompt).as_dict()
    assert set(ins) == ZERO_SHOT_KEYS - {"llm_prompt_speech_token", "llm_prompt_speech_token_len"}
    assert ins["prompt_text"].tolist() == [instruct] and ins["prompt_text_len"].tolist() == [4]
    vc = vc_inputs(torch.tensor([[3, 4, 5]]), raw_prompt).as_dict()
    assert set(vc) == {"source_speech_token", "source_speech_token_len", "flow_prompt_speech_token",
                       "flow_prompt_speech_token_len", "prompt_speech_feat", "prompt_speech_feat_len",
                       "flow_embedding"}
    # Voice conversion keeps the untrimmed prompt, as the reference does.
    assert vc["prompt_speech_feat"].shape[1] == raw_prompt.n_frames
    assert vc["flow_prompt_speech_token"].shape[1] == raw_prompt.n_tokens


def test_text_methods_use_the_model_tokenizer(front, raw_prompt) -> None:
    inputs = front.zero_shot("Hello world.", "A prompt.", raw_prompt)
    assert inputs.text.tolist() == [front.tokenizer.encode("Hello world.")]
    assert inputs.prompt_text.tolist() == [front.tokenizer.encode("A prompt.")]
    assert inputs.mode == "zero_shot"


def test_bad_text(front, raw_prompt) -> None:
    with pytest.raises(TextInputError, match="no text"):
        front.cross_lingual("", raw_prompt)
    with pytest.raises(TextInputError, match="string"):
        front.zero_shot(None, "prompt", raw_prompt)  # type: ignore[arg-type]


def test_bad_reference_audio(front, recording) -> None:
    audio, sr = recording
    with pytest.raises(AudioInputError, match="ms long"):
        front.prompt(audio[: sr // 10], sr)
    with pytest.raises(AudioInputError, match="at most 30 s"):
        front.prompt(np.tile(audio, 9), sr)  # 34 s
    with pytest.raises(AudioInputError, match="NaN"):
        front.prompt(np.full(sr, np.nan, dtype=np.float32), sr)
    with pytest.raises(AudioInputError, match="numpy array"):
        front.prompt("prompt.wav", sr)  # type: ignore[arg-type]


def test_stereo_int16_recording_equals_its_float_mono(front, recording) -> None:
    audio, sr = recording
    pcm = (np.clip(audio, -1, 1) * 32767).astype(np.int16)
    stereo = np.stack([pcm, pcm], axis=1)
    a = front.prompt(stereo, sr)
    b = front.prompt(pcm.astype(np.float32) / 32768, sr)
    assert torch.equal(a.speech_tokens, b.speech_tokens)
    assert torch.allclose(a.speech_feat, b.speech_feat)


def test_vc_source_over_30_s_is_refused(front, raw_prompt) -> None:
    with pytest.raises(AudioInputError, match="Trim"):
        front.vc(np.zeros(16000 * 31, dtype=np.float32), 16000, raw_prompt)
