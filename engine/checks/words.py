"""Text as the checks compare it: words, syllables per language, the language of a text, instruction words.

Typical speaking rates (syllables per second of read speech) are from Pellegrino, Coupé & Marsico,
"A cross-language perspective on speech information rate", Language 87(3), 2011, Table 2; languages not in
that study use the mean of those that are. Syllables are estimated from spelling (vowel groups for
alphabetic scripts, one per character for Chinese, one per kana for Japanese, one per Hangul block): a
rough count, which is why the rate bounds in :mod:`engine.checks.timing` are wide.
"""
from __future__ import annotations

import re
import unicodedata

TYPICAL_SYLLABLES_PER_S = {"en": 6.19, "fr": 7.18, "de": 5.97, "it": 6.99, "ja": 7.84, "zh": 5.18, "es": 7.82}
DEFAULT_SYLLABLES_PER_S = sum(TYPICAL_SYLLABLES_PER_S.values()) / len(TYPICAL_SYLLABLES_PER_S)

_TAG = re.compile(r"\[[^\]]*\]|<[^>]*>")  # CosyVoice fine-grained tags: [laughter], <strong>...</strong>
_WORD = re.compile(r"[^\W_]+(?:['’][^\W_]+)*")
_VOWELS = set("aeiouyàáâãäåæèéêëìíîïòóôõöøùúûüýÿœ")
_SMALL_KANA = set("ゃゅょぁぃぅぇぉゎャュョァィゥェォヮ")
# Words an instruction is mostly made of that say nothing about it ("Speak in a calm voice, please").
_STOP = set("""a an and as at be by for from in into is it its like of on or please speak speaking say
talk talking tell that the this to tone very voice with you your way style manner""".split())


def strip_tags(text: str) -> str:
    return _TAG.sub(" ", text)


def _is_cjk(ch: str) -> bool:
    name = unicodedata.name(ch, "")
    return name.startswith(("CJK UNIFIED", "CJK COMPATIBILITY IDEOGRAPH", "HIRAGANA", "KATAKANA", "HANGUL"))


def words(text: str) -> list[str]:
    """Lower-case words without punctuation or tags; CJK characters count one word each."""
    out: list[str] = []
    for w in _WORD.findall(unicodedata.normalize("NFKC", strip_tags(text)).lower().replace("’", "'")):
        if any(_is_cjk(c) for c in w):
            out.extend(c for c in w if not c.isspace())
        else:
            out.append(w)
    return out


def guess_language(text: str) -> str:
    """``ja`` (kana), ``zh`` (Han without kana), ``ko`` (Hangul), ``en`` (only ASCII letters), else ``""``."""
    body = strip_tags(text)
    names = [unicodedata.name(c, "") for c in body if c.isalpha()]
    if not names:
        return ""
    if any(n.startswith(("HIRAGANA", "KATAKANA")) for n in names):
        return "ja"
    if any(n.startswith("HANGUL") for n in names):
        return "ko"
    if any(n.startswith("CJK") for n in names):
        return "zh"
    if all(c.isascii() for c in body if c.isalpha()):
        return "en"
    return ""


def _syllables_in_word(word: str, language: str) -> int:
    if any(_is_cjk(c) for c in word):
        return sum(1 for c in word if _is_cjk(c) and c not in _SMALL_KANA and c != "ー")
    groups = len(re.findall(r"[aeiouyàáâãäåæèéêëìíîïòóôõöøùúûüýÿœ]+", word))
    if language == "en" and len(word) > 2 and word.endswith("e") and word[-2] not in _VOWELS | {"l"}:
        groups -= 1  # the silent e of "made", "time" (not "table")
    return max(1, groups) if word.isalpha() else max(0, groups)


def syllables(text: str, language: str) -> int:
    """Estimated syllables in ``text`` (see the module docstring)."""
    return sum(_syllables_in_word(w, language) for w in words(text))


def typical_rate(language: str) -> float:
    return TYPICAL_SYLLABLES_PER_S.get(language, DEFAULT_SYLLABLES_PER_S)


def instruction_words(instruction: str) -> list[str]:
    """The words of an instruction that would betray it if spoken ("calm", "slowly", not "in a voice")."""
    seen: list[str] = []
    for w in words(instruction):
        if w not in _STOP and len(w) > 2 and w not in seen:
            seen.append(w)
    return seen
