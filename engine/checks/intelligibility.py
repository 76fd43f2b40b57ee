"""Intelligibility: the recognised words against the text (word error rate), and a spoken instruction.

WER = (substitutions + deletions + insertions) / expected words, computed by jiwer (character error rate
for Chinese and Japanese, whose words are not space separated). Limits, measured with ``python -m
engine.checks.calibrate asr`` (pocketsphinx grammar decoding, 12 sentences x 5 espeak-ng voices; the wrong
text is another of the sentences): right text measured WER 0.10-0.90 (median 0.33, 90th percentile 0.61),
a different sentence 0.75-1.90 (median 1.08, 10th percentile 0.91). Failing above 0.70 let no wrong text
pass and failed 6.7 % of right takes (above 0.75: 1.7 % and 5.0 %; above 0.80: 1.7 % and 3.3 %); a wrongly
failed take costs a retake, a wrongly passed one defeats the check, so a take fails above
:data:`WER_FAIL` = 0.70 and warns above about the right takes' 90th percentile, :data:`WER_WARN`. A take that says only the first half of its text
measured 0.45-0.92 (median 0.67): it warns or passes, it does not fail. The faster-whisper path uses the same
limits: a stronger recogniser only lowers the error of right text (not measured here: no Whisper weights
are available offline).

Spoken instruction: an instruct-mode take must not say the instruction. The check counts how many of the
instruction's telling words (:func:`engine.checks.words.instruction_words`) the recogniser heard that the
text itself does not contain; with pocketsphinx's grammar the instruction's words are added to the grammar
so that it can hear them at all. Measured (3 instructions x 5 espeak-ng voices): with the instruction
spoken before the text 14 of 15 takes had half or more of its telling words heard (one had none), with
the text alone at most 0.33 (none flagged); the take fails from :data:`INSTRUCTION_FAIL` = 0.5.
"""
from __future__ import annotations

from .asr import Recognition, expected_words
from .optional import optional_module
from .verdict import FAIL, PASS, Check, grade_above
from .words import instruction_words, words

GROUP = "intelligibility"
WER_WARN, WER_FAIL = 0.60, 0.70
INSTRUCTION_FAIL = 0.5  # fraction of the instruction's telling words heard


def error_rate(expected: list[str], heard: list[str], *, characters: bool = False) -> dict:
    """jiwer's alignment of ``heard`` against ``expected``: rate, substitutions, deletions, insertions."""
    jiwer = optional_module("jiwer")
    ref, hyp = " ".join(expected), " ".join(heard)
    if not hyp:  # jiwer refuses an empty hypothesis: everything was deleted
        return {"rate": 1.0, "substitutions": 0, "deletions": len(expected), "insertions": 0}
    out = (jiwer.process_characters if characters else jiwer.process_words)(ref, hyp)
    return {"rate": float(out.cer if characters else out.wer), "substitutions": out.substitutions,
            "deletions": out.deletions, "insertions": out.insertions}


def wer_check(rec: Recognition, text: str, language: str) -> Check:
    characters = language in ("zh", "ja")
    expected = [w for w in expected_words(text, language) if w not in rec.skipped]
    if not expected:
        return Check("wer", GROUP, "not checked", "the text has no words the recogniser knows")
    heard = expected_words(rec.text, language)
    if characters:
        expected, heard = ["".join(expected)], ["".join(heard)]
    err = error_rate(expected, heard, characters=characters)
    verdict = grade_above(err["rate"], WER_WARN, WER_FAIL)
    what = "character" if characters else "word"
    msg = {PASS: f"the words heard match the text ({what} error rate {err['rate']:.2f})",
           FAIL: f"the words heard do not match the text: dropped, repeated or wrong {what}s"}.get(
        verdict, f"some {what}s heard differ from the text")
    return Check("wer", GROUP, verdict, msg, value=round(err["rate"], 3), threshold=WER_FAIL,
                 details={**err, "heard": rec.text, "recogniser": rec.method, "unknown_words": list(rec.skipped)})


def instruction_check(rec: Recognition, instruction: str, text: str) -> Check | None:
    """None when there is no instruction, or it has no word the text lacks."""
    in_text = set(words(text))
    telling = [w for w in instruction_words(instruction) if w not in in_text]
    if not telling:
        return None
    heard = set(words(rec.text))
    spoken = [w for w in telling if w in heard]
    frac = len(spoken) / len(telling)
    verdict = FAIL if frac >= INSTRUCTION_FAIL else PASS
    msg = (f"the take speaks the instruction aloud ({', '.join(spoken)})" if verdict == FAIL
           else "the instruction is not spoken" + (f" (heard {', '.join(spoken)})" if spoken else ""))
    return Check("instruction_spoken", "instruction", verdict, msg, value=round(frac, 2),
                 threshold=INSTRUCTION_FAIL, details={"instruction_words": telling, "heard": spoken})
