"""The CosyVoice 3 flow (pre-lookahead + DiT): parity, its incremental stream, cancellation, official size."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from engine.config import official_config3
from engine.errors import Cancelled
from engine.flow.cfm import official_noise
from engine.flow.dit_flow import DiTFlow, load_dit_flow
from engine.parity.tolerance import NETWORK


@pytest.fixture(scope="module")
def flow(tiny_cv3_model_dir: Path) -> DiTFlow:
    return load_dit_flow(tiny_cv3_model_dir)


@pytest.fixture(scope="module")
def vc(parity_cv3_dir: Path) -> dict[str, torch.Tensor]:
    g = np.load(parity_cv3_dir / "goldens" / "token2wav.npz")
    return {k: torch.from_numpy(np.ascontiguousarray(g[k])) for k in
            ("source_speech_token", "flow_prompt_speech_token", "prompt_speech_feat", "flow_embedding")}


def test_parity_against_reference_goldens(stage_parity_cv3) -> None:
    names = {r.name for r in stage_parity_cv3("flow")}
    for case in ("nonstream", "stream_finalize", "stream_chunk", "nonstream_noprompt"):
        assert {f"flow/{case}/mu", f"flow/{case}/estimator_step0_out", f"flow/{case}/mel"} <= names
    assert any("incremental_call" in n for n in names)


@pytest.mark.parametrize("cuts", [(30, 60, 97), (26, 27, 80, 97), (97,)])
def test_incremental_stream_equals_one_streaming_pass(flow: DiTFlow, vc, cuts) -> None:
    """Any way of feeding the tokens gives the one-shot streaming-mask mel: chunk-causal attention and causal
    convolutions make earlier frames independent of later ones (bound: NETWORK, float reordering only)."""
    p_tok, p_feat, emb, tok = vc["flow_prompt_speech_token"], vc["prompt_speech_feat"], vc["flow_embedding"], \
        vc["source_speech_token"]
    whole = flow.inference(tok, p_tok, p_feat, emb, streaming=True, finalize=True, noise=official_noise())
    state, pieces, fed = flow.start_stream(p_tok, p_feat, emb, noise=official_noise()), [], 0
    for end in cuts:
        mel, state = flow.stream_step(state, tok[:, fed:end], finalize=end == tok.shape[1])
        pieces.append(mel)
        fed = end
    got = torch.cat(pieces, dim=2)
    assert got.shape == whole.shape
    assert float((got - whole).abs().max()) <= NETWORK.floor


def test_cancel_lands_inside_the_solve(flow: DiTFlow, vc) -> None:
    calls = []

    def stop() -> bool:  # asked before every ODE step and after every DiT block: the 2nd ask is after block 0
        calls.append(1)
        return len(calls) >= 2

    with pytest.raises(Cancelled, match="flow was cancelled"):
        flow.inference(vc["source_speech_token"], vc["flow_prompt_speech_token"], vc["prompt_speech_feat"],
                       vc["flow_embedding"], streaming=False, finalize=True, should_stop=stop)
    assert len(calls) == 2  # stopped inside the first estimator pass, not at the next ODE step


def test_official_size_matches_official_shapes(parity_cv3_dir: Path) -> None:
    want = json.loads((parity_cv3_dir / "official_shapes.json").read_text())["flow.pt"]
    with torch.device("meta"):
        flow = DiTFlow(official_config3().flow)
    assert {k: list(v.shape) for k, v in flow.state_dict().items()} == want
