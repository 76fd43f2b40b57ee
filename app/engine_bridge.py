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


# How streaming keeps earlier frames' attention keys/values (the largest part of a long sentence's memory):
# setting value -> what the model manager says. "auto" is what the precision keeps (exact for fp32).
FLOW_HISTORY_CHOICES = {
    "auto": "As the precision keeps it",
    "exact": "Exact (most memory)",
    "bf16": "Compact: half the memory",
    "int8": "Smallest: a quarter of the memory",
}


def flow_history_choice(saved: str) -> str:
    """A saved memory setting as one of :data:`FLOW_HISTORY_CHOICES` (anything else: "auto")."""
    return saved if saved in FLOW_HISTORY_CHOICES else "auto"


def load_engine(model_dir: str | Path, device: str = "auto", precision: str = "auto", flow_history: str = "auto",
                cancel: engine.CancelToken = engine.NEVER_CANCELLED) -> Any:
    """The engine for ``model_dir``; ``cancel`` stops a load that waits on a download (engine.Cancelled)."""
    history = flow_history_choice(flow_history)
    runtime = engine.Runtime(flow_history=None if history == "auto" else engine.KVStorage(history))
    return engine.Engine.load(Path(model_dir), device=device, precision=precision_choice(precision),
                              runtime=runtime, download=engine.Download(cancel=cancel))


def describe_engine(loaded: Any) -> str:
    """"cpu · fp32" style summary for the status bar (plus the streaming memory when it is not exact)."""
    storage = loaded.stream_plan(True).kv_storage.value
    memory = {"bf16": " · compact memory", "int8": " · smallest memory"}.get(storage, "")
    return f"{loaded.device} · {loaded.precision.name}{memory}"


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


def device_plan(device: str = "auto", precision: str = "auto", model_dir: str | Path | None = None) -> DevicePlan:
    """Which device/precision a load with these settings would use (model manager, status bar); the engine
    decides what "auto" means (``engine.pick_precision``, or the hardware check's plan cached for ``model_dir``
    on this computer, as ``Engine.load`` does) and whether a device exists here."""
    try:
        dev = engine.pick_device(device)
        measured = _measured_auto(model_dir, dev, precision) if model_dir else None
        if measured is not None:
            return DevicePlan(f"{dev} · {measured.precision.describe()}, as measured on this computer")
        plan = engine.pick_precision(precision_choice(precision), dev)
    except engine.ConfigError as error:
        return DevicePlan(f"Not available: {error}", str(error))
    return DevicePlan(f"{dev} · {plan.describe()}")


def _measured_auto(model_dir: str | Path, dev: Any, precision: str) -> Any:
    try:
        return engine.measured_auto(Path(model_dir), dev, precision_choice(precision))
    except engine.TimbreError:  # no model folder (yet): the static choice
        return None


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


def warm_up(loaded: Any) -> None:
    """Split a short text once: the normaliser builds its grammars on first use (seconds), so the warm-up thread
    does it while the window says "loading" instead of the first take paying for it."""
    loaded.sentences("Timbre is ready. It has 2 voices.")


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


# ---- narration projects (issue 15): the engine's Project, owned by the GUI thread ------------------------------
# The values the studio shows and passes around, under the names the engine gives them.
NARRATOR = "Narrator"
PROJECT_SUFFIX = ".timbre"
ProjectError = engine.errors.ProjectError
ProjectFileError = engine.errors.ProjectFileError
ProjectBusyError = engine.errors.ProjectBusyError


def _project_api():
    import engine.project as api

    return api


def new_project(script: str = "") -> Any:
    return engine.Project.new(script)


def open_project(path: str | Path) -> Any:
    """A saved project, its takes playable at once (typed ProjectFileError / ProjectVersionError when the file
    cannot be read: it is left as it is)."""
    return engine.Project.open(Path(path))


def recover_project(info: Any) -> Any:
    return engine.Project.recover(info)


def find_recoveries(root: Path) -> list:
    """The autosaves a crashed or killed Timbre left under ``root`` (engine RecoveryInfo values, newest first)."""
    return _project_api().find_autosaves(root)


def line_status() -> Any:
    """The engine's LineStatus enum (missing / ready / stale)."""
    return _project_api().LineStatus


def parse_script(text: str, cast: tuple[str, ...], presets: Any) -> Any:
    """The script parsed as the project will parse it (text thread: it warms the sentence cache the project's
    own parse then hits)."""
    return engine.parse_script(text, cast=cast, presets=presets)


def name_key(name: str) -> str:
    from engine.script import name_key as key

    return key(name)


def expected_direction(line: Any, member: Any) -> tuple[str, str]:
    """(mode, instruction) a take of ``line`` is made with, as the project decides it."""
    from engine.project.status import expected

    return expected(line, member)


def with_seed(job: Any, seed: int, speed: float | None = None) -> Any:
    """``job`` (a LineJob) with another seed (and speed)."""
    import dataclasses

    return dataclasses.replace(job, seed=int(seed), speed=job.speed if speed is None else float(speed))


def synthesize_line(loaded: Any, job: Any, cancel: engine.CancelToken, on_chunk) -> Any:
    """One take of a line (engine thread): ``on_chunk(samples float32, is_last)`` sees the audio as it streams."""
    def chunk(c: Any) -> None:
        on_chunk(np.asarray(c.samples, dtype=np.float32).reshape(-1), bool(c.is_last))

    return _project_api().synthesize_line(loaded, job, cancel=cancel, on_chunk=chunk)


def best_of_line(loaded: Any, job: Any, n: int, checker: Any, cancel: engine.CancelToken, on_take) -> tuple:
    """Best-of-``n`` takes of a line (new seeds until one passes its checks): (project Takes with their check
    reports, index of the chosen one). ``on_take(Take)`` sees each."""
    return _project_api().best_of_line(loaded, job, n, checker, cancel=cancel, on_take=on_take)


def convert_line(loaded: Any, job: Any, audio: np.ndarray, sample_rate: int, cancel: engine.CancelToken) -> Any:
    """A performed take: the creator's reading of the line re-voiced into the job's voice (no LM)."""
    converted = engine.convert_voice(loaded, np.asarray(audio, np.float32), int(sample_rate), job.voice,
                                     seed=job.seed, cancel=cancel)
    return _project_api().performed_take(loaded, job, converted)


def hear_word(loaded: Any, word: str, voice: Any, lexicon: Any, cancel: engine.CancelToken) -> np.ndarray:
    return np.asarray(engine.hear_word(loaded, word, voice, pronunciations=lexicon, cancel=cancel), np.float32)


# ---- take checks (issue 17) ------------------------------------------------------------------------------------
def take_checker(model_dir: str | Path | None) -> Any:
    """The checks with their models (each loaded on first use); thread-safe: the check thread and best-of on the
    engine thread share one."""
    from engine.checks import TakeChecker

    return TakeChecker(model_dir=Path(model_dir) if model_dir else None)


def check_reference(voice: Any) -> Any:
    """What a take's voice is compared with: the saved voice's speaker embedding."""
    from engine.checks import Reference

    return Reference(embedding=voice.embedding.numpy())


def check_take(checker: Any, audio: np.ndarray, sample_rate: int, text: str, instruction: str, voice: Any,
               watchdog: str | None, language: str = "") -> Any:
    """Every check of one take -> a TakeReport (check thread)."""
    return checker.check(audio, sample_rate, text, language=language or getattr(voice, "language", ""),
                         reference=check_reference(voice) if voice is not None else None, instruction=instruction,
                         watchdog=watchdog)


def report_from_dict(data: dict | None) -> Any:
    """A TakeReport from what a project saved (TakeReport.to_dict()); None when there is none or it is damaged."""
    from engine.checks import Check, TakeReport

    if not isinstance(data, dict):
        return None
    try:
        return TakeReport.of([Check(**c) for c in data.get("checks", ())], float(data.get("seconds", 0.0)))
    except (TypeError, ValueError):
        return None


def best_of_limit() -> int:
    from engine.checks.best_of import MAX_TAKES

    return MAX_TAKES


# ---- pronunciations ----------------------------------------------------------------------------------------------
def pronunciation(word: str, say: str) -> Any:
    """One entry (TextInputError naming what is wrong with it)."""
    return engine.Pronunciation(word, say)


def pronunciations(entries=()) -> Any:
    return engine.Pronunciations(entries)


def load_global_pronunciations(path: Path) -> Any:
    from engine.pronunciation import load_global_pronunciations as load

    return load(path)


def save_global_pronunciations(lexicon: Any, path: Path) -> Path:
    from engine.pronunciation import save_global_pronunciations as save

    return save(lexicon, path)


# ---- export (issue 16) --------------------------------------------------------------------------------------------
def export_api():
    """engine.export: the formats, presets, settings and export_timeline the export dialog offers."""
    import engine.export as api

    return api


def export_paths(timeline: Any, out: Path, settings: Any) -> list[Path]:
    """The files an export of ``timeline`` to ``out`` writes (numbered on a split; the subtitles too), so the
    studio can ask before replacing any of them."""
    from engine.export.export import numbered_paths

    api = export_api()
    preset = api.get_preset(settings.master)
    plans = api.plan_files(timeline, settings.split, settings.pauses,
                           settings.padding if settings.padding is not None else preset.padding)
    numbered = settings.split != "none"
    paths = numbered_paths(Path(out), len(plans), numbered)
    if settings.subtitles is not None:
        paths += numbered_paths(Path(settings.subtitles), len(plans), numbered)
    return paths


def export_settings_to_json(settings: Any) -> dict:
    return _project_api().export_settings_to_json(settings)


def export_settings_from_json(data: dict) -> Any:
    return _project_api().export_settings_from_json(data)


def mix(timeline: Any, pauses: Any = None) -> tuple[np.ndarray, list[tuple[int, int, int]]]:
    """The timeline as one clip for listening, laid out as an export lays it out: (float32 samples at the
    timeline's rate, [(segment index, start sample, end sample)])."""
    api = export_api()
    plan = api.plan_files(timeline, "none", pauses or api.Pauses())[0]
    return plan.render(timeline), [(p.index, p.start, p.end) for p in plan.placed]


# ---- model folders ----------------------------------------------------------------------------------------------
def download_model(repo_id: str, local_dir: str | None, progress, cancel: Any) -> Path:
    """Download (or resume) ``repo_id`` into ``local_dir`` (default: the hub's cache), every file checked."""
    return Path(engine.download_model(repo_id, local_dir=local_dir, progress=progress, cancel=cancel))


def verify_model(folder: str | Path, cancel: engine.CancelToken, progress) -> Any:
    """Re-hash every file of a model folder against the checksums of its download (a report with .ok and
    .describe())."""
    from engine.hub import verify_model as verify

    return verify(folder, cancel=cancel, progress=progress)


# ---- model families (issue 19): CosyVoice 2 and 3 side by side ---------------------------------------------------
def known_models() -> dict[str, str]:
    """The repos the model manager offers: repo id -> the family's name ("CosyVoice 2"), the default first."""
    from engine.config import FAMILY_NAMES
    from engine.hub import KNOWN_REPOS

    return {repo: FAMILY_NAMES[family] for repo, family in KNOWN_REPOS.items()}


def family_name(family: str) -> str:
    """"CosyVoice 3" for ``cosyvoice3`` (what the studio shows); an unknown family as it is."""
    from engine.config import FAMILY_NAMES

    return FAMILY_NAMES.get(family, family)


def folder_family(folder: str | Path) -> str:
    """The family of a model folder by the files it holds (typed ModelFolderError naming what is wrong)."""
    from engine.config import model_family

    return model_family(Path(folder))


def remake_voice(loaded: Any, voice: Any, audio: np.ndarray, sample_rate: int) -> Any:
    """``voice`` analysed again from its recording for the loaded model's family (engine thread)."""
    return loaded.remake_voice(voice, np.asarray(audio, np.float32), sample_rate=int(sample_rate))


def markup_tokens() -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(CMU phoneme tokens, pinyin tokens) a model with pronunciation markup reads inside the studio's text, stress
    digits included: the engine's normalisers keep the tokens as typed (engine.frontend.text)."""
    return engine.CMU_PHONEME_TOKENS, engine.PINYIN_TOKENS


# ---- the hardware check (issue 20): what precision "auto" and the CPU threads are on this computer ------------------
@dataclass(frozen=True)
class HardwarePlan:
    """What the engine's hardware check chose for one model folder on this computer (``engine.MachinePlan``), as
    the model manager shows it."""

    folder: str  # the model folder it was measured with
    summary: str  # the engine's one line: precision, threading, predicted RTF and first audio
    precision: str  # what "auto" then loads ("int8/bf16", "fp32", ...)
    predicted_rtf: float  # seconds of work per second of speech (a streamed 10 s utterance); < 1: faster than real time
    first_audio_s: float
    busy: bool  # measured while other programs wanted the cores: the choice may not hold on an idle computer
    load: float  # the highest 1-minute load average during the check
    threads: int  # the process's threads, what the load is compared with (the plan may run on fewer)
    check_s: float  # how long the check took
    measured_at: str  # ISO 8601, with the UTC offset


def _hardware_plan(folder: str | Path, plan: Any) -> HardwarePlan:
    return HardwarePlan(str(folder), plan.describe(), plan.precision.name, float(plan.predicted_rtf),
                        float(plan.predicted_first_audio_s), bool(plan.busy), float(max(plan.load)), int(plan.max_threads),
                        float(plan.check_s), str(plan.measured_at))


def cached_hardware_plan(folder: str | Path) -> HardwarePlan | None:
    """The cached check of ``folder`` on this computer; None when it was never measured here, its cache entry is
    damaged, or ``folder`` is no model folder (cheap: reads one small file)."""
    try:
        plan = engine.cached_plan(Path(folder))
    except engine.TimbreError:
        return None
    return _hardware_plan(folder, plan) if plan is not None else None


def check_hardware(folder: str | Path, progress, cancel: engine.CancelToken) -> HardwarePlan:
    """Measure this computer on ``folder``'s model now and replace its cached plan (seconds on a small model,
    minutes on CosyVoice2-0.5B: a worker thread). ``progress(what, share 0..1)``; engine.Cancelled when cancelled,
    other TimbreErrors (a CosyVoice 3 folder, a damaged one) name the problem."""
    # On a worker thread: keyed by the engine's PROCESS_THREADS, as cached_hardware_plan and device_plan look up.
    return _hardware_plan(folder, engine.check_machine(Path(folder), progress=progress, cancel=cancel))


def plan_applies(device: str, precision: str) -> bool:
    """Whether a load with these settings runs by the hardware check's plan: precision "auto" on the CPU."""
    try:
        return precision_choice(precision) == "auto" and engine.pick_device(device).type == "cpu"
    except engine.ConfigError:
        return False
