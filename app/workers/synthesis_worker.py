"""The engine's home: one QObject on its own QThread that owns the Engine and iterates its generator.

The GUI never touches the engine: it sends requests through :class:`EngineThread`'s signals
(queued into the worker thread) and gets results back as signals (queued into the GUI thread).
While a generation runs the worker's event loop is busy iterating, so cancellation does not go
through the queue: :meth:`EngineThread.cancel` sets the job's thread-safe token directly and the
engine stops between steps.
"""
from __future__ import annotations

import itertools
import logging
import time
import traceback
from dataclasses import dataclass
from typing import Any

import numpy as np
from PySide6.QtCore import QObject, QThread, Signal, Slot

from engine.errors import Cancelled, TimbreError

from .. import engine_bridge as bridge

log = logging.getLogger(__name__)
_job_ids = itertools.count(1)


@dataclass(frozen=True)
class SynthesisJob:
    """Generate ``items`` = [(sentence index, text, seed)] with one voice and one direction."""

    job_id: int
    items: tuple[tuple[int, str, int], ...]
    voice: Any
    voice_name: str
    direction: bridge.Direction
    cancel: Any  # engine.hub.CancelToken, set from the GUI thread


@dataclass(frozen=True)
class JobStats:
    first_audio_s: float | None  # request start -> first chunk out
    rtf: float | None  # compute seconds per second of audio produced
    audio_s: float
    compute_s: float


def user_message(error: BaseException) -> str:
    """A sentence for the user: the engine's typed errors already are; anything else gets advice."""
    if isinstance(error, TimbreError):
        return str(error)
    if isinstance(error, MemoryError):
        return ("Out of memory. Close other programs, or pick a smaller precision in Models… "
                "(fp16/bf16 on a GPU, int8 on the CPU).")
    return (f"Unexpected error: {type(error).__name__}: {error}. "
            "Try again; if it keeps happening, restart Timbre and report the log.")


class SynthesisWorker(QObject):
    engineLoading = Signal(str)  # noqa: N815
    engineReady = Signal(str)  # summary "cpu · fp32"  # noqa: N815
    engineFailed = Signal(str)  # noqa: N815
    voiceMade = Signal(int, object)  # request id, voice  # noqa: N815
    voiceFailed = Signal(int, str)  # noqa: N815
    sentenceStarted = Signal(int, int)  # job, sentence index  # noqa: N815
    chunkReady = Signal(int, int, object, bool, float)  # job, index, samples, last of sentence, rtf  # noqa: N815
    sentenceFinished = Signal(int, int, object, int)  # job, index, full audio, seed  # noqa: N815
    jobFinished = Signal(int, object)  # job, JobStats  # noqa: N815
    jobFailed = Signal(int, str)  # noqa: N815
    jobCancelled = Signal(int)  # noqa: N815

    def __init__(self) -> None:
        super().__init__()
        self.engine: Any = None

    @Slot(str, str, str)
    def load(self, model_dir: str, device: str, precision: str) -> None:
        self.engineLoading.emit(model_dir)
        self.engine = None
        try:
            engine = bridge.load_engine(model_dir, device, precision)
        except Exception as error:  # noqa: BLE001 - every failure must reach the user, not kill the thread
            log.error("engine load failed: %s", traceback.format_exc())
            self.engineFailed.emit(user_message(error))
            return
        self.engine = engine
        self.engineReady.emit(bridge.describe_engine(engine))

    @Slot(int, object, int, str, str)
    def make_voice(self, request_id: int, audio: object, sample_rate: int, transcript: str, name: str) -> None:
        if self.engine is None:
            self.voiceFailed.emit(request_id, "No model is loaded. Open Models… and download or pick one.")
            return
        try:
            voice = bridge.make_voice(self.engine, np.asarray(audio, np.float32), sample_rate, transcript, name)
        except Exception as error:  # noqa: BLE001 - see load
            log.error("make_voice failed: %s", traceback.format_exc())
            self.voiceFailed.emit(request_id, user_message(error))
            return
        self.voiceMade.emit(request_id, voice)

    @Slot(object)
    def run_job(self, job: SynthesisJob) -> None:
        cancel = job.cancel
        if self.engine is None:
            self.jobFailed.emit(job.job_id, "No model is loaded. Open Models… and download or pick one.")
            return
        start = time.perf_counter()
        first_audio: float | None = None
        audio_s = 0.0
        try:
            for index, text, seed in job.items:
                if cancel is not None and cancel.cancelled:
                    raise Cancelled("Generation was cancelled.")
                self.sentenceStarted.emit(job.job_id, index)
                direction = bridge.Direction(job.direction.mode, job.direction.instruction,
                                             job.direction.speed, seed, job.direction.streaming)
                pieces: list[np.ndarray] = []
                chunks = bridge.synthesize(self.engine, text, job.voice, direction, cancel)
                for chunk in chunks:
                    if cancel is not None and cancel.cancelled:
                        raise Cancelled("Generation was cancelled.")
                    now = time.perf_counter()
                    if first_audio is None:
                        first_audio = now - start
                    audio_s += len(chunk.samples) / chunk.sample_rate
                    rtf = (now - start) / audio_s if audio_s > 0 else 0.0
                    pieces.append(chunk.samples)
                    self.chunkReady.emit(job.job_id, index, chunk.samples, False, rtf)
                full = np.concatenate(pieces) if pieces else np.zeros(0, np.float32)
                self.chunkReady.emit(job.job_id, index, np.zeros(0, np.float32), True,
                                     (time.perf_counter() - start) / max(audio_s, 1e-6))
                self.sentenceFinished.emit(job.job_id, index, full, seed)
        except Cancelled:
            self.jobCancelled.emit(job.job_id)
            return
        except Exception as error:  # noqa: BLE001 - see load
            log.error("generation failed: %s", traceback.format_exc())
            self.jobFailed.emit(job.job_id, user_message(error))
            return
        compute = time.perf_counter() - start
        self.jobFinished.emit(job.job_id, JobStats(first_audio, compute / audio_s if audio_s else None,
                                                   audio_s, compute))


class EngineThread(QObject):
    """Owns the worker and its QThread; the GUI's one handle on the engine."""

    _load = Signal(str, str, str)
    _make_voice = Signal(int, object, int, str, str)
    _run = Signal(object)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.thread = QThread()
        self.thread.setObjectName("timbre-engine")
        self.worker = SynthesisWorker()
        self.worker.moveToThread(self.thread)
        self._load.connect(self.worker.load)
        self._make_voice.connect(self.worker.make_voice)
        self._run.connect(self.worker.run_job)
        self.thread.start()
        self._token: Any = None
        self._voice_ids = itertools.count(1)
        self.busy_job: int | None = None
        self.worker.jobFinished.connect(self._job_done)
        self.worker.jobFailed.connect(self._job_done)
        self.worker.jobCancelled.connect(self._job_done)

    def load(self, model_dir: str, device: str = "auto", precision: str = "auto") -> None:
        self._load.emit(model_dir, device, precision)

    def make_voice(self, audio: np.ndarray, sample_rate: int, transcript: str, name: str) -> int:
        request_id = next(self._voice_ids)
        self._make_voice.emit(request_id, audio, sample_rate, transcript, name)
        return request_id

    def submit(self, items: list[tuple[int, str, int]], voice: Any, voice_name: str,
               direction: bridge.Direction) -> int:
        """Queue a generation; returns its job id. One job at a time: cancel the previous first."""
        self.cancel()
        self._token = bridge.cancel_token()
        job = SynthesisJob(next(_job_ids), tuple(items), voice, voice_name, direction, self._token)
        self.busy_job = job.job_id
        self._run.emit(job)
        return job.job_id

    def cancel(self) -> None:
        if self._token is not None:
            self._token.cancel()

    def _job_done(self, job_id: int, *_: object) -> None:
        if self.busy_job == job_id:
            self.busy_job = None

    def shutdown(self, timeout_ms: int = 10000) -> bool:
        """Cancel, stop the thread's loop, and wait for it (closing the app)."""
        self.cancel()
        self.thread.quit()
        ok = self.thread.wait(timeout_ms)
        if not ok:
            log.warning("engine thread did not stop within %d ms", timeout_ms)
        return ok
