"""Parity of audio loading, resampling and the three feature extractors with ``goldens/features.npz``.

The golden holds one group per wav (``<wav>/<key>``); the wav is ``wavs/<wav>.wav``. Every key
of every group is checked; a key this module does not know is reported as a failure so a new
golden can never be skipped silently.

Tolerance 1e-4 absolute for floats (on the shared fixtures every float matches bit for bit;
the margin is for other CPUs' FFT/conv kernels). Speech tokens are exact.
"""
from __future__ import annotations

import re
from typing import Callable, Iterator

import numpy as np
import torch

from . import CheckResult, Fixture, compare
from ..frontend.audio import flow_mel, kaldi_fbank, load_audio, load_speech, whisper_log_mel
from ..frontend.frontend import SPEAKER_ENCODER_FILE, SPEECH_TOKENIZER_FILE
from ..frontend.onnx_models import SpeakerEncoder, SpeechTokenizer

GOLDEN = "features.npz"
TOL = 1e-4


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
            self.models["tok"] = SpeechTokenizer(self.fx.model_dir / SPEECH_TOKENIZER_FILE)
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
        if re.fullmatch(r"matcha_mel\d+_24k", key):
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
            else:
                yield compare(name, got, z[full], TOL)
