"""The GUI keeps answering while the model loads and while a long narration is pasted and typed (issue 13, bug 9).

A timer ticks every 10 ms on the GUI thread; the longest gap between two ticks is how long the window stood still.
Loading (the model, its text frontend and the number speller it imports) and splitting 20 000 characters into
sentences take seconds; on the GUI thread one gap would be as long as the work itself. Now they run on the engine
and text threads, and the gaps left are what the Python interpreter lock costs while those threads run C code that
holds it (compile() of an imported module, the normaliser's FSTs). The bound below is therefore a share of the
work measured in the same test, never a number of milliseconds; the gaps measured are kept as test properties
(and printed with -s)."""
from __future__ import annotations

import time

import pytest
from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QApplication

from app import engine_bridge as bridge
from app.resources import sample_texts
from engine.script_sentences import sentence_spans

pytestmark = pytest.mark.slow
CHARS = 20_000
# What the GUI may lose of the work moved off it: a gap as long as half of that work would mean it ran here.
SHARE = 0.5


class Ticker:
    """A 10 ms timer on the GUI thread that remembers the longest pause between its ticks."""

    def __init__(self) -> None:
        self.timer = QTimer()
        self.timer.setInterval(10)
        self.timer.timeout.connect(self._tick)
        self.reset()
        self.timer.start()

    def reset(self) -> None:
        self.last = time.perf_counter()
        self.longest = 0.0

    def _tick(self) -> None:
        now = time.perf_counter()
        self.longest = max(self.longest, now - self.last)
        self.last = now

    def gap(self) -> float:
        """The longest pause so far, the one going on now included (work done in one go never lets it tick)."""
        return max(self.longest, time.perf_counter() - self.last)


def long_text() -> str:
    """A story's paragraphs, numbered so that each is new to the sentence cutter (as in a real script)."""
    story = sample_texts()["en_story"]
    parts = [f"Part {i + 1}. {story}" for i in range(CHARS // len(story) + 1)]
    return "\n\n".join(parts)[:CHARS]


def test_the_window_keeps_answering_while_loading_and_splitting(studio, qtbot, record_property) -> None:
    window = studio.window()
    ticker = Ticker()

    started = time.perf_counter()
    studio.load(window)  # returns once the model and its text frontend are ready
    load_s, load_gap = time.perf_counter() - started, ticker.gap()

    text = long_text()
    QApplication.clipboard().setText(text)
    studio.click(window.editor)
    ticker.reset()
    started = time.perf_counter()
    qtbot.keyClick(window.editor, Qt.Key.Key_V, Qt.KeyboardModifier.ControlModifier)
    qtbot.keyClicks(window.editor, " The end.")
    studio.settled(window)
    edit_s, edit_gap = time.perf_counter() - started, ticker.gap()
    assert window.editor.toPlainText() == text + " The end."
    rows = window.document.rows()
    assert len(rows) > 50 and rows[-1].line.text.endswith("The end.")

    sentence_spans.cache_clear()  # what the same parse costs when it does block (here, on purpose), from cold
    split_started = time.perf_counter()
    bridge.parse_script(text + " The end.", (), {})
    split_s = time.perf_counter() - split_started

    for key, value in {"load_s": load_s, "load_longest_gap_ms": load_gap * 1000, "paste_and_type_s": edit_s,
                       "split_20k_s": split_s, "paste_and_type_longest_gap_ms": edit_gap * 1000}.items():
        record_property(key, round(value, 3))
    print(f"\nload {load_s:.2f} s, longest gap {load_gap * 1000:.0f} ms; paste + type {edit_s:.2f} s (a 20k split "
          f"takes {split_s:.2f} s), longest gap {edit_gap * 1000:.0f} ms")
    assert load_gap < SHARE * load_s
    # The paste itself (Qt lays out and highlights 20k characters in one event) and the project's re-read of the
    # already-cut sentences stay on the GUI thread: measured 40-70 ms against 110-130 ms for the cold parse, so
    # the bound is the parse itself: a gap as long as it would mean it ran here.
    assert edit_gap < split_s
