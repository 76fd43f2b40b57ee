"""``timbre synth --best-of N``: the takes, their verdicts on stderr, and the chosen take's chunks."""
from __future__ import annotations

import sys

from .best_of import BestOf, Take, best_of
from .take import Reference, TakeChecker


def _progress(take: Take) -> None:
    print(f"timbre: take {take.index + 1} (seed {take.seed}): {take.report.summary()}", file=sys.stderr, flush=True)


def best_of_chunks(engine, request, n: int, *, prompt_audio=None, prompt_rate: int = 0,
                   whisper_dir=None, language: str = "") -> tuple[tuple, BestOf]:
    """Up to ``n`` takes of ``request``; the chosen take's AudioChunks (to export) and every take's report.

    prompt_audio: the prompt recording (judged by the speaker model); without it the voice's CAM++
    embedding is compared with CAM++ of the engine's model folder (reported, not judged)."""
    reference = Reference(audio=prompt_audio, sample_rate=prompt_rate) if prompt_audio is not None else None
    checker = TakeChecker(whisper_dir=whisper_dir, model_dir=engine.model_dir)
    result = best_of(engine, request, n, checker, reference=reference, language=language, on_take=_progress)
    chosen = result.chosen
    how = "passed" if result.passed else "none passed; kept the best score"
    print(f"timbre: chose take {chosen.index + 1} of {len(result.takes)} (seed {chosen.seed}, score "
          f"{chosen.report.score}, {how}); checks took {result.check_fraction():.0%} of the generation time",
          file=sys.stderr, flush=True)
    return chosen.chunks, result
