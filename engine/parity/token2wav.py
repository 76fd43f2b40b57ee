"""Parity of the token2wav streaming stitch against ``goldens/token2wav.npz`` (README section 8).

1. Schedule: :func:`engine.token2wav.plan_token2wav_calls` must give ``meta.json -> token2wav_schedule``.
2. Stitch, strictly: the GOLDEN HiFT outputs (``hift_call<i>/speech``, with the next call's golden
   ``cache_source`` as the kept source tail) go through :func:`engine.token2wav.stitch`; every yielded chunk
   must equal ``yield<i>`` exactly (STITCH: float64 window products rounded once).
3. Stitch with our HiFT: the GOLDEN flow mels (``<case>/flow_call<i>/mel``) go through our mel caching, HiFT
   and stitching, so these checks do not depend on the flow port; every HiFT input (mel with cached frames,
   exact; cache_source, EXCITATION), raw HiFT output and yielded chunk (WAVEFORM) is compared. The same is done
   for the recorded calls in ``e2e.npz`` (three streaming calls, two of them cached).
4. Chained: tokens -> our flow -> our stitch -> ``yield<i>`` (flow mel NETWORK, chunks WAVEFORM).

Each bound is the tolerance policy's (:mod:`engine.parity.tolerance`) with the key's noise floor. HiFT noise:
the goldens use hift.npz's ``noise_rand_ini`` / ``noise_randn_buffer`` on every call.
"""
from __future__ import annotations

import importlib
from typing import Any, Iterator

import numpy as np
import torch

from . import CheckResult, Fixture, compare, equal
from .hift import golden_noise
from .tolerance import EXCITATION, NETWORK, STITCH, WAVEFORM


def _t(a: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(a))


def _replayed_stitch(prefix: str, fx: Fixture, file: str, case: str, calls: list[dict], n_keep: int
                     ) -> Iterator[CheckResult]:
    """The official HiFT outputs through our stitch: the chunks must be the official ones bit for bit."""
    from ..token2wav import VocoderState, stitch

    g = fx.npz(file)
    state = VocoderState()
    for i, call in enumerate(calls):
        pre = f"{case}/hift_call{i}"
        if f"{pre}/speech" not in g.files:
            return
        nxt = f"{case}/hift_call{i + 1}/cache_source"
        source_tail = _t(g[nxt]) if nxt in g.files else torch.zeros(1, 1, n_keep)
        out, state = stitch(_t(g[f"{pre}/speech"]), source_tail, _t(g[f"{pre}/mel"]), state,
                            finalize=bool(call["finalize"]), n_keep=n_keep)
        # spread=0: the key's noise floor is the chaos upstream of HiFT's output, which the goldens replace here
        yield fx.check(f"{prefix}/{case}/yield{i} [golden HiFT]", out, file, f"{case}/yield{i}", STITCH, spread=0.0)


def _stitch_case(prefix: str, fx: Fixture, file: str, case: str, calls: list[dict], hift, noise, mel_ratio: int,
                 mels: list[torch.Tensor] | None = None) -> Iterator[CheckResult]:
    """Run our stitch over one recorded case; ``mels`` replaces the golden flow mels (chained check)."""
    from ..token2wav import VocoderState, hift_inputs, vocode_chunk

    g = fx.npz(file)
    state = VocoderState()
    for i, call in enumerate(calls):
        key = f"{case}/flow_call{i}/mel"
        if mels is None and key not in g.files:
            return
        flow_mel = mels[i] if mels is not None else _t(g[key])
        mel = flow_mel[:, :, int(call["token_offset"]) * mel_ratio:]
        if mels is None:  # HiFT-level checks only make sense on the golden mels
            pre = f"{case}/hift_call{i}"
            hift_mel, cache_source = hift_inputs(mel, state)
            # golden mels sliced and concatenated: exact
            yield compare(f"{prefix}/{pre}/mel", hift_mel, g[f"{pre}/mel"])
            got_cache = cache_source if cache_source is not None else torch.zeros(1, 1, 0)
            yield fx.check(f"{prefix}/{pre}/cache_source", got_cache, file, f"{pre}/cache_source", EXCITATION)
            speech, _ = hift.inference(hift_mel, cache_source, noise=noise)
            yield from fx.check_wave(f"{prefix}/{pre}/speech", speech, file, f"{pre}/speech", WAVEFORM)
        out, state = vocode_chunk(hift, mel, state, finalize=bool(call["finalize"]), noise=noise)
        yield from fx.check_wave(f"{prefix}/{case}/yield{i}", out, file, f"{case}/yield{i}", WAVEFORM)


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
            yield fx.check(f"token2wav/chained/{case}/flow_call{i}/mel", mels[-1], "token2wav.npz",
                           f"{case}/flow_call{i}/mel", NETWORK)
        yield from _stitch_case("token2wav/chained", fx, "token2wav.npz", case, calls, hift, noise,
                                cfg.token_mel_ratio, mels=mels)


def checks(fx: Fixture) -> Iterator[CheckResult]:
    if not fx.has("token2wav.npz"):
        return
    from ..token2wav import MEL_CACHE_FRAMES, plan_token2wav_calls
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
    n_keep = MEL_CACHE_FRAMES * hift.upsample_factor
    recorded = [("token2wav", "token2wav.npz", schedule)]
    if fx.has("e2e.npz"):
        recorded.append(("token2wav/e2e", "e2e.npz", fx.meta.get("e2e_schedule", {})))
    for prefix, file, cases in recorded:
        for case, calls in cases.items():
            yield from _replayed_stitch(prefix, fx, file, case, calls, n_keep)
            yield from _stitch_case(prefix, fx, file, case, calls, hift, noise, cfg.token_mel_ratio)
    yield from _chained(fx, g, schedule, hift, noise)
