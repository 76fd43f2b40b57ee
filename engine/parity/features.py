"""Parity of audio loading, resampling and the three feature extractors with ``goldens/features.npz``.

The golden holds one group per wav (``<wav>/<key>``); the wav is ``wavs/<wav>.wav``. Every key
of every group is checked; a key this module does not know is reported as a failure so a new
golden can never be skipped silently.

Bounds (:mod:`engine.parity.tolerance`): resampled audio as AUDIO, log spectra as FEATURES over the whole
array and, strictly, as LOUD_FEATURES over the bins within 60 dB of their frame's peak (another CPU's FFT
moves the bins near the log floor most); speaker embeddings as EMBEDDING; speech tokens exact.
"""
from __future__ import annotations

import re
from typing import Callable, Iterator

import numpy as np
import torch

from . import CheckResult, Fixture, compare
from .tolerance import AUDIO, EMBEDDING, FEATURES, LOUD_FEATURES
from ..frontend.audio import flow_mel, kaldi_fbank, load_audio, load_speech, whisper_log_mel
from ..frontend.frontend import SPEAKER_ENCODER_FILE
from ..frontend.onnx_models import SpeakerEncoder, SpeechTokenizer

GOLDEN = "features.npz"
LOUD_DB = 60.0

# For each log feature: decibels per unit and the axis of its mel bins, to find the bins within LOUD_DB of
# their frame's peak. Whisper: (log10(power) + 4) / 4, so one unit is 40 dB; Kaldi fbank: ln(power); the flow
# mel: ln(magnitude).
LOG_SCALES: tuple[tuple[str, float, int], ...] = (
    (r"whisper_logmel\d+", 40.0, -2),
    (r"kaldi_fbank\d+(_minus_mean)?", 10.0 / np.log(10.0), -1),
    (r"matcha_mel\d+_24k(_fmax\w+)?", 20.0 / np.log(10.0), -2),
    (r"(prompt_)?speech_feat", 20.0 / np.log(10.0), -1),
)


def loud_bins(key: str, golden: np.ndarray, level_golden: np.ndarray | None = None) -> np.ndarray | None:
    """Mask of the bins of log feature ``key`` within 60 dB of their frame's peak (None: not a log feature).

    ``level_golden`` is the array whose levels decide (default ``golden``); a mean-normalised feature passes
    its un-normalised golden, since subtracting each bin's mean hides the frame's peak.
    """
    name = key.rsplit("/", 1)[-1]
    for pattern, db_per_unit, axis in LOG_SCALES:
        if re.fullmatch(pattern, name):
            level = np.asarray(golden if level_golden is None else level_golden, dtype=np.float64) * db_per_unit
            return level >= level.max(axis=axis, keepdims=True) - LOUD_DB
    return None


def check_feature(fx: Fixture, name: str, got, file: str, key: str,
                  level_key: str | None = None) -> Iterator[CheckResult]:
    """A log feature: the whole array (FEATURES) and its loud bins (LOUD_FEATURES)."""
    z = fx.npz(file)
    yield fx.check(name, got, file, key, FEATURES)
    mask = loud_bins(key, z[key], z[level_key] if level_key else None)
    g = np.asarray(got.detach().cpu().numpy() if hasattr(got, "detach") else got, dtype=np.float64)
    if mask is None or g.size != mask.size:
        return
    err = float(np.max(np.abs(g.reshape(mask.shape) - z[key])[mask], initial=0.0))
    bound = LOUD_FEATURES.bound(0.0)
    yield CheckResult(f"{name} (within {LOUD_DB:g} dB)", err, bound, err <= bound)


def groups(z) -> list[str]:
    """Wav names present in the golden, in file order."""
    seen: dict[str, None] = {}
    for k in z.files:
        if "/" in k:
            seen.setdefault(k.split("/", 1)[0], None)
    return list(seen)


class _WavFeatures:
    """Lazily computed features of one wav (each computed at most once)."""

    def __init__(self, fx: Fixture, wav: str, models: dict[str, object]):
        self.fx, self.wav, self.models = fx, wav, models
        self._cache: dict[str, torch.Tensor] = {}
        self._audio: tuple[np.ndarray, int] | None = None

    def _get(self, key: str, make: Callable[[], torch.Tensor]) -> torch.Tensor:
        if key not in self._cache:
            self._cache[key] = make()
        return self._cache[key]

    def speech(self, rate: int) -> torch.Tensor:
        if self._audio is None:
            self._audio = load_audio(self.fx.wavs_dir / f"{self.wav}.wav")
        audio, sr = self._audio
        return self._get(f"speech_{rate}", lambda: load_speech(audio, sr, rate))

    def fbank(self, bins: int) -> torch.Tensor:
        return self._get(f"fbank{bins}", lambda: kaldi_fbank(self.speech(16000), num_mel_bins=bins))

    def flow_mel(self) -> torch.Tensor:
        mel = self.fx.config.feat
        return self._get("flow_mel", lambda: flow_mel(self.speech(mel.sampling_rate), mel))

    def tokenizer(self) -> SpeechTokenizer:
        if "tok" not in self.models:
            self.models["tok"] = SpeechTokenizer(self.fx.speech_tokenizer_path)
        return self.models["tok"]  # type: ignore[return-value]

    def encoder(self) -> SpeakerEncoder:
        if "spk" not in self.models:
            self.models["spk"] = SpeakerEncoder(self.fx.model_dir / SPEAKER_ENCODER_FILE)
        return self.models["spk"]  # type: ignore[return-value]

    def compute(self, key: str) -> torch.Tensor | None:
        """The value for golden key ``key`` (without the wav prefix), or None if unknown."""
        if m := re.fullmatch(r"speech_(\d+)k", key):
            return self.speech(int(m.group(1)) * 1000)
        if m := re.fullmatch(r"whisper_logmel(\d+)", key):
            return whisper_log_mel(self.speech(16000), n_mels=int(m.group(1)))
        if m := re.fullmatch(r"kaldi_fbank(\d+)", key):
            return self.fbank(int(m.group(1)))
        if m := re.fullmatch(r"kaldi_fbank(\d+)_minus_mean", key):
            fb = self.fbank(int(m.group(1)))
            return fb - fb.mean(dim=0, keepdim=True)
        if re.fullmatch(r"matcha_mel\d+_24k(_fmax\w+)?", key):  # the yaml's fmax (CosyVoice 3: none = 12 kHz)
            return self.flow_mel()
        if key == "speech_feat":
            return self.flow_mel().squeeze(0).transpose(0, 1).unsqueeze(0)
        if key == "speech_token":
            return self.tokenizer()(self.speech(16000))
        if key == "spk_embedding":
            return self.encoder()(self.speech(16000))
        return None


def checks(fx: Fixture) -> Iterator[CheckResult]:
    if not fx.has(GOLDEN):
        return
    z = fx.npz(GOLDEN)
    models: dict[str, object] = {}
    for wav in groups(z):
        feats = _WavFeatures(fx, wav, models)
        for full in (k for k in z.files if k.startswith(f"{wav}/")):
            key = full.split("/", 1)[1]
            got = feats.compute(key)
            name = f"features/{full}"
            if got is None:
                yield CheckResult(name, float("inf"), 0.0, False, "no implementation for this golden key")
            elif z[full].dtype.kind in "iub":
                yield compare(name, got, z[full])  # speech tokens: exact
            elif key.startswith("speech_") and key != "speech_feat":
                yield fx.check(name, got, GOLDEN, full, AUDIO)
            elif key == "spk_embedding":
                yield fx.check(name, got, GOLDEN, full, EMBEDDING)
            else:
                level = re.sub(r"_minus_mean$", "", full)
                yield from check_feature(fx, name, got, GOLDEN, full, level if level != full else None)
