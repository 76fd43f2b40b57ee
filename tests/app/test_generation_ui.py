"""Generating and listening, clicked as a person does, with the real engine on the tiny model and real audio
(issue 13: bugs 2 and 8, the playheads, Play/Stop and the buffer figure of bug 11, and the Design items about the
take column, the status bar and a missing model)."""
from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtWidgets import QMessageBox

from app.settings import Settings
from app.widgets.sentence_list import COL_TAKE

pytestmark = pytest.mark.slow


def ready(studio, voice_file: Path, voice: str = "Narrator", text: str = "Good morning, sailor."):
    window = studio.window()
    studio.load(window)
    studio.import_voice(window, voice_file, voice)
    studio.select_voice(window, voice)
    studio.click(window.direction.mode_buttons["cross_lingual"])
    studio.type_narration(window, text)
    return window


def test_without_streaming_the_finished_sentence_is_played(studio, qtbot, voice_file: Path, output_device) -> None:
    window = ready(studio, voice_file)
    assert window.direction.streaming.isChecked()
    studio.click(window.direction.streaming)
    assert not window.direction.streaming.isChecked()
    assert studio.generate_all(window) == "finished", window.last_error
    take = window.narration.sentences[0].take
    assert take is not None and len(take.audio) > 0
    qtbot.waitUntil(lambda: window.player.stats.finished, timeout=60_000)
    stats = window.player.stats
    assert stats.queued_frames == len(take.audio)  # the whole sentence, once
    assert stats.played_frames >= stats.queued_frames


def test_picking_another_voice_while_takes_exist_asks_what_to_do(studio, voice_file: Path) -> None:
    window = ready(studio, voice_file, "Ann")
    studio.import_voice(window, voice_file, "Bob")
    assert studio.generate_all(window) == "finished", window.last_error
    assert "Ann" in window.banner.label.text() and "locked" in window.banner.label.text()
    studio.select_voice(window, "Bob")
    box = studio.modal(QMessageBox)
    assert "Ann" in box.text() and box.defaultButton().text() == "Keep takes"
    studio.answer(box, "Keep takes")
    assert window.voices.current_name == "Ann" and window.narration.take_count == 1
    studio.select_voice(window, "Bob")
    studio.answer(studio.modal(QMessageBox), "Clear takes and use “Bob”")
    assert window.narration.take_count == 0 and window.voice_name == "Bob"
    assert "Narrating with <b>Bob</b>." == window.banner.label.text()
    assert window.sentences.tree.topLevelItem(0).text(COL_TAKE) == "—"
    assert studio.generate_all(window) == "finished"
    assert window.narration.sentences[0].take.voice == "Bob"


def test_the_banner_offers_to_clear_the_takes(studio, voice_file: Path) -> None:
    window = ready(studio, voice_file)
    assert studio.generate_all(window) == "finished"
    assert window.banner.button.text() == "Clear takes…"
    studio.click(window.banner.button)
    studio.answer(studio.modal(QMessageBox), "Clear takes")
    assert window.narration.take_count == 0 and not window.banner.button.isVisible()


def test_the_take_column_says_how_it_was_spoken(studio, voice_file: Path) -> None:
    window = ready(studio, voice_file)
    direction = window.direction
    direction.choose_preset("Emotion", "Calm")
    assert studio.generate_all(window) == "finished", window.last_error
    item = window.sentences.tree.topLevelItem(0)
    take = window.narration.sentences[0].take
    assert item.text(COL_TAKE).startswith("1/1 · “Speak calmly") and "seed" not in item.text(COL_TAKE)
    assert f"Seed: {take.seed}" in item.toolTip(COL_TAKE) and "Instruction: Speak calmly" in item.toolTip(COL_TAKE)
    assert window.sentences.take_label.text() == "Take 1/1"
    assert window.sentences.prev_button.text() == "‹" and window.sentences.next_button.text() == "›"


def test_play_becomes_stop_and_the_playheads_move(studio, qtbot, voice_file: Path, reference_wav: Path,
                                                output_device) -> None:
    window = ready(studio, voice_file, text="Good morning, sailor. The sea is calm today and the wind is soft.")
    assert studio.generate_all(window) == "finished"
    qtbot.waitUntil(lambda: window.player.stats.finished, timeout=60_000)
    # the reference clip
    panel = window.reference
    assert panel.import_file(reference_wav)
    studio.click(panel.play_button)
    assert panel.play_button.text() == "■ Stop"
    qtbot.waitUntil(lambda: (panel.waveform.playhead or 0) > 0.1, timeout=10_000)
    studio.click(panel.play_button)
    assert panel.play_button.text() == "▶ Play" and panel.waveform.playhead is None
    # one take
    sentences = window.sentences
    studio.click(sentences.play_button)
    assert sentences.play_button.text() == "■ Stop"
    qtbot.waitUntil(lambda: (sentences.waveform.playhead or 0) > 0.1, timeout=10_000)
    qtbot.waitUntil(lambda: sentences.play_button.text() == "▶ Play take", timeout=30_000)  # it played out
    assert sentences.waveform.playhead is None
    # the narration
    studio.click(window.bar.play_button)
    assert window.bar.play_button.text() == "■ Stop"
    qtbot.waitUntil(lambda: (sentences.waveform.playhead or 0) > 0.1, timeout=10_000)
    studio.click(window.bar.play_button)
    assert window.bar.play_button.text() == "▶ Play narration" and not window.player.is_active


def test_the_buffer_figure_goes_when_playback_stops(studio, qtbot, voice_file: Path, output_device) -> None:
    window = ready(studio, voice_file, text="Good morning, sailor. The sea is calm today and the wind is soft. "
                                            "We sail at noon, when the tide turns.")
    with qtbot.waitSignal(window.engine_thread.worker.chunkReady, timeout=240_000):
        studio.click(window.bar.generate_button)
    qtbot.waitUntil(lambda: window.bar.buffer_label.text() != "buffer —", timeout=240_000)
    with qtbot.waitSignal(window.generationFinished, timeout=240_000):
        studio.click(window.bar.stop_button)
    qtbot.waitUntil(lambda: window.bar.buffer_label.text() == "buffer —", timeout=5_000)


def test_without_a_model_the_window_says_so_and_offers_one(studio, qtbot) -> None:
    window = studio.window(Settings())
    window.start_engine()  # the first start: the model manager opens
    first = window._model_dialog
    assert first is not None and first.isVisible()
    first.reject()
    assert "A speech model is needed" in window.banner.label.text()
    assert window.banner.button.text() == "Get a model…" and window.banner.button.isVisible()
    studio.click(window.banner.button)
    qtbot.waitUntil(lambda: window._model_dialog is not None and window._model_dialog.isVisible())
    window._model_dialog.reject()


def test_the_status_bar_names_the_model(studio, voice_file: Path) -> None:
    window = studio.window()
    studio.load(window)
    assert window.model_label.text() == "CosyVoice 2"
    assert window.model_label.toolTip() == str(studio.model)
    assert window.device_label.text().startswith("cpu · ")
