"""HTTP for the model download: metadata (HEAD) and one file's bytes into a ``.part`` file (ranged GET).

Why not huggingface-hub's ``http_get``: it reads 10 MB blocks, so a cancel is seen and an interruption is
kept only per 10 MB; each read waits 10 s and is retried 5 times (65 s against a stalled server, then a
timeout error instead of :class:`Cancelled`); and its back-off on HTTP 429 sleeps with no way to stop it.
Here the HTTP is httpx (what huggingface-hub itself is built on), with the hub's own auth headers:

- Each request runs on a helper thread while the calling thread polls its cancel token every
  :data:`POLL_S`. Cancelling shuts the request's socket down, which ends a read blocked on a stalled
  server at once, so :class:`Cancelled` is raised within ~0.1 s whatever the server does.
- Every received network read (at most 64 KB) is appended and flushed to the ``.part`` file before the
  next one, so an interruption keeps everything received and the next attempt resumes from there
  (``Range: bytes=<size>-``). The helper writes nothing once cancelled.
- A stall (no byte for :data:`READ_TIMEOUT_S`) or a dropped connection is retried from the bytes kept;
  HTTP 429/503 waits the server's ``Retry-After`` (at most :data:`MAX_RETRY_AFTER_S`) and every wait
  honours cancel. After :data:`MAX_FAILURES` attempts in a row without a new byte it gives up.
- Nothing the server sends becomes part of a path: the caller names the ``.part`` file.
"""
from __future__ import annotations

import socket
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable
from urllib.parse import urljoin, urlparse

from .atomic import WriteError, describe_os_error
from .errors import NEVER_CANCELLED, CancelToken, DownloadError

POLL_S = 0.1  # how often the calling thread looks at its cancel token and reports progress
CONNECT_TIMEOUT_S = 10.0
READ_TIMEOUT_S = 20.0  # a read that gets no byte for this long fails the attempt (it is retried, resuming)
MAX_FAILURES = 4  # attempts in a row that receive nothing before the download gives up
BACKOFF_S = (1.0, 2.0, 4.0, 8.0)  # wait before attempt n+1 after n failures in a row
MAX_RETRY_AFTER_S = 60.0
_RETRY_STATUS = (408, 429, 500, 502, 503, 504)


class HubHTTPError(DownloadError):
    """The hub answered with an error status (the caller turns it into a sentence). ``code``: its
    ``X-Error-Code`` header (``RepoNotFound``, ``EntryNotFound``, ...); ``retry_after``: seconds it asked for."""

    def __init__(self, resp):
        self.status, self.url = resp.status_code, str(resp.url)
        self.code = resp.headers.get("X-Error-Code", "")
        self.retry_after = _retry_after(resp.headers)
        super().__init__(f"HTTP {self.status} {self.code} for {self.url}")


class _ShortBody(Exception):
    """The connection ended before the whole body arrived (retried from the bytes kept)."""


@dataclass(frozen=True)
class Metadata:
    etag: str
    size: int | None
    commit: str
    url: str  # where the body is fetched (the resolve URL; a CDN redirect is followed on each GET)


def client():
    """One httpx client for a download: proxies from the environment, no kept-alive connections (each request
    connects afresh, so its socket is known from the start and a cancel can shut it down)."""
    import httpx

    return httpx.Client(timeout=httpx.Timeout(READ_TIMEOUT_S, connect=CONNECT_TIMEOUT_S),
                        limits=httpx.Limits(max_keepalive_connections=0), trust_env=True)


class _Exchange:
    """One HTTP exchange on a helper thread that the calling thread can abort at any moment."""

    def __init__(self, work: Callable[["_Exchange"], Any]):
        self._work = work
        self.stopped = False
        self.write_lock = threading.Lock()  # held by the helper around each write, by abort() around stopping
        self._sock: socket.socket | None = None
        self._result: Any = None
        self._error: BaseException | None = None
        self._done = threading.Event()

    def trace(self, name: str, info: dict) -> None:
        """httpx ``trace`` extension: remember the socket as soon as it is connected."""
        if name == "connection.connect_tcp.complete" and info.get("return_value") is not None:
            self._sock = info["return_value"].get_extra_info("socket")
            if self.stopped:
                self._shutdown()

    def run(self, cancel: CancelToken, on_poll: Callable[[], None] | None = None) -> Any:
        thread = threading.Thread(target=self._main, name="timbre-download-http", daemon=True)
        thread.start()
        while not self._done.wait(POLL_S):
            if on_poll is not None:
                on_poll()
            if cancel.cancelled:
                self.abort()
                thread.join(1.0)  # at once unless it is still connecting; it writes nothing any more
                cancel.raise_if_cancelled("The download")
        thread.join()
        if on_poll is not None:
            on_poll()
        cancel.raise_if_cancelled("The download")
        if self._error is not None:
            raise self._error
        return self._result

    def abort(self) -> None:
        with self.write_lock:
            self.stopped = True
        self._shutdown()

    def _shutdown(self) -> None:
        sock = self._sock
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass  # already closed

    def _main(self) -> None:
        try:
            self._result = self._work(self)
        except BaseException as e:  # noqa: BLE001 - handed to the calling thread, which re-raises it
            self._error = e
        finally:
            self._done.set()


def _retry_after(headers) -> float | None:
    try:
        return min(max(float(headers.get("Retry-After", "")), 0.0), MAX_RETRY_AFTER_S)
    except ValueError:
        return None  # absent, or an HTTP date: use our own back-off


def _raise_for_status(resp) -> None:
    if resp.status_code >= 400:
        raise HubHTTPError(resp)


def _wait(seconds: float, cancel: CancelToken) -> None:
    done = threading.Event()
    waited = 0.0
    while waited < seconds:
        cancel.raise_if_cancelled("The download")
        done.wait(min(POLL_S, seconds - waited))
        waited += POLL_S
    cancel.raise_if_cancelled("The download")


def _with_retries(attempt: Callable[[], Any], made_progress: Callable[[], bool], cancel: CancelToken,
                  what: str) -> Any:
    """Run ``attempt`` until it succeeds; transient failures are retried with back-off (cancel honoured)."""
    import httpx

    failures = 0
    while True:
        try:
            return attempt()
        except HubHTTPError as e:
            if e.status not in _RETRY_STATUS:
                raise
            error, pause = e, e.retry_after
        except (httpx.TransportError, _ShortBody) as e:  # timeouts, resets, dropped connections, refused
            error, pause = e, None
        failures = 0 if made_progress() else failures + 1
        if failures >= MAX_FAILURES:
            raise DownloadError(f"{what} failed {failures} times in a row ({_describe(error)}). Check the connection "
                                "and try again; what was received is kept and resumed.") from error
        if pause is None:  # resume at once after progress, else back off
            pause = BACKOFF_S[min(failures, len(BACKOFF_S)) - 1] if failures else 0.0
        _wait(pause, cancel)


def _describe(e: BaseException) -> str:
    if isinstance(e, HubHTTPError):
        return f"HTTP {e.status}"
    return f"{type(e).__name__}: {e}" if str(e) else type(e).__name__


def head(http, url: str, headers: dict, cancel: CancelToken = NEVER_CANCELLED) -> Metadata:
    """The hub's metadata of one file: ETag (the linked LFS one if any), size, commit.

    Relative redirects (a renamed repo) are followed; an absolute one (the CDN of a large file) is not:
    the hub's answer itself carries ``X-Linked-Etag`` / ``X-Linked-Size``."""

    def work(ex: _Exchange) -> Metadata:
        target = url
        for _ in range(10):
            resp = http.head(target, headers={**headers, "Accept-Encoding": "identity"},
                             extensions={"trace": ex.trace})
            location = resp.headers.get("Location")
            if resp.is_redirect and location and not urlparse(location).netloc:
                target = urljoin(target, location)
                continue
            _raise_for_status(resp)
            etag = resp.headers.get("X-Linked-Etag") or resp.headers.get("ETag") or ""
            size = resp.headers.get("X-Linked-Size") or (
                None if resp.is_redirect else resp.headers.get("Content-Length"))
            return Metadata(etag.removeprefix("W/").strip('"'), int(size) if size and size.isdigit() else None,
                            resp.headers.get("X-Repo-Commit", ""), target)
        raise DownloadError(f"{url} redirects too often.")

    return _with_retries(lambda: _Exchange(work).run(cancel), lambda: False, cancel, f"Looking up {url}")


def fetch(http, url: str, part: Path, headers: dict, *, expected_size: int | None,
          cancel: CancelToken = NEVER_CANCELLED, on_size: Callable[[int], None] | None = None) -> None:
    """Append the rest of ``url``'s body to ``part`` (created if missing) until the body is complete.

    ``on_size(bytes in part)`` is called from this thread every :data:`POLL_S` and when an attempt ends.
    The part may be left shorter than the file (cancel, failure): the next call resumes it."""
    state = {"size": part.stat().st_size if part.is_file() else 0, "progress": False}

    def report() -> None:
        if on_size is not None:
            on_size(state["size"])

    def work(ex: _Exchange) -> None:
        offset = state["size"]
        range_headers = {"Range": f"bytes={offset}-"} if offset else {}
        with http.stream("GET", url, headers={**headers, **range_headers, "Accept-Encoding": "identity"},
                         follow_redirects=True, extensions={"trace": ex.trace}) as resp:
            if resp.status_code == 416 and expected_size is not None and offset == expected_size:
                return  # nothing left to send: the part is complete
            _raise_for_status(resp)
            if offset and resp.status_code == 206 and not resp.headers.get("Content-Range", "").startswith(
                    f"bytes {offset}-"):
                raise DownloadError(f"{url} sent another byte range than asked for. Try again later.")
            restart = offset and resp.status_code == 200  # the server ignored Range: the body starts at byte 0
            try:
                with open(part, "wb" if restart else "ab") as f:
                    if restart:
                        state["size"] = 0
                    for data in resp.iter_raw():
                        with ex.write_lock:
                            if ex.stopped:
                                return
                            f.write(data)
                            f.flush()  # in the OS once written: an interruption keeps it
                            state["size"] += len(data)
                            state["progress"] = True
                        if expected_size is not None and state["size"] > expected_size:
                            raise DownloadError(f"{url} sent more than the {expected_size} bytes it announced.")
            except OSError as e:  # the disk, not the network: not worth retrying
                raise WriteError(describe_os_error(part, e)) from e

    def attempt() -> None:
        state["progress"] = False
        _Exchange(work).run(cancel, report)
        if expected_size is not None and state["size"] != expected_size:
            raise _ShortBody(f"the connection ended after {state['size']} of {expected_size} bytes")

    def made_progress() -> bool:
        return state["progress"]

    if expected_size is not None and state["size"] == expected_size:
        return  # complete already (e.g. the process ended before the part was moved into place)
    _with_retries(attempt, made_progress, cancel, f"Downloading {url.rsplit('/', 1)[-1]}")
