"""The JSON bodies of the API: OpenAI's ``/v1/audio/speech`` request and our extras, and the names served."""
from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from .formats import ResponseFormat

OPENAI_ALIASES: tuple[str, ...] = ("tts-1", "tts-1-hd", "gpt-4o-mini-tts")
"""OpenAI's speech models, all answered by the loaded model, so tools that only know these work unchanged."""


class SpeechBody(BaseModel):
    """``POST /v1/audio/speech``. OpenAI's fields (``model``, ``input``, ``voice``, ``response_format``,
    ``speed``, ``instructions``, ``stream_format``) plus ``mode``, ``seed`` and ``stream``.

    ``mode`` defaults to ``instruct`` when ``instructions`` are given, else ``zero_shot`` for a voice with a
    transcript and ``cross_lingual`` for one without. ``stream=false`` sends the answer whole (the engine's
    non-streaming path) with a Content-Length. Unknown fields are refused, so a misspelt option is an error
    rather than silently ignored.
    """

    model_config = ConfigDict(extra="forbid")

    model: str
    input: str
    voice: str = Field(min_length=1)
    response_format: ResponseFormat = "mp3"
    speed: float = 1.0
    instructions: str = ""
    stream_format: Literal["audio", "sse"] = "audio"
    mode: Literal["zero_shot", "cross_lingual", "instruct"] | None = None
    seed: int = 0
    stream: bool = True


def model_names(family: str) -> tuple[str, ...]:
    """Every ``model`` value the server answers: the loaded family's name, then OpenAI's names."""
    return (family, *OPENAI_ALIASES)
