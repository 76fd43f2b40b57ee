"""The creator's sentences: where one utterance of a script is cut into the lines a narration lists.

These are the sentences as written (``"3"`` stays ``"3"``, five sentences stay five), not the engine's pieces
(:meth:`engine.Engine.sentences` normalises and packs sentences into LM-sized pieces; it runs later, inside a
line's synthesis). Boundaries come from pySBD, a rule-based segmenter that knows abbreviations
("Mr. Smith", "e.g.", "3 p.m.") and CJK sentence punctuation, with two fixes of ours:

* a sentence never ends inside a wrapping tag (``<strong>Stop. Now.</strong>`` stays one line, since the LM
  must see both tags in one request);
* the spans are exact character offsets of the text given, whitespace trimmed, so an editor can underline
  a line.
"""
from __future__ import annotations

import re
from functools import lru_cache

from .frontend.tokenizer import FINE_GRAINED_TAGS

WRAP_TAGS: tuple[tuple[str, str], ...] = tuple((t.token, t.close) for t in FINE_GRAINED_TAGS if t.close)
_TAG_TOKENS = sorted({t.token for t in FINE_GRAINED_TAGS} | {c for _, c in WRAP_TAGS}, key=len, reverse=True)
TAG = re.compile("|".join(re.escape(t) for t in _TAG_TOKENS))  # any fine-grained tag token, as written


@lru_cache(maxsize=1)
def _segmenter():
    import pysbd

    return pysbd.Segmenter(language="en", clean=False, char_span=True)


def open_wrap_tags(text: str) -> list[str]:
    """The wrapping tags (``<strong>``, ``<laughter>``) opened in ``text`` and not closed after."""
    return [opening for opening, closing in WRAP_TAGS if text.count(opening) > text.count(closing)]


@lru_cache(maxsize=4096)  # a studio re-parses after every edit; most paragraphs are unchanged
def sentence_spans(text: str) -> tuple[tuple[int, int], ...]:
    """``(start, end)`` character offsets of each sentence of ``text`` (stripped, never empty), in order."""
    raw = [(s.start, s.end) for s in _segmenter().segment(text)] if text.strip() else []
    merged: list[list[int]] = []
    for start, end in raw:
        if merged and open_wrap_tags(text[merged[-1][0]:merged[-1][1]]):
            merged[-1][1] = end  # still inside <strong>...: the sentence goes on
        else:
            merged.append([start, end])
    spans = []
    for start, end in merged:
        piece = text[start:end]
        lead = len(piece) - len(piece.lstrip())
        trail = len(piece) - len(piece.rstrip())
        if end - trail > start + lead:
            spans.append((start + lead, end - trail))
    return tuple(spans)
