"""Timbre engine: CosyVoice 2 inference in plain PyTorch.

Public API (what the app and the CLI use)::

    from engine import Engine, SynthesisRequest, VoiceLibrary, CancelToken
"""
from __future__ import annotations

from .errors import (
    NEVER_CANCELLED,
    AudioInputError,
    Cancelled,
    CancelToken,
    CheckpointError,
    ConfigError,
    DownloadError,
    GenerationError,
    InputError,
    ModelFolderError,
    OnnxModelError,
    TextInputError,
    TimbreError,
    VoiceLibraryError,
)
from .hub import DEFAULT_REPO_ID, DownloadProgress, download_model, verify_model_folder
from .voices import Voice, VoiceInfo, VoiceLibrary

_LAZY = {"Engine", "SynthesisRequest", "AudioChunk", "ChunkTimings", "Watchdog", "MODES", "make_tiny_model"}


def __getattr__(name: str):
    # The pipeline pulls in torch and every network module; import it only when used, so that
    # `timbre voices list` or the download dialog start fast.
    if name in _LAZY:
        if name == "make_tiny_model":
            from .tiny import make_tiny_model

            return make_tiny_model
        from . import pipeline

        return getattr(pipeline, name)
    raise AttributeError(f"module 'engine' has no attribute {name!r}")


__all__ = sorted(_LAZY | {
    "AudioInputError", "Cancelled", "CheckpointError", "ConfigError", "DownloadError", "GenerationError",
    "InputError", "ModelFolderError", "NEVER_CANCELLED", "OnnxModelError", "TextInputError", "TimbreError", "VoiceLibraryError",
    "DEFAULT_REPO_ID", "CancelToken", "DownloadProgress", "download_model", "verify_model_folder",
    "Voice", "VoiceInfo", "VoiceLibrary",
})
