"""The Engine end to end on the tiny model (real frontend, LM, flow and HiFT).

The tiny random model never says EOS, so every sentence runs until the watchdog stops it; tests
use a tight watchdog (3 speech tokens per text token) to keep each run to a few dozen tokens.
"""
from __future__ import annotations

import threading
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from engine import Cancelled, CancelToken, GenerationError, InputError, TextInputError
from engine.cli import write_wav
from engine.pipeline import MODES, Engine, SynthesisRequest, Watchdog, pick_device, pick_dtype
from engine.voices import VoiceLibrary

PROMPT_TEXT = "Hello there, this is a short prompt for voice cloning."
SHORT = Watchdog(max_tokens_per_text_token=3.0)


@pytest.fixture(scope="module")
def engine(tiny_model_dir: Path) -> Engine:
    return Engine.load(tiny_model_dir, device="cpu", normalizer="none")


@pytest.fixture(scope="module")
def voice(engine: Engine, parity_dir: Path):
    return engine.make_voice(parity_dir / "wavs" / "prompt_en_22k.wav", PROMPT_TEXT, name="Prompt", language="en")


def _req(voice, text="Tiny models talk.", **kw) -> SynthesisRequest:
    kw.setdefault("watchdog", SHORT)
    kw.setdefault("instruction", "Speak softly.")
    return SynthesisRequest(text, voice, **kw)


def _run(engine, req, **kw):
    chunks = list(engine.synthesize(req, **kw))
    return chunks, np.concatenate([c.samples for c in chunks])


@pytest.mark.parametrize("mode", MODES)
def test_each_mode_to_a_wav(engine, voice, mode, tmp_path):
    chunks, audio = _run(engine, _req(voice, mode=mode))
    assert chunks[-1].is_last and chunks[-1].sentence_end and all(not c.is_last for c in chunks[:-1])
    assert all(c.samples.dtype == np.float32 and c.sample_rate == 24000 for c in chunks)
    assert np.isfinite(audio).all() and np.abs(audio).max() > 0
    assert chunks[-1].n_speech_tokens > 0
    # The tiny model rambles; the watchdog stopped it and said so on the sentence's last chunk.
    assert chunks[-1].watchdog and "speech tokens" in chunks[-1].watchdog
    t = chunks[-1].timings
    assert t.elapsed_s >= t.lm_s > 0 and t.flow_s > 0 and t.vocoder_s > 0
    out = write_wav(tmp_path / f"{mode}.wav", audio, engine.sample_rate)
    data, sr = sf.read(out, dtype="float32")
    assert sr == 24000 and data.shape == audio.shape
    assert np.abs(data - audio).max() < 1e-4 + 1 / 32768 * 2


def test_stream_matches_offline_length_and_has_no_seam_clicks(engine, voice):
    req = _req(voice, watchdog=Watchdog(max_tokens_per_text_token=5.0))
    streamed, s = _run(engine, req)
    offline, o = _run(engine, replace(req, stream=False))
    assert len(streamed) >= 2 and len(offline) == 1
    # Same tokens (the LM does not depend on how audio was cut), same total length.
    assert streamed[-1].n_speech_tokens == offline[-1].n_speech_tokens
    assert s.shape == o.shape == (streamed[-1].n_speech_tokens * 960,)
    # Seams: the step across a chunk boundary is no bigger than the largest step inside the audio,
    # and the audio around it follows the offline rendering (correlated, same level).
    steps = np.abs(np.diff(s))
    for b in np.cumsum([c.samples.shape[0] for c in streamed])[:-1]:
        assert steps[b - 1] <= steps.max()
        assert abs(float(steps[b - 1])) <= np.percentile(steps, 99.9) + 1e-6
        win = slice(b - 2400, b + 2400)
        assert np.corrcoef(s[win], o[win])[0, 1] > 0.2
        assert 0.33 < np.sqrt(np.mean(s[win] ** 2)) / np.sqrt(np.mean(o[win] ** 2)) < 3


def test_same_seed_same_samples_other_seed_differs(engine, voice):
    _, a = _run(engine, _req(voice, seed=7))
    _, b = _run(engine, _req(voice, seed=7))
    _, c = _run(engine, _req(voice, seed=8))
    assert np.array_equal(a, b)
    assert a.shape != c.shape or not np.array_equal(a, c)


def test_speed_while_streaming(engine, voice):
    _, normal = _run(engine, _req(voice))
    _, fast = _run(engine, _req(voice, speed=1.5))
    assert 0.55 < fast.shape[0] / normal.shape[0] < 0.8


def test_sentences_pause_and_fade(engine, voice):
    req = _req(voice, text="One. Two.", split_sentences=False)
    assert engine.sentences(req) == ["One. Two."]
    req = _req(voice, text="One.")
    chunks, _ = _run(engine, req)
    assert {c.sentence_index for c in chunks} == {0}

    class TwoPieces:
        """Stand-in text frontend that splits on '|' (the real splitter merges short sentences)."""

        def __init__(self, inner):
            self.inner = inner
            self.tokenizer = inner.tokenizer

        def split_sentences(self, text):
            return [t.strip() for t in text.split("|")]

        def normalize(self, text):
            return text

    two = Engine(engine.model_dir, engine.cfg, engine.lm, engine.flow, engine.hift, engine.frontend,
                 TwoPieces(engine.text), engine.device, engine.dtype)
    chunks, audio = _run(two, _req(voice, text="First one | Second one", sentence_pause_s=0.1, seam_fade_s=0.005))
    assert [c.sentence_index for c in chunks if c.sentence_end] == [0, 1]
    end0 = next(c for c in chunks if c.sentence_end and c.sentence_index == 0)
    assert np.all(end0.samples[-2400:] == 0)  # the pause
    first1 = next(c for c in chunks if c.sentence_index == 1)
    assert abs(first1.samples[0]) < 0.05  # faded in from silence: no click at the seam
    assert chunks[-1].is_last and chunks[-1].n_sentences == 2


def test_cancel_from_another_thread_is_quick(engine, voice):
    from engine.llm.sampling import make_ras_sampler

    token = CancelToken()
    started = threading.Event()
    ras = make_ras_sampler(engine.cfg.lm.sampling)
    calls = [0]

    def sampler(scores, decoded, gen):
        calls[0] += 1
        if calls[0] == 5:
            started.set()
        return ras(scores, decoded, gen)

    result: dict = {}

    def worker():
        try:
            list(engine.synthesize(_req(voice, watchdog=Watchdog(max_tokens_per_text_token=20)), cancel=token,
                                   sampler=sampler))
            result["outcome"] = "finished"
        except Cancelled:
            result["outcome"] = "cancelled"
        result["t"] = time.perf_counter()

    th = threading.Thread(target=worker)
    th.start()
    assert started.wait(60)
    t0 = time.perf_counter()
    token.cancel()
    th.join(30)
    assert result["outcome"] == "cancelled"
    assert result["t"] - t0 < 0.5  # one LM step on the tiny model (200 ms budget, slack for a busy CI)


def test_runaway_can_raise(engine, voice):
    with pytest.raises(GenerationError, match="watchdog"):
        list(engine.synthesize(_req(voice, on_runaway="raise")))


def test_repeat_detector():
    wd = Watchdog(repeat_seconds=1.0, repeat_max_period=2)
    assert wd.check([1, 2] * 13, n_text=100) and "2-token pattern" in wd.check([1, 2] * 13, 100)
    assert wd.check(list(range(30)), n_text=100) is None
    assert Watchdog(enabled=False).check([1] * 500, 1) is None


def test_bad_requests_are_typed_errors(engine, voice):
    with pytest.raises(TextInputError, match="transcript"):
        list(engine.synthesize(_req(replace(voice, transcript=""))))
    with pytest.raises(TextInputError, match="instruction"):
        list(engine.synthesize(_req(voice, mode="instruct", instruction=" ")))
    with pytest.raises(InputError, match="mode"):
        list(engine.synthesize(_req(voice, mode="karaoke")))
    with pytest.raises(InputError, match="Speed"):
        list(engine.synthesize(_req(voice, speed=0)))
    with pytest.raises(TextInputError):
        list(engine.synthesize(_req(voice, text="   ")))
    token = CancelToken()
    token.cancel()
    with pytest.raises(Cancelled):
        list(engine.synthesize(_req(voice), cancel=token))


def test_voice_round_trip_through_the_library(engine, voice, tmp_path):
    lib = VoiceLibrary(tmp_path)
    lib.save(voice)
    loaded = lib.load("prompt")
    _, a = _run(engine, _req(voice))
    _, b = _run(engine, _req(loaded))
    assert np.array_equal(a, b)


def test_device_and_dtype_choice():
    from engine.errors import ConfigError

    assert pick_device("auto").type in ("cuda", "mps", "cpu")
    assert pick_device("cpu").type == "cpu"
    import torch

    assert pick_dtype("bf16", torch.device("cpu")) == torch.bfloat16
    with pytest.raises(ConfigError, match="fp16"):
        pick_dtype("fp16", torch.device("cpu"))
    with pytest.raises(ConfigError):
        pick_dtype("int3", torch.device("cpu"))
