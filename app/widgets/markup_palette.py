"""Pronunciation markup for models that read it (CosyVoice 3): pick a CMU phoneme or a pinyin syllable part and
insert it where the cursor is, so "Say it as" can be ``[HH][AH0][L][OW1]`` or ``[n][ǐ][h][ǎo]`` (a CMU vowel with or
without its stress digit: 0 none, 1 primary, 2 secondary).

Only shown when the loaded model supports markup (``Engine.supports_phoneme_markup``); a CosyVoice 2 model would read
the brackets as letters.
"""
from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QPushButton, QWidget

from .. import engine_bridge as bridge

KINDS = ("CMU phonemes (English)", "Pinyin (Chinese)")


class MarkupPalette(QWidget):
    inserted = Signal(str)  # the token to insert, e.g. "[AH0]"

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("markupPalette")
        self._tokens = dict(zip(KINDS, bridge.markup_tokens()))
        self.kind = QComboBox()
        self.kind.addItems(list(KINDS))
        self.token = QComboBox()
        self.token.setMaxVisibleItems(20)
        self.token.setEditable(True)  # pick from the list, or type a token ("[AH0]") and Insert
        self.token.setInsertPolicy(QComboBox.InsertPolicy.NoInsert)
        self.token.currentTextChanged.connect(lambda _t: self._check())
        self.kind.currentTextChanged.connect(self._fill)
        self.insert_button = QPushButton("Insert")
        self.insert_button.setToolTip("Insert the token into “Say it as” (or the text to try)")
        self.insert_button.clicked.connect(lambda: self.inserted.emit(self.token.currentText()))
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(QLabel("Markup"))
        layout.addWidget(self.kind)
        layout.addWidget(self.token, 1)
        layout.addWidget(self.insert_button)
        self._fill(self.kind.currentText())

    def _fill(self, kind: str) -> None:
        self.token.clear()
        self.token.addItems(list(self._tokens[kind]))
        self._check()

    def _check(self) -> None:
        """Insert only what the model knows: a token of the chosen kind, as the list writes it."""
        known = self.token.currentText() in self._tokens[self.kind.currentText()]
        self.insert_button.setEnabled(known)
        self.insert_button.setToolTip("" if known else "Not a token of this kind; "
                                      "pick one from the list")
