"""Generating and listening, clicked as a person does, with the real engine on the tiny model and real audio
(issue 13: the playheads, Play/Stop and the buffer figure, the take column, the status bar and a missing model;
issue 15: the lines are the creator's own sentences, generated all at once, stale only or one by one)."""
from __future__ import annotations

from pathlib import Path

import pytest

from app.settings import Settings

pytestmark = pytest.mark.slow


def test_the_lines_are_the_sentences_as_written(studio, voice_file: Path) -> None:
    """Five sentences stay five lines and "3" stays "3" (the engine's normalising and packing are internal)."""
    window = studio.window()
    studio.ready(window, voice_file, "It was 3 o'clock. Rain. More rain. Then wind. Then 4 cats.")
    assert [row[:2] for row in studio.lines(window)] == [
        ("Narrator", "It was 3 o'clock."), ("Narrator", "Rain."), ("Narrator", "More rain."),
        ("Narrator", "Then wind."), ("Narrator", "Then 4 cats.")]
    assert window.bar.progress.text() == "0 / 5 lines ready"


def test_without_streaming_the_finished_line_is_played(studio, qtbot, voice_file: Path, output_device) -> None:
    window = studio.ready(studio.window(), voice_file)
    assert window.direction.streaming.isChecked()
    studio.click(window.direction.streaming)
    assert not window.direction.streaming.isChecked()
    assert studio.generate_all(window) == "finished", window.last_error
    view = window.document.rows()[0]
    audio = window.document.take_audio(view.chosen)
    assert len(audio) > 0
    qtbot.waitUntil(lambda: window.player.stats.finished, timeout=60_000)
    stats = window.player.stats
    assert stats.queued_frames == len(audio)  # the whole take, once
    assert stats.played_frames >= stats.queued_frames


def test_generate_line_adds_a_take_and_generate_all_makes_only_what_is_missing(studio, voice_file: Path) -> None:
    window = studio.ready(studio.window(), voice_file, "Good morning, sailor. The sea is calm.")
    studio.click_line(window, 1)
    with studio.qtbot.waitSignal(window.generationFinished, timeout=240_000):
        studio.click(window.lines.generate_button)
    rows = studio.lines(window)
    assert rows[0][2] == "—" and rows[1][2].startswith("1/1 · Cross-lingual · ")
    assert studio.generate_all(window) == "finished"  # only the first line had no take
    rows = studio.lines(window)
    assert rows[0][2].startswith("1/1 · ") and rows[1][2].startswith("1/1 · ")
    assert studio.generate_all(window) == "finished"  # every line ready: all of them again
    assert [row[2][:4] for row in studio.lines(window)] == ["2/2 ", "2/2 "]


def test_the_take_column_says_how_it_was_spoken(studio, voice_file: Path) -> None:
    window = studio.ready(studio.window(), voice_file)
    assert window.direction.title() == "Direction · Narrator"
    window.direction.choose_preset("Emotion", "Calm")  # the narrator's default direction now
    assert window.document.member("Narrator").instruction.startswith("Speak calmly")
    assert studio.generate_all(window) == "finished", window.last_error
    info = window.document.rows()[0].takes[0]
    model = window.lines.view.model()
    take = model.index(0, 3)
    assert take.data().startswith("1/1 · “Speak calmly") and "seed" not in take.data()
    tip = model.data(take, 3)  # the tooltip
    assert f"Seed: {info.seed}" in tip and "Instruction: Speak calmly" in tip and "Voice: Narrator" in tip
    assert window.takes.tree.topLevelItem(0).text(1).startswith("“Speak calmly")


def test_play_becomes_stop_and_the_playheads_move(studio, qtbot, voice_file: Path, reference_wav: Path,
                                                output_device) -> None:
    window = studio.ready(studio.window(), voice_file,
                          "Good morning, sailor. The sea is calm today and the wind is soft.")
    assert studio.generate_all(window) == "finished"
    qtbot.waitUntil(lambda: window.player.stats.finished, timeout=60_000)
    # the reference clip (on the Voices tab)
    studio.tab(window, "Voices")
    panel = window.reference
    assert panel.import_file(reference_wav)
    studio.click(panel.play_button)
    assert panel.play_button.text() == "■ Stop"
    qtbot.waitUntil(lambda: (panel.waveform.playhead or 0) > 0.1, timeout=10_000)
    studio.click(panel.play_button)
    assert panel.play_button.text() == "▶ Play" and panel.waveform.playhead is None
    # one take
    takes = window.takes
    studio.click(takes.play_button)
    assert takes.play_button.text() == "■ Stop"
    qtbot.waitUntil(lambda: (takes.waveform.playhead or 0) > 0.1, timeout=10_000)
    qtbot.waitUntil(lambda: takes.play_button.text() == "▶ Play", timeout=30_000)  # it played out
    assert takes.waveform.playhead is None
    # the whole narration: the line list follows it
    studio.click(window.bar.play_button)
    qtbot.waitUntil(lambda: window.bar.play_button.text() == "■ Stop", timeout=10_000)
    qtbot.waitUntil(lambda: (takes.waveform.playhead or 0) > 0.1, timeout=10_000)
    qtbot.waitUntil(lambda: window.lines.current_line == window.document.rows()[1].id, timeout=30_000)
    studio.click(window.bar.play_button)
    assert window.bar.play_button.text() == "▶ Play all" and not window.player.is_active


def test_the_buffer_figure_goes_when_playback_stops(studio, qtbot, voice_file: Path, output_device) -> None:
    window = studio.ready(studio.window(), voice_file, "Good morning, sailor. The sea is calm today and the wind "
                                                       "is soft. We sail at noon, when the tide turns.")
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
