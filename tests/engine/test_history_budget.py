"""A streamed sentence's key/value history is bounded (engine/flow/flow.py ``history_budget``).

The incremental flow keeps every earlier frame's keys and values (4.6 MB per frame at official size in fp32), so
without a bound a 60 s sentence would hold ~14 GB. Past its budget a stream keeps its caches where they are (the
anchor) and re-makes every frame after them on each step: the same frames, memory that no longer grows.
"""
from __future__ import annotations

import numpy as np
import psutil
import pytest
import torch

from engine.flow.kv_history import PAGE_FRAMES, KVStorage
from engine.tiny_cv3 import make_tiny_cv3_model

# Recomputing and caching run the same arithmetic in a different order (one pass over all frames against one per
# chunk), so they agree to rounding, not bit for bit: within the flow features' family floor.
FEATURE_FLOOR = 1e-4


def _held(state) -> int:
    """Bytes of the estimator's key/value pages a stream state reaches."""
    return sum(k.nbytes + v.nbytes for step in (state.decoder or ()) for c in step for k, v in c.kv)


def _stream(flow, case, budget, storage=KVStorage.EXACT, hop=10):
    """Stream the golden case ``hop`` tokens at a time; the mel and, per step, (held bytes, recomputing, done)."""
    state = flow.start_stream(case["prompt_token"], case["prompt_feat"], case["embedding"], noise=case["noise"],
                              kv_storage=storage, history_budget=budget)
    steps, mels, tok = [(_held(state), state.recomputing, state.done)], [], case["token"]
    for i in range(0, tok.size(1), hop):
        mel, state = flow.stream_step(state, tok[:, i:i + hop], finalize=i + hop >= tok.size(1))
        mels.append(mel)
        steps.append((_held(state), state.recomputing, state.done))
    return torch.cat(mels, dim=2), steps


def _budget_for(flow, done: int) -> int:
    """The budget that caches covering ``done`` tokens just fit (what the stream predicts, page room included)."""
    return flow.decoder.history_frame_bytes(KVStorage.EXACT, torch.float32) * (done * flow.frames_per_token
                                                                               + PAGE_FRAMES)


@pytest.mark.parametrize("storage", list(KVStorage))
def test_frame_bytes_is_what_a_stream_holds(flow_and_case, storage):
    """CFM.history_frame_bytes predicts the pages a stream keeps: at least the frames' bytes, at most one page of
    spare room more (every history's last page)."""
    flow, case = flow_and_case
    state = flow.start_stream(case["prompt_token"], case["prompt_feat"], case["embedding"], noise=case["noise"],
                              kv_storage=storage)
    _, state = flow.stream_step(state, case["token"][:, :40], finalize=False)
    per_frame = flow.decoder.history_frame_bytes(storage, torch.float32)
    frames = state.done * flow.frames_per_token
    assert per_frame * frames <= _held(state) <= per_frame * (frames + PAGE_FRAMES - 1)


def test_a_stream_past_its_budget_keeps_its_frames_and_stops_growing(flow_and_case):
    flow, case = flow_and_case
    unbounded, free = _stream(flow, case, None)
    dones = sorted({done for _, _, done in free})
    assert len(dones) >= 3 and free[-2][0] > free[0][0] > 0  # without a bound the history grows with the sentence
    anchor = dones[-3]  # room for the prompt and a chunk, not for the whole sentence
    budget = _budget_for(flow, anchor)
    bounded, steps = _stream(flow, case, budget)
    assert bounded.shape == unbounded.shape  # every frame, once
    assert (bounded - unbounded).abs().max().item() <= FEATURE_FLOOR
    assert all(held <= budget for held, _, _ in steps)
    first = [r for _, r, _ in steps].index(True)
    assert steps[:first] == free[:first]  # cached while it fits ...
    assert all(r for _, r, _ in steps[first:]) and steps[first - 1][2] == anchor > dones[0]  # ... then re-made
    assert all(held == steps[first - 1][0] for held, _, _ in steps[first:])  # after caches that stay as they were


def test_a_budget_below_the_prompt_recomputes_from_the_start(flow_and_case):
    """Nothing fits (e.g. a 30 s voice on a small machine): the prompt call computes nothing (no frame of it is
    returned) and every chunk is the reference's call over all tokens so far."""
    flow, case = flow_and_case
    unbounded, _ = _stream(flow, case, None, hop=25)
    bounded, steps = _stream(flow, case, 0, hop=25)
    assert steps[0][:2] == (0, True)
    assert bounded.shape == unbounded.shape and (bounded - unbounded).abs().max().item() <= FEATURE_FLOOR


def test_a_recomputing_stream_is_still_cancellable(flow_and_case):
    from engine.errors import Cancelled

    flow, case = flow_and_case
    state = flow.start_stream(case["prompt_token"], case["prompt_feat"], case["embedding"], noise=case["noise"],
                              history_budget=0)
    with pytest.raises(Cancelled):
        flow.stream_step(state, case["token"][:, :30], finalize=False, should_stop=lambda: True)
    mel, _ = flow.stream_step(state, case["token"][:, :30], finalize=False)  # the state was left as it was
    assert mel.size(2) > 0


def test_cosyvoice3_dit_keeps_its_frames_past_the_budget(tmp_path):
    from engine.flow.dit_flow import load_dit_flow

    flow = load_dit_flow(make_tiny_cv3_model(tmp_path / "cv3")).eval()
    g = torch.Generator().manual_seed(0)
    case = {"token": torch.randint(0, flow.cfg.vocab_size, (1, 200), generator=g),
            "prompt_token": torch.randint(0, flow.cfg.vocab_size, (1, 12), generator=g),
            "prompt_feat": torch.randn(1, 12 * flow.frames_per_token, 80, generator=g),
            "embedding": torch.randn(1, 192, generator=g),
            "noise": torch.randn(1, 80, 240 * flow.frames_per_token, generator=g)}
    unbounded, free = _stream(flow, case, None, hop=25)
    dones = sorted({done for _, _, done in free})
    bounded, steps = _stream(flow, case, _budget_for(flow, dones[len(dones) // 2]), hop=25)
    assert steps[-1][1] and not steps[1][1] and steps[1][0] > 0
    assert bounded.shape == unbounded.shape and (bounded - unbounded).abs().max().item() <= FEATURE_FLOOR


def test_the_engine_bounds_a_sentence_by_the_machine_memory(engine, voice):
    """Runtime's default budget is a quarter of the machine's memory and reaches the stream; a sentence streamed
    past a tiny budget gives the same audio length, and its kept post-prompt state holds no pages."""
    from engine import Runtime
    from tinyengine import LONGER, request, run

    cpu = torch.device("cpu")
    assert Runtime().resolved_history_budget(cpu) == psutil.virtual_memory().total // 4
    assert engine.stream_plan(True).history_budget == psutil.virtual_memory().total // 4
    assert Runtime(flow_history_budget=123).resolved_history_budget(cpu) == 123

    bounded = engine.with_runtime(Runtime(flow_history_budget=0))
    _, bounded_audio = run(bounded, request(voice, watchdog=LONGER))
    _, audio = run(engine, request(voice, watchdog=LONGER))
    assert bounded_audio.shape == audio.shape and np.isfinite(bounded_audio).all()
    (kept,) = list(bounded.prompt_states)
    assert kept.recomputing and kept.decoder is None
