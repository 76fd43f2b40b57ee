"""Parity of CosyVoice 3's token2wav with ``goldens/token2wav.npz`` and the calls recorded in ``e2e.npz``.

1. Schedule: :func:`engine.token2wav.plan_token2wav_calls` must give ``meta.json -> token2wav_schedule``.
2. Mel bookkeeping, exactly: each call's new frames ``flow_call<i>/mel[:, :, 2 * token_offset:]`` appended to
   the mel so far must give ``hift_call<i>/mel`` (with voice conversion's 2P - 1 prompt frames that repeats
   one frame per chunk boundary, as the official code does).
3. Emission, exactly: the GOLDEN HiFT outputs sliced from the samples already emitted must give ``yield<i>``.
4. Our vocoder on the golden mels: the official re-run over all mel so far (``hift_call<i>/speech``, the
   chunks: WAVEFORM), and the flat-cost windowed stream (:data:`VocoderMode.WINDOW`), whose chunks must equal
   the re-run's within GIVEN_SOURCE (the same f0 and source; only the decode runs over a shorter window) and
   the official chunks within WAVEFORM.
5. Chained on token2wav.npz: tokens -> our flow (official recompute, and the incremental stream with the
   official slices) -> our vocoder (re-run, and windowed) -> ``yield<i>``. The flow mel is NETWORK; the chunks
   are two computations that differ in float rounding only (our flow is within NETWORK of the official one,
   a few ulps, which HiFT's phase integration amplifies as it does any rounding), so they get the bound the
   policy gives such pairs: WAVEFORM with the set's largest end-to-end spread (``utterance_wave_bound``).
"""
from __future__ import annotations

from typing import Iterator

import numpy as np
import torch

from .. import CheckResult, Fixture, compare, equal
from ..tolerance import GIVEN_SOURCE, NETWORK, WAVEFORM, max_spread


def _t(a: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(a))


def _recorded_new_mels(g, case: str, calls: list[dict], ratio: int) -> list[torch.Tensor] | None:
    mels = []
    for i, call in enumerate(calls):
        key = f"{case}/flow_call{i}/mel"
        if key not in g.files:
            return None
        mels.append(_t(g[key])[:, :, int(call["token_offset"]) * ratio:])
    return mels


def _vocoder_case(prefix: str, fx: Fixture, file: str, case: str, calls: list[dict], hift, ratio: int
                  ) -> Iterator[CheckResult]:
    from ...token2wav_cv3 import Token2Wav3State, VocoderMode, vocode

    g = fx.npz(file)
    mels = _recorded_new_mels(g, case, calls, ratio)
    if mels is None:
        return
    rerun, window, emitted = Token2Wav3State(), Token2Wav3State(), 0
    for i, (call, mel) in enumerate(zip(calls, mels)):
        pre, finalize = f"{case}/hift_call{i}", bool(call["finalize"])
        out, rerun = vocode(hift, VocoderMode.RERUN, rerun, mel, finalize)
        yield compare(f"{prefix}/{pre}/mel", rerun.mel, g[f"{pre}/mel"])  # golden mels sliced and appended: exact
        golden_speech = g[f"{pre}/speech"]
        yield compare(f"{prefix}/{case}/yield{i} [golden HiFT]", golden_speech[:, emitted:], g[f"{case}/yield{i}"])
        emitted = golden_speech.shape[1]
        speech, _ = hift.inference(rerun.mel, finalize)
        yield from fx.check_wave(f"{prefix}/{pre}/speech", speech, file, f"{pre}/speech", WAVEFORM)
        yield from fx.check_wave(f"{prefix}/{case}/yield{i}", out, file, f"{case}/yield{i}", WAVEFORM)
        win, window = vocode(hift, VocoderMode.WINDOW, window, mel, finalize)
        yield from fx.check_wave(f"{prefix}/{case}/yield{i} [windowed vs re-run]", win, file, f"{case}/yield{i}",
                                 GIVEN_SOURCE, want=out.numpy(), spread=0.0)
        yield from fx.check_wave(f"{prefix}/{case}/yield{i} [windowed]", win, file, f"{case}/yield{i}", WAVEFORM)


def _chained(fx: Fixture, g, schedule: dict, flow, hift) -> Iterator[CheckResult]:
    from ...flow.cfm import official_noise
    from ...token2wav import FinalCall, FlowMode, FlowPrompt, StreamPlan
    from ...token2wav_cv3 import Token2Wav3State, VocoderMode, token2wav_call

    cfg = fx.config
    utterance_spread = max_spread(fx.goldens_dir, "e2e.npz", lambda k: "/yield" in k)
    token = _t(g["source_speech_token"])
    prompt = FlowPrompt(_t(g["flow_prompt_speech_token"]), _t(g["prompt_speech_feat"]), _t(g["flow_embedding"]),
                        official_noise())
    for case, calls in schedule.items():
        stream = len(calls) > 1 or bool(calls[0]["stream"])
        for flow_mode, vocoder in ((FlowMode.RECOMPUTE, VocoderMode.RERUN), (FlowMode.INCREMENTAL, VocoderMode.WINDOW)):
            plan = StreamPlan(stream=stream, flow_mode=flow_mode, final_call=FinalCall.FULL_ATTENTION,
                              chunk_size=cfg.chunk_size, pre_lookahead=cfg.flow.pre_lookahead_len,
                              max_hop=4 * cfg.chunk_size, token_mel_ratio=cfg.token_mel_ratio)
            state = Token2Wav3State()
            for i, call in enumerate(calls):
                wave, state = token2wav_call(flow, hift, plan, prompt, state, token[:, : int(call["n_tokens"])],
                                             int(call["token_offset"]), bool(call["finalize"]), vocoder=vocoder,
                                             official_slices=True)
                key = f"{case}/yield{i}"
                spread = max(utterance_spread, fx.spread("token2wav.npz", key))
                yield from fx.check_wave(f"token2wav/chained {flow_mode.value}+{vocoder.value}/{key}", wave,
                                         "token2wav.npz", key, WAVEFORM, spread=spread)
            if flow_mode is FlowMode.RECOMPUTE:
                yield fx.check(f"token2wav/chained/{case}/hift mel", state.mel, "token2wav.npz",
                               f"{case}/hift_call{len(calls) - 1}/mel", NETWORK)


def checks(fx: Fixture) -> Iterator[CheckResult]:
    if not fx.has("token2wav.npz"):
        return
    from ...flow.dit_flow import load_dit_flow
    from ...token2wav import plan_token2wav_calls
    from .hift import load_hift3

    cfg = fx.config
    g = fx.npz("token2wav.npz")
    schedule: dict = fx.meta.get("token2wav_schedule", {})
    prompt_len, total = int(g["flow_prompt_speech_token"].shape[1]), int(g["source_speech_token"].shape[1])
    for case, calls in schedule.items():
        stream = len(calls) > 1 or bool(calls[0]["stream"])
        plan = plan_token2wav_calls(prompt_len, total, stream=stream, chunk_size=cfg.chunk_size,
                                    pre_lookahead=cfg.flow.pre_lookahead_len, max_hop=4 * cfg.chunk_size)
        yield equal(f"token2wav/{case}/schedule", [c.as_dict() for c in plan], calls)
    hift = load_hift3(fx)
    recorded = [("token2wav", "token2wav.npz", schedule)]
    if fx.has("e2e.npz"):
        recorded.append(("token2wav/e2e", "e2e.npz", fx.meta.get("e2e_schedule", {})))
    for prefix, file, cases in recorded:
        for case, calls in cases.items():
            yield from _vocoder_case(prefix, fx, file, case, calls, hift, cfg.token_mel_ratio)
    yield from _chained(fx, g, schedule, load_dit_flow(fx.model_dir, cfg), hift)
