"""Key/value history storage of the streaming flow (engine/flow/kv_history.py): exact, bf16 and int8 pages."""
from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from engine.flow.kv_history import History, KVStorage, attend_history
from engine.tiny_cv3 import make_tiny_cv3_model


def _block(seed: int, n: int, d: int = 16) -> torch.Tensor:
    return torch.randn(2, 3, n, d, generator=torch.Generator().manual_seed(seed))


# The rounding each storage allows per element: bf16 keeps 8 significant bits (relative error <= 2^-8 of the
# value); int8 rounds to the nearest of 255 levels over +-absmax of the frame's head vector (<= absmax/254).
def _allowed(x: torch.Tensor, storage: KVStorage) -> torch.Tensor:
    if storage is KVStorage.BF16:
        return x.abs() * 2.0 ** -8
    return x.abs().amax(dim=-1, keepdim=True).expand_as(x) / 254 * (1 + 1e-6)


@pytest.mark.parametrize("storage", [KVStorage.BF16, KVStorage.INT8])
def test_stored_frames_round_within_the_storage_and_the_new_tail_is_exact(storage):
    blocks = [_block(i, n) for i, n in enumerate((5, 130, 7))]  # crosses the 128-frame pages
    h = History(storage=storage)
    for b in blocks:
        h = h.append(b)
    every = torch.cat(blocks, dim=2)
    got = h.tensor(exact_tail=blocks[-1])
    assert got.dtype == torch.float32 and got.shape == every.shape
    assert torch.equal(got[:, :, -7:], blocks[-1])  # this call's own keys enter exactly
    assert bool(((got - every).abs() <= _allowed(every, storage)).all())
    assert not torch.equal(got[:, :, :-7], every[:, :, :-7])  # it does store rounded values
    ratio = {KVStorage.BF16: 0.5, KVStorage.INT8: 0.25 + 1 / every.size(3)}[storage]  # int8 + one fp32 scale
    assert History(storage=storage).append(every).nbytes == History().append(every).nbytes * ratio


@pytest.mark.parametrize("storage", [KVStorage.BF16, KVStorage.INT8])
def test_rounded_pages_stay_fork_safe(storage):
    base = History(storage=storage).append(_block(0, 3)).append(_block(1, 2), page_size=4)
    a = base.append(_block(2, 5), page_size=4)
    b = base.append(_block(3, 1), page_size=4)  # a fork: copies the shared last page (data and scales)
    before = base.tensor()
    want_a = torch.cat([before, _block(2, 5)], dim=2)
    want_b = torch.cat([before, _block(3, 1)], dim=2)
    assert bool(((a.tensor() - want_a).abs() <= _allowed(want_a, storage) + 1e-7).all())
    assert bool(((b.tensor() - want_b).abs() <= _allowed(want_b, storage) + 1e-7).all())
    assert torch.equal(base.tensor(), before) and torch.equal(a.tensor()[:, :, :5], b.tensor()[:, :, :5])


def test_attend_history_starts_in_the_storage_asked_for():
    (hk, hv), k, v = attend_history(None, _block(0, 4), _block(1, 4), KVStorage.INT8)
    assert hk.storage is hv.storage is KVStorage.INT8 and hk.pages[0].data.dtype == torch.int8
    assert torch.equal(k, _block(0, 4)) and torch.equal(v, _block(1, 4))  # nothing earlier: all exact
    (hk2, _), k2, _ = attend_history((hk, hv), _block(2, 3), _block(3, 3), KVStorage.EXACT)
    assert hk2.storage is KVStorage.INT8 and k2.size(2) == 7  # a stream keeps the storage it started with


def _stream(flow, case, storage: KVStorage) -> tuple[torch.Tensor, float]:
    state = flow.start_stream(case["prompt_token"], case["prompt_feat"], case["embedding"], noise=case["noise"],
                              kv_storage=storage)
    mels, tok = [], case["token"]
    for i in range(0, tok.size(1) - 10, 10):
        mel, state = flow.stream_step(state, tok[:, i:i + 10], finalize=False)
        mels.append(mel)
    held = sum(k.nbytes + v.nbytes for step in state.decoder for c in step for k, v in c.kv)
    mel, _ = flow.stream_step(state, tok[:, i + 10:], finalize=True)
    return torch.cat(mels + [mel], dim=2), held


@pytest.mark.parametrize("storage", [KVStorage.BF16, KVStorage.INT8])
def test_rounded_storage_changes_the_mel_less_than_a_bf16_flow_and_holds_less(flow_and_case, storage):
    """The yardstick is what the product already accepts: the bf16 precision's flow (compute in bf16)
    against fp32. Keeping only the past keys/values rounded must move the streamed mel less than that."""
    flow, case = flow_and_case
    exact, held_exact = _stream(flow, case, KVStorage.EXACT)
    rounded, held = _stream(flow, case, storage)
    bf16_flow = copy.deepcopy(flow).to(torch.bfloat16)
    bf16_case = {k: (v.to(torch.bfloat16) if v.is_floating_point() else v) for k, v in case.items()}
    in_bf16, _ = _stream(bf16_flow, bf16_case, KVStorage.EXACT)
    err = (rounded - exact).abs().max().item()
    assert 0 < err < (in_bf16.float() - exact).abs().max().item()
    d = flow.decoder.estimator.cfg.attention_head_dim
    assert held == pytest.approx(held_exact * {KVStorage.BF16: 0.5, KVStorage.INT8: 0.25 + 1 / d}[storage])


def test_cosyvoice3_dit_streams_with_rounded_storage(tmp_path):
    """CosyVoice 3's DiT estimator takes the same setting (one cache cursor for both estimators)."""
    from engine.flow.dit_flow import load_dit_flow

    folder = make_tiny_cv3_model(tmp_path / "cv3")
    flow = load_dit_flow(folder).eval()
    g = torch.Generator().manual_seed(0)
    tok = torch.randint(0, flow.cfg.vocab_size, (1, 40), generator=g)
    prompt = torch.randint(0, flow.cfg.vocab_size, (1, 12), generator=g)
    feat = torch.randn(1, 12 * flow.frames_per_token, 80, generator=g)
    emb = torch.randn(1, 192, generator=g)
    noise = torch.randn(1, 80, 2 * 60 * flow.frames_per_token, generator=g)
    out = {}
    for storage in (KVStorage.EXACT, KVStorage.INT8):
        state = flow.start_stream(prompt, feat, emb, noise=noise, kv_storage=storage)
        a, state = flow.stream_step(state, tok[:, :20], finalize=False)
        tails = [t for step in state.decoder for c in step for t in c.convs]
        assert tails and all(t.untyped_storage().nbytes() == t.nbytes for t in tails)  # not views of chunks
        b, state = flow.stream_step(state, tok[:, 20:], finalize=True)
        out[storage] = torch.cat([a, b], dim=2)
    assert out[KVStorage.EXACT].shape == out[KVStorage.INT8].shape
    assert not torch.equal(out[KVStorage.EXACT], out[KVStorage.INT8])
    assert bool(torch.isfinite(out[KVStorage.INT8]).all())


def test_engine_runtime_chooses_the_storage_and_streams_with_it(engine, voice):
    """Runtime.flow_history reaches the incremental flow: fp32 keeps exact keys/values (the parity reference),
    int8 (an fp32 flow) keeps them in bf16, an explicit choice wins; a sentence streams with int8 pages (the
    kept post-prompt state holds them) and gives audio of the same length that is not bit-identical. How far the
    mel moves is the flow-level test above (the tiny random HiFT turns any mel change into a large waveform
    change, so the waveform is no yardstick here)."""
    from engine import Runtime
    from engine.precision import pick_precision
    from tinyengine import LONGER, request, run

    cpu = torch.device("cpu")
    assert Runtime().resolved_flow_history(pick_precision("fp32", cpu)) is KVStorage.EXACT
    assert Runtime().resolved_flow_history(pick_precision("bf16", cpu)) is KVStorage.EXACT  # 16-bit already
    assert Runtime().resolved_flow_history(pick_precision("int8", cpu)) is KVStorage.BF16
    assert Runtime(flow_history=KVStorage.INT8).resolved_flow_history(pick_precision("fp32", cpu)) is KVStorage.INT8
    assert engine.stream_plan(True).kv_storage is KVStorage.EXACT

    rounded = engine.with_runtime(Runtime(flow_history=KVStorage.INT8))
    assert rounded.stream_plan(True).kv_storage is KVStorage.INT8
    chunks, int8_audio = run(rounded, request(voice, watchdog=LONGER))
    _, exact_audio = run(engine, request(voice, watchdog=LONGER))
    assert len(chunks) >= 2 and np.isfinite(int8_audio).all()
    assert exact_audio.shape == int8_audio.shape and not np.array_equal(exact_audio, int8_audio)
    (kept,) = list(rounded.prompt_states)
    pages = [p.data.dtype for step in kept.decoder for c in step for k, v in c.kv for p in k.pages + v.pages]
    assert pages and set(pages) == {torch.int8}


def _block_of(t: torch.Tensor) -> tuple[int, int]:
    storage = t.untyped_storage()
    return storage.data_ptr(), storage.nbytes()


def test_pages_are_carved_from_shared_blocks_not_allocated_one_by_one():
    """Pages (and int8 scales) of many histories come out of a few big blocks (kv_history._Slabs): a page is
    0.1-0.5 MB and long-lived, and one malloc each pinned holes of freed transients in the heap around it."""
    histories = [History(storage=storage) for storage in (KVStorage.EXACT, KVStorage.INT8, KVStorage.EXACT)]
    blocks = []
    for i in range(6):
        histories = [h.append(_block(10 * i + j, 3), page_size=4) for j, h in enumerate(histories)]
        blocks.append(_block(10 * i, 3))
    pages = [p for h in histories for p in h.pages]
    assert len(pages) >= 12
    owners = {_block_of(p.data) for p in pages} | {_block_of(p.scale) for p in pages if p.scale is not None}
    assert len(owners) <= 4 < len(pages)  # fp32 data and int8 data/fp32 scales: a block each (+1 if one filled)
    assert all(nbytes >= 32 << 20 for _, nbytes in owners)  # above glibc's highest mmap threshold
    assert torch.equal(histories[0].tensor(), torch.cat(blocks, dim=2))  # what was appended, in order


def test_a_page_too_big_for_a_block_is_its_own_allocation():
    big = torch.randn(2, 8, 1400, 64)  # 5.7 MB: more than an eighth of a block
    h = History().append(big)
    assert _block_of(h.pages[0].data)[1] == big.nbytes
    assert torch.equal(h.tensor(), big)


def test_pages_made_in_and_out_of_inference_mode_stay_writable_where_they_were_made():
    with torch.inference_mode():
        inside = History().append(_block(0, 3), page_size=4).append(_block(1, 3), page_size=4)
    outside = History().append(_block(2, 3), page_size=4).append(_block(3, 3), page_size=4)
    with torch.inference_mode():
        inside = inside.append(_block(4, 3), page_size=4)
    assert torch.equal(inside.tensor(), torch.cat([_block(0, 3), _block(1, 3), _block(4, 3)], dim=2))
    assert torch.equal(outside.tensor(), torch.cat([_block(2, 3), _block(3, 3)], dim=2))


def test_a_stream_state_keeps_only_its_conv_tails_not_the_chunks_they_were_cut_from(flow_and_case):
    """Every causal conv's cached left context (2 frames) and the encoder's tails own just those frames:
    a view would keep the whole chunk's input of every conv of every ODE step alive as long as the state
    lives (e.g. the kept post-prompt state of a voice)."""
    flow, case = flow_and_case
    state = flow.start_stream(case["prompt_token"], case["prompt_feat"], case["embedding"], noise=case["noise"])
    _, state = flow.stream_step(state, case["token"][:, :20], finalize=False)
    tails = [t for step in state.decoder for c in step for t in c.convs]
    tails += [state.encoder.lookahead_tail, state.encoder.up_tail]
    assert len(tails) > 10
    for t in tails:
        assert t.untyped_storage().nbytes() == t.nbytes, tuple(t.shape)
