"""The local speech server inside the studio (Tools ▸ Speech server, the switch in the status bar): the OpenAI audio
API of ``timbre serve`` on 127.0.0.1, speaking with the studio's loaded model and saved voices.

One engine, one lock: the server's worker holds the studio engine thread's ``engine_lock`` around each request, as
the studio holds it around each line, voice and word, so the two never run the engine at once (a request waits for
the line being made, a line for the request being spoken). Starting (importing the web stack, binding the port)
and stopping (cancelling what is being spoken) run on a background thread, never on the GUI thread. A new model
restarts the server with it; while a model loads the server is stopped (it would speak with the old one).
"""
from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject

from engine.errors import ServerError

from .engine_status import EngineState
from .widgets.server_panel import ServerPanel
from .workers.background import BackgroundThread, Done

if TYPE_CHECKING:
    from .widgets.main_window import MainWindow

log = logging.getLogger(__name__)
HOST = "127.0.0.1"
NEEDS_EXTRA = ("The speech server needs the server extra: .venv/bin/pip install -e \".[server]\" "
               "(FastAPI and uvicorn), then restart Timbre.")


def _start(engine: Any, library: Any, port: int, lock: Any) -> Any:
    try:
        from engine.server import ServerConfig, SpeechServer
    except ImportError as error:
        raise ServerError(f"{NEEDS_EXTRA} ({error})") from error
    return SpeechServer(engine, library, ServerConfig(host=HOST, port=port), engine_lock=lock).start()


class StudioServer(QObject):
    def __init__(self, window: "MainWindow") -> None:
        super().__init__(window)
        self.w = window
        self.panel = ServerPanel()
        self.panel.toggled.connect(self.set_on)
        self.wanted = False  # the user's switch
        self.server: Any = None  # engine.server.SpeechServer while it runs
        self._launched: Any = None  # the last server a start made (set on the background thread)
        self._busy: int | None = None  # a start or stop on the background thread
        self.background = BackgroundThread(self)
        self.background.finished.connect(self._done)
        worker = window.engine_thread.worker
        worker.engineLoading.connect(self._model_loading)  # a bound method: queued into the GUI thread
        window.engineStateChanged.connect(lambda _state: self._follow_model())

    def _model_loading(self, _folder: str) -> None:
        self._follow_model()

    @property
    def url(self) -> str:
        """The OpenAI base URL while the server runs ("" otherwise)."""
        return self.server.base_url if self.server is not None else ""

    def set_on(self, on: bool) -> None:
        self.wanted = on
        if on and self.w.engine_status.state is not EngineState.READY:
            self.panel.show_state(True, "waiting for the model…")
        self._follow_model()

    def _follow_model(self) -> None:
        """Run when wanted and a model is ready; stop otherwise (a load makes the server's engine the old one)."""
        if self._busy is not None:
            return  # decided again when the running start or stop ends
        ready = self.w.engine_status.state is EngineState.READY
        engine = self.w.engine_thread.worker.engine
        if self.server is not None and (not self.wanted or not ready or self.server.app.state.worker.engine
                                        is not engine):
            server, self.server = self.server, None
            self.panel.show_state(self.wanted, "stopping…")
            self._busy = self.background.run(lambda: server.stop())
        elif self.server is None and self.wanted and ready and engine is not None:
            worker = self.w.engine_thread.worker
            self.panel.show_state(True, "starting…")
            port = self.w.settings.server_port
            self._busy = self.background.run(lambda: self._launch(engine, port, worker.engine_lock))
        elif self.server is None:
            self.panel.show_state(self.wanted, "waiting for the model…" if self.wanted else "off")

    def _launch(self, engine: Any, port: int, lock: Any) -> Any:
        """(background thread) A started server, kept where shutdown finds it even if its report never arrives."""
        self._launched = _start(engine, self.w.library, port, lock)
        return self._launched

    def _done(self, done: Done) -> None:
        if done.request_id != self._busy:
            return
        self._busy = None
        if done.error:
            self.wanted = False
            self.panel.show_state(False, "off")
            self.w.show_error("The speech server did not start", done.error)
            return
        if done.result is not None:  # a start
            self.server = done.result
            self.panel.show_state(True, f"{self.server.base_url} · port {self.server.port}",
                                  "OpenAI base URL for other programs on this computer; model tts-1, voice: a "
                                  "saved voice's name")
            self.w.statusBar().showMessage(f"Speech server on {self.server.base_url}", 5000)
        self._follow_model()

    def shutdown(self) -> None:
        """Closing the studio: stop the server (cancelling what it speaks) and its thread."""
        self.wanted = False
        self.background.shutdown()  # waits for a start or stop under way
        for server in {id(s): s for s in (self.server, self._launched) if s is not None}.values():
            server.stop()  # stopping twice is safe
        self.server = self._launched = None
