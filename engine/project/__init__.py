"""Narration projects (issue 15): a script with a cast, every take kept, pronunciations, export settings.

    from engine.project import Project, synthesize_line

    project = Project.open("book.timbre")           # or Project.new(script) / Project.recover(autosave)
    project.attach_autosave()                        # crash recovery from now on
    for job in project.jobs("pending"):              # values for the engine's thread
        project.add_take(synthesize_line(engine, job))
        project.autosave()
    export_timeline(project.timeline(), "book.m4b")  # engine.export
    project.save()

Modules: model (the values), identity (lines across edits), status (stale or not), container / schema (the
file), autosave (crash recovery), project (the Project), render (takes from an engine), timeline (to export),
export_settings (the export options as JSON), voice_copies (the cast's voices in the file).
"""
from __future__ import annotations

from .autosave import Autosave, RecoveryInfo, default_autosave_root, find_autosave, find_autosaves
from .export_settings import export_settings_from_json, export_settings_to_json
from .model import CastMember, LineJob, LineRecord, LineStatus, Take, TakeInfo, voice_id
from .project import SUFFIX, Project
from .render import (best_of_line, engine_settings, hear_word, line_request, performed_take, synthesize_line,
                     synthesized_take)
from .schema import FORMAT_VERSION
from .status import LineView

__all__ = [
    "Autosave", "CastMember", "FORMAT_VERSION", "LineJob", "LineRecord", "LineStatus", "LineView", "Project",
    "RecoveryInfo", "SUFFIX", "Take", "TakeInfo", "best_of_line", "default_autosave_root", "engine_settings",
    "export_settings_from_json", "export_settings_to_json", "find_autosave", "find_autosaves", "hear_word",
    "line_request", "performed_take", "synthesize_line", "synthesized_take", "voice_id",
]
