"""The load test with tiny numbers: every answer arrives whole and identical to the same request made alone."""
from __future__ import annotations

import math

from engine.server.bench import bench_serve, plan


def test_plan_gives_distinct_requests():
    pairs = [p for row in plan(8, 5) for p in row]
    assert len(set(pairs)) == 40 and len({seed for _, seed in pairs}) == 40
    assert len({text for text, _ in pairs}) == 8  # one text per client, each a different length


def test_bench_with_tiny_numbers(tiny_model_dir, voices):
    serve_args = ["--model", str(tiny_model_dir), "--normalizer", "none", "--voices-dir", str(voices.root)]
    report = bench_serve(serve_args, "Prompt", clients=2, requests=1, rounds=2)
    assert report.ok, report.lines()
    assert (report.complete, report.expected, report.mismatched, report.failed) == (4, 4, 0, 0)
    assert len(report.rss_mb_rounds) == 2
    assert report.audio_s > 0 and all(math.isfinite(x) for x in (report.total_p50_s, report.total_p95_s,
                                                                    report.first_byte_p50_s))
