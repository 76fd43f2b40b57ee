"""The narration's sentences, one row each, with their takes: generate, regenerate with a new seed or the
current direction, step through takes, see the chosen take's waveform and play it."""
from __future__ import annotations

import numpy as np
from PySide6.QtCore import Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QAbstractItemView, QGroupBox, QHBoxLayout, QHeaderView, QLabel, QPushButton, QTreeWidget, QTreeWidgetItem,
    QVBoxLayout, QWidget,
)

from .. import engine_bridge as bridge
from ..narration import Narration, Take
from .waveform_view import WaveformView

COL_INDEX, COL_TEXT, COL_TAKE = range(3)
INSTRUCTION_CHARS = 18  # of the instruction the take column shows; the tooltip has all of it


def take_label(take: Take) -> str:
    """How the take was spoken (the mode, or the instruction in instruct mode) and its length."""
    how = bridge.MODE_LABELS.get(take.mode, take.mode)
    if take.mode == "instruct" and take.instruction:
        words = " ".join(take.instruction.split())
        how = f"“{words[:INSTRUCTION_CHARS]}…”" if len(words) > INSTRUCTION_CHARS else f"“{words}”"
    return f"{how} · {take.seconds:.1f} s"


def take_details(take: Take) -> str:
    """Everything needed to reproduce the take (the tooltip)."""
    lines = [f"Voice: {take.voice}", f"Mode: {bridge.MODE_LABELS.get(take.mode, take.mode)}"]
    if take.instruction:
        lines.append(f"Instruction: {take.instruction}")
    return "\n".join([*lines, f"Seed: {take.seed}", f"Length: {take.seconds:.2f} s"])


class SentenceList(QGroupBox):
    generateRequested = Signal(int)  # sentence index  # noqa: N815
    playRequested = Signal(int)  # noqa: N815
    stopRequested = Signal()  # noqa: N815
    takeChanged = Signal(int)  # noqa: N815

    def __init__(self, narration: Narration, parent: QWidget | None = None) -> None:
        super().__init__("Sentences", parent)
        self.narration = narration
        self._active: int | None = None
        self._playing = False
        self._shown: Take | None = None  # the take the waveform shows
        self.tree = QTreeWidget()
        self.tree.setColumnCount(3)
        self.tree.setHeaderLabels(["#", "Sentence", "Take"])
        self.tree.setRootIsDecorated(False)
        self.tree.setUniformRowHeights(True)
        self.tree.setAlternatingRowColors(True)
        self.tree.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        header = self.tree.header()
        header.setStretchLastSection(False)
        header.setSectionResizeMode(COL_INDEX, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(COL_TEXT, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(COL_TAKE, QHeaderView.ResizeMode.ResizeToContents)
        self.tree.currentItemChanged.connect(lambda *_: self._current_changed())
        self.tree.itemDoubleClicked.connect(lambda *_: self.playRequested.emit(self.current_index))

        self.waveform = WaveformView(editable=False, placeholder="The chosen take of the selected sentence")
        self.waveform.setMaximumHeight(56)
        self.generate_button = QPushButton("Regenerate")
        self.generate_button.setToolTip("New take of this sentence with the current direction and seed "
                                        "(a new seed unless locked)")
        self.generate_button.clicked.connect(lambda: self.generateRequested.emit(self.current_index))
        self.play_button = QPushButton("▶ Play take")
        self.play_button.setToolTip("Play the chosen take of this sentence (Stop while it plays)")
        self.play_button.clicked.connect(lambda: self._play_or_stop())
        # A pager, not transport arrows: ‹ Take 2/3 › chooses which take is played and exported.
        self.prev_button = QPushButton("‹")
        self.prev_button.setToolTip("Choose this sentence's previous take (the chosen take is played and exported)")
        self.prev_button.clicked.connect(lambda: self.step_take(-1))
        self.take_label = QLabel("No take")
        self.take_label.setObjectName("dimLabel")
        self.next_button = QPushButton("›")
        self.next_button.setToolTip("Choose this sentence's next take")
        self.next_button.clicked.connect(lambda: self.step_take(+1))
        buttons = QHBoxLayout()
        buttons.setSpacing(4)
        for b in (self.generate_button, self.play_button):
            buttons.addWidget(b)
        buttons.addStretch(1)
        self.prev_button.setObjectName("compactButton")
        self.next_button.setObjectName("compactButton")
        for widget in (self.prev_button, self.take_label, self.next_button):
            buttons.addWidget(widget)
        layout = QVBoxLayout(self)
        layout.setSpacing(6)
        layout.addWidget(self.tree, 1)
        layout.addWidget(self.waveform)
        layout.addLayout(buttons)
        self._update_enabled()

    @property
    def current_index(self) -> int:
        item = self.tree.currentItem()
        return self.tree.indexOfTopLevelItem(item) if item else -1

    def select(self, index: int) -> None:
        item = self.tree.topLevelItem(index)
        if item is not None:
            self.tree.setCurrentItem(item)

    def set_active(self, index: int | None) -> None:
        """Mark the sentence being generated right now."""
        self._active = index
        self.refresh()

    def refresh(self) -> None:
        current = self.current_index
        sentences = self.narration.sentences
        while self.tree.topLevelItemCount() > len(sentences):
            self.tree.takeTopLevelItem(self.tree.topLevelItemCount() - 1)
        for i, sentence in enumerate(sentences):
            item = self.tree.topLevelItem(i)
            if item is None:
                item = QTreeWidgetItem()
                self.tree.addTopLevelItem(item)
            item.setText(COL_INDEX, str(i + 1))
            item.setText(COL_TEXT, sentence.text)
            item.setToolTip(COL_TEXT, sentence.text)
            take = sentence.take
            if i == self._active:
                item.setText(COL_TAKE, "generating…")
                item.setForeground(COL_TAKE, QColor("#f2c14e"))
                item.setToolTip(COL_TAKE, "")
            elif take is None:
                item.setText(COL_TAKE, "—")
                item.setForeground(COL_TAKE, self.palette().placeholderText())
                item.setToolTip(COL_TAKE, "No take yet")
            else:
                item.setText(COL_TAKE, f"{sentence.chosen + 1}/{len(sentence.takes)} · {take_label(take)}")
                item.setForeground(COL_TAKE, QColor("#3fb68b"))
                item.setToolTip(COL_TAKE, take_details(take))
        if 0 <= current < len(sentences):
            self.select(current)
        elif sentences:
            self.select(0)
        self._current_changed()

    def step_take(self, delta: int) -> None:
        i = self.current_index
        if not 0 <= i < len(self.narration.sentences):
            return
        sentence = self.narration.sentences[i]
        if sentence.takes:
            sentence.chosen = max(0, min(len(sentence.takes) - 1, sentence.chosen + delta))
            self.refresh()
            self.takeChanged.emit(i)

    # ---- playback (the window's player plays; it tells the list where it is) ---------------------------
    def _play_or_stop(self) -> None:
        if self._playing:
            self.stopRequested.emit()
        else:
            self.playRequested.emit(self.current_index)

    def set_playing(self, playing: bool) -> None:
        """The selected sentence's take is playing (Play becomes Stop) or not."""
        self._playing = playing
        self.play_button.setText("■ Stop" if playing else "▶ Play take")
        if not playing:
            self.waveform.set_playhead(None)

    def set_playhead(self, seconds: float) -> None:
        self.waveform.set_playhead(seconds)

    def _current_changed(self) -> None:
        i = self.current_index
        take = self.narration.sentences[i].take if 0 <= i < len(self.narration.sentences) else None
        if take is not self._shown:  # a new envelope only when another take is chosen
            self._shown = take
            if take is None:
                self.waveform.set_audio(np.zeros(0, np.float32), bridge.OUTPUT_RATE)
            else:
                self.waveform.set_audio(take.audio, take.sample_rate)
        self._update_enabled()

    def _update_enabled(self) -> None:
        i = self.current_index
        valid = 0 <= i < len(self.narration.sentences)
        sentence = self.narration.sentences[i] if valid else None
        self.generate_button.setEnabled(valid)
        self.take_label.setText(f"Take {sentence.chosen + 1}/{len(sentence.takes)}" if sentence and sentence.takes
                                else "No take")
        self.play_button.setEnabled(self._playing or bool(sentence and sentence.take))
        self.prev_button.setEnabled(bool(sentence and sentence.chosen > 0))
        self.next_button.setEnabled(bool(sentence and sentence.chosen < len(sentence.takes) - 1))
