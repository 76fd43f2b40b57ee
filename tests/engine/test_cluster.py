"""`timbre render --cluster` on a real Ray cluster of this machine (the head started here with `ray start --head`,
two worker processes of one CPU each) with the tiny model: takes equal to a local render's, a worker killed
mid-render, a killed and an interrupted driver, and the errors (no cluster, no Ray, no model on the workers).

The local reference renders with one torch thread, as each worker does (one CPU each): the same computation, so
its takes must be sample for sample the same (engine/rng.py: same seed, input, device and thread count).
The cluster uses Ray's token authentication, so nobody else on the network can use it while the tests run
(Ray's servers listen on every interface).
"""
from __future__ import annotations

import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

import ray  # the cluster extra is installed wherever the tests run (tests/run.sh): no skipping without it

from engine.cli import main
from engine.project import Project
from engine.project.autosave import read_autosave_state
from engine.voices import VoiceLibrary

ROOT = Path(__file__).resolve().parents[2]
RAY = Path(sys.executable).with_name("ray")
SCRIPT = "# Scene\nAnn: Hi.\nIt was.\nAnn: Go on.\nSo."
LINES = 4
DEADLINE_S = 600  # a liveness bound for a stuck render or cluster, not a speed check


def _free_ports(n: int) -> list[int]:
    socks = [socket.socket() for _ in range(n)]
    try:
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


@pytest.fixture(scope="module")
def cluster():
    """A Ray head with 2 CPUs on this machine, every port its own (other clusters may run here); yields
    (address, the environment a driver needs). Stopped at the end: SIGTERM to `ray start --block` stops every
    process it started, and its process group is killed in case it could not."""
    temp = Path(tempfile.mkdtemp(prefix="timbre-ray-"))  # short: Ray's socket paths must fit in 107 bytes
    gcs, manager, objects, agent, agent_grpc, env_agent, metrics, first_worker = _free_ports(8)
    env = {**os.environ, "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": secrets.token_hex(16)}
    log = (temp / "head.log").open("w")
    head = subprocess.Popen(
        [str(RAY), "start", "--head", "--block", f"--port={gcs}", "--num-cpus=2", "--num-gpus=0",
         "--include-dashboard=false", "--disable-usage-stats", f"--temp-dir={temp / 'ray'}",
         f"--node-manager-port={manager}", f"--object-manager-port={objects}",
         f"--dashboard-agent-listen-port={agent}", f"--dashboard-agent-grpc-port={agent_grpc}",
         f"--runtime-env-agent-port={env_agent}", f"--metrics-export-port={metrics}",
         f"--min-worker-port={first_worker}", f"--max-worker-port={first_worker + 50}"],
        stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    try:
        deadline = time.monotonic() + DEADLINE_S
        while "Ray runtime started" not in (temp / "head.log").read_text() and head.poll() is None:
            assert time.monotonic() < deadline, (temp / "head.log").read_text()
            time.sleep(0.5)
        assert head.poll() is None, (temp / "head.log").read_text()
        yield f"127.0.0.1:{gcs}", env
    finally:
        head.terminate()
        try:
            head.wait(timeout=120)
        finally:
            if _session(head.pid):  # whatever `ray start` could not stop: this session is ours alone
                os.killpg(head.pid, signal.SIGKILL)
            log.close()
            shutil.rmtree(temp, ignore_errors=True)


def _session(sid: int) -> list[int]:
    return [int(p) for p in subprocess.run(["pgrep", "-s", str(sid)], capture_output=True, text=True).stdout.split()]


@pytest.fixture(scope="module")
def library(engine, voice, tmp_path_factory, parity_dir) -> Path:
    """Two voices from two real recordings (as in test_render_cli)."""
    root = tmp_path_factory.mktemp("voices")
    lib = VoiceLibrary(root)
    lib.save(voice.__class__(**{**voice.__dict__, "name": "Me"}))
    audio, rate = sf.read(parity_dir / "wavs" / "source_en_16k.wav", dtype="float32")
    lib.save(engine.make_voice(audio, "A short recording of another speaker.", sample_rate=rate, name="Ann"))
    return root


@pytest.fixture(scope="module")
def script(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("script") / "scene.md"
    path.write_text(SCRIPT, encoding="utf-8")
    return path


def _render_args(script: Path, folder: Path, model: Path, library: Path) -> list[str]:
    return ["render", str(script), "-o", str(folder / "scene.flac"), "--cast", "Ann=Ann", "--cast", "Narrator=Me",
            "--project", str(folder / "scene.timbre"), "--model", str(model), "--device", "cpu",
            "--normalizer", "none", "--voices-dir", str(library), "--seed", "3"]


def _timbre(args: list[str], env: dict, folder: Path, **popen) -> subprocess.Popen:
    env = {**env, "XDG_DATA_HOME": str(folder / "xdg")}  # the autosave lives here
    return subprocess.Popen([sys.executable, "-m", "engine.cli", *args], cwd=ROOT, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, **popen)


def _finish(proc: subprocess.Popen) -> tuple[int, str, str]:
    out, err = proc.communicate(timeout=DEADLINE_S)
    return proc.returncode, out, err


@pytest.fixture(scope="module")
def local(script, tiny_model_dir, library, tmp_path_factory) -> Path:
    """The project a local `timbre render` makes, with one torch thread (as each worker has)."""
    folder = tmp_path_factory.mktemp("local")
    code, out, err = _finish(_timbre(_render_args(script, folder, tiny_model_dir, library),
                                     {**os.environ, "OMP_NUM_THREADS": "1"}, folder))
    assert code == 0, err
    return folder / "scene.timbre"


def _assert_same_takes(local: Path, other: Path) -> None:
    """Every line's chosen take: the same audio, sample for sample, made alike (seed, voice, mode, engine)."""
    a, b = Project.open(local), Project.open(other)
    try:
        rows_a, rows_b = a.rows(), b.rows()
        assert [r.line.text for r in rows_a] == [r.line.text for r in rows_b] and len(rows_a) == LINES
        for ra, rb in zip(rows_a, rows_b):
            ia, ib = a.take_info(ra.chosen), b.take_info(rb.chosen)
            assert (ia.seed, ia.voice_id, ia.mode, ia.settings, ia.n_samples) == \
                   (ib.seed, ib.voice_id, ib.mode, ib.settings, ib.n_samples), ra.line.text
            assert np.array_equal(a.take_audio(ra.chosen), b.take_audio(rb.chosen)), ra.line.text
    finally:
        a.close()
        b.close()


def _autosaved_takes(folder: Path) -> int:
    return len(_kept(folder))


def _kept(folder: Path) -> dict[str, str]:
    """line id -> chosen take in the autosave's state (a take's file is written before the state names it)."""
    states = (folder / "xdg" / "Timbre" / "autosave" / "projects").glob("*/project.json")
    return {r.id: r.chosen for state in states for r in read_autosave_state(state.parent).lines if r.chosen}


class _Stderr:
    """A render's stderr read as it comes, for the worker pids it reports."""

    def __init__(self, proc: subprocess.Popen):
        self.lines: list[str] = []
        self._thread = threading.Thread(target=lambda: self.lines.extend(proc.stderr), daemon=True)
        self._thread.start()

    def pids(self) -> list[int]:
        return [int(m[1]) for line in list(self.lines) if (m := re.search(r"ready: .*pid (\d+)\)", line))]

    def text(self) -> str:
        self._thread.join(timeout=DEADLINE_S)
        return "".join(self.lines)

    def finish(self, proc: subprocess.Popen) -> tuple[int, str, str]:
        """:func:`_finish` for a render whose stderr this reads (communicate() would take half of it)."""
        code = proc.wait(timeout=DEADLINE_S)
        return code, proc.stdout.read(), self.text()


def _wait_for(condition, proc: subprocess.Popen) -> None:
    deadline = time.monotonic() + DEADLINE_S
    while not condition():
        assert proc.poll() is None and time.monotonic() < deadline, "the render ended first"
        time.sleep(0.1)


def _gone(pids: list[int]) -> bool:
    deadline = time.monotonic() + DEADLINE_S
    while any(Path(f"/proc/{p}").exists() for p in pids):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.2)
    return True


@pytest.mark.slow
def test_two_workers_make_the_takes_a_local_render_makes(cluster, local, script, tiny_model_dir, library,
                                                         tmp_path):
    address, env = cluster
    code, out, err = _finish(_timbre([*_render_args(script, tmp_path, tiny_model_dir, library), "--cluster",
                                      address, "--workers-per-node", "2"], env, tmp_path))
    assert code == 0, err
    assert f"{LINES} lines made" in out and "starting 2 workers on 1 node of the cluster" in err
    assert re.search(rf"{LINES} takes made on the cluster", err), err
    _assert_same_takes(local, tmp_path / "scene.timbre")
    audio, rate = sf.read(tmp_path / "scene.flac")
    assert rate == 24000 and audio.shape[0] > 0
    assert _autosaved_takes(tmp_path) == 0  # saved into the project file, the autosave cleared


@pytest.mark.slow
def test_a_killed_worker_has_its_lines_made_by_the_other(cluster, local, script, tiny_model_dir, library,
                                                          tmp_path):
    address, env = cluster
    proc = _timbre([*_render_args(script, tmp_path, tiny_model_dir, library), "--cluster", address,
                    "--workers-per-node", "2"], env, tmp_path)
    err = _Stderr(proc)
    _wait_for(lambda: err.pids(), proc)
    os.kill(err.pids()[0], signal.SIGKILL)  # as the OOM killer or a crash would end it, holding its lines
    code, out, text = err.finish(proc)
    assert code == 0, text
    assert "its lines go to the other workers" in text and f"{LINES} lines made" in out
    _assert_same_takes(local, tmp_path / "scene.timbre")


@pytest.mark.slow
def test_a_killed_cluster_render_resumes_and_its_workers_stop(cluster, local, script, tiny_model_dir, library,
                                                               tmp_path):
    address, env = cluster
    command = [*_render_args(script, tmp_path, tiny_model_dir, library), "--cluster", address,
               "--workers-per-node", "2"]
    proc = _timbre(command, env, tmp_path)
    err = _Stderr(proc)
    _wait_for(lambda: _autosaved_takes(tmp_path) >= 1, proc)
    proc.send_signal(signal.SIGKILL)  # the driver gone at once, as a crash or a power cut would end it
    proc.wait(timeout=60)
    pids = err.pids()
    assert pids and _gone(pids), f"the workers {pids} outlived their driver"  # Ray ends a dead driver's actors
    kept = _kept(tmp_path)
    assert 1 <= len(kept) < LINES

    code, out, err2 = _finish(_timbre([*command, "--resume"], env, tmp_path))
    assert code == 0, err2
    assert f"{LINES - len(kept)} of {LINES} lines made" in out
    _assert_same_takes(local, tmp_path / "scene.timbre")
    project = Project.open(tmp_path / "scene.timbre")
    assert {r.id: r.chosen for r in project.rows() if r.id in kept} == kept  # the killed render's takes
    project.close()


@pytest.mark.slow
def test_ctrl_c_stops_the_workers_and_keeps_the_takes(cluster, script, tiny_model_dir, library, tmp_path):
    address, env = cluster
    proc = _timbre([*_render_args(script, tmp_path, tiny_model_dir, library), "--cluster", address,
                    "--workers-per-node", "2"], env, tmp_path)
    err = _Stderr(proc)
    _wait_for(lambda: _autosaved_takes(tmp_path) >= 1, proc)
    proc.send_signal(signal.SIGINT)  # Ctrl+C
    code, _, text = err.finish(proc)
    assert code == 1 and "interrupted; the takes made so far are kept" in text, text
    pids = err.pids()
    assert pids and _gone(pids), f"the workers {pids} outlived the render"
    assert _autosaved_takes(tmp_path) >= 1


@pytest.mark.slow
def test_workers_without_the_model_give_one_clear_error(cluster, script, library, tmp_path):
    address, env = cluster
    empty = tmp_path / "not-a-model"
    empty.mkdir()
    code, _, err = _finish(_timbre([*_render_args(script, tmp_path, empty, library), "--cluster", address,
                                    "--workers-per-node", "2"], env, tmp_path))
    last = err.strip().splitlines()[-1]
    assert code == 1 and last.startswith("timbre: error: No worker of the cluster can make takes ("), err
    assert last.count("its engine did not load") == 2 and str(empty) in last


def test_no_cluster_at_the_address_is_said_at_once(script, library, tiny_model_dir, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    (port,) = _free_ports(1)  # closed: nothing listens there
    code = main([*_render_args(script, tmp_path, tiny_model_dir, library), "--cluster", f"127.0.0.1:{port}"])
    err = capsys.readouterr().err
    assert code == 1 and f"timbre: error: No Ray cluster answers at 127.0.0.1:{port}" in err
    assert "ray start --head" in err and not (tmp_path / "scene.timbre").exists()  # refused before any work
    assert ray.is_initialized() is False


@pytest.mark.slow
def test_a_port_that_is_not_a_ray_head_ends_in_an_error(script, library, tiny_model_dir, tmp_path):
    """Something accepts TCP there but never answers as Ray: Ray's handshake times out (~40 s), no hang."""
    listener = socket.create_server(("0.0.0.0", 0))  # every interface: Ray dials this host's own address
    port = listener.getsockname()[1]
    accepted = []

    def accept() -> None:
        while True:
            try:
                accepted.append(listener.accept()[0])  # held open, never answered
            except OSError:
                return  # closed at the end of the test

    threading.Thread(target=accept, daemon=True).start()
    try:
        code, _, err = _finish(_timbre([*_render_args(script, tmp_path, tiny_model_dir, library), "--cluster",
                                        f"127.0.0.1:{port}"], dict(os.environ), tmp_path))
    finally:
        listener.close()
        for conn in accepted:
            conn.close()
    assert code == 1 and "timbre: error: Cannot join the Ray cluster at 127.0.0.1:" in err, err
    assert "Run timbre on a machine of the cluster" in err


def test_without_ray_the_option_says_how_to_install_it(script, library, tiny_model_dir, tmp_path):
    code = (f"import sys; sys.modules['ray'] = None; from engine.cli import main; "  # None: `import ray` fails
            f"sys.exit(main({[*_render_args(script, tmp_path, tiny_model_dir, library), '--cluster', 'auto']!r}))")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                          env={**os.environ, "XDG_DATA_HOME": str(tmp_path / "xdg")}, timeout=DEADLINE_S)
    assert done.returncode == 1, done.stderr
    assert 'pip install "timbre[cluster]"' in done.stderr and not (tmp_path / "scene.timbre").exists()


def test_workers_per_node_needs_a_cluster(script, library, tiny_model_dir, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    args = _render_args(script, tmp_path, tiny_model_dir, library)
    assert main([*args, "--workers-per-node", "2"]) == 1
    assert "--workers-per-node is for --cluster" in capsys.readouterr().err
    assert main([*args, "--cluster", "auto", "--workers-per-node", "0"]) == 1
    assert "--workers-per-node 0: give at least 1" in capsys.readouterr().err
    assert main([*args, "--cluster", "ray://10.0.0.1:10001"]) == 1
    assert "write the head's HOST:PORT" in capsys.readouterr().err
