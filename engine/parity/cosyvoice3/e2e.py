"""End-to-end parity of CosyVoice 3: ``goldens/e2e.npz`` through the engine's own pieces for one sentence.

The reference ran ``inference_zero_shot(tts_text, prompt_text, prompt_wav, stream=False/True)`` with a greedy
sampler that stops at ``e2e_stop_at`` tokens and the model's fixed flow and HiFT noise. Here: the text
frontend's segments (exact), :class:`~engine.frontend.frontend_cv3.CosyVoice3Frontend`, the LM with the same
sampler (tokens exact), the silent-token filter (the final flow call's tokens exact), then
:func:`engine.token2wav_cv3.stream_sentence` twice: as the official code runs it (flow re-run over all
tokens, HiFT re-run over all mel) and at flat cost (incremental flow, windowed HiFT; same official last call).
Schedules exact, every chunk WAVEFORM with its noise floor, the concatenated stream too.
"""
from __future__ import annotations

from typing import Iterator

import numpy as np

from .. import CheckResult, Fixture, compare, equal
from ..lm import greedy_sampler
from ..tolerance import WAVEFORM

GOLDEN = "e2e.npz"


def checks(fx: Fixture) -> Iterator[CheckResult]:
    if not fx.has(GOLDEN) or "e2e_texts" not in fx.meta:
        return
    from ...flow.cfm import official_noise
    from ...flow.dit_flow import load_dit_flow
    from ...frontend.audio import load_audio
    from ...frontend.frontend_cv3 import CosyVoice3Frontend
    from ...frontend.text import reference_text_normalize
    from ...llm.cosyvoice3_lm import drop_long_silences
    from ...rng import TorchRandom
    from ...token2wav import FinalCall, FlowMode, FlowPrompt, StreamPlan
    from ...token2wav_cv3 import VocoderMode, stream_sentence
    from .hift import load_hift3
    from .lm import load_lm3

    g, texts, cfg = fx.npz(GOLDEN), fx.meta["e2e_texts"], fx.config
    lm, flow, hift = load_lm3(fx), load_dit_flow(fx.model_dir, cfg), load_hift3(fx)
    frontend = CosyVoice3Frontend.from_model_dir(fx.model_dir)
    segments = reference_text_normalize(texts["e2e_tts_text"], frontend.tokenizer, split=True)
    if "e2e_text_segments" in texts:
        yield equal("e2e: text segments", segments, texts["e2e_text_segments"])
    wav = fx.meta.get("frontend_texts_used", {}).get("prompt_wav", "prompt_zh_24k")
    audio, sr = load_audio(fx.wavs_dir / f"{wav}.wav")
    prompt_text = reference_text_normalize(texts["e2e_prompt_text"], frontend.tokenizer, split=False)
    inputs = frontend.zero_shot(segments[0], prompt_text, frontend.prompt(audio, sr))
    prompt = FlowPrompt(inputs.flow_prompt_speech_token, inputs.prompt_speech_feat, inputs.flow_embedding,
                        official_noise())
    sampler = greedy_sampler(int(texts["e2e_stop_at"]), lm.eos_token, lm.cfg.speech_token_size)
    tokens = list(lm.generate(inputs.text, inputs.prompt_text, inputs.llm_prompt_speech_token,
                              rng=TorchRandom.seeded(0), sampler=sampler))
    kept = list(drop_long_silences(tokens))
    schedules = fx.meta.get("e2e_schedule", {})
    for case, stream in (("zero_shot_nonstream", False), ("zero_shot_stream", True)):
        if f"{case}/speech_tokens" not in g.files:
            continue
        yield compare(f"e2e {case}: speech tokens", np.array([tokens]), g[f"{case}/speech_tokens"])
        yield compare(f"e2e {case}: flow tokens (silent runs cut)", np.array([kept]), g[f"{case}/flow_tokens_final"])
        for flow_mode, vocoder in ((FlowMode.RECOMPUTE, VocoderMode.RERUN), (FlowMode.INCREMENTAL, VocoderMode.WINDOW)):
            how = f"{flow_mode.value}+{vocoder.value}"
            plan = StreamPlan(stream=stream, flow_mode=flow_mode, final_call=FinalCall.FULL_ATTENTION,
                              chunk_size=cfg.chunk_size, pre_lookahead=cfg.flow.pre_lookahead_len,
                              max_hop=4 * cfg.chunk_size, token_mel_ratio=cfg.token_mel_ratio)
            calls: list = []
            pieces = list(stream_sentence(kept, flow, hift, plan, prompt, vocoder=vocoder, on_call=calls.append))
            if case in schedules:
                yield equal(f"e2e {case} {how}: token2wav schedule", [c.as_dict() for c in calls], schedules[case])
            n_yields = len([k for k in g.files if k.startswith(f"{case}/yield")])
            yield equal(f"e2e {case} {how}: number of chunks", len(pieces), n_yields)
            for i in range(min(n_yields, len(pieces))):
                yield from fx.check_wave(f"e2e {case} {how}: yield{i}", pieces[i].numpy()[None], GOLDEN,
                                         f"{case}/yield{i}", WAVEFORM)
            if stream and n_yields == len(pieces):
                whole = np.concatenate([p.numpy() for p in pieces])
                ref = np.concatenate([g[f"{case}/yield{i}"][0] for i in range(n_yields)])
                worst = max(fx.spread(GOLDEN, f"{case}/yield{i}") for i in range(n_yields))
                yield from fx.check_wave(f"e2e {case} {how}: concatenated stream", whole, GOLDEN, f"{case}/yield0",
                                         WAVEFORM, want=ref, spread=worst)
