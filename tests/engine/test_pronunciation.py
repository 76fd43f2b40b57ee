"""Pronunciation lists: whole words, case-aware, longest first, never inside tags, project over global, saved
as a real file."""
from __future__ import annotations

import json

import pytest

from engine.errors import TextInputError
from engine.pronunciation import (Pronunciation, Pronunciations, load_global_pronunciations,
                                  save_global_pronunciations)

LEXICON = Pronunciations([Pronunciation("gif", "jif"), Pronunciation("US", "you ess"), Pronunciation("Nguyen", "Win"),
                          Pronunciation("New York", "Noo Yawk"), Pronunciation("York", "Yoke"),
                          Pronunciation("strong", "STRONG"), Pronunciation("C++", "see plus plus")])


@pytest.mark.parametrize("text, said", [
    ("A gif, a GIF and a Gif.", "A jif, a JIF and a Jif."),           # lower-case entry: any case, case kept
    ("gifted gifs", "gifted gifs"),                                    # whole words only
    ("The US and us.", "The you ess and us."),                         # capitalised entry: exact case only
    ("Mr Nguyen, NGUYEN.", "Mr Win, NGUYEN."),
    ("New   York and York.", "Noo Yawk and Yoke."),                   # phrases across spaces; longest first
    ("new york", "new york"),                                          # a capitalised phrase keeps its case
    ("<strong>strong</strong> [breath]", "<strong>STRONG</strong> [breath]"),  # never inside a tag
    ("I write C++ code.", "I write see plus plus code."),
    ("No change here.", "No change here."),
])
def test_respelling(text, said):
    assert LEXICON.apply(text) == said


def test_respellings_are_not_respelled_again():
    loop = Pronunciations([Pronunciation("tomato", "tomahto"), Pronunciation("tomahto", "tomato")])
    assert loop.apply("tomato tomahto") == "tomahto tomato"


def test_project_list_over_global_and_match_case_override():
    glob = Pronunciations([Pronunciation("Siobhan", "Shivawn"), Pronunciation("data", "dayta")])
    project = Pronunciations([Pronunciation("data", "dahta")])
    merged = glob.merged(project)
    assert merged.apply("Siobhan's data") == "Shivawn's dahta"
    exact = Pronunciations([Pronunciation("ai", "eye", match_case=True)])
    assert exact.apply("ai AI") == "eye AI"


@pytest.mark.parametrize("word, say", [("", "x"), ("x", "  "), ("a\nb", "x"), ("x" * 101, "y")])
def test_bad_entries_are_refused(word, say):
    with pytest.raises(TextInputError):
        Pronunciation(word, say)


def test_global_list_file_round_trip_and_damage(tmp_path):
    path = tmp_path / "pron.json"
    assert len(load_global_pronunciations(path)) == 0  # none yet
    save_global_pronunciations(LEXICON, path)
    assert load_global_pronunciations(path) == LEXICON
    path.write_text("{broken", encoding="utf-8")
    with pytest.raises(TextInputError, match="damaged"):
        load_global_pronunciations(path)
    path.write_text(json.dumps({"format": 99, "entries": []}), encoding="utf-8")
    with pytest.raises(TextInputError, match="newer"):
        load_global_pronunciations(path)
    path.write_text(json.dumps({"format": 1, "entries": [{"word": 3, "say": "x"}]}), encoding="utf-8")
    with pytest.raises(TextInputError, match="entry 1"):
        load_global_pronunciations(path)
