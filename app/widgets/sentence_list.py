"""The narration's sentences, one row each, with their takes: generate, regenerate with a new seed
or the current direction, step through takes and play one."""
from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtGui import QColor, QKeySequence
from PySide6.QtWidgets import (
    QAbstractItemView, QGroupBox, QHBoxLayout, QHeaderView, QPushButton, QToolButton, QTreeWidget,
    QTreeWidgetItem, QVBoxLayout, QWidget,
)

from ..narration import Narration

COL_INDEX, COL_TEXT, COL_TAKE = range(3)


class SentenceList(QGroupBox):
    generateRequested = Signal(int)  # sentence index  # noqa: N815
    playRequested = Signal(int)  # noqa: N815
    takeChanged = Signal(int)  # noqa: N815

    def __init__(self, narration: Narration, parent: QWidget | None = None) -> None:
        super().__init__("Sentences", parent)
        self.narration = narration
        self._active: int | None = None
        self.tree = QTreeWidget()
        self.tree.setColumnCount(3)
        self.tree.setHeaderLabels(["#", "Sentence", "Take"])
        self.tree.setRootIsDecorated(False)
        self.tree.setUniformRowHeights(True)
        self.tree.setAlternatingRowColors(True)
        self.tree.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        header = self.tree.header()
        header.setSectionResizeMode(COL_INDEX, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(COL_TEXT, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(COL_TAKE, QHeaderView.ResizeMode.ResizeToContents)
        self.tree.currentItemChanged.connect(lambda *_: self._update_enabled())
        self.tree.itemDoubleClicked.connect(lambda *_: self.playRequested.emit(self.current_index))

        self.generate_button = QPushButton("Regenerate")
        self.generate_button.setToolTip("New take of this sentence with the current direction and seed "
                                        "(a new seed unless locked) — Ctrl+Shift+Enter")
        self.generate_button.setShortcut(QKeySequence("Ctrl+Shift+Return"))
        self.generate_button.clicked.connect(lambda: self.generateRequested.emit(self.current_index))
        self.play_button = QPushButton("▶ Take")
        self.play_button.setToolTip("Play the chosen take of this sentence")
        self.play_button.clicked.connect(lambda: self.playRequested.emit(self.current_index))
        self.prev_button = QToolButton()
        self.prev_button.setText("◀")
        self.prev_button.setToolTip("Previous take")
        self.prev_button.clicked.connect(lambda: self.step_take(-1))
        self.next_button = QToolButton()
        self.next_button.setText("▶")
        self.next_button.setToolTip("Next take")
        self.next_button.clicked.connect(lambda: self.step_take(+1))
        buttons = QHBoxLayout()
        buttons.addWidget(self.generate_button)
        buttons.addWidget(self.play_button)
        buttons.addStretch(1)
        buttons.addWidget(self.prev_button)
        buttons.addWidget(self.next_button)
        layout = QVBoxLayout(self)
        layout.setSpacing(8)
        layout.addWidget(self.tree, 1)
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
            elif take is None:
                item.setText(COL_TAKE, "—")
                item.setForeground(COL_TAKE, self.palette().placeholderText())
            else:
                item.setText(COL_TAKE, f"{sentence.chosen + 1}/{len(sentence.takes)} · {take.label()}")
                item.setForeground(COL_TAKE, QColor("#3fb68b"))
                item.setToolTip(COL_TAKE, f"{take.mode} · {take.voice}" + (f" · {take.instruction}" if take.instruction else ""))
        if 0 <= current < len(sentences):
            self.select(current)
        elif sentences:
            self.select(0)
        self._update_enabled()

    def step_take(self, delta: int) -> None:
        i = self.current_index
        if not 0 <= i < len(self.narration.sentences):
            return
        sentence = self.narration.sentences[i]
        if sentence.takes:
            sentence.chosen = max(0, min(len(sentence.takes) - 1, sentence.chosen + delta))
            self.refresh()
            self.takeChanged.emit(i)

    def _update_enabled(self) -> None:
        i = self.current_index
        valid = 0 <= i < len(self.narration.sentences)
        sentence = self.narration.sentences[i] if valid else None
        self.generate_button.setEnabled(valid)
        self.play_button.setEnabled(bool(sentence and sentence.take))
        self.prev_button.setEnabled(bool(sentence and sentence.chosen > 0))
        self.next_button.setEnabled(bool(sentence and sentence.chosen < len(sentence.takes) - 1))
