"""Run the app on uvicorn: in the foreground (``timbre serve``) or on a background thread with start/stop
(the studio, tests), around an engine someone already loaded.

The listening socket is bound here rather than by uvicorn, so a port in use is a :class:`~engine.errors.
ServerError` naming it (uvicorn would log and ``sys.exit``) and port 0 gets a free port before start returns.
uvicorn's own logging setup is not applied (``log_config=None``): inside the studio it would replace the
process's logging configuration.
"""
from __future__ import annotations

import socket
import threading
import time
from typing import Callable, ContextManager

import anyio
import uvicorn

from ..errors import ServerError
from ..voices import VoiceLibrary
from .app import create_app
from .config import ServerConfig


def bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host:port`` (port 0: any free port)."""
    try:
        family = socket.getaddrinfo(host.strip("[]"), port, type=socket.SOCK_STREAM)[0][0]
        return socket.create_server((host.strip("[]"), port), family=family)
    except OSError as e:
        raise ServerError(f"Cannot listen on {host}:{port} ({e.strerror or e}). Is another server using the "
                          "port? Pick another with --port.") from e


class _Uvicorn(uvicorn.Server):
    """Closes the engine worker before waiting for open responses, so stopping cancels the running synthesis
    instead of waiting for it (uvicorn would run the app's shutdown only after every response ended)."""

    def __init__(self, config: uvicorn.Config, worker, on_started: Callable[[], None] | None = None):
        super().__init__(config)
        self._worker = worker
        self._on_started = on_started

    async def startup(self, sockets=None) -> None:
        await super().startup(sockets=sockets)
        if self.started and self._on_started is not None:
            self._on_started()

    async def shutdown(self, sockets=None) -> None:
        await anyio.to_thread.run_sync(self._worker.close)
        await super().shutdown(sockets=sockets)


class SpeechServer:
    """The speech API for ``engine`` on ``config.host:config.port``.

    ``start()`` serves from a background thread and returns once it accepts connections; ``stop()`` cancels
    what is running and waits for the thread. ``serve()`` serves in the calling (main) thread until Ctrl+C.
    One run per object: to serve again after ``stop()``, make a new one (the engine stays loaded).
    """

    def __init__(self, engine, voices: VoiceLibrary, config: ServerConfig | None = None, *,
                 engine_lock: ContextManager | None = None):
        self.config = config or ServerConfig()
        self.app = create_app(engine, voices, self.config, engine_lock=engine_lock)
        self.worker = self.app.state.worker
        self._socket: socket.socket | None = None
        self._port: int | None = None
        self._uvicorn: _Uvicorn | None = None
        self._thread: threading.Thread | None = None

    # ---- where ---------------------------------------------------------------------------------
    @property
    def port(self) -> int:
        if self._port is None:
            raise ServerError("The server is not started.")
        return self._port

    @property
    def url(self) -> str:
        """``http://HOST:PORT`` (the OpenAI base URL is this plus ``/v1``)."""
        host = self.config.host
        host = f"[{host.strip('[]')}]" if ":" in host else host
        return f"http://{host}:{self.port}"

    @property
    def base_url(self) -> str:
        return self.url + "/v1"

    # ---- running -------------------------------------------------------------------------------
    def _prepare(self, on_started: Callable[[], None] | None = None) -> _Uvicorn:
        if self._uvicorn is not None:
            raise ServerError("The server is already running.")
        self._socket = bind(self.config.host, self.config.port)
        self._port = int(self._socket.getsockname()[1])
        cfg = uvicorn.Config(self.app, log_config=None, log_level=self.config.log_level, lifespan="on",
                             timeout_graceful_shutdown=5, server_header=False)
        self._uvicorn = _Uvicorn(cfg, self.worker, on_started)
        return self._uvicorn

    def serve(self, on_started: Callable[[], None] | None = None) -> None:
        """Serve until interrupted (SIGINT/SIGTERM, handled by uvicorn in the main thread); ``on_started`` is
        called once connections are accepted."""
        server = self._prepare(on_started)
        try:
            server.run(sockets=[self._socket])
        finally:
            self._uvicorn = None

    def start(self, timeout: float = 60.0) -> "SpeechServer":
        server = self._prepare()
        self._thread = threading.Thread(target=server.run, kwargs={"sockets": [self._socket]},
                                        name="timbre-server-http", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise ServerError(f"The speech server did not start on {self.config.host}:{self.config.port}; "
                                  "see the log above for why.")
            time.sleep(0.02)
        return self

    def stop(self, timeout: float = 30.0) -> None:
        """Refuse new requests, cancel the running ones, close the socket; safe to call twice."""
        server, thread = self._uvicorn, self._thread
        if server is not None:
            server.should_exit = True
        if thread is not None:
            thread.join(timeout)
            if thread.is_alive():
                server.force_exit = True
                thread.join(timeout)
        self.worker.close()
        if self._socket is not None:
            self._socket.close()
        self._uvicorn, self._thread = None, None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive() and bool(self._uvicorn and
                                                                             self._uvicorn.started)

    def __enter__(self) -> "SpeechServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
