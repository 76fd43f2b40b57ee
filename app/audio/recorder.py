"""Microphone recording: a PortAudio InputStream whose callback only copies blocks into a queue.

The GUI drains the queue on a timer (:meth:`Recorder.drain`), which returns the new level for the
meter; recording stops by itself at ``max_seconds`` (30 s: longer references do not help the model
and cost prompt tokens).
"""
from __future__ import annotations

import queue

import numpy as np

from .devices import AudioDeviceError, sounddevice

MAX_SECONDS = 30.0


class Recorder:
    def __init__(self, sample_rate: int = 24000, device: int | None = None, max_seconds: float = MAX_SECONDS):
        self.sample_rate = sample_rate
        self.device = device
        self.max_frames = int(max_seconds * sample_rate)
        self._queue: queue.SimpleQueue[np.ndarray] = queue.SimpleQueue()
        self._blocks: list[np.ndarray] = []
        self._frames = 0
        self._stream = None

    def start(self) -> None:
        sd = sounddevice()
        self._blocks, self._frames = [], 0
        self._queue = queue.SimpleQueue()
        try:
            self._stream = sd.InputStream(samplerate=self.sample_rate, channels=1, dtype="float32",
                                          device=self.device, callback=self._callback)
            self._stream.start()
        except (sd.PortAudioError, ValueError) as error:
            self._stream = None
            raise AudioDeviceError(
                f"Cannot open the microphone ({error}). Pick another input device in the Reference panel."
            ) from error

    def _callback(self, indata, frames, time_info, status) -> None:  # noqa: ANN001 - PortAudio
        self._queue.put(indata[:, 0].copy())

    @property
    def recording(self) -> bool:
        return self._stream is not None

    @property
    def seconds(self) -> float:
        return self._frames / self.sample_rate

    @property
    def full(self) -> bool:
        return self._frames >= self.max_frames

    def drain(self) -> tuple[float, float]:
        """Collect what arrived since the last call; returns (peak, rms) of it in 0..1."""
        new: list[np.ndarray] = []
        while True:
            try:
                new.append(self._queue.get_nowait())
            except queue.Empty:
                break
        if not new:
            return 0.0, 0.0
        block = np.concatenate(new)[: max(0, self.max_frames - self._frames)]
        self._blocks.append(block)
        self._frames += len(block)
        if not len(block):
            return 0.0, 0.0
        return float(np.max(np.abs(block))), float(np.sqrt(np.mean(block.astype(np.float64) ** 2)))

    def audio(self) -> np.ndarray:
        """What has been drained so far (the live waveform while recording)."""
        return np.concatenate(self._blocks) if self._blocks else np.zeros(0, np.float32)

    def stop(self) -> np.ndarray:
        """Stop and return everything recorded (float32 mono at ``sample_rate``)."""
        stream, self._stream = self._stream, None
        if stream is not None:
            try:
                stream.stop()
                stream.close()
            except sounddevice().PortAudioError:
                pass  # the device vanished; what we have is still returned
        self.drain()
        return self.audio()
