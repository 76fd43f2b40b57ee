"""CosyVoice 3's causal HiFT: parity, the fixed buffers, the flat-cost windowed stream and its context bound."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from engine.config import load_config3, official_config3
from engine.parity.tolerance import GIVEN_SOURCE
from engine.vocoder.causal_hift import CausalHiFT, flow_sizes_of, load_causal_hift
from engine.vocoder.causal_hift_stream import F0_LEFT_CONTEXT, HiftStream, decode_left_context, hift_stream_step
from engine.vocoder.causal_source import FixedExcitation


@pytest.fixture(scope="module")
def hift(tiny_cv3_model_dir: Path) -> CausalHiFT:
    return load_causal_hift(tiny_cv3_model_dir, load_config3(tiny_cv3_model_dir))


@pytest.fixture(scope="module")
def mel(parity_cv3_dir: Path) -> torch.Tensor:
    g = np.load(parity_cv3_dir / "goldens" / "token2wav.npz")["vc_stream/hift_call1/mel"]
    m = torch.from_numpy(np.ascontiguousarray(g))
    return torch.cat([m, m.flip(2), m], dim=2)  # 588 real-looking frames


def test_parity_against_reference_goldens(stage_parity_cv3) -> None:
    names = {r.name for r in stage_parity_cv3("hift")}
    for key in ("noise_rand_ini (replayed)", "noise_sine_waves_used (replayed)", "f0_float64", "f0", "source", "uv",
                "decode_out", "inference_speech", "f0_stream", "decode_out_stream", "inference_speech_stream",
                "inference_speech_zero_noise"):
        assert f"hift/{key}" in names


def test_buffers_drawn_in_pieces_equal_one_draw(hift: CausalHiFT) -> None:
    cfg = hift.cfg
    a = FixedExcitation.official(*hift.flow_sizes, cfg.f0.in_channels, cfg.f0.cond_channels)
    b = FixedExcitation.official(*hift.flow_sizes, cfg.f0.in_channels, cfg.f0.cond_channels)
    pieces = torch.cat([a.noise(0, 1000), a.noise(1000, 300_000), a.noise(301_000, 5)], dim=1)
    assert torch.equal(pieces, b.noise(0, 301_005))


def test_source_of_a_window_with_the_carried_phase_is_the_same_samples(hift: CausalHiFT) -> None:
    f0 = torch.rand(1, 120, generator=torch.Generator().manual_seed(1)) * 300
    whole, _ = hift.source(f0)
    inc = hift.m_source.frame_increments(f0[:, :70], 0, hift.excitation)
    carry = torch.cumsum(torch.cat([torch.zeros(1, 1, 9, dtype=torch.float64), inc.double()], dim=1), dim=1)[:, -1]
    part, _ = hift.source(f0[:, 70:], 70, carry)
    assert torch.equal(part, whole[:, :, 70 * 480:])


@pytest.mark.parametrize("cuts", [(60, 110, 210, 400, 588), (20, 21, 300, 588), (588,)])
def test_windowed_stream_equals_the_official_rerun(hift: CausalHiFT, mel: torch.Tensor, cuts) -> None:
    """Chunk by chunk, the windowed stream returns what the official re-run over all mel so far returns: the
    same f0 and source, the decode over a shorter window (bound: GIVEN_SOURCE, float32 convolutions)."""
    state, prev, emitted = HiftStream.start(), 0, 0
    for end in cuts:
        final = end == mel.shape[2]
        got, state = hift_stream_step(hift, state, mel[:, :, prev:end], finalize=final)
        ref, _ = hift.inference(mel[:, :, :end], final)
        want = ref[:, emitted:]
        assert got.shape == want.shape
        assert float((got - want).abs().max()) <= GIVEN_SOURCE.floor
        prev, emitted = end, ref.shape[1]
    # memory stays bounded: the window's context, the f0 predictor's left context and the look-ahead frames
    assert state.mel.shape[2] <= decode_left_context(hift.cfg) + F0_LEFT_CONTEXT + 8


def test_decode_context_covers_the_receptive_field(hift: CausalHiFT) -> None:
    """The earliest mel frame and source sample an output sample depends on (autograd) lie within the bound."""
    frames = 120
    m = torch.randn(1, 80, frames, requires_grad=True)
    s = (0.1 * torch.randn(1, 1, frames * 480)).requires_grad_(True)
    with torch.enable_grad():
        out = hift.decode(m, s, True)
        gm, gs = torch.autograd.grad(out[0, 100 * 480], [m, s])
    first_frame = int((gm.abs().sum(1)[0] > 0).nonzero().min())
    first_sample = int((gs.abs()[0, 0] > 0).nonzero().min())
    reach = max(100 - first_frame, (100 * 480 - first_sample) / 480)
    assert reach <= decode_left_context(hift.cfg)


def test_official_size_matches_official_shapes_and_buffers(parity_cv3_dir: Path) -> None:
    shapes = json.loads((parity_cv3_dir / "official_shapes.json").read_text())
    cfg = official_config3()
    with torch.device("meta"):
        hift = CausalHiFT(cfg.hift, flow_sizes_of(cfg))
    assert {k: list(v.shape) for k, v in hift.state_dict().items()} == shapes["hift.pt"]
    want = shapes["official_fixed_noise"]["buffers"]["hift.m_source.l_sin_gen.rand_ini"]["values"]
    assert hift.excitation.rand_ini[0].tolist() == want  # the replayed official buffer, bit for bit
