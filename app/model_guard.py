"""A model folder that failed to load (or took Timbre down while loading) is not loaded again at the next start
without asking.

The engine thread's reports are written to the settings as they come: "loading" before a load, "failed" with its
message, nothing once the model is ready. At start-up (:meth:`ModelGuard.start`) a folder whose last load did not
end ready gets a question (load it again, or open the model manager) instead of a load that fails, hangs or
crashes again; a load the user starts from the model manager is never asked about. A window closed in the middle
of a load forgets the "loading" mark: that load was stopped, not broken.
"""
from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject

from engine import TimbreError

from .workers.synthesis_worker import EngineFailed, EngineReady

if TYPE_CHECKING:
    from .widgets.main_window import MainWindow

log = logging.getLogger(__name__)
LOADING, FAILED = "loading", "failed"
RETRY = "Load it again"
MODELS = "Open Models…"


class ModelGuard(QObject):
    def __init__(self, window: "MainWindow") -> None:
        super().__init__(window)
        self.w = window
        w = window.engine_thread.worker
        # Bound methods: queued into the GUI thread.
        w.engineLoading.connect(self.loading)
        w.engineReady.connect(self.ready)
        w.engineFailed.connect(self.failed)

    # ---- what the engine thread says ---------------------------------------------------------------
    def loading(self, model_dir: str) -> None:
        self._remember({"folder": model_dir, "state": LOADING, "message": ""})

    def ready(self, _ready: EngineReady) -> None:
        self._remember({})

    def failed(self, failed: EngineFailed) -> None:
        self._remember({"folder": self.w.settings.model_dir, "state": FAILED, "message": failed.message})

    def shutdown(self) -> None:
        """Closing mid-load stops the load: not a reason to ask next time."""
        if self.w.settings.model_load.get("state") == LOADING:
            self.w.settings.model_load = {}

    def _remember(self, record: dict[str, str]) -> None:
        self.w.settings.model_load = record
        try:
            self.w.settings.save()
        except (OSError, TimbreError) as error:
            log.error("cannot save settings: %s", error)

    # ---- start-up -----------------------------------------------------------------------------------
    def start(self) -> bool:
        """Load the model of the settings, unless its last load did not end ready: then ask first (False)."""
        record, folder = self.w.settings.model_load, self.w.settings.model_dir
        if not folder or record.get("folder") != folder or record.get("state") not in (LOADING, FAILED):
            return self.w.engine_status.start()
        why = (f"It failed: {record.get('message') or 'no reason was given.'}" if record["state"] == FAILED else
               "Timbre stopped while it was loading (it may have crashed).")
        box = self.w.ask("Load the model again?", f"The model in {folder} did not load last time.",
                         f"{why}\n\nLoad it again, or open the model manager to check the folder or choose another "
                         "one?", RETRY, MODELS)
        box.accepted.connect(self.w.engine_status.start)
        box.rejected.connect(lambda: self.w.engine_status.open_model_manager())
        return False
