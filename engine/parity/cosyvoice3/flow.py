"""Parity of the CosyVoice 3 flow (pre-lookahead + DiT CFM) with ``flow.npz`` and the flow calls recorded in
``token2wav.npz`` / ``e2e.npz``: CosyVoice 2's checks (:mod:`engine.parity.flow`: mu, the first DiT call given
its recorded inputs, the mel per case; every recorded call re-run; the incremental stream against the
official chunk calls) on :class:`~engine.flow.dit_flow.DiTFlow`, and the official CFM noise against
``meta.json -> fixed_noise``. Bounds: NETWORK with each key's noise floor.
"""
from __future__ import annotations

from typing import Iterator


from .. import CheckResult, Fixture
from ..flow import GOLDEN, flow_cases, official_noise_checks, recorded_calls


def checks(fx: Fixture) -> Iterator[CheckResult]:
    if not (fx.has(GOLDEN) or fx.has("token2wav.npz") or fx.has("e2e.npz")):
        return
    from ...flow.cfm import official_noise
    from ...flow.dit_flow import load_dit_flow

    flow = load_dit_flow(fx.model_dir, fx.config)
    want = fx.meta.get("fixed_noise", {}).get("flow.decoder.rand_noise", {}).get("sha256")
    if fx.has(GOLDEN):
        if want:
            yield from official_noise_checks(fx.npz(GOLDEN)["rand_noise_used"], want)
        yield from flow_cases(fx, flow)
    noise_z = fx.npz(GOLDEN) if fx.has(GOLDEN) else {"rand_noise_used": official_noise().numpy()}
    yield from recorded_calls(fx, flow, noise_z)
