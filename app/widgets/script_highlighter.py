"""Colours for the script editor: speaker names, ``[Name]`` blocks, ``{directions}``, ``[pause 1.5s]``, headings
and fine-grained tags, and a wavy red underline under every problem the parser found.

The spans come from the parser (``Script.marks`` and ``Script.problems``: 1-based lines and columns), so the
editor shows exactly what the project will read, never a second set of rules. After a new parse only the lines
whose colours changed are repainted.
"""
from __future__ import annotations

from typing import Any

from PySide6.QtGui import QColor, QFont, QSyntaxHighlighter, QTextCharFormat, QTextDocument

COLOURS = {"speaker": "#4c8dff", "block": "#4c8dff", "direction": "#d9a441", "pause": "#3fb68b",
           "heading": "#e6e6e6", "tag": "#b48ead"}
PROBLEM = "#e05d5d"

Spans = tuple[tuple[int, int, str], ...]  # (start column 0-based, length, kind) in one line


def _format(kind: str, base: QColor) -> QTextCharFormat:
    f = QTextCharFormat()
    if kind == "problem":
        f.setUnderlineStyle(QTextCharFormat.UnderlineStyle.WaveUnderline)
        f.setUnderlineColor(QColor(PROBLEM))
        return f
    f.setForeground(base if kind == "heading" else QColor(COLOURS[kind]))
    if kind in ("speaker", "block", "heading"):
        f.setFontWeight(QFont.Weight.Bold)
    if kind == "direction":
        f.setFontItalic(True)
    return f


def line_spans(script: Any, lines: int) -> list[Spans]:
    """Per line (0-based) of a text of ``lines`` lines: the marks, then the problems (drawn over them)."""
    out: list[list[tuple[int, int, str]]] = [[] for _ in range(lines)]

    def add(span: Any, kind: str) -> None:
        for n in range(span.line, span.end_line + 1):
            if not 1 <= n <= lines:
                continue
            start = span.column - 1 if n == span.line else 0
            end = span.end_column - 1 if n == span.end_line else 1 << 20
            if end > start:
                out[n - 1].append((start, end - start, kind))

    for mark in script.marks:
        add(mark.span, mark.kind)
    for problem in script.problems:
        add(problem.span, "problem")
    return [tuple(spans) for spans in out]


class ScriptHighlighter(QSyntaxHighlighter):
    def __init__(self, document: QTextDocument, text_colour: QColor) -> None:
        super().__init__(document)
        self._spans: list[Spans] = []
        self._formats = {kind: _format(kind, text_colour) for kind in (*COLOURS, "problem")}

    def show(self, script: Any) -> None:
        """Colour the text as ``script`` (a parse of it) says; only changed lines are repainted."""
        doc = self.document()
        new = line_spans(script, doc.blockCount())
        old, self._spans = self._spans, new
        for n, spans in enumerate(new):
            if n >= len(old) or old[n] != spans:
                self.rehighlightBlock(doc.findBlockByNumber(n))
        for n in range(len(new), len(old)):
            block = doc.findBlockByNumber(n)
            if block.isValid():
                self.rehighlightBlock(block)

    def highlightBlock(self, text: str) -> None:  # noqa: N802 - Qt
        n = self.currentBlock().blockNumber()
        if n >= len(self._spans):
            return
        spans = self._spans[n]
        marks = [(s, min(len(text), s + w), k) for s, w, k in spans if k != "problem" and s < len(text)]
        for start, end, kind in marks:
            self.setFormat(start, end - start, self._formats[kind])
        for start, length, kind in spans:
            if kind != "problem" or start >= len(text):
                continue
            end = min(len(text), start + length)
            # Keep the colour a mark gave, add the underline: one piece per stretch between mark edges.
            cuts = sorted({start, end, *(x for s, e, _ in marks for x in (s, e) if start < x < end)})
            for a, b in zip(cuts, cuts[1:]):
                mark = next((k for s, e, k in marks if s <= a < e), None)
                f = QTextCharFormat(self._formats[mark]) if mark else QTextCharFormat()
                f.merge(self._formats["problem"])
                self.setFormat(a, b - a, f)
