"""The cast as the studio shows it: one row per name in the script (and per member no line uses yet), each mapped to a
saved voice with its default direction; choosing a voice or a direction changes the project's cast (that member's
lines turn stale, their takes are kept).
"""
from __future__ import annotations

from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject

from engine import TimbreError

from . import engine_bridge as bridge
from .widgets.cast_panel import CastRow

if TYPE_CHECKING:
    from .widgets.main_window import MainWindow


class CastWork(QObject):
    def __init__(self, window: "MainWindow") -> None:
        super().__init__(window)
        self.w = window

    def choose_voice(self, name: str, voice_name: str) -> None:
        """Map cast member ``name`` to the saved voice ``voice_name`` ("": none); its lines turn stale, takes kept."""
        try:
            voice = self.w.voice_work.voice(voice_name) if voice_name else None
        except TimbreError as error:
            self.w.show_error("Cannot load the voice", str(error))
            self.refresh()
            return
        self.w.document.set_cast(name, voice)
        self.w.statusBar().showMessage(f"{name} speaks in {voice_name}." if voice_name else f"{name} has no voice.",
                                       4000)

    def rows(self) -> list[CastRow]:
        project = self.w.document.project
        names = list(project.script.speakers)
        for member in project.cast:
            if bridge.name_key(member) not in {bridge.name_key(n) for n in names}:
                names.append(member)
        names.sort(key=lambda n: bridge.name_key(n) != bridge.name_key(bridge.NARRATOR))  # the narrator first
        library = set(self.w.voice_work.voice_names())
        counts: dict[str, list[int]] = {}
        for view in self.w.document.rows():
            c = counts.setdefault(bridge.name_key(view.line.speaker), [0, 0])
            c[0] += 1
            c[1] += view.status.value == "stale"
        rows = []
        for name in names:
            member = self.w.document.member(name)
            voice = member.voice.name if member is not None and member.voice is not None else ""
            lines, stale = counts.get(bridge.name_key(name), [0, 0])
            rows.append(CastRow(member.name if member else name, voice, voice in library,
                                direction_words(member), lines, stale))
        return rows

    def refresh(self) -> None:
        self.w.cast.show_cast(self.rows(), self.w.voice_work.voice_names())
        self.member_selected(self.w.cast.current_name)

    def member_selected(self, name: str) -> None:
        member = self.w.document.member(name) if name else None
        if member is None and name:
            self.w.direction.show_member(name, "zero_shot", "")
            return
        if member is not None:
            mode, instruction = member_direction(member)
            self.w.direction.show_member(member.name, mode, instruction)

    def direction_edited(self, mode: str, instruction: str) -> None:
        name = self.w.direction.member
        member = self.w.document.member(name)
        if member is not None and member_direction(member) == (mode, instruction) and member.mode:
            return
        if mode == "instruct" and not instruction:
            return  # nothing to direct with yet: wait for the instruction
        self.w.document.set_cast(name, mode=mode, instruction=instruction)


def member_direction(member: Any) -> tuple[str, str]:
    """(mode, instruction) the member's lines without their own direction are spoken with."""
    return bridge.expected_direction(SimpleNamespace(instruction=""), member)


def direction_words(member: Any) -> str:
    """The member's default direction in words, for the cast list."""
    if member is None:
        return "no voice yet"
    mode, instruction = member_direction(member)
    label = bridge.MODE_LABELS.get(mode, mode)
    return f"{label}: {instruction}" if instruction else label + ("" if member.mode else " (the voice's default)")
