"""The instruction presets (``resources/presets/*.json``) by name, for scripts that write ``{Calm}``.

The studio's direction panel offers the same files by group; a script names a preset by its name
(``{Calm}``) or, where two groups share a name, by ``{Group/Name}``. Matching ignores case and spacing.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Mapping


def presets_dir() -> Path:
    """resources/presets next to the engine package (or inside a PyInstaller bundle)."""
    bundle = getattr(sys, "_MEIPASS", None)
    root = Path(bundle) if bundle else Path(__file__).resolve().parent.parent
    return root / "resources" / "presets"


def preset_key(name: str) -> str:
    """How preset names are compared: case-folded, runs of whitespace as one space."""
    return " ".join(name.split()).casefold()


def load_instruction_presets(folder: str | Path | None = None) -> dict[str, str]:
    """``{"Calm": "Speak calmly ...", "Emotion/Calm": ..., ...}`` from every readable preset file in ``folder``.

    A file that cannot be read or parsed is skipped (as the studio does); a name two groups share is only
    reachable as ``Group/Name``."""
    folder = Path(folder) if folder is not None else presets_dir()
    out: dict[str, str] = {}
    seen: dict[str, int] = {}
    for path in sorted(folder.glob("*.json")):
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
            group = str(raw["group"])
            items = [(str(p["name"]), str(p["instruction"])) for p in raw["presets"]]
        except (OSError, ValueError, KeyError, TypeError):
            continue
        for name, instruction in items:
            out[f"{group}/{name}"] = instruction
            seen[preset_key(name)] = seen.get(preset_key(name), 0) + 1
            out[name] = instruction
    return {k: v for k, v in out.items() if "/" in k or seen[preset_key(k)] == 1}


def find_preset(presets: Mapping[str, str], name: str) -> tuple[str, str] | None:
    """``(preset name as listed, instruction)`` for ``name``, or None when no preset has that name."""
    key = preset_key(name)
    for listed, instruction in presets.items():
        if preset_key(listed) == key:
            return listed, instruction
    return None
