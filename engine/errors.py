"""Typed errors raised by the engine.

Every error names the problem and what the caller (or the user) can do about it.
The app shows ``str(error)`` to people, so messages are plain sentences.
"""
from __future__ import annotations

import threading


class TimbreError(Exception):
    """Base class of every error the engine raises on purpose."""


class ModelFolderError(TimbreError):
    """The model folder is missing, incomplete or not in the official layout."""


class ModelFamilyError(ModelFolderError):
    """The folder is neither a CosyVoice 2 nor a CosyVoice 3 model (or claims to be both)."""


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


class NonFiniteError(GenerationError):
    """A network produced NaN or infinite values; they never reach the player or an encoder."""

    def __init__(self, stage: str):
        self.stage = stage
        super().__init__(
            f"The {stage} produced invalid values (NaN or infinity), so no audio was made. The model files may be "
            "damaged (verify or download the model again), the voice may be broken (make it again from its clip), "
            "or a 16-bit precision overflowed on this GPU (pick bf16 or fp32 in Models…).")


class Cancelled(TimbreError):
    """The request was cancelled by the caller."""


class DownloadError(TimbreError):
    """Downloading or verifying the model failed."""


class ModelBusyError(DownloadError):
    """Another download (the studio, another ``timbre download``) is writing to the same model folder."""


class VoiceLibraryError(TimbreError):
    """A saved voice cannot be read, written or found."""


class ExportError(TimbreError):
    """An export cannot be made as asked (a bad option or combination, a timeline that does not add up)."""


class ClusterError(TimbreError):
    """Rendering on a Ray cluster cannot start or go on (Ray missing, no cluster at the address, no worker left)."""


class UnsupportedFormatError(ExportError):
    """The output file type (its suffix or ``--format``) is not one Timbre writes."""


class CheckError(TimbreError):
    """A take check cannot run as asked (see :mod:`engine.checks`)."""


class CheckModelMissing(CheckError):
    """A take check's optional package or model folder is missing: that check reports "not installed"."""


class ServerError(TimbreError):
    """The speech server cannot start as configured (see :mod:`engine.server`)."""


class ScriptError(InputError):
    """A narration script has problems (an unknown cast member, a bad pause, ...) and cannot be rendered.

    ``problems``: the :class:`engine.script.ScriptProblem` values, each with its line and column."""

    def __init__(self, problems=(), message: str | None = None):
        self.problems = tuple(problems)
        if message is None:
            shown = "; ".join(p.describe().rstrip(".") for p in self.problems[:3])
            more = f" (and {len(self.problems) - 3} more)" if len(self.problems) > 3 else ""
            message = f"The script has {len(self.problems)} problem{'s' * (len(self.problems) != 1)}: {shown}{more}."
        super().__init__(message)


class ProjectError(TimbreError):
    """A narration project cannot be used as asked (a missing line or take, a cast member without a voice)."""


class ProjectFileError(ProjectError):
    """A ``.timbre`` project file (or its autosave) cannot be read: damaged, not a project, or unreadable.
    The file is left as it is."""


class ProjectVersionError(ProjectFileError):
    """The project was saved by a newer Timbre (a format this one does not know). The file is left as it is."""


class ProjectBusyError(ProjectError):
    """Another Timbre (the studio, a render) has the same project's autosave open."""


class CancelToken:
    """A thread-safe flag: the UI thread calls :meth:`cancel`, the worker checks :attr:`cancelled`.

    Engine loops call :meth:`raise_if_cancelled` between steps (and pass :meth:`should_stop` to the networks,
    which poll it between stages); nothing is interrupted mid-kernel. A call that cannot be cancelled gets
    :data:`NEVER_CANCELLED` instead of ``None``, so there is one way to check.
    """

    def __init__(self) -> None:
        self._event = threading.Event()

    def cancel(self) -> None:
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def should_stop(self) -> bool:
        """The stop hook the flow and vocoder poll: True once cancelled."""
        return self._event.is_set()

    def raise_if_cancelled(self, what: str = "The request") -> None:
        if self._event.is_set():
            raise Cancelled(f"{what} was cancelled.")


class _NeverCancelled(CancelToken):
    def cancel(self) -> None:
        raise TypeError("NEVER_CANCELLED is shared by every call that cannot be cancelled; make a CancelToken.")


NEVER_CANCELLED: CancelToken = _NeverCancelled()
