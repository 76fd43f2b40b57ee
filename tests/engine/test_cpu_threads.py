"""The CPU threading of a streamed sentence (engine/cpu_threads.py) and its use by the Engine: the LM decoding
ahead on a worker thread, the flow's guidance rows on two lanes.

The unit tests drive DecodeAhead with plain generators; the Engine tests run the real tiny model with the
worker and the lanes on and off and check that only timing may differ: the same tokens and chunk schedule,
audio equal up to float rounding of another thread count or row layout, the same samples on every run, threads
restored, nothing left running.
"""
from __future__ import annotations

import threading

import numpy as np
import pytest
import torch

from engine import Cancelled, CancelToken, Engine, Precision, Runtime, SynthesisRequest, Watchdog
from engine.cpu_threads import CpuPlan, DecodeAhead, SentenceThreads, plan_cpu_threads, split_threads
from engine.parity.tolerance import WAVEFORM, rel_l2, utterance_wave_bound

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
    ahead = DecodeAhead(_counting(50, record), lm_threads=1).start()
    assert list(ahead) == list(range(50))
    ahead.close()
    assert record["thread"] == "timbre-lm-decode" and record["closed_on"] == "timbre-lm-decode"
    assert not ahead.decoding and not _workers()


def test_close_stops_the_worker_and_closes_the_generator():
    record: dict = {}
    ahead = DecodeAhead(_counting(10**9, record), lm_threads=1).start()
    assert [next(ahead) for _ in range(3)] == [0, 1, 2]
    ahead.close()
    assert record["closed_on"] == "timbre-lm-decode"  # the LM's generator is closed on the thread that ran it
    assert record["drawn"] < 10**9 and not _workers()
    with pytest.raises(StopIteration):
        next(ahead)


def test_a_cancel_ends_the_stream():
    stop = CancelToken()
    record: dict = {}
    ahead = DecodeAhead(_counting(10**9, record), lm_threads=1, stop=stop).start()
    next(ahead)
    stop.cancel()
    rest = list(ahead)  # ends by itself once the worker sees the flag
    assert len(rest) < 10**9 and record["closed_on"] == "timbre-lm-decode"
    ahead.close()


def test_an_lm_error_is_raised_in_the_consumer():
    record: dict = {}
    ahead = DecodeAhead(_counting(100, record, fail_at=5), lm_threads=1).start()
    got = []
    with pytest.raises(ValueError, match="the LM broke"):
        for t in ahead:
            got.append(t)
    assert got == [0, 1, 2, 3, 4]
    ahead.close()
    assert not _workers()


def test_nothing_starts_before_the_sentence_and_everything_stops_once_after():
    record: dict = {}
    plan = CpuPlan(total=torch.get_num_threads(), lm_threads=1, lane_threads=1)
    threads = SentenceThreads(plan, _counting(10**9, record), streamed=True, split_rows=True)
    assert not _workers() and "thread" not in record  # constructing starts nothing
    before = torch.get_num_threads()
    with threads:
        assert next(threads.tokens) == 0 and record["thread"] == "timbre-lm-decode"
        threads.use(flow=True, final=False)
        assert torch.get_num_threads() == 1  # the lane's count for the flow rows
    assert torch.get_num_threads() == before and not _workers()
    assert record["closed_on"] == "timbre-lm-decode"
    in_turn = SentenceThreads(plan, _counting(3, record), streamed=False, split_rows=False)  # not streamed
    with in_turn:
        assert list(in_turn.tokens) == [0, 1, 2] and not in_turn.decoding_ahead and in_turn.helper() is None


def test_thread_split():
    assert split_threads(1) == (1, 1)
    assert split_threads(2) == (1, 1)
    assert split_threads(8) == (2, 6)


# ---------------------------------------------------------------------------------------------------------
# In the Engine
# ---------------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def engines(engine: Engine) -> dict:
    """True: LM ahead + flow lanes; False: LM in turn, flow lanes; "single": one thread of control."""
    return {True: engine.with_runtime(Runtime(decode_ahead=True, flow_lanes=True)),
            False: engine.with_runtime(Runtime(decode_ahead=False, flow_lanes=True)),
            "single": engine.with_runtime(Runtime(decode_ahead=False, flow_lanes=False))}


def _request(voice, **kw) -> SynthesisRequest:
    kw.setdefault("watchdog", WATCHDOG)
    # two sentences: the sampler stream carries over between them
    return SynthesisRequest(voice=voice, pieces=("Tiny models talk quite a lot", "Small ones sing along too"),
                            seed=5, **kw)


def _speak(engine: Engine, req: SynthesisRequest):
    chunks = list(engine.synthesize(req))
    return chunks, np.concatenate([c.samples for c in chunks])


def test_the_plan_is_decided_once_for_a_multithreaded_cpu_unless_the_lm_is_int8(engines):
    n = torch.get_num_threads()
    assert engines[True].cpu.lm_threads == 1 and engines[False].cpu.lm_threads == 0
    assert engines[True].cpu.lane_threads == max(1, n // 2) and engines["single"].cpu.lane_threads == 0
    cpu, multi = torch.device("cpu"), n >= 2
    fp32 = plan_cpu_threads(cpu, Precision("fp32", "fp32", torch.float32))
    assert (fp32.lm_threads, fp32.lane_threads) == ((1, max(1, n // 2)) if multi else (0, 0))
    assert plan_cpu_threads(cpu, Precision("bf16", "bf16", torch.bfloat16)).decode_ahead == multi
    # an int8 LM is fast enough that the flow on every core, in turn, is quicker
    assert not plan_cpu_threads(cpu, Precision("int8", "int8w", torch.float32)).decode_ahead
    assert plan_cpu_threads(cpu, Precision("fp32", "fp32", torch.float32), total=1) == CpuPlan(1, 0, 0)


def test_same_tokens_and_schedule_with_and_without_the_worker(engines, voice, parity_dir):
    threads_before = torch.get_num_threads()
    on, a = _speak(engines[True], _request(voice))
    assert torch.get_num_threads() == threads_before and not _workers()
    off, b = _speak(engines[False], _request(voice))
    single, d = _speak(engines["single"], _request(voice))
    again, c = _speak(engines[True], _request(voice))
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


def test_cancel_with_the_worker_stops_the_sentence_and_leaves_nothing_running(engines, voice):
    engine = engines[True]
    token = CancelToken()
    long = _request(voice, watchdog=Watchdog(max_tokens_per_text_token=15.0))
    threads_before = torch.get_num_threads()
    chunks_after_cancel = 0
    with pytest.raises(Cancelled):
        for _ in engine.synthesize(long, cancel=token):
            if token.cancelled:
                chunks_after_cancel += 1
            else:  # cancel from another thread once audio flows (worker decoding ahead)
                canceller = threading.Thread(target=token.cancel)
                canceller.start()
                canceller.join()
    assert chunks_after_cancel == 0  # the generator raises before handing out another chunk
    assert torch.get_num_threads() == threads_before and not _workers()


def test_abandoning_the_stream_stops_the_worker(engines, voice):
    gen = engines[True].synthesize(_request(voice, watchdog=Watchdog(max_tokens_per_text_token=15.0)))
    next(gen)
    gen.close()
    assert not _workers()
