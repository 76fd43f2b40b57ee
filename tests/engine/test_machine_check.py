"""The hardware check behind ``precision="auto"``: the choice from injected measurements (a pure function, thread
totals included), the cache (round trip, damage, keys) and one real check of each tiny model (CosyVoice 2 and
3) that Engine.load then runs by, with the thread total it chose.

No timing is asserted: the real run checks what was measured is what is used, not how fast it was.
"""
from __future__ import annotations

import json

import pytest
import torch

from engine import Engine
from engine.cli import main as cli_main
from engine.cpu_threads import CpuPlan
from engine.machine_check import (CACHE_ENV, PROCESS_THREADS, SWITCH_ENV, MachinePlan, cached_plan, check_machine, machine_key,
                                  measured_auto, plan_from, store_plan)
from engine.machine_choice import (AheadSpeed, Agreement, CallCost, FlowSpeed, LMSpeed, Measurements,
                                   choose_plan, predict_ahead, predict_in_turn)
from engine.machine_measure import thread_counts
from tinyengine import request


# ---------------------------------------------------------------------------------------------------------------
# Injected measurements (seconds per token; call costs as measured at official size are ~1-3 s per chunk)
# ---------------------------------------------------------------------------------------------------------------
def _flow(name: str, per_token: float, lanes: float | None = None, err: float = 0.0) -> FlowSpeed:
    return FlowSpeed(name, CallCost(0.5, per_token), 1.0, None if lanes is None else CallCost(0.5, lanes), err)


def _m(lm=(), flow=(), ahead=(), threads: int = 2, hift: float = 0.005) -> Measurements:
    return Measurements(threads, tuple(lm), tuple(flow), hift, tuple(ahead))


FP32_LM = LMSpeed("fp32", 0.070, 0.7)
FP32_FLOW = _flow("fp32", 0.060)


def test_a_faster_precision_that_agrees_wins():
    m = _m([FP32_LM, LMSpeed("int8w", 0.020, 0.3, agreement=0.97)], [FP32_FLOW, _flow("bf16", 0.030, err=0.05)])
    winner, ranked = choose_plan(m)
    assert (winner.lm, winner.flow) == ("int8w", "bf16")
    assert ranked[0] == winner and all(c.eligible for c in ranked)
    assert [c.predicted_rtf for c in ranked] == sorted(c.predicted_rtf for c in ranked)


def test_a_candidate_that_fails_agreement_is_never_picked_however_fast():
    fast_wrong_lm = LMSpeed("int8w", 0.001, 0.01, agreement=0.5)
    fast_wrong_flow = _flow("bf16", 0.001, err=1.0)
    winner, ranked = choose_plan(_m([FP32_LM, fast_wrong_lm], [FP32_FLOW, fast_wrong_flow]))
    assert (winner.lm, winner.flow) == ("fp32", "fp32")
    failed = [c for c in ranked if not c.eligible]
    assert len(failed) == 3 and all(c.predicted_rtf < winner.predicted_rtf for c in failed)
    assert "50%" in next(c for c in failed if c.lm == "int8w" and c.flow == "fp32").problem
    assert "mel error" in next(c for c in failed if c.flow == "bf16" and c.lm == "fp32").problem
    assert ranked.index(winner) < min(ranked.index(c) for c in failed)  # the eligible ones come first


def test_within_the_margin_the_more_accurate_precision_wins():
    almost = LMSpeed("bf16", FP32_LM.turn_s * 0.99, FP32_LM.first_token_s, agreement=0.99)
    winner, _ = choose_plan(_m([FP32_LM, almost], [FP32_FLOW]))
    assert winner.lm == "fp32"
    winner, _ = choose_plan(_m([FP32_LM, almost], [FP32_FLOW]), Agreement(margin=0.0))
    assert winner.lm == "bf16"


def test_lanes_win_when_two_one_thread_rows_beat_one_two_thread_call():
    winner, ranked = choose_plan(_m([FP32_LM], [_flow("fp32", 0.060, lanes=0.040)]))
    assert winner.flow_lanes and not winner.decode_ahead
    one_thread = choose_plan(_m([FP32_LM], [_flow("fp32", 0.060, lanes=0.040)], threads=1))[1]
    assert not any(c.flow_lanes or c.decode_ahead for c in one_thread)  # nothing to split on one thread


def test_decode_ahead_wins_only_where_the_worker_keeps_its_speed():
    """Issue 20's two machines: one core gets the whole memory bandwidth (the worker decodes as fast beside the
    flow: ahead wins) or half of it (the worker at half speed, the flow slowed too: in turn wins)."""
    bandwidth_per_core = AheadSpeed("fp32", "fp32", lm_s=0.075, lm_alone_s=0.070, slowdown=1.6)
    shared_bandwidth = AheadSpeed("fp32", "fp32", lm_s=0.140, lm_alone_s=0.120, slowdown=2.2)
    winner, _ = choose_plan(_m([FP32_LM], [FP32_FLOW], [bandwidth_per_core]))
    assert winner.decode_ahead
    winner, _ = choose_plan(_m([FP32_LM], [FP32_FLOW], [shared_bandwidth]))
    assert not winner.decode_ahead


def test_predictions_follow_the_streaming_schedule():
    m = _m([FP32_LM], [FP32_FLOW], hift=0.0)
    total, first = predict_in_turn(m, FP32_LM, CallCost(0.0, 0.0), start_s=0.0)
    # no flow cost: the LM alone, every one of the 250 tokens once
    assert total == pytest.approx(FP32_LM.first_token_s + 249 * FP32_LM.turn_s)
    # the first chunk call needs 28 tokens (25 + 3 look-ahead, 75-token prompt: pad 0)
    assert first == pytest.approx(FP32_LM.first_token_s + 27 * FP32_LM.turn_s)
    ahead = AheadSpeed("fp32", "fp32", lm_s=FP32_LM.turn_s, lm_alone_s=FP32_LM.turn_s, slowdown=1.0)
    flow = FlowSpeed("fp32", CallCost(0.0, 0.0), 0.0)
    t_ahead, first_ahead = predict_ahead(m, FP32_LM, flow, ahead, CallCost(0.0, 0.0))
    assert t_ahead == pytest.approx(total) and first_ahead == pytest.approx(first)
    # with flow work the worker hides it: ahead is faster than in turn at the same speeds
    flow = FlowSpeed("fp32", CallCost(0.5, 0.05), 1.0)
    assert predict_ahead(m, FP32_LM, flow, ahead, flow.batched)[0] < predict_in_turn(m, FP32_LM, flow.batched, 1.0)[0]


def test_a_thread_total_is_a_measured_candidate():
    """Issue 20's 2-core machines: where another process holds a core (or one core gets most of the memory
    bandwidth) the 1-thread numbers can be the faster ones; then 1 thread wins, and the plan applies it."""
    two = _m([FP32_LM], [_flow("fp32", 0.060, lanes=0.050)], threads=2)
    stalled_two = _m([LMSpeed("fp32", 0.200, 1.5)], [_flow("fp32", 0.150, lanes=0.140)], threads=2)
    one = _m([LMSpeed("fp32", 0.090, 0.9)], [_flow("fp32", 0.080)], threads=1)
    winner, ranked = choose_plan([stalled_two, one])
    assert winner.threads == 1 and not winner.decode_ahead and not winner.flow_lanes
    assert {c.threads for c in ranked} == {1, 2}
    winner, _ = choose_plan([two, one])
    assert winner.threads == 2  # the same 1-thread numbers lose to an unstalled 2-thread run
    plan = plan_from([stalled_two, one], (("k", "v"),), check_s=1.0)
    assert (plan.threads, plan.max_threads) == (1, 2)
    assert plan.cpu_plan(torch.device("cpu")) == CpuPlan(1, 0, 0, measured=True)  # what the engine's sentences run with
    assert "1 thread," in plan.describe()


def test_a_disagreeing_candidate_never_wins_at_any_thread_total():
    fast_wrong = LMSpeed("int8w", 0.001, 0.01, agreement=0.5)
    one = _m([LMSpeed("fp32", 0.090, 0.9), fast_wrong], [_flow("fp32", 0.080), _flow("bf16", 0.001, err=1.0)],
             threads=1)
    two = _m([FP32_LM], [FP32_FLOW], threads=2)
    winner, ranked = choose_plan([two, one])
    assert (winner.lm, winner.flow) == ("fp32", "fp32") and winner.eligible
    assert all(c.predicted_rtf < winner.predicted_rtf for c in ranked if not c.eligible)
    assert {c.threads for c in ranked if not c.eligible} == {1}


def test_thread_totals_measured():
    assert thread_counts(1) == (1,)
    assert thread_counts(2) == (2, 1)
    assert thread_counts(3) == (3, 1)
    assert thread_counts(8) == (8, 4, 1)


def test_call_cost_through_two_points():
    c = CallCost.from_two(28, 1.56, 50, 1.78)
    assert c.per_token_s == pytest.approx(0.01) and c.fixed_s == pytest.approx(1.28)
    assert c.cost(0) == 0.0 and CallCost.from_two(28, 2.0, 50, 1.0).per_token_s == 0.0  # never negative


# ---------------------------------------------------------------------------------------------------------------
# The cache
# ---------------------------------------------------------------------------------------------------------------
def _plan(tiny_model_dir, lm="int8w", flow="fp32") -> MachinePlan:
    m = _m([FP32_LM, LMSpeed(lm, 0.02, 0.3, 0.97)], [FP32_FLOW, _flow("bf16", 0.07, err=0.05)])
    if flow == "bf16":
        m = _m([FP32_LM, LMSpeed(lm, 0.02, 0.3, 0.97)], [FP32_FLOW, _flow("bf16", 0.01, err=0.05)])
    return plan_from(m, machine_key(tiny_model_dir, "cosyvoice2"), check_s=1.0)


def test_cache_round_trip_and_keys(tiny_model_dir, tmp_path):
    path = tmp_path / "cache" / "machine-check.json"
    plan = _plan(tiny_model_dir)
    assert cached_plan(tiny_model_dir, path=path) is None
    store_plan(plan, path)
    back = cached_plan(tiny_model_dir, path=path)
    assert back == plan
    assert back.precision.name == "int8" and back.precision.lm == "int8w" and back.precision.flow == torch.float32
    # another thread count or model folder is another machine plan
    assert cached_plan(tiny_model_dir, threads=plan.max_threads + 7, path=path) is None
    other = tmp_path / "model-copy"
    other.symlink_to(tiny_model_dir.resolve(), target_is_directory=True)
    assert cached_plan(other, path=path) == plan  # the same folder by another path: keyed by the resolved one
    # a second model's entry is kept beside the first
    second = plan_from(_m([FP32_LM], [FP32_FLOW]), machine_key(tmp_path, "cosyvoice2"), 1.0)
    store_plan(second, path)
    assert cached_plan(tiny_model_dir, path=path) == plan
    assert len(json.loads(path.read_text())["plans"]) == 2


def test_the_chosen_thread_total_round_trips_and_is_not_in_the_key(tiny_model_dir, tmp_path):
    path = tmp_path / "machine-check.json"
    n = torch.get_num_threads()
    one = _m([LMSpeed("fp32", 0.010, 0.1)], [_flow("fp32", 0.001)], threads=1)
    plan = plan_from([_m([FP32_LM], [FP32_FLOW], threads=max(2, n)), one],
                     machine_key(tiny_model_dir, "cosyvoice2"), check_s=1.0)
    assert plan.threads == 1 and plan.key == machine_key(tiny_model_dir, "cosyvoice2")  # keyed by the process's
    store_plan(plan, path)
    assert cached_plan(tiny_model_dir, path=path) == plan
    data = json.loads(path.read_text())
    for entry in data["plans"].values():
        entry["threads"] = entry["max_threads"] + 1  # a total the check never tried: damaged
    path.write_text(json.dumps(data))
    assert cached_plan(tiny_model_dir, path=path) is None


@pytest.mark.parametrize("damage", [
    "", "{", "[1, 2]", '{"version": 999, "plans": {}}', '{"version": 1, "plans": []}', b"\xff\xfe\x00garbage",
    "entry"])
def test_a_damaged_cache_is_ignored_and_replaced(tiny_model_dir, tmp_path, damage):
    path = tmp_path / "machine-check.json"
    plan = _plan(tiny_model_dir)
    if damage == "entry":  # the file reads, but this model's entry lost a field
        store_plan(plan, path)
        data = json.loads(path.read_text())
        for entry in data["plans"].values():
            del entry["flow"]
        path.write_text(json.dumps(data))
    elif isinstance(damage, bytes):
        path.write_bytes(damage)
    else:
        path.write_text(damage)
    assert cached_plan(tiny_model_dir, path=path) is None
    store_plan(plan, path)  # the next check replaces it
    assert cached_plan(tiny_model_dir, path=path) == plan


def test_auto_uses_the_cache_only_for_auto_on_the_cpu(tiny_model_dir, tmp_path, monkeypatch):
    path = tmp_path / "machine-check.json"
    monkeypatch.setenv(CACHE_ENV, str(path))
    store_plan(_plan(tiny_model_dir), path)
    cpu = torch.device("cpu")
    assert measured_auto(tiny_model_dir, cpu, "auto") is not None
    assert measured_auto(tiny_model_dir, cpu, "fp32") is None  # an explicit precision is never replaced
    assert measured_auto(tiny_model_dir, torch.device("meta"), "auto") is None  # CPU only
    monkeypatch.setenv(SWITCH_ENV, "off")
    assert measured_auto(tiny_model_dir, cpu, "auto") is None


def test_engine_load_runs_by_a_cached_plan_and_runtime_overrides_it(tiny_model_dir, tmp_path, monkeypatch):
    path = tmp_path / "machine-check.json"
    monkeypatch.setenv(CACHE_ENV, str(path))
    plan = _plan(tiny_model_dir, flow="bf16")
    assert (plan.lm, plan.flow) == ("int8w", "bf16")
    store_plan(plan, path)
    engine = Engine.load(tiny_model_dir, device="cpu", normalizer="none")
    assert engine.machine_plan == plan
    assert engine.precision == plan.precision and engine.precision.name == "int8/bf16"
    assert engine.dtype == torch.bfloat16
    assert engine.cpu == plan.cpu_plan(torch.device("cpu"))
    forced = engine.with_runtime(engine.runtime.__class__(decode_ahead=True, flow_lanes=False))
    assert forced.machine_plan == plan and forced.cpu.decode_ahead and not forced.cpu.flow_lanes
    explicit = Engine.load(tiny_model_dir, device="cpu", precision="fp32", normalizer="none")
    assert explicit.machine_plan is None and explicit.precision.name == "fp32"


# ---------------------------------------------------------------------------------------------------------------
# One real check of the tiny model
# ---------------------------------------------------------------------------------------------------------------
def test_real_check_of_the_tiny_model_is_what_auto_loads(tiny_model_dir, tmp_path, monkeypatch, capsys):
    path = tmp_path / "machine-check.json"
    monkeypatch.setenv(CACHE_ENV, str(path))
    threads = torch.get_num_threads()
    shares = []
    plan = check_machine(tiny_model_dir, lm_tokens=8, progress=lambda what, share: shares.append(share))
    assert torch.get_num_threads() == threads  # measured at every total, the caller's count restored
    assert shares[0] == 0.0 and shares[-1] == 1.0 and shares == sorted(shares)
    # measured for the count the engine was imported with (the caller's own count may differ after other tests)
    assert plan.threads in thread_counts(PROCESS_THREADS) and plan.max_threads == PROCESS_THREADS
    assert plan.check_s > 0 and plan.predicted_rtf > 0
    winner = plan.candidates[0]
    assert winner.eligible and (winner.lm, winner.flow, winner.threads) == (plan.lm, plan.flow, plan.threads)
    assert {(c.lm, c.flow) for c in plan.candidates} >= {("fp32", "fp32"), ("bf16", "bf16")}
    assert {c.threads for c in plan.candidates} == set(thread_counts(PROCESS_THREADS))
    # the cache holds it, and Engine.load(precision="auto") runs by it
    assert cached_plan(tiny_model_dir) == plan
    engine = Engine.load(tiny_model_dir, device="cpu", precision="auto", normalizer="none")
    assert engine.machine_plan == plan and engine.precision == plan.precision
    assert engine.cpu == plan.cpu_plan(torch.device("cpu"))
    assert engine.cpu.total == plan.threads
    assert engine.cpu.decode_ahead == (plan.decode_ahead and plan.threads >= 2)
    assert engine.cpu.flow_lanes == (plan.flow_lanes and plan.threads >= 2)
    # the CLI shows the same plan without measuring again
    assert cli_main(["bench-machine", "--model", str(tiny_model_dir), "--show", "--json"]) == 0
    assert MachinePlan.from_json(json.loads(capsys.readouterr().out)) == plan


def _vocoder_threads(engine, monkeypatch) -> list[int]:
    """The thread count of this thread at every vocoder call of ``engine`` (the final call runs on the plan's
    whole total, whatever the layout)."""
    seen, inference = [], engine.hift.inference

    def counting(*args, **kwargs):
        seen.append(torch.get_num_threads())
        return inference(*args, **kwargs)

    monkeypatch.setattr(engine.hift, "inference", counting)
    return seen


def test_engine_generates_with_the_chosen_thread_total(tiny_model_dir, voice, tmp_path, monkeypatch):
    path = tmp_path / "machine-check.json"
    monkeypatch.setenv(CACHE_ENV, str(path))
    n = torch.get_num_threads()
    one = _m([LMSpeed("fp32", 0.010, 0.1)], [_flow("fp32", 0.001)], threads=1)
    store_plan(plan_from([_m([FP32_LM], [FP32_FLOW], threads=n), one], machine_key(tiny_model_dir, "cosyvoice2"),
                         check_s=1.0), path)
    engine = Engine.load(tiny_model_dir, device="cpu", precision="auto", normalizer="none")
    assert engine.machine_plan.threads == 1 and engine.cpu == CpuPlan(1, 0, 0, measured=True)
    seen = _vocoder_threads(engine, monkeypatch)
    chunks = list(engine.synthesize(request(voice)))
    assert chunks and seen and set(seen) == {1}  # every call on the measured total, not the process's n
    assert torch.get_num_threads() == n  # and the caller's count back afterwards


def test_real_check_of_the_tiny_cosyvoice3_model(tiny_cv3_model_dir, tmp_path, monkeypatch):
    """CosyVoice 3 shares the LM decode loop, the flow's stream API and the schedule: the same check measures it
    (its LM needs <|endofprompt|> in the fixed input, its causal HiFT is timed through the stream window)."""
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "machine-check.json"))
    threads = torch.get_num_threads()
    plan = check_machine(tiny_cv3_model_dir, lm_tokens=8)
    assert torch.get_num_threads() == threads
    assert plan.threads in thread_counts(PROCESS_THREADS) and dict(plan.key)["family"] == "cosyvoice3"
    assert {(c.lm, c.flow) for c in plan.candidates} >= {("fp32", "fp32"), ("bf16", "bf16")}
    engine = Engine.load(tiny_cv3_model_dir, device="cpu", precision="auto", normalizer="none")
    assert engine.machine_plan == plan and engine.precision == plan.precision
    assert engine.cpu.total == plan.threads


def test_cli_show_without_a_check_says_what_to_run(tiny_model_dir, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "none.json"))
    assert cli_main(["bench-machine", "--model", str(tiny_model_dir), "--show"]) == 1
    assert "timbre bench-machine" in capsys.readouterr().err


def test_a_sentence_runs_with_its_plans_thread_total_and_restores_the_callers():
    """What makes a measured total stick: SentenceThreads sets the plan's total, at most the caller's count (the
    caller's budget: a process that lowered its count after loading keeps it)."""
    from engine.cpu_threads import SentenceThreads

    before = torch.get_num_threads()
    for total, inside in ((1, 1), (before + 1, before)):
        with SentenceThreads(CpuPlan(total, measured=True), iter(()), streamed=False, split_rows=False) as threads:
            assert torch.get_num_threads() == inside
            threads.use(flow=True, final=False)
            assert torch.get_num_threads() == inside
        assert torch.get_num_threads() == before


def test_a_cancelled_check_restores_the_thread_count_and_caches_nothing(tiny_model_dir, tmp_path, monkeypatch):
    from engine.errors import CancelToken, Cancelled

    path = tmp_path / "machine-check.json"
    monkeypatch.setenv(CACHE_ENV, str(path))
    threads, token, seen = torch.get_num_threads(), CancelToken(), []

    def progress(what: str, share: float) -> None:
        seen.append(what)
        if what.endswith(" 1 thread"):  # cancel while the check runs at another total than the caller's
            token.cancel()

    with pytest.raises(Cancelled):
        check_machine(tiny_model_dir, lm_tokens=8, progress=progress, cancel=token)
    assert any(w.endswith(" 1 thread") for w in seen)
    assert torch.get_num_threads() == threads and not path.exists()
