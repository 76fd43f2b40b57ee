"""CosyVoice 3 token2wav: parity of the official schedule and stitching, the flat-cost stream, end to end."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from engine.config import load_config3
from engine.errors import InputError
from engine.flow.cfm import official_noise
from engine.flow.dit_flow import load_dit_flow
from engine.token2wav import FlowMode, FlowPrompt, StreamPlan, plan_token2wav_calls
from engine.token2wav_cv3 import Token2Wav3State, VocoderMode, stream_sentence, token2wav_call
from engine.vocoder.causal_hift import load_causal_hift


@pytest.fixture(scope="module")
def parts(tiny_cv3_model_dir: Path, parity_cv3_dir: Path):
    cfg = load_config3(tiny_cv3_model_dir)
    g = np.load(parity_cv3_dir / "goldens" / "token2wav.npz")
    t = {k: torch.from_numpy(np.ascontiguousarray(g[k])) for k in g.files if "/" not in k}
    prompt = FlowPrompt(t["flow_prompt_speech_token"], t["prompt_speech_feat"], t["flow_embedding"], official_noise())
    return load_dit_flow(tiny_cv3_model_dir, cfg), load_causal_hift(tiny_cv3_model_dir, cfg), prompt, \
        t["source_speech_token"][0].tolist()


@pytest.mark.parametrize("stage", ["token2wav", "e2e"])
def test_parity_against_reference_goldens(stage_parity_cv3, stage: str) -> None:
    names = [r.name for r in stage_parity_cv3(stage)]
    assert any("windowed" in n or "incremental+window" in n for n in names)  # the flat-cost path is checked too


def test_stream_follows_the_official_schedule(parts) -> None:
    flow, hift, prompt, tokens = parts
    tokens = tokens + tokens  # 194 tokens: chunks of 25 + pad, 50, 100
    calls = []
    pieces = list(stream_sentence(tokens, flow, hift, StreamPlan(stream=True), prompt, on_call=calls.append))
    want = plan_token2wav_calls(int(prompt.token.shape[1]), len(tokens), stream=True)
    assert [(c.n_tokens, c.token_offset, c.finalize) for c in calls] == \
        [(c.n_tokens, c.token_offset, c.finalize) for c in want]
    # every mel frame once, each 480 samples: the prompt mel has 2P - 1 frames here (voice conversion)
    frames = 2 * (int(prompt.token.shape[1]) + len(tokens)) - int(prompt.feat.shape[1])
    assert sum(p.numel() for p in pieces) == frames * 480 and all(torch.isfinite(p).all() for p in pieces)


def test_speed_stretches_the_non_streamed_mel_only(parts) -> None:
    flow, hift, prompt, tokens = parts
    token = torch.tensor([tokens], dtype=torch.int32)
    plan = StreamPlan(stream=False)
    normal, _ = token2wav_call(flow, hift, plan, prompt, Token2Wav3State(), token, 0, True)
    fast, _ = token2wav_call(flow, hift, plan, prompt, Token2Wav3State(), token, 0, True, speed=1.5)
    assert fast.shape[1] == int(normal.shape[1] / 480 / 1.5) * 480
    with pytest.raises(InputError, match="without streaming"):
        token2wav_call(flow, hift, StreamPlan(stream=True), prompt, Token2Wav3State(), token, 0, True, speed=1.5)


def test_rerun_and_window_vocoders_agree_on_a_real_stream(parts) -> None:
    flow, hift, prompt, tokens = parts
    plan = StreamPlan(stream=True)
    runs = [torch.cat(list(stream_sentence(tokens * 2, flow, hift, plan, prompt, vocoder=mode)))
            for mode in (VocoderMode.RERUN, VocoderMode.WINDOW)]
    assert runs[0].shape == runs[1].shape
    # same f0 and source; only the decode window differs (GIVEN_SOURCE's floor, engine/parity/tolerance.py)
    assert float((runs[0] - runs[1]).abs().max()) <= 2e-4


def _frames_per_call(flow, hift, prompt, tokens, plan, vocoder) -> list[tuple[int, int]]:
    """Per chunk call (the sentence's last call left out): the mel frames entering the DiT estimator (its first ODE
    step) and HiFT's first convolution."""
    est, voc, marks = [], [], []
    hooks = [flow.decoder.estimator.input_embed.register_forward_pre_hook(lambda _m, a: est.append(a[0].shape[1])),
             hift.conv_pre.register_forward_pre_hook(lambda _m, a: voc.append(a[0].shape[-1]))]
    try:
        list(stream_sentence(tokens, flow, hift, plan, prompt, vocoder=vocoder,
                             on_call=lambda c: marks.append((len(est), len(voc), c.finalize))))
    finally:
        for h in hooks:
            h.remove()
    return [(est[e], voc[v]) for e, v, last in marks if not last]


def test_streamed_chunks_cost_the_same_work_however_long_the_sentence(parts) -> None:
    # step counts, not time: the frames each chunk call feeds the DiT and HiFT. The official re-runs the flow over
    # every token so far and HiFT over every mel frame so far; ours feeds the new chunk (plus a fixed look-ahead /
    # left context), so once the hop is at its 100 tokens every call does the same work, however far in it is.
    flow, hift, prompt, tokens = parts
    tokens = tokens * 4  # 388 tokens: chunk calls at 28, 78, 178, 278 and 378 tokens (hops 25, 50, 100, 100, 100)
    official = _frames_per_call(flow, hift, prompt, tokens, StreamPlan(stream=True, flow_mode=FlowMode.RECOMPUTE),
                                VocoderMode.RERUN)
    ours = _frames_per_call(flow, hift, prompt, tokens, StreamPlan(stream=True), VocoderMode.WINDOW)
    assert len(ours) == len(official) >= 4
    for part in (0, 1):  # DiT, HiFT
        grows = [c[part] for c in official]
        flat = [c[part] for c in ours[-2:]]  # the last two chunk calls, both with a 100-token hop
        assert all(b > a for a, b in zip(grows, grows[1:]))            # O(k)
        assert flat[0] == flat[1] < grows[-1] and max(c[part] for c in ours) <= flat[0] + 2 * 100  # flat
