"""The networks at the official Fun-CosyVoice3-0.5B size against ``official_shapes.json`` (README section 16).

Built on the meta device from :func:`engine.config.official_config3` (nothing allocated): every parameter and
buffer name and shape of ``llm.pt``, ``flow.pt`` and ``hift.pt`` and their counts, exactly. The official-size
fixed buffers: ``rand_ini``'s values and the full 259 MB ``sine_waves``' SHA-256 from our replay of the
official loader's draws (FIXED_BUFFER: exact).
"""
from __future__ import annotations

import json
import math
from typing import Iterator

import numpy as np
import torch

from .. import CheckResult, Fixture, equal
from ..tolerance import FIXED_BUFFER

FILE = "official_shapes.json"


def official_networks() -> dict[str, torch.nn.Module]:
    """The three networks at official size on the meta device."""
    from ...config import official_config3
    from ...flow.dit_flow import DiTFlow
    from ...llm.cosyvoice3_lm import CosyVoice3LM
    from ...vocoder.causal_hift import CausalHiFT, flow_sizes_of

    cfg = official_config3()
    with torch.device("meta"):
        return {"llm.pt": CosyVoice3LM(cfg.lm), "flow.pt": DiTFlow(cfg.flow),
                "hift.pt": CausalHiFT(cfg.hift, flow_sizes_of(cfg))}


def checks(fx: Fixture) -> Iterator[CheckResult]:
    path = fx.root / FILE
    if not path.is_file():
        return
    want = json.loads(path.read_text(encoding="utf-8"))
    for file_name, module in official_networks().items():
        if file_name not in want:
            continue
        got = {k: list(v.shape) for k, v in module.state_dict().items()}
        expected = {k: list(v) for k, v in want[file_name].items()}
        missing, extra = sorted(set(expected) - set(got)), sorted(set(got) - set(expected))
        wrong = [k for k in expected if k in got and got[k] != expected[k]]
        detail = f"missing {missing[:3]} extra {extra[:3]} shapes {wrong[:3]}" if missing or extra or wrong else ""
        yield CheckResult(f"shapes/{file_name}: every name and shape", 0.0 if not detail else float("inf"), 0.0,
                          not detail, detail or f"{len(got)} tensors")
        counts = want.get("counts", {}).get(file_name)
        if counts:
            yield equal(f"shapes/{file_name}: tensors, values", [len(got), sum(math.prod(s) for s in got.values())],
                        [counts["tensors"], counts["values"]])
    yield from _official_buffers(fx, want.get("official_fixed_noise", {}).get("buffers", {}))


def _official_buffers(fx: Fixture, buffers: dict) -> Iterator[CheckResult]:
    from ...config import official_config3
    from ...vocoder.causal_source import FixedExcitation
    from ...vocoder.causal_hift import flow_sizes_of

    cfg = official_config3()
    f0 = cfg.hift.f0
    excitation = FixedExcitation.official(*flow_sizes_of(cfg), f0.in_channels, f0.cond_channels, f0.num_class)
    rand_ini = buffers.get("hift.m_source.l_sin_gen.rand_ini", {})
    if "values" in rand_ini:
        yield fx.check("shapes/official rand_ini (replayed)", excitation.rand_ini,
                       FILE, "rand_ini", FIXED_BUFFER, want=np.array([rand_ini["values"]], dtype=np.float32),
                       spread=0.0)
    waves = buffers.get("hift.m_source.l_sin_gen.sine_waves", {})
    if "sha256" in waves:
        yield equal("shapes/official sine_waves sha256 (replayed, 259 MB)", excitation.full_sha256(), waves["sha256"])
