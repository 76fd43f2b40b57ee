"""What Edit ▸ Undo / Redo undoes: script edits, the choice of a take, and deleted takes, in the order they were
made (one QUndoStack, owned by :class:`~app.document.ProjectDocument`).

A script edit is pushed each time the typing settles (a burst of typing is one step); its first redo does
nothing, since the editor already shows the text (and may show newer typing). Undoing it puts the old text back
in the editor and the project; the lines that come back find their takes again (the project retires lines with
their takes). Undoing a delete brings the take back until the project is saved, which drops deleted takes for
good, so saving forgets the undo steps of deletes.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtGui import QUndoCommand

if TYPE_CHECKING:
    from .document import ProjectDocument


class ScriptEdit(QUndoCommand):
    def __init__(self, document: "ProjectDocument", before: str, after: str) -> None:
        super().__init__("Edit the script")
        self.document, self.before, self.after = document, before, after
        self._first = True

    def redo(self) -> None:
        first, self._first = self._first, False
        self.document.apply_script(self.after, show=not first)

    def undo(self) -> None:
        self.document.apply_script(self.before, show=True)


class ChooseTake(QUndoCommand):
    def __init__(self, document: "ProjectDocument", line_id: str, before: str | None, after: str | None) -> None:
        super().__init__("Choose a take")
        self.document, self.line_id, self.before, self.after = document, line_id, before, after

    def redo(self) -> None:
        self.document.apply_choice(self.line_id, self.after)

    def undo(self) -> None:
        self.document.apply_choice(self.line_id, self.before)


class DeleteTake(QUndoCommand):
    """Delete a take; when it was the chosen one, the line's newest remaining take is chosen instead."""

    def __init__(self, document: "ProjectDocument", line_id: str, take_id: str, chosen: str | None,
                 replacement: str | None) -> None:
        super().__init__("Delete a take")
        self.document, self.line_id, self.take_id = document, line_id, take_id
        self.chosen, self.replacement = chosen, replacement

    def redo(self) -> None:
        self.document.apply_delete(self.take_id)
        if self.chosen == self.take_id and self.replacement is not None:
            self.document.apply_choice(self.line_id, self.replacement)

    def undo(self) -> None:
        self.document.apply_restore(self.take_id, choose=self.chosen == self.take_id)
