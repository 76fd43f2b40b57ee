"""The Direction column, clicked and typed as a person does (issue 13, bug 6, the tag spacing of bug 11 and the
Design items): presets stay what they say, your own text can be kept as a preset of yours, tags go in with one
space each side, and the column's rows line up."""
from __future__ import annotations

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QInputDialog, QLineEdit

from app.resources import load_presets
from app.settings import Settings

pytestmark = pytest.mark.slow


def click_preset(studio, window, group: str, name: str) -> None:
    direction = window.direction
    direction.group_combo.setCurrentText(group)
    lst = direction.preset_list
    item = next(lst.item(i) for i in range(lst.count()) if lst.item(i).text() == name)
    studio.qtbot.mouseClick(lst.viewport(), Qt.MouseButton.LeftButton, pos=lst.visualItemRect(item).center())


def builtin(group: str, name: str) -> str:
    return next(p.instruction for p in load_presets()[group] if p.name == name)


def test_typing_after_picking_a_preset_never_changes_the_preset(studio, qtbot) -> None:
    window = studio.window(model=False)
    direction = window.direction
    click_preset(studio, window, "Emotion", "Happy")
    assert direction.instruction.toPlainText() == builtin("Emotion", "Happy") and direction.mode == "instruct"
    assert direction.preset_state.text() == "Preset: Happy"
    studio.click(direction.instruction)
    qtbot.keyClick(direction.instruction, Qt.Key.Key_A, Qt.KeyboardModifier.ControlModifier)
    qtbot.keyClicks(direction.instruction, "Whisper like a ghost in an empty hall.")
    assert direction.preset_state.text() == "Your own instruction"
    assert direction.preset_list.currentItem() is None  # Happy is no longer what the box says
    click_preset(studio, window, "Emotion", "Sad")
    click_preset(studio, window, "Emotion", "Happy")
    assert direction.instruction.toPlainText() == builtin("Emotion", "Happy")
    window.shutdown()
    assert Settings.load().my_presets == {} and Settings.load().custom_presets == {}


def test_your_own_instruction_can_be_kept_as_a_preset(studio, qtbot) -> None:
    window = studio.window(model=False)
    direction = window.direction
    studio.click(direction.mode_buttons["instruct"])
    studio.type(direction.instruction, "Speak like a tired detective at 3 a.m.")
    studio.click(direction.save_preset_button)
    dialog = studio.modal(QInputDialog)
    edit = dialog.findChild(QLineEdit)
    qtbot.keyClick(edit, Qt.Key.Key_A, Qt.KeyboardModifier.ControlModifier)
    qtbot.keyClicks(edit, "Detective")
    qtbot.keyClick(edit, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: direction.preset_state.text() == "Preset: Detective")
    assert direction.group_combo.currentText() == "My presets"
    assert Settings.load().my_presets == {"Detective": "Speak like a tired detective at 3 a.m."}
    window.shutdown()
    again = studio.window(Settings.load())
    click_preset(studio, again, "My presets", "Detective")
    assert again.direction.instruction.toPlainText() == "Speak like a tired detective at 3 a.m."
    studio.click(again.direction.delete_preset_button)
    assert "Detective" not in again.direction.my_presets
    assert again.direction.instruction.toPlainText() == "Speak like a tired detective at 3 a.m."  # text kept


def test_presets_edited_by_an_older_version_become_your_own(studio) -> None:
    window = studio.window(Settings(custom_presets={"Emotion/Happy": "Speak very happily indeed."}))
    click_preset(studio, window, "Emotion", "Happy")
    assert window.direction.instruction.toPlainText() == builtin("Emotion", "Happy")
    click_preset(studio, window, "My presets", "Happy (edited)")
    assert window.direction.instruction.toPlainText() == "Speak very happily indeed."


@pytest.mark.parametrize("before,after", [("Hello| world", "Hello [laughter] world"),
                                          ("Hello |world", "Hello [laughter] world"),
                                          ("Hello|world", "Hello [laughter] world"),
                                          ("Hello.|", "Hello. [laughter] ")])
def test_a_tag_goes_in_with_one_space_on_each_side(studio, qtbot, before: str, after: str) -> None:
    window = studio.window(model=False)
    text, at = before.replace("|", ""), before.index("|")
    studio.type(window.editor, text)
    qtbot.keyClick(window.editor, Qt.Key.Key_Home, Qt.KeyboardModifier.ControlModifier)
    for _ in range(at):
        qtbot.keyClick(window.editor, Qt.Key.Key_Right)
    studio.click(window.direction.palette_widget.buttons["[laughter]"])
    assert window.editor.toPlainText() == after


def test_the_direction_rows_line_up(studio) -> None:
    window = studio.window(model=False)
    direction = window.direction
    singles = [b for token, b in direction.palette_widget.buttons.items() if token.startswith("[")]
    assert len({b.width() for b in singles}) == 1, "every sound tag has the same width"
    assert len({b.x() for b in singles}) == 3, "in three straight columns"
    assert direction.speed.x() == direction.seed.x() and direction.speed.width() == direction.seed.width()
    for button in (direction.dice, direction.lock):
        assert not button.icon().isNull() and button.text()
    studio.click(direction.lock)
    assert direction.lock.text() == "Locked"

