"""Making takes with a loaded engine: a line (through :meth:`engine.Engine.synthesize`) or one word.

Everything here is called from the thread that owns the engine (the studio's worker, the CLI) with values
(:class:`LineJob`); nothing touches a :class:`~engine.project.Project`, so the UI thread keeps editing it
meanwhile and adds the returned :class:`Take` when it arrives.

A long line is split into the engine's pieces inside :meth:`~engine.Engine.synthesize` (normalised,
LM-sized); the take is the whole line.
"""
from __future__ import annotations

from dataclasses import replace
from typing import Callable

import numpy as np

from ..errors import NEVER_CANCELLED, CancelToken
from ..pronunciation import Pronunciations
from ..voices import Voice
from ..watchdog import Watchdog
from .model import LineJob, Take, TakeInfo, new_id

PIECE_PAUSE_S = 0.1  # silence between the engine's pieces of one long line (a clause break, not a sentence's)


def engine_settings(engine) -> dict:
    """What a take records about the engine that made it (so a take can be told apart, and re-made alike)."""
    return {"model": engine.model_dir.name, "device": str(engine.device), "precision": engine.precision.name,
            "normalizer": engine.text.normalizer, "flow_mode": engine.runtime.flow_mode.value,
            "sample_rate": engine.sample_rate}


def line_request(job: LineJob, watchdog: Watchdog | None = None):
    """The :class:`~engine.SynthesisRequest` a take of ``job`` is made from (what :func:`synthesize_line` speaks;
    best-of-N retakes of a line start from it too)."""
    from ..engine import SynthesisRequest

    return SynthesisRequest(text=job.spoken_text, voice=job.voice, mode=job.mode, instruction=job.instruction,
                            speed=job.speed, seed=job.seed, stream=True, sentence_pause_s=PIECE_PAUSE_S,
                            watchdog=watchdog or Watchdog())


def synthesize_line(engine, job: LineJob, *, cancel: CancelToken = NEVER_CANCELLED, sampler=None,
                    on_chunk: Callable | None = None, watchdog: Watchdog | None = None) -> Take:
    """Speak ``job`` with ``engine``; ``on_chunk(AudioChunk)`` sees the audio as it streams (to play it while
    the rest is made). Raises the engine's typed errors (and ``Cancelled``) as :meth:`Engine.synthesize` does."""
    request = line_request(job, watchdog)
    parts, verdicts = [], []
    for chunk in engine.synthesize(request, cancel=cancel, sampler=sampler):
        parts.append(chunk.samples)
        if chunk.watchdog:
            verdicts.append(chunk.watchdog)
        if on_chunk is not None:
            on_chunk(chunk)
    audio = np.concatenate(parts).astype(np.float32) if parts else np.zeros(0, np.float32)
    return Take(_info(engine, job, "synthesized", audio, "; ".join(verdicts) or None), audio)


def performed_take(engine, job: LineJob, audio: np.ndarray) -> Take:
    """A take from the creator's converted recording (:func:`engine.conversion.convert_voice`)."""
    return Take(_info(engine, job, "performed", audio, None), np.asarray(audio, dtype=np.float32))


def synthesized_take(engine, job: LineJob, audio: np.ndarray, *, watchdog: str | None = None,
                     checks: dict | None = None) -> Take:
    """A take of ``job`` from audio the engine made for :func:`line_request` (e.g. the takes of
    :func:`engine.checks.best_of`, whose seed ``job.seed`` must be), with its checks' report if known."""
    audio = np.asarray(audio, dtype=np.float32)
    return Take(replace(_info(engine, job, "synthesized", audio, watchdog or None), checks=checks), audio)


def best_of_line(engine, job: LineJob, n: int, checker=None, *, cancel: CancelToken = NEVER_CANCELLED,
                 on_take: Callable[[Take], None] | None = None) -> tuple[tuple[Take, ...], int]:
    """Up to ``n`` takes of ``job`` with new seeds until one passes its checks (:func:`engine.checks.best_of`,
    compared with the voice's speaker embedding): (every take, each with its check report, index of the chosen
    one). ``on_take(Take)`` sees each take as soon as it is checked. Every take is worth keeping in the project:
    the creator may prefer another one than the checks."""
    from ..checks import Reference, best_of

    takes: list[Take] = []

    def made(t) -> None:
        take = synthesized_take(engine, replace(job, seed=t.seed), t.audio, watchdog="; ".join(t.watchdog),
                                checks=t.report.to_dict())
        takes.append(take)
        if on_take is not None:
            on_take(take)

    result = best_of(engine, line_request(job), n, checker, reference=Reference(embedding=job.voice.embedding.numpy()),
                     cancel=cancel, on_take=made)
    return tuple(takes), result.chosen_index


def _info(engine, job: LineJob, kind: str, audio: np.ndarray, watchdog: str | None) -> TakeInfo:
    return TakeInfo(id=new_id(), line_id=job.line_id, kind=kind, text=job.text, spoken_text=job.spoken_text,
                    speaker=job.speaker, voice_name=job.voice.name, voice_id=job.voice_id,
                    mode=job.mode if kind == "synthesized" else "vc",
                    instruction=job.instruction if kind == "synthesized" else "", seed=job.seed,
                    sample_rate=engine.sample_rate, n_samples=int(audio.shape[0]), speed=job.speed,
                    settings=engine_settings(engine), watchdog=watchdog)


def hear_word(engine, word: str, voice: Voice, *, pronunciations: Pronunciations = Pronunciations(),
              mode: str | None = None, seed: int = 0, cancel: CancelToken = NEVER_CANCELLED,
              watchdog: Watchdog | None = None) -> np.ndarray:
    """"Hear this word": ``word`` (or a phrase) respelled by ``pronunciations`` and spoken alone in ``voice``
    -> float32 [N] at the engine's rate. mode: default zero-shot with a transcript, else cross-lingual."""
    from ..engine import SynthesisRequest

    mode = mode or ("zero_shot" if voice.transcript.strip() else "cross_lingual")
    request = SynthesisRequest(text=pronunciations.apply(word), voice=voice, mode=mode, seed=seed, stream=False,
                               watchdog=watchdog or Watchdog())
    return engine.synthesize_all(request, cancel=cancel)
