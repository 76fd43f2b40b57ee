"""Timing checks: speaking rate, leading / trailing / internal silence, and an end cut off mid-word.

Thresholds and where they come from (measured with ``python -m engine.checks.calibrate timing``: espeak-ng
recordings of 4-8 English sentences in 5 voices and 2 sentences each in German, French, Spanish, Italian;
numbers in the README's *Take checks*):

* rate: syllables (estimated from the text, :mod:`engine.checks.words`) per second of detected speech, as a
  fraction of the language's typical read-speech rate. espeak-ng at its default 175 words/min measured
  0.68-1.06 of the typical rate, at 80 words/min 0.34-0.53, at 450 words/min 1.61-2.51. A take passes inside
  :data:`RATE_WARN` and fails outside :data:`RATE_FAIL`.
* silences: espeak-ng's longest pause inside a four-sentence passage measured 0.32 s, its leading silence at
  most 0.10 s and trailing 0.15-0.30 s; CosyVoice puts 0.15 s between sentences. An inserted pause of 3 s
  must fail: pauses, leading and trailing silence warn above 1 s and fail above 2 s.
* end cut: the level of the take's last 30 ms relative to its speech level. Natural espeak-ng ends measured
  -76 dB or lower (after 0.15 s of silence); 120 cuts inside the last word (at 30/50/70 % of it) measured a
  median of -11.5 dB, 117 of them above -34 dB (the other 3 fell in a silent gap inside the word). A take
  fails when speech runs to its very end (under :data:`END_GAP_S` of trailing silence) and its last 30 ms
  are louder than :data:`END_LEVEL_FAIL_DB`.
"""
from __future__ import annotations

import numpy as np

from .vad import SpeechMap
from .verdict import FAIL, PASS, WARN, Check, grade_above, not_checked
from .words import syllables, typical_rate

GROUP = "timing"
RATE_WARN = (0.6, 1.45)  # fraction of the language's typical rate: pass inside
RATE_FAIL = (0.4, 2.0)  # fail outside
PAUSE_WARN_S, PAUSE_FAIL_S = 1.0, 2.0
EDGE_WARN_S, EDGE_FAIL_S = 1.0, 2.0  # leading / trailing silence
END_WINDOW_S = 0.030
END_GAP_S = 0.050
END_LEVEL_FAIL_DB = -35.0
MIN_RATE_SPEECH_S = 0.5  # below this much speech the rate is not measured


def _rate(speech: SpeechMap, text: str, language: str) -> Check:
    n = syllables(text, language)
    if n == 0 or speech.speech_s < MIN_RATE_SPEECH_S:
        return not_checked("speaking_rate", GROUP, "too little text or speech to measure a speaking rate")
    rate = n / speech.speech_s
    typical = typical_rate(language)
    ratio = rate / typical
    if ratio < RATE_FAIL[0] or ratio > RATE_FAIL[1]:
        verdict = FAIL
    elif ratio < RATE_WARN[0] or ratio > RATE_WARN[1]:
        verdict = WARN
    else:
        verdict = PASS
    how = "too slow" if ratio < RATE_WARN[0] else "too fast" if ratio > RATE_WARN[1] else "normal"
    limit = typical * (RATE_FAIL[0] if ratio < 1 else RATE_FAIL[1])
    return Check("speaking_rate", GROUP, verdict,
                 f"{rate:.1f} syllables/s, {ratio:.2f} of a typical {language or 'speaker'} rate ({how})",
                 value=round(rate, 2), threshold=round(limit, 2), unit=" syl/s",
                 details={"syllables": n, "speech_s": round(speech.speech_s, 3), "ratio": round(ratio, 3)})


def _silence(name: str, seconds: float, warn: float, fail: float, where: str) -> Check:
    verdict = grade_above(seconds, warn, fail)
    text = f"{seconds:.2f} s of silence {where}" + ("" if verdict == PASS else " (too long)")
    return Check(name, GROUP, verdict, text, value=round(seconds, 3), threshold=fail, unit=" s")


def end_level_db(audio: np.ndarray, sample_rate: int, speech: SpeechMap) -> float:
    """dB of the last 30 ms relative to the take's speech level (the 90th percentile of 30 ms frames in speech)."""
    n = max(1, int(END_WINDOW_S * sample_rate))
    frames = audio[: audio.shape[0] // n * n].reshape(-1, n).astype(np.float64)
    if frames.shape[0] == 0:
        return -120.0
    db = 10 * np.log10(np.mean(frames ** 2, axis=1) + 1e-12)
    centres = (np.arange(frames.shape[0]) + 0.5) * n / sample_rate
    inside = np.zeros(frames.shape[0], dtype=bool)
    for s, e in speech.segments:
        inside |= (centres >= s) & (centres <= e)
    level = float(np.percentile(db[inside] if inside.any() else db, 90))
    tail = audio[-n:].astype(np.float64)
    return float(10 * np.log10(np.mean(tail ** 2) + 1e-12) - level)


def _end_cut(audio: np.ndarray, sample_rate: int, speech: SpeechMap) -> Check:
    rel = end_level_db(audio, sample_rate, speech)
    runs_to_end = speech.trailing_s < END_GAP_S
    cut = runs_to_end and rel > END_LEVEL_FAIL_DB
    msg = ("the take stops while speech is still loud: the end is cut off mid-word" if cut
           else "the take ends in silence or a decaying sound")
    return Check("end_cut", GROUP, FAIL if cut else PASS, msg, value=round(rel, 1), threshold=END_LEVEL_FAIL_DB,
                 unit=" dB", details={"speech_runs_to_end": runs_to_end})


def timing_checks(audio: np.ndarray, sample_rate: int, speech: SpeechMap, text: str, language: str) -> list[Check]:
    """Every timing check of one take (``audio`` float32 ``[N]`` at ``sample_rate``, ``speech`` its VAD map)."""
    if not speech.segments:
        return [Check("speech_found", GROUP, FAIL, "no speech was detected in the take", value=0.0, unit=" s")]
    longest = max(speech.pauses, default=0.0)
    return [
        _rate(speech, text, language),
        _silence("leading_silence", speech.leading_s, EDGE_WARN_S, EDGE_FAIL_S, "before the first word"),
        _silence("trailing_silence", speech.trailing_s, EDGE_WARN_S, EDGE_FAIL_S, "after the last word"),
        _silence("longest_pause", longest, PAUSE_WARN_S, PAUSE_FAIL_S, "in the longest pause"),
        _end_cut(audio, sample_rate, speech),
    ]
