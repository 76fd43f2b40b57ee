"""The worker: one engine in one Ray worker process, loaded once, making takes of the lines it is sent.

Ray starts it as an actor on the node the driver picked (:mod:`engine.cluster.driver`) and calls its methods
one at a time. The model is loaded from the worker's own disk (``--model`` names the same folder, or a repo id
in the Hugging Face cache, on every machine); the voices come with the lines (:mod:`engine.cluster.wire`).
"""
from __future__ import annotations

import os
import socket
from types import SimpleNamespace

from ..errors import TimbreError
from .wire import WIRE_VERSION, job_from_wire, take_to_wire, voice_from_wire


class LineWorker:
    """``load``: the engine options (model, device, precision, normalizer, offline); ``threads``: the CPU
    threads its torch may use (the CPUs the driver reserved for it: Ray's own default would be one)."""

    def __init__(self, load: dict, threads: int):
        import torch

        from ..cli.common import load_engine

        torch.set_num_threads(threads)  # before loading: the engine plans its CPU threads from this count
        self.error = ""
        try:
            self.engine = load_engine(SimpleNamespace(**load))
        except TimbreError as e:  # a missing or damaged model on this machine: said by describe(), not a crash
            self.engine, self.error = None, f"{type(e).__name__}: {e}"

    def describe(self) -> dict:
        """Who this worker is and whether its engine loaded (``error``: why not)."""
        import torch

        from ..project import engine_settings

        return {"wire": WIRE_VERSION, "host": socket.gethostname(), "pid": os.getpid(),
                "threads": torch.get_num_threads(), "error": self.error,
                "settings": engine_settings(self.engine) if self.engine is not None else {}}

    def make(self, job: dict, voice: dict) -> dict:
        """The take of one line (:func:`engine.project.synthesize_line`), as :func:`~.wire.take_to_wire` values."""
        from ..project import synthesize_line

        return take_to_wire(synthesize_line(self.engine, job_from_wire(job, voice_from_wire(voice))))
