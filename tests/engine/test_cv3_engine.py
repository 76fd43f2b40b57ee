"""The product path with CosyVoice 3: the real Engine on the tiny CV3 folder (official layout, random weights),
the ``timbre synth`` CLI in a subprocess and the speech server with the ``openai`` client.

The tiny CosyVoice 3 LM may say EOS early (CosyVoice 3's min_len does not mask it, README section 14.1), so
the tests that need several streamed chunks use the goldens' greedy sampler (:func:`engine.parity.lm.greedy_sampler`:
argmax until ``stop_at`` tokens, then EOS); the seed tests use the real sampler.
"""
from __future__ import annotations

import contextlib
import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from engine import (MODES, Cancelled, CancelToken, Engine, FinalCall, FlowMode, InputError, Runtime, SynthesisRequest,
                    Watchdog)
from engine.config import COSYVOICE2, COSYVOICE3
from engine.engine import FlowNoise, SynthesisTask
from engine.parity import Fixture
from engine.parity.lm import greedy_sampler
from engine.parity.tolerance import WAVEFORM, utterance_wave_bound
from engine.vocoder.causal_hift import CausalHiFT
from engine.voices import VoiceFamilyError, VoiceLibrary, read_voice_file, write_voice_file

ZH_TRANSCRIPT = "今天天气很好，我们去公园散步。"  # what prompt_zh_24k.wav says (the fixture's wavs.json)
TEXT = "Tiny models talk a lot."
NO_WATCHDOG = Watchdog(enabled=False)


@pytest.fixture(scope="module")
def cv3(tiny_cv3_model_dir: Path) -> Engine:
    return Engine.load(tiny_cv3_model_dir, device="cpu", normalizer="none")


@pytest.fixture(scope="module")
def cv3_voice(cv3: Engine, parity_cv3_dir: Path):
    return cv3.make_voice(parity_cv3_dir / "wavs" / "prompt_zh_24k.wav", ZH_TRANSCRIPT, name="Zh", language="zh")


def long_sampler(engine: Engine, n: int = 100):
    """n tokens, then EOS: with the 104-token prompt, chunk calls at 49 and 98 tokens, then the final call."""
    return greedy_sampler(n, engine.lm.eos_token, engine.lm.cfg.speech_token_size)


def run(engine: Engine, req: SynthesisRequest, **kw):
    chunks = list(engine.synthesize(req, **kw))
    return chunks, np.concatenate([c.samples for c in chunks])


def test_load_recognises_the_family(cv3, engine):
    assert cv3.family == COSYVOICE3 and cv3.family_name == "CosyVoice 3" and cv3.supports_phoneme_markup
    assert isinstance(cv3.hift, CausalHiFT) and cv3.sample_rate == 24000
    assert engine.family == COSYVOICE2 and not engine.supports_phoneme_markup  # the CosyVoice 2 tiny model
    assert cv3.with_runtime(Runtime(flow_mode=FlowMode.RECOMPUTE)).family == COSYVOICE3


@pytest.mark.parametrize("mode", MODES)
def test_each_mode_streams_finite_audio_at_24khz(cv3, cv3_voice, mode):
    req = SynthesisRequest(TEXT, cv3_voice, mode=mode, instruction="Speak softly.", watchdog=NO_WATCHDOG)
    chunks, audio = run(cv3, req, sampler=long_sampler(cv3))
    assert len(chunks) == 3  # two chunk calls (49 and 98 tokens) and the final call
    assert chunks[-1].is_last and not any(c.is_last for c in chunks[:-1])
    assert all(c.samples.dtype == np.float32 and c.sample_rate == 24000 for c in chunks)
    assert np.isfinite(audio).all() and np.abs(audio).max() > 0
    # 2 mel frames per token, 480 samples per frame; the greedy LM emitted no long silent runs here
    assert audio.shape == (chunks[-1].n_speech_tokens * 960,) and chunks[-1].n_speech_tokens == 100
    t = chunks[-1].timings
    assert t.lm_s > 0 and t.flow_s > 0 and t.vocoder_s > 0


@pytest.mark.parametrize("mode", MODES)
def test_every_mode_carries_the_system_prompt(cv3, cv3_voice, mode):
    """The CosyVoice 3 LM refuses input without <|endofprompt|>; the engine puts the official system prompt in."""
    req = SynthesisRequest(TEXT, cv3_voice, mode=mode, instruction="Speak softly.")
    task = SynthesisTask(cv3, req, CancelToken(), None)
    inputs = task._inputs(task.pieces[0])
    tok = cv3.frontend.tokenizer
    ids = (inputs.prompt_text.reshape(-1).tolist() if inputs.prompt_text is not None else []) + \
        inputs.text.reshape(-1).tolist()
    assert tok.special_ids["<|endofprompt|>"] in ids
    assert tok.encode("You are a helpful assistant.") == ids[:len(tok.encode("You are a helpful assistant."))]


def test_same_seed_same_audio_and_nothing_carries_over(cv3, cv3_voice, tiny_cv3_model_dir):
    req = SynthesisRequest(TEXT, cv3_voice, seed=7, watchdog=Watchdog(max_tokens_per_text_token=8.0))
    _, a = run(cv3, req)
    run(cv3, replace(req, seed=8, mode="cross_lingual"))  # another request in between: caches, streams
    _, b = run(cv3, req)
    _, c = run(cv3, replace(req, seed=8))
    fresh = Engine.load(tiny_cv3_model_dir, device="cpu", normalizer="none")
    _, d = run(fresh, req)  # an engine that never ran anything
    assert np.array_equal(a, b) and np.array_equal(a, d)
    assert a.shape != c.shape or not np.array_equal(a, c)


def test_stream_on_and_off_and_the_official_streaming(cv3, cv3_voice, parity_cv3_dir):
    """Streamed or not, the same tokens and length. Streamed at flat cost (incremental flow, windowed HiFT)
    equals the official streaming (flow and HiFT re-run over everything) within the parity policy's bound for
    one utterance of this model; not streamed is the official single call on both runtimes."""
    bound = utterance_wave_bound(parity_cv3_dir / "goldens")
    official = cv3.with_runtime(Runtime(flow_mode=FlowMode.RECOMPUTE))
    req = SynthesisRequest(TEXT, cv3_voice, seed=3, watchdog=NO_WATCHDOG)
    sampler = long_sampler(cv3)
    fast, s = run(cv3.with_runtime(Runtime(final_call=FinalCall.FULL_ATTENTION)), req, sampler=sampler)
    ref, r = run(official, req, sampler=sampler)
    offline, o = run(cv3, replace(req, stream=False), sampler=sampler)
    offline_ref, o_ref = run(official, replace(req, stream=False), sampler=sampler)
    assert len(fast) == len(ref) == 3 and len(offline) == 1
    assert fast[-1].n_speech_tokens == offline[-1].n_speech_tokens == 100 and s.shape == o.shape == r.shape
    for a, b in zip(fast, ref):
        np.testing.assert_allclose(a.samples, b.samples, atol=bound)
    assert np.array_equal(o, o_ref)


def test_product_path_equals_the_official_end_to_end_goldens(parity_cv3_dir):
    """SynthesisTask with the official fixed flow noise, the reference normaliser and the goldens' greedy sampler
    gives the official ``inference_zero_shot`` chunks (goldens/e2e.npz) within the tolerance policy, streamed
    the official way and at flat cost, and not streamed."""
    fx = Fixture(parity_cv3_dir)
    texts, g = fx.meta["e2e_texts"], fx.npz("e2e.npz")
    base = Engine.load(fx.model_dir, device="cpu", normalizer="inflect")
    system_prompt, transcript = texts["e2e_prompt_text"].split("<|endofprompt|>")
    assert system_prompt == "You are a helpful assistant."  # the engine adds it itself
    voice = base.make_voice(fx.wavs_dir / "prompt_zh_24k.wav", transcript, name="Zh")
    sampler = greedy_sampler(int(texts["e2e_stop_at"]), base.lm.eos_token, base.lm.cfg.speech_token_size)
    for runtime in (Runtime(flow_noise=FlowNoise.OFFICIAL, flow_mode=FlowMode.RECOMPUTE),
                    Runtime(flow_noise=FlowNoise.OFFICIAL, final_call=FinalCall.FULL_ATTENTION)):
        e = base.with_runtime(runtime)
        for case, stream in (("zero_shot_nonstream", False), ("zero_shot_stream", True)):
            req = SynthesisRequest(texts["e2e_tts_text"], voice, stream=stream, watchdog=NO_WATCHDOG)
            chunks = list(e.synthesize(req, sampler=sampler))
            n = len([k for k in g.files if k.startswith(f"{case}/yield")])
            assert len(chunks) == n, (runtime, case)
            assert chunks[-1].n_speech_tokens == g[f"{case}/flow_tokens_final"].shape[1]
            for i, chunk in enumerate(chunks):
                for result in fx.check_wave(f"{case} yield{i}", chunk.samples[None], "e2e.npz", f"{case}/yield{i}",
                                            WAVEFORM):
                    assert result.passed, (runtime.flow_mode, result)


def test_cancel_stops_it(cv3, cv3_voice):
    token = CancelToken()
    chunks = cv3.synthesize(SynthesisRequest(TEXT, cv3_voice, watchdog=NO_WATCHDOG), cancel=token,
                            sampler=long_sampler(cv3))
    next(chunks)
    token.cancel()
    with pytest.raises(Cancelled):
        next(chunks)
    # Mid-decoding, before the first chunk (set at the LM's 10th step): no audio comes, the LM stops there.
    token, greedy, steps = CancelToken(), long_sampler(cv3), []

    def cancelling(scores, decoded, rng):
        steps.append(len(decoded))
        if len(decoded) == 10:
            token.cancel()
        return greedy(scores, decoded, rng)

    got = []
    with pytest.raises(Cancelled):
        for chunk in cv3.synthesize(SynthesisRequest(TEXT, cv3_voice, watchdog=NO_WATCHDOG), cancel=token,
                                    sampler=cancelling):
            got.append(chunk)
    assert not got and max(steps) <= 11  # within one LM step (the worker may have drawn the next)
    _, audio = run(cv3, SynthesisRequest(TEXT, cv3_voice, watchdog=NO_WATCHDOG), sampler=long_sampler(cv3))
    assert np.isfinite(audio).all()  # the engine works on after a cancel


def test_a_voice_of_the_other_family_is_refused_and_can_be_remade(cv3, cv3_voice, engine, voice, parity_dir,
                                                                  tmp_path):
    assert voice.family == COSYVOICE2 and cv3_voice.family == COSYVOICE3
    with pytest.raises(VoiceFamilyError) as e:
        cv3.synthesize(SynthesisRequest(TEXT, voice))  # refused when called, before any audio
    assert isinstance(e.value, InputError)
    assert "made with CosyVoice 2" in str(e.value) and "CosyVoice 3" in str(e.value) and "again" in str(e.value)
    with pytest.raises(VoiceFamilyError):
        engine.synthesize(SynthesisRequest(TEXT, cv3_voice))  # and the other way round
    remade = cv3.remake_voice(voice, parity_dir / "wavs" / "prompt_en_22k.wav")
    assert (remade.family, remade.name, remade.transcript, remade.created) == (COSYVOICE3, voice.name,
                                                                               voice.transcript, voice.created)
    _, audio = run(cv3, SynthesisRequest(TEXT, remade, watchdog=Watchdog(max_tokens_per_text_token=5.0)))
    assert np.isfinite(audio).all() and audio.size > 0


def test_the_family_is_saved_and_old_voices_are_cosyvoice2(cv3_voice, voice, tmp_path):
    lib = VoiceLibrary(tmp_path / "lib")
    lib.save(cv3_voice)
    lib.save(voice)
    assert lib.load("Zh").family == COSYVOICE3 and lib.load(voice.name).family == COSYVOICE2
    assert {i.name: i.family for i in lib.list()} == {"Zh": COSYVOICE3, voice.name: COSYVOICE2}
    assert read_voice_file(write_voice_file(cv3_voice, tmp_path / "zh")).family == COSYVOICE3
    # A voice.json written before the family field existed: CosyVoice 2, the only family there was.
    meta_path = next(p for p in (tmp_path / "lib").glob("*/voice.json") if json.loads(p.read_text())["name"] == "Zh")
    meta = json.loads(meta_path.read_text())
    del meta["family"]
    meta_path.write_text(json.dumps(meta))
    assert lib.load("Zh").family == COSYVOICE2
    meta["family"] = "cosyvoice9"
    meta_path.write_text(json.dumps(meta))
    with pytest.raises(Exception, match="model family Timbre does not know"):
        lib.load("Zh")


def test_timbre_synth_cli_with_a_cosyvoice3_folder(tiny_cv3_model_dir, parity_cv3_dir, tmp_path):
    out = tmp_path / "cv3.wav"
    cmd = [sys.executable, "-m", "engine", "synth", "--model", str(tiny_cv3_model_dir), "--device", "cpu",
           "--normalizer", "none", "--offline", "--prompt", str(parity_cv3_dir / "wavs" / "prompt_zh_24k.wav"),
           "--transcript", ZH_TRANSCRIPT, "--text", TEXT, "--seed", "5", "-o", str(out)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, cwd=Path(__file__).parents[2])
    assert proc.returncode == 0, proc.stderr
    data, sr = sf.read(out, dtype="float32")
    assert sr == 24000 and data.ndim == 1 and data.size > 0 and np.isfinite(data).all()
    help_text = subprocess.run([sys.executable, "-m", "engine", "synth", "--help"], capture_output=True, text=True,
                               timeout=120, cwd=Path(__file__).parents[2]).stdout
    assert "FunAudioLLM/CosyVoice2-0.5B" in help_text and "FunAudioLLM/Fun-CosyVoice3-0.5B-2512" in help_text


def test_cli_voices_carry_their_family(tiny_cv3_model_dir, tiny_model_dir, parity_cv3_dir, tmp_path, capsys):
    from engine.cli import main

    lib = str(tmp_path / "voices")
    clip = str(parity_cv3_dir / "wavs" / "prompt_zh_24k.wav")
    cv3_args = ["--model", str(tiny_cv3_model_dir), "--device", "cpu", "--normalizer", "none", "--offline",
                "--voices-dir", lib]
    assert main(["voices", "add", "Zh", *cv3_args, "--prompt", clip, "--transcript", ZH_TRANSCRIPT]) == 0
    assert "for CosyVoice 3" in capsys.readouterr().out
    assert main(["voices", "list", "--voices-dir", lib]) == 0
    assert "CosyVoice 3" in capsys.readouterr().out
    out = tmp_path / "saved.wav"
    assert main(["synth", *cv3_args, "--voice", "Zh", "--text", TEXT, "--no-stream", "-o", str(out)]) == 0
    assert sf.read(out)[1] == 24000
    cv2_args = [*cv3_args]
    cv2_args[1] = str(tiny_model_dir)
    assert main(["synth", *cv2_args, "--voice", "Zh", "--text", TEXT, "-o", str(tmp_path / "no.wav")]) != 0
    assert "made with CosyVoice 3" in capsys.readouterr().err


def test_the_hub_knows_both_repos_and_their_files(tiny_cv3_model_dir):
    from engine.hub import (COSYVOICE3_REPO_ID, DEFAULT_REPO_ID, KNOWN_REPOS, model_files, repo_family,
                            verify_model_folder)

    assert KNOWN_REPOS == {DEFAULT_REPO_ID: COSYVOICE2, COSYVOICE3_REPO_ID: COSYVOICE3}
    assert repo_family("FunAudioLLM/Fun-CosyVoice3-0.5B-2512") == COSYVOICE3
    assert repo_family("someone/CosyVoice3-mirror") == COSYVOICE3 and repo_family("someone/other") == COSYVOICE2
    files = model_files(COSYVOICE3)
    assert "cosyvoice3.yaml" in files and "speech_tokenizer_v3.onnx" in files and "cosyvoice2.yaml" not in files
    assert all((tiny_cv3_model_dir / f).is_file() for f in files)  # the official layout holds each of them
    assert verify_model_folder(tiny_cv3_model_dir, deep=True) == tiny_cv3_model_dir


def test_the_server_speaks_with_a_cosyvoice3_model(cv3, cv3_voice, tmp_path):
    import openai

    from engine.server import ServerConfig, SpeechServer
    from engine.server.formats import pcm16

    lib = VoiceLibrary(tmp_path / "voices")
    lib.save(cv3_voice)
    want = pcm16(cv3.synthesize_all(SynthesisRequest("Hi there.", cv3_voice, seed=4)))
    with contextlib.ExitStack() as stack:
        server = stack.enter_context(SpeechServer(cv3, lib, ServerConfig(port=0)))
        client = openai.OpenAI(base_url=server.base_url, api_key="unused", max_retries=0)
        assert "cosyvoice3" in [m.id for m in client.models.list().data]
        data = client.audio.speech.create(model="cosyvoice3", voice="Zh", input="Hi there.", response_format="pcm",
                                          extra_body={"seed": 4}).content
        assert data == want
