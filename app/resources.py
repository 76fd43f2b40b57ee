"""Where the app's bundled files live (source tree, installed package, or a PyInstaller bundle)."""
from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path


def resources_dir() -> Path:
    """resources/ next to the app package (or inside a PyInstaller bundle)."""
    bundle = getattr(sys, "_MEIPASS", None)
    if bundle:
        return Path(bundle) / "resources"
    return Path(__file__).resolve().parent.parent / "resources"


def icon_path(name: str = "timbre.svg") -> Path:
    return resources_dir() / "icons" / name


@dataclass(frozen=True)
class Preset:
    group: str
    name: str
    instruction: str


def load_presets(folder: Path | None = None) -> dict[str, list[Preset]]:
    """Instruction presets by group, in each file's "order"; a bad file is skipped, not fatal."""
    folder = folder or resources_dir() / "presets"
    groups: list[tuple[int, str, list[Preset]]] = []
    for path in sorted(folder.glob("*.json")):
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
            group = str(raw["group"])
            presets = [Preset(group, str(p["name"]), str(p["instruction"])) for p in raw["presets"]]
        except (OSError, ValueError, KeyError, TypeError):
            continue
        groups.append((int(raw.get("order", 99)), group, presets))
    return {group: presets for _, group, presets in sorted(groups, key=lambda g: (g[0], g[1]))}


def sample_texts() -> dict[str, str]:
    folder = resources_dir() / "sample_texts"
    return {p.stem: p.read_text(encoding="utf-8").strip() for p in sorted(folder.glob("*.txt"))}
