"""The CosyVoice 3 networks at official size: every parameter name and shape and the fixed buffers (parity stage)."""
from __future__ import annotations


def test_official_size_and_buffers(stage_parity_cv3) -> None:
    names = {r.name for r in stage_parity_cv3("shapes")}
    assert {"shapes/llm.pt: every name and shape", "shapes/flow.pt: every name and shape",
            "shapes/hift.pt: every name and shape", "shapes/official sine_waves sha256 (replayed, 259 MB)"} <= names
