"""Model download against a LOCAL fake hub (127.0.0.1, in this process); never the real network.

The fake hub answers like the real one (HEAD metadata with X-Repo-Commit; the ETag of a large file is its
sha256, of a small one the git blob sha1; GET with Range) and can misbehave on request: stall mid-body, drop
the connection, answer 429, send a hostile ETag or wrong bytes of the right size.
"""
from __future__ import annotations

import hashlib
import http.server
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from engine import hub_transfer
from engine.errors import Cancelled, DownloadError, ModelBusyError, ModelFolderError
from engine.hub import (
    MODEL_FILES,
    CancelToken,
    DownloadProgress,
    download_model,
    looks_like_repo_id,
    model_dir_for,
    resolve_model_dir,
    verify_model,
    verify_model_folder,
)
from engine.model_manifest import read_manifest

REPO = "FakeOrg/TinyCosy"
COMMIT = "0123456789abcdef0123456789abcdef01234567"
LFS_SUFFIXES = (".pt", ".onnx", ".safetensors")
HANG_GUARD_S = 20  # only ends a test that would otherwise hang; never a speed bound


def hub_etag(rel: str, data: bytes) -> str:
    """What the real hub sends: sha256 for LFS files, the git blob sha1 for files stored in git."""
    if rel.endswith(LFS_SUFFIXES):
        return hashlib.sha256(data).hexdigest()
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


class FakeHub:
    """HEAD metadata, GET and Range like huggingface.co, plus misbehaviour switches (one-shot unless noted)."""

    def __init__(self, root: Path):
        self.root = root
        self.requests: list[tuple[str, str, str | None]] = []  # (method, file, Range)
        self.served: dict[str, int] = {}  # file -> body bytes sent in total
        self.stall_after: dict[str, int] = {}  # file -> stop sending after n body bytes until `release` is set
        self.drop_after: dict[str, int] = {}  # file -> close the connection after n body bytes
        self.too_many: int = 0  # answer the next n requests with 429
        self.retry_after = "0"
        self.etag_for: dict[str, str] = {}  # file -> ETag sent instead of the true one (every time)
        self.body_for: dict[str, bytes] = {}  # file -> bytes sent instead of the file's (every time)
        self.stalled = threading.Event()  # set when a stall begins
        self.release = threading.Event()
        self._lock = threading.Lock()
        hub = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # keep pytest output clean
                pass

            def _rel(self) -> str | None:
                prefix = f"/{REPO}/resolve/"
                if not self.path.startswith(prefix):
                    return None
                _rev, _, rel = self.path[len(prefix):].split("?")[0].partition("/")
                return rel if (hub.root / rel).is_file() else None

            def _refuse(self, status: int, extra: dict) -> None:
                self.send_response(status)
                for k, v in extra.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def _start(self, method: str):
                rel = self._rel()
                hub.requests.append((method, rel or self.path, self.headers.get("Range")))
                with hub._lock:
                    limited = hub.too_many > 0
                    hub.too_many -= limited
                if limited:
                    self._refuse(429, {"Retry-After": hub.retry_after})
                    return None, None
                if rel is None:
                    self._refuse(404, {"X-Error-Code": "EntryNotFound"})
                    return None, None
                true = (hub.root / rel).read_bytes()
                return rel, true

            def _headers(self, rel: str, true: bytes, status: int, length: int, extra: dict | None = None):
                self.send_response(status)
                self.send_header("ETag", f'"{hub.etag_for.get(rel, hub_etag(rel, true))}"')
                self.send_header("X-Repo-Commit", COMMIT)
                self.send_header("Content-Length", str(length))
                self.send_header("Accept-Ranges", "bytes")
                for k, v in (extra or {}).items():
                    self.send_header(k, v)
                self.end_headers()

            def do_HEAD(self):
                rel, true = self._start("HEAD")
                if rel is not None:
                    self._headers(rel, true, 200, len(true))

            def do_GET(self):
                rel, true = self._start("GET")
                if rel is None:
                    return
                data = hub.body_for.get(rel, true)
                start = int(self.headers["Range"].split("=")[1].split("-")[0]) if self.headers.get("Range") else 0
                body = data[start:]
                if start:
                    content_range = f"bytes {start}-{len(data) - 1}/{len(data)}"
                    self._headers(rel, true, 206, len(body), {"Content-Range": content_range})
                else:
                    self._headers(rel, true, 200, len(body))
                stall, drop = hub.stall_after.pop(rel, None), hub.drop_after.pop(rel, None)
                cut = stall if stall is not None else drop if drop is not None else len(body)
                for k, segment in enumerate((body[:cut], body[cut:])):
                    if k == 1 and stall is not None:
                        hub.stalled.set()
                        hub.release.wait()
                    if k == 1 and drop is not None:
                        self.close_connection = True
                        return
                    for i in range(0, len(segment), 8192):
                        try:
                            self.wfile.write(segment[i:i + 8192])
                        except (BrokenPipeError, ConnectionResetError):
                            return
                        hub.served[rel] = hub.served.get(rel, 0) + len(segment[i:i + 8192])

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def gets(self, rel: str) -> list[str | None]:
        """The Range header of every GET of ``rel``."""
        return [r for m, p, r in self.requests if m == "GET" and p == rel]

    def __enter__(self) -> "FakeHub":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.release.set()
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


@pytest.fixture(autouse=True)
def no_backoff(monkeypatch):
    """Retries at once (the back-off lengths are not what these tests are about)."""
    monkeypatch.setattr(hub_transfer, "BACKOFF_S", (0.0,))


def _same_files(a: Path, b: Path) -> None:
    for rel in MODEL_FILES:
        assert (a / rel).read_bytes() == (b / rel).read_bytes(), rel


class Background:
    """A download running on its own thread, so the test can cancel it or start a second writer."""

    def __init__(self, **kwargs):
        self.error: BaseException | None = None
        self.result = None
        self.thread = threading.Thread(target=self._run, kwargs=kwargs, daemon=True)
        self.thread.start()

    def _run(self, **kwargs) -> None:
        try:
            self.result = download_model(REPO, **kwargs)
        except BaseException as e:  # noqa: BLE001 - handed to the test
            self.error = e

    def join(self) -> "Background":
        self.thread.join(HANG_GUARD_S)
        assert not self.thread.is_alive(), "the download did not return"
        return self


def _wait_for(condition, what: str) -> None:
    deadline = time.monotonic() + HANG_GUARD_S
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)


def _part(dest: Path, rel: str) -> Path:
    return dest / ".timbre-download" / (rel.replace("/", "%2F") + ".part")


# ---- the happy paths --------------------------------------------------------------------------------
def test_download_reports_progress_verifies_and_keeps_a_sha256_manifest(fake_hub: FakeHub, hub_root: Path,
                                                                        tmp_path: Path):
    reports: list[DownloadProgress] = []
    out = download_model(REPO, cache_dir=tmp_path / "cache", endpoint=fake_hub.url, progress=reports.append)
    assert out == model_dir_for(REPO, tmp_path / "cache")
    _same_files(out, hub_root)
    total = sum((hub_root / f).stat().st_size for f in MODEL_FILES)
    assert reports[-1] == DownloadProgress(total, total, len(MODEL_FILES), len(MODEL_FILES), reports[-1].current_file)
    assert all(b.bytes_done <= b.bytes_total for b in reports)
    assert [r.bytes_done for r in reports] == sorted(r.bytes_done for r in reports)
    assert not any(p.suffix == ".part" for p in out.rglob("*"))
    manifest = read_manifest(out)
    assert manifest.commit == COMMIT and sorted(manifest.files) == sorted(MODEL_FILES)
    for rel in MODEL_FILES:
        assert manifest.files[rel]["sha256"] == hashlib.sha256((hub_root / rel).read_bytes()).hexdigest()

    # A second run finds everything in place: metadata only, no file body is fetched again.
    n_get = sum(1 for m, *_ in fake_hub.requests if m == "GET")
    download_model(REPO, cache_dir=tmp_path / "cache", endpoint=fake_hub.url)
    assert sum(1 for m, *_ in fake_hub.requests if m == "GET") == n_get
    assert verify_model(out).ok


def test_hf_endpoint_env_and_local_dir(fake_hub: FakeHub, hub_root: Path, tmp_path: Path, monkeypatch):
    monkeypatch.setenv("HF_ENDPOINT", fake_hub.url)
    out = download_model(REPO, local_dir=tmp_path / "mine")
    assert out == tmp_path / "mine"
    _same_files(out, hub_root)
    assert fake_hub.requests


def test_files_already_there_are_hashed_not_fetched_again(fake_hub: FakeHub, hub_root: Path, tmp_path: Path):
    # A folder copied in by hand (no manifest) or left by an older Timbre (format-1 manifest without sha256).
    dest = tmp_path / "dl"
    for rel in MODEL_FILES:
        (dest / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(hub_root / rel, dest / rel)
    (dest / ".timbre-download").mkdir()
    (dest / ".timbre-download" / "manifest.json").write_text('{"llm.pt": {"etag": "x", "commit": "y", "size": 1}}')
    download_model(REPO, local_dir=dest, endpoint=fake_hub.url)
    assert [m for m, *_ in fake_hub.requests if m == "GET"] == []
    assert read_manifest(dest).files["llm.pt"]["sha256"]


# ---- cancel, stalls, interruptions, 429 ---------------------------------------------------------------
def test_cancel_during_a_stall_lands_at_once_and_keeps_every_byte(fake_hub: FakeHub, hub_root: Path,
                                                                   tmp_path: Path, monkeypatch):
    # Reads never time out here: only the cancel can end the stalled transfer.
    monkeypatch.setattr(hub_transfer, "READ_TIMEOUT_S", 3600.0)
    big, n = "flow.pt", 1_000_003  # not a multiple of any block size
    fake_hub.stall_after[big] = n
    dest, token = tmp_path / "dl", CancelToken()
    run = Background(local_dir=dest, endpoint=fake_hub.url, cancel=token)
    _wait_for(lambda: _part(dest, big).is_file() and _part(dest, big).stat().st_size == n, "the bytes before the stall")
    token.cancel()
    assert isinstance(run.join().error, Cancelled)
    assert _part(dest, big).stat().st_size == n and not (dest / big).exists()
    _wait_for(lambda: not any(t.name == "timbre-download-http" for t in threading.enumerate()), "no helper thread")

    fake_hub.release.set()
    download_model(REPO, local_dir=dest, endpoint=fake_hub.url)
    _same_files(dest, hub_root)
    assert fake_hub.gets(big)[-1] == f"bytes={n}-"


def test_a_dropped_connection_resumes_from_the_last_byte_received(fake_hub: FakeHub, hub_root: Path,
                                                                   tmp_path: Path):
    big, n = "llm.pt", 123_457
    fake_hub.drop_after[big] = n
    download_model(REPO, local_dir=tmp_path / "dl", endpoint=fake_hub.url)
    _same_files(tmp_path / "dl", hub_root)
    assert fake_hub.gets(big) == [None, f"bytes={n}-"]
    assert fake_hub.served[big] == (hub_root / big).stat().st_size


def test_a_stall_without_cancel_is_retried_from_the_bytes_kept(fake_hub: FakeHub, hub_root: Path, tmp_path: Path,
                                                               monkeypatch):
    monkeypatch.setattr(hub_transfer, "READ_TIMEOUT_S", 0.5)  # the stall below lasts until the hub's release
    big, n = "hift.pt", 77_777
    fake_hub.stall_after[big] = n
    download_model(REPO, local_dir=tmp_path / "dl", endpoint=fake_hub.url)
    _same_files(tmp_path / "dl", hub_root)
    assert fake_hub.gets(big) == [None, f"bytes={n}-"]


def test_rate_limits_are_waited_out(fake_hub: FakeHub, hub_root: Path, tmp_path: Path):
    fake_hub.too_many = 2
    download_model(REPO, local_dir=tmp_path / "dl", endpoint=fake_hub.url)
    _same_files(tmp_path / "dl", hub_root)


def test_cancel_lands_during_a_rate_limit_wait(fake_hub: FakeHub, tmp_path: Path):
    fake_hub.too_many, fake_hub.retry_after = 1000, "3600"
    token = CancelToken()
    run = Background(local_dir=tmp_path / "dl", endpoint=fake_hub.url, cancel=token)
    _wait_for(lambda: fake_hub.requests, "the first request")
    token.cancel()
    assert isinstance(run.join().error, Cancelled)
    assert len(fake_hub.requests) == 1


def test_cancel_before_start_raises_without_requests(fake_hub: FakeHub, tmp_path: Path):
    token = CancelToken()
    token.cancel()
    with pytest.raises(Cancelled):
        download_model(REPO, local_dir=tmp_path / "x", endpoint=fake_hub.url, cancel=token)
    assert fake_hub.requests == []


# ---- what the server sends is checked, never trusted -------------------------------------------------------
@pytest.mark.parametrize("etag", ["/../../../{sha}", "../{sha}", "{sha}/../../x", "W/weak"])
def test_a_hostile_etag_never_becomes_a_path(fake_hub: FakeHub, hub_root: Path, tmp_path: Path, etag: str):
    sha = hashlib.sha256((hub_root / "hift.pt").read_bytes()).hexdigest()
    fake_hub.etag_for["hift.pt"] = etag.format(sha=sha)
    before = sorted(p for p in tmp_path.rglob("*"))
    dest = tmp_path / "a" / "b" / "dl"
    with pytest.raises(DownloadError, match="not a checksum"):
        download_model(REPO, local_dir=dest, endpoint=fake_hub.url)
    after = sorted(p for p in tmp_path.rglob("*"))
    assert [p for p in after if p not in before and dest not in p.parents and p != dest
            and p not in (dest.parent, dest.parent.parent)] == []


@pytest.mark.parametrize("rel", ["cosyvoice2.yaml", "llm.pt"])  # a git (sha1) file and an LFS (sha256) file
def test_wrong_bytes_of_the_right_size_are_caught(fake_hub: FakeHub, hub_root: Path, tmp_path: Path, rel: str):
    data = bytearray((hub_root / rel).read_bytes())
    data[len(data) // 2] ^= 0x01
    fake_hub.body_for[rel] = bytes(data)
    with pytest.raises(DownloadError, match=f"{rel}: the received bytes do not match"):
        download_model(REPO, local_dir=tmp_path / "dl", endpoint=fake_hub.url)
    assert not (tmp_path / "dl" / rel).exists()
    del fake_hub.body_for[rel]
    download_model(REPO, local_dir=tmp_path / "dl", endpoint=fake_hub.url)
    _same_files(tmp_path / "dl", hub_root)


@pytest.mark.parametrize("rel", ["../escape.pt", "/etc/x", "a/../../b", "a\\b"])
def test_file_names_outside_the_folder_are_refused(fake_hub: FakeHub, tmp_path: Path, rel: str):
    with pytest.raises(DownloadError, match="not a file path inside"):
        download_model(REPO, local_dir=tmp_path / "dl", endpoint=fake_hub.url, files=[rel])
    assert fake_hub.requests == []


# ---- one writer per folder ------------------------------------------------------------------------
def test_a_second_writer_is_refused_or_waits_and_no_file_is_glued(fake_hub: FakeHub, hub_root: Path,
                                                                  tmp_path: Path, monkeypatch):
    monkeypatch.setattr(hub_transfer, "READ_TIMEOUT_S", 3600.0)
    dest = tmp_path / "dl"
    fake_hub.stall_after["flow.pt"] = 4096
    first = Background(local_dir=dest, endpoint=fake_hub.url)
    _wait_for(fake_hub.stalled.is_set, "the first download to hold the folder")
    n = len(fake_hub.requests)
    with pytest.raises(ModelBusyError, match="Another Timbre download is writing"):
        download_model(REPO, local_dir=dest, endpoint=fake_hub.url)
    assert len(fake_hub.requests) == n  # refused before asking the hub anything

    # Another process (the CLI while the studio downloads) is refused the same way.
    cli = subprocess.run([sys.executable, "-m", "engine.cli", "download", "--repo", REPO, "--dest", str(dest),
                          "--endpoint", fake_hub.url, "--quiet"], capture_output=True, text=True,
                         cwd=Path(__file__).parents[2], timeout=HANG_GUARD_S)
    assert cli.returncode == 1 and "Another Timbre download is writing" in cli.stderr

    waiting: list[DownloadProgress] = []
    second = Background(local_dir=dest, endpoint=fake_hub.url, wait=True, progress=waiting.append)
    _wait_for(lambda: waiting, "the second download to say it waits")
    assert "waiting for another download" in waiting[0].current_file
    fake_hub.release.set()
    assert first.join().error is None and second.join().error is None
    _same_files(dest, hub_root)
    assert fake_hub.gets("flow.pt") == [None]  # the second writer fetched nothing: it found every file in place


# ---- verification on demand and before use --------------------------------------------------------------
def test_verify_finds_a_flipped_bit_and_the_next_download_replaces_only_that_file(fake_hub: FakeHub,
                                                                                  hub_root: Path, tmp_path: Path):
    dest = download_model(REPO, local_dir=tmp_path / "dl", endpoint=fake_hub.url)
    st = (dest / "llm.pt").stat()
    with open(dest / "llm.pt", "r+b") as f:  # one bit, same size, same mtime: what bit rot looks like
        f.seek(st.st_size // 3)
        byte = f.read(1)
        f.seek(st.st_size // 3)
        f.write(bytes([byte[0] ^ 0x10]))
    os.utime(dest / "llm.pt", ns=(st.st_atime_ns, st.st_mtime_ns))
    report = verify_model(dest)
    assert not report.ok and [name for name, _ in report.problems] == ["llm.pt"]
    assert "llm.pt" in report.describe() and "Download the model again" in report.describe()

    n_get = len([m for m, *_ in fake_hub.requests if m == "GET"])
    download_model(REPO, local_dir=dest, endpoint=fake_hub.url)
    assert [p for m, p, _ in fake_hub.requests[-len(MODEL_FILES) - 1:] if m == "GET"] == ["llm.pt"]
    assert len([m for m, *_ in fake_hub.requests if m == "GET"]) == n_get + 1
    _same_files(dest, hub_root)
    assert verify_model(dest).ok


def test_offline_use_finds_a_file_changed_since_the_download(fake_hub: FakeHub, tmp_path: Path):
    dest = download_model(REPO, local_dir=tmp_path / "dl", endpoint=fake_hub.url)
    yaml = dest / "cosyvoice2.yaml"
    yaml.write_bytes(yaml.read_bytes() * 2)  # two glued copies: what two writers used to leave
    with pytest.raises(DownloadError, match="cosyvoice2.yaml"):
        download_model(REPO, local_dir=dest, offline=True)


def test_verify_of_a_folder_not_downloaded_by_timbre_says_so(tiny_model_dir: Path):
    report = verify_model(tiny_model_dir)
    assert not report.has_manifest and not report.problems
    assert "not downloaded by Timbre" in report.describe()


def test_offline_never_touches_the_network(fake_hub: FakeHub, tmp_path: Path, monkeypatch):
    dest = tmp_path / "dl"
    with pytest.raises(DownloadError, match="Offline"):
        download_model(REPO, local_dir=dest, endpoint=fake_hub.url, offline=True)
    assert fake_hub.requests == []
    download_model(REPO, local_dir=dest, endpoint=fake_hub.url)
    n = len(fake_hub.requests)
    assert download_model(REPO, local_dir=dest, endpoint=fake_hub.url, offline=True) == dest
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert download_model(REPO, local_dir=dest, endpoint=fake_hub.url) == dest
    assert len(fake_hub.requests) == n


# ---- errors --------------------------------------------------------------------------------------------
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
    with pytest.raises(DownloadError, match="cannot reach|failed"):
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


def test_a_missing_relative_path_is_never_sent_to_the_hub(fake_hub: FakeHub, tmp_path: Path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HF_ENDPOINT", fake_hub.url)
    (tmp_path / "models").mkdir()
    for source in ("models/CosyVoice2", "./CosyVoice2/model", "models\\x", "a/b/c", "Org--x/y", "../Org/x"):
        assert not looks_like_repo_id(source), source
        with pytest.raises(ModelFolderError, match="does not exist"):
            resolve_model_dir(source, cache_dir=tmp_path / "cache")
    assert fake_hub.requests == []
    assert looks_like_repo_id("mdels/CosyVoice2")  # no such folder here: it may well be a repo


# ---- the command line -----------------------------------------------------------------------------
def test_cli_download_then_verify(fake_hub: FakeHub, tmp_path: Path, capsys):
    from engine.cli import main

    dest = tmp_path / "dl"
    assert main(["download", "--repo", REPO, "--dest", str(dest), "--endpoint", fake_hub.url, "--quiet"]) == 0
    assert f"model ready in {dest}" in capsys.readouterr().out
    assert main(["download", "--verify", "--dest", str(dest), "--quiet"]) == 0
    out = capsys.readouterr().out
    assert f"All {len(MODEL_FILES)} model files match" in out
    with open(dest / "CosyVoice-BlankEN" / "vocab.json", "r+b") as f:
        first = f.read(1)
        f.seek(0)
        f.write(b"[" if first != b"[" else b"{")
    assert main(["download", "--verify", "--dest", str(dest), "--quiet"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert err[0].startswith("timbre: error: 1 model file(s) are damaged (CosyVoice-BlankEN/vocab.json")
    assert main(["download", "--repo", REPO, "--dest", str(dest), "--endpoint", fake_hub.url, "--quiet"]) == 0
    assert main(["download", "--verify", "--dest", str(dest), "--quiet"]) == 0


def test_a_complete_part_left_by_a_killed_download_is_used_without_fetching(fake_hub: FakeHub, hub_root: Path,
                                                                            tmp_path: Path):
    from engine.model_manifest import Manifest, write_manifest

    dest = tmp_path / "dl"
    part = _part(dest, "flow.pt")
    part.parent.mkdir(parents=True)
    shutil.copyfile(hub_root / "flow.pt", part)  # every byte arrived, then the process died before the move
    write_manifest(dest, Manifest(parts={"flow.pt": hashlib.sha256((hub_root / "flow.pt").read_bytes()).hexdigest()}))
    download_model(REPO, local_dir=dest, endpoint=fake_hub.url)
    _same_files(dest, hub_root)
    assert fake_hub.gets("flow.pt") == []
