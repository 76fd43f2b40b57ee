"""Timbre engine: CosyVoice 2 and CosyVoice 3 inference in plain PyTorch (the family is read from the model folder).

Public API (what the studio, the CLI and the server use)::

    from engine import Engine, SynthesisRequest, VoiceLibrary, CancelToken

Everything heavier than the voice library and the errors (torch and the networks) is imported on first use,
so that ``timbre voices list`` or the studio's download dialog start fast.
"""
from __future__ import annotations

import importlib

from .atomic import WriteError, atomic_write, atomic_write_text
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
    ModelBusyError,
    ModelFolderError,
    NonFiniteError,
    OnnxModelError,
    TextInputError,
    TimbreError,
    VoiceLibraryError,
)
from .hub import DEFAULT_REPO_ID, DownloadProgress, download_model, model_dir_for, verify_model, verify_model_folder
from .voices import Voice, VoiceFamilyError, VoiceInfo, VoiceLibrary

# name -> module that defines it (imported when the name is first used)
_LAZY = {
    **dict.fromkeys(("Engine", "SynthesisRequest", "AudioChunk", "Mode", "MODES", "Runtime", "Download",
                     "FlowNoise"),
                    ".engine"),
    **dict.fromkeys(("ChunkTimings", "FlowMode", "FinalCall"), ".token2wav"),
    "Watchdog": ".watchdog",
    "KVStorage": ".flow.kv_history",
    **dict.fromkeys(("PRECISIONS", "Precision", "pick_device", "pick_precision", "precision_name"), ".precision"),
    "make_tiny_model": ".tiny",
    "fade": ".seams",
    **dict.fromkeys(("TextFrontend", "reference_text_normalize"), ".frontend.text"),
    "FINE_GRAINED_TAGS": ".frontend.tokenizer",
    **dict.fromkeys(("CMU_PHONEME_TOKENS", "PINYIN_TOKENS"), ".frontend.cosyvoice3_tokens"),
    **dict.fromkeys(("load_audio", "resample_hq"), ".frontend.audio"),
    **dict.fromkeys(("analyse_reference", "trim_and_normalize"), ".frontend.analysis"),
    **dict.fromkeys(("parse_script", "Script", "ScriptLine", "ScriptProblem"), ".script"),
    **dict.fromkeys(("Project", "synthesize_line", "hear_word"), ".project"),
    **dict.fromkeys(("Pronunciation", "Pronunciations"), ".pronunciation"),
    "convert_voice": ".conversion",
    **dict.fromkeys(("MachinePlan", "cached_plan", "check_machine", "ensure_machine_plan", "measured_auto"),
                    ".machine_check"),
}


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name], __name__), name)
    raise AttributeError(f"module 'engine' has no attribute {name!r}")


__all__ = sorted(set(_LAZY) | {
    "AudioInputError", "Cancelled", "CheckpointError", "ConfigError", "DownloadError", "GenerationError",
    "InputError", "ModelBusyError", "ModelFolderError", "NEVER_CANCELLED", "NonFiniteError", "OnnxModelError", "TextInputError",
    "TimbreError", "VoiceLibraryError", "DEFAULT_REPO_ID", "CancelToken", "DownloadProgress", "download_model",
    "model_dir_for", "verify_model", "verify_model_folder", "Voice", "VoiceFamilyError", "VoiceInfo", "VoiceLibrary", "WriteError", "atomic_write", "atomic_write_text",
})
