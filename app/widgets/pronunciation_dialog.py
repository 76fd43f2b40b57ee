"""Pronunciations: how words and phrases are said, for this project and for every project, tried out by ear.

Two lists (the project's entries win over the global list's for the same word). An entry is a word or phrase
and how to say it; it applies to whole words, before the text is normalised, and case-aware (an entry with a
capital matches that case only; see engine.pronunciation). "Try" shows what the engine will be given for any text
and "Hear it" speaks it in the selected cast member's voice (the engine thread does that; the dialog asks by
signal). OK keeps both lists; lines whose text they change turn stale (their takes are kept).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QAbstractItemView, QDialog, QDialogButtonBox, QHBoxLayout, QHeaderView, QLabel, QLineEdit, QPushButton,
    QTableWidget, QTableWidgetItem, QTabWidget, QVBoxLayout, QWidget,
)

from engine import TimbreError

from .. import engine_bridge as bridge


class _WordTable(QWidget):
    """One list: a table of word → say as, with Add and Remove."""

    edited = Signal()

    def __init__(self, lexicon: Any, read_only_reason: str = "") -> None:
        super().__init__()
        self.table = QTableWidget(0, 2)
        self.table.setHorizontalHeaderLabels(["Word or phrase", "Say it as"])
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.table.verticalHeader().setVisible(False)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        for entry in lexicon.entries:
            self.add(entry.word, entry.say)
        self.table.itemChanged.connect(lambda _item: self.edited.emit())
        self.add_button = QPushButton("Add")
        self.add_button.clicked.connect(lambda: self._add_row())
        self.remove_button = QPushButton("Remove")
        self.remove_button.clicked.connect(lambda: self._remove_row())
        buttons = QHBoxLayout()
        for b in (self.add_button, self.remove_button):
            b.setObjectName("compactButton")
            buttons.addWidget(b)
        buttons.addStretch(1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 4, 0, 0)
        if read_only_reason:
            note = QLabel(read_only_reason)
            note.setWordWrap(True)
            layout.addWidget(note)
            for w in (self.table, self.add_button, self.remove_button):
                w.setEnabled(False)
        layout.addWidget(self.table, 1)
        layout.addLayout(buttons)

    def add(self, word: str, say: str) -> None:
        row = self.table.rowCount()
        self.table.insertRow(row)
        self.table.setItem(row, 0, QTableWidgetItem(word))
        self.table.setItem(row, 1, QTableWidgetItem(say))

    def _add_row(self) -> None:
        self.add("", "")
        self.table.setCurrentCell(self.table.rowCount() - 1, 0)
        self.table.editItem(self.table.item(self.table.rowCount() - 1, 0))

    def _remove_row(self) -> None:
        row = self.table.currentRow()
        if row >= 0:
            self.table.removeRow(row)
            self.edited.emit()

    def current_word(self) -> str:
        row = self.table.currentRow()
        item = self.table.item(row, 0) if row >= 0 else None
        return item.text().strip() if item is not None else ""

    def lexicon(self) -> Any:
        """The list as typed (rows with both cells empty are skipped); TextInputError names a bad row."""
        entries = []
        for row in range(self.table.rowCount()):
            word, say = (self.table.item(row, c).text().strip() if self.table.item(row, c) else "" for c in (0, 1))
            if word or say:
                entries.append(bridge.pronunciation(word, say))
        return bridge.pronunciations(entries)


@dataclass(frozen=True)
class WordLists:
    project: Any  # the project's Pronunciations
    everyone: Any  # the list every project uses; None when it could not be read (it is kept as it is)


class PronunciationDialog(QDialog):
    hearRequested = Signal(str, object)  # the text, the lexicon to say it with  # noqa: N815
    applied = Signal(object)  # WordLists  # noqa: N815

    def __init__(self, project: Any, global_words: Any, speaker: str, global_problem: str = "",
                 parent: QWidget | None = None, *, markup: bool = False) -> None:
        super().__init__(parent)
        self.global_readable = not global_problem
        self.setWindowTitle("Pronunciations")
        self.setMinimumSize(520, 420)
        self.project_table = _WordTable(project)
        self.global_table = _WordTable(global_words, f"The list for every project cannot be read: {global_problem}"
                                       if global_problem else "")
        self.tabs = QTabWidget()
        self.tabs.addTab(self.project_table, "This project")
        self.tabs.addTab(self.global_table, "Every project")
        self.try_edit = QLineEdit()
        self.try_edit.setPlaceholderText("Type a word or a sentence to try the lists on it")
        self.said = QLabel("")
        self.said.setWordWrap(True)
        self.said.setObjectName("dimLabel")
        self.hear_button = QPushButton(f"Hear it ({speaker})" if speaker else "Hear it")
        self.hear_button.setToolTip("Speak the text (or the selected word) alone, respelled by these lists")
        self.hear_button.clicked.connect(lambda: self._hear())
        self.problem = QLabel("")
        self.problem.setStyleSheet("color: #e05d5d")
        self.problem.setWordWrap(True)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        self.buttons.accepted.connect(self._accept)
        self.buttons.rejected.connect(self.reject)
        for table in (self.project_table, self.global_table):
            table.edited.connect(self._update)
        self.try_edit.textChanged.connect(lambda _t: self._update())
        self.tabs.currentChanged.connect(lambda _i: self._update())
        hear = QHBoxLayout()
        hear.addWidget(self.try_edit, 1)
        hear.addWidget(self.hear_button)
        intro = QLabel("How words are said: whole words, case-aware (an entry with a capital letter matches only "
                       "that case), applied before numbers and abbreviations are spelled out.")
        intro.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addWidget(self.tabs, 1)
        self.markup = None  # pronunciation markup, offered only when the loaded model reads it
        if markup:
            from .markup_palette import MarkupPalette

            self.markup = MarkupPalette()
            self.markup.inserted.connect(self._insert_markup)
            layout.addWidget(self.markup)
        layout.addLayout(hear)
        layout.addWidget(self.said)
        layout.addWidget(self.problem)
        layout.addWidget(self.buttons)
        self._update()

    def lexicons(self) -> tuple[Any, Any]:
        """(the project's list, the global list) as typed; TextInputError for a bad entry."""
        return self.project_table.lexicon(), self.global_table.lexicon()

    def merged(self) -> Any:
        project, everyone = self.lexicons()
        return everyone.merged(project)

    def _text(self) -> str:
        table = self.project_table if self.tabs.currentIndex() == 0 else self.global_table
        return self.try_edit.text().strip() or table.current_word()

    def _update(self) -> None:
        try:
            lexicon = self.merged()
        except TimbreError as error:
            self.problem.setText(str(error))
            self.buttons.button(QDialogButtonBox.StandardButton.Ok).setEnabled(False)
            self.hear_button.setEnabled(False)
            return
        self.problem.setText("")
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setEnabled(True)
        text = self._text()
        self.hear_button.setEnabled(bool(text))
        self.said.setText(f"Said as: {lexicon.apply(text)}" if text else "")

    def _insert_markup(self, token: str) -> None:
        """Add ``token`` to the selected row's "Say it as" (the text to try when no row is selected)."""
        table = (self.project_table if self.tabs.currentIndex() == 0 else self.global_table).table
        row = table.currentRow()
        if row < 0:
            self.try_edit.insert(token)
            return
        item = table.item(row, 1)
        if item is None:
            table.setItem(row, 1, QTableWidgetItem(token))
        else:
            item.setText(item.text() + token)

    def _hear(self) -> None:
        text = self._text()
        if text:
            self.hearRequested.emit(text, self.merged())

    def _accept(self) -> None:
        try:
            project, everyone = self.lexicons()
        except TimbreError as error:
            self.problem.setText(str(error))
            return
        self.applied.emit(WordLists(project, everyone if self.global_readable else None))
        self.accept()
