"""The script: the editor, and under it the problems the parser found, each a link to its place."""
from __future__ import annotations

from html import escape
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QGroupBox, QLabel, QVBoxLayout, QWidget

from .script_editor import ScriptEditor

SHOWN_PROBLEMS = 3  # under the editor; every problem is underlined in the text, its sentence on hover


def problems_html(problems: tuple) -> str:
    """"2 problems: line 3, column 1: …" with each place a link ``L:C``."""
    if not problems:
        return ""
    items = [f'<a href="{p.span.line}:{p.span.column}">line {p.span.line}</a>: {escape(p.message, quote=False)}'
             for p in problems[:SHOWN_PROBLEMS]]
    more = f" … and {len(problems) - SHOWN_PROBLEMS} more (underlined)" if len(problems) > SHOWN_PROBLEMS else ""
    head = "1 problem" if len(problems) == 1 else f"{len(problems)} problems"
    return f"<b>{head}</b> — " + " · ".join(items) + more


class ScriptPanel(QGroupBox):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Script", parent)
        self.editor = ScriptEditor()
        self.problems = QLabel("")
        self.problems.setObjectName("problemsLabel")
        self.problems.setWordWrap(True)
        self.problems.setTextFormat(Qt.TextFormat.RichText)
        self.problems.setVisible(False)
        self.problems.linkActivated.connect(self._jump)
        layout = QVBoxLayout(self)
        layout.setSpacing(4)
        layout.addWidget(self.editor, 1)
        layout.addWidget(self.problems)

    def show_parse(self, script: Any) -> None:
        self.editor.show_parse(script)
        html = problems_html(tuple(script.problems))
        self.problems.setText(html)
        self.problems.setVisible(bool(html))

    def _jump(self, where: str) -> None:
        line, _, column = where.partition(":")
        self.editor.move_to(int(line), int(column))
