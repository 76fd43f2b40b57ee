"""The studio's generation session: the job that is running, its takes, its playback and its clocks.

:class:`GenerationSession` sits between the main window and the engine thread. The window asks it to generate
some sentences of the narration with a voice and a direction; the session submits the job, feeds the streaming
player as chunks arrive (prebuffering from the measured real-time factor), adds each finished sentence to the
narration as a take, and reports back with small frozen values. It holds no widgets and reads no label text.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
from PySide6.QtCore import QObject, Signal

from engine import TimbreError

from . import engine_bridge as bridge
from .audio.player import StreamPlayer, required_prebuffer
from .narration import Narration, Take
from .workers.synthesis_worker import (ChunkReady, EngineThread, JobEnded, JobItem, JobStats, Outcome,
                                       SentenceFinished, SentenceStarted)

CHARS_PER_SECOND = 14.0  # rough speaking rate, only used to predict how much audio is still to come


@dataclass(frozen=True)
class Metrics:
    """What the transport shows while a job runs: None means "not known yet"."""

    first_audio_s: float | None = None
    rtf: float | None = None
    buffered_s: float | None = None


@dataclass
class _Job:
    """The running job (one at a time)."""

    job_id: int
    direction: bridge.Direction
    voice_name: str
    texts: dict[int, str]  # sentence index -> its text when the job started
    started: float
    remaining_chars: int
    first_audio_s: float | None = None


class GenerationSession(QObject):
    sentenceActive = Signal(object)  # int | None: the sentence being generated  # noqa: N815
    takeAdded = Signal(int)  # sentence index  # noqa: N815
    metricsChanged = Signal(object)  # Metrics  # noqa: N815
    ended = Signal(object)  # JobEnded  # noqa: N815
    playbackFailed = Signal(str)  # noqa: N815

    def __init__(self, engine_thread: EngineThread, player: StreamPlayer, narration: Narration,
                 output_device: Callable[[], Any], parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.engine_thread, self.player, self.narration = engine_thread, player, narration
        self._output_device = output_device
        self._job: _Job | None = None
        self._last_rtf: float | None = None
        self.last_stats: JobStats | None = None
        w = engine_thread.worker
        # Bound methods (not lambdas): PySide then queues the calls into this object's (GUI) thread.
        w.sentenceStarted.connect(self._sentence_started)
        w.chunkReady.connect(self._chunk_ready)
        w.sentenceFinished.connect(self._sentence_finished)
        w.jobEnded.connect(self._job_ended)

    @property
    def generating(self) -> bool:
        return self._job is not None

    @property
    def job_id(self) -> int | None:
        return self._job.job_id if self._job else None

    def generate(self, indices: list[int], pieces: dict[int, tuple[str, ...]], seeds: list[int], voice: Any,
                 voice_name: str, direction: bridge.Direction) -> int:
        """Generate ``indices`` of the narration (their normalised ``pieces``) with one seed each; returns the job id."""
        self.stop()
        items = [JobItem(i, pieces[i], seed) for i, seed in zip(indices, seeds)]
        texts = {i: self.narration.sentences[i].text for i in indices}
        remaining = sum(len(t) for t in texts.values())
        self.player.device = self._output_device()
        self.player.begin()
        self.player.set_prebuffer(required_prebuffer(self._last_rtf, remaining / CHARS_PER_SECOND))
        job_id = self.engine_thread.submit(items, voice, voice_name, direction)
        self._job = _Job(job_id, direction, voice_name, texts, time.perf_counter(), remaining)
        self.metricsChanged.emit(Metrics())
        return job_id

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

    def _sentence_started(self, event: SentenceStarted) -> None:
        if self._current(event.job_id):
            self.sentenceActive.emit(event.index)

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
        if job.direction.streaming:
            self._play(event.samples, utterance_end=False, rtf=event.rtf, job=job)
        self.metricsChanged.emit(Metrics(job.first_audio_s if first else None, event.rtf,
                                         self.player.buffered_seconds))

    def _sentence_finished(self, event: SentenceFinished) -> None:
        job = self._current(event.job_id)
        if job is None:
            return
        # Streamed chunks are already queued: only the sentence's end (its fade-out) is left to say. Without
        # streaming the whole sentence is played now.
        self._play(np.zeros(0, np.float32) if job.direction.streaming else event.audio, utterance_end=True,
                   rtf=self._last_rtf, job=job)
        index = self._index_of(event.index, job.texts.get(event.index, ""))
        if index >= 0:
            d = job.direction
            self.narration.sentences[index].add(Take(event.audio, bridge.OUTPUT_RATE, event.seed, d.mode,
                                                     d.instruction, job.voice_name))
            self.takeAdded.emit(index)
        self.sentenceActive.emit(None)

    def _index_of(self, index: int, text: str) -> int:
        """Where the sentence is now: the text may have been edited while it was generated."""
        sentences = self.narration.sentences
        if 0 <= index < len(sentences) and sentences[index].text == text:
            return index
        return next((i for i, s in enumerate(sentences) if s.text == text), -1)

    def _job_ended(self, event: JobEnded) -> None:
        if self._current(event.job_id) is None:
            return
        self._job = None
        if event.outcome is Outcome.FINISHED:
            self.last_stats = event.stats
            try:
                self.player.end()
            except TimbreError as error:
                self.playbackFailed.emit(str(error))
        elif event.outcome is Outcome.FAILED:
            self.player.stop()
        self.sentenceActive.emit(None)
        self.ended.emit(event)

    def _play(self, samples: np.ndarray, *, utterance_end: bool, rtf: float | None, job: _Job) -> None:
        try:
            self.player.feed(samples, utterance_end=utterance_end)
            self.player.set_prebuffer(required_prebuffer(rtf, job.remaining_chars / CHARS_PER_SECOND))
        except TimbreError as error:
            self.playbackFailed.emit(str(error))
