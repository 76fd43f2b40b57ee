"""Where the speech is in a take: silero-vad (its ONNX model ships inside the ``silero-vad`` package).

A take is synthetic speech with real pauses, noise bursts and breaths in it, so a learned detector is used
rather than an energy threshold (``engine.frontend.analysis`` uses energy for the user's own clean
recording). Segments are found with no padding (``speech_pad_ms=0``) so that the silences the timing checks
measure are the detector's own, and pauses shorter than :data:`MIN_SILENCE_MS` do not split speech (they are
the gaps between words, not pauses).
"""
from __future__ import annotations

import threading
import warnings
from dataclasses import dataclass

import numpy as np

from .optional import optional_module

VAD_SAMPLE_RATE = 16000
MIN_SILENCE_MS = 100  # silero's default: shorter gaps stay inside a segment
_lock = threading.Lock()
_model = None


@dataclass(frozen=True)
class SpeechMap:
    """Speech segments ``[(start_s, end_s), ...]`` of a take of ``duration_s`` seconds."""

    segments: tuple[tuple[float, float], ...]
    duration_s: float

    @property
    def leading_s(self) -> float:
        return self.segments[0][0] if self.segments else self.duration_s

    @property
    def trailing_s(self) -> float:
        return self.duration_s - self.segments[-1][1] if self.segments else self.duration_s

    @property
    def pauses(self) -> list[float]:
        """Silences between speech segments, in order."""
        return [b[0] - a[1] for a, b in zip(self.segments, self.segments[1:])]

    @property
    def speech_s(self) -> float:
        return float(sum(e - s for s, e in self.segments))


def _silero():
    """The shared ONNX model (loaded once; silero's wrapper is stateless between calls, see find_speech)."""
    global _model
    with _lock:
        if _model is None:
            with warnings.catch_warnings():  # silero-vad 6 finds its file with a deprecated importlib call
                warnings.filterwarnings("ignore", category=DeprecationWarning)
                _model = optional_module("silero_vad").load_silero_vad(onnx=True)
        return _model


def find_speech(audio_16k: np.ndarray) -> SpeechMap:
    """Speech segments of ``audio_16k`` (float32 ``[N]``, 16 kHz). Raises CheckModelMissing without silero-vad."""
    import torch

    silero = optional_module("silero_vad")
    model = _silero()
    wav = torch.from_numpy(np.ascontiguousarray(audio_16k, dtype=np.float32))
    with _lock:  # get_speech_timestamps resets the model's state first, so calls must not interleave
        stamps = silero.get_speech_timestamps(wav, model, sampling_rate=VAD_SAMPLE_RATE, speech_pad_ms=0,
                                              min_silence_duration_ms=MIN_SILENCE_MS)
    segs = tuple((s["start"] / VAD_SAMPLE_RATE, s["end"] / VAD_SAMPLE_RATE) for s in stamps)
    return SpeechMap(segs, audio_16k.shape[0] / VAD_SAMPLE_RATE)
