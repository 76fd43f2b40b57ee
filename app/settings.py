"""Typed application settings, saved as JSON in the platform's user config folder.

One frozen-free dataclass so every field has a type and a default; unknown keys in an old or newer
file are ignored and wrong types fall back to the default, so a damaged file never stops the app.
The write is atomic (temp file + rename) so a crash mid-save cannot leave half a file.
"""
from __future__ import annotations

import dataclasses
import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

import platformdirs

from engine import atomic_write_text as engine_atomic_write_text

log = logging.getLogger(__name__)

APP_NAME = "Timbre"
SETTINGS_FILE = "settings.json"
RECENT_PROJECTS = 8


def config_dir() -> Path:
    """Folder for settings.json (TIMBRE_CONFIG_DIR overrides it, e.g. in tests)."""
    override = os.environ.get("TIMBRE_CONFIG_DIR")
    return Path(override) if override else Path(platformdirs.user_config_dir(APP_NAME, appauthor=False))


def data_dir() -> Path:
    """Folder for voices, autosave and downloaded models (TIMBRE_DATA_DIR overrides it)."""
    override = os.environ.get("TIMBRE_DATA_DIR")
    return Path(override) if override else Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))


def autosave_dir() -> Path:
    """Where open projects keep their autosave (one folder per project, see engine.project.autosave)."""
    return data_dir() / "autosave" / "projects"


def pronunciations_file() -> Path:
    """The pronunciation list every project uses (the engine's global list, in this data folder)."""
    return data_dir() / "pronunciations.json"


@dataclass
class Settings:
    # Audio: None means "the system default device".
    input_device: str | None = None
    output_device: str | None = None
    # Model: the folder of an official-layout CosyVoice2-0.5B model; "" = not chosen yet.
    model_dir: str = ""
    device: str = "auto"  # "auto", "cpu", "cuda", "mps"
    precision: str = "auto"  # "auto" or an engine precision: "fp32", "bf16", "fp16", "int8"
    flow_history: str = "auto"  # streaming memory: "auto" (as the precision keeps it), "exact", "bf16", "int8"
    # Output
    output_dir: str = ""
    # Take checks: check every new take; how many takes "Retake failed lines" may make per line
    check_takes: bool = True
    best_of: int = 3
    # Look
    theme: str = "dark"  # "dark" or "light"
    # Session
    last_voice: str = ""
    window_geometry: str = ""  # QByteArray hex of saveGeometry()
    window_state: str = ""  # QByteArray hex of saveState()
    mode: str = "zero_shot"  # one of engine_bridge.MODES (older files may say "clone")
    speed: float = 1.0
    seed: int = 1986
    seed_locked: bool = False
    streaming: bool = True
    my_presets: dict[str, str] = field(default_factory=dict)  # the user's own instructions: name -> text
    # Older versions saved edits of the built-in presets here ("Emotion/Happy" -> text); read once and kept as
    # "Happy (edited)" in my_presets, so the built-in presets stay what they say and no text is lost.
    custom_presets: dict[str, str] = field(default_factory=dict)
    last_folders: dict[str, str] = field(default_factory=dict)  # file dialog kind -> the folder used last
    recent_projects: list[str] = field(default_factory=list)  # .timbre files, the newest first
    # The last model load that did not end "ready": folder, state ("loading" / "failed"), message (app/model_guard.py)
    model_load: dict[str, str] = field(default_factory=dict)
    server_port: int = 8000  # the studio's speech server (Tools ▸ Speech server), on 127.0.0.1

    def __post_init__(self) -> None:
        _migrate(self)

    @classmethod
    def load(cls, path: Path | None = None) -> "Settings":
        path = path or config_dir() / SETTINGS_FILE
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return cls()
        except (OSError, ValueError) as error:
            log.warning("settings file %s unreadable (%s); using defaults", path, error)
            return cls()
        if not isinstance(raw, dict):
            return cls()
        defaults = cls()
        values = {}
        for f in dataclasses.fields(cls):
            if f.name not in raw:
                continue
            value, default = raw[f.name], getattr(defaults, f.name)
            if _same_kind(value, default, f.type):
                values[f.name] = float(value) if isinstance(default, float) else value
            else:
                log.warning("settings: ignoring %s=%r (wrong type)", f.name, value)
        return cls(**values)

    def remember_project(self, path: Path) -> None:
        """``path`` goes to the top of File ▸ Recent (at most :data:`RECENT_PROJECTS` entries)."""
        name = str(Path(path).resolve())
        self.recent_projects = [name, *(p for p in self.recent_projects if p != name)][:RECENT_PROJECTS]

    def save(self, path: Path | None = None) -> Path:
        path = path or config_dir() / SETTINGS_FILE
        atomic_write_text(path, json.dumps(dataclasses.asdict(self), indent=2, sort_keys=True))
        return path


def _migrate(settings: "Settings") -> None:
    """Edited built-in presets of older versions become the user's own presets."""
    for key, text in settings.custom_presets.items():
        if text.strip():
            settings.my_presets.setdefault(f"{key.rsplit('/', 1)[-1]} (edited)", text)
    settings.custom_presets = {}


def _same_kind(value: object, default: object, annotation: object) -> bool:
    if default is None or "None" in str(annotation):
        return value is None or isinstance(value, str)
    if isinstance(default, bool):
        return isinstance(value, bool)
    if isinstance(default, float):
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if isinstance(default, int):
        return isinstance(value, int) and not isinstance(value, bool)
    if isinstance(default, dict):  # every dict setting maps names to text
        return isinstance(value, dict) and all(isinstance(v, str) for v in value.values())
    if isinstance(default, list):  # every list setting is a list of text
        return isinstance(value, list) and all(isinstance(v, str) for v in value)
    return isinstance(value, type(default))


def atomic_write_text(path: Path, text: str) -> None:
    """Write text to path so that readers see either the old or the new file, never a half (user's umask)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    engine_atomic_write_text(path, text)
