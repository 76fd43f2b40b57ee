"""Speech tokenizer and CAM++ through onnxruntime, on the tiny stand-in ONNX files of the fixture model."""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch

from engine.errors import AudioInputError, OnnxModelError
from engine.frontend.audio import load_audio, load_speech, whisper_log_mel
from engine.frontend.onnx_models import (
    SPEAKER_EMBEDDING_DIM,
    SpeakerEncoder,
    SpeechTokenizer,
    default_providers,
)
from engine.parity import Fixture
from engine.parity.tolerance import EMBEDDING


@pytest.fixture(scope="module")
def tokenizer(tiny_model_dir: Path) -> SpeechTokenizer:
    return SpeechTokenizer(tiny_model_dir / "speech_tokenizer_v2.onnx")


@pytest.fixture(scope="module")
def encoder(tiny_model_dir: Path) -> SpeakerEncoder:
    return SpeakerEncoder(tiny_model_dir / "campplus.onnx")


@pytest.fixture(scope="module")
def speech_16k(parity_dir: Path) -> torch.Tensor:
    audio, sr = load_audio(parity_dir / "wavs" / "prompt_zh_48k_stereo.wav")
    return load_speech(audio, sr, 16000)


def test_tokens_are_25_hz_ints_equal_to_golden(tokenizer, speech_16k, parity_dir) -> None:
    tokens = tokenizer(speech_16k)
    frames = whisper_log_mel(speech_16k).shape[-1]
    assert tokens.dtype == torch.int32 and tokens.shape == (1, math.ceil(frames / 4))
    assert int(tokens.min()) >= 0 and int(tokens.max()) < 6561
    golden = np.load(parity_dir / "goldens" / "features.npz")["prompt_zh_48k_stereo/speech_token"]
    assert np.array_equal(tokens.numpy(), golden)


def test_embedding_is_192_floats_equal_to_golden(encoder, speech_16k, parity_dir) -> None:
    emb = encoder(speech_16k)
    assert emb.shape == (1, SPEAKER_EMBEDDING_DIM) and emb.dtype == torch.float32
    golden = np.load(parity_dir / "goldens" / "features.npz")["prompt_zh_48k_stereo/spk_embedding"]
    fx = Fixture(parity_dir)  # the parity policy's bound for this golden (onnxruntime kernels differ per CPU)
    bound = EMBEDDING.bound(fx.spread("features.npz", "prompt_zh_48k_stereo/spk_embedding"))
    np.testing.assert_allclose(emb.numpy(), golden, atol=bound, rtol=0)


def test_tokenizer_refuses_more_than_30_seconds(tokenizer) -> None:
    long = torch.zeros(1, 16000 * 31)
    with pytest.raises(AudioInputError, match="31.0 s.*Trim"):
        tokenizer(long)


def test_providers_end_with_cpu() -> None:
    providers = default_providers()
    assert providers[-1] == "CPUExecutionProvider"
    assert len(providers) == len(set(providers))


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(OnnxModelError, match="missing"):
        SpeechTokenizer(tmp_path / "speech_tokenizer_v2.onnx")


def test_corrupt_file(tmp_path: Path, tiny_model_dir: Path) -> None:
    bad = tmp_path / "campplus.onnx"
    bad.write_bytes((tiny_model_dir / "campplus.onnx").read_bytes()[:5000])  # truncated download
    with pytest.raises(OnnxModelError, match="damaged"):
        SpeakerEncoder(bad)


def test_wrong_model_for_the_role(tiny_model_dir: Path) -> None:
    # CAM++ has one input; the tokenizer needs the mel and its length.
    with pytest.raises(OnnxModelError, match="needs 2 input"):
        SpeechTokenizer(tiny_model_dir / "campplus.onnx")


def test_run_failure_is_typed(encoder) -> None:
    with pytest.raises(OnnxModelError, match="failed to run"):
        encoder.embed_fbank(torch.zeros(50, 40))  # 40 bins instead of 80


def test_positional_io_works_with_other_names(tmp_path: Path, tiny_model_dir: Path, speech_16k) -> None:
    """The official files' tensor names are not guaranteed; inputs and outputs are used by position."""
    model = onnx.load(str(tiny_model_dir / "campplus.onnx"))
    renames = {model.graph.input[0].name: "x_renamed", model.graph.output[0].name: "emb_renamed"}
    for node in model.graph.node:
        node.input[:] = [renames.get(n, n) for n in node.input]
        node.output[:] = [renames.get(n, n) for n in node.output]
    model.graph.input[0].name = "x_renamed"
    model.graph.output[0].name = "emb_renamed"
    path = tmp_path / "campplus.onnx"
    onnx.save(model, str(path))
    a = SpeakerEncoder(path)(speech_16k)
    b = SpeakerEncoder(tiny_model_dir / "campplus.onnx")(speech_16k)
    assert torch.equal(a, b)
