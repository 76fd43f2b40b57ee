"""CosyVoice 2 and 3 in the studio (issue 19, item 5), clicked as a person does with the real engine on both tiny
models: the model manager offers both downloads and names a folder's family; a voice of the other family is marked
and, used with the other model, re-analysed from its recording instead of failing; pronunciation markup is offered
only by a model that reads it; one line generated on both models with the same clip and seed, heard, one kept."""
from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDialogButtonBox, QFileDialog, QLineEdit, QMessageBox

from app.settings import Settings
from app.widgets.ab_dialog import ABDialog
from app.widgets.markup_palette import MarkupPalette
from app.widgets.pronunciation_dialog import PronunciationDialog

pytestmark = pytest.mark.slow
GEN_MS = 240_000  # only ends a test that would otherwise hang; never a speed bound


def choose_in_dialog(studio, path: Path) -> None:
    dialog = studio.modal(QFileDialog)
    edit = dialog.findChild(QLineEdit, "fileNameEdit")
    studio.qtbot.keyClicks(edit, str(path))
    studio.qtbot.keyClick(edit, Qt.Key.Key_Return)


def voice_rows(window) -> dict[str, str]:
    """What the Voices list shows: name -> its detail line."""
    lst = window.voices.list
    rows = (lst.item(i).text().split("\n") for i in range(lst.count()))
    return {r[0]: r[1] for r in rows if len(r) == 2}


def test_the_model_manager_offers_both_models_and_names_a_folders_family(studio, tiny_cv3_model_dir: Path) -> None:
    window = studio.window(Settings(model_dir=str(studio.model)))
    dialog = window.open_model_manager()
    studio.qtbot.waitExposed(dialog)
    offered = [dialog.model_choice.itemText(i) for i in range(dialog.model_choice.count())]
    assert offered == ["CosyVoice 2 · FunAudioLLM/CosyVoice2-0.5B", "CosyVoice 3 · FunAudioLLM/Fun-CosyVoice3-0.5B-2512"]
    assert "CosyVoice 2 model folder" in dialog.folder_status.text()
    studio.choose(dialog.model_choice, offered[1])
    assert dialog.repo_edit.text() == "FunAudioLLM/Fun-CosyVoice3-0.5B-2512"
    assert dialog.dest_edit.text().endswith("FunAudioLLM--Fun-CosyVoice3-0.5B-2512")
    dialog.folder_edit.clear()
    studio.type(dialog.folder_edit, str(tiny_cv3_model_dir))
    assert "Complete CosyVoice 3 model folder" in dialog.folder_status.text()
    assert dialog.buttons.button(QDialogButtonBox.StandardButton.Ok).isEnabled()
    dialog.reject()


def test_a_voice_of_the_other_family_is_marked_and_reanalysed_from_its_recording(
        studio, qtbot, tiny_cv3_model_dir: Path, voice_file: Path, reference_wav: Path) -> None:
    window = studio.window(Settings(model_dir=str(tiny_cv3_model_dir)))
    studio.load(window)
    assert window.model_label.text() == "CosyVoice 3"
    studio.import_voice(window, voice_file)  # made with the CosyVoice 2 model
    assert voice_rows(window)["Narrator"].startswith("2.0 s · ⚠ CosyVoice 2 · ")
    studio.cast_voice(window, "Narrator", "Narrator")
    studio.click(window.direction.mode_buttons["cross_lingual"])
    studio.type_script(window, "Good morning, sailor.")
    studio.click(window.bar.generate_button)
    box = studio.modal(QMessageBox)
    assert "made with CosyVoice 2; the loaded model is CosyVoice 3" in box.text()
    with qtbot.waitSignal(window.generationFinished, timeout=GEN_MS) as done:
        studio.answer(box, "Re-analyse…")
        choose_in_dialog(studio, reference_wav)  # the voice keeps no clip: its recording is asked for
    assert done.args[0] == "finished", window.last_error
    assert voice_rows(window)["Narrator"].split(" · ")[1] == "CosyVoice 3"  # no longer marked
    assert window.library.load("Narrator").family == "cosyvoice3"
    assert window.document.member("Narrator").voice.family == "cosyvoice3"
    assert studio.lines(window)[0][2].startswith("1/1")  # the line has its take


def open_pronunciations(studio, window) -> PronunciationDialog:
    window.actions["Pronunciations…"].trigger()
    return studio.modal(PronunciationDialog)


def test_markup_is_offered_only_by_a_model_that_reads_it(studio, qtbot, tiny_cv3_model_dir: Path) -> None:
    cv2 = studio.window()
    studio.load(cv2)
    dialog = open_pronunciations(studio, cv2)
    assert dialog.findChild(MarkupPalette) is None
    dialog.reject()
    cv2.shutdown()

    cv3 = studio.window(Settings(model_dir=str(tiny_cv3_model_dir)))
    studio.load(cv3)
    dialog = open_pronunciations(studio, cv3)
    palette = dialog.findChild(MarkupPalette)
    assert palette is not None and palette.isVisible()
    studio.click(dialog.project_table.add_button)
    table = dialog.project_table.table
    qtbot.keyClicks(table.focusWidget(), "hello")
    qtbot.keyClick(table.focusWidget(), Qt.Key.Key_Return)
    edit = palette.token.lineEdit()
    for token in ("[HH]", "[AH0]", "[L]", "[OW1]"):
        studio.click(edit)
        qtbot.keyClick(edit, Qt.Key.Key_A, Qt.KeyboardModifier.ControlModifier)
        qtbot.keyClicks(edit, token)
        studio.click(palette.insert_button)
    for bad in ("[AH9]", "[XX]"):  # no such stress; no such phoneme
        qtbot.keyClick(edit, Qt.Key.Key_A, Qt.KeyboardModifier.ControlModifier)
        qtbot.keyClicks(edit, bad)
        assert not palette.insert_button.isEnabled()
    assert table.item(0, 1).text() == "[HH][AH0][L][OW1]"
    studio.choose(palette.kind, "Pinyin (Chinese)")
    assert palette.token.findText("[ǎo]") >= 0
    studio.click(dialog.buttons.button(QDialogButtonBox.StandardButton.Ok))
    assert [(e.word, e.say) for e in cv3.document.project.pronunciations.entries] == [("hello", "[HH][AH0][L][OW1]")]


def test_ab_of_a_line_on_both_models_with_the_same_clip_and_seed(studio, qtbot, tiny_cv3_model_dir: Path,
                                                                voice_file: Path, reference_wav: Path,
                                                                output_device) -> None:
    window = studio.ready(studio.window(), voice_file, "Good morning, sailor.")
    studio.click_line(window, 0)
    window.actions["A/B on another model…"].trigger()
    dialog = studio.modal(ABDialog)
    assert dialog.a_label.text() == "CosyVoice 2 (the loaded model)"
    assert not dialog.generate_button.isEnabled()  # no model B, no clip yet
    studio.type(dialog.folder_edit, str(tiny_cv3_model_dir))
    assert dialog.b_family.text() == "✔ CosyVoice 3 model folder"
    studio.click(dialog.clip_button)
    choose_in_dialog(studio, reference_wav)
    assert dialog.clip_label.text() == reference_wav.name
    seed = int(dialog.seed_label.text().split()[0])
    studio.click(dialog.generate_button)
    qtbot.waitUntil(lambda: dialog.keep["A"].isEnabled() and dialog.keep["B"].isEnabled(), timeout=GEN_MS)
    assert dialog.status.text() == "Both are ready: play A and B, keep the one you like."
    takes = window.extras.ab.takes
    assert takes["A"].info.seed == takes["B"].info.seed == seed
    assert takes["A"].info.text == takes["B"].info.text == "Good morning, sailor."
    for side in "AB":
        frames = window.player.stats.queued_frames
        studio.click(dialog.play[side])
        qtbot.waitUntil(lambda: window.player.stats.queued_frames != frames or window.player.stats.started)
    kept = takes["B"]
    studio.click(dialog.keep["B"])
    assert dialog.status.text() == "Kept B as the line's take."
    view = window.document.rows()[0]
    assert view.chosen == kept.info.id and studio.lines(window)[0][2].startswith("1/1")
    dialog.reject()
    assert window.extras.ab.b is None  # model B's thread ended with the dialog
