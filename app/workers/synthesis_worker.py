"""The engine's home: one QObject on its own QThread that owns the Engine and makes every take.

The GUI never touches the engine: it sends requests through :class:`EngineThread`'s signals (queued into the
worker thread) and gets results back as signals carrying small frozen values (queued into the GUI thread): a job
makes takes of project lines (engine ``LineJob`` values, one take each or best-of-N with the take checks), a
request converts a performed reading into a take or speaks one word. While a job runs the worker's event loop is
busy, so cancellation does not go through the queue: :meth:`EngineThread.cancel` sets the job's thread-safe token
directly and the engine stops between steps (its generator is closed as the take is abandoned, which stops its
threads).
"""
from __future__ import annotations

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
class SynthesisJob:
    """Make takes of ``lines`` (engine LineJob values, each with its seed): one take each, or with ``best_of`` > 1
    up to that many per line until one passes its checks (``checker``)."""

    job_id: int
    lines: tuple[Any, ...]
    cancel: CancelToken  # set from the GUI thread
    best_of: int = 1
    checker: Any = None


@dataclass(frozen=True)
class ConvertRequest:
    """A performed line: the creator's reading (float32 mono at ``sample_rate``) re-voiced for ``line``."""

    request_id: int
    line: Any  # LineJob
    audio: np.ndarray
    sample_rate: int
    cancel: CancelToken


@dataclass(frozen=True)
class WordRequest:
    """"Hear this word": ``word`` respelled by ``lexicon`` and spoken alone in ``voice``."""

    request_id: int
    word: str
    voice: Any
    lexicon: Any
    cancel: CancelToken


# ---- what the worker reports (each signal carries one of these) ------------------------------------
@dataclass(frozen=True)
class EngineReady:
    summary: str  # "cpu · fp32"
    model: str  # "CosyVoice 2"
    family: str = ""  # "cosyvoice2" / "cosyvoice3": voices of the other one must be made again
    phoneme_markup: bool = False  # the model reads pinyin / CMU phoneme markup in text


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
class LineStarted:
    job_id: int
    line_id: str


@dataclass(frozen=True)
class ChunkReady:
    job_id: int
    line_id: str
    samples: np.ndarray  # float32 mono, OUTPUT_RATE
    rtf: float  # compute seconds per second of audio so far in this job


@dataclass(frozen=True)
class TakeMade:
    """A take of a line (an engine project Take: its info and audio); best-of makes several per line."""

    job_id: int
    take: Any


@dataclass(frozen=True)
class LineFinished:
    """Every take of the line is made; ``chosen`` is the take the line should use (best-of's pick)."""

    job_id: int
    line_id: str
    chosen: str
    tries: int = 1


@dataclass(frozen=True)
class RemakeRequest:
    """``voice`` analysed again from its recording (float32 mono at ``sample_rate``) for the loaded model."""

    request_id: int
    voice: Any
    audio: np.ndarray
    sample_rate: int
    cancel: CancelToken


@dataclass(frozen=True)
class RequestDone:
    """A conversion (``take``), a spoken word (``audio``) or a remade ``voice`` is ready, or ``error`` says why not."""

    request_id: int
    take: Any = None
    audio: np.ndarray | None = None
    error: str = ""
    voice: Any = None


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
    lineStarted = Signal(object)  # LineStarted  # noqa: N815
    chunkReady = Signal(object)  # ChunkReady  # noqa: N815
    takeMade = Signal(object)  # TakeMade  # noqa: N815
    lineFinished = Signal(object)  # LineFinished  # noqa: N815
    jobEnded = Signal(object)  # JobEnded  # noqa: N815
    requestDone = Signal(object)  # RequestDone  # noqa: N815

    def __init__(self) -> None:
        super().__init__()
        self.engine: Any = None
        self._loads = 0  # which load is the current one (a warm-up of an older one reports nothing)
        # Held around every use of the engine (a line, a voice, a request): the studio's speech server holds it
        # around its requests too, so the two never run the engine at once.
        self.engine_lock = threading.Lock()
        self.load_cancel = CancelToken()  # set when the studio closes: a load that waits on the network stops

    @Slot(str, str, str, str)
    def load(self, model_dir: str, device: str, precision: str, flow_history: str) -> None:
        self.engineLoading.emit(model_dir)
        self.engine = None
        self._loads += 1
        plan = bridge.device_plan(device, precision)
        if not plan.ok:
            log.error("engine load failed: %s", plan.problem)
            self.engineFailed.emit(EngineFailed(plan.problem, LoadProblem.DEVICE))
            return
        try:
            # The studio's closing cancels this token: a load stalled on a download (a hub that does not answer)
            # stops within a second, so the thread ends and the window closes cleanly.
            loaded = bridge.load_engine(model_dir, device, precision, flow_history, cancel=self.load_cancel)
        except Cancelled:
            log.info("model load cancelled")
            return
        except Exception as error:  # noqa: BLE001 - every failure must reach the user, not kill the thread
            self._failed(error)
            return
        self.engine = loaded
        # The text frontend's first use builds the normaliser's grammars (seconds). That runs on a daemon thread of
        # its own: this thread stays free to stop when the app closes (a Ctrl+C waits for nothing that cannot be
        # interrupted), and the GUI hears "ready" once it is done, so the first take does not pay for it.
        threading.Thread(target=self._warm_up, args=(self._loads, loaded), name="timbre-warm-up",
                         daemon=True).start()

    def _warm_up(self, load: int, loaded: Any) -> None:
        try:
            bridge.warm_up(loaded)
        except Exception as error:  # noqa: BLE001 - see load
            if load == self._loads:
                self._failed(error)
            return
        if load == self._loads:  # not replaced by another load meanwhile
            self.engineReady.emit(EngineReady(bridge.describe_engine(loaded), bridge.model_name(loaded),
                                              str(loaded.family), bool(loaded.supports_phoneme_markup)))

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
            with self.engine_lock:
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
            for line in job.lines:
                job.cancel.raise_if_cancelled("Generation")
                self.lineStarted.emit(LineStarted(job.job_id, line.line_id))
                with self.engine_lock:
                    if job.best_of > 1:
                        self._best_of(job, line, clock)
                    else:
                        self._one_take(job, line, clock)
        except Cancelled:
            self.jobEnded.emit(JobEnded(job.job_id, Outcome.CANCELLED))
            return
        except Exception as error:  # noqa: BLE001 - see load
            log.error("generation failed: %s", traceback.format_exc())
            self.jobEnded.emit(JobEnded(job.job_id, Outcome.FAILED, message=user_message(error)))
            return
        self.jobEnded.emit(JobEnded(job.job_id, Outcome.FINISHED, clock.stats()))

    def _one_take(self, job: SynthesisJob, line: Any, clock: "_JobClock") -> None:
        def chunk(samples: np.ndarray, _is_last: bool) -> None:
            job.cancel.raise_if_cancelled("Generation")
            clock.add(len(samples) / bridge.OUTPUT_RATE)
            self.chunkReady.emit(ChunkReady(job.job_id, line.line_id, samples, clock.rtf()))

        take = bridge.synthesize_line(self.engine, line, job.cancel, chunk)
        self.takeMade.emit(TakeMade(job.job_id, take))
        self.lineFinished.emit(LineFinished(job.job_id, line.line_id, take.info.id))

    def _best_of(self, job: SynthesisJob, line: Any, clock: "_JobClock") -> None:
        def made(take: Any) -> None:
            clock.add(take.info.duration_s)
            self.takeMade.emit(TakeMade(job.job_id, take))

        takes, chosen = bridge.best_of_line(self.engine, line, job.best_of, job.checker, job.cancel, made)
        self.lineFinished.emit(LineFinished(job.job_id, line.line_id, takes[chosen].info.id, len(takes)))

    @Slot(object)
    def convert(self, request: ConvertRequest) -> None:
        self._request(request.request_id, lambda: RequestDone(request.request_id, take=bridge.convert_line(
            self.engine, request.line, request.audio, request.sample_rate, request.cancel)))

    @Slot(object)
    def hear(self, request: WordRequest) -> None:
        self._request(request.request_id, lambda: RequestDone(request.request_id, audio=bridge.hear_word(
            self.engine, request.word, request.voice, request.lexicon, request.cancel)))

    @Slot(object)
    def remake(self, request: RemakeRequest) -> None:
        self._request(request.request_id, lambda: RequestDone(request.request_id, voice=bridge.remake_voice(
            self.engine, request.voice, request.audio, request.sample_rate)))

    def _request(self, request_id: int, run) -> None:
        if self.engine is None:
            self.requestDone.emit(RequestDone(request_id, error=NO_MODEL))
            return
        try:
            with self.engine_lock:
                done = run()
        except Cancelled:
            done = RequestDone(request_id, error="Cancelled.")
        except Exception as error:  # noqa: BLE001 - see load
            log.error("engine request failed: %s", traceback.format_exc())
            done = RequestDone(request_id, error=user_message(error))
        self.requestDone.emit(done)


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

    _load = Signal(str, str, str, str)
    _make_voice = Signal(int, object, int, str, str)
    _run = Signal(object)
    _convert = Signal(object)
    _hear = Signal(object)
    _remake = Signal(object)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.thread = QThread()
        self.thread.setObjectName("timbre-engine")
        self.worker = SynthesisWorker()
        self.worker.moveToThread(self.thread)
        self._load.connect(self.worker.load)
        self._make_voice.connect(self.worker.make_voice)
        self._run.connect(self.worker.run_job)
        self._convert.connect(self.worker.convert)
        self._hear.connect(self.worker.hear)
        self._remake.connect(self.worker.remake)
        self.thread.start()
        self._token: CancelToken | None = None
        self._requests: dict[int, CancelToken] = {}  # one-off requests not answered yet
        self._ids = itertools.count(1)
        self.worker.requestDone.connect(self._request_done)  # a bound method: queued into the GUI thread

    def load(self, model_dir: str, device: str = "auto", precision: str = "auto", flow_history: str = "auto") -> None:
        self._load.emit(model_dir, device, precision, flow_history)

    def make_voice(self, audio: np.ndarray, sample_rate: int, transcript: str, name: str) -> int:
        request_id = next(self._ids)
        self._make_voice.emit(request_id, audio, sample_rate, transcript, name)
        return request_id

    def submit(self, lines: list, *, best_of: int = 1, checker: Any = None) -> int:
        """Queue takes of ``lines`` (LineJobs); returns the job id. One job at a time: cancel the previous first."""
        self.cancel()
        self._token = bridge.cancel_token()
        job = SynthesisJob(next(_job_ids), tuple(lines), self._token, best_of, checker)
        self._run.emit(job)
        return job.job_id

    def convert(self, line: Any, audio: np.ndarray, sample_rate: int) -> int:
        """Queue a performed take of ``line`` from the creator's reading; answered by ``worker.requestDone``."""
        request_id, token = self._request()
        self._convert.emit(ConvertRequest(request_id, line, np.asarray(audio, np.float32), int(sample_rate), token))
        return request_id

    def hear(self, word: str, voice: Any, lexicon: Any) -> int:
        request_id, token = self._request()
        self._hear.emit(WordRequest(request_id, word, voice, lexicon, token))
        return request_id

    def remake_voice(self, voice: Any, audio: np.ndarray, sample_rate: int) -> int:
        """Queue ``voice`` made again from its recording for the loaded model; answered by ``worker.requestDone``."""
        request_id, token = self._request()
        self._remake.emit(RemakeRequest(request_id, voice, np.asarray(audio, np.float32), int(sample_rate), token))
        return request_id

    def _request(self) -> tuple[int, CancelToken]:
        request_id, token = next(self._ids), bridge.cancel_token()
        self._requests[request_id] = token
        return request_id, token

    def _request_done(self, done: RequestDone) -> None:
        self._requests.pop(done.request_id, None)

    def cancel(self) -> None:
        if self._token is not None:
            self._token.cancel()

    def shutdown(self, timeout_ms: int = 10000) -> bool:
        """Cancel everything, stop the thread's loop, and wait for it (closing the app)."""
        self.cancel()
        self.worker.load_cancel.cancel()
        for token in self._requests.values():
            token.cancel()
        self.thread.quit()
        ok = self.thread.wait(timeout_ms)
        if not ok:
            log.warning("engine thread did not stop within %d ms", timeout_ms)
        return ok
