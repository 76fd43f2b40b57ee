"""End-to-end parity: ``goldens/e2e.npz`` through the engine's own per-sentence path.

The reference ran ``inference_zero_shot(tts_text, prompt_text, prompt_wav, stream=False/True)``
with a greedy sampler that stops at ``e2e_stop_at`` tokens, the fixed flow noise (seed 0) and
HiFT noise taken from ``hift.npz``. We build the same inputs with our frontend, inject the same
sampler and noise into :func:`engine.token2wav.speak` with the official flow calls (the loop
:meth:`Engine.synthesize` runs per sentence) and compare speech tokens (exact), the token2wav call
schedule (exact) and
every yielded waveform (WAVEFORM with each chunk's noise floor, :mod:`engine.parity.tolerance`).
"""
from __future__ import annotations

from typing import Iterator, Sequence

import numpy as np
import torch

from . import CheckResult, Fixture, compare, equal
from .tolerance import WAVEFORM

GOLDEN = "e2e.npz"


def greedy_sampler(stop_at: int, eos: int):
    """The goldens' deterministic sampler: EOS once ``stop_at`` tokens exist (if allowed), else argmax."""

    def sample(scores: torch.Tensor, decoded: Sequence[int], rng) -> int:
        if len(decoded) >= stop_at and scores[eos] != -float("inf"):
            return eos
        return int(torch.argmax(scores[:eos]))

    return sample


def checks(fx: Fixture) -> Iterator[CheckResult]:
    if not fx.has("e2e.npz") or "e2e_texts" not in fx.meta:
        return
    from ..flow.cfm import official_noise
    from ..flow.flow import load_flow
    from ..frontend.audio import load_audio
    from ..frontend.frontend import Frontend
    from ..llm.speech_lm import load_lm
    from ..cpu_threads import CpuPlan, SentenceThreads
    from ..rng import TorchRandom
    from ..token2wav import FinalCall, FlowMode, FlowPrompt, StreamPlan, Token2Wav, speak
    from ..watchdog import Watchdog, WatchedTokens
    from ..vocoder.hift import load_hift
    from ..vocoder.source import HiftNoise

    g = fx.npz(GOLDEN)
    texts = fx.meta["e2e_texts"]
    cfg = fx.config
    lm = load_lm(fx.model_dir, cfg)
    flow = load_flow(fx.model_dir, cfg)
    hift = load_hift(fx.model_dir, cfg)
    frontend = Frontend.from_model_dir(fx.model_dir)
    wav_name = fx.meta.get("frontend_texts_used", {}).get("prompt_wav", "prompt_en_22k")
    audio, sr = load_audio(fx.wavs_dir / f"{wav_name}.wav")
    inputs = frontend.zero_shot(texts["e2e_tts_text"], texts["e2e_prompt_text"], frontend.prompt(audio, sr))
    hn = fx.npz("hift.npz")
    hift_noise = HiftNoise(torch.from_numpy(hn["noise_rand_ini"]), torch.from_numpy(hn["noise_randn_buffer"]))
    sampler = greedy_sampler(int(texts["e2e_stop_at"]), cfg.lm.speech_token_size)
    schedules = fx.meta.get("e2e_schedule", {})

    for case, stream in (("zero_shot_nonstream", False), ("zero_shot_stream", True)):
        if f"{case}/speech_tokens" not in g.files:
            continue
        tokens: list[int] = []

        def lm_tokens():
            for t in lm.generate(inputs.text, inputs.prompt_text, inputs.llm_prompt_speech_token,
                                 rng=TorchRandom.seeded(0), sampler=sampler):
                tokens.append(t)
                yield t

        plan = StreamPlan(stream=stream, flow_mode=FlowMode.RECOMPUTE, final_call=FinalCall.FULL_ATTENTION,
                          chunk_size=cfg.chunk_size, pre_lookahead=cfg.flow.pre_lookahead_len,
                          max_hop=4 * cfg.chunk_size, token_mel_ratio=cfg.token_mel_ratio)
        prompt = FlowPrompt(inputs.flow_prompt_speech_token, inputs.prompt_speech_feat, inputs.flow_embedding,
                            official_noise())
        calls: list = []
        t2w = Token2Wav(flow, hift, plan, prompt, noise=hift_noise, on_call=calls.append)
        watched = WatchedTokens(lm_tokens(), Watchdog(enabled=False), int(inputs.text.shape[1]))
        with SentenceThreads(CpuPlan(torch.get_num_threads()), watched, streamed=stream, split_rows=False) as threads:
            pieces = list(speak(watched, t2w, threads))
        yield compare(f"e2e {case}: speech tokens", np.array([tokens]), g[f"{case}/speech_tokens"])
        if case in schedules:
            yield equal(f"e2e {case}: token2wav schedule", [c.as_dict() for c in calls], schedules[case])
        n_yields = len([k for k in g.files if k.startswith(f"{case}/yield")])
        yield equal(f"e2e {case}: number of chunks", len(pieces), n_yields)
        for i in range(min(n_yields, len(pieces))):
            yield from fx.check_wave(f"e2e {case}: yield{i}", pieces[i].wave.numpy()[None], GOLDEN,
                                     f"{case}/yield{i}", WAVEFORM)
        if stream and n_yields == len(pieces):
            whole = np.concatenate([p.wave.numpy() for p in pieces])
            ref = np.concatenate([g[f"{case}/yield{i}"][0] for i in range(n_yields)])
            worst = max(fx.spread(GOLDEN, f"{case}/yield{i}") for i in range(n_yields))
            yield from fx.check_wave(f"e2e {case}: concatenated stream", whole, GOLDEN, f"{case}/yield0", WAVEFORM,
                                     want=ref, spread=worst)
