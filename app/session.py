"""The studio's generation session: the job that is running, its takes, its playback and its clocks.

:class:`GenerationSession` sits between the main window and the engine thread. The window asks it for takes of
some lines of the project (engine ``LineJob`` values, each with its seed): one take each, streamed to the player
as the chunks arrive (prebuffering from the measured real-time factor), or best-of-N retakes checked as they are
made. Each take is added to the project document the moment it is done (so it is in the autosave at once), and
the session reports back with small frozen values. It holds no widgets and reads no label text.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
from PySide6.QtCore import QObject, Signal

from engine import TimbreError

from .audio.player import StreamPlayer, required_prebuffer
from .document import ProjectDocument
from .workers.synthesis_worker import (ChunkReady, EngineThread, JobEnded, JobStats, LineFinished, LineStarted,
                                       Outcome, TakeMade)

CHARS_PER_SECOND = 14.0  # rough speaking rate, only used to predict how much audio is still to come


@dataclass(frozen=True)
class Metrics:
    """What the transport shows while a job runs: None means "not known yet"."""

    first_audio_s: float | None = None
    rtf: float | None = None
    buffered_s: float | None = None


@dataclass(frozen=True)
class Retaken:
    """Best-of-N made ``tries`` takes of a line; ``passed`` when the chosen one failed no check."""

    line_id: str
    tries: int
    passed: bool


@dataclass
class _Job:
    """The running job (one at a time)."""

    job_id: int
    streaming: bool
    best_of: int
    total: int  # lines
    started: float
    remaining_chars: int
    done: int = 0
    first_audio_s: float | None = None
    audible: bool = True  # False once the user plays something else: the job goes on in silence


class GenerationSession(QObject):
    lineActive = Signal(object)  # str | None: the line being generated  # noqa: N815
    takeAdded = Signal(str)  # take id (in the project now)  # noqa: N815
    lineRetaken = Signal(object)  # Retaken  # noqa: N815
    progressed = Signal(int, int)  # lines done, lines in the job  # noqa: N815
    metricsChanged = Signal(object)  # Metrics  # noqa: N815
    ended = Signal(object)  # JobEnded  # noqa: N815
    playbackFailed = Signal(str)  # noqa: N815

    def __init__(self, engine_thread: EngineThread, player: StreamPlayer, document: ProjectDocument,
                 output_device: Callable[[], Any], parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.engine_thread, self.player, self.document = engine_thread, player, document
        self._output_device = output_device
        self._job: _Job | None = None
        self._last_rtf: float | None = None
        self.last_stats: JobStats | None = None
        w = engine_thread.worker
        # Bound methods (not lambdas): PySide then queues the calls into this object's (GUI) thread.
        w.lineStarted.connect(self._line_started)
        w.chunkReady.connect(self._chunk_ready)
        w.takeMade.connect(self._take_made)
        w.lineFinished.connect(self._line_finished)
        w.jobEnded.connect(self._job_ended)

    @property
    def generating(self) -> bool:
        return self._job is not None

    @property
    def job_id(self) -> int | None:
        return self._job.job_id if self._job else None

    def generate(self, jobs: list, streaming: bool) -> int:
        """One take of each of ``jobs`` (LineJobs with their seeds), played as they are made; returns the job id."""
        self.stop()
        remaining = sum(len(j.text) for j in jobs)
        self.player.device = self._output_device()
        self.player.begin()
        self.player.set_prebuffer(required_prebuffer(self._last_rtf, remaining / CHARS_PER_SECOND))
        job_id = self.engine_thread.submit(jobs)
        self._start(_Job(job_id, streaming, 1, len(jobs), time.perf_counter(), remaining))
        return job_id

    def retake(self, jobs: list, best_of: int, checker: Any) -> int:
        """Best-of-``best_of`` takes of each of ``jobs``, checked by ``checker`` as they are made (not played)."""
        self.stop()
        job_id = self.engine_thread.submit(jobs, best_of=best_of, checker=checker)
        self._start(_Job(job_id, False, best_of, len(jobs), time.perf_counter(), 0))
        return job_id

    def _start(self, job: _Job) -> None:
        self._job = job
        self.metricsChanged.emit(Metrics())
        self.progressed.emit(0, job.total)

    def silence(self) -> None:
        """Keep generating but play nothing more of this job (the user is listening to something else)."""
        if self._job is not None:
            self._job.audible = False

    def stop(self) -> None:
        """Stop generation and playback at once (the job reports CANCELLED when the engine has stopped)."""
        self.engine_thread.cancel()
        self.player.stop()

    def buffer_metrics(self) -> Metrics | None:
        """The buffer level while playing (the transport polls it), None when nothing plays."""
        return Metrics(buffered_s=self.player.buffered_seconds) if self.player.is_active else None

    # ---- from the engine thread ------------------------------------------------------------------
    def _current(self, job_id: int) -> _Job | None:
        return self._job if self._job is not None and self._job.job_id == job_id else None

    def _line_started(self, event: LineStarted) -> None:
        if self._current(event.job_id):
            self.lineActive.emit(event.line_id)

    def _chunk_ready(self, event: ChunkReady) -> None:
        job = self._current(event.job_id)
        if job is None or not len(event.samples):
            return
        first = job.first_audio_s is None
        if first:
            job.first_audio_s = time.perf_counter() - job.started
        self._last_rtf = event.rtf
        job.remaining_chars = max(0, job.remaining_chars - int(len(event.samples) / self.player.sample_rate
                                                               * CHARS_PER_SECOND))
        if job.streaming and job.audible:
            self._play(event.samples, utterance_end=False, rtf=event.rtf, job=job)
        self.metricsChanged.emit(Metrics(job.first_audio_s if first else None, event.rtf,
                                         self.player.buffered_seconds))

    def _take_made(self, event: TakeMade) -> None:
        job = self._current(event.job_id)
        if job is None:
            return
        if job.best_of == 1 and job.audible:
            # Streamed chunks are already queued: only the line's end (its fade-out) is left to say. Without
            # streaming the whole take is played now.
            self._play(np.zeros(0, np.float32) if job.streaming else event.take.audio, utterance_end=True,
                       rtf=self._last_rtf, job=job)
        info = self.document.add_take(event.take, choose=job.best_of == 1)
        if info is not None:
            self.takeAdded.emit(info.id)

    def _line_finished(self, event: LineFinished) -> None:
        job = self._current(event.job_id)
        if job is None:
            return
        job.done += 1
        if job.best_of > 1 and self.document.row(event.line_id) is not None:
            self.document.use_generated(event.line_id, event.chosen)
            report = self.document.take_info(event.chosen).checks or {}
            self.lineRetaken.emit(Retaken(event.line_id, event.tries, report.get("verdict") != "fail"))
        self.progressed.emit(job.done, job.total)
        self.lineActive.emit(None)

    def _job_ended(self, event: JobEnded) -> None:
        job = self._current(event.job_id)
        if job is None:
            return
        self._job = None
        if event.outcome is Outcome.FINISHED:
            self.last_stats = event.stats
            if job.best_of == 1 and job.audible:
                try:
                    self.player.end()
                except TimbreError as error:
                    self.playbackFailed.emit(str(error))
        elif event.outcome is Outcome.FAILED:
            self.player.stop()
        self.lineActive.emit(None)
        self.ended.emit(event)

    def _play(self, samples: np.ndarray, *, utterance_end: bool, rtf: float | None, job: _Job) -> None:
        try:
            self.player.feed(samples, utterance_end=utterance_end)
            self.player.set_prebuffer(required_prebuffer(rtf, job.remaining_chars / CHARS_PER_SECOND))
        except TimbreError as error:
            self.playbackFailed.emit(str(error))
