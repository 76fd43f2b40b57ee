"""What the three tensors of a saved voice must look like, checked when a voice is saved, loaded or imported.

A voice file from elsewhere is untrusted: a token outside the speech tokenizer's codes would index past the
flow's embedding at synthesis, a prompt mel with huge (finite) values makes the vocoder produce NaN, and a
wrong width fails deep inside a network. So a voice is refused at once, by name, unless it is what the
frontend makes (:func:`engine.frontend.frontend.extract_prompt`, CosyVoice 2 and 3 alike):

- ``speech_tokens`` int32 ``[T]``, 1 <= T <= :data:`MAX_PROMPT_TOKENS`, every token in ``[0, SPEECH_CODES)``;
- ``speech_feat`` float32 ``[2T, MEL_BINS]`` (two mel frames per token after the frontend's trim), finite,
  within :data:`MEL_RANGE`;
- ``embedding`` float32 ``[EMBEDDING_SIZE]`` (CAM++), finite.
"""
from __future__ import annotations

import math

import torch

from .errors import VoiceLibraryError

TENSOR_KEYS = ("speech_tokens", "speech_feat", "embedding")
SPEECH_CODES = 6561  # the speech tokenizer's codebook (speech_token_size in cosyvoice2.yaml)
MAX_PROMPT_TOKENS = 750  # 30 s at 25 tokens/s: the speech tokenizer refuses longer clips
TOKEN_MEL_RATIO = 2
MEL_BINS = 80
EMBEDDING_SIZE = 192
# The flow mel is ln(max(mel, 1e-5)), so never below ln(1e-5) = -11.513 (float32 rounding allowed for). For a
# clip within full scale it is at most ln(960 * 0.0815) = 4.36 (960: sum of the 1920-sample Hann window,
# 0.0815: the largest row sum of the slaney filter bank); 12 allows a clip 1000x louder than full scale.
MEL_RANGE = (math.log(1e-5) - 1e-3, 12.0)
MAX_TRANSCRIPT_CHARS = 4000  # a 30 s clip holds a few hundred characters of speech


def check_voice_tensors(tensors: dict[str, torch.Tensor], where: str) -> None:
    """Raise :class:`VoiceLibraryError` ("<where> has ...") unless the tensors are a usable voice."""
    missing = [k for k in TENSOR_KEYS if k not in tensors]
    if missing:
        raise VoiceLibraryError(f"{where} lacks {', '.join(missing)}; it is not a Timbre voice file.")
    tok, feat, emb = (tensors[k] for k in TENSOR_KEYS)
    if tok.dim() != 1 or tok.dtype != torch.int32 or not 1 <= tok.numel() <= MAX_PROMPT_TOKENS:
        raise VoiceLibraryError(f"{where} has bad speech tokens {tuple(tok.shape)} {tok.dtype} (1 to "
                                f"{MAX_PROMPT_TOKENS} int32 tokens expected, a clip of up to 30 s).")
    if int(tok.min()) < 0 or int(tok.max()) >= SPEECH_CODES:
        raise VoiceLibraryError(f"{where} has speech tokens outside 0..{SPEECH_CODES - 1} "
                                f"(found {int(tok.min())}..{int(tok.max())}); it was not made by Timbre.")
    if feat.dim() != 2 or feat.dtype != torch.float32 or tuple(feat.shape) != (TOKEN_MEL_RATIO * tok.numel(), MEL_BINS):
        raise VoiceLibraryError(f"{where} has a bad prompt mel {tuple(feat.shape)} {feat.dtype} "
                                f"({TOKEN_MEL_RATIO * tok.numel()} x {MEL_BINS} float32 expected).")
    if not torch.isfinite(feat).all() or float(feat.min()) < MEL_RANGE[0] or float(feat.max()) > MEL_RANGE[1]:
        raise VoiceLibraryError(f"{where} has prompt mel values no recording produces (NaN, infinite or outside "
                                f"{MEL_RANGE[0]:.2f}..{MEL_RANGE[1]:.0f}); make the voice again from its clip.")
    if emb.dim() != 1 or emb.dtype != torch.float32 or emb.numel() != EMBEDDING_SIZE or not torch.isfinite(emb).all():
        raise VoiceLibraryError(f"{where} has a bad speaker embedding {tuple(emb.shape)} {emb.dtype} "
                                f"({EMBEDDING_SIZE} finite float32 values expected).")


def check_transcript(transcript: object, where: str) -> str:
    if not isinstance(transcript, str):
        raise VoiceLibraryError(f"{where} has a transcript that is not text.")
    if len(transcript) > MAX_TRANSCRIPT_CHARS:
        raise VoiceLibraryError(f"{where} has a transcript of {len(transcript)} characters; the clip's transcript "
                                f"is at most {MAX_TRANSCRIPT_CHARS}.")
    return transcript
