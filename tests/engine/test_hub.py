"""Model download against a LOCAL fake hub (127.0.0.1, in this process); never the real network."""
from __future__ import annotations

import hashlib
import http.server
import shutil
import threading
from pathlib import Path

import pytest

from engine.errors import Cancelled, DownloadError
from engine.hub import (
    MODEL_FILES,
    CancelToken,
    DownloadProgress,
    download_model,
    looks_like_repo_id,
    model_dir_for,
    resolve_model_dir,
    verify_model_folder,
)

REPO = "FakeOrg/TinyCosy"
COMMIT = "0123456789abcdef0123456789abcdef01234567"


class FakeHub:
    """The three things huggingface-hub's file download needs: HEAD metadata, GET, Range."""

    def __init__(self, root: Path):
        self.root = root
        self.requests: list[tuple[str, str, str | None]] = []  # (method, path, Range)
        self.served: dict[str, int] = {}  # file -> body bytes sent in total
        hub = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # keep pytest output clean
                pass

            def _file(self) -> Path | None:
                prefix = f"/{REPO}/resolve/"
                if not self.path.startswith(prefix):
                    return None
                rest = self.path[len(prefix):].split("?")[0]
                _rev, _, rel = rest.partition("/")
                p = hub.root / rel
                return p if p.is_file() else None

            def _head(self, body_len: int, p: Path, status: int = 200, extra: dict | None = None):
                self.send_response(status)
                self.send_header("ETag", f'"{hashlib.sha256(p.read_bytes()).hexdigest()}"')
                self.send_header("X-Repo-Commit", COMMIT)
                self.send_header("Content-Length", str(body_len))
                self.send_header("Accept-Ranges", "bytes")
                for k, v in (extra or {}).items():
                    self.send_header(k, v)
                self.end_headers()

            def do_HEAD(self):
                hub.requests.append(("HEAD", self.path, None))
                p = self._file()
                if p is None:
                    self.send_response(404)
                    self.send_header("X-Error-Code", "EntryNotFound")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self._head(p.stat().st_size, p)

            def do_GET(self):
                rng = self.headers.get("Range")
                hub.requests.append(("GET", self.path, rng))
                p = self._file()
                if p is None:
                    self.send_response(404)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                data = p.read_bytes()
                if rng:
                    start = int(rng.split("=")[1].split("-")[0])
                    body = data[start:]
                    self._head(len(body), p, 206, {"Content-Range": f"bytes {start}-{len(data) - 1}/{len(data)}"})
                else:
                    body = data
                    self._head(len(body), p)
                rel = str(p.relative_to(hub.root))
                for i in range(0, len(body), 8192):
                    try:
                        self.wfile.write(body[i:i + 8192])
                    except (BrokenPipeError, ConnectionResetError):
                        return
                    hub.served[rel] = hub.served.get(rel, 0) + len(body[i:i + 8192])

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> "FakeHub":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture()
def hub_root(tmp_path: Path, tiny_model_dir: Path) -> Path:
    root = tmp_path / "hub_repo"
    for rel in MODEL_FILES:
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(tiny_model_dir / rel, root / rel)
    return root


@pytest.fixture()
def fake_hub(hub_root: Path):
    with FakeHub(hub_root) as hub:
        yield hub


def _same_files(a: Path, b: Path) -> None:
    for rel in MODEL_FILES:
        assert (a / rel).read_bytes() == (b / rel).read_bytes(), rel


def test_download_reports_progress_and_verifies(fake_hub: FakeHub, hub_root: Path, tmp_path: Path):
    reports: list[DownloadProgress] = []
    out = download_model(REPO, cache_dir=tmp_path / "cache", endpoint=fake_hub.url, progress=reports.append)
    assert out == model_dir_for(REPO, tmp_path / "cache")
    _same_files(out, hub_root)
    total = sum((hub_root / f).stat().st_size for f in MODEL_FILES)
    assert reports[-1] == DownloadProgress(total, total, len(MODEL_FILES), len(MODEL_FILES), reports[-1].current_file)
    assert all(b.bytes_done <= b.bytes_total for b in reports)
    assert [r.bytes_done for r in reports] == sorted(r.bytes_done for r in reports)
    assert any(0 < r.bytes_done < total for r in reports)
    assert not any(p.suffix == ".part" for p in out.rglob("*"))

    # A second run finds everything in place: metadata only, no file body is fetched again.
    n_get = sum(1 for m, *_ in fake_hub.requests if m == "GET")
    download_model(REPO, cache_dir=tmp_path / "cache", endpoint=fake_hub.url)
    assert sum(1 for m, *_ in fake_hub.requests if m == "GET") == n_get


def test_hf_endpoint_env_and_local_dir(fake_hub: FakeHub, hub_root: Path, tmp_path: Path, monkeypatch):
    monkeypatch.setenv("HF_ENDPOINT", fake_hub.url)
    out = download_model(REPO, local_dir=tmp_path / "mine")
    assert out == tmp_path / "mine"
    _same_files(out, hub_root)
    assert fake_hub.requests


def test_cancel_then_resume_continues_the_partial_file(fake_hub: FakeHub, hub_root: Path, tmp_path: Path,
                                                      monkeypatch):
    import huggingface_hub.constants

    # Real files arrive in 10 MB blocks; small blocks let the test stop inside the 6 MB flow.pt.
    monkeypatch.setattr(huggingface_hub.constants, "DOWNLOAD_CHUNK_SIZE", 64 * 1024)
    big = "flow.pt"
    size = (hub_root / big).stat().st_size
    token = CancelToken()
    seen = []

    def cancel_midway(p: DownloadProgress) -> None:
        if p.current_file == big:
            seen.append(p.bytes_done)
            if len(seen) > 20:
                token.cancel()

    dest = tmp_path / "dl"
    with pytest.raises(Cancelled):
        download_model(REPO, local_dir=dest, endpoint=fake_hub.url, progress=cancel_midway, cancel=token)
    assert not (dest / big).exists()
    parts = list((dest / ".timbre-download").glob("flow.pt.*.part"))
    assert len(parts) == 1 and 0 < parts[0].stat().st_size < size
    kept = parts[0].stat().st_size

    reports: list[DownloadProgress] = []
    download_model(REPO, local_dir=dest, endpoint=fake_hub.url, progress=reports.append)
    _same_files(dest, hub_root)
    ranged = [r for m, p, r in fake_hub.requests if m == "GET" and p.endswith("/" + big) and r]
    assert ranged == [f"bytes={kept}-"]
    # The resumed run starts its byte count at what was already on disk for the finished files + part.
    assert reports[0].bytes_done > 0


def test_cancel_before_start_raises_without_requests(fake_hub: FakeHub, tmp_path: Path):
    token = CancelToken()
    token.cancel()
    with pytest.raises(Cancelled):
        download_model(REPO, local_dir=tmp_path / "x", endpoint=fake_hub.url, cancel=token)
    assert fake_hub.requests == []


def test_offline_never_touches_the_network(fake_hub: FakeHub, tmp_path: Path):
    dest = tmp_path / "dl"
    with pytest.raises(DownloadError, match="Offline"):
        download_model(REPO, local_dir=dest, endpoint=fake_hub.url, offline=True)
    assert fake_hub.requests == []
    download_model(REPO, local_dir=dest, endpoint=fake_hub.url)
    n = len(fake_hub.requests)
    assert download_model(REPO, local_dir=dest, endpoint=fake_hub.url, offline=True) == dest
    assert len(fake_hub.requests) == n


def test_missing_repo_file_is_a_download_error(fake_hub: FakeHub, hub_root: Path, tmp_path: Path):
    (hub_root / "hift.pt").unlink()
    with pytest.raises(DownloadError, match="hift.pt"):
        download_model(REPO, local_dir=tmp_path / "x", endpoint=fake_hub.url)


def test_unreachable_endpoint_is_a_download_error(tmp_path: Path):
    # A port nothing listens on (bound then closed): connection refused, no real network.
    import socket

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    with pytest.raises(DownloadError):
        download_model(REPO, local_dir=tmp_path / "x", endpoint=f"http://127.0.0.1:{port}")


def test_verify_and_resolve(tiny_model_dir: Path, tmp_path: Path):
    assert verify_model_folder(tiny_model_dir) == tiny_model_dir
    assert resolve_model_dir(tiny_model_dir) == tiny_model_dir
    assert looks_like_repo_id("FunAudioLLM/CosyVoice2-0.5B")
    assert not looks_like_repo_id(str(tiny_model_dir))
    broken = tmp_path / "broken"
    shutil.copytree(tiny_model_dir, broken)
    (broken / "llm.pt").write_bytes(b"not a zip")
    from engine.errors import CheckpointError

    with pytest.raises(CheckpointError, match="llm.pt"):
        verify_model_folder(broken)
    with pytest.raises(DownloadError, match="Offline"):
        resolve_model_dir("Nobody/NotThere", cache_dir=tmp_path / "c", offline=True)
