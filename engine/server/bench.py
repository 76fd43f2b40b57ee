"""Load test of ``timbre serve``: C concurrent clients x R requests each, against a real server process.

    python -m engine.server.bench --model DIR --voices-dir D --voice NAME [--clients 8] [--requests 5] [--json]
    python -m engine.server.bench --model DIR --prompt me.wav --transcript "..."   (a voice made for the run)

Every request is a distinct (text, seed) pair, so an answer that went to the wrong client, came back short
or mixed with another is seen: first each pair is requested once on its own (the reference, which also warms
the server), then all of them concurrently, and every concurrent answer must be byte-identical to its
reference (the engine gives the same samples for the same seed, input and thread count). The server's
resident memory (``/proc/PID/status``, Linux) is sampled through the concurrent rounds (``--rounds``) and
reported after each, so growth from round to round shows; latency is reported as
the time to the first audio byte and to the whole answer, p50 and p95. A benchmark, not a test: it measures
and reports; ``tests/server/test_bench.py`` runs it with tiny numbers and checks only completeness.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import signal
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

WORDS = ("one quiet river runs past the old mill while children count the boats and sing about the weather "
         "every morning before school begins").split()


def plan(clients: int, requests: int) -> list[list[tuple[str, int]]]:
    """Per client, its (text, seed) pairs: client c speaks c + 1 words (answers of distinct lengths), seeds
    distinct across the whole run."""
    texts = [" ".join(WORDS[i % len(WORDS)] for i in range(c, 2 * c + 1)).capitalize() + "." for c in range(clients)]
    return [[(texts[c], 1000 * c + r) for r in range(requests)] for c in range(clients)]


@dataclass
class Answer:
    text: str
    seed: int
    status: int = 0
    n_bytes: int = 0
    sha256: str = ""
    first_byte_s: float = float("nan")
    total_s: float = float("nan")
    error: str = ""


@dataclass
class BenchReport:
    clients: int
    requests: int
    rounds: int
    expected: int
    complete: int = 0
    mismatched: int = 0
    failed: int = 0
    errors: list[str] = field(default_factory=list)
    first_byte_p50_s: float = float("nan")
    first_byte_p95_s: float = float("nan")
    total_p50_s: float = float("nan")
    total_p95_s: float = float("nan")
    wall_s: float = 0.0
    audio_s: float = 0.0
    rss_mb_before: float = float("nan")
    rss_mb_rounds: list[float] = field(default_factory=list)  # after each concurrent round
    rss_mb_peak: float = float("nan")

    @property
    def ok(self) -> bool:
        return self.complete == self.expected and not self.mismatched and not self.failed

    def lines(self) -> list[str]:
        return [
            f"{self.clients} clients x {self.requests} requests x {self.rounds} round(s): {self.complete}/"
            f"{self.expected} complete and "
            f"identical to their reference, {self.mismatched} mismatched, {self.failed} failed",
            f"first audio byte p50 {self.first_byte_p50_s:.2f} s, p95 {self.first_byte_p95_s:.2f} s | "
            f"whole answer p50 {self.total_p50_s:.2f} s, p95 {self.total_p95_s:.2f} s",
            f"{self.audio_s:.1f} s of audio in {self.wall_s:.1f} s wall (concurrent rounds)",
            f"server RSS {self.rss_mb_before:.0f} MB before, after each round "
            f"{', '.join(f'{x:.0f}' for x in self.rss_mb_rounds)} MB, peak {self.rss_mb_peak:.0f} MB",
            *[f"error: {e}" for e in self.errors[:10]],
        ]


def rss_mb(pid: int) -> float:
    """Resident set size of ``pid`` in MB (Linux /proc; NaN elsewhere)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


class ServerProcess:
    """``python -m engine.cli serve ...`` on a free port; ``url`` once it printed that it is serving."""

    def __init__(self, serve_args: list[str], timeout: float = 300.0):
        cmd = [sys.executable, "-m", "engine.cli", "serve", "--port", "0", "--log-level", "warning", *serve_args]
        self._stderr = tempfile.TemporaryFile(mode="w+")  # a file, not a pipe nobody drains
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=self._stderr, text=True)
        self.url = self._wait_for_url(timeout)

    def _wait_for_url(self, timeout: float) -> str:
        found: list[str] = []
        ready = threading.Event()

        def read() -> None:  # keeps draining stdout after the line, so the server never blocks on it
            for line in self.proc.stdout:
                if not found and line.startswith("serving on "):
                    found.append(line.split()[2].removesuffix("/v1"))
                    ready.set()
            ready.set()

        threading.Thread(target=read, daemon=True).start()
        ready.wait(timeout)
        if not found:
            self.stop()
            self._stderr.seek(0)
            raise RuntimeError("timbre serve did not start: " + (self._stderr.read() or "no output")[-2000:])
        return found[0]

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)  # uvicorn's graceful stop
            try:
                return self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        return self.proc.wait()


def speak(client, url: str, voice: str, text: str, seed: int, fmt: str) -> tuple[Answer, bytes]:
    """One streamed request, timed to the first body byte and to the end."""
    a = Answer(text, seed)
    body = {"model": "tts-1", "voice": voice, "input": text, "seed": seed, "response_format": fmt}
    t0 = time.perf_counter()
    parts = []
    try:
        with client.stream("POST", url + "/v1/audio/speech", json=body) as r:
            a.status = r.status_code
            for piece in r.iter_raw():
                if not parts:
                    a.first_byte_s = time.perf_counter() - t0
                parts.append(piece)
            if r.status_code != 200:
                a.error = f"{r.status_code} {b''.join(parts)[:200]!r}"
    except Exception as e:  # noqa: BLE001 - a benchmark counts every kind of failure and carries on
        a.error = f"{type(e).__name__}: {e}"
    a.total_s = time.perf_counter() - t0
    data = b"".join(parts)
    a.n_bytes, a.sha256 = len(data), hashlib.sha256(data).hexdigest()
    return a, data


def _pct(xs: list[float], q: float) -> float:
    xs = [x for x in xs if np.isfinite(x)]
    return float(np.percentile(xs, q)) if xs else float("nan")


class RssSampler:
    """Samples the resident memory of ``pid`` every 0.2 s on a thread while in use; ``peak`` afterwards."""

    def __init__(self, pid: int | None):
        self.pid, self.samples = pid, []
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while self.pid is not None and not self._done.is_set():
            self.samples.append(rss_mb(self.pid))
            self._done.wait(0.2)

    def now(self) -> float:
        return rss_mb(self.pid) if self.pid is not None else float("nan")

    def __enter__(self) -> "RssSampler":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._done.set()
        self._thread.join()

    @property
    def peak(self) -> float:
        return max(self.samples + [self.now()], default=float("nan"))


def _one_by_one(url: str, voice: str, pairs, fmt: str) -> dict[tuple[str, int], Answer]:
    import httpx

    with httpx.Client(timeout=httpx.Timeout(600.0)) as c:
        return {(text, seed): speak(c, url, voice, text, seed, fmt)[0] for text, seed in pairs}


def _all_at_once(url: str, voice: str, work: list[list[tuple[str, int]]], fmt: str) -> list[Answer]:
    """Every client on its own thread and connection, its requests one after another."""
    with ThreadPoolExecutor(len(work)) as pool:
        rows = pool.map(lambda row: list(_one_by_one(url, voice, row, fmt).values()), work)
        return [a for row in rows for a in row]


def _score(report: BenchReport, answers: list[Answer], reference: dict, fmt: str, sample_rate: int) -> None:
    for a in answers:
        ref = reference[(a.text, a.seed)]
        if a.error or a.status != 200:
            report.failed += 1
            report.errors.append(f"seed {a.seed}: {a.error or a.status}")
        elif ref.error or a.sha256 != ref.sha256 or a.n_bytes == 0:
            report.mismatched += 1
            report.errors.append(f"seed {a.seed}: {a.n_bytes} bytes, reference {ref.n_bytes}")
        else:
            report.complete += 1
            if fmt == "pcm":
                report.audio_s += a.n_bytes / 2 / sample_rate
    report.first_byte_p50_s, report.first_byte_p95_s = (_pct([a.first_byte_s for a in answers], q) for q in (50, 95))
    report.total_p50_s, report.total_p95_s = (_pct([a.total_s for a in answers], q) for q in (50, 95))


def run_bench(url: str, voice: str, *, clients: int = 8, requests: int = 5, rounds: int = 1, fmt: str = "pcm",
              pid: int | None = None, sample_rate: int = 24000) -> BenchReport:
    """The reference pass, then ``rounds`` concurrent passes, against the server at ``url`` (process ``pid``
    for its memory)."""
    work = plan(clients, requests)
    report = BenchReport(clients, requests, rounds, clients * requests * rounds)
    reference = _one_by_one(url, voice, [pair for row in work for pair in row], fmt)
    report.errors += [f"reference {seed}: {a.error}" for (_, seed), a in reference.items() if a.error]
    answers: list[Answer] = []
    with RssSampler(pid) as rss:
        report.rss_mb_before = rss.now()
        for _ in range(rounds):
            t0 = time.perf_counter()
            answers += _all_at_once(url, voice, work, fmt)
            report.wall_s += time.perf_counter() - t0
            report.rss_mb_rounds.append(rss.now())
    report.rss_mb_peak = rss.peak
    _score(report, answers, reference, fmt, sample_rate)
    return report


def bench_serve(serve_args: list[str], voice: str, *, clients: int, requests: int, rounds: int = 1,
                fmt: str = "pcm") -> BenchReport:
    """Start ``timbre serve`` with ``serve_args`` (queue deep enough for every client), bench it, stop it."""
    server = ServerProcess([*serve_args, "--queue-depth", str(max(clients, 1))])
    try:
        return run_bench(server.url, voice, clients=clients, requests=requests, rounds=rounds, fmt=fmt,
                         pid=server.proc.pid)
    finally:
        server.stop()


def _make_voice(args, voices_dir: str) -> str:
    from ..cli import main as cli_main

    model_args = ["--model", args.model, "--normalizer", args.normalizer, "--device", args.device,
                  "--precision", args.precision, "--voices-dir", voices_dir]
    if cli_main(["voices", "add", "bench", "--prompt", args.prompt, "--transcript", args.transcript,
                 "--overwrite", *model_args]) != 0:
        raise SystemExit("could not make the bench voice")
    return "bench"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m engine.server.bench", description=__doc__.split("\n\n")[0])
    p.add_argument("--model", required=True)
    p.add_argument("--voices-dir")
    p.add_argument("--voice", help="a saved voice in --voices-dir")
    p.add_argument("--prompt", help="make a voice for the run from this clip (with --transcript)")
    p.add_argument("--transcript", default="")
    p.add_argument("--device", default="auto")
    p.add_argument("--precision", default="auto")
    p.add_argument("--normalizer", default="wetext")
    p.add_argument("--clients", type=int, default=8)
    p.add_argument("--requests", type=int, default=5, help="per client and round")
    p.add_argument("--rounds", type=int, default=1, help="concurrent rounds (memory is reported after each)")
    p.add_argument("--format", default="pcm", choices=["pcm", "wav", "mp3", "opus", "aac", "flac"])
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        voices_dir = args.voices_dir or tmp
        voice = args.voice or (_make_voice(args, voices_dir) if args.prompt else None)
        if voice is None:
            p.error("give --voice NAME (saved in --voices-dir) or --prompt CLIP --transcript TEXT")
        serve_args = ["--model", args.model, "--voices-dir", voices_dir, "--device", args.device,
                      "--precision", args.precision, "--normalizer", args.normalizer]
        report = bench_serve(serve_args, voice, clients=args.clients, requests=args.requests, rounds=args.rounds,
                             fmt=args.format)
    if args.json:
        print(json.dumps({**asdict(report), "ok": report.ok}, indent=2))
    else:
        print("\n".join(report.lines()))
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
