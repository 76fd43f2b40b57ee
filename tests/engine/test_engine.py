"""The Engine end to end on the tiny model (real frontend, LM, flow and HiFT); fixtures in conftest.py."""
from __future__ import annotations

import threading
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from engine import (MODES, PRECISIONS, Cancelled, CancelToken, Engine, FinalCall, FlowMode, GenerationError,
                    InputError, Precision, Runtime, TextInputError, Watchdog, pick_device, pick_precision,
                    precision_name)
from engine.cli import write_wav
from engine.parity.tolerance import utterance_wave_bound
from engine.rng import PortableRandom
from engine.voices import VoiceLibrary
from tinyengine import LONGER, PROMPT_TEXT, request as _req, run as _run


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


@pytest.fixture(scope="module")
def recomputing(engine: Engine) -> Engine:
    """The reference's streaming: every chunk call re-runs the flow over all tokens, full-attention final call."""
    return engine.with_runtime(Runtime(flow_mode=FlowMode.RECOMPUTE))

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
    chunks, _ = _run(engine, _req(voice, text="One."))
    assert {c.sentence_index for c in chunks} == {0}
    # Pre-split pieces are spoken as they are (the real splitter would merge two short sentences).
    two = _req(voice, text="", pieces=("First one", "Second one"), sentence_pause_s=0.1, seam_fade_s=0.005)
    chunks, audio = _run(engine, two)
    assert [c.sentence_index for c in chunks if c.sentence_end] == [0, 1]
    end0 = next(c for c in chunks if c.sentence_end and c.sentence_index == 0)
    assert np.all(end0.samples[-2400:] == 0)  # the pause
    first1 = next(c for c in chunks if c.sentence_index == 1)
    assert abs(first1.samples[0]) < 0.05  # faded in from silence: no click at the seam
    assert chunks[-1].is_last and chunks[-1].n_sentences == 2


def test_default_engine_streams_incrementally(engine):
    plan = engine.stream_plan(True)
    assert plan.flow_mode is FlowMode.INCREMENTAL and plan.final_call is FinalCall.STREAMING_MASKS
    assert engine.precision.name == "fp32" and engine.dtype == torch.float32  # auto on CPU
    assert not engine.stream_plan(False).incremental  # a non-streamed sentence is the official call


def test_streaming_paths_agree(engine, recomputing, voice):
    """Incremental chunks equal the recomputing (reference) chunks; the final call is the reference's
    full-attention pass with FinalCall.FULL_ATTENTION and the streaming-mask pass otherwise, on both paths."""
    req = _req(voice, watchdog=LONGER)
    reference, _ = _run(recomputing, req)  # official chunks + official final
    fast, _ = _run(engine, req)  # incremental chunks + streaming-mask final (the default)
    inc_official, _ = _run(engine.with_runtime(Runtime(final_call=FinalCall.FULL_ATTENTION)), req)
    rec_streaming_final, _ = _run(engine.with_runtime(Runtime(flow_mode=FlowMode.RECOMPUTE,
                                                              final_call=FinalCall.STREAMING_MASKS)), req)
    assert len(reference) >= 2  # at least one chunk call and the final call
    for chunks in (fast, inc_official, rec_streaming_final):
        assert [c.samples.shape for c in chunks] == [c.samples.shape for c in reference]
        for a, b in zip(chunks[:-1], reference[:-1]):
            np.testing.assert_allclose(a.samples, b.samples, atol=WAVE_TOL)
    np.testing.assert_allclose(inc_official[-1].samples, reference[-1].samples, atol=WAVE_TOL)
    np.testing.assert_allclose(fast[-1].samples, rec_streaming_final[-1].samples, atol=WAVE_TOL)
    # The two kinds of final call really are different computations (full attention sees the future).
    assert np.abs(fast[-1].samples - reference[-1].samples).max() > 10 * WAVE_TOL


def test_prompt_flow_state_is_reused_bit_identically(engine, voice, parity_dir):
    """The post-prompt flow state is computed once per voice + seed and reused by later sentences and
    requests; the audio equals a fresh start every time, and another seed or voice misses."""
    cached = engine.with_runtime(Runtime(prompt_states=2))
    fresh = engine.with_runtime(Runtime(prompt_states=0))
    req = _req(voice, text="", pieces=("Tiny models talk quite a lot", "Small ones sing along too"),
               watchdog=LONGER, seed=3)

    def run(eng, r):
        before = eng.prompt_states.made
        chunks, samples = _run(eng, r)
        return samples, eng.prompt_states.made - before, len(chunks)

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
    assert len(cached.prompt_states) == 2  # the LRU keeps the newest two (seed 4, other voice)
    _, n_evicted, _ = run(cached, req)
    assert n_evicted == 1


def test_non_streamed_requests_make_the_official_call(engine, recomputing, voice):
    req = _req(voice, watchdog=LONGER, stream=False)
    a, _ = _run(engine, req)
    b, _ = _run(recomputing, req)
    assert len(a) == len(b) == 1
    np.testing.assert_array_equal(a[0].samples, b[0].samples)


def test_cancel_from_another_thread_lands_within_one_lm_step(engine, voice):
    from engine.llm.sampling import make_ras_sampler

    token = CancelToken()
    started, cancelled = threading.Event(), threading.Event()
    ras = make_ras_sampler(engine.cfg.lm.sampling)
    steps = {"total": 0, "after_cancel": 0}

    def sampler(scores, decoded, rng):
        steps["total"] += 1
        if cancelled.is_set():
            steps["after_cancel"] += 1
        if steps["total"] == 5:
            started.set()
        return ras(scores, decoded, rng)

    result: dict = {}

    def worker():
        try:
            list(engine.synthesize(_req(voice, watchdog=Watchdog(max_tokens_per_text_token=20)), cancel=token,
                                   sampler=sampler))
            result["outcome"] = "finished"
        except Cancelled:
            result["outcome"] = "cancelled"

    th = threading.Thread(target=worker)
    th.start()
    assert started.wait(60)
    token.cancel()
    cancelled.set()
    th.join(60)
    assert result["outcome"] == "cancelled"
    # The LM worker may be inside one step when the flag is set; it polls after every token.
    assert steps["after_cancel"] <= 1 + engine.cpu.decode_ahead


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
    with pytest.raises(InputError, match="not both"):
        list(engine.synthesize(_req(voice, text="Hello.", pieces=("Hello.",))))
    for seed in (-1, 2**64, 1.5):
        with pytest.raises(InputError, match="seed"):
            list(engine.synthesize(_req(voice, seed=seed)))
    for pause in (float("nan"), 1e9, -1):
        with pytest.raises(InputError, match="pause"):
            list(engine.synthesize(_req(voice, sentence_pause_s=pause)))
    with pytest.raises(TextInputError, match="instruction"):
        list(engine.synthesize(_req(voice, mode="instruct", instruction=None)))
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
    assert pick_precision("bf16", torch.device("cpu")).flow == torch.bfloat16
    with pytest.raises(ConfigError, match="fp16"):
        pick_precision("fp16", torch.device("cpu"))
    with pytest.raises(ConfigError):
        pick_precision("int3", torch.device("cpu"))


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
    assert args.precision == "auto"
    for name in PRECISIONS:
        assert build_parser().parse_args(["synth", "--precision", name, "-o", "x.wav"]).precision == name
        assert build_parser().parse_args(["synth", "--dtype", name, "-o", "x.wav"]).precision == name  # old name


def _greedy_picks(engine: Engine, voice, forced: list[int] | None = None, text: str = "Tiny models talk a lot."):
    """The LM's greedy choice at every step. With ``forced`` the LM is fed those tokens instead of its own
    (teacher forcing), so one early disagreement does not make every later step differ."""
    from engine.engine import SynthesisTask

    eos = engine.cfg.lm.speech_token_size
    task = SynthesisTask(engine, _req(voice, text=text), CancelToken(), None)
    inputs = task._inputs(task.pieces[0])
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
    e = Engine.load(tiny_model_dir, device="cpu", precision=precision, normalizer="none")
    assert e.precision.name == precision and e.stream_plan(True).incremental
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


def test_int8_lm_loaded_in_bf16_holds_the_weights_quantised_from_fp32(engine, tiny_model_dir):
    """Engine.load reads an int8w LM in bf16 (less peak memory); its int8 weights and scales must be exactly
    those quantised from the fp32 LM (what the bench and the hardware check measure)."""
    import copy

    from engine.llm.speech_lm import convert_lm

    e = Engine.load(tiny_model_dir, device="cpu", precision="int8", normalizer="none")
    if e.precision.lm != "int8w":
        pytest.skip("this PyTorch has no int8 weight-only kernel: int8 is the dynamic fp32 path")
    from_fp32 = convert_lm(copy.deepcopy(engine.lm), "int8w")
    got, want = e.lm.state_dict(), from_fp32.state_dict()
    assert got.keys() == want.keys()
    assert all(torch.equal(got[k], want[k]) for k in got)


def test_fp16_needs_a_gpu(tiny_model_dir):
    from engine.errors import ConfigError

    with pytest.raises(ConfigError, match="fp16 is not supported on the CPU"):
        Engine.load(tiny_model_dir, device="cpu", precision="fp16", normalizer="none")


class CancelAtPoll(CancelToken):
    """A token that cancels itself at the ``n``-th poll of the networks' stop hook and counts the polls."""

    def __init__(self, n: int):
        super().__init__()
        self.n, self.polls = n, 0

    def should_stop(self) -> bool:
        self.polls += 1
        if self.polls == self.n:
            self.cancel()
        return super().should_stop()


def test_cancel_inside_a_flow_pass_stops_at_the_next_poll(engine, voice):
    """The flow and vocoder poll the stop hook between their stages: a cancel that arrives while a pass runs
    raises at the next poll, and nothing polls (runs) after it."""
    single = engine.with_runtime(Runtime(decode_ahead=False, flow_lanes=False))  # all polls on this thread
    for n in (1, 7, 30):
        token = CancelAtPoll(n)
        with pytest.raises(Cancelled, match="cancelled"):
            list(single.synthesize(_req(voice, watchdog=LONGER), cancel=token))
        assert token.polls == n  # raised at the very poll that saw the cancel


def test_non_finite_audio_is_an_error_never_output(engine, voice, tiny_model_dir, tmp_path):
    """NaN weights or a voice with huge mel values make the networks produce NaN: the engine raises a typed error
    naming the stage instead of yielding a chunk."""
    import shutil

    from engine import NonFiniteError

    broken = tmp_path / "nan-hift"
    shutil.copytree(tiny_model_dir, broken)
    sd = torch.load(broken / "hift.pt", weights_only=True)
    key = next(k for k in sd if k.startswith("conv_post") and sd[k].dtype.is_floating_point)
    sd[key] = torch.full_like(sd[key], float("nan"))
    torch.save(sd, broken / "hift.pt")
    bad = Engine.load(broken, device="cpu", normalizer="none")
    with pytest.raises(NonFiniteError, match="vocoder") as err:
        for chunk in bad.synthesize(_req(voice)):
            assert np.isfinite(chunk.samples).all()  # never reached with NaN
    assert err.value.stage == "vocoder"
    huge = replace(voice, speech_feat=torch.full_like(voice.speech_feat, 3e38))
    with pytest.raises(NonFiniteError):
        list(engine.synthesize(_req(huge)))
    lm_broken = tmp_path / "nan-llm"
    shutil.copytree(tiny_model_dir, lm_broken)
    sd = torch.load(lm_broken / "llm.pt", weights_only=True)
    sd["llm_decoder.bias"] = torch.full_like(sd["llm_decoder.bias"], float("nan"))
    torch.save(sd, lm_broken / "llm.pt")
    with pytest.raises(NonFiniteError, match="LM"):
        list(Engine.load(lm_broken, device="cpu", normalizer="none").synthesize(_req(voice)))
