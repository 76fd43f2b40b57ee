"""The official ``openai`` package against the real server on 127.0.0.1 with the tiny model.

Every answer is checked against the engine itself: the same request made directly gives the same samples
(same seed, input and thread count), so a ``pcm`` answer must equal them as 16-bit PCM byte for byte, and a
WAV or FLAC answer must decode to exactly those 16-bit values.
"""
from __future__ import annotations

import io

import av
import numpy as np
import openai
import pytest
import soundfile as sf

from engine.server import ServerConfig
from serverkit import TWO_SENTENCES, expected_pcm, read_pcm


def client(server, key: str = "unused") -> openai.OpenAI:
    return openai.OpenAI(base_url=server.base_url, api_key=key, max_retries=0)


def av_decode(data: bytes) -> tuple[np.ndarray, int]:
    """Mono float samples and rate, decoded by FFmpeg (PyAV) from an in-memory file."""
    with av.open(io.BytesIO(data)) as f:
        rate = f.streams.audio[0].rate
        return np.concatenate([fr.to_ndarray().reshape(-1) for fr in f.decode(audio=0)]), rate


# Encoder delay plus padding to whole frames, per lossy codec (samples at 24 kHz): LAME's 576-sample delay and
# the decoder's 529 plus padding to a 1152-sample frame; AAC's 1024 priming samples plus a 1024 frame; Opus
# pre-skip removes its delay, leaving padding to a 20 ms (480-sample) frame.
CODEC_SLACK = {"mp3": 576 + 529 + 1152, "aac": 1024 + 1024, "opus": 480}


def test_every_format_decodes_to_the_engines_audio(serve, engine, voices):
    server = serve()
    c = client(server)
    voice = voices.load("Prompt")
    want = read_pcm(expected_pcm(engine, voice, "Hi.", seed=7))
    for fmt in ("pcm", "wav", "flac", "mp3", "opus", "aac"):
        data = c.audio.speech.create(model="tts-1", voice="Prompt", input="Hi.", response_format=fmt,
                                     extra_body={"seed": 7}).content
        if fmt == "pcm":
            assert np.array_equal(read_pcm(data), want)
        elif fmt in ("wav", "flac"):
            got, rate = sf.read(io.BytesIO(data), dtype="int16")
            assert rate == 24000 and np.array_equal(got, want), fmt
        else:
            got, rate = av_decode(data)
            n = got.shape[0] * 24000 // rate
            assert 0 <= n - want.shape[0] <= CODEC_SLACK[fmt], (fmt, n, want.shape[0])


def test_streaming_response_gives_the_same_bytes_in_pieces(serve, engine, voices):
    server = serve()
    want = expected_pcm(engine, voices.load("Prompt"), TWO_SENTENCES, seed=3)
    with client(server).audio.speech.with_streaming_response.create(
            model="cosyvoice2", voice="Prompt", input=TWO_SENTENCES, response_format="pcm",
            extra_body={"seed": 3}) as r:
        assert r.headers["transfer-encoding"] == "chunked" and r.headers["content-type"] == "audio/pcm"
        assert r.headers["x-sample-rate"] == "24000"
        pieces = list(r.iter_bytes())
    assert b"".join(pieces) == want


def test_instructions_speed_seed_and_modes_reach_the_engine(serve, engine, voices):
    server = serve()
    c = client(server)
    prompt, nameless = voices.load("Prompt"), voices.load("Nameless")

    def pcm(**kw) -> bytes:
        return c.audio.speech.create(response_format="pcm", **kw).content

    # OpenAI's instructions field is instruct mode
    assert pcm(model="gpt-4o-mini-tts", voice="Prompt", input="Hi.", instructions="Speak softly.") == \
        expected_pcm(engine, prompt, "Hi.", mode="instruct", instruction="Speak softly.")
    assert pcm(model="tts-1-hd", voice="Prompt", input="Hi.", speed=1.5, extra_body={"seed": 11}) == \
        expected_pcm(engine, prompt, "Hi.", speed=1.5, seed=11)
    # a voice saved without a transcript is spoken cross-lingually unless a mode is asked for
    assert pcm(model="tts-1", voice="Nameless", input="Hi.") == \
        expected_pcm(engine, nameless, "Hi.", mode="cross_lingual")
    assert pcm(model="tts-1", voice="prompt", input="Hi.", extra_body={"mode": "cross_lingual"}) == \
        expected_pcm(engine, prompt, "Hi.", mode="cross_lingual")  # voice names are case-insensitive
    # and seeds matter
    assert pcm(model="tts-1", voice="Prompt", input="Hi.", extra_body={"seed": 1}) != \
        pcm(model="tts-1", voice="Prompt", input="Hi.", extra_body={"seed": 2})


def test_models_and_errors_as_the_client_sees_them(serve):
    server = serve(ServerConfig(port=0, max_input_chars=50))
    c = client(server)
    assert [m.id for m in c.models.list()] == ["cosyvoice2", "tts-1", "tts-1-hd", "gpt-4o-mini-tts"]
    with pytest.raises(openai.NotFoundError) as e:
        c.audio.speech.create(model="tts-1", voice="Nobody", input="Hi.")
    assert e.value.code == "voice_not_found" and e.value.param == "voice" and "Prompt" in e.value.message
    with pytest.raises(openai.NotFoundError) as e:
        c.audio.speech.create(model="eleven-v2", voice="Prompt", input="Hi.")
    assert e.value.code == "model_not_found"
    with pytest.raises(openai.BadRequestError) as e:
        c.audio.speech.create(model="tts-1", voice="Prompt", input="   ")
    assert e.value.code == "invalid_input" and "no text" in e.value.message
    with pytest.raises(openai.BadRequestError) as e:
        c.audio.speech.create(model="tts-1", voice="Prompt", input="Hi.", speed=4.0)
    assert "Speed" in e.value.message
    with pytest.raises(openai.APIStatusError) as e:
        c.audio.speech.create(model="tts-1", voice="Prompt", input="x" * 51)
    assert e.value.status_code == 413 and e.value.code == "input_too_long"


def test_api_key(serve):
    server = serve(ServerConfig(port=0, api_key="s3cret"))
    with pytest.raises(openai.AuthenticationError) as e:
        client(server, "wrong").models.list()
    assert e.value.code == "invalid_api_key"
    ok = client(server, "s3cret")
    assert ok.models.list().data and ok.audio.speech.create(model="tts-1", voice="Prompt", input="Hi.").content
