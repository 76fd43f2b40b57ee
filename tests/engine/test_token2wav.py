"""token2wav: the official streaming schedule and HiFT chunk stitching as pure functions."""
from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from engine.config import load_config
from engine.errors import InputError
from engine.parity import Fixture
from engine.token2wav import (
    MEL_CACHE_FRAMES,
    Token2WavCall,
    VocoderState,
    fade_in_out,
    plan_token2wav_calls,
    token_hop_schedule,
    vocode_chunk,
)
from engine.vocoder import HiftNoise, load_hift

HOP = 480
OVERLAP = MEL_CACHE_FRAMES * HOP


@pytest.fixture(scope="module")
def hift(tiny_model_dir: Path):
    return load_hift(tiny_model_dir, load_config(tiny_model_dir))


def _mel(frames: int, seed: int = 0) -> torch.Tensor:
    return torch.randn(1, 80, frames, generator=torch.Generator().manual_seed(seed)) - 4.0


def _noise(frames: int) -> HiftNoise:
    gen = torch.Generator().manual_seed(11)
    return HiftNoise(torch.rand(1, 9, generator=gen), torch.randn(1, frames * HOP, 9, generator=gen))


def test_parity_against_reference_goldens(stage_parity):
    results = stage_parity("token2wav")
    names = {r.name for r in results}
    assert {"token2wav/vc_stream/schedule", "token2wav/vc_stream/yield0", "token2wav/vc_stream/yield1",
            "token2wav/vc_nonstream/yield0", "token2wav/vc_stream/hift_call1/speech"} <= names


def test_hop_schedule_pads_the_first_hop_and_doubles_to_the_cap():
    hops = [h.hop for h in itertools.islice(token_hop_schedule(95), 5)]
    assert hops == [30, 50, 100, 100, 100]
    assert [h.hop for h in itertools.islice(token_hop_schedule(75), 4)] == [25, 50, 100, 100]
    assert [h.hop for h in itertools.islice(token_hop_schedule(0), 3)] == [25, 50, 100]
    first, second = itertools.islice(token_hop_schedule(94), 2)
    assert (first.token_offset, first.n_tokens) == (0, 34)
    assert (second.token_offset, second.n_tokens) == (31, 84)
    with pytest.raises(InputError):
        next(token_hop_schedule(-1))


def test_plan_matches_reference_and_is_per_request(parity_dir: Path):
    want = Fixture(parity_dir).meta["token2wav_schedule"]
    for _ in range(2):  # the reference leaks its hop into the next request; ours must not
        assert [c.as_dict() for c in plan_token2wav_calls(95, 73, stream=True)] == want["vc_stream"]
        assert [c.as_dict() for c in plan_token2wav_calls(95, 73, stream=False)] == want["vc_nonstream"]
    # e2e's three-call schedule (prompt of 94 tokens, 90 generated).
    e2e = Fixture(parity_dir).meta["e2e_schedule"]["zero_shot_stream"]
    assert [c.as_dict() for c in plan_token2wav_calls(94, 90, stream=True)] == e2e
    # Too few tokens for one chunk: only the final call.
    assert plan_token2wav_calls(95, 20, stream=True) == [Token2WavCall(20, 0, False, True)]


def test_streamed_lengths_add_up_and_state_is_a_value(hift):
    mels = [_mel(40, 1), _mel(50, 2), _mel(23, 3)]
    noise = _noise(70)
    state = VocoderState()
    outs = []
    for i, mel in enumerate(mels):
        final = i == len(mels) - 1
        before = state
        out, state = vocode_chunk(hift, mel, state, finalize=final, noise=noise)
        # Same input state -> same output: nothing is kept on the module between calls.
        again, _ = vocode_chunk(hift, mel, before, finalize=final, noise=noise)
        assert torch.equal(out, again)
        outs.append(out)
        if not final:
            assert state.mel_cache.shape == (1, 80, MEL_CACHE_FRAMES)
            assert state.source_cache.shape == (1, 1, OVERLAP)
            assert state.speech_tail.shape == (1, OVERLAP)
    assert [o.shape[1] for o in outs] == [40 * HOP - OVERLAP, 50 * HOP, (23 + MEL_CACHE_FRAMES) * HOP]
    assert sum(o.shape[1] for o in outs) == sum(m.shape[2] for m in mels) * HOP
    assert state == VocoderState() and not state.started


def test_second_chunk_uses_cache_and_cross_fade(hift):
    noise = _noise(60)
    first, state = vocode_chunk(hift, _mel(30, 4), VocoderState(), finalize=False, noise=noise)
    second_mel = _mel(20, 5)
    out, _ = vocode_chunk(hift, second_mel, state, finalize=True, noise=noise)
    raw, _ = hift.inference(torch.cat([state.mel_cache, second_mel], 2), state.source_cache, noise=noise)
    w = np.hamming(2 * OVERLAP)
    want_head = raw[0, :OVERLAP].double().numpy() * w[:OVERLAP] + state.speech_tail[0].double().numpy() * w[OVERLAP:]
    # float64 products rounded once (no reduction): exact on every IEEE machine
    np.testing.assert_allclose(out[0, :OVERLAP].numpy(), want_head.astype(np.float32), rtol=0, atol=0)
    assert torch.equal(out[:, OVERLAP:], raw[:, OVERLAP:])


def test_fade_in_out_window_halves():
    n = 16
    out = fade_in_out(torch.ones(1, 3 * n), torch.zeros(1, n))
    w = np.hamming(2 * n)
    np.testing.assert_allclose(out[0, :n].numpy(), w[:n].astype(np.float32))
    assert torch.equal(out[:, n:], torch.ones(1, 2 * n))


def test_speed_is_the_official_mel_interpolation(hift):
    mel = _mel(40, 6)
    noise = _noise(60)
    fast, _ = vocode_chunk(hift, mel, VocoderState(), finalize=True, speed=1.5, noise=noise)
    want, _ = hift.inference(F.interpolate(mel, size=int(40 / 1.5), mode="linear"), noise=noise)
    assert torch.equal(fast, want)
    slow, _ = vocode_chunk(hift, mel, VocoderState(), finalize=True, speed=0.8, noise=noise)
    assert slow.shape[1] == int(40 / 0.8) * HOP
    # Streaming with speed: every call's new frames are stretched; lengths still add up.
    state, total = VocoderState(), 0
    for i, frames in enumerate([30, 30, 12]):
        out, state = vocode_chunk(hift, _mel(frames, 7 + i), state, finalize=i == 2, speed=0.8, noise=noise)
        total += out.shape[1]
    assert total == (37 + 37 + 15) * HOP
    with pytest.raises(InputError, match="Speed"):
        vocode_chunk(hift, mel, VocoderState(), finalize=True, speed=0.0)


def test_bad_chunks_raise_input_error(hift):
    with pytest.raises(InputError, match="at least 8"):
        vocode_chunk(hift, _mel(5), VocoderState(), finalize=False)
    with pytest.raises(InputError, match="nothing"):
        vocode_chunk(hift, _mel(0), VocoderState(), finalize=True)
    with pytest.raises(InputError, match="one mel"):
        vocode_chunk(hift, torch.zeros(2, 80, 10), VocoderState(), finalize=True)
    # A final call with no new frames still flushes the cached tail.
    _, state = vocode_chunk(hift, _mel(20), VocoderState(), finalize=False)
    out, _ = vocode_chunk(hift, _mel(0), state, finalize=True)
    assert out.shape == (1, OVERLAP)
