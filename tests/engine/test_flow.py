"""Flow (encoder + CFM): reference parity, official-size layout, incremental streaming."""
from __future__ import annotations

import copy
import json
import threading
import time

import numpy as np
import pytest
import torch

from engine.config import official_config
from engine.errors import Cancelled, GenerationError, InputError
from engine.flow import Flow, load_flow
from engine.parity.tolerance import NETWORK
from engine.rng import PortableRandom


@pytest.fixture(scope="module")
def flow(tiny_model_dir) -> Flow:
    torch.set_grad_enabled(False)
    return load_flow(tiny_model_dir)


@pytest.fixture(scope="module")
def case(parity_dir):
    """The zero-shot prompt and the VC source tokens of flow.npz."""
    z = np.load(parity_dir / "goldens" / "flow.npz")
    t = {k: torch.from_numpy(z[f"nonstream/{k}"]) for k in ("token", "prompt_token", "prompt_feat", "embedding")}
    t["noise"] = torch.from_numpy(z["rand_noise_used"])
    return t


def test_parity_with_reference(stage_parity):
    results = stage_parity("flow")
    assert any("incremental" in r.name for r in results)


def test_official_size_keys_and_shapes(parity_dir):
    with torch.device("meta"):
        model = Flow(official_config().flow)
    want = json.loads((parity_dir / "official_shapes.json").read_text())["flow.pt"]
    got = {k: list(v.shape) for k, v in model.state_dict().items()}
    assert sorted(got) == sorted(want)
    assert {k: v for k, v in got.items() if v != want[k]} == {}


@pytest.mark.parametrize("feed", [1, 7, 40])
def test_incremental_stream_equals_one_shot_streaming(flow, case, feed):
    """Whatever the feed size, the concatenated incremental output equals one streaming-mask pass over all
    tokens (finalize=True), which is what the final incremental step computes for the tail."""
    tokens = case["token"]
    want = flow.inference(tokens, case["prompt_token"], case["prompt_feat"], case["embedding"], streaming=True,
                          finalize=True, noise=case["noise"])
    state = flow.start_stream(case["prompt_token"], case["prompt_feat"], case["embedding"], noise=case["noise"])
    pieces = []
    for i in range(0, tokens.size(1), feed):
        mel, state = flow.stream_step(state, tokens[:, i:i + feed], finalize=False)
        pieces.append(mel)
        # Non-final output only ever covers whole encoder chunks whose look-ahead has arrived.
        assert state.done % flow.cfg.encoder.static_chunk_size == 0
        assert state.done <= state.tokens.size(1) - flow.cfg.pre_lookahead_len or state.done == 0
    mel, state = flow.stream_step(state, tokens[:, :0], finalize=True)
    pieces.append(mel)
    got = torch.cat(pieces, dim=2)
    assert got.shape == want.shape
    assert (got - want).abs().max().item() <= NETWORK.floor  # one computation, other chunking: the parity floor
    with pytest.raises(GenerationError):
        flow.stream_step(state, tokens[:, :1], finalize=False)


def test_reference_final_matches_one_shot_non_streaming_tail(flow, case):
    """reference_final=True ends the stream like the reference: a full-attention pass whose frames after the
    already streamed ones are returned."""
    tokens = case["token"]
    want = flow.inference(tokens, case["prompt_token"], case["prompt_feat"], case["embedding"], streaming=False,
                          finalize=True, noise=case["noise"])
    state = flow.start_stream(case["prompt_token"], case["prompt_feat"], case["embedding"], noise=case["noise"])
    head, state = flow.stream_step(state, tokens[:, :40], finalize=False)
    tail, state = flow.stream_step(state, tokens[:, 40:], finalize=True, reference_final=True)
    assert head.size(2) > 0 and head.size(2) + tail.size(2) == want.size(2)
    assert (tail - want[:, :, head.size(2):]).abs().max().item() <= NETWORK.floor  # as above
    assert state.finished


def test_stream_state_is_a_value(flow, case):
    """Stepping twice from the same state gives the same output: nothing is kept on the module or mutated."""
    state = flow.start_stream(case["prompt_token"], case["prompt_feat"], case["embedding"], noise=case["noise"])
    a, s1 = flow.stream_step(state, case["token"][:, :40], finalize=False)
    b, s2 = flow.stream_step(state, case["token"][:, :40], finalize=False)
    assert a.size(2) > 0 and torch.equal(a, b)
    assert s1.done == s2.done and state.done < s1.done


def test_history_pages_are_fork_safe():
    """Appending to an older History (someone already appended after it) copies its last page first."""
    from engine.flow.kv_history import History

    def block(start, n):
        return torch.arange(start, start + n, dtype=torch.float32).view(1, 1, n, 1)

    base = History().append(block(0, 3)).append(block(3, 2), page_size=4)  # [0..2] | [3, 4, _, _]
    a = base.append(block(100, 5), page_size=4)  # writes the shared page's spare room, then a new page
    b = base.append(block(200, 1), page_size=4)  # a fork: must not overwrite a's position 5
    assert a.tensor().flatten().tolist() == [0, 1, 2, 3, 4, 100, 101, 102, 103, 104]
    assert b.tensor().flatten().tolist() == [0, 1, 2, 3, 4, 200]
    assert base.tensor().flatten().tolist() == [0, 1, 2, 3, 4]
    assert a.append(block(7, 1)).tensor().flatten()[-2:].tolist() == [104, 7]


def test_stepping_from_an_older_state_is_fork_safe(flow, case):
    """A state that was already advanced from (its last K/V page written past it) still gives what a fresh
    state gives: stepping once, twice, or after a longer branch went ahead all agree bit for bit."""
    start = flow.start_stream(case["prompt_token"], case["prompt_feat"], case["embedding"], noise=case["noise"])
    tok = case["token"]
    fresh = lambda: flow.stream_step(start, tok[:, :30], finalize=False)[1]  # noqa: E731
    want_a, want_s = flow.stream_step(fresh(), tok[:, 30:60], finalize=False)
    want_b, _ = flow.stream_step(want_s, tok[:, 60:], finalize=True)

    def long_branch(state):  # fills the pages' spare room past ``state``
        for i in range(30, tok.size(1), 7):
            _, state = flow.stream_step(state, tok[:, i:i + 7], finalize=False)
        return state

    want_branch_end, _ = flow.stream_step(long_branch(fresh()), tok[:, :0], finalize=True)
    mid = fresh()
    branch = long_branch(mid)
    k_mid = mid.decoder[0][0].kv[0][0]
    assert k_mid.pages[-1].filled > k_mid.length - sum(p.capacity for p in k_mid.pages[:-1])  # shared, written
    a1, s1 = flow.stream_step(mid, tok[:, 30:60], finalize=False)
    a2, s2 = flow.stream_step(mid, tok[:, 30:60], finalize=False)
    b1, _ = flow.stream_step(s1, tok[:, 60:], finalize=True)
    b2, _ = flow.stream_step(s2, tok[:, 60:], finalize=True)
    for got in (a1, a2):
        assert got.size(2) > 0 and torch.equal(got, want_a)
    for got in (b1, b2):
        assert got.size(2) > 0 and torch.equal(got, want_b)
    # ... and the branch that went ahead still reads its own frames (the forks did not overwrite them).
    branch_end, _ = flow.stream_step(branch, tok[:, :0], finalize=True)
    assert branch_end.size(2) > 0 and torch.equal(branch_end, want_branch_end)


def test_stream_without_prompt_and_with_rng(flow, case):
    empty_tok, empty_feat = case["prompt_token"][:, :0], case["prompt_feat"][:, :0]
    before = torch.random.get_rng_state()
    outs = []
    for _ in range(2):
        state = flow.start_stream(empty_tok, empty_feat, case["embedding"], rng=PortableRandom(123))
        a, state = flow.stream_step(state, case["token"][:, :30], finalize=False)
        b, state = flow.stream_step(state, case["token"][:, 30:], finalize=True)
        outs.append(torch.cat([a, b], dim=2))
    assert torch.equal(outs[0], outs[1])
    assert outs[0].shape == (1, 80, 2 * case["token"].size(1))
    assert torch.equal(before, torch.random.get_rng_state()), "the global RNG must not be used"


def test_rng_noise_is_reproducible(flow, case):
    kw = dict(streaming=False, finalize=True)
    args = (case["token"][:, :20], case["prompt_token"][:, :0], case["prompt_feat"][:, :0], case["embedding"])
    a = flow.inference(*args, **kw, rng=PortableRandom(5))
    b = flow.inference(*args, **kw, rng=PortableRandom(5))
    c = flow.inference(*args, **kw, rng=PortableRandom(6))
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_bad_inputs(flow, case):
    args = (case["prompt_token"], case["prompt_feat"], case["embedding"])
    with pytest.raises(InputError, match="Speech token ids"):
        flow.inference(torch.tensor([[1, 6561]]), *args, streaming=False, finalize=True)
    with pytest.raises(InputError, match="noise"):
        flow.inference(case["token"], *args, streaming=False, finalize=True, noise=case["noise"][:, :, :10])
    with pytest.raises(InputError, match="look-ahead"):
        flow.inference(case["token"][:, :3], *args, streaming=True, finalize=False)
    with pytest.raises(InputError, match="prompt_feat"):
        flow.inference(case["token"], case["prompt_token"], case["prompt_feat"][0], case["embedding"],
                       streaming=False, finalize=True)


# ---------------------------------------------------------------------------------------------------------
# Cancelling inside an ODE step, and the stream state's dtype
# ---------------------------------------------------------------------------------------------------------
def _slow_estimator(monkeypatch, estimator, stop: threading.Event, started: threading.Event) -> list[bool]:
    """Make every estimator call take 50 ms; the first one also waits until another thread has cancelled, so
    the cancel lands during a call. Returns, per call, whether the stop flag was already set when it began."""
    real = estimator.forward_chunk
    began_after_stop: list[bool] = []

    def slow(*args, **kwargs):
        began_after_stop.append(stop.is_set())
        if len(began_after_stop) == 1:
            started.set()
            assert stop.wait(10), "the cancelling thread never cancelled"
        time.sleep(0.05)
        return real(*args, **kwargs)

    monkeypatch.setattr(estimator, "forward_chunk", slow)
    return began_after_stop


@pytest.mark.parametrize("how", ["inference", "stream_step"])
def test_cancel_from_another_thread_stops_the_running_pass(flow, case, monkeypatch, how):
    stop, started = threading.Event(), threading.Event()
    calls = _slow_estimator(monkeypatch, flow.decoder.estimator, stop, started)
    canceller = threading.Thread(target=lambda: started.wait(10) and stop.set())
    canceller.start()
    with pytest.raises(Cancelled, match="cancelled"):
        if how == "inference":
            flow.inference(case["token"], case["prompt_token"], case["prompt_feat"], case["embedding"],
                           streaming=False, finalize=True, noise=case["noise"], should_stop=stop.is_set)
        else:
            state = flow.start_stream(case["prompt_token"][:, :0], case["prompt_feat"][:, :0], case["embedding"],
                                      noise=case["noise"])
            flow.stream_step(state, case["token"][:, :40], finalize=False, should_stop=stop.is_set)
    canceller.join(10)
    # The pass running when the cancel came stopped inside; no estimator pass began after it.
    assert calls == [False]


def test_cancel_lands_between_the_estimators_stages(flow, case):
    """One estimator pass is polled after every stage (ResNet + transformer blocks), not only between passes:
    a cancel during the first middle stage stops the pass before the next stage starts."""
    est = flow.decoder.estimator
    ran = {"mid": 0, "up": 0}
    hooks = [est.mid_blocks[0][0].register_forward_hook(lambda *a: ran.__setitem__("mid", ran["mid"] + 1)),
             est.up_blocks[0][0].register_forward_hook(lambda *a: ran.__setitem__("up", ran["up"] + 1))]
    try:
        with pytest.raises(Cancelled):
            flow.inference(case["token"], case["prompt_token"], case["prompt_feat"], case["embedding"],
                           streaming=False, finalize=True, noise=case["noise"], should_stop=lambda: ran["mid"] > 0)
    finally:
        for h in hooks:
            h.remove()
    assert ran == {"mid": 1, "up": 0}


def test_stream_state_is_kept_in_the_flow_dtype(flow, case):
    """A bf16 flow caches bf16 keys/values (half the memory of fp32); an fp32 flow keeps fp32."""
    from engine.bench.flow import state_mb

    sizes = {}
    for dtype in (torch.float32, torch.bfloat16):
        f = flow if dtype == torch.float32 else copy.deepcopy(flow).to(dtype)
        state = f.start_stream(case["prompt_token"], case["prompt_feat"].to(dtype), case["embedding"].to(dtype),
                               noise=case["noise"])
        mel, state = f.stream_step(state, case["token"][:, :40], finalize=False)
        tensors = [h.tensor() for kv in state.encoder.kv for h in kv]
        tensors += [h.tensor() for step in state.decoder for c in step for kv in c.kv for h in kv]
        tensors += [t for step in state.decoder for c in step for t in c.convs]
        assert tensors and {t.dtype for t in tensors} == {dtype}
        assert mel.dtype == torch.float32 and torch.isfinite(mel).all()
        sizes[dtype] = state_mb(state)
    assert sizes[torch.bfloat16] == pytest.approx(sizes[torch.float32] / 2, rel=0.01)


def test_several_ready_chunks_in_one_pass_equal_chunk_by_chunk(flow, case):
    """A hop that makes several chunks ready (the official schedule hands over up to 100 tokens) is solved in
    one pass, the same as feeding the chunks one by one, and cancellation is still polled inside every ODE
    step (between the estimator's stages), not once per step."""
    tokens, chunk = case["token"], flow.cfg.encoder.static_chunk_size
    start = flow.start_stream(case["prompt_token"], case["prompt_feat"], case["embedding"], noise=case["noise"])
    polls: list[int] = []

    def should_stop() -> bool:
        polls.append(1)
        return False

    mel_all, state_all = flow.stream_step(start, tokens, finalize=False, should_stop=should_stop)
    n_chunks = (state_all.done - start.done) // chunk
    assert n_chunks >= 2, "fixture too short for this test"
    steps = flow.cfg.cfm.n_timesteps
    assert len(polls) > 2 * steps  # polled inside each ODE step's estimator pass, not once per step

    state, pieces = start, []
    for i in range(0, tokens.size(1), chunk):
        mel, state = flow.stream_step(state, tokens[:, i:i + chunk], finalize=False)
        pieces.append(mel)
    got = torch.cat(pieces, dim=2)[:, :, :mel_all.size(2)]
    assert got.shape == mel_all.shape
    assert (got - mel_all).abs().max().item() <= NETWORK.floor  # as above
    tail_all, _ = flow.stream_step(state_all, tokens[:, :0], finalize=True)
    assert torch.isfinite(tail_all).all()


# ---------------------------------------------------------------------------------------------------------
# The guidance rows as separate calls, one of them on a helper thread
# ---------------------------------------------------------------------------------------------------------
def _stream(flow, case, *, split_rows: bool, helper=None, should_stop=None) -> torch.Tensor:
    state = flow.start_stream(case["prompt_token"], case["prompt_feat"], case["embedding"], noise=case["noise"],
                              split_rows=split_rows, helper=helper)
    pieces = []
    for i in range(0, case["token"].size(1), 30):
        mel, state = flow.stream_step(state, case["token"][:, i:i + 30], finalize=False, helper=helper,
                                      should_stop=should_stop)
        pieces.append(mel)
    mel, _ = flow.stream_step(state, case["token"][:, :0], finalize=True, helper=helper)
    return torch.cat(pieces + [mel], dim=2)


def test_split_rows_equal_the_batch_and_do_not_depend_on_the_thread(flow, case):
    """Split guidance rows give the batched result (up to float rounding), and the same bits whether the second
    row ran on a helper thread with the same thread count or in turn on this one."""
    from engine.cpu_threads import FlowLane

    batch = _stream(flow, case, split_rows=False)
    alone = _stream(flow, case, split_rows=True)
    lane = FlowLane(torch.get_num_threads())
    ran_on: set[str] = set()

    def helper():
        ran_on.add("asked")
        return lane

    try:
        helped = _stream(flow, case, split_rows=True, helper=helper)
        names = lane.submit(lambda: threading.current_thread().name).result()
    finally:
        lane.close()
    assert "asked" in ran_on and names.startswith("timbre-flow-lane")
    assert (alone - batch).abs().max().item() <= NETWORK.floor  # batch of 2 vs 1: other GEMM blocking
    assert torch.equal(helped, alone)


def test_cancel_reaches_the_helper_row_and_waits_for_it(flow, case):
    from engine.cpu_threads import FlowLane

    lane = FlowLane(1)
    stop = threading.Event()
    passes = []

    def should_stop():
        passes.append(threading.current_thread().name)
        if len(passes) > 40:
            stop.set()
        return stop.is_set()

    try:
        with pytest.raises(Cancelled):
            _stream(flow, case, split_rows=True, helper=lambda: lane, should_stop=should_stop)
        # the helper's call has finished: the lane is idle again and runs the next call at once
        assert lane.submit(lambda: 7).result(timeout=5) == 7
    finally:
        lane.close()
    assert any(name.startswith("timbre-flow-lane") for name in passes)  # the helper row polled too
    assert not [t for t in threading.enumerate() if t.name.startswith("timbre-flow-lane")]
