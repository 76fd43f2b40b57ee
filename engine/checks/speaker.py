"""Voice similarity: is the take still the reference's voice? Cosine similarity of speaker embeddings.

Two speaker-verification models:

* :class:`Resemblyzer` - the GE2E LSTM speaker encoder whose weights ship inside the ``resemblyzer``
  package (17 MB). It is what the thresholds were measured with (``python -m engine.checks.calibrate
  voice``: 4 sentences in each of 6 distinct espeak-ng voices, pairs of different sentences): the same
  voice scored 0.80-0.95 (median 0.90), different voices 0.51-0.82 (median 0.67). A take passes from
  :data:`SIMILARITY_WARN` (the lowest same-voice pair) and fails below :data:`SIMILARITY_FAIL`. It needs
  the reference as audio (``--prompt WAV``).
* :class:`CamPlusPlus` - the model folder's CAM++ ONNX (``campplus.onnx``, what CosyVoice conditions on,
  through :class:`engine.frontend.onnx_models.SpeakerEncoder`). It compares a take with a saved voice,
  which keeps CAM++'s embedding but no audio. Its value is reported but "not checked": the only CAM++ here
  is the tiny test model's random stand-in, so its thresholds could not be measured.
"""
from __future__ import annotations

import threading
from pathlib import Path

import numpy as np

from ..errors import CheckModelMissing
from .optional import optional_module
from .verdict import NOT_CHECKED, Check, grade_below

GROUP = "voice"
SPEAKER_SAMPLE_RATE = 16000
SIMILARITY_WARN, SIMILARITY_FAIL = 0.80, 0.72


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    a, b = np.asarray(a, dtype=np.float64).ravel(), np.asarray(b, dtype=np.float64).ravel()
    return float(a @ b / max(np.linalg.norm(a) * np.linalg.norm(b), 1e-12))


class Resemblyzer:
    """GE2E embeddings (256-d, L2-normalised) of 16 kHz speech."""

    name = "resemblyzer GE2E"
    thresholds: tuple[float, float] | None = (SIMILARITY_WARN, SIMILARITY_FAIL)

    def __init__(self) -> None:
        rz = optional_module("resemblyzer")
        self._preprocess = rz.preprocess_wav
        self._encoder = rz.VoiceEncoder("cpu", verbose=False)
        self._lock = threading.Lock()

    def embed(self, audio_16k: np.ndarray) -> np.ndarray:
        with self._lock:
            # preprocess_wav: volume normalisation and webrtcvad trimming of long silences, as trained
            return np.asarray(self._encoder.embed_utterance(self._preprocess(audio_16k.astype(np.float32))))


class CamPlusPlus:
    """CAM++ 192-d embeddings from a CosyVoice model folder's ``campplus.onnx`` (thresholds not measured)."""

    thresholds: tuple[float, float] | None = None

    def __init__(self, model_dir: str | Path) -> None:
        from ..frontend.onnx_models import SpeakerEncoder

        path = Path(model_dir) / "campplus.onnx"
        if not path.is_file():
            raise CheckModelMissing(f"No campplus.onnx in {model_dir}; give the CosyVoice model folder (--model).")
        self._encoder = SpeakerEncoder(path)
        self.name = f"CAM++ ({path.parent.name})"

    def embed(self, audio_16k: np.ndarray) -> np.ndarray:
        return self._encoder(audio_16k.reshape(1, -1)).numpy()[0]


def similarity_check(model, take_16k: np.ndarray, reference: np.ndarray, *, reference_is_embedding: bool) -> Check:
    """Cosine similarity of the take and the reference (16 kHz audio, or an embedding of ``model``)."""
    ref = reference if reference_is_embedding else model.embed(reference)
    sim = cosine(model.embed(take_16k), ref)
    details = {"model": model.name}
    if model.thresholds is None:
        return Check("voice_similarity", GROUP, NOT_CHECKED,
                     f"similarity {sim:.2f} by {model.name}, whose pass/fail limits were never measured",
                     value=round(sim, 3), details=details)
    warn_at, fail_at = model.thresholds
    verdict = grade_below(sim, warn_at, fail_at)
    msg = {"pass": "the take sounds like the reference voice",
           "warn": "the take's voice drifts from the reference",
           "fail": "the take does not sound like the reference voice"}[verdict]
    return Check("voice_similarity", GROUP, verdict, msg, value=round(sim, 3), threshold=fail_at, details=details)
