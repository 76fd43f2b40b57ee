"""Pronunciation lists: a word or phrase -> how to say it, applied to a line before text normalisation.

    lexicon = Pronunciations([Pronunciation("Nguyen", "Win"), Pronunciation("gif", "jif")])
    lexicon.apply("GIF files from Nguyen.")        # -> "JIF files from Win."

* **Whole words only**: ``gif`` never changes ``gifted``; a phrase (``New York``) matches across any run of
  spaces or a line break; the longest entry wins where entries overlap.
* **Case-aware**: an entry written with a capital matches exactly that case (``US`` -> "you ess" leaves the
  pronoun "us" alone); an entry in lower case matches any case, and the respelling follows the case of what
  it replaced (``GIF`` -> ``JIF``, ``Gif`` -> ``Jif``). ``match_case`` overrides either way.
* Fine-grained tags (``[laughter]``, ``<strong>``) are never respelled.
* One pass: a respelling is never respelled again.

A project has its own list and there is one global list (``pronunciations.json`` in the user-data folder);
:meth:`Pronunciations.merged` puts the project's entries over the global ones for the same word.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Iterable

from .errors import TextInputError
from .script_sentences import TAG

FORMAT_VERSION = 1
MAX_WORD_CHARS = 100
MAX_SAY_CHARS = 300
GLOBAL_FILE = "pronunciations.json"


@dataclass(frozen=True)
class Pronunciation:
    """``word`` (a word or phrase as scripts write it) is said as ``say``. match_case: None = decided by the
    word (exact case when it has a capital letter), True / False = always / never."""

    word: str
    say: str
    match_case: bool | None = None

    def __post_init__(self) -> None:
        for what, value, limit in (("word", self.word, MAX_WORD_CHARS), ("respelling", self.say, MAX_SAY_CHARS)):
            if not isinstance(value, str) or not value.strip():
                raise TextInputError(f"A pronunciation needs a {what}; it is empty.")
            if len(value) > limit or "\n" in value:
                raise TextInputError(f"The {what} {value[:30]!r} is too long (at most {limit} characters, one line).")
        object.__setattr__(self, "word", " ".join(self.word.split()))
        object.__setattr__(self, "say", " ".join(self.say.split()))

    @property
    def case_sensitive(self) -> bool:
        return self.match_case if self.match_case is not None else self.word != self.word.lower()

    @property
    def key(self) -> str:
        """Entries with the same key are the same entry (a project's overrides the global one)."""
        return self.word if self.case_sensitive else self.word.casefold()

    def pattern(self) -> str:
        body = r"\s+".join(re.escape(w) for w in self.word.split())
        return rf"(?<!\w)({body})(?!\w)" if self.case_sensitive else rf"(?<!\w)((?i:{body}))(?!\w)"

    def respelled(self, matched: str) -> str:
        """The respelling, in the case of ``matched`` when the entry ignores case."""
        if self.case_sensitive or not any(c.isalpha() for c in matched):
            return self.say
        if matched.isupper() and len([c for c in matched if c.isalpha()]) > 1:
            return self.say.upper()
        if matched[0].isupper() and self.say[:1].islower():
            return self.say[0].upper() + self.say[1:]
        return self.say


@dataclass(frozen=True)
class Respelling:
    """Where :meth:`Pronunciations.apply` changed the text: ``text[start:end]`` became ``say``."""

    start: int
    end: int
    entry: Pronunciation
    say: str


class Pronunciations:
    """An ordered list of :class:`Pronunciation` s, one per word (the last one given for a word wins)."""

    def __init__(self, entries: Iterable[Pronunciation] = ()):
        by_key: dict[str, Pronunciation] = {}
        for e in entries:
            if not isinstance(e, Pronunciation):
                raise TypeError("Pronunciations holds Pronunciation values")
            by_key.pop(e.key, None)
            by_key[e.key] = e
        self.entries: tuple[Pronunciation, ...] = tuple(by_key.values())

    def __len__(self) -> int:
        return len(self.entries)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Pronunciations) and other.entries == self.entries

    def __repr__(self) -> str:
        return f"Pronunciations({list(self.entries)!r})"

    def merged(self, over: "Pronunciations") -> "Pronunciations":
        """These entries with ``over``'s on top (the project's list over the global one)."""
        return Pronunciations(self.entries + over.entries)

    @cached_property
    def _regex(self) -> re.Pattern | None:
        if not self.entries:
            return None
        return re.compile("|".join(e.pattern() for e in self._ordered))  # one group per entry, in this order

    @cached_property
    def _ordered(self) -> list[Pronunciation]:
        return sorted(self.entries, key=lambda e: len(e.word), reverse=True)  # longest first: "New York City"

    def find(self, text: str) -> list[Respelling]:
        """Every place ``text`` would be respelled (for highlighting), outside fine-grained tags."""
        if self._regex is None:
            return []
        found, tags = [], [(m.start(), m.end()) for m in TAG.finditer(text)]
        for m in self._regex.finditer(text):
            if any(a < m.end() and m.start() < b for a, b in tags):
                continue
            entry = self._ordered[next(i for i, g in enumerate(m.groups()) if g is not None)]
            found.append(Respelling(m.start(), m.end(), entry, entry.respelled(m.group(0))))
        return found

    def apply(self, text: str) -> str:
        """``text`` with every entry's word replaced by its respelling (see the module docstring)."""
        out, pos = [], 0
        for r in self.find(text):
            out += [text[pos:r.start], r.say]
            pos = r.end
        return "".join(out) + text[pos:]

    # ---- JSON ------------------------------------------------------------------------------
    def to_json(self) -> list[dict]:
        return [{"word": e.word, "say": e.say, **({} if e.match_case is None else {"match_case": e.match_case})}
                for e in self.entries]

    @classmethod
    def from_json(cls, data: object, where: str = "The pronunciation list") -> "Pronunciations":
        """The list in ``data`` (what :meth:`to_json` made); TextInputError naming ``where`` otherwise."""
        if not isinstance(data, list):
            raise TextInputError(f"{where} is not a list of words and respellings.")
        entries = []
        for i, item in enumerate(data, start=1):
            if not isinstance(item, dict) or not isinstance(item.get("word"), str) or \
                    not isinstance(item.get("say"), str) or not isinstance(item.get("match_case", False), bool):
                raise TextInputError(f"{where}: entry {i} needs a word and a respelling (text).")
            try:
                entries.append(Pronunciation(item["word"], item["say"], item.get("match_case")))
            except TextInputError as e:
                raise TextInputError(f"{where}: entry {i}: {e}") from None
        return cls(entries)


def global_pronunciations_path() -> Path:
    import platformdirs

    return Path(platformdirs.user_data_dir("Timbre", appauthor=False)) / GLOBAL_FILE


def load_global_pronunciations(path: str | Path | None = None) -> Pronunciations:
    """The global list (empty when there is none yet); a damaged file is a TextInputError, never ignored."""
    path = Path(path) if path is not None else global_pronunciations_path()
    try:
        raw = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return Pronunciations()
    except (OSError, UnicodeDecodeError) as e:
        raise TextInputError(f"The pronunciation list {path} cannot be read ({e}).") from e
    try:
        data = json.loads(raw)
    except ValueError as e:
        raise TextInputError(f"The pronunciation list {path} is damaged ({e}); fix or remove it.") from e
    version = data.get("format") if isinstance(data, dict) else None
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise TextInputError(f"The pronunciation list {path} was made by a newer Timbre, or is not one.")
    return Pronunciations.from_json(data.get("entries"), str(path))


def save_global_pronunciations(lexicon: Pronunciations, path: str | Path | None = None) -> Path:
    from .atomic import atomic_write_text

    path = Path(path) if path is not None else global_pronunciations_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps({"format": FORMAT_VERSION, "entries": lexicon.to_json()}, ensure_ascii=False, indent=1)
    return atomic_write_text(path, text + "\n")
