"""The only module of the app that calls the engine's public API.

Everything the UI needs from engine/ goes through these few functions, so the widgets and workers
depend on small app-side types (:class:`Direction`, :class:`Chunk`, :class:`ReferenceReport`)
rather than on engine internals. None of this runs on the GUI thread except the cheap calls
(sentence splitting, the tag list, reference analysis of a short clip).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import numpy as np

MODES = ("clone", "cross_lingual", "instruct")
MODE_LABELS = {"clone": "Clone", "cross_lingual": "Cross-lingual", "instruct": "Instruct"}
OUTPUT_RATE = 24000


@dataclass(frozen=True)
class Direction:
    """How to speak: the mode, the instruction (instruct mode), speed, seed, streaming."""

    mode: str = "clone"
    instruction: str = ""
    speed: float = 1.0
    seed: int = 0
    streaming: bool = True


@dataclass(frozen=True)
class Chunk:
    samples: np.ndarray  # float32 mono
    sample_rate: int
    is_last: bool


@dataclass
class ReferenceReport:
    """The reference analysis in plain words for the Reference panel."""

    duration_s: float
    problems: list[str] = field(default_factory=list)  # things to fix (too short, clipped, ...)
    notes: list[str] = field(default_factory=list)  # fine-print (sample rate, level, ...)
    suggested_window: tuple[float, float] | None = None

    @property
    def ok(self) -> bool:
        return not self.problems


# ---- engine -----------------------------------------------------------------------------------
ENGINE_MODES = {"clone": "zero_shot", "cross_lingual": "cross_lingual", "instruct": "instruct"}


def precision_choices() -> tuple[str, ...]:
    """The precision list of the model manager: the engine's own (``auto`` first)."""
    from engine.pipeline import PRECISIONS

    return PRECISIONS


def precision_choice(saved: str) -> str:
    """A saved precision setting as one of :func:`precision_choices` (older settings said "float32" etc.)."""
    from engine.errors import ConfigError
    from engine.pipeline import precision_name

    try:
        return precision_name(saved)
    except ConfigError:
        return "auto"


def load_engine(model_dir: str | Path, device: str = "auto", precision: str = "auto") -> Any:
    from engine import Engine

    return Engine.load(Path(model_dir), device=device, dtype=precision_choice(precision))


def describe_engine(engine: Any) -> str:
    """"cpu · fp32" style summary for the status bar."""
    return f"{engine.device} · {engine.precision.name}"


def planned_device(device: str = "auto", precision: str = "auto") -> str:
    """Which device/precision a load with these settings would use (model manager, status bar);
    the engine decides what "auto" means (``engine.pipeline.pick_precision``)."""
    from engine.errors import ConfigError
    from engine.pipeline import pick_device, pick_precision

    try:
        dev = pick_device(device)
        plan = pick_precision(precision_choice(precision), dev)
    except ConfigError as error:
        return f"not available: {error}"
    return f"{dev} · {plan.describe()}"


def make_voice(engine: Any, audio: np.ndarray, sample_rate: int, transcript: str, name: str = "voice") -> Any:
    return engine.make_voice(np.asarray(audio, np.float32), transcript, name=name, sample_rate=int(sample_rate))


def synthesize(engine: Any, text: str, voice: Any, direction: Direction, cancel: Any) -> Iterator[Chunk]:
    """Iterate the engine's generator for one narration sentence, converting its chunks.

    The app already split the narration, so the engine adds no pause inside one of our sentences
    (the pause between sentences is the app's export setting).
    """
    from engine import SynthesisRequest

    request = SynthesisRequest(text=text, voice=voice, mode=ENGINE_MODES[direction.mode],
                               instruction=direction.instruction, speed=direction.speed, seed=direction.seed,
                               stream=direction.streaming, sentence_pause_s=0.0)
    for chunk in engine.synthesize(request, cancel=cancel):
        yield Chunk(np.asarray(chunk.samples, dtype=np.float32).reshape(-1), int(chunk.sample_rate),
                    bool(chunk.is_last))


def cancel_token() -> Any:
    from engine import CancelToken

    return CancelToken()


# ---- text ---------------------------------------------------------------------------------------
class SentenceSplitter:
    """Splits narration text exactly as the engine will speak it (its text frontend: normalisation
    plus LM-sized pieces). It has its own tokenizer instance, so the GUI thread never shares the
    engine's objects with the worker. Without a model it falls back to punctuation."""

    def __init__(self, model_dir: str | Path | None = None) -> None:
        self._frontend: Any = None
        if model_dir:
            from engine.frontend.text import TextFrontend

            self._frontend = TextFrontend.from_model_dir(model_dir)

    @property
    def exact(self) -> bool:
        return self._frontend is not None

    def split(self, text: str) -> list[str]:
        if not text.strip():
            return []
        if self._frontend is not None:
            return [s for s in self._frontend.split_sentences(text) if s.strip()]
        return _punctuation_split(text)


def _punctuation_split(text: str) -> list[str]:
    import re

    parts = re.split(r"(?<=[.!?。！？;；])\s+|(?<=[。！？])|\n\s*\n", text.strip())
    return [p.strip() for p in parts if p and p.strip()]


def fine_grained_tags() -> list[tuple[str, str, str | None]]:
    """(token, label, closing token or None) of every tag the LM knows."""
    from engine.frontend.tokenizer import FINE_GRAINED_TAGS

    return [(t.token, t.label, t.close) for t in FINE_GRAINED_TAGS]


# ---- reference audio ----------------------------------------------------------------------------
def load_audio(path: str | Path) -> tuple[np.ndarray, int]:
    from engine.frontend.audio import load_audio as load

    return load(path)


def analyse_reference(audio: np.ndarray, sample_rate: int) -> ReferenceReport:
    from engine.frontend.analysis import analyse_reference as analyse

    report = analyse(audio, sample_rate)
    problems = [f.message for f in report.findings if f.severity in ("error", "warning")]
    notes = [f.message for f in report.findings if f.severity == "info"]
    window = report.suggested_window
    if window is None and report.trim != (0.0, report.duration_s) and \
            report.trim[1] - report.trim[0] < report.duration_s - 0.05:
        window = report.trim  # no better window, but there is silence to cut
    window = (float(window[0]), float(window[1])) if window else None
    return ReferenceReport(float(report.duration_s), problems, notes, window)


def normalize_audio(audio: np.ndarray, sample_rate: int) -> np.ndarray:
    """RMS to -20 dBFS with the peak kept under -1 dBFS (the engine's reference normaliser)."""
    from engine.frontend.analysis import trim_and_normalize

    return trim_and_normalize(audio, sample_rate, 0.0, len(audio) / sample_rate)


# ---- voices ---------------------------------------------------------------------------------------
def voice_library(root: Path) -> Any:
    from engine import VoiceLibrary

    return VoiceLibrary(root)


# ---- models ---------------------------------------------------------------------------------------
def make_tiny_model(folder: Path) -> Path:
    from engine import make_tiny_model as make

    return Path(make(folder))
