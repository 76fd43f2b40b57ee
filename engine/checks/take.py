"""Check one take: every check of :mod:`engine.checks` on one piece of audio, as one :class:`TakeReport`.

:class:`TakeChecker` holds the models (each loaded on first use and kept, so checking many takes pays the
loading once) and nothing else: :meth:`TakeChecker.check` is a function of its arguments, safe to call
from any worker thread (each model serialises its own calls), never from Qt.
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from ..errors import CheckError, CheckModelMissing
from ..frontend.audio import resample_hq, validate_audio
from . import asr, intelligibility, quality, speaker, timing, vad
from .verdict import FAIL, PASS, Check, TakeReport, not_checked, not_installed
from .words import guess_language

GROUPS = ("timing", "intelligibility", "instruction", "voice", "quality", "watchdog")
CHECK_RATE = 16000  # every model here runs at 16 kHz


@dataclass(frozen=True)
class Reference:
    """The voice a take should have: its audio (``audio`` float32 [N] at ``sample_rate``), or a saved voice's
    CAM++ ``embedding`` (compared with the model folder's CAM++, see :mod:`engine.checks.speaker`)."""

    audio: np.ndarray | None = None
    sample_rate: int = 0
    embedding: np.ndarray | None = None


def watchdog_check(watchdog: list[str] | tuple[str, ...] | str | None) -> Check:
    """The engine's runaway verdicts (``AudioChunk.watchdog`` of each sentence) as a check."""
    notes = [watchdog] if isinstance(watchdog, str) else [w for w in (watchdog or ()) if w]
    if notes:
        return Check("watchdog", "watchdog", FAIL, "; ".join(notes), value=float(len(notes)), threshold=0.0)
    return Check("watchdog", "watchdog", PASS, "generation ended on its own", value=0.0, threshold=0.0)


class TakeChecker:
    """The checks of takes, with their models.

    whisper_dir: a faster-whisper model folder for recognition in every language (else pocketsphinx for
    English). model_dir: a CosyVoice model folder whose CAM++ compares takes with a saved voice's embedding.
    groups: which families of checks to run (default all of :data:`GROUPS`).
    """

    def __init__(self, *, whisper_dir: str | Path | None = None, model_dir: str | Path | None = None,
                 groups: tuple[str, ...] = GROUPS) -> None:
        unknown = set(groups) - set(GROUPS)
        if unknown:
            raise CheckError(f"Unknown check group(s) {', '.join(sorted(unknown))}; use {', '.join(GROUPS)}.")
        self.groups = tuple(groups)
        self.whisper_dir = whisper_dir
        self.model_dir = model_dir
        self._models: dict[str, object] = {}
        self._lock = threading.Lock()  # two worker threads asking for a model at once make it once

    def _model(self, key: str, make: Callable[[], object]):
        """A model made once; a CheckModelMissing (or CheckError) is remembered and raised again."""
        with self._lock:
            if key not in self._models:
                try:
                    self._models[key] = make()
                except (CheckModelMissing, CheckError) as e:
                    self._models[key] = e
            got = self._models[key]
        if isinstance(got, Exception):
            raise got
        return got

    def recogniser(self, language: str):
        """The recogniser for ``language``, or None if no installed one covers it."""
        if self.whisper_dir is not None:
            return self._model("whisper", lambda: asr.FasterWhisper(self.whisper_dir))
        return self._model("pocketsphinx", asr.PocketSphinx) if language in asr.PocketSphinx.languages else None

    # ---- the check groups --------------------------------------------------------------------
    def _timing(self, audio, sr, a16, text, language) -> list[Check]:
        try:
            speech = vad.find_speech(a16)
        except CheckModelMissing as e:
            return [not_installed("timing", "timing", str(e))]
        return timing.timing_checks(audio, sr, speech, text, language)

    def _words(self, a16, text, language, instruction) -> list[Check]:
        want_wer = "intelligibility" in self.groups
        want_instr = "instruction" in self.groups and instruction.strip()
        if not (want_wer or want_instr):
            return []
        try:
            rec = self.recogniser(language)
        except CheckModelMissing as e:
            return [not_installed("wer", "intelligibility", str(e))]
        except CheckError as e:  # a model folder that is there but cannot be loaded
            return [not_checked("wer", "intelligibility", str(e))]
        if rec is None:
            return [not_checked("wer", "intelligibility",
                                f"no installed recogniser covers language {language or 'unknown'!r} "
                                "(pocketsphinx: English; give a faster-whisper model folder for others)")]
        try:
            heard = rec.recognise(a16, f"{text} {instruction}" if want_instr else text, language)
            out = [intelligibility.wer_check(heard, text, language)] if want_wer else []
        except CheckModelMissing as e:  # jiwer missing
            return [not_installed("wer", "intelligibility", str(e))]
        if want_instr:
            instr = intelligibility.instruction_check(heard, instruction, text)
            if instr is not None:
                out.append(instr)
        return out

    def _voice(self, a16, reference: Reference | None) -> list[Check]:
        if reference is None or (reference.audio is None and reference.embedding is None):
            return [not_checked("voice_similarity", "voice", "no reference voice was given")]
        try:
            if reference.audio is not None:
                model = self._model("resemblyzer", speaker.Resemblyzer)
                ref = _to_16k(reference.audio, reference.sample_rate)
                return [speaker.similarity_check(model, a16, ref, reference_is_embedding=False)]
            if self.model_dir is None:
                return [not_checked("voice_similarity", "voice",
                                    "a saved voice keeps only CAM++'s embedding: give the model folder or a prompt WAV")]
            model = self._model("campplus", lambda: speaker.CamPlusPlus(self.model_dir))
            return [speaker.similarity_check(model, a16, np.asarray(reference.embedding),
                                             reference_is_embedding=True)]
        except CheckModelMissing as e:
            return [not_installed("voice_similarity", "voice", str(e))]

    def _quality(self, audio, sr, a16) -> list[Check]:
        out = [quality.clipping_check(audio, sr)]
        try:
            out.append(quality.dnsmos_check(a16))
        except CheckModelMissing as e:
            out.append(not_installed("dnsmos", "quality", str(e)))
        return out

    # ---- the whole take ----------------------------------------------------------------------
    def check(self, audio: np.ndarray, sample_rate: int, text: str, *, language: str = "",
              reference: Reference | None = None, instruction: str = "",
              watchdog: list[str] | tuple[str, ...] | str | None = None) -> TakeReport:
        """Every check of one take: ``audio`` float32 ``[N]`` (or ``[N, channels]``) at ``sample_rate``, the
        ``text`` it should say. language: ``en``, ``zh``, ... (guessed from the text when empty)."""
        t0 = time.perf_counter()
        if not text or not text.strip():
            raise CheckError("Which text should the take say? Give the text to check it against.")
        if isinstance(audio, np.ndarray) and audio.size == 0:
            return TakeReport.of([Check("speech_found", "timing", FAIL, "the take has no audio at all", value=0.0)])
        audio = validate_audio(audio, sample_rate)
        language = (language or guess_language(text)).lower().replace("_", "-").split("-")[0]  # "en-US" -> "en"
        a16 = _to_16k(audio, sample_rate)
        checks: list[Check] = []
        if "timing" in self.groups:
            checks += self._timing(audio, sample_rate, a16, text, language)
        checks += self._words(a16, text, language, instruction)
        if "voice" in self.groups:
            checks += self._voice(a16, reference)
        if "quality" in self.groups:
            checks += self._quality(audio, sample_rate, a16)
        if "watchdog" in self.groups:
            checks.append(watchdog_check(watchdog))
        return TakeReport.of(checks, time.perf_counter() - t0)


def _to_16k(audio: np.ndarray, sample_rate: int) -> np.ndarray:
    audio = np.asarray(audio, dtype=np.float32)
    if audio.ndim == 2:
        audio = audio.mean(axis=1)
    return audio if sample_rate == CHECK_RATE else resample_hq(audio, sample_rate, CHECK_RATE).astype(np.float32)


__all__ = ["GROUPS", "Reference", "TakeChecker", "watchdog_check"]
