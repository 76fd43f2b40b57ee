"""Performed lines (engine.conversion): a real espeak-ng recording re-voiced by the tiny engine's flow + HiFT."""
from __future__ import annotations

import shutil
import subprocess

import numpy as np
import pytest
import soundfile as sf
import torch

from engine.conversion import convert_voice
from engine.errors import AudioInputError
from engine.project import Project, performed_take
from engine.project.model import LineStatus

TOKEN_S = 1 / 25  # one speech token: the source's length is kept to within the tokenizer's framing


@pytest.fixture(scope="module")
def recording(tmp_path_factory):
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed (tests/run.sh installs it)")
    path = tmp_path_factory.mktemp("vc") / "me.wav"
    subprocess.run(["espeak-ng", "-w", str(path), "I did not expect to see you here tonight."], check=True)
    audio, rate = sf.read(path, dtype="float32")
    return audio, rate


@pytest.fixture(scope="module")
def other_voice(engine, recording):
    audio, rate = recording
    return engine.make_voice(audio[: rate * 2], "I did not expect", sample_rate=rate, name="Other")


def test_conversion_keeps_the_length_and_uses_the_voice(engine, voice, other_voice, recording):
    audio, rate = recording
    seen = []
    hooks = [engine.flow.input_embedding.register_forward_pre_hook(lambda m, a: seen.append(("tokens", a[0]))),
             engine.flow.spk_embed_affine_layer.register_forward_pre_hook(lambda m, a: seen.append(("spk", a[0])))]
    try:
        out = convert_voice(engine, audio, rate, voice, seed=3)
    finally:
        for h in hooks:
            h.remove()
    assert out.dtype == np.float32 and np.isfinite(out).all() and np.abs(out).max() > 0
    assert abs(out.shape[0] / engine.sample_rate - audio.shape[0] / rate) <= TOKEN_S
    tokens = next(x for kind, x in seen if kind == "tokens")[0]
    n = voice.speech_tokens.numel()
    assert torch.equal(tokens[:n].to(torch.int32), voice.speech_tokens.to(torch.int32))  # the prompt reaches the flow
    spk = next(x for kind, x in seen if kind == "spk")[0]
    torch.testing.assert_close(spk, torch.nn.functional.normalize(voice.embedding.reshape(1, -1), dim=1)[0])

    again = convert_voice(engine, audio, rate, voice, seed=3)
    np.testing.assert_array_equal(again, out)                 # same seed, same take
    other = convert_voice(engine, audio, rate, other_voice, seed=3)
    assert other.shape == out.shape and not np.allclose(other, out)  # another voice, same timing


def test_a_performed_take_is_a_take_like_any_other(engine, voice, recording, tmp_path):
    audio, rate = recording
    project = Project.new("Me: I did not expect to see you here tonight.")
    project.set_cast("Me", voice)
    job = project.jobs()[0]
    take = performed_take(engine, job, convert_voice(engine, audio, rate, job.voice))
    project.add_take(take)
    assert project.rows()[0].status is LineStatus.READY and take.info.kind == "performed"
    reopened = Project.open(project.save(tmp_path / "p.timbre"))
    assert reopened.take_info(take.info.id).mode == "vc"
    assert reopened.take_audio(take.info.id).shape == take.audio.shape


def test_unusable_recordings_are_refused(engine, voice):
    with pytest.raises(AudioInputError):
        convert_voice(engine, np.zeros(100, np.float32), 16000, voice)
    with pytest.raises(AudioInputError, match="needs a voice"):
        convert_voice(engine, np.zeros(24000, np.float32), 24000, "Me")
