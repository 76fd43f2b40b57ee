"""Voices made and used: saving the reference clip as a voice (asking before one is replaced), the voice the Voices
list has selected, the voices loaded for the cast (each read from the library once), and the narrator's voice of
a new project. The voice itself is made on the engine thread; this object only asks and files the result.
"""
from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, Qt

from engine import TimbreError

from . import engine_bridge as bridge
from .clips import VoiceRequest
from .engine_status import EngineState
from .workers.synthesis_worker import VoiceResult

if TYPE_CHECKING:
    from .widgets.main_window import MainWindow


class VoiceWork(QObject):
    def __init__(self, window: "MainWindow") -> None:
        super().__init__(window)
        self.w = window
        self.voice_name = ""  # selected in the Voices list
        self._cache: dict[str, Any] = {}
        self._pending: dict[int, tuple[str, str, dict, bool]] = {}  # request -> name, clip, notes, overwrite

    def forget(self) -> None:
        """Another model: voices are loaded again when next used."""
        self._cache.clear()

    def save_voice(self, request: VoiceRequest) -> None:
        """Make a voice of the reference clip (asking first when one of that name exists)."""
        if self.w.engine_status.state is not EngineState.READY:
            self.w.show_error("The model is not ready", "A voice is made with the model. Load a model first "
                              "(Tools → Models…), then press Save voice again.")
            return
        name = request.name
        if name not in self.w.library:
            self._make_voice(request, overwrite=False)
            return
        box = self.w.ask("Replace the voice?", f"A voice named “{name}” exists already.",
                         "Replace it with this clip and transcript? The old voice cannot be brought back "
                         "(projects keep their own copy of the voices they use).", f"Replace “{name}”")
        box.accepted.connect(lambda: self._make_voice(request, overwrite=True))

    def _make_voice(self, request: VoiceRequest, overwrite: bool) -> None:
        name, clip = request.name, request.clip
        report = self.w.reference.report
        notes = {"analysis": {"problems": report.problems, "notes": report.notes}} if report else {}
        job = self.w.engine_thread.make_voice(clip.audio, clip.sample_rate, request.transcript, name)
        self._pending[job] = (name, self.w.reference.source_name, notes, overwrite)
        self.w.statusBar().showMessage(f"Making voice “{name}”…")

    def voice_done(self, result: VoiceResult) -> None:
        name, source, notes, overwrite = self._pending.pop(result.request_id, ("voice", "", {}, False))
        if result.error:
            self.w.show_error(f"Cannot make the voice “{name}”", result.error)
            return
        voice = result.voice
        if dataclasses.is_dataclass(voice):
            fields = {f.name for f in dataclasses.fields(voice)}
            changes = {k: v for k, v in {"name": name, "source_clip": source, "notes": notes}.items() if k in fields}
            voice = dataclasses.replace(voice, **changes)
        try:
            info = self.w.library.save(voice, overwrite=overwrite)
        except TimbreError as error:
            self.w.show_error("Cannot save the voice", str(error))
            return
        self._cache[info.name] = voice
        self.w.voices.refresh(select=info.name)
        narrator = self.w.document.member(bridge.NARRATOR)
        if narrator is None or narrator.voice is None:
            self.w.document.set_cast(bridge.NARRATOR, voice)  # the first voice narrates
        self.w.statusBar().showMessage(f"Saved voice “{info.name}”.", 4000)
        self.w.cast_work.refresh()
        self.w.voiceSaved.emit(info.name)

    def voice_selected(self, name: str) -> None:
        self.voice_name = name
        if name:
            self.w.settings.last_voice = name
        self.w.cast_work.refresh()

    def narrator_voice(self) -> Any:
        """The voice a new project's narrator speaks in: the last voice used, if the library still has it."""
        name = self.w.settings.last_voice
        try:
            return self.voice(name) if name and name in self.w.library else None
        except TimbreError:
            return None

    def voice(self, name: str) -> Any:
        if name not in self._cache:
            self._cache[name] = self.w.library.load(name)
        return self._cache[name]

    def voice_names(self) -> list[str]:
        """The saved voices, as the Voices list shows them."""
        lst = self.w.voices.list
        return [n for n in (lst.item(i).data(Qt.ItemDataRole.UserRole) for i in range(lst.count())) if n]

    def my_presets_changed(self, presets: dict[str, str]) -> None:
        self.w.settings.my_presets = dict(presets)
        try:
            self.w.settings.save()
        except TimbreError as error:
            self.w.statusBar().showMessage(f"Cannot save the presets: {error}", 6000)
