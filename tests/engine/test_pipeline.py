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
import torch

from engine import Cancelled, CancelToken, GenerationError, InputError, TextInputError
from engine.cli import write_wav
from engine.pipeline import (MODES, PRECISIONS, Engine, Precision, SynthesisRequest, Watchdog, pick_device, pick_dtype,
                             pick_precision, precision_name)
from engine.parity.tolerance import utterance_wave_bound
from engine.rng import PortableRandom
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
    # 16-bit PCM: libsndfile writes x * 32767 and reads / 32768 (3e-5 at full scale) plus half a step of
    # rounding: a property of the format, the same on any machine
    assert np.abs(data - audio).max() < 1e-4 + 1 / 32768 * 2


def _variant(engine: Engine, **kw) -> Engine:
    """The same loaded networks with other flow options."""
    return Engine(engine.model_dir, engine.cfg, engine.lm, engine.flow, engine.hift, engine.frontend, engine.text,
                  engine.device, engine.dtype, precision=engine.precision, **kw)


@pytest.fixture(scope="module")
def recomputing(engine: Engine) -> Engine:
    """The reference's streaming: every chunk call re-runs the flow over all tokens, full-attention final call."""
    return _variant(engine, incremental_flow=False)


LONGER = Watchdog(max_tokens_per_text_token=5.0)  # enough tokens for a chunk call + the final call
# Float-rounding differences (other chunking, other final call kernels) amplified by HiFT's phase integration: the
# parity policy's bound for a whole utterance of this model (WAVEFORM with the e2e chunks' noise floor).
WAVE_TOL = utterance_wave_bound(Path(__file__).parents[1] / "fixtures" / "parity" / "goldens")


@pytest.mark.parametrize("flow_mode", ["incremental", "recomputing"])
def test_stream_matches_offline_length_and_has_no_seam_clicks(engine, recomputing, voice, flow_mode):
    e = engine if flow_mode == "incremental" else recomputing
    req = _req(voice, watchdog=LONGER)
    streamed, s = _run(e, req)
    offline, o = _run(e, replace(req, stream=False))
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


def test_default_engine_streams_incrementally(engine):
    assert engine.incremental_flow and engine.official_final is None
    assert engine.precision.name == "fp32" and engine.dtype == torch.float32  # auto on CPU


def test_streaming_paths_agree(engine, recomputing, voice):
    """Incremental chunks equal the recomputing (reference) chunks; the final call is the reference's
    full-attention pass with official_final=True and the streaming-mask pass otherwise, on both paths."""
    req = _req(voice, watchdog=LONGER)
    reference, _ = _run(recomputing, req)  # official chunks + official final
    fast, _ = _run(engine, req)  # incremental chunks + streaming-mask final (the default)
    inc_official, _ = _run(_variant(engine, official_final=True), req)
    rec_streaming_final, _ = _run(_variant(engine, incremental_flow=False, official_final=False), req)
    assert len(reference) >= 2  # at least one chunk call and the final call
    for chunks in (fast, inc_official, rec_streaming_final):
        assert [c.samples.shape for c in chunks] == [c.samples.shape for c in reference]
        for a, b in zip(chunks[:-1], reference[:-1]):
            np.testing.assert_allclose(a.samples, b.samples, atol=WAVE_TOL)
    np.testing.assert_allclose(inc_official[-1].samples, reference[-1].samples, atol=WAVE_TOL)
    np.testing.assert_allclose(fast[-1].samples, rec_streaming_final[-1].samples, atol=WAVE_TOL)
    # The two kinds of final call really are different computations (full attention sees the future).
    assert np.abs(fast[-1].samples - reference[-1].samples).max() > 10 * WAVE_TOL


def test_prompt_flow_state_is_reused_bit_identically(engine, voice, parity_dir, monkeypatch):
    """The post-prompt flow state is computed once per voice + seed and reused by later sentences and
    requests; the audio equals a fresh start_stream every time, and another seed or voice misses."""
    cached = _variant(engine, incremental_flow=True)
    fresh = _variant(engine, incremental_flow=True)
    fresh.prompt_state_cache_size = 0
    for eng in (cached, fresh):  # split on '|' (the real splitter merges short sentences)
        eng.sentences = lambda r: [t.strip() for t in r.text.split("|")]
    calls = []
    real_start = engine.flow.start_stream

    def counting_start(*args, **kw):
        calls.append(1)
        return real_start(*args, **kw)

    monkeypatch.setattr(engine.flow, "start_stream", counting_start)  # the flow the variants share
    req = _req(voice, text="Tiny models talk quite a lot | Small ones sing along too", watchdog=LONGER, seed=3)

    def run(eng, r):
        calls.clear()
        chunks, samples = _run(eng, r)
        return samples, len(calls), len(chunks)

    want, n_fresh, n_chunks = run(fresh, req)
    assert n_fresh == 2 and n_chunks >= 4  # two streamed sentences, each with a chunk call before the end
    first, n_first, _ = run(cached, req)
    again, n_again, _ = run(cached, req)
    assert (n_first, n_again) == (1, 0)  # sentence 2 and the repeated request reuse sentence 1's state
    assert np.array_equal(first, want) and np.array_equal(again, want)

    other_seed, n_seed, _ = run(cached, replace(req, seed=4))
    assert n_seed == 1
    assert np.array_equal(other_seed, run(fresh, replace(req, seed=4))[0])
    audio, sr = sf.read(parity_dir / "wavs" / "prompt_en_22k.wav", dtype="float32")
    other_voice = engine.make_voice(audio[: int(0.8 * len(audio))], PROMPT_TEXT, name="Other", sample_rate=sr)
    _, n_voice, _ = run(cached, replace(req, voice=other_voice))
    assert n_voice == 1
    assert len(cached._prompt_states) == 2  # the LRU keeps the newest two (seed 4, other voice)
    _, n_evicted, _ = run(cached, req)
    assert n_evicted == 1


def test_non_streamed_requests_make_the_official_call(engine, recomputing, voice):
    req = _req(voice, watchdog=LONGER, stream=False)
    a, _ = _run(engine, req)
    b, _ = _run(recomputing, req)
    assert len(a) == len(b) == 1
    np.testing.assert_array_equal(a[0].samples, b[0].samples)


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
    assert pick_dtype("bf16", torch.device("cpu")) == torch.bfloat16
    with pytest.raises(ConfigError, match="fp16"):
        pick_dtype("fp16", torch.device("cpu"))
    with pytest.raises(ConfigError):
        pick_dtype("int3", torch.device("cpu"))


def test_precision_choices_are_decided_in_one_place():
    from engine.cli import build_parser
    from engine.errors import ConfigError

    cpu = torch.device("cpu")
    assert PRECISIONS == ("auto", "fp32", "bf16", "fp16", "int8")
    assert pick_precision("auto", cpu) == Precision("fp32", "fp32", torch.float32)
    assert pick_precision("bfloat16", cpu) == Precision("bf16", "bf16", torch.bfloat16)  # old app settings
    assert pick_precision(torch.float32, cpu).name == "fp32"
    int8 = pick_precision("int8", cpu)
    assert int8.lm in ("int8w", "int8") and int8.flow == torch.float32 and int8.hift == torch.float32
    assert "flow fp32" in int8.describe()
    assert all(p.hift == torch.float32 for p in map(lambda n: pick_precision(n, cpu), ("fp32", "bf16", "int8")))
    assert precision_name("float16") == "fp16" and precision_name("AUTO") == "auto"
    with pytest.raises(ConfigError, match="fp32, bf16 or int8"):
        pick_precision("fp16", cpu)
    with pytest.raises(ConfigError, match="CPU precision.*fp16 or bf16"):
        pick_precision("int8", torch.device("mps"))
    with pytest.raises(ConfigError, match="auto, fp32, bf16, fp16, int8"):
        pick_precision("fp8", cpu)
    # The CLI offers exactly the engine's choices and leaves "auto" to the engine.
    args = build_parser().parse_args(["synth", "--text", "x", "-o", "x.wav"])
    assert args.dtype == "auto"
    for name in PRECISIONS:
        assert build_parser().parse_args(["synth", "--dtype", name, "-o", "x.wav"]).dtype == name


def _greedy_picks(engine: Engine, voice, forced: list[int] | None = None, text: str = "Tiny models talk a lot."):
    """The LM's greedy choice at every step. With ``forced`` the LM is fed those tokens instead of its own
    (teacher forcing), so one early disagreement does not make every later step differ."""
    from engine.frontend.frontend import PromptFeatures

    eos = engine.cfg.lm.speech_token_size
    prompt = PromptFeatures(voice.speech_tokens.reshape(1, -1), voice.speech_feat[None], voice.embedding[None])
    inputs = engine._inputs(_req(voice, text=text), text, prompt)
    picks: list[int] = []

    def sampler(scores, decoded, rng):
        picks.append(int(torch.argmax(scores[:eos])))
        return forced[len(decoded)] if forced is not None else picks[-1]

    # Never EOS (argmax over speech tokens only): both runs take max_len = 4 tokens per text token.
    for _ in engine.lm.generate(inputs.text.reshape(-1), inputs.prompt_text.reshape(-1),
                                inputs.llm_prompt_speech_token.reshape(-1), rng=PortableRandom(0),
                                sampler=sampler, max_token_text_ratio=4):
        pass
    return picks


@pytest.mark.parametrize("precision", ["bf16", "int8"])
def test_each_cpu_precision_end_to_end(engine, voice, tiny_model_dir, precision):
    e = Engine.load(tiny_model_dir, device="cpu", dtype=precision, normalizer="none")
    assert e.precision.name == precision and e.incremental_flow
    flow_dtype = torch.bfloat16 if precision == "bf16" else torch.float32
    assert {p.dtype for p in e.flow.parameters()} == {flow_dtype} and e.dtype == flow_dtype
    assert {p.dtype for p in e.hift.parameters()} == {torch.float32}
    if precision == "bf16":
        assert {p.dtype for p in e.lm.parameters()} == {torch.bfloat16}
    else:  # the decoder layers' Linears hold int8 weights; no float Linear is left in them
        linears = [m for m in e.lm.qwen.model.layers.modules() if type(m) is torch.nn.Linear]
        assert not linears
    chunks, audio = _run(e, _req(voice, watchdog=LONGER))
    assert len(chunks) >= 2 and chunks[-1].is_last  # streamed: a chunk before the final call
    assert audio.dtype == np.float32 and np.isfinite(audio).all() and np.abs(audio).max() > 0
    assert audio.shape == (chunks[-1].n_speech_tokens * 960,)
    # Greedy tokens agree with fp32 at most steps (teacher-forced on fp32's tokens).
    ref = _greedy_picks(engine, voice)
    got = _greedy_picks(e, voice, forced=ref)
    assert len(ref) >= 20 and len(got) == len(ref)
    assert np.mean(np.array(got) == np.array(ref)) >= 0.8


def test_fp16_needs_a_gpu(tiny_model_dir):
    from engine.errors import ConfigError

    with pytest.raises(ConfigError, match="fp16 is not supported on the CPU"):
        Engine.load(tiny_model_dir, device="cpu", dtype="fp16", normalizer="none")


def test_cancel_during_the_flow_stops_the_running_pass(engine, voice, monkeypatch):
    """Cancelling from another thread while the flow runs stops the estimator pass that is running (it polls
    between its stages); no later pass begins."""
    token = CancelToken()
    started = threading.Event()
    real = engine.flow.decoder.estimator.forward_chunk
    began_after_cancel: list[bool] = []

    def slow(*args, **kwargs):  # 50 ms per ODE step; the first waits until the cancel came
        began_after_cancel.append(token.cancelled)
        if len(began_after_cancel) == 1:
            started.set()
            deadline = time.perf_counter() + 10
            while not token.cancelled and time.perf_counter() < deadline:
                time.sleep(0.005)
        time.sleep(0.05)
        return real(*args, **kwargs)

    monkeypatch.setattr(engine.flow.decoder.estimator, "forward_chunk", slow)
    canceller = threading.Thread(target=lambda: started.wait(60) and token.cancel())
    canceller.start()
    with pytest.raises(Cancelled, match="cancelled"):
        list(engine.synthesize(_req(voice, watchdog=LONGER), cancel=token))
    canceller.join(10)
    assert began_after_cancel == [False]
