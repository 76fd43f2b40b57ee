"""A project's chosen takes as the export's :class:`~engine.export.Timeline`.

One segment per line (its text is the subtitle cue, its speaker and chapter come from the script); a line
that ends a paragraph gets the paragraph pause; the last line of each chapter ends it. A ``[pause 1.5s]``
becomes the silence after the line before it (instead of that line's usual pause, so the gap is exactly the
length written; two pauses in a row add up), or a silent segment where no line of its chapter comes before.
"""
from __future__ import annotations

import numpy as np

from ..errors import ProjectError
from ..export import NATIVE_RATE, Segment, SegmentKind, Timeline
from ..script import ScriptLine, ScriptPause


def project_timeline(project) -> Timeline:
    project.script.check()
    views = {v.line.index: v for v in project.rows()}
    parts: list[dict] = []  # Segment fields, finished once the chapter ends are known
    for item in project.script.items:
        if isinstance(item, ScriptPause):
            if parts and parts[-1]["chapter"] == item.chapter:
                parts[-1]["pause_after_s"] = (parts[-1]["pause_after_s"] or 0.0) + item.seconds
            else:
                parts.append(dict(audio=np.zeros(int(round(item.seconds * NATIVE_RATE)), np.float32), text="",
                                  speaker=None, chapter=item.chapter, kind=SegmentKind.LINE, pause_after_s=0.0))
            continue
        parts.append(_line_part(project, views[item.index], item))
    for k, part in enumerate(parts):
        if k == len(parts) - 1 or parts[k + 1]["chapter"] != part["chapter"]:
            part["kind"] = SegmentKind.CHAPTER_END
    return Timeline(tuple(Segment(**p) for p in parts), NATIVE_RATE)


def _line_part(project, view, line: ScriptLine) -> dict:
    if view.chosen is None:
        raise ProjectError(f"Line {line.index + 1} ({line.text[:40]!r}, line {line.span.line} of the script) has no "
                           "take yet; generate it (or choose one of its takes) first.")
    info = project.take_info(view.chosen)
    if info.sample_rate != NATIVE_RATE:
        raise ProjectError(f"The take of line {line.index + 1} is at {info.sample_rate} Hz, not {NATIVE_RATE} Hz.")
    return dict(audio=project.take_audio(view.chosen), text=line.text, speaker=line.speaker, chapter=line.chapter,
                kind=SegmentKind.PARAGRAPH_END if line.paragraph_end else SegmentKind.LINE, pause_after_s=None)
