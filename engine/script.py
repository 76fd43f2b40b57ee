"""Narration scripts: plain text (Markdown-like) with a cast, directions and pauses, parsed into lines.

The format (README, *Narration projects*)::

    # Chapter One                        a heading starts a chapter (any level; not spoken)
    The night was dark.                  no name: the narrator (cast member "Narrator")
    Ann: Who is there?                   one line spoken by Ann
    {whisper, frightened} Bob: It's me.  a direction (free text) for that line, before or after the name
    {Calm} It was only Bob.              ... or a preset's name (resources/presets), {Group/Name} when ambiguous
    [Ann]                                a block: the following lines are Ann's, up to the next [Name],
    I knew it. [laughter] Come in.       heading or [Narrator]; fine-grained tags are kept as written
    [pause 1.5s]                         silence (on its own line or inside a line: 1.5s, 1.5, 500ms)
    \\Note: this is narration.            a backslash keeps the line literal (no name, no direction)

Lines wrapped in the source join their neighbours (a paragraph is one run of text until a blank line), except
that a ``Name:`` line is one source line. Each utterance is cut into the creator's sentences
(:mod:`engine.script_sentences`); those are the :class:`ScriptLine` s a narration lists and takes are made for.

A malformed script never raises here: :func:`parse_script` returns every problem as a value
(:class:`ScriptProblem`, with line and column for inline display) next to what it could parse;
:meth:`Script.check` raises :class:`~engine.errors.ScriptError` listing them, for a render that must not go on.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field, replace
from typing import Iterable, Mapping

from .direction_presets import find_preset
from .errors import ScriptError
from .script_sentences import TAG as _TAG
from .script_sentences import WRAP_TAGS, sentence_spans

NARRATOR = "Narrator"
MAX_PAUSE_S = 60.0
MAX_NAME_CHARS = 40

_HEADING = re.compile(r"^ {0,3}(#{1,6})(?:[ \t]+(.*?))?[ \t]*#*[ \t]*$")
_BRACKET_LINE = re.compile(r"^\s*\[([^\[\]]*)\]\s*$")
_PAUSE = re.compile(r"\[\s*pause\b([^\[\]]*)\]", re.IGNORECASE)
_PAUSE_LENGTH = re.compile(r"^\s*(?P<n>[+-]?(?:\d+(?:\.\d*)?|\.\d+))\s*(?P<unit>ms|s|sec|secs|seconds?)?\s*$",
                           re.IGNORECASE)
_DIRECTION = re.compile(r"\{([^{}]*)\}[ \t]*")
_NAME = re.compile(r"^([^:：\n]{1,%d}?)[ \t]*(?::(?=[ \t]+\S)|：(?=[ \t]*\S))[ \t]*" % MAX_NAME_CHARS)
_NAME_WORD = re.compile(r"^[^\W_](?:[\w'’.\-]*\w)?\.?$")


def name_key(name: str) -> str:
    """How cast names are compared: case-folded, runs of whitespace as one space."""
    return " ".join(name.split()).casefold()


# --------------------------------------------------------------------------------------------
# Values
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Span:
    """Where something is in the script: 1-based lines and columns (characters), ``end_column`` exclusive."""

    line: int
    column: int
    end_line: int
    end_column: int


@dataclass(frozen=True)
class ScriptProblem:
    """Something wrong in the script, for inline display: ``code`` (stable, e.g. ``unknown-speaker``), a
    sentence for the creator, and where."""

    code: str
    message: str
    span: Span

    def describe(self) -> str:
        return f"line {self.span.line}, column {self.span.column}: {self.message}"


@dataclass(frozen=True)
class Mark:
    """A highlight for the editor: ``kind`` is heading, speaker, block, direction, pause or tag."""

    kind: str
    span: Span


@dataclass(frozen=True)
class ScriptLine:
    """One of the creator's sentences, as written (tags kept; numbers not spelled).

    speaker: the cast member's name (:data:`NARRATOR` when none is written; the cast's spelling when a cast
    was given). direction: what the braces said ("" none). instruction: what the LM is told (the preset's
    text for a preset name, else the direction itself). preset: the preset's name or "". paragraph_end: the
    last line before a blank line, a heading or a change of speaker (a longer pause follows it)."""

    index: int
    text: str
    speaker: str
    chapter: str | None
    span: Span
    direction: str = ""
    instruction: str = ""
    preset: str = ""
    paragraph_end: bool = False

    @property
    def key(self) -> tuple[str, str, str]:
        """What identifies the line across edits: (speaker, direction, text with whitespace collapsed)."""
        return name_key(self.speaker), " ".join(self.direction.split()), " ".join(self.text.split())


@dataclass(frozen=True)
class ScriptPause:
    """``[pause 1.5s]``: silence of ``seconds`` at this point."""

    seconds: float
    chapter: str | None
    span: Span


@dataclass(frozen=True)
class Script:
    """A parsed script: ``items`` (lines and pauses in order), the ``problems`` found, editor ``marks`` and the
    ``speakers`` named (in order of first use, the narrator included when it speaks)."""

    source: str
    items: tuple[ScriptLine | ScriptPause, ...]
    problems: tuple[ScriptProblem, ...]
    marks: tuple[Mark, ...]
    speakers: tuple[str, ...]
    chapters: tuple[str, ...] = ()

    @property
    def lines(self) -> tuple[ScriptLine, ...]:
        return tuple(i for i in self.items if isinstance(i, ScriptLine))

    @property
    def ok(self) -> bool:
        return not self.problems

    def check(self) -> "Script":
        """This script, or :class:`~engine.errors.ScriptError` listing its problems (a render calls this)."""
        if self.problems:
            raise ScriptError(self.problems)
        if not self.lines:
            raise ScriptError((), "The script has no lines to speak. Write some text first.")
        return self


# --------------------------------------------------------------------------------------------
# Parser
# --------------------------------------------------------------------------------------------
@dataclass
class _Utterance:
    """Source text being gathered for one speaker and direction: (text, line, 0-based column) parts."""

    speaker: str | None
    speaker_span: Span | None
    direction: tuple[str, Span] | None
    single_line: bool
    parts: list[tuple[str, int, int]] = field(default_factory=list)


class _Parser:
    def __init__(self, cast: Iterable[str] | None, presets: Mapping[str, str]):
        self.cast = None if cast is None else {name_key(n): n for n in cast}
        self.presets = presets
        self.items: list[ScriptLine | ScriptPause] = []
        self.problems: list[ScriptProblem] = []
        self.marks: list[Mark] = []
        self.speakers: dict[str, str] = {}
        self.chapters: list[str] = []
        self.chapter: str | None = None
        self.block: tuple[str, Span] | None = None
        self.utterance: _Utterance | None = None
        self.pending: tuple[str, Span] | None = None  # a {direction} alone on its line, for the next line

    def problem(self, code: str, message: str, span: Span) -> None:
        self.problems.append(ScriptProblem(code, message, span))

    # ---- line kinds ------------------------------------------------------------------------
    def feed(self, n: int, raw: str) -> None:
        if not raw.strip():
            return self.end_paragraph()
        heading = _HEADING.match(raw)
        if heading:
            return self.heading(n, raw, heading)
        bracket = _BRACKET_LINE.match(raw)
        if bracket and not _TAG.fullmatch(f"[{bracket.group(1)}]"):
            self.flush()
            if _PAUSE.fullmatch(raw.strip()):
                return self.pause(raw.strip(), n, raw.index("["))
            return self.block_header(n, raw, bracket)
        self.text_line(n, raw)

    def heading(self, n: int, raw: str, m: re.Match) -> None:
        self.end_paragraph()
        span = Span(n, 1, n, len(raw) + 1)
        title = (m.group(2) or "").strip()
        if not title:
            self.problem("empty-heading", "This heading has no title; write one after the #, e.g. '# Chapter 1'.",
                         span)
            return
        self.marks.append(Mark("heading", span))
        self.chapter, self.block = title, None
        self.chapters.append(title)

    def block_header(self, n: int, raw: str, m: re.Match) -> None:
        start = raw.index("[")
        span = Span(n, start + 1, n, start + len(m.group(1)) + 3)
        name = m.group(1).strip()
        if not _is_name_shaped(name) and self.find_cast(name) is None:
            self.problem("bad-name", f"[{name}] is not a cast member's name (letters and digits, at most "
                         f"{MAX_NAME_CHARS} characters); for silence write [pause 1.5s].", span)
            return
        self.marks.append(Mark("block", span))
        self.end_paragraph()
        self.block = None if name_key(name) == name_key(NARRATOR) else (name, span)

    def pause(self, token: str, n: int, col: int) -> None:
        span = Span(n, col + 1, n, col + len(token) + 1)
        self.marks.append(Mark("pause", span))
        seconds = _pause_seconds(_PAUSE.fullmatch(token).group(1))
        if isinstance(seconds, str):
            self.problem("bad-pause", seconds, span)
            return
        self.items.append(ScriptPause(seconds, self.chapter, span))

    def text_line(self, n: int, raw: str) -> None:
        col = len(raw) - len(raw.lstrip())
        rest = raw[col:].rstrip()
        if rest.startswith("\\"):  # literal: no name, no direction
            return self.add_text(n, col + 1, rest[1:], speaker=None, direction=None, new=False)
        direction, col, rest = self.take_direction(n, col, rest)
        speaker = None
        m = _NAME.match(rest)
        if m and (self.find_cast(m.group(1)) is not None or _is_name_shaped(m.group(1))):
            speaker = (m.group(1).strip(), Span(n, col + 1, n, col + len(m.group(1).rstrip()) + 1))
            self.marks.append(Mark("speaker", speaker[1]))
            col, rest = col + m.end(), rest[m.end():]
            second, col, rest = self.take_direction(n, col, rest)
            if second and direction:
                self.problem("two-directions", "A line takes one direction; merge the two {...} into one.",
                             second[1])
            direction = direction or second
        new = speaker is not None or direction is not None
        if rest.startswith("{") and "}" not in rest:
            self.problem("unclosed-direction", "This direction has no closing }.",
                         Span(n, col + 1, n, col + len(rest) + 1))
            col, rest, new = col + 1, rest[1:], True  # meant as a directed line of its own
        if not rest and direction and speaker is None:  # a direction alone: it directs the next line
            self.end_pending()
            self.pending = direction
            return
        self.add_text(n, col, rest, speaker=speaker, direction=direction, new=new)

    def take_direction(self, n: int, col: int, rest: str) -> tuple[tuple[str, Span] | None, int, str]:
        m = _DIRECTION.match(rest)
        if not m:
            return None, col, rest
        span = Span(n, col + 1, n, col + len(m.group(0).rstrip()) + 1)
        self.marks.append(Mark("direction", span))
        return (m.group(1), span), col + m.end(), rest[m.end():]

    # ---- utterances ------------------------------------------------------------------------
    def add_text(self, n: int, col: int, text: str, *, speaker, direction, new: bool) -> None:
        if self.pending is not None:
            if direction is not None:
                self.problem("two-directions", "This line has its own direction, so the one on the line above "
                             "directs nothing; remove one of them.", self.pending[1])
            direction, self.pending, new = direction or self.pending, None, True
        u = self.utterance
        if new or u is None or u.single_line:
            self.flush()
            who = speaker or self.block
            u = self.utterance = _Utterance(who[0] if who else None, who[1] if who else None, direction,
                                            single_line=speaker is not None)
        u.parts.append((text, n, col))

    def flush(self) -> None:
        u, self.utterance = self.utterance, None
        if u is None:
            return
        joined, where = _join(u.parts)
        speaker = self.speaker(u)
        direction = self.direction(u.direction)
        said, pos = 0, 0
        for m in list(_PAUSE.finditer(joined)) + [None]:
            end = m.start() if m else len(joined)
            for a, b in sentence_spans(joined[pos:end]):
                self.sentence(joined, pos + a, pos + b, where, speaker, direction)
                said += 1
            if m:
                s = where(m.start(), m.end())
                self.pause(m.group(0), s.line, s.column - 1)
                said, pos = said + 1, m.end()
        if not said:
            self.problem("empty-line", f"{u.speaker or 'This line'} has nothing to say here; write the text "
                         "after the name or direction.", u.speaker_span or (u.direction or ("", where(0, 0)))[1])

    def sentence(self, joined: str, a: int, b: int, where, speaker: str, direction: tuple[str, str, str]) -> None:
        text, span = joined[a:b], where(a, b)
        for bad in ("{", "}"):
            if bad in text:
                self.problem("misplaced-brace", "A direction {...} goes at the start of a line (before or after "
                             "the name); braces elsewhere would be read out.", span)
                break
        for opening, closing in WRAP_TAGS:
            if text.count(opening) != text.count(closing):
                self.problem("unclosed-tag", f"{opening} needs its {closing} in the same sentence.", span)
        self.marks.extend(Mark("tag", where(a + m.start(), a + m.end())) for m in _TAG.finditer(text))
        if speaker == NARRATOR and self.cast is not None and name_key(NARRATOR) not in self.cast:
            self.problem("no-narrator", "This line has no speaker, so the narrator says it, but the cast has no "
                         f"{NARRATOR}: add one (or write 'Name: ...').", span)
        last = next((i for i in reversed(self.items) if isinstance(i, ScriptLine)), None)
        if last is not None and last.chapter == self.chapter and name_key(last.speaker) != name_key(speaker):
            self.end_paragraph_line()  # a change of speaker is a turn: the longer pause
        index = last.index + 1 if last is not None else 0
        self.items.append(ScriptLine(index, text, speaker, self.chapter, span, *direction))

    def speaker(self, u: _Utterance) -> str:
        if u.speaker is None or name_key(u.speaker) == name_key(NARRATOR):
            name = self.cast.get(name_key(NARRATOR), NARRATOR) if self.cast else NARRATOR
        else:
            name = self.find_cast(u.speaker)
            if name is None:
                name = u.speaker
                if self.cast is not None:
                    self.problem("unknown-speaker", f"{u.speaker} is not in the cast: give {u.speaker} a voice "
                                 "(or start the line with \\ if it is not a name).", u.speaker_span)
        return self.speakers.setdefault(name_key(name), name)

    def direction(self, d: tuple[str, Span] | None) -> tuple[str, str, str]:
        if d is None:
            return "", "", ""
        text = " ".join(d[0].split())
        if not text:
            self.problem("empty-direction", "This direction is empty; write how to say the line, e.g. "
                         "{whisper} or a preset such as {Calm}.", d[1])
            return "", "", ""
        found = find_preset(self.presets, text)
        return (text, found[1], found[0]) if found else (text, text, "")

    def find_cast(self, name: str) -> str | None:
        if self.cast is None:
            return None
        return self.cast.get(name_key(name))

    def end_paragraph_line(self) -> None:
        for k in range(len(self.items) - 1, -1, -1):
            if isinstance(self.items[k], ScriptLine):
                self.items[k] = replace(self.items[k], paragraph_end=True)
                return

    def end_pending(self) -> None:
        if self.pending is not None:
            self.problem("lonely-direction", "This direction has no line to direct; put the text after it.",
                         self.pending[1])
            self.pending = None

    def end_paragraph(self) -> None:
        self.flush()
        self.end_pending()
        self.end_paragraph_line()

    def script(self, source: str) -> Script:
        self.end_paragraph()
        def where(x):
            return x.span.line, x.span.column

        return Script(source, tuple(self.items), tuple(sorted(self.problems, key=where)),
                      tuple(sorted(self.marks, key=where)),
                      tuple(self.speakers.values()), tuple(self.chapters))


def _is_name_shaped(name: str) -> bool:
    """1-4 words, each starting with a capital (or an uncased letter, as in CJK) or a digit after the first."""
    words = name.split()
    if not 1 <= len(words) <= 4 or len(name) > MAX_NAME_CHARS or not words[0][0].isalpha():
        return False
    return all(_NAME_WORD.match(w) and (w[0].isupper() or w[0].isdigit() or not w[0].islower()) for w in words)


def _pause_seconds(arg: str) -> float | str:
    """The length of ``[pause ARG]`` in seconds, or the sentence saying what is wrong with it."""
    m = _PAUSE_LENGTH.match(arg)
    if not arg.strip():
        return "A pause needs its length, e.g. [pause 1.5s] or [pause 500ms]."
    if not m:
        return f"'{arg.strip()}' is not a pause length; write seconds or milliseconds, e.g. [pause 1.5s]."
    seconds = float(m.group("n")) / (1000.0 if (m.group("unit") or "").lower() == "ms" else 1.0)
    if not (math.isfinite(seconds) and 0 < seconds <= MAX_PAUSE_S):
        return f"A pause must be longer than 0 and at most {MAX_PAUSE_S:g} seconds, not {arg.strip()}."
    return seconds


def _join(parts: list[tuple[str, int, int]]):
    """The parts of an utterance joined by spaces, and a function from (start, end) offsets in the joined
    text to the :class:`Span` in the source."""
    joined, starts = "", []
    for text, n, col in parts:
        if joined:
            joined += " "
        starts.append((len(joined), n, col))
        joined += text

    def where(offset: int, end: int) -> Span:
        def at(o: int, is_end: bool) -> tuple[int, int]:
            for start, n, col in reversed(starts):
                if start < o or (start == o and not is_end):
                    return n, col + (o - start) + 1
            return starts[0][1], starts[0][2] + o + 1
        (l1, c1), (l2, c2) = at(offset, False), at(end, True)
        return Span(l1, c1, l2, c2)

    return joined, where


def parse_script(text: str, *, cast: Iterable[str] | None = None,
                 presets: Mapping[str, str] | None = None) -> Script:
    """Parse ``text`` (see the module docstring). ``cast``: the cast members' names, when known: a name the
    script uses that is not among them is a problem (``unknown-speaker``), so is narration without a
    narrator. ``presets``: instruction presets by name (:func:`engine.direction_presets.load_instruction_presets`;
    default none, so every direction is free text). Never raises for a malformed script."""
    if not isinstance(text, str):
        raise TypeError(f"parse_script takes the script as text, not {type(text).__name__}")
    parser = _Parser(cast, presets or {})
    for n, raw in enumerate(text.replace("\r\n", "\n").replace("\r", "\n").split("\n"), start=1):
        parser.feed(n, raw)
    return parser.script(text)


__all__ = ["MAX_PAUSE_S", "NARRATOR", "Mark", "Script", "ScriptLine", "ScriptPause", "ScriptProblem", "Span",
           "name_key", "parse_script"]
