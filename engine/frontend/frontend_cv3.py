"""CosyVoice 3's model inputs: CosyVoice 2's frontend with its tokenizer, speech tokenizer v3, the 12 kHz flow mel
and the system prompt every mode must carry.

The official frontend code is the same for both families; CosyVoice 3's LM asserts ``<|endofprompt|>`` in its
input, which the official examples satisfy by writing the system prompt into the prompt transcript
(zero-shot), the text (cross-lingual, fine-grained control) or the instruction (instruct2). Here the prompt is
added where it is missing (:mod:`engine.frontend.cosyvoice3_tokens`), so callers pass what a person typed.

One difference from the official cross-lingual call, on purpose: the official code gets the system prompt
inside the text, and text containing ``<|...|>`` is neither normalised nor split, so a long cross-lingual text
goes to the LM whole and un-normalised. Here the caller normalises and splits the user's text and each piece
gets the prompt, as the other modes do.
"""
from __future__ import annotations

from pathlib import Path

from ..config import QWEN_DIR, FAMILY_FILES, COSYVOICE3, load_config3
from .cosyvoice3_tokens import COSYVOICE3_SPECIAL_TOKENS, instruct_prompt, with_system_prompt
from .frontend import SPEAKER_ENCODER_FILE, Frontend, ModelInputs, PromptFeatures
from .onnx_models import SpeakerEncoder, SpeechTokenizer
from .tokenizer import load_tokenizer

SPEECH_TOKENIZER_V3_FILE = FAMILY_FILES[COSYVOICE3][1]


class CosyVoice3Frontend(Frontend):
    """:class:`Frontend` whose text modes add the mandatory system prompt where it is missing."""

    @classmethod
    def from_model_dir(cls, model_dir: str | Path, providers: list[str] | None = None) -> "CosyVoice3Frontend":
        model_dir = Path(model_dir)
        cfg = load_config3(model_dir)
        return cls(
            load_tokenizer(model_dir / QWEN_DIR, COSYVOICE3_SPECIAL_TOKENS),
            SpeechTokenizer(model_dir / SPEECH_TOKENIZER_V3_FILE, providers),
            SpeakerEncoder(model_dir / SPEAKER_ENCODER_FILE, providers),
            mel=cfg.feat, token_mel_ratio=cfg.token_mel_ratio,
        )

    def zero_shot(self, text: str, prompt_text: str, prompt: PromptFeatures) -> ModelInputs:
        """The transcript behind ``You are a helpful assistant.<|endofprompt|>``."""
        self._text(prompt_text, "transcript")  # type check before the prompt is added
        return super().zero_shot(text, with_system_prompt(prompt_text), prompt)

    def cross_lingual(self, text: str, prompt: PromptFeatures) -> ModelInputs:
        """The text to speak behind the system prompt (checked for being empty before it is added)."""
        self._text(text)
        return super().cross_lingual(with_system_prompt(text), prompt)

    def instruct2(self, text: str, instruct_text: str, prompt: PromptFeatures) -> ModelInputs:
        """The instruction as ``You are a helpful assistant. <instruction><|endofprompt|>``."""
        self._text(instruct_text, "instruction")
        return super().instruct2(text, instruct_prompt(instruct_text), prompt)
