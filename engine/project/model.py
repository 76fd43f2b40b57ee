"""The values a narration project is made of: cast members, takes, lines with identity, and their status.

All frozen, so a worker thread can hold one while the studio's UI thread goes on editing the project.
"""
from __future__ import annotations

import datetime as _dt
import enum
import hashlib
import secrets
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..voices import Voice

TAKE_KINDS = ("synthesized", "performed")  # performed: the creator's own reading converted into the voice


def new_id() -> str:
    """A fresh 64-bit identifier as 16 hex digits (lines, takes, projects)."""
    return secrets.token_hex(8)


def now_iso() -> str:
    return _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat()


def voice_id(voice: Voice) -> str:
    """What a take was made with, as 16 hex digits: the voice's tensors and transcript (its name is not part
    of it, so renaming a voice changes nothing, and a voice re-made from another clip is another voice)."""
    h = hashlib.sha256()
    for t in voice._tensors().values():
        h.update(str(tuple(t.shape)).encode())
        h.update(t.numpy().tobytes())
    h.update(voice.transcript.encode("utf-8"))
    return h.hexdigest()[:16]


@dataclass(frozen=True)
class CastMember:
    """A name the script uses, mapped to a voice (the project keeps its own copy of the voice, so its takes
    can be re-made anywhere). mode: "" = zero-shot when the voice has a transcript, else cross-lingual;
    instruction: the member's default direction (instruct mode) for lines without their own."""

    name: str
    voice: Voice | None = None
    mode: str = ""
    instruction: str = ""

    @property
    def voice_id(self) -> str | None:
        return voice_id(self.voice) if self.voice is not None else None


@dataclass(frozen=True)
class TakeInfo:
    """Everything about one take but its audio (which is FLAC in the project file).

    text: the line as written when the take was made; spoken_text: what the engine was given (after the
    pronunciation list). voice_id / voice_name: the cast voice used. settings: the engine's (model, device,
    precision, normalizer, ...). watchdog: why the engine cut the take short, if it did. checks: the take checks'
    report (:meth:`engine.checks.TakeReport.to_dict`; None: not checked yet), kept with the take in the file."""

    id: str
    line_id: str
    kind: str
    text: str
    spoken_text: str
    speaker: str
    voice_name: str
    voice_id: str
    mode: str
    instruction: str
    seed: int
    sample_rate: int
    n_samples: int
    speed: float = 1.0
    settings: dict[str, Any] = field(default_factory=dict)
    created: str = field(default_factory=now_iso)
    watchdog: str | None = None
    checks: dict[str, Any] | None = None

    @property
    def duration_s(self) -> float:
        return self.n_samples / self.sample_rate


@dataclass(frozen=True, eq=False)
class Take:
    """A take with its audio: float32 [N] mono at ``info.sample_rate``."""

    info: TakeInfo
    audio: np.ndarray


class LineStatus(str, enum.Enum):
    MISSING = "missing"  # no take chosen yet
    READY = "ready"      # the chosen take says this line, in this voice, as directed now
    STALE = "stale"      # the chosen take was made for another text, voice, mode or direction (still kept)


@dataclass(frozen=True)
class LineRecord:
    """A line's identity in the project: ``key`` (speaker, direction, text) is what the script said when the
    line was last seen; takes in the order they were made; the chosen one (None: none)."""

    id: str
    key: tuple[str, str, str]
    takes: tuple[str, ...] = ()
    chosen: str | None = None


@dataclass(frozen=True)
class LineJob:
    """What one take of one line needs, as a value a worker thread can take: the voice and how to speak."""

    line_id: str
    text: str
    spoken_text: str
    speaker: str
    voice: Voice
    voice_id: str
    mode: str
    instruction: str
    seed: int = 0
    speed: float = 1.0
