"""The studio's only door to the engine: every engine call of the app goes through these functions.

The widgets, workers and the session depend on the small app-side values defined here (:class:`Direction`,
:class:`Chunk`, :class:`ReferenceReport`) and on the engine's public API (``import engine``), never on its
internals. The model calls (load, make_voice, synthesize) run on the engine thread; the GUI thread only uses
the cheap ones (reference analysis of a short clip, the tag list, plans for the model manager).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import numpy as np

import engine

# The engine's mode vocabulary (engine.Mode values), with the words the studio shows for them.
MODES: tuple[str, ...] = ("zero_shot", "cross_lingual", "instruct")
MODE_LABELS = {"zero_shot": "Clone", "cross_lingual": "Cross-lingual", "instruct": "Instruct"}
_OLD_MODE_NAMES = {"clone": "zero_shot", "instruct2": "instruct"}  # settings written by older versions
OUTPUT_RATE = 24000
DEFAULT_REPO_ID = engine.DEFAULT_REPO_ID


def mode_value(saved: str) -> str:
    """A mode as one of :data:`MODES` (older settings said "clone"); unknown values fall back to zero_shot."""
    value = _OLD_MODE_NAMES.get(saved, saved)
    return value if value in MODES else MODES[0]


@dataclass(frozen=True)
class Direction:
    """How to speak: the mode (one of :data:`MODES`), the instruction (instruct mode), speed, seed, streaming."""

    mode: str = "zero_shot"
    instruction: str = ""
    speed: float = 1.0
    seed: int = 0
    streaming: bool = True


@dataclass(frozen=True)
class Chunk:
    samples: np.ndarray  # float32 mono
    sample_rate: int
    is_last: bool


@dataclass(frozen=True)
class ReferenceReport:
    """The reference analysis in plain words for the Reference panel."""

    duration_s: float
    problems: tuple[str, ...] = ()  # things to fix (too short, clipped, ...)
    notes: tuple[str, ...] = ()  # fine-print (sample rate, level, ...)
    suggested_window: tuple[float, float] | None = None
    silent: bool = False  # nothing to make a voice from

    @property
    def ok(self) -> bool:
        return not self.problems


# ---- engine -----------------------------------------------------------------------------------
def precision_choices() -> tuple[str, ...]:
    """The precision list of the model manager: the engine's own (``auto`` first)."""
    return engine.PRECISIONS


def precision_choice(saved: str) -> str:
    """A saved precision setting as one of :func:`precision_choices` (older settings said "float32" etc.)."""
    try:
        return engine.precision_name(saved)
    except engine.ConfigError:
        return "auto"


def load_engine(model_dir: str | Path, device: str = "auto", precision: str = "auto") -> Any:
    return engine.Engine.load(Path(model_dir), device=device, precision=precision_choice(precision))


def describe_engine(loaded: Any) -> str:
    """"cpu · fp32" style summary for the status bar."""
    return f"{loaded.device} · {loaded.precision.name}"


def model_name(loaded: Any) -> str:
    """The loaded model's family for the status bar ("CosyVoice 2")."""
    family = str(getattr(loaded.cfg, "family", "cosyvoice2"))
    return {"cosyvoice2": "CosyVoice 2", "cosyvoice3": "CosyVoice 3"}.get(family, family)


@dataclass(frozen=True)
class DevicePlan:
    """What a load with some device/precision settings would run on, or why it cannot."""

    text: str  # "cpu · fp32 (LM fp32, flow fp32, HiFT fp32)", or the problem
    problem: str = ""  # "" when the settings can be used on this machine

    @property
    def ok(self) -> bool:
        return not self.problem


def device_plan(device: str = "auto", precision: str = "auto") -> DevicePlan:
    """Which device/precision a load with these settings would use (model manager, status bar); the engine
    decides what "auto" means (``engine.pick_precision``) and whether a device exists here."""
    try:
        dev = engine.pick_device(device)
        plan = engine.pick_precision(precision_choice(precision), dev)
    except engine.ConfigError as error:
        return DevicePlan(f"Not available: {error}", str(error))
    return DevicePlan(f"{dev} · {plan.describe()}")


def planned_device(device: str = "auto", precision: str = "auto") -> str:
    return device_plan(device, precision).text


DEVICES: tuple[str, ...] = ("auto", "cpu", "cuda", "mps")


def available_devices() -> tuple[str, ...]:
    """The devices of :data:`DEVICES` this machine has ("auto" and "cpu" always)."""
    return tuple(d for d in DEVICES if d in ("auto", "cpu") or device_plan(d).ok)


def check_model_folder(folder: str | Path) -> Path:
    """Quick check that ``folder`` holds a complete model (files present, config readable); typed errors
    (``engine.ModelFolderError``, ``engine.ConfigError``) name what is wrong."""
    return engine.verify_model_folder(Path(folder), deep=False)


def default_download_folder(repo_id: str, models_root: Path) -> Path:
    """Where the model manager downloads ``repo_id`` (``<models_root>/<owner>--<name>``, the hub's layout)."""
    return engine.model_dir_for(repo_id, models_root)


def make_voice(loaded: Any, audio: np.ndarray, sample_rate: int, transcript: str, name: str = "voice") -> Any:
    return loaded.make_voice(np.asarray(audio, np.float32), transcript, name=name, sample_rate=int(sample_rate))


def synthesize(loaded: Any, pieces: tuple[str, ...], voice: Any, direction: Direction,
               cancel: engine.CancelToken) -> Iterator[Chunk]:
    """Iterate the engine's generator for one narration sentence (``pieces``: its normalised pieces from
    :class:`SentenceSplitter`, spoken as they are), converting its chunks. The engine adds no pause inside one of
    our sentences (the pause between sentences is the studio's export setting). The caller closes the
    iterator when it stops early, which stops the engine's generator and its threads."""
    request = engine.SynthesisRequest(voice=voice, pieces=tuple(pieces), mode=direction.mode,
                                      instruction=direction.instruction, speed=direction.speed, seed=direction.seed,
                                      stream=direction.streaming, sentence_pause_s=0.0)
    for chunk in loaded.synthesize(request, cancel=cancel):
        yield Chunk(np.asarray(chunk.samples, dtype=np.float32).reshape(-1), int(chunk.sample_rate),
                    bool(chunk.is_last))


def cancel_token() -> engine.CancelToken:
    return engine.CancelToken()


# ---- text ---------------------------------------------------------------------------------------
class SentenceSplitter:
    """Splits narration text exactly as the engine will speak it (its text frontend: normalisation plus LM-sized
    pieces). It has its own tokenizer instance, so the GUI thread never shares the engine's objects with the
    worker. Building one takes seconds (the normaliser's grammars): build it off the GUI thread. Without a model
    it falls back to punctuation."""

    def __init__(self, model_dir: str | Path | None = None) -> None:
        self._frontend: Any = engine.TextFrontend.from_model_dir(model_dir) if model_dir else None

    @property
    def exact(self) -> bool:
        return self._frontend is not None

    def warm_up(self) -> None:
        """Split a short text once: the normaliser builds its grammars on first use (seconds), so the engine
        thread does it while the model loads instead of the first re-split after it."""
        if self._frontend is not None:
            self._frontend.split_sentences("Timbre is ready. It has 2 voices.")

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
    return [(t.token, t.label, t.close) for t in engine.FINE_GRAINED_TAGS]


# ---- audio ---------------------------------------------------------------------------------------
fade = engine.fade  # the engine's seam fade (numpy only)


def load_audio(path: str | Path) -> tuple[np.ndarray, int]:
    return engine.load_audio(path)


def resample(samples: np.ndarray, from_rate: int, to_rate: int) -> np.ndarray:
    """For listening only (playback of a clip at the sound card's rate): libsoxr."""
    return engine.resample_hq(np.asarray(samples, dtype=np.float32), from_rate, to_rate)


def analyse_reference(audio: np.ndarray, sample_rate: int) -> ReferenceReport:
    report = engine.analyse_reference(audio, sample_rate)
    problems = tuple(f.message for f in report.findings if f.severity in ("error", "warning"))
    notes = tuple(f.message for f in report.findings if f.severity == "info")
    silent = "silent" in report.codes()
    window = report.suggested_window
    if window is None and report.trim != (0.0, report.duration_s) and \
            report.trim[1] - report.trim[0] < report.duration_s - 0.05:
        window = report.trim  # no better window, but there is silence to cut
    window = (float(window[0]), float(window[1])) if window else None
    return ReferenceReport(float(report.duration_s), problems, notes, window, silent)


def normalize_audio(audio: np.ndarray, sample_rate: int) -> np.ndarray:
    """RMS to -20 dBFS with the peak kept under -1 dBFS (the engine's reference normaliser)."""
    return engine.trim_and_normalize(audio, sample_rate, 0.0, len(audio) / sample_rate)


# ---- voices and models ----------------------------------------------------------------------------
def voice_library(root: Path) -> engine.VoiceLibrary:
    return engine.VoiceLibrary(root)


def make_tiny_model(folder: Path) -> Path:
    return Path(engine.make_tiny_model(folder))
