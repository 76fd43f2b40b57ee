"""engine.bench --quick end to end: every configuration this machine can run reports every field.

No timing is asserted (shared CI machines are too noisy); values must be present, finite and positive.
"""
from __future__ import annotations

import json
import math
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from engine.bench import (COMPONENTS, FLOW_MODES, QUICK_PLAN, chunk_schedule, format_table, quick_config,
                          reference_ratios, skip_reason, split_precision)
from engine.config import official_config
from engine.precision import Precision

ROOT = Path(__file__).resolve().parents[2]

LM_FIELDS = ("prefill_s", "first_token_s", "decode_tokens_per_s", "ms_per_token")
CHUNK_FIELDS = ("recompute_s", "incremental_s", "speedup")
FLOW_FIELDS = ("start_stream_s", "offline_s", "offline_rtf")
HIFT_FIELDS = ("full_s", "rtf", "chunk_58_frames_s", "audio_s")
STREAM_FIELDS = ("first_audio_s", "total_s", "audio_s", "rtf", "lm_s", "flow_s", "vocoder_s")


def _positive(value) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value) and value > 0


@pytest.fixture(scope="module")
def quick_report(tmp_path_factory) -> dict:
    out = tmp_path_factory.mktemp("bench") / "bench.json"
    proc = subprocess.run([sys.executable, "-m", "engine.bench", "--quick", "--json", str(out)], cwd=ROOT,
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "LM decode (tokens/s)" in proc.stdout  # the table was printed
    return json.loads(out.read_text())


@pytest.mark.slow
def test_quick_reports_every_field(quick_report):
    results = {(r["backend"], r["precision"]): r for r in quick_report["results"]}
    for precision in ("fp32", "bf16", "int8"):  # the CPU configurations always run
        assert results[("cpu", precision)]["status"] == "ok", results[("cpu", precision)]
    assert results[("cpu", "fp16")]["status"] == "skipped"
    assert "not supported on the CPU" in results[("cpu", "fp16")]["reason"]
    ok = [r for r in quick_report["results"] if r["status"] == "ok"]
    for r in ok:
        assert set(r["components"]) == set(COMPONENTS)
        for f in LM_FIELDS:
            assert _positive(r["lm"][f]), (r["precision"], f, r["lm"][f])
        assert r["lm"]["prompt_positions"] == QUICK_PLAN.prompt_positions
        assert len(r["flow"]["chunks"]) == QUICK_PLAN.chunks
        for chunk in r["flow"]["chunks"]:
            for f in CHUNK_FIELDS:
                assert _positive(chunk[f]), (r["precision"], chunk)
        for f in FLOW_FIELDS:
            assert _positive(r["flow"][f]), (r["precision"], f)
        for f in HIFT_FIELDS:
            assert _positive(r["hift"][f]), (r["precision"], f)
        for mode in FLOW_MODES:
            s = r["stream"][mode]
            for f in STREAM_FIELDS:
                assert _positive(s[f]), (r["precision"], mode, f, s[f])
            # every token became audio: 2 mel frames of 480 samples per token at 24 kHz
            assert s["audio_s"] == pytest.approx(QUICK_PLAN.utterance_tokens * 0.04, rel=0.05)
            assert s["first_audio_s"] <= s["total_s"]
            assert s["pieces"] >= 2  # at least one streaming chunk before the final call
        assert _positive(r["peak_rss_mb"]) and _positive(r["build_s"])
        assert "vs_reference" not in r  # a tiny model is never compared with the official numbers
    for key in ("cpu", "nproc", "torch", "threads", "loadavg"):
        assert key in quick_report["machine"]
    assert quick_report["quick"] is True


def test_precision_names_and_skips():
    assert split_precision("fp32") == ("fp32", "fp32")
    assert split_precision("bf16") == ("bf16", "bf16")
    assert split_precision("int8") == ("int8", "fp32")
    assert split_precision("int8/bf16") == ("int8", "bf16")
    with pytest.raises(ValueError, match="Unknown precision"):
        split_precision("int4")
    assert "CPU" in skip_reason("cpu", "fp16")
    assert skip_reason("cpu", "int8") is None


def test_the_bench_builds_what_engine_load_runs():
    """``int8`` is the engine's int8 (the weight-only ``int8w`` kernel where this torch has it, as
    pick_precision decides), not fbgemm's dynamic int8, which stays measurable as ``int8dyn``."""
    from engine.bench import engine_precision
    from engine.precision import pick_precision

    assert engine_precision("cpu", "int8").lm == pick_precision("int8", "cpu").lm
    assert engine_precision("cpu", "int8/bf16") == Precision("int8/bf16", pick_precision("int8", "cpu").lm,
                                                            torch.bfloat16)
    assert engine_precision("cpu", "bf16") == Precision("bf16", "bf16", torch.bfloat16)
    assert engine_precision("cpu", "int8dyn").lm == "int8"
    assert split_precision("int8dyn") == ("int8dyn", "fp32")
    assert "CPU path" in skip_reason("cuda", "int8dyn") or not torch.cuda.is_available()


def test_int8_config_runs_the_weight_only_kernel():
    from engine.bench import run_config
    from engine.llm.speech_lm import Int8WeightLinear
    from engine.precision import pick_precision

    r = run_config(quick_config(), QUICK_PLAN, "cpu", "int8", ("lm",))
    assert r["status"] == "ok" and r["lm_conversion"] == pick_precision("int8", "cpu").lm
    if r["lm_conversion"] == "int8w":  # the engine's own path: its layer type is what was timed
        from engine.bench.lm import random_lm

        lm = random_lm(quick_config().lm, r["lm_conversion"])
        assert any(isinstance(m, Int8WeightLinear) for m in lm.modules())
    assert _positive(r["lm"]["decode_tokens_per_s"])


def test_machine_check_on_the_bench_networks():
    """``--machine-check``: the hardware check behind precision=auto, on the random networks (tiny here)."""
    from engine.bench import run_machine_check

    plan = replace(QUICK_PLAN, threads=1)
    out = run_machine_check(quick_config(), plan)
    assert out["check_s"] > 0 and out["plan"]["threads"] == 1
    assert {(c["lm"], c["flow"]) for c in out["plan"]["candidates"]} >= {("fp32", "fp32"), ("bf16", "bf16")}
    assert out["details"]["lm"]["fp32"]["token_agreement"] == 1.0
    assert out["details"]["flow"]["fp32"]["mel_error"] == 0.0


def test_official_chunk_schedule():
    """The official streaming calls for a 75-token prompt: 28, 78, 178, 278, 378, 478 tokens."""
    from engine.bench import BenchPlan

    calls = chunk_schedule(official_config(), BenchPlan())
    assert [n for n, _ in calls] == [28, 78, 178, 278, 378, 478]
    assert [o for _, o in calls] == [0, 25, 75, 175, 275, 375]
    assert quick_config().lm.qwen.hidden_size == 64


def test_reference_ratios_are_labelled_and_directional(parity_dir):
    ref = json.loads((parity_dir / "reference_cpu_perf.json").read_text())
    ref_tps = ref["components"]["lm"]["median_decode_tokens_per_s"]
    ref_hift = ref["components"]["hift"]["median_s"]
    result = {"lm": {"decode_tokens_per_s": 2 * ref_tps, "first_token_s": 1.0},
              "hift": {"full_s": ref_hift / 4}}
    ratios = reference_ratios(result, ref)
    assert "not side by side" in ratios["note"]
    assert ratios["lm_decode_speedup"] == pytest.approx(2.0)
    assert ratios["hift_speedup"] == pytest.approx(4.0)
    table = format_table({"machine": {"cpu": "x", "nproc": 2, "torch": "t", "threads": 2, "loadavg": []},
                          "quick": False, "results": [{"backend": "cpu", "precision": "fp32", "status": "ok",
                                                       **result, "peak_rss_mb": 1.0, "vs_reference": ratios}]})
    assert "not side by side" in table and "LM decode (tokens/s)" in table


def test_one_flow_mode_in_process():
    """``--flow-modes incremental`` times only our way (the recomputing way takes O(k) per chunk)."""
    from engine.bench import run_config

    r = run_config(quick_config(), QUICK_PLAN, "cpu", "fp32", ("flow",), ("incremental",))
    assert r["status"] == "ok" and "lm" not in r and "stream" not in r
    for chunk in r["flow"]["chunks"]:
        assert _positive(chunk["incremental_s"]) and "recompute_s" not in chunk and "speedup" not in chunk
    assert _positive(r["flow"]["offline_s"]) and _positive(r["matmul_gflops_before"])


def test_the_bench_holds_an_fp32_lm_memory_mapped_like_engine_load():
    """The stream's peak RSS must count what the app holds: Engine.load maps llm.pt, so only touched pages
    (e.g. the text-embedding rows of the text read) are resident. The benchmark's fp32 LM is mapped the same
    way, from a file a child process wrote, with the same weights as the in-memory random LM."""
    from engine.bench.lm import mapped_random_lm, random_lm

    cfg = quick_config().lm
    mapped, in_memory = mapped_random_lm(cfg, seed=3), random_lm(cfg, "fp32", seed=3)
    for (name, a), (_, b) in zip(mapped.state_dict().items(), in_memory.state_dict().items()):
        assert torch.equal(a, b), name
    embedding = mapped.qwen.model.embed_tokens.weight
    assert mapped.qwen.lm_head.weight is embedding  # tied again after loading, as Engine.load does
    if sys.platform.startswith("linux"):
        address = embedding.data_ptr()
        for line in Path("/proc/self/maps").read_text().splitlines():
            start, end = (int(x, 16) for x in line.split()[0].split("-"))
            if start <= address < end:
                assert "llm.pt" in line, line  # a mapping of the (deleted) file, not anonymous memory
                break
        else:
            pytest.fail("the embedding's address is in no mapping")
