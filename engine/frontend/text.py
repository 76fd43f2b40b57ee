"""Text normalisation and sentence splitting for CosyVoice 2.

Follows the official ``CosyVoiceFrontEnd.text_normalize`` and ``cosyvoice/utils/frontend_utils.py``:

* text holding ``<|`` and ``|>`` (instruction markup such as ``<|endofprompt|>``) is passed through
  untouched and unsplit;
* text containing a CJK ideograph takes the Chinese path: newlines dropped, spaces between non-ASCII
  characters removed, ``²``/``³`` spelled, ``.`` -> ``。``, `` - `` -> ``，``, brackets removed, trailing
  commas -> ``。``, then split by CHARACTER counts;
* anything else takes the English path: numbers spelled, then split by TOKEN counts;
* the splitter cuts after sentence punctuation and greedily packs sentences into pieces of at most
  80 (pieces end once longer than 60), merging a last piece shorter than 20 into the previous one;
* pieces made only of punctuation/symbols are dropped;
* CosyVoice 3 pronunciation tokens (``[AH0]``, ``[j][ǐ]``) are kept as typed and only the text between them is
  normalised (the official code spells their stress digits), except by the faithful
  :func:`reference_text_normalize` the parity checks use.

Three normalisers (``normalize_and_split(..., normalizer=...)``):

``"wetext"`` (default)
    The official path with the ``wetext`` FST normaliser (ships its grammars, runs offline), with
    our fixes: text is checked and cleaned first (see :func:`clean_text`), English numbers wetext
    misreads (money, ``1,234``, standalone 4-digit numbers, decades, ``#3``) are spelled by us before
    it runs, leftover digits are spelled with ordinals kept (``2nd`` -> ``second``, where the
    official fallback says ``twond``), text goes to wetext a few sentences at a time (its cost grows
    faster than linearly) and a piece longer than ``HARD_MAX_LEN`` is cut at commas/spaces.
``"inflect"``
    The official fallback when no normaliser is installed (what the parity goldens were made with):
    digit runs spelled by ``inflect`` one run at a time. Faithful, quirks included, except that input
    the official code crashes on raises :class:`TextInputError`.
``"none"``
    The official ``text_frontend=False``: the text is returned as one piece, unnormalised.

Whatever the normaliser, :func:`normalize_and_split` raises only :class:`TextInputError` for bad
text: not a string, empty or whitespace only, longer than ``MAX_TEXT_CHARS``, unpaired surrogates,
or (with ``split=True``) nothing left to speak after punctuation-only pieces are dropped.
"""
from __future__ import annotations

import re
import unicodedata
from functools import lru_cache
from pathlib import Path
from typing import Callable, Literal, Protocol

import torch

from ..errors import TextInputError

NormalizerName = Literal["wetext", "inflect", "none"]
NORMALIZERS: tuple[str, ...] = ("wetext", "inflect", "none")

# The official split_paragraph arguments used by text_normalize.
TOKEN_MAX_N = 80
TOKEN_MIN_N = 60
MERGE_LEN = 20
# Safety net (our default path only): a piece longer than this (tokens for English, characters for
# Chinese) is cut further, so unpunctuated walls of text still reach the LM in LM-sized pieces.
HARD_MAX_LEN = 4 * TOKEN_MAX_N
# Texts longer than this are refused; 100k characters is well over an hour of speech.
MAX_TEXT_CHARS = 100_000
# wetext's cost grows faster than linearly with input length, so it gets chunks of about this size.
_WETEXT_CHUNK_CHARS = 400

_CHINESE_CHAR = re.compile(r"[\u4e00-\u9fff]")
_EN_SENTENCE_PUNCT = (".", "?", "!", ";", ":")
_ZH_SENTENCE_PUNCT = ("。", "？", "！", "；", "：", "、", ".", "?", "!", ";")
_CLOSING_QUOTES = ('"', "”")


class _Encoder(Protocol):
    def encode(self, text: str) -> list[int]: ...


# --------------------------------------------------------------------------------------------
# Official helpers (frontend_utils.py), re-stated
# --------------------------------------------------------------------------------------------
def contains_chinese(text: str) -> bool:
    """The official language test: any CJK unified ideograph sends text down the Chinese path."""
    return _CHINESE_CHAR.search(text) is not None


def replace_corner_mark(text: str) -> str:
    return text.replace("²", "平方").replace("³", "立方")


def remove_bracket(text: str) -> str:
    for ch in ("（", "）", "【", "】", "`"):
        text = text.replace(ch, "")
    return text.replace("——", " ")


def replace_blank(text: str) -> str:
    """Drop spaces unless both neighbours are non-space ASCII (keeps spaces between English words).

    Like the official function, index -1 wraps around for a leading space; a trailing space (which
    the official function fails on) is dropped.
    """
    out = []
    for i, c in enumerate(text):
        if c == " ":
            if i + 1 == len(text):
                continue
            before, after = text[i - 1], text[i + 1]
            if after.isascii() and after != " " and before.isascii() and before != " ":
                out.append(c)
        else:
            out.append(c)
    return "".join(out)


def is_only_punctuation(text: str) -> bool:
    """True for text made only of Unicode punctuation (P*) and symbols (S*), or empty text."""
    return all(unicodedata.category(c)[0] in "PS" for c in text)


@lru_cache(maxsize=1)
def _inflect_engine():
    return _import_inflect().engine()


def _import_inflect():
    """``import inflect``, without typeguard's instrumentation.

    inflect decorates its methods with typeguard's ``@typechecked``, which re-reads and recompiles inflect's
    source at import: seconds on a 2-core machine (the studio's first normalisation stalled on it). The checks
    guard inflect's own callers against wrong argument types; we pass plain str and int. So for that one import
    the decorator is the identity."""
    import sys

    if "inflect" in sys.modules:
        return sys.modules["inflect"]
    import typeguard

    real = typeguard.typechecked
    typeguard.typechecked = lambda func=None, **_: func if func is not None else (lambda f: f)
    try:
        import inflect
    finally:
        typeguard.typechecked = real
    return inflect


def spell_out_number_official(text: str) -> str:
    """The official ``spell_out_number``: every run of ``str.isdigit`` characters -> inflect words.

    Quirks kept on purpose (this is the parity path): ``2nd`` -> ``twond``, ``1990`` -> ``one
    thousand, nine hundred and ninety``. inflect cannot spell runs over 33 digits; the official code
    crashes there, we raise :class:`TextInputError`.
    """
    inflect = _import_inflect()
    engine = _inflect_engine()

    def spell(run: str) -> str:
        try:
            return engine.number_to_words(run)
        except inflect.NumOutOfRangeError as e:
            raise TextInputError(
                f"The number {run[:40]}{'...' if len(run) > 40 else ''} is too long to read out "
                "with this normaliser; split it or write it in words."
            ) from e

    out: list[str] = []
    start: int | None = None
    for i, c in enumerate(text):
        if c.isdigit():
            if start is None:
                start = i
            continue
        if start is not None:
            out.append(spell(text[start:i]))
            start = None
        out.append(c)
    if start is not None:
        out.append(spell(text[start:]))
    return "".join(out)


def split_paragraph(
    text: str,
    length: Callable[[str], int],
    lang: Literal["zh", "en"],
    token_max_n: int = TOKEN_MAX_N,
    token_min_n: int = TOKEN_MIN_N,
    merge_len: int = MERGE_LEN,
    *,
    strict: bool = False,
) -> list[str]:
    """The official split_paragraph (comma_split=False). ``length`` counts characters (zh) or tokens (en).

    ``text`` must be non-empty (the official code indexes ``text[-1]``). ``strict=True`` turns the
    one other official crash (a closing quote right after a mark that ends no sentence, e.g. text
    starting with ``."``) into :class:`TextInputError`; otherwise the quote starts the next sentence.
    """
    punct = _ZH_SENTENCE_PUNCT if lang == "zh" else _EN_SENTENCE_PUNCT
    if text[-1] not in punct:
        text += "。" if lang == "zh" else "."

    # Cut after each sentence mark; a closing quote right after the mark stays with the sentence.
    sentences: list[str] = []
    start = 0
    for i, c in enumerate(text):
        if c not in punct:
            continue
        if i > start:
            sentences.append(text[start:i] + c)
        if i + 1 < len(text) and text[i + 1] in _CLOSING_QUOTES:
            # The official code glues the quote to the last sentence, even one cut at an earlier
            # mark, and crashes (pop from an empty list) when there is none yet.
            if sentences:
                sentences.append(sentences.pop() + text[i + 1])
            elif strict:
                raise TextInputError(
                    f"The text starts with {text[: i + 2]!r}, which the reference splitter cannot handle; "
                    "remove the leading punctuation."
                )
            else:
                sentences.append(text[i + 1])
            start = i + 2
        else:
            start = i + 1

    pieces: list[str] = []
    current = ""
    for sentence in sentences:
        if length(current + sentence) > token_max_n and length(current) > token_min_n:
            pieces.append(current)
            current = ""
        current += sentence
    if current:
        if length(current) < merge_len and pieces:
            pieces[-1] += current
        else:
            pieces.append(current)
    return pieces


def _length_fn(lang: str, tokenizer: _Encoder) -> Callable[[str], int]:
    if lang == "zh":
        return len
    return lambda s: len(tokenizer.encode(s))


def _chinese_cleanup(text: str) -> str:
    """The official Chinese-path rules applied after the normaliser."""
    text = text.replace("\n", "")
    text = replace_blank(text)
    text = replace_corner_mark(text)
    text = text.replace(".", "。")
    text = text.replace(" - ", "，")
    text = remove_bracket(text)
    return re.sub(r"[，,、]+$", "。", text)


def _has_markup(text: str) -> bool:
    return "<|" in text and "|>" in text


def _empty_text_error() -> TextInputError:
    return TextInputError("There is no text to speak; type or paste some text first.")


# --------------------------------------------------------------------------------------------
# The faithful reference path (normalizer="inflect"; used by the parity checks)
# --------------------------------------------------------------------------------------------
def reference_text_normalize(
    text: str, tokenizer: _Encoder, *, split: bool = True, text_frontend: bool = True
) -> list[str] | str:
    """``CosyVoiceFrontEnd.text_normalize(text, split, text_frontend)`` with no normaliser installed.

    Exactly the official output, including ``""`` -> ``[""]`` and ``[]`` for punctuation-only
    text. Where the official code crashes (whitespace-only text, digit runs over 33 digits, text the
    tokenizer cannot encode) this raises :class:`TextInputError`.
    """
    if _has_markup(text):
        text_frontend = False
    if not text_frontend or text == "":
        return [text] if split else text
    text = text.strip()
    if not text:  # the official split_paragraph fails with IndexError here
        raise _empty_text_error()
    if contains_chinese(text):
        text = _chinese_cleanup(text)
        lang = "zh"
    else:
        text = spell_out_number_official(text)
        lang = "en"
    # Computed even when split=False, as the official code does (so it fails on the same input).
    pieces = split_paragraph(text, _length_fn(lang, tokenizer), lang, strict=True)
    pieces = [p for p in pieces if not is_only_punctuation(p)]
    return pieces if split else text


# --------------------------------------------------------------------------------------------
# Input checks shared by every normaliser
# --------------------------------------------------------------------------------------------
_LINE_BREAKS = re.compile(r"\r\n?|[\u2028\u2029\x85\x0b\x0c]")


def clean_text(text: object) -> str:
    """Check and tidy user text; raises :class:`TextInputError` for text we cannot use.

    Documented behaviour: Windows/old-Mac line breaks and Unicode line/paragraph separators become
    ``\\n``, tabs become spaces, other control characters (C0, DEL, C1) and invisible format
    characters (zero-width spaces/joiners, BOM, bidi marks, soft hyphen) are removed. Refused: a
    non-string, text longer than ``MAX_TEXT_CHARS``, unpaired surrogates, and text that is empty or
    whitespace once cleaned.
    """
    if not isinstance(text, str):
        raise TextInputError(f"The text must be a string, not {type(text).__name__}.")
    if len(text) > MAX_TEXT_CHARS:
        raise TextInputError(
            f"The text has {len(text):,} characters; the limit is {MAX_TEXT_CHARS:,}. Split it into parts."
        )
    for i, c in enumerate(text):
        if "\ud800" <= c <= "\udfff":
            raise TextInputError(
                f"The text has a broken character (an unpaired UTF-16 surrogate) at position {i}; "
                "retype or re-paste that part."
            )
    text = _LINE_BREAKS.sub("\n", text).replace("\t", " ")
    text = "".join(c for c in text if c == "\n" or unicodedata.category(c) not in ("Cc", "Cf"))
    if not text.strip():
        raise _empty_text_error()
    return text


# --------------------------------------------------------------------------------------------
# Our default English number handling (before and after wetext)
# --------------------------------------------------------------------------------------------
_CURRENCIES = {
    "$": ("dollar", "dollars", "cent", "cents"),
    "€": ("euro", "euros", "cent", "cents"),
    "£": ("pound", "pounds", "penny", "pence"),
    "¥": ("yen", "yen", None, None),
}
_SCALES = r"thousand|million|billion|trillion"
_MONEY = re.compile(
    r"(?<![\w.])([$€£¥])\s?(\d{1,3}(?:,\d{3})+|\d+)(?:\.(\d+))?(?:\s?(" + _SCALES + r")\b)?"
)
_GROUPED = re.compile(r"(?<![\w.,])(\d{1,3}(?:,\d{3})+)(?:\.(\d+))?(?![\w,]|\.\d)")
_DECADE = re.compile(r"(?<![\w.,'])(1\d|20)(\d)0s\b")
_HASH_NUMBER = re.compile(r"(?<![\w#])#\s?(\d+)\b")
_FOUR_DIGITS = re.compile(r"(?<![\w.,/:\-])(\d{4})(?![\w.,/:\-]?\d)(?!\w)")
_YEAR_BEFORE = re.compile(
    r"(?:\b(?:in|of|since|from|until|till|by|before|after|during|year|circa|around|early|late|mid|"
    r"summer|winter|spring|autumn|fall|jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|"
    r"july?|aug(?:ust)?|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)|\d(?:st|nd|rd|th)?,?)\s*$",
    re.IGNORECASE,
)
_YEAR_AFTER = re.compile(r"^\s*(?:AD|BC|BCE|CE)\b")
_ORDINAL = re.compile(r"(?<![\d.])(\d+)(st|nd|rd|th)\b", re.IGNORECASE)
_ASCII_DIGITS = re.compile(r"\d+", re.ASCII)
# Longer digit runs (ids, serials, phone numbers) are read digit by digit; inflect could not spell
# runs over 33 digits at all, and "one quadrillion ..." is not how anyone reads an id.
_MAX_SPELLED_DIGITS = 15


def _cardinal(number: str) -> str:
    """Words for an ASCII digit string, without inflect's commas (they would add pauses)."""
    if len(number) > _MAX_SPELLED_DIGITS:
        return " ".join(_cardinal(d) for d in number)
    return _inflect_engine().number_to_words(number, andword="and", comma="")


def _decimal(integer: str, fraction: str | None) -> str:
    words = _cardinal(integer)
    if fraction:
        words += " point " + " ".join(_cardinal(d) for d in fraction)
    return words


def _year(digits: str) -> str:
    """Spoken form of a 4-digit year: 1990 -> nineteen ninety, 2005 -> two thousand and five."""
    n = int(digits)
    high, low = divmod(n, 100)
    if n % 1000 == 0 or 2000 <= n < 2010:
        return _cardinal(digits)
    if low == 0:
        return f"{_cardinal(str(high))} hundred"
    if low < 10:
        return f"{_cardinal(str(high))} oh {_cardinal(str(low))}"
    return f"{_cardinal(str(high))} {_cardinal(str(low))}"


def _plural_number_word(words: str) -> str:
    """nineteen ninety -> nineteen nineties; two thousand -> two thousands."""
    head, _, last = words.rpartition(" ")
    last = last[:-1] + "ies" if last.endswith("y") else last + "s"
    return f"{head} {last}".strip()


def _money(m: re.Match) -> str:
    symbol, integer, fraction, scale = m.group(1), m.group(2).replace(",", ""), m.group(3), m.group(4)
    one, many, sub_one, sub_many = _CURRENCIES[symbol]
    if scale:
        return f"{_decimal(integer, fraction)} {scale} {many}"
    if fraction is not None and len(fraction) == 2 and sub_many is not None:
        cents = int(fraction)
        if cents and not integer.strip("0"):  # $0.99 -> ninety-nine cents
            return f"{_cardinal(str(cents))} {sub_one if cents == 1 else sub_many}"
        words = f"{_cardinal(integer)} {one if integer.lstrip('0') == '1' else many}"
        if cents:
            words += f" and {_cardinal(str(cents))} {sub_one if cents == 1 else sub_many}"
        return words
    unit = one if integer.lstrip("0") == "1" and not fraction else many
    return f"{_decimal(integer, fraction)} {unit}"


def _four_digits(m: re.Match) -> str:
    digits, text = m.group(1), m.string
    # Only the nearby words matter; a bounded window keeps long texts linear.
    before, after = text[max(0, m.start() - 24): m.start()], text[m.end(): m.end() + 8]
    if _YEAR_BEFORE.search(before) or _YEAR_AFTER.match(after):
        return _year(digits)
    return _cardinal(digits)


def _spell_english_numbers_first(text: str) -> str:
    """Spell the number forms wetext 0.1.8 gets wrong ("$1,234.56" -> "thousand ... point five six
    dollars", "1000" -> "ten hundred", "1990s" -> "... seconds", "#1" crashes it)."""
    text = _MONEY.sub(_money, text)
    text = _GROUPED.sub(lambda m: _decimal(m.group(1).replace(",", ""), m.group(2)), text)
    text = _DECADE.sub(lambda m: _plural_number_word(_year(m.group(0)[:4])), text)
    text = _HASH_NUMBER.sub(lambda m: f"number {_cardinal(m.group(1))}", text)
    return _FOUR_DIGITS.sub(_four_digits, text)


def _spell_remaining_digits(text: str) -> str:
    """The official spell_out_number, fixed: ordinals read as ordinals, ASCII digits only, no
    commas inside numbers, very long runs read digit by digit (never a crash)."""
    engine = _inflect_engine()

    def ordinal(m: re.Match) -> str:
        if len(m.group(1)) > _MAX_SPELLED_DIGITS:
            return m.group(0)  # left for the cardinal pass below
        return engine.number_to_words(engine.ordinal(m.group(1)), andword="and", comma="")

    text = _ORDINAL.sub(ordinal, text)
    return _ASCII_DIGITS.sub(lambda m: _cardinal(m.group(0)), text)


# --------------------------------------------------------------------------------------------
# wetext, a few sentences at a time
# --------------------------------------------------------------------------------------------
@lru_cache(maxsize=2)
def _wetext_normalizer(lang: str):
    from wetext import Normalizer

    return Normalizer(lang=lang, operator="tn", remove_erhua=False)


_WETEXT_ESCAPE = re.compile(r'\\(["\\])')
_SENTENCE_END = re.compile(r"(?<=[.!?;:。！？；\n])\s*")


def _sentence_spans(text: str) -> list[str]:
    """Consecutive spans of ``text``, each ending after a sentence mark and the whitespace after it."""
    spans: list[str] = []
    start = 0
    for m in _SENTENCE_END.finditer(text):
        if m.end() > start:
            spans.append(text[start:m.end()])
            start = m.end()
    if start < len(text):
        spans.append(text[start:])
    return spans


def _chunks(text: str, limit: int = _WETEXT_CHUNK_CHARS) -> list[str]:
    """Cut ``text`` into consecutive chunks of about ``limit`` characters at sentence ends (spaces,
    then any non-digit boundary, for unpunctuated runs). ``"".join(chunks) == text``."""
    if len(text) <= limit:
        return [text]
    chunks: list[str] = []
    current = ""
    for span in _sentence_spans(text):
        while len(span) > limit:  # one sentence over the limit: cut at a space or between non-digits
            cut = span.rfind(" ", 0, limit) + 1
            if cut <= 0:
                cut = limit
                while cut > 1 and span[cut - 1].isdigit() and span[cut].isdigit():
                    cut -= 1
            if current:
                chunks.append(current)
                current = ""
            chunks.append(span[:cut])
            span = span[cut:]
        if current and len(current) + len(span) > limit:
            chunks.append(current)
            current = ""
        current += span
    if current:
        chunks.append(current)
    return chunks


def _wetext(text: str, lang: str) -> str:
    normalizer = _wetext_normalizer(lang)
    out = []
    for chunk in _chunks(text):
        trailing = chunk[len(chunk.rstrip()):]
        # wetext 0.1.8 asserts on some inputs (e.g. "+1 555 123 4567", "5% \n x"); English is tried again
        # with its whitespace collapsed (which wetext's output is anyway), then goes on unnormalised (the
        # remaining-digits pass still spells its numbers): a normaliser bug must not stop synthesis.
        attempts = [chunk, " ".join(chunk.split())] if lang == "en" else [chunk]
        normalized = attempts[-1].strip()
        for attempt in attempts:
            try:
                # wetext's English grammar escapes quotes and backslashes in its output; undo that.
                normalized = _WETEXT_ESCAPE.sub(r"\1", normalizer.normalize(attempt))
                break
            except Exception:  # noqa: BLE001 - see above
                continue
        # English: wetext collapses whitespace anyway, one space keeps words apart. Chinese: keep
        # the original (newlines and spaces are dealt with by the Chinese cleanup rules).
        if trailing and lang == "en":
            trailing = " "
        out.append(normalized + trailing)
    return "".join(out).strip()


# --------------------------------------------------------------------------------------------
# Our default path
# --------------------------------------------------------------------------------------------
def _break_long_pieces(pieces: list[str], length: Callable[[str], int], lang: str) -> list[str]:
    """Cut pieces longer than HARD_MAX_LEN at commas, else spaces, else anywhere."""
    out: list[str] = []
    for piece in pieces:
        if length(piece) <= HARD_MAX_LEN:
            out.append(piece)
            continue
        parts = re.findall(r"[^,，、]+[,，、]*|[,，、]+", piece)
        if any(length(p) > HARD_MAX_LEN for p in parts):
            parts = re.findall(r"\S+\s*|\s+", piece)
        current, current_len = "", 0
        for part in parts:
            part_len = length(part)
            while part_len > HARD_MAX_LEN:  # a single "word" that is too long: cut by characters
                step = max(1, len(part) * HARD_MAX_LEN // part_len)
                while step > 1 and length(part[:step]) > HARD_MAX_LEN:  # BPE is not proportional
                    step = step * 9 // 10
                if current:
                    out.append(current)
                    current, current_len = "", 0
                out.append(part[:step])
                part = part[step:]
                part_len = length(part)
            if current and current_len + part_len > HARD_MAX_LEN:
                out.append(current)
                current, current_len = "", 0
            current += part
            current_len += part_len
        if current:
            out.append(current)
    return out


def _wetext_normalize(text: str, tokenizer: _Encoder, split: bool) -> list[str] | str:
    if _has_markup(text):  # instruction markup: untouched, like the official code
        return [text] if split else text
    text = text.strip()
    if contains_chinese(text):
        text = _wetext(text, "zh")
        # The official rules, run until nothing changes: in one pass, blanks are dropped before
        # "." becomes "。" and before brackets vanish, so a second pass would still change the text
        # (normalize would not be idempotent). Every rule shortens text or maps into a fixed point.
        for _ in range(8):
            cleaned = replace_blank(_chinese_cleanup(text).strip())
            if cleaned == text:
                break
            text = cleaned
        lang = "zh"
    else:
        text = _spell_remaining_digits(_wetext(_spell_english_numbers_first(text), "en"))
        lang = "en"
    if not split:
        return text
    if not text:
        return []
    length = _length_fn(lang, tokenizer)
    pieces = _break_long_pieces(split_paragraph(text, length, lang), length, lang)
    return [p for p in pieces if p.strip() and not is_only_punctuation(p)]


_BRACKETED = re.compile(r"\[[^\[\]\s]{1,6}\]")


def _pronunciation_spans(text: str) -> list[tuple[int, int]]:
    """Where CosyVoice 3 pronunciation tokens (``[AH0]``, ``[j][ǐ]``) sit in ``text``."""
    from .cosyvoice3_tokens import PRONUNCIATION_TOKENS

    return [m.span() for m in _BRACKETED.finditer(text) if m.group() in PRONUNCIATION_TOKENS]


def _normalize_between(text: str, spans: list[tuple[int, int]], normalize: Callable[[str], str]) -> str:
    """``text`` with what lies between the pronunciation tokens normalised and the tokens kept as typed.

    The official normalisers would spell a phoneme's stress digit (``[AH0]`` -> ``[AHzero]``, the official quirk
    CosyVoice 3 README 14.10), so the markup would never reach the model; the blanks around a token are kept."""
    out, at = [], 0
    for start, end in [*spans, (len(text), len(text))]:
        segment = text[at:start]
        core = segment.strip()
        if core:
            lead, trail = segment[:segment.index(core[0])], segment[len(segment.rstrip()):]
            segment = lead + normalize(core) + trail
        out += [segment, text[start:end]]
        at = end
    return "".join(out)


def _split_normalized(text: str, tokenizer: _Encoder) -> list[str]:
    """LM-sized pieces of text that is already normalised (the default path's splitter)."""
    lang = "zh" if contains_chinese(text) else "en"
    length = _length_fn(lang, tokenizer)
    pieces = _break_long_pieces(split_paragraph(text.strip(), length, lang), length, lang)
    return [p for p in pieces if p.strip() and not is_only_punctuation(p)]


def normalize_and_split(
    text: str,
    tokenizer: _Encoder,
    *,
    normalizer: NormalizerName = "wetext",
    split: bool = True,
) -> list[str] | str:
    """Normalise ``text`` and (``split=True``) cut it into LM-sized pieces; ``split=False`` gives the
    normalised string (what the official code does for prompt transcripts).

    ``tokenizer`` counts English tokens for the splitter (anything with ``encode(str) -> list``).
    Raises :class:`TextInputError` for unusable text (see :func:`clean_text`) and, with
    ``split=True``, when nothing speakable is left (e.g. text made only of punctuation).
    """
    if normalizer not in NORMALIZERS:
        raise ValueError(f"normalizer must be one of {NORMALIZERS}, not {normalizer!r}")
    text = clean_text(text)
    spans = [] if normalizer == "none" or _has_markup(text) else _pronunciation_spans(text)
    if spans:
        whole = _normalize_between(text, spans, lambda t: normalize_and_split(t, tokenizer, normalizer=normalizer,
                                                                              split=False))
        result = _split_normalized(whole, tokenizer) if split else whole
    elif normalizer == "none":
        result = [text] if split else text
    elif normalizer == "inflect":
        result = reference_text_normalize(text, tokenizer, split=split)
    else:
        result = _wetext_normalize(text, tokenizer, split)
    if split and not result:
        raise TextInputError("The text has nothing to speak (only punctuation or symbols); add some words.")
    return result


class TextFrontend:
    """Tokenizer + normaliser: what the pipeline uses to turn user text into LM input."""

    def __init__(self, tokenizer, normalizer: NormalizerName = "wetext"):
        if normalizer not in NORMALIZERS:
            raise ValueError(f"normalizer must be one of {NORMALIZERS}, not {normalizer!r}")
        self.tokenizer = tokenizer
        self.normalizer: NormalizerName = normalizer

    @classmethod
    def from_model_dir(cls, model_dir: str | Path, normalizer: NormalizerName = "wetext") -> "TextFrontend":
        """Load the tokenizer from ``<model_dir>/CosyVoice-BlankEN``."""
        from ..config import QWEN_DIR
        from .tokenizer import load_tokenizer

        return cls(load_tokenizer(Path(model_dir) / QWEN_DIR), normalizer)

    def split_sentences(self, text: str) -> list[str]:
        """Normalised pieces to synthesise one after another (never empty; raises TextInputError)."""
        return normalize_and_split(text, self.tokenizer, normalizer=self.normalizer, split=True)

    def normalize(self, text: str) -> str:
        """The whole text normalised, unsplit (for prompt transcripts and instructions)."""
        return normalize_and_split(text, self.tokenizer, normalizer=self.normalizer, split=False)

    def tokenize(self, text: str) -> torch.Tensor:
        """Token ids of already-normalised ``text`` as a LongTensor [1, T] (T may be 0)."""
        ids = self.tokenizer.encode(text)
        return torch.tensor([ids], dtype=torch.long).reshape(1, len(ids))
