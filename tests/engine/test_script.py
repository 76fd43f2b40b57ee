"""The narration script format (engine.script): a table of scripts, well-formed and malformed, and what they parse
into. Problems are values with line/column; only Script.check raises."""
from __future__ import annotations

import pytest

from engine.direction_presets import load_instruction_presets
from engine.errors import ScriptError
from engine.script import NARRATOR, ScriptLine, ScriptPause, parse_script

PRESETS = load_instruction_presets()
CAST = ["Narrator", "Ann", "Bob", "Dr. Who"]


def lines(script):
    """(speaker, text, instruction) of every line; pauses as ("pause", seconds)."""
    return [("pause", i.seconds) if isinstance(i, ScriptPause) else (i.speaker, i.text, i.instruction)
            for i in script.items]


# (script, the items it parses into) - all with the cast above, so every problem would show
GOOD = [
    ("Plain narration.", [(NARRATOR, "Plain narration.", "")]),
    ("Mr. Smith came at 3 p.m. He sat down. Five sentences? Yes! Really.",
     [(NARRATOR, "Mr. Smith came at 3 p.m.", ""), (NARRATOR, "He sat down.", ""), (NARRATOR, "Five sentences?", ""),
      (NARRATOR, "Yes!", ""), (NARRATOR, "Really.", "")]),
    ("A line wrapped\nin the source joins.", [(NARRATOR, "A line wrapped in the source joins.", "")]),
    ("Ann: Who is there?\nBob: Me.", [("Ann", "Who is there?", ""), ("Bob", "Me.", "")]),
    ("ann: lower case name matches the cast.", [("Ann", "lower case name matches the cast.", "")]),
    ("Ann: Hello.\nThe door closed.", [("Ann", "Hello.", ""), (NARRATOR, "The door closed.", "")]),
    ("Dr. Who: Run.", [("Dr. Who", "Run.", "")]),
    ("{whisper, frightened} Ann: It's me.", [("Ann", "It's me.", "whisper, frightened")]),
    ("Ann: {whisper} It's me.", [("Ann", "It's me.", "whisper")]),
    ("{Calm} It was only Bob.", [(NARRATOR, "It was only Bob.", PRESETS["Calm"])]),
    ("{emotion/sad} Gone.", [(NARRATOR, "Gone.", PRESETS["Emotion/Sad"])]),
    ("[Ann]\nI knew it.\n\nStill Ann.\n[Narrator]\nBack.",
     [("Ann", "I knew it.", ""), ("Ann", "Still Ann.", ""), (NARRATOR, "Back.", "")]),
    ("[Ann]\n{Sad}\nWhy now?", [("Ann", "Why now?", PRESETS["Sad"])]),
    ("[Ann]\nMine.\nBob: Mine!\nAnn again.", [("Ann", "Mine.", ""), ("Bob", "Mine!", ""), ("Ann", "Ann again.", "")]),
    ("Wait.\n[pause 1.5s]\nGo.", [(NARRATOR, "Wait.", ""), ("pause", 1.5), (NARRATOR, "Go.", "")]),
    ("Wait [pause 500ms] now.", [(NARRATOR, "Wait", ""), ("pause", 0.5), (NARRATOR, "now.", "")]),
    ("[pause 2]\n[PAUSE 0.25 s]", [("pause", 2.0), ("pause", 0.25)]),
    ("I laughed [laughter] then. [breath] Again.",
     [(NARRATOR, "I laughed [laughter] then.", ""), (NARRATOR, "[breath] Again.", "")]),
    ("[laughter]", [(NARRATOR, "[laughter]", "")]),
    ("<strong>Stop. Now.</strong> she said.", [(NARRATOR, "<strong>Stop. Now.</strong> she said.", "")]),
    ("\\Note: this is narration.", [(NARRATOR, "Note: this is narration.", "")]),
    ("He had one rule: never look back.", [(NARRATOR, "He had one rule: never look back.", "")]),
    ("Time 10:30 is late.", [(NARRATOR, "Time 10:30 is late.", "")]),
    ("安娜：你好。我很好！", [("安娜", "你好。", ""), ("安娜", "我很好！", "")]),
    ("# One\n\n# Two\nText.", [(NARRATOR, "Text.", "")]),
    ("", []),
]


@pytest.mark.parametrize("text, expected", GOOD, ids=[g[0][:30] for g in GOOD])
def test_good_scripts(text, expected):
    cast = CAST + (["安娜"] if "安娜" in text else [])
    script = parse_script(text, cast=cast, presets=PRESETS)
    assert script.problems == ()
    assert lines(script) == expected


# (script, [(code, line, column)]) - every problem found, where it is
BAD = [
    ("Carol: Hi.", [("unknown-speaker", 1, 1)]),
    ("[Carol]\nHi.", [("unknown-speaker", 1, 1)]),
    ("[pause]", [("bad-pause", 1, 1)]),
    ("[pause soon]", [("bad-pause", 1, 1)]),
    ("[pause -1s]", [("bad-pause", 1, 1)]),
    ("[pause 0s]", [("bad-pause", 1, 1)]),
    ("[pause 61s]", [("bad-pause", 1, 1)]),
    ("Go [pause x] on.", [("bad-pause", 1, 4)]),
    ("Fine.\n  [pause 1 minute]", [("bad-pause", 2, 3)]),
    ("[Bad Name!]\nHi.", [("bad-name", 1, 1)]),
    ("{} Empty direction.", [("empty-direction", 1, 1)]),
    ("{unclosed direction", [("unclosed-direction", 1, 1)]),
    ("{lonely}\n\nText.", [("lonely-direction", 1, 1)]),
    ("{a} Ann: {b} Two.", [("two-directions", 1, 10)]),
    ("Ann: It is {odd} here.", [("misplaced-brace", 1, 6)]),
    ("<strong>Open. Never closed", [("unclosed-tag", 1, 1)]),
    ("#\nText.", [("empty-heading", 1, 1)]),
    ("Ann: {whisper}", [("empty-line", 1, 1)]),
    ("Ann: Hi.\nCarol: Ho.\n\n[pause abc]", [("unknown-speaker", 2, 1), ("bad-pause", 4, 1)]),
]


@pytest.mark.parametrize("text, expected", BAD, ids=[b[0][:30] for b in BAD])
def test_malformed_scripts_report_problems_as_values(text, expected):
    script = parse_script(text, cast=CAST, presets=PRESETS)  # never raises
    assert [(p.code, p.span.line, p.span.column) for p in script.problems] == expected
    assert all(p.message.endswith((".", ")")) and len(p.message) > 20 for p in script.problems)
    with pytest.raises(ScriptError) as caught:
        script.check()
    assert caught.value.problems == script.problems
    assert f"line {expected[0][1]}, column {expected[0][2]}" in str(caught.value)


def test_narration_without_a_narrator_in_the_cast():
    script = parse_script("Ann: Hi.\nThe end.", cast=["Ann"])
    assert [(p.code, p.span.line) for p in script.problems] == [("no-narrator", 2)]
    assert parse_script("Ann: Hi.\nThe end.").problems == ()  # no cast known yet: nothing to check against


def test_spans_point_at_the_creators_text():
    text = "# Chapter 1\nAnn: Who is there? It is me.\nA long line\nwrapped here."
    script = parse_script(text, cast=CAST)
    src = text.split("\n")
    for line in script.lines:
        s = line.span
        if s.line == s.end_line:
            assert src[s.line - 1][s.column - 1:s.end_column - 1] == line.text
    wrapped = script.lines[-1].span
    assert (wrapped.line, wrapped.column, wrapped.end_line, wrapped.end_column) == (3, 1, 4, 14)
    kinds = {(m.kind, m.span.line, m.span.column) for m in script.marks}
    assert {("heading", 1, 1), ("speaker", 2, 1)} <= kinds


def test_chapters_paragraphs_and_speaker_turns():
    script = parse_script("# One\nAlpha. Beta.\n\nGamma.\nAnn: Delta.\n# Two\nEpsilon.", cast=CAST)
    got = [(line.text, line.chapter, line.paragraph_end) for line in script.lines]
    assert got == [("Alpha.", "One", False), ("Beta.", "One", True), ("Gamma.", "One", True),
                   ("Delta.", "One", True), ("Epsilon.", "Two", True)]
    assert script.chapters == ("One", "Two")
    assert script.speakers == (NARRATOR, "Ann")


def test_line_keys_ignore_spacing_and_name_case():
    a = parse_script("Ann:   Hello   there.").lines[0]
    b = parse_script("ANN: Hello there.").lines[0]
    assert isinstance(a, ScriptLine) and a.key == b.key


def test_a_long_book_parses_in_one_pass():
    text = "\n\n".join(f"# Chapter {c}\n" + " ".join(f"Sentence {c}.{n} is here." for n in range(40))
                       for c in range(30))
    script = parse_script(text, cast=CAST)
    assert script.ok and len(script.lines) == 1200 and len(script.chapters) == 30
