"""A project's export settings as JSON (kept in project.json) and back to :class:`engine.export.ExportSettings`.

File paths that belong to one machine (the subtitles file, the cover image) are kept as given; a missing
cover is reported by the export when it runs, not when the project opens.
"""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from ..errors import ExportError

_TEXT_TAGS = ("title", "author", "album", "narrator", "year", "comment")


def export_settings_to_json(settings) -> dict[str, Any]:
    """``ExportSettings`` -> a JSON object."""
    m = settings.metadata
    return {
        "format": settings.format, "sample_rate": settings.sample_rate, "bitrate_kbps": settings.bitrate_kbps,
        "channels": settings.channels, "split": settings.split, "master": settings.master,
        "pauses": {"line_s": settings.pauses.line_s, "paragraph_s": settings.pauses.paragraph_s,
                   "chapter_s": settings.pauses.chapter_s},
        "padding": None if settings.padding is None else {"head_s": settings.padding.head_s,
                                                          "tail_s": settings.padding.tail_s},
        "subtitles": None if settings.subtitles is None else str(settings.subtitles),
        "subtitle_speakers": settings.subtitle_speakers,
        "metadata": {**{k: getattr(m, k) for k in _TEXT_TAGS if getattr(m, k)},
                     **({"cover": str(m.cover)} if m.cover else {})},
    }


def export_settings_from_json(data: dict[str, Any]):
    """A JSON object made by :func:`export_settings_to_json` -> ``ExportSettings`` (ExportError when a value
    is not one an export takes; unknown keys are ignored, so a newer Timbre's extras do not stop an older one)."""
    from ..export import ExportSettings, Metadata, Padding, Pauses

    try:
        base = ExportSettings()
        pauses = data.get("pauses") or {}
        padding = data.get("padding")
        meta = data.get("metadata") or {}
        return replace(
            base, format=data.get("format"), sample_rate=data.get("sample_rate"),
            bitrate_kbps=data.get("bitrate_kbps"), channels=data.get("channels"),
            split=data.get("split", base.split), master=data.get("master", base.master),
            pauses=Pauses(**{k: float(v) for k, v in pauses.items() if k in ("line_s", "paragraph_s", "chapter_s")}),
            padding=None if padding is None else Padding(float(padding.get("head_s", 0)),
                                                         float(padding.get("tail_s", 0))),
            subtitles=Path(data["subtitles"]) if data.get("subtitles") else None,
            subtitle_speakers=bool(data.get("subtitle_speakers", False)),
            metadata=Metadata(**{k: str(meta[k]) for k in _TEXT_TAGS if meta.get(k)},
                              cover=Path(meta["cover"]) if meta.get("cover") else None))
    except (TypeError, ValueError, AttributeError) as e:
        raise ExportError(f"The project's export settings are damaged ({e}); set them again.") from e
