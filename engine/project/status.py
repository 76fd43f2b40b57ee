"""Whether a take still says its line as the script and cast now ask: the rule behind "stale".

A take is current when it was made in the voice the line's speaker has now, from the text the line reads
now (after the pronunciation list), and - for a synthesized take - in the mode and with the instruction the
line asks for now. Anything else makes it stale; it is kept, and can still be chosen and played.
"""
from __future__ import annotations

from dataclasses import dataclass

from ..script import ScriptLine
from .model import CastMember, LineStatus, TakeInfo


@dataclass(frozen=True)
class LineView:
    """One row of the line list: the line's id, the script line, its status, its takes (oldest first) and the
    chosen take's id (None: none)."""

    id: str
    line: ScriptLine
    status: LineStatus
    takes: tuple[TakeInfo, ...]
    chosen: str | None


def expected(line: ScriptLine, member: CastMember) -> tuple[str, str]:
    """(mode, instruction) a take of ``line`` is made with: the line's own direction (instruct mode), else the
    member's default instruction, else the member's mode (or the voice's default: zero-shot with a transcript,
    cross-lingual without)."""
    if line.instruction:
        return "instruct", line.instruction
    if member.mode in ("", "instruct") and member.instruction:
        return "instruct", member.instruction
    if member.mode:
        return member.mode, member.instruction if member.mode == "instruct" else ""
    has_transcript = member.voice is not None and bool(member.voice.transcript.strip())
    return ("zero_shot" if has_transcript else "cross_lingual"), ""


def take_is_current(take: TakeInfo, line: ScriptLine, member: CastMember, voice_id: str | None,
                    spoken_text: str) -> bool:
    if take.voice_id != voice_id or take.spoken_text != spoken_text:
        return False
    if take.kind == "performed":
        return True
    return (take.mode, take.instruction) == expected(line, member)


__all__ = ["LineStatus", "LineView", "expected", "take_is_current"]
