"""Parity of the token2wav streaming stitch against ``goldens/token2wav.npz`` (README section 8).

1. Schedule: :func:`engine.token2wav.plan_token2wav_calls` must give ``meta.json -> token2wav_schedule``.
2. Stitch: the GOLDEN flow mels (``<case>/flow_call<i>/mel``) go through our stitching, so these
   checks do not depend on the flow port; every HiFT input (mel with cached frames, cache_source),
   raw HiFT output (``hift_call<i>/speech``) and yielded chunk (``yield<i>``) is compared. The same
   is done for the recorded calls in ``e2e.npz`` (three streaming calls, two of them cached).
3. Chained: when ``engine.flow.flow`` exists, tokens -> our flow -> our stitch -> ``yield<i>``.

HiFT noise: the goldens use hift.npz's ``noise_rand_ini`` / ``noise_randn_buffer`` on every call.
"""
from __future__ import annotations

import importlib
from typing import Any, Iterator

import numpy as np
import torch

from . import CheckResult, Fixture, compare, equal
from .hift import TOL_WAVE_F0, golden_noise

# Mels entering HiFT are golden data (sliced/concatenated), so they must match exactly.
TOL_MEL = 0.0
# Chained through OUR flow. The flow mel is checked at the flow's own tolerance; the waveform is far
# more sensitive than the mel: the NSF integrates f0 to phase over the whole call, so on this set a
# random mel perturbation of 1e-7 (1e-6) changes the waveform by up to 1.7e-3 (2.5e-3) max-abs (peak
# amplitude ~0.5). 1e-2 is the bound that still catches real stitching/flow bugs (those are >= 0.1)
# without failing on float32 rounding; the stitch itself is checked at TOL_WAVE_F0 on golden mels.
TOL_CHAINED_MEL = 1e-4
TOL_CHAINED = 1e-2


def _t(a: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(a))


def _stitch_case(prefix: str, g: Any, case: str, calls: list[dict], hift, noise, mel_ratio: int,
                 mels: list[torch.Tensor] | None = None, tol: float = TOL_WAVE_F0) -> Iterator[CheckResult]:
    """Run our stitch over one recorded case; ``mels`` replaces the golden flow mels (chained check)."""
    from ..token2wav import VocoderState, hift_inputs, vocode_chunk

    state = VocoderState()
    for i, call in enumerate(calls):
        key = f"{case}/flow_call{i}/mel"
        if mels is None and key not in g.files:
            return
        flow_mel = mels[i] if mels is not None else _t(g[key])
        mel = flow_mel[:, :, int(call["token_offset"]) * mel_ratio:]
        if mels is None:  # HiFT-level checks only make sense on the golden mels
            hift_mel, cache_source = hift_inputs(mel, state)
            yield compare(f"{prefix}/{case}/hift_call{i}/mel", hift_mel, g[f"{case}/hift_call{i}/mel"], TOL_MEL)
            want_cache = g[f"{case}/hift_call{i}/cache_source"]
            got_cache = cache_source if cache_source is not None else torch.zeros(1, 1, 0)
            yield compare(f"{prefix}/{case}/hift_call{i}/cache_source", got_cache, want_cache, TOL_MEL)
            speech, _ = hift.inference(hift_mel, cache_source, noise=noise)
            yield compare(f"{prefix}/{case}/hift_call{i}/speech", speech, g[f"{case}/hift_call{i}/speech"], tol)
        out, state = vocode_chunk(hift, mel, state, finalize=bool(call["finalize"]), noise=noise)
        yield compare(f"{prefix}/{case}/yield{i}", out, g[f"{case}/yield{i}"], tol)


def _chained(fx: Fixture, g: Any, schedule: dict, hift, noise) -> Iterator[CheckResult]:
    try:
        flow_mod = importlib.import_module("engine.flow.flow")
    except ModuleNotFoundError as e:
        if e.name in ("engine.flow.flow", "engine.flow"):
            return  # the flow port is not in this build yet
        raise
    cfg = fx.config
    flow = flow_mod.load_flow(fx.model_dir, cfg)
    token = _t(g["source_speech_token"])
    prompt_token, prompt_feat = _t(g["flow_prompt_speech_token"]), _t(g["prompt_speech_feat"])
    embedding = _t(g["flow_embedding"])
    for case, calls in schedule.items():
        mels = []
        for i, call in enumerate(calls):
            with torch.inference_mode():
                out = flow.inference(token[:, : int(call["n_tokens"])], prompt_token, prompt_feat, embedding,
                                     streaming=bool(call["stream"]), finalize=bool(call["finalize"]))
            mels.append(out[0] if isinstance(out, tuple) else out)
            yield compare(f"token2wav/chained/{case}/flow_call{i}/mel", mels[-1], g[f"{case}/flow_call{i}/mel"],
                          TOL_CHAINED_MEL)
        yield from _stitch_case("token2wav/chained", g, case, calls, hift, noise, cfg.token_mel_ratio,
                                mels=mels, tol=TOL_CHAINED)


def checks(fx: Fixture) -> Iterator[CheckResult]:
    if not fx.has("token2wav.npz"):
        return
    from ..token2wav import plan_token2wav_calls
    from ..vocoder.hift import load_hift

    cfg = fx.config
    g = fx.npz("token2wav.npz")
    schedule: dict = fx.meta.get("token2wav_schedule", {})

    prompt_len = int(g["flow_prompt_speech_token"].shape[1])
    total = int(g["source_speech_token"].shape[1])
    for case, calls in schedule.items():
        # A streaming request too short for one chunk degenerates to the single non-stream call,
        # so "streaming" is read off the recorded calls rather than the case name.
        stream = len(calls) > 1 or bool(calls[0]["stream"])
        plan = plan_token2wav_calls(prompt_len, total, stream=stream, chunk_size=cfg.chunk_size,
                                    pre_lookahead=cfg.flow.pre_lookahead_len, max_hop=4 * cfg.chunk_size)
        yield equal(f"token2wav/{case}/schedule", [c.as_dict() for c in plan], calls)

    noise = golden_noise(fx)
    if noise is None:
        return
    hift = load_hift(fx.model_dir, cfg)
    for case, calls in schedule.items():
        yield from _stitch_case("token2wav", g, case, calls, hift, noise, cfg.token_mel_ratio)
    if fx.has("e2e.npz"):
        e2e = fx.npz("e2e.npz")
        for case, calls in fx.meta.get("e2e_schedule", {}).items():
            yield from _stitch_case("token2wav/e2e", e2e, case, calls, hift, noise, cfg.token_mel_ratio)
    yield from _chained(fx, g, schedule, hift, noise)
