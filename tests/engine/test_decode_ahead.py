"""The CPU threading of a streamed sentence (engine/decode_ahead.py) and its use by the Engine: the LM decoding
ahead on a worker thread, the flow's guidance rows on two lanes.

The unit tests drive DecodeAhead with plain generators; the Engine tests run the real tiny model with the
worker and the lanes on and off and check that only timing may differ: the same tokens and chunk schedule,
audio equal up to float rounding of another thread count or row layout, the same samples on every run, threads
restored, nothing left running.
"""
from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from engine import Cancelled, CancelToken
from engine.decode_ahead import DecodeAhead, ThreadBudget, split_threads
from engine.parity.tolerance import WAVEFORM, rel_l2, utterance_wave_bound
from engine.pipeline import Engine, Precision, SynthesisRequest, Watchdog

PROMPT_TEXT = "Hello there, this is a short prompt for voice cloning."
WATCHDOG = Watchdog(max_tokens_per_text_token=5.0)  # the tiny random LM never says EOS


def _workers() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "timbre-lm-decode" or t.name.startswith("timbre-flow-lane")]


def _counting(n: int, record: dict, fail_at: int | None = None):
    """A token generator that records the thread it ran on and whether it was closed."""
    try:
        for i in range(n):
            record["thread"] = threading.current_thread().name
            if i == fail_at:
                raise ValueError("the LM broke")
            record["drawn"] = i + 1
            yield i
    finally:
        record["closed_on"] = threading.current_thread().name


def test_yields_every_token_in_order_from_a_worker_thread():
    record: dict = {}
    ahead = DecodeAhead(_counting(50, record), lm_threads=1)
    assert list(ahead) == list(range(50))
    ahead.close()
    assert record["thread"] == "timbre-lm-decode" and record["closed_on"] == "timbre-lm-decode"
    assert not ahead.decoding and not _workers()


def test_close_stops_the_worker_and_closes_the_generator():
    record: dict = {}
    ahead = DecodeAhead(_counting(10**9, record), lm_threads=1)
    assert [next(ahead) for _ in range(3)] == [0, 1, 2]
    ahead.close()
    assert record["closed_on"] == "timbre-lm-decode"  # the LM's generator is closed on the thread that ran it
    assert record["drawn"] < 10**9 and not _workers()
    with pytest.raises(StopIteration):
        next(ahead)


def test_should_stop_ends_the_stream():
    stop = threading.Event()
    record: dict = {}
    ahead = DecodeAhead(_counting(10**9, record), lm_threads=1, should_stop=stop.is_set)
    next(ahead)
    stop.set()
    rest = list(ahead)  # ends by itself once the worker sees the flag
    assert len(rest) < 10**9 and record["closed_on"] == "timbre-lm-decode"
    ahead.close()


def test_an_lm_error_is_raised_in_the_consumer():
    record: dict = {}
    ahead = DecodeAhead(_counting(100, record, fail_at=5), lm_threads=1)
    got = []
    with pytest.raises(ValueError, match="the LM broke"):
        for t in ahead:
            got.append(t)
    assert got == [0, 1, 2, 3, 4]
    ahead.close()
    assert not _workers()


def test_thread_split_and_budget_restore():
    assert split_threads(1) == (1, 1)
    assert split_threads(2) == (1, 1)
    assert split_threads(8) == (2, 6)
    before = torch.get_num_threads()
    with ThreadBudget() as budget:
        budget.use(1)
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before


# ---------------------------------------------------------------------------------------------------------
# In the Engine
# ---------------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def engines(tiny_model_dir: Path) -> dict:
    """True: LM ahead + flow lanes; False: LM in turn, flow lanes; "single": one thread of control."""
    base = Engine.load(tiny_model_dir, device="cpu", normalizer="none", decode_ahead=True, flow_lanes=True)

    def variant(**kw) -> Engine:  # the same networks
        return Engine(base.model_dir, base.cfg, base.lm, base.flow, base.hift, base.frontend, base.text,
                      base.device, base.dtype, precision=base.precision, **kw)

    return {True: base, False: variant(decode_ahead=False, flow_lanes=True),
            "single": variant(decode_ahead=False, flow_lanes=False)}


@pytest.fixture(scope="module")
def voice(engines, parity_dir: Path):
    return engines[True].make_voice(parity_dir / "wavs" / "prompt_en_22k.wav", PROMPT_TEXT, name="Prompt")


def _request(voice, **kw) -> SynthesisRequest:
    kw.setdefault("watchdog", WATCHDOG)
    return SynthesisRequest("Tiny models talk quite a lot. Small ones sing along too.", voice, seed=5,
                            split_sentences=False, **kw)


def _speak(engine: Engine, req: SynthesisRequest, texts: list[str] | None = None):
    if texts is not None:
        engine.sentences = lambda r: texts  # two sentences: the sampler generator carries over between them
    try:
        chunks = list(engine.synthesize(req))
    finally:
        engine.__dict__.pop("sentences", None)
    return chunks, np.concatenate([c.samples for c in chunks])


def test_engine_default_is_on_for_a_multithreaded_cpu_unless_the_lm_is_int8(engines):
    assert engines[True].lm_threads() == 1
    assert engines[False].lm_threads() == 0
    assert engines[True].flow_lane_threads() == max(1, torch.get_num_threads() // 2)
    assert engines["single"].flow_lane_threads() == 0
    e = engines[True]

    def auto(precision: Precision) -> Engine:
        return Engine(e.model_dir, e.cfg, e.lm, e.flow, e.hift, e.frontend, e.text, e.device, e.dtype,
                      precision=precision)

    multi = torch.get_num_threads() >= 2
    assert auto(Precision("fp32", "fp32", torch.float32)).flow_lane_threads() == (1 if multi else 0) * max(
        1, torch.get_num_threads() // 2)
    assert auto(Precision("fp32", "fp32", torch.float32)).lm_threads() == (1 if multi else 0)
    assert auto(Precision("bf16", "bf16", torch.bfloat16)).lm_threads() == (1 if multi else 0)
    # an int8 LM is fast enough that the flow on every core, in turn, is quicker
    assert auto(Precision("int8", "int8w", torch.float32)).lm_threads() == 0


def test_same_tokens_and_schedule_with_and_without_the_worker(engines, voice, parity_dir):
    texts = ["Tiny models talk quite a lot", "Small ones sing along too"]
    threads_before = torch.get_num_threads()
    on, a = _speak(engines[True], _request(voice), texts)
    assert torch.get_num_threads() == threads_before and not _workers()
    off, b = _speak(engines[False], _request(voice), texts)
    single, d = _speak(engines["single"], _request(voice), texts)
    again, c = _speak(engines[True], _request(voice), texts)
    shape = [(x.sentence_index, x.n_speech_tokens, x.samples.shape) for x in on]
    assert shape == [(x.sentence_index, x.n_speech_tokens, x.samples.shape) for x in off]
    assert shape == [(x.sentence_index, x.n_speech_tokens, x.samples.shape) for x in single]
    assert len(on) >= 4  # each sentence streamed a chunk before its final call
    # Another thread count or row layout only changes float rounding in the flow, which HiFT's phase integration
    # amplifies: bounded by the parity policy for a whole utterance of this model (not by what one CPU gives).
    bound = utterance_wave_bound(parity_dir / "goldens")
    assert np.abs(a - b).max() <= bound and np.abs(a - d).max() <= bound
    assert rel_l2(b, a) <= WAVEFORM.rel_l2 and rel_l2(d, a) <= WAVEFORM.rel_l2
    # The thread counts are fixed per call, never chosen by timing (the lane is used when free, but a row
    # gives the same bits on either thread): every run gives the same samples.
    assert np.array_equal(a, c)
    assert torch.get_num_threads() == threads_before and not _workers()


def test_cancel_with_the_worker_is_quick_and_leaves_nothing_running(engines, voice):
    engine = engines[True]
    token = CancelToken()
    long = _request(voice, watchdog=Watchdog(max_tokens_per_text_token=15.0))
    threads_before = torch.get_num_threads()
    t_cancel = None
    with pytest.raises(Cancelled):
        for _ in engine.synthesize(long, cancel=token):
            if t_cancel is None:  # cancel from another thread once audio flows (worker decoding ahead)
                canceller = threading.Thread(target=token.cancel)
                t_cancel = time.perf_counter()
                canceller.start()
    assert time.perf_counter() - t_cancel < 1.0
    canceller.join()
    assert torch.get_num_threads() == threads_before and not _workers()


def test_abandoning_the_stream_stops_the_worker(engines, voice):
    gen = engines[True].synthesize(_request(voice, watchdog=Watchdog(max_tokens_per_text_token=15.0)))
    next(gen)
    gen.close()
    assert not _workers()
