"""Parity of the flow (encoder + CFM) with ``flow.npz`` and the flow calls in ``token2wav.npz`` / ``e2e.npz``.

* ``flow.npz``: per case, mu (encoder output), the first estimator call (given the recorded inputs) and the mel.
* ``token2wav.npz`` / ``e2e.npz``: every recorded ``<run>/flow_call<i>`` (token prefix, streaming, finalize)
  rerun with that file's prompt (token2wav: its own ``flow_prompt_speech_token`` / ``prompt_speech_feat`` /
  ``flow_embedding``; e2e: ``frontend.npz`` ``zero_shot/*``), plus the incremental stream
  (:meth:`Flow.stream_step`) checked against the reference's streaming chunk calls of the same run.
* The reference's noise: ``rand_noise_used`` is passed as the noise, and :func:`official_noise` (what the
  engine offers as the official noise) must hash to ``rand_noise_full_sha256``. ``torch.randn`` itself rounds
  differently under other CPU dispatches (``ATEN_CPU_CAPABILITY=default``), and so would the official code's:
  a hash mismatch passes when the numbers are within RANDN_ROUNDING of the golden prefix (the same seeding
  procedure, other rounding) and fails when they are not (a wrong seed, shape or draw order moves them by O(1)).

Bounds: NETWORK (:mod:`engine.parity.tolerance`) with each key's noise floor.
"""
from __future__ import annotations

import re
from typing import Iterator

import numpy as np
import torch

from . import CheckResult, Fixture, compare, equal
from ..flow.cfm import official_noise, tensor_sha256
from ..flow.flow import StreamingFlow, load_flow
from .tolerance import NETWORK

GOLDEN = "flow.npz"
# torch.randn's Box-Muller under another CPU dispatch: vectorised or scalar log/sin/cos, a few ulps of values
# up to ~5 (measured 1.8e-6 under ATEN_CPU_CAPABILITY=default); a wrong seeding moves values by O(1).
RANDN_ROUNDING = 1e-5


def _t(a: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(a))


def _noise(z, n_frames: int) -> torch.Tensor:
    used = _t(z["rand_noise_used"])
    return used if used.size(2) >= n_frames else official_noise()


def official_noise_checks(used: np.ndarray, want: str) -> Iterator[CheckResult]:
    """:func:`official_noise` against the golden prefix ``used`` and the full tensor's SHA-256 ``want`` (hex)."""
    prefix = compare("flow/official_noise_prefix", official_noise()[:, :, : used.shape[2]], used, RANDN_ROUNDING)
    got = tensor_sha256(official_noise()).hex()
    if got == want:
        yield equal("flow/official_noise_sha256", got, want)
    elif prefix.passed:
        yield CheckResult("flow/official_noise_sha256", 0.0, 0.0, True,
                          f"other bits: torch.randn on this CPU dispatch ({torch.backends.cpu.get_cpu_capability()}) "
                          f"rounds differently, values within {prefix.max_abs_err:.1e} of the golden prefix: "
                          "the same seeding procedure")
    else:
        yield CheckResult("flow/official_noise_sha256", prefix.max_abs_err, 0.0, False,
                          "the noise is not the reference's (wrong seed, shape or draw order)")
    yield prefix


def flow_cases(fx: Fixture, flow: StreamingFlow) -> Iterator[CheckResult]:
    z = fx.npz(GOLDEN)
    if "rand_noise_full_sha256" in z.files:
        yield from official_noise_checks(z["rand_noise_used"], bytes(z["rand_noise_full_sha256"]).hex())
    cases = sorted({k.rsplit("/", 1)[0] for k in z.files if k.endswith("/mel")})
    for case in cases:
        def g(key: str) -> torch.Tensor:
            return _t(z[f"{case}/{key}"])

        streaming, finalize = bool(z[f"{case}/streaming"]), bool(z[f"{case}/finalize"])
        if f"{case}/mu" in z.files:
            mu = flow.encode(g("token"), g("prompt_token"), streaming=streaming, finalize=finalize)
            yield fx.check(f"flow/{case}/mu", mu, GOLDEN, f"{case}/mu", NETWORK)
        if f"{case}/estimator_step0_out" in z.files:
            mask = z[f"{case}/estimator_step0_in_mask"]
            if not np.all(mask == 1):
                yield CheckResult(f"flow/{case}/estimator_step0_out", float("inf"), 0.0, False,
                                  "golden mask has padding; the engine runs unpadded single utterances")
            else:
                with torch.inference_mode():
                    out = flow.decoder.estimator(g("estimator_step0_in_x"), g("estimator_step0_in_mu"),
                                                 g("estimator_step0_in_t"), g("estimator_step0_in_spks"),
                                                 g("estimator_step0_in_cond"), streaming=streaming)
                yield fx.check(f"flow/{case}/estimator_step0_out", out, GOLDEN, f"{case}/estimator_step0_out", NETWORK)
        mel = flow.inference(g("token"), g("prompt_token"), g("prompt_feat"), g("embedding"), streaming=streaming,
                             finalize=finalize, noise=_noise(z, 2 * (g("token").size(1) + g("prompt_token").size(1))))
        yield fx.check(f"flow/{case}/mel", mel, GOLDEN, f"{case}/mel", NETWORK)


def _prompt(fx: Fixture, file: str):
    """(prompt_token, prompt_feat, embedding) the recorded flow calls of ``file`` used."""
    if file == "token2wav.npz":
        z = fx.npz(file)
        keys = ("flow_prompt_speech_token", "prompt_speech_feat", "flow_embedding")
    else:
        if not fx.has("frontend.npz"):
            return None
        z = fx.npz("frontend.npz")
        keys = ("zero_shot/flow_prompt_speech_token", "zero_shot/prompt_speech_feat", "zero_shot/flow_embedding")
    if not all(k in z.files for k in keys):
        return None
    return tuple(_t(z[k]) for k in keys)


def _calls(z) -> dict[str, list[int]]:
    runs: dict[str, list[int]] = {}
    for k in z.files:
        m = re.fullmatch(r"(.+)/flow_call(\d+)/mel", k)
        if m:
            runs.setdefault(m.group(1), []).append(int(m.group(2)))
    return {r: sorted(v) for r, v in sorted(runs.items())}


def recorded_calls(fx: Fixture, flow: StreamingFlow, noise_z) -> Iterator[CheckResult]:
    for file in ("token2wav.npz", "e2e.npz"):
        if not fx.has(file):
            continue
        z = fx.npz(file)
        prompt = _prompt(fx, file)
        runs = _calls(z)
        if prompt is None:
            if runs:
                yield CheckResult(f"flow/{file}: prompt inputs", float("inf"), 0.0, False, "prompt inputs not found")
            continue
        p_token, p_feat, emb = prompt
        stem = file.removesuffix(".npz")
        for run, calls in runs.items():
            chunk_calls = []
            for i in calls:
                pre = f"{run}/flow_call{i}"
                token = _t(z[f"{pre}/token"])
                streaming, finalize = bool(z[f"{pre}/streaming"]), bool(z[f"{pre}/finalize"])
                noise = _noise(noise_z, 2 * (token.size(1) + p_token.size(1)))
                mel = flow.inference(token, p_token, p_feat, emb, streaming=streaming, finalize=finalize, noise=noise)
                yield fx.check(f"flow/{stem}/{pre}/mel", mel, file, f"{pre}/mel", NETWORK)
                if streaming and not finalize:
                    chunk_calls.append((i, token.size(1)))
            if chunk_calls:
                yield from _incremental(fx, flow, file, run, calls, chunk_calls, prompt, noise_z)


def _incremental(fx: Fixture, flow: StreamingFlow, file: str, run: str, calls, chunk_calls, prompt, noise_z
                 ) -> Iterator[CheckResult]:
    """Feed the run's tokens to the incremental stream in the reference's call sizes and compare every frame
    it has produced by each chunk call with that call's golden (the reference recomputes them all)."""
    z, stem = fx.npz(file), file.removesuffix(".npz")
    p_token, p_feat, emb = prompt
    last = f"{run}/flow_call{calls[-1]}/token"
    tokens = _t(z[last])
    noise = _noise(noise_z, 2 * (tokens.size(1) + p_token.size(1)))
    state = flow.start_stream(p_token, p_feat, emb, noise=noise)
    produced = torch.zeros(1, 80, 0)
    fed = 0
    for i, n_tokens in chunk_calls:
        mel, state = flow.stream_step(state, tokens[:, fed:n_tokens], finalize=False)
        fed = n_tokens
        produced = torch.cat([produced, mel], dim=2)
        yield fx.check(f"flow/{stem}/{run}/incremental_call{i}", produced, file, f"{run}/flow_call{i}/mel", NETWORK)
    last_pre = f"{run}/flow_call{calls[-1]}"
    if bool(z[f"{last_pre}/finalize"]) and calls[-1] != chunk_calls[-1][0]:
        # The reference's final call runs non-streaming over everything; its frames after the ones already
        # streamed are what the incremental stream returns with reference_final=True.
        tail, _ = flow.stream_step(state, tokens[:, fed:], finalize=True,
                                   reference_final=not bool(z[f"{last_pre}/streaming"]))
        golden = z[f"{last_pre}/mel"]
        yield fx.check(f"flow/{stem}/{run}/incremental_final_call{calls[-1]}", tail, file, f"{last_pre}/mel",
                       NETWORK, want=golden[:, :, produced.size(2):])


def checks(fx: Fixture) -> Iterator[CheckResult]:
    if not (fx.has("flow.npz") or fx.has("token2wav.npz") or fx.has("e2e.npz")):
        return
    torch.set_grad_enabled(False)
    flow = load_flow(fx.model_dir, fx.config.flow)
    if fx.has("flow.npz"):
        yield from flow_cases(fx, flow)
    noise_z = fx.npz("flow.npz") if fx.has("flow.npz") else {"rand_noise_used": official_noise().numpy()}
    yield from recorded_calls(fx, flow, noise_z)
