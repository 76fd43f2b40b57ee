"""Streaming playback: a PortAudio OutputStream fed from a thread-safe queue.

The GUI thread calls :meth:`StreamPlayer.feed` with each chunk as it arrives from the engine; the
audio callback (PortAudio's thread) only copies samples out of the queue, so it never waits on
Python work, the GIL-heavy engine, or a lock held by the GUI.

When generation is slower than real time the player must not start too early or it would stall.
If the measured real-time factor is ``rtf`` (seconds of compute per second of audio) and about
``remaining`` seconds of audio are still to come, playback that starts now runs dry unless the
buffer already holds ``remaining * (rtf - 1)`` seconds: :func:`required_prebuffer`.

Fades: each utterance gets a short fade-in at its first sample and a fade-out at its last (the
last few milliseconds are held back until the end is known), so sentence seams and the end of
playback do not click. The engine's own chunk seams are already continuous (its vocoder cache).
"""
from __future__ import annotations

import logging
import queue
import threading
from dataclasses import dataclass

import numpy as np

from .. import engine_bridge as bridge
from .devices import AudioDeviceError, sounddevice

log = logging.getLogger(__name__)

FADE_S = 0.006
MIN_PREBUFFER_S = 0.15
_END = None  # queue sentinel: the last block of the stream has been queued


def required_prebuffer(rtf: float | None, remaining_s: float, floor_s: float = MIN_PREBUFFER_S) -> float:
    """Seconds of audio to hold before starting so playback never runs dry.

    ``rtf``: measured compute-seconds per audio-second (None = not measured yet: wait for one
    chunk's worth, i.e. the floor). ``remaining_s``: predicted audio still to be generated.
    """
    if rtf is None or rtf <= 1.0:
        return floor_s
    return max(floor_s, remaining_s * (rtf - 1.0) * 1.1)  # 10 % margin for jitter


def fade(samples: np.ndarray, sample_rate: int, fade_in: bool, fade_out: bool) -> np.ndarray:
    """A copy of ``samples`` with the engine's raised-cosine ramps (``FADE_S``) at the requested ends."""
    out = np.asarray(samples, dtype=np.float32).copy()
    n = min(len(out) // 2, int(FADE_S * sample_rate))
    if fade_in:
        out = bridge.fade(out, n, fade_in=True)
    if fade_out:
        out = bridge.fade(out, n, fade_in=False)
    return out


@dataclass
class PlayerStats:
    queued_frames: int = 0
    played_frames: int = 0
    underruns: int = 0
    started: bool = False
    finished: bool = False
    callbacks: int = 0  # audio callbacks so far: stops growing when the sound server is gone (app/output_watch.py)


class StreamPlayer:
    """Plays float32 mono chunks at ``sample_rate`` through one OutputStream.

    Use from one (GUI) thread: ``begin()``, ``feed()`` repeatedly, ``end()``; ``stop()`` at any
    time silences at once. ``set_prebuffer()`` changes how much must be queued before sound starts.
    """

    def __init__(self, sample_rate: int = 24000, device: int | None = None, blocksize: int = 1024):
        self.sample_rate = sample_rate
        self.device = device
        self.blocksize = blocksize
        self._queue: queue.SimpleQueue[np.ndarray | None] = queue.SimpleQueue()
        self._stream = None
        self._current: np.ndarray | None = None
        self._pos = 0
        self._played = 0  # written by the callback only; read (racy but monotonic) by others
        self._underruns = 0
        self._callbacks = 0  # written by the callback only
        self._drained = threading.Event()
        self._queued = 0
        self._prebuffer_frames = int(MIN_PREBUFFER_S * sample_rate)
        self._tail: np.ndarray | None = None  # held back for the fade-out
        self._utterance_start = True
        self._ended = False

    # ---- producer side (GUI thread) -------------------------------------------------------
    def begin(self) -> None:
        """Start a new playback; anything playing is dropped."""
        self.stop()
        self._queue = queue.SimpleQueue()
        self._current, self._pos = None, 0
        self._played = self._underruns = self._queued = 0
        self._drained.clear()
        self._tail = None
        self._utterance_start = True
        self._ended = False

    def set_prebuffer(self, seconds: float) -> None:
        self._prebuffer_frames = int(max(0.0, seconds) * self.sample_rate)
        self._maybe_start()

    def feed(self, samples: np.ndarray, *, utterance_end: bool = False) -> None:
        """Queue a chunk. ``utterance_end`` marks the last chunk of a sentence (fade out there)."""
        samples = np.asarray(samples, dtype=np.float32).reshape(-1)
        if self._tail is not None:
            samples = np.concatenate([self._tail, samples])
            self._tail = None
        hold = int(FADE_S * self.sample_rate)
        if not utterance_end and len(samples) > hold:
            samples, self._tail = samples[:-hold], samples[-hold:].copy()
        elif not utterance_end:
            self._tail = samples
            return
        block = fade(samples, self.sample_rate, fade_in=self._utterance_start, fade_out=utterance_end)
        self._utterance_start = utterance_end
        self._put(block)

    def end(self) -> None:
        """No more chunks: flush the held-back tail with a fade-out and let the queue drain."""
        if self._tail is not None:
            tail, self._tail = self._tail, None
            self._put(fade(tail, self.sample_rate, fade_in=False, fade_out=True))
        self._ended = True
        self._queue.put(_END)
        self._maybe_start(force=True)

    def play(self, samples: np.ndarray) -> None:
        """Play a whole clip (e.g. the reference voice) from the start."""
        self.begin()
        self.feed(samples, utterance_end=True)
        self.end()

    def stop(self) -> None:
        """Silence now and close the stream (Stop button, shutdown)."""
        stream, self._stream = self._stream, None
        if stream is not None:
            try:
                stream.abort()
                stream.close()
            except sounddevice().PortAudioError as error:
                log.warning("closing the output stream failed: %s", error)
        self._drained.set()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until everything queued has been played (tests, self-test)."""
        return self._drained.wait(timeout)

    @property
    def stats(self) -> PlayerStats:
        return PlayerStats(self._queued, self._played, self._underruns, self._stream is not None,
                           self._drained.is_set(), self._callbacks)

    @property
    def buffered_seconds(self) -> float:
        return max(0, self._queued - self._played) / self.sample_rate

    @property
    def is_active(self) -> bool:
        return self._stream is not None and not self._drained.is_set()

    def _put(self, block: np.ndarray) -> None:
        if len(block):
            self._queue.put(block)
            self._queued += len(block)
        self._maybe_start()

    def _maybe_start(self, force: bool = False) -> None:
        if self._stream is not None or self._drained.is_set():
            return
        if not force and self._queued - self._played < self._prebuffer_frames:
            return
        if self._queued == 0 and self._ended:
            self._drained.set()
            return
        try:
            sd = sounddevice()
        except AudioDeviceError:
            self._drained.set()  # no PortAudio: said once for this playback, not again for every chunk fed
            raise
        try:
            stream = sd.OutputStream(samplerate=self.sample_rate, channels=1, dtype="float32",
                                     device=self.device, blocksize=self.blocksize,
                                     callback=self._callback, finished_callback=self._drained.set)
            stream.start()
        except (sd.PortAudioError, ValueError) as error:
            self._drained.set()
            raise AudioDeviceError(
                f"Cannot open the audio output ({error}). Pick another output device in Settings."
            ) from error
        self._stream = stream

    # ---- consumer side (PortAudio thread): copying only ----------------------------------
    def _callback(self, outdata, frames, time_info, status) -> None:  # noqa: ANN001 - PortAudio
        self._callbacks += 1
        written = 0
        out = outdata[:, 0]
        while written < frames:
            current = self._current
            if current is None or self._pos >= len(current):
                try:
                    current = self._queue.get_nowait()
                except queue.Empty:
                    break
                if current is _END:
                    out[written:] = 0.0
                    self._played += written
                    raise sounddevice().CallbackStop
                self._current, self._pos = current, 0
            n = min(frames - written, len(current) - self._pos)
            out[written:written + n] = current[self._pos:self._pos + n]
            self._pos += n
            written += n
        if written < frames:
            out[written:] = 0.0
            self._underruns += 1
        self._played += written
