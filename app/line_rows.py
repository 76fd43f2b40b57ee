"""What each row of the line list says, as frozen values made from the project's lines (no Qt).

A row is the creator's own sentence with its speaker and direction, its take (which one of how many, how it was
spoken, how long) or why it has none, whether that take is stale, and its checks' verdict with the reasons.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from . import engine_bridge as bridge
from .check_badges import CHECKING, badge, reasons

INSTRUCTION_CHARS = 18  # of the instruction the take column shows; the tooltip has all of it


@dataclass(frozen=True)
class LineRow:
    line_id: str
    number: int
    speaker: str
    text: str  # the line as written, its {direction} in front
    status: str  # missing / ready / stale / generating
    take: str  # "2/3 · Clone · 2.1 s", "—"
    take_tip: str
    verdict: str | None  # the chosen take's checks (None: not checked)
    badge: str
    badge_colour: str
    badge_tip: str
    chapter: str | None = None


def how_spoken(info: Any) -> str:
    """How a take was spoken: the mode, the instruction in instruct mode, or "performed"."""
    if info.kind == "performed":
        return "Performed"
    if info.mode == "instruct" and info.instruction:
        words = " ".join(info.instruction.split())
        return f"“{words[:INSTRUCTION_CHARS]}…”" if len(words) > INSTRUCTION_CHARS else f"“{words}”"
    return bridge.MODE_LABELS.get(info.mode, info.mode)


def take_details(info: Any) -> str:
    """Everything needed to reproduce the take (the tooltip)."""
    lines = [f"Voice: {info.voice_name}", f"Made: {how_spoken(info)}"]
    if info.instruction:
        lines.append(f"Instruction: {info.instruction}")
    if info.spoken_text != info.text:
        lines.append(f"Said as: {info.spoken_text}")
    lines += [f"Seed: {info.seed}", f"Length: {info.duration_s:.2f} s"]
    if info.watchdog:
        lines.append(f"Cut short: {info.watchdog}")
    return "\n".join(lines)


def line_row(view: Any, report: Any, active: bool, checking: bool) -> LineRow:
    """The row of one engine LineView; ``report``: its chosen take's TakeReport (or None)."""
    line = view.line
    text = f"{{{line.direction}}} {line.text}" if line.direction else line.text
    chosen = next((t for t in view.takes if t.id == view.chosen), None)
    status = "generating" if active else view.status.value
    if active:
        take, tip = "generating…", ""
    elif chosen is None:
        take = f"— ({len(view.takes)} take{'s' if len(view.takes) != 1 else ''}, none chosen)" if view.takes else "—"
        tip = "No take yet" if not view.takes else "Choose one of its takes below"
    else:
        n = [t.id for t in view.takes].index(chosen.id) + 1
        stale = "stale · " if status == "stale" else ""
        take = f"{stale}{n}/{len(view.takes)} · {how_spoken(chosen)} · {chosen.duration_s:.1f} s"
        tip = take_details(chosen)
        if stale:
            tip = "Stale: made for another text, voice or direction than the line has now.\n" + tip
    verdict = report.verdict if report is not None else None
    text_badge, colour = CHECKING if checking and report is None else badge(verdict)
    badge_tip = reasons(report) if report is not None else ("Being checked…" if checking else "Not checked yet.")
    return LineRow(view.id, line.index + 1, line.speaker, text, status, take, tip, verdict, text_badge, colour,
                   badge_tip, line.chapter)


def line_rows(views: list, report_of: Callable[[str | None], Any], active: str | None,
              pending: set[str]) -> list[LineRow]:
    return [line_row(v, report_of(v.chosen), v.id == active, v.chosen in pending) for v in views]
