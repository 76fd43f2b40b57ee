"""The script and its cast, as a person uses them (issue 15): names, directions and pauses coloured, problems
underlined with their sentence, each name mapped to a saved voice in the Cast panel, a two-voice dialogue made
in the right voices, and a changed mapping that marks that member's lines stale while keeping every take."""
from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QTextCharFormat

from app.widgets.script_highlighter import COLOURS

pytestmark = pytest.mark.slow
DIALOGUE = "# One\nThe door opened.\nAnn: Who is there?\n[pause 0.5s]\n{whisper} Bob: Only me."


def formats(window, line: int) -> list[tuple[int, int, QTextCharFormat]]:
    """What the editor paints on a (1-based) line: (start, length, format) of each coloured run."""
    block = window.editor.document().findBlockByNumber(line - 1)
    return [(f.start, f.length, QTextCharFormat(f.format)) for f in block.layout().formats()]


def painted(window, line: int, column: int) -> QTextCharFormat:
    return next(f for s, n, f in formats(window, line) if s <= column - 1 < s + n)


def click_member(studio, window, name: str) -> None:
    """Click a cast member's name in the Cast panel."""
    tree = window.cast.tree
    item = next(tree.topLevelItem(i) for i in range(tree.topLevelItemCount()) if tree.topLevelItem(i).text(0) == name)
    rect = tree.visualRect(tree.indexFromItem(item, 0))
    studio.qtbot.mouseClick(tree.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())


def test_the_editor_colours_names_directions_and_pauses_and_underlines_problems(studio, qtbot) -> None:
    window = studio.window(model=False)
    studio.type_script(window, DIALOGUE)
    assert painted(window, 3, 1).foreground().color().name() == COLOURS["speaker"]  # "Ann"
    assert painted(window, 4, 2).foreground().color().name() == COLOURS["pause"]  # "[pause 0.5s]"
    direction = painted(window, 5, 2)
    assert direction.foreground().color().name() == COLOURS["direction"] and direction.fontItalic()
    # Ann and Bob are not in the cast yet: their names are underlined and the problems are listed under the editor
    assert painted(window, 3, 1).underlineStyle() == QTextCharFormat.UnderlineStyle.WaveUnderline
    problems = window.script.problems
    assert problems.isVisible() and problems.text().startswith("<b>2 problems</b>")
    assert "Ann is not in the cast" in problems.text() and "Bob is not in the cast" in problems.text()
    assert window.editor.problems_at(3, 2) == [window.document.project.script.problems[0].message]
    problems.linkActivated.emit("5:11")  # a click on the second problem's place
    assert (window.editor.textCursor().blockNumber(), window.editor.textCursor().positionInBlock()) == (4, 10)
    # a bad pause is a problem of its own, shown where it is
    studio.click(window.editor)
    window.editor.moveCursor(window.editor.textCursor().MoveOperation.End)
    qtbot.keyClick(window.editor, Qt.Key.Key_Return)
    qtbot.keyClicks(window.editor, "[pause soon]")
    studio.settled(window)
    assert "'soon' is not a pause length" in problems.text()
    assert painted(window, 6, 2).underlineStyle() == QTextCharFormat.UnderlineStyle.WaveUnderline


def test_a_two_voice_dialogue_speaks_each_line_in_its_members_voice(studio, voice_file: Path) -> None:
    window = studio.window()
    studio.load(window)
    for name in ("Me", "Ann voice", "Bob voice"):
        studio.import_voice(window, voice_file, name)
    studio.type_script(window, DIALOGUE)
    assert [r.name for r in window.cast_rows()] == ["Narrator", "Ann", "Bob"]
    assert [window.cast.tree.topLevelItem(i).text(2) for i in range(3)] == ["1", "1", "1"]
    assert "need a voice" in window.banner.label.text()
    studio.cast_voice(window, "Narrator", "Me")
    studio.cast_voice(window, "Ann", "Ann voice")
    studio.cast_voice(window, "Bob", "Bob voice")
    assert not window.script.problems.isVisible() and window.document.project.script.ok
    assert studio.generate_all(window) == "finished", window.last_error
    made = {v.line.speaker: (v.takes[0].voice_name, v.takes[0].mode, v.takes[0].instruction)
            for v in window.document.rows()}
    assert made == {"Narrator": ("Me", "zero_shot", ""), "Ann": ("Ann voice", "zero_shot", ""),
                    "Bob": ("Bob voice", "instruct", "whisper")}  # Bob's line has its own direction
    assert [row[:2] for row in studio.lines(window)] == [("Narrator", "The door opened."), ("Ann", "Who is there?"),
                                                         ("Bob", "{whisper} Only me.")]


def test_a_new_voice_for_a_member_makes_its_lines_stale_and_keeps_the_takes(studio, voice_file: Path,
                                                                          other_voice_file: Path) -> None:
    window = studio.window()
    studio.load(window)
    for name in ("Me", "Ann voice"):
        studio.import_voice(window, voice_file, name)
    studio.import_voice(window, other_voice_file, "Other")
    studio.type_script(window, "The door opened.\nAnn: Who is there?\nAnn: Hello?")
    studio.cast_voice(window, "Narrator", "Me")
    studio.cast_voice(window, "Ann", "Ann voice")
    assert studio.generate_all(window) == "finished", window.last_error
    studio.cast_voice(window, "Ann", "Other")
    rows = studio.lines(window)
    assert rows[0][2].startswith("1/1 · ") and rows[1][2].startswith("stale · 1/1 · ")
    assert rows[2][2].startswith("stale · 1/1 · ")
    assert window.cast.tree.topLevelItem(1).text(2) == "2 (2 stale)"
    assert "2 lines are <b>stale</b>" in window.banner.label.text()
    assert [len(v.takes) for v in window.document.rows()] == [1, 1, 1]  # nothing was deleted
    with studio.qtbot.waitSignal(window.generationFinished, timeout=240_000):
        studio.click(window.bar.stale_button)
    views = window.document.rows()
    assert [len(v.takes) for v in views] == [1, 2, 2]  # only Ann's lines again
    assert {v.takes[-1].voice_name for v in views[1:]} == {"Other"} and views[1].takes[0].voice_name == "Ann voice"
    assert all(v.status.value == "ready" for v in views)
    # the old take can still be chosen and played: it is stale again, not lost
    studio.click_line(window, 1)
    studio.click_take(window, 1)
    studio.click(window.takes.choose_button)
    assert studio.lines(window)[1][2].startswith("stale · 1/2 · ")


def test_a_members_default_direction_is_set_in_the_direction_panel(studio, voice_file: Path) -> None:
    window = studio.window()
    studio.load(window)
    studio.import_voice(window, voice_file, "Me")
    studio.type_script(window, "The door opened.\nAnn: Who is there?")
    studio.cast_voice(window, "Narrator", "Me")
    studio.cast_voice(window, "Ann", "Me")
    assert studio.generate_all(window) == "finished", window.last_error
    click_member(studio, window, "Narrator")
    assert window.direction.title() == "Direction · Narrator"
    click_member(studio, window, "Ann")
    assert window.direction.title() == "Direction · Ann"
    assert window.direction.mode == "zero_shot"  # the voice has a transcript: clone by default
    window.direction.choose_preset("Emotion", "Fearful")
    ann = window.document.member("Ann")
    assert (ann.mode, ann.instruction.split()[0]) == ("instruct", "Speak")
    assert [row[2].startswith("stale") for row in studio.lines(window)] == [False, True]
    studio.click(window.direction.mode_buttons["cross_lingual"])
    assert window.document.member("Ann").mode == "cross_lingual"
    click_member(studio, window, "Narrator")
    assert window.direction.title() == "Direction · Narrator" and window.direction.mode == "zero_shot"
