"""The engine's home: one QObject on its own QThread that owns the Engine and iterates its generator.

The GUI never touches the engine: it sends requests through :class:`EngineThread`'s signals (queued into the
worker thread) and gets results back as signals carrying small frozen values (queued into the GUI thread).
While a generation runs the worker's event loop is busy iterating, so cancellation does not go through the
queue: :meth:`EngineThread.cancel` sets the job's thread-safe token directly and the engine stops between
steps; the worker then closes the engine's generator, which stops its threads.
"""
from __future__ import annotations

import contextlib
import enum
import itertools
import logging
import threading
import time
import traceback
from dataclasses import dataclass
from typing import Any

import numpy as np
from PySide6.QtCore import QObject, QThread, Signal, Slot

from engine import (Cancelled, CancelToken, CheckpointError, ConfigError, ModelFolderError, OnnxModelError,
                    TimbreError)

from .. import engine_bridge as bridge

log = logging.getLogger(__name__)
_job_ids = itertools.count(1)
NO_MODEL = "No model is loaded. Open Tools → Models… and download or pick one."


@dataclass(frozen=True)
class JobItem:
    """One sentence of a job: its index in the narration, its normalised pieces, its seed."""

    index: int
    pieces: tuple[str, ...]
    seed: int


@dataclass(frozen=True)
class SynthesisJob:
    """Generate ``items`` with one voice and one direction (its seed is each item's)."""

    job_id: int
    items: tuple[JobItem, ...]
    voice: Any
    voice_name: str
    direction: bridge.Direction
    cancel: CancelToken  # set from the GUI thread


# ---- what the worker reports (each signal carries one of these) ------------------------------------
@dataclass(frozen=True)
class EngineReady:
    summary: str  # "cpu · fp32"
    model: str  # "CosyVoice 2"
    splitter: bridge.SentenceSplitter  # built here, off the GUI thread (it takes seconds)


class LoadProblem(str, enum.Enum):
    """What a failed load was about, so the window's advice points at the right thing."""

    DEVICE = "device"  # the device or precision cannot be used on this machine
    FOLDER = "folder"  # the model folder is missing, incomplete or damaged
    OTHER = "other"


@dataclass(frozen=True)
class EngineFailed:
    message: str  # a sentence for the user
    problem: LoadProblem


@dataclass(frozen=True)
class VoiceResult:
    request_id: int
    voice: Any = None
    error: str = ""  # a sentence for the user when the voice could not be made


@dataclass(frozen=True)
class SentenceStarted:
    job_id: int
    index: int


@dataclass(frozen=True)
class ChunkReady:
    job_id: int
    index: int
    samples: np.ndarray  # float32 mono, OUTPUT_RATE
    rtf: float  # compute seconds per second of audio so far in this job


@dataclass(frozen=True)
class SentenceFinished:
    job_id: int
    index: int
    audio: np.ndarray  # the whole sentence
    seed: int


class Outcome(str, enum.Enum):
    FINISHED = "finished"
    CANCELLED = "cancelled"
    FAILED = "failed"


@dataclass(frozen=True)
class JobStats:
    first_audio_s: float | None  # request start -> first chunk out
    rtf: float | None  # compute seconds per second of audio produced
    audio_s: float
    compute_s: float


@dataclass(frozen=True)
class JobEnded:
    job_id: int
    outcome: Outcome
    stats: JobStats | None = None
    message: str = ""  # why it failed


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
    engineLoading = Signal(str)  # noqa: N815 - model folder
    engineReady = Signal(object)  # EngineReady  # noqa: N815
    engineFailed = Signal(object)  # EngineFailed  # noqa: N815
    voiceDone = Signal(object)  # VoiceResult  # noqa: N815
    sentenceStarted = Signal(object)  # SentenceStarted  # noqa: N815
    chunkReady = Signal(object)  # ChunkReady  # noqa: N815
    sentenceFinished = Signal(object)  # SentenceFinished  # noqa: N815
    jobEnded = Signal(object)  # JobEnded  # noqa: N815

    def __init__(self) -> None:
        super().__init__()
        self.engine: Any = None
        self._loads = 0  # which load is the current one (a warm-up of an older one reports nothing)

    @Slot(str, str, str)
    def load(self, model_dir: str, device: str, precision: str) -> None:
        self.engineLoading.emit(model_dir)
        self.engine = None
        self._loads += 1
        plan = bridge.device_plan(device, precision)
        if not plan.ok:
            log.error("engine load failed: %s", plan.problem)
            self.engineFailed.emit(EngineFailed(plan.problem, LoadProblem.DEVICE))
            return
        try:
            loaded = bridge.load_engine(model_dir, device, precision)
            splitter = bridge.SentenceSplitter(model_dir)
        except Exception as error:  # noqa: BLE001 - every failure must reach the user, not kill the thread
            self._failed(error)
            return
        self.engine = loaded
        # The text frontend's first use imports its number speller (inflect: typeguard re-compiles its source,
        # seconds). That runs on a daemon thread of its own: this thread stays free to stop when the app closes
        # (a Ctrl+C waits for nothing that cannot be interrupted), and the GUI hears "ready" once it is done.
        threading.Thread(target=self._warm_up, args=(self._loads, loaded, splitter), name="timbre-warm-up",
                         daemon=True).start()

    def _warm_up(self, load: int, loaded: Any, splitter: bridge.SentenceSplitter) -> None:
        try:
            splitter.warm_up()
        except Exception as error:  # noqa: BLE001 - see load
            if load == self._loads:
                self._failed(error)
            return
        if load == self._loads:  # not replaced by another load meanwhile
            self.engineReady.emit(EngineReady(bridge.describe_engine(loaded), bridge.model_name(loaded), splitter))

    def _failed(self, error: Exception) -> None:
        log.error("engine load failed: %s", "".join(traceback.format_exception(error)))
        self.engine = None
        folder = isinstance(error, (ModelFolderError, CheckpointError, ConfigError, OnnxModelError))
        self.engineFailed.emit(EngineFailed(user_message(error), LoadProblem.FOLDER if folder else LoadProblem.OTHER))

    @Slot(int, object, int, str, str)
    def make_voice(self, request_id: int, audio: object, sample_rate: int, transcript: str, name: str) -> None:
        if self.engine is None:
            self.voiceDone.emit(VoiceResult(request_id, error=NO_MODEL))
            return
        try:
            voice = bridge.make_voice(self.engine, np.asarray(audio, np.float32), sample_rate, transcript, name)
        except Exception as error:  # noqa: BLE001 - see load
            log.error("make_voice failed: %s", traceback.format_exc())
            self.voiceDone.emit(VoiceResult(request_id, error=user_message(error)))
            return
        self.voiceDone.emit(VoiceResult(request_id, voice))

    @Slot(object)
    def run_job(self, job: SynthesisJob) -> None:
        if self.engine is None:
            self.jobEnded.emit(JobEnded(job.job_id, Outcome.FAILED, message=NO_MODEL))
            return
        clock = _JobClock()
        try:
            for item in job.items:
                job.cancel.raise_if_cancelled("Generation")
                self.sentenceStarted.emit(SentenceStarted(job.job_id, item.index))
                self._sentence(job, item, clock)
        except Cancelled:
            self.jobEnded.emit(JobEnded(job.job_id, Outcome.CANCELLED))
            return
        except Exception as error:  # noqa: BLE001 - see load
            log.error("generation failed: %s", traceback.format_exc())
            self.jobEnded.emit(JobEnded(job.job_id, Outcome.FAILED, message=user_message(error)))
            return
        self.jobEnded.emit(JobEnded(job.job_id, Outcome.FINISHED, clock.stats()))

    def _sentence(self, job: SynthesisJob, item: JobItem, clock: "_JobClock") -> None:
        direction = bridge.Direction(job.direction.mode, job.direction.instruction, job.direction.speed, item.seed,
                                     job.direction.streaming)
        pieces: list[np.ndarray] = []
        # closing(): on a cancel or an error the engine's generator is closed here, which stops its threads.
        with contextlib.closing(bridge.synthesize(self.engine, item.pieces, job.voice, direction, job.cancel)) as gen:
            for chunk in gen:
                job.cancel.raise_if_cancelled("Generation")
                clock.add(len(chunk.samples) / chunk.sample_rate)
                pieces.append(chunk.samples)
                self.chunkReady.emit(ChunkReady(job.job_id, item.index, chunk.samples, clock.rtf()))
        full = np.concatenate(pieces) if pieces else np.zeros(0, np.float32)
        self.sentenceFinished.emit(SentenceFinished(job.job_id, item.index, full, item.seed))


class _JobClock:
    """When the job started, when its first audio came, how much audio it made."""

    def __init__(self) -> None:
        self.start = time.perf_counter()
        self.first_audio: float | None = None
        self.audio_s = 0.0

    def add(self, seconds: float) -> None:
        if self.first_audio is None:
            self.first_audio = time.perf_counter() - self.start
        self.audio_s += seconds

    def rtf(self) -> float:
        return (time.perf_counter() - self.start) / self.audio_s if self.audio_s > 0 else 0.0

    def stats(self) -> JobStats:
        compute = time.perf_counter() - self.start
        return JobStats(self.first_audio, compute / self.audio_s if self.audio_s else None, self.audio_s, compute)


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
        self._token: CancelToken | None = None
        self._voice_ids = itertools.count(1)

    def load(self, model_dir: str, device: str = "auto", precision: str = "auto") -> None:
        self._load.emit(model_dir, device, precision)

    def make_voice(self, audio: np.ndarray, sample_rate: int, transcript: str, name: str) -> int:
        request_id = next(self._voice_ids)
        self._make_voice.emit(request_id, audio, sample_rate, transcript, name)
        return request_id

    def submit(self, items: list[JobItem], voice: Any, voice_name: str, direction: bridge.Direction) -> int:
        """Queue a generation; returns its job id. One job at a time: cancel the previous first."""
        self.cancel()
        self._token = bridge.cancel_token()
        job = SynthesisJob(next(_job_ids), tuple(items), voice, voice_name, direction, self._token)
        self._run.emit(job)
        return job.job_id

    def cancel(self) -> None:
        if self._token is not None:
            self._token.cancel()

    def shutdown(self, timeout_ms: int = 10000) -> bool:
        """Cancel, stop the thread's loop, and wait for it (closing the app)."""
        self.cancel()
        self.thread.quit()
        ok = self.thread.wait(timeout_ms)
        if not ok:
            log.warning("engine thread did not stop within %d ms", timeout_ms)
        return ok
