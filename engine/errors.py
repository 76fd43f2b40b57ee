"""Typed errors raised by the engine.

Every error names the problem and what the caller (or the user) can do about it.
The app shows ``str(error)`` to people, so messages are plain sentences.
"""
from __future__ import annotations


class TimbreError(Exception):
    """Base class of every error the engine raises on purpose."""


class ModelFolderError(TimbreError):
    """The model folder is missing, incomplete or not in the official layout."""


class CheckpointError(TimbreError):
    """A checkpoint file cannot be read or does not fit the network built from the config."""


class ConfigError(TimbreError):
    """cosyvoice2.yaml or CosyVoice-BlankEN/config.json is missing a value or has a bad one."""


class InputError(TimbreError):
    """Bad user input (audio or text)."""


class AudioInputError(InputError):
    """The reference or source audio cannot be used."""


class TextInputError(InputError):
    """The text to speak (or a transcript/instruction) cannot be used."""


class OnnxModelError(TimbreError):
    """An ONNX model (speech tokenizer, CAM++) cannot be loaded or run."""


class GenerationError(TimbreError):
    """Generation went wrong (for example a runaway LM stopped by the watchdog)."""


class Cancelled(TimbreError):
    """The request was cancelled by the caller."""


class DownloadError(TimbreError):
    """Downloading or verifying the model failed."""


class VoiceLibraryError(TimbreError):
    """A saved voice cannot be read, written or found."""
