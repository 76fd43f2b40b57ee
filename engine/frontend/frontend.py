"""Compose the model inputs for each synthesis mode, exactly as the reference frontend does.

A reference recording is analysed once into :class:`PromptFeatures` (speech tokens, flow mel,
speaker embedding); each request then combines it with the text tokens into
:class:`ModelInputs`. The modes differ only in what the LM is shown:

* zero_shot: LM prompt = transcript of the reference + its speech tokens; the LM continues it.
* cross_lingual: no LM prompt at all (the reference's language would leak into the new text).
* instruct2: LM prompt text = the instruction (``...<|endofprompt|>``), no LM prompt speech.
* vc: no LM; the source recording's speech tokens go straight to the flow.

In every mode the flow gets the reference's speech tokens, mel and speaker embedding.

The flow needs exactly ``token_mel_ratio`` (2) mel frames per prompt token, so the text modes
trim the prompt to ``n = min(mel_frames // 2, n_tokens)`` tokens and ``2 n`` frames. The
reference does NOT trim in voice conversion (frames may be 2 n +- 1); :func:`vc_inputs` keeps
that, so features extracted with ``trim=False`` reproduce it exactly.
"""
from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path
from typing import Protocol, Sequence

import numpy as np
import torch

from ..config import QWEN_DIR, MelConfig, load_config
from ..errors import AudioInputError, TextInputError
from .audio import WHISPER_SAMPLE_RATE, flow_mel, resample, validate_audio
from .onnx_models import SpeakerEncoder, SpeechTokenizer
from .tokenizer import load_tokenizer

SPEECH_TOKENIZER_FILE = "speech_tokenizer_v2.onnx"
SPEAKER_ENCODER_FILE = "campplus.onnx"

# Below this the speech tokenizer yields a token or two and the voice cannot be captured at all.
MIN_PROMPT_SECONDS = 0.2


class TextEncoder(Protocol):
    """Anything with ``encode(text) -> ids`` (engine.frontend.tokenizer.TextTokenizer)."""

    def encode(self, text: str) -> list[int]: ...


@dataclass(frozen=True)
class PromptFeatures:
    """Everything a reference recording contributes, computed once and reusable for every request.

    speech_tokens: int32 ``[1, n]`` speech tokens at 25 Hz.
    speech_feat: float32 ``[1, T, num_mels]`` flow mel at 24 kHz (``T == 2 n`` once trimmed).
    embedding: float32 ``[1, 192]`` CAM++ speaker embedding.
    """

    speech_tokens: torch.Tensor
    speech_feat: torch.Tensor
    embedding: torch.Tensor

    @property
    def n_tokens(self) -> int:
        return int(self.speech_tokens.shape[1])

    @property
    def n_frames(self) -> int:
        return int(self.speech_feat.shape[1])

    def trimmed(self, token_mel_ratio: int = 2) -> "PromptFeatures":
        """Cut tokens and frames to exactly ``token_mel_ratio`` frames per token (idempotent)."""
        n = min(self.n_frames // token_mel_ratio, self.n_tokens)
        return PromptFeatures(self.speech_tokens[:, :n], self.speech_feat[:, : token_mel_ratio * n], self.embedding)


def extract_prompt(audio: np.ndarray, sample_rate: int, speech_tokenizer: SpeechTokenizer,
                   speaker_encoder: SpeakerEncoder, *, mel: MelConfig = MelConfig(),
                   trim: bool = True, token_mel_ratio: int = 2) -> PromptFeatures:
    """Analyse one reference recording: ``audio`` ``[N]`` or ``[N, channels]`` at ``sample_rate``.

    Speech tokens and the embedding come from the 16 kHz version, the mel from the 24 kHz one,
    each resampled from the original (never from each other), as the reference does. ``trim``
    applies the 2:1 frame/token rule of the text modes; pass ``trim=False`` to keep the raw
    features (what the reference's voice conversion uses).
    """
    mono = validate_audio(audio, sample_rate)
    seconds = mono.size / sample_rate
    if seconds < MIN_PROMPT_SECONDS:
        raise AudioInputError(
            f"The reference recording is only {seconds * 1000:.0f} ms long. Record 3-10 seconds of clear speech."
        )
    wave = torch.from_numpy(mono)[None]
    speech_16k = resample(wave, sample_rate, WHISPER_SAMPLE_RATE)
    tokens = speech_tokenizer(speech_16k)  # checks the 30 s limit before the slower steps
    speech_24k = resample(wave, sample_rate, mel.sampling_rate)
    feat = flow_mel(speech_24k, mel).squeeze(0).transpose(0, 1).unsqueeze(0)
    prompt = PromptFeatures(tokens, feat, speaker_encoder(speech_16k))
    return prompt.trimmed(token_mel_ratio) if trim else prompt


@dataclass(frozen=True)
class ModelInputs:
    """What the LM and the flow receive for one request (reference key names; all batch 1).

    mode: "zero_shot" | "cross_lingual" | "instruct2" | "vc".
    text: int32 ``[1, L]`` text tokens to speak (None for vc).
    prompt_text: int32 ``[1, P]`` transcript (zero_shot) or instruction (instruct2); else None.
    llm_prompt_speech_token: int32 ``[1, n]`` (zero_shot only).
    flow_prompt_speech_token: int32 ``[1, n]``; prompt_speech_feat: float32 ``[1, T, 80]``.
    flow_embedding: float32 ``[1, 192]``; llm_embedding: the same tensor (the CosyVoice 2 LM ignores it).
    source_speech_token: int32 ``[1, S]`` (vc only): the tokens to re-voice.
    """

    mode: str
    flow_prompt_speech_token: torch.Tensor
    prompt_speech_feat: torch.Tensor
    flow_embedding: torch.Tensor
    text: torch.Tensor | None = None
    prompt_text: torch.Tensor | None = None
    llm_prompt_speech_token: torch.Tensor | None = None
    llm_embedding: torch.Tensor | None = None
    source_speech_token: torch.Tensor | None = None

    def as_dict(self) -> dict[str, torch.Tensor]:
        """The reference's ``model_input`` dict: every present tensor plus its ``*_len`` ([1] int32)."""
        out: dict[str, torch.Tensor] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if not isinstance(value, torch.Tensor):
                continue
            out[f.name] = value
            if f.name not in ("flow_embedding", "llm_embedding"):
                out[f"{f.name}_len"] = torch.tensor([value.shape[1]], dtype=torch.int32)
        return out


def _ids(tokens: Sequence[int]) -> torch.Tensor:
    return torch.tensor([list(tokens)], dtype=torch.int32).reshape(1, -1)


def zero_shot_inputs(text_tokens: Sequence[int], prompt_text_tokens: Sequence[int],
                     prompt: PromptFeatures, token_mel_ratio: int = 2) -> ModelInputs:
    """Continue the reference: LM sees transcript + reference speech tokens, then the new text."""
    p = prompt.trimmed(token_mel_ratio)
    return ModelInputs(
        mode="zero_shot", text=_ids(text_tokens), prompt_text=_ids(prompt_text_tokens),
        llm_prompt_speech_token=p.speech_tokens, flow_prompt_speech_token=p.speech_tokens,
        prompt_speech_feat=p.speech_feat, llm_embedding=p.embedding, flow_embedding=p.embedding,
    )


def cross_lingual_inputs(text_tokens: Sequence[int], prompt: PromptFeatures, token_mel_ratio: int = 2) -> ModelInputs:
    """No LM prompt at all (the reference's language would leak into the new text); voice via the flow."""
    p = prompt.trimmed(token_mel_ratio)
    return ModelInputs(
        mode="cross_lingual", text=_ids(text_tokens), flow_prompt_speech_token=p.speech_tokens,
        prompt_speech_feat=p.speech_feat, llm_embedding=p.embedding, flow_embedding=p.embedding,
    )


def instruct2_inputs(text_tokens: Sequence[int], instruct_tokens: Sequence[int], prompt: PromptFeatures,
                     token_mel_ratio: int = 2) -> ModelInputs:
    """The instruction takes the transcript's place; no LM prompt speech; voice via the flow."""
    p = prompt.trimmed(token_mel_ratio)
    return ModelInputs(
        mode="instruct2", text=_ids(text_tokens), prompt_text=_ids(instruct_tokens),
        flow_prompt_speech_token=p.speech_tokens, prompt_speech_feat=p.speech_feat,
        llm_embedding=p.embedding, flow_embedding=p.embedding,
    )


def vc_inputs(source_tokens: torch.Tensor, prompt: PromptFeatures) -> ModelInputs:
    """Voice conversion: the source's speech tokens are re-voiced by the flow. No trimming (as the reference)."""
    return ModelInputs(
        mode="vc", source_speech_token=source_tokens.to(torch.int32).reshape(1, -1),
        flow_prompt_speech_token=prompt.speech_tokens, prompt_speech_feat=prompt.speech_feat,
        flow_embedding=prompt.embedding,
    )


class Frontend:
    """Text tokenizer + speech tokenizer + speaker encoder of one model folder."""

    def __init__(self, tokenizer: TextEncoder, speech_tokenizer: SpeechTokenizer, speaker_encoder: SpeakerEncoder,
                 mel: MelConfig = MelConfig(), token_mel_ratio: int = 2):
        self.tokenizer = tokenizer
        self.speech_tokenizer = speech_tokenizer
        self.speaker_encoder = speaker_encoder
        self.mel = mel
        self.token_mel_ratio = token_mel_ratio

    @classmethod
    def from_model_dir(cls, model_dir: str | Path, providers: list[str] | None = None) -> "Frontend":
        model_dir = Path(model_dir)
        cfg = load_config(model_dir)
        return cls(
            load_tokenizer(model_dir / QWEN_DIR),
            SpeechTokenizer(model_dir / SPEECH_TOKENIZER_FILE, providers),
            SpeakerEncoder(model_dir / SPEAKER_ENCODER_FILE, providers),
            mel=cfg.feat, token_mel_ratio=cfg.token_mel_ratio,
        )

    def prompt(self, audio: np.ndarray, sample_rate: int, trim: bool = True) -> PromptFeatures:
        """Analyse a reference recording (see :func:`extract_prompt`)."""
        return extract_prompt(audio, sample_rate, self.speech_tokenizer, self.speaker_encoder,
                              mel=self.mel, trim=trim, token_mel_ratio=self.token_mel_ratio)

    def _text(self, text: str, what: str = "text to speak") -> list[int]:
        if not isinstance(text, str):
            raise TextInputError(f"The {what} must be a string, not {type(text).__name__}.")
        ids = self.tokenizer.encode(text)
        if not ids and what == "text to speak":
            raise TextInputError("There is no text to speak. Type some text first.")
        return ids

    def zero_shot(self, text: str, prompt_text: str, prompt: PromptFeatures) -> ModelInputs:
        return zero_shot_inputs(self._text(text), self._text(prompt_text, "transcript"), prompt, self.token_mel_ratio)

    def cross_lingual(self, text: str, prompt: PromptFeatures) -> ModelInputs:
        return cross_lingual_inputs(self._text(text), prompt, self.token_mel_ratio)

    def instruct2(self, text: str, instruct_text: str, prompt: PromptFeatures) -> ModelInputs:
        return instruct2_inputs(self._text(text), self._text(instruct_text, "instruction"), prompt,
                                self.token_mel_ratio)

    def vc(self, source_audio: np.ndarray, source_sample_rate: int, prompt: PromptFeatures) -> ModelInputs:
        """Re-voice ``source_audio`` (at most 30 s) with the prompt's voice."""
        mono = validate_audio(source_audio, source_sample_rate)
        speech_16k = resample(torch.from_numpy(mono)[None], source_sample_rate, WHISPER_SAMPLE_RATE)
        return vc_inputs(self.speech_tokenizer(speech_16k), prompt)
