"""Which model family is loaded, and voices of the other one: marked in the Voices list and, when the cast uses one,
re-analysed from their recording instead of a failed generation.

A voice's tensors belong to the model family that made them (CosyVoice 2 and 3 have other speech tokenizers and
prompt mels), and a voice keeps only its clip's name, not the clip. So before a job runs, :meth:`offer_remake`
looks for cast voices of the other family and asks; "Re-analyse…" takes the recording from the Voices tab when it
holds that voice's clip, else asks for the file, and the engine thread makes the voice again
(``Engine.remake_voice``: same name, transcript and notes). The new voice replaces the old one in the library and
in the cast (the old takes are kept, stale: they were made with the other model), then the job goes on.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable

import numpy as np
from PySide6.QtCore import QObject

from engine import TimbreError

from . import engine_bridge as bridge
from .widgets.file_dialogs import FileKind
from .widgets.reference_panel import AUDIO_FILTER
from .workers.synthesis_worker import EngineReady, RequestDone

if TYPE_CHECKING:
    from .widgets.main_window import MainWindow

REMAKE = "Re-analyse…"


class VoiceFamilies(QObject):
    def __init__(self, window: "MainWindow") -> None:
        super().__init__(window)
        self.w = window
        self.family = ""  # the loaded model's ("" while none is ready)
        self.phoneme_markup = False
        self._requests: dict[int, str] = {}  # remake request -> voice name
        self._queue: list[Any] = []  # voices still to re-analyse, then what to do after
        self._then: Callable[[], None] | None = None
        w = window.engine_thread.worker
        w.engineLoading.connect(self.loading)  # bound methods: queued into the GUI thread
        w.engineReady.connect(self.ready)
        w.requestDone.connect(self.request_done)

    def loading(self, _folder: str) -> None:
        self.family, self.phoneme_markup = "", False
        self.w.voices.set_model_family("")

    def ready(self, ready: EngineReady) -> None:
        self.family, self.phoneme_markup = ready.family, ready.phoneme_markup
        self.w.voices.set_model_family(ready.family)

    # ---- before a job ---------------------------------------------------------------------------
    def other_family(self, jobs: list) -> list[Any]:
        """The voices of ``jobs`` made with the other family (each once)."""
        seen: dict[str, Any] = {}
        for job in jobs:
            if self.family and job.voice.family != self.family:
                seen.setdefault(bridge.name_key(job.voice.name), job.voice)
        return list(seen.values())

    def offer_remake(self, jobs: list, then: Callable[[], None]) -> bool:
        """True (and a question) when a voice of ``jobs`` must be made again first; ``then`` runs once it is."""
        voices = self.other_family(jobs)
        if not voices:
            return False
        names = ", ".join(f"“{v.name}”" for v in voices)
        made, here = bridge.family_name(voices[0].family), bridge.family_name(self.family)
        box = self.w.ask("Re-analyse the voice?", f"{names} {'was' if len(voices) == 1 else 'were'} made with "
                         f"{made}; the loaded model is {here}.",
                         f"Their speech tokens differ, so it would not sound like the voice. Re-analyse it from its "
                         f"recording for {here}? (The saved voice is replaced; takes made before are kept.)", REMAKE)
        box.accepted.connect(lambda: self.remake(voices, then))
        return True

    # ---- re-analysing ---------------------------------------------------------------------------
    def remake(self, voices: list[Any], then: Callable[[], None] | None = None) -> None:
        self._queue, self._then = list(voices), then
        self._next()

    def _next(self) -> None:
        if not self._queue:
            then, self._then = self._then, None
            if then is not None:
                then()
            return
        voice = self._queue[0]
        ref = self.w.reference
        if voice.source_clip and ref.source_name == voice.source_clip and len(ref.audio):
            self._send(voice, ref.audio, ref.sample_rate)
            return
        clip = f" ({voice.source_clip})" if voice.source_clip else ""
        self.w.dialogs.open_file(self.w, FileKind.REFERENCE, f"The recording of “{voice.name}”{clip}", AUDIO_FILTER,
                                 lambda path: self._clip_chosen(voice, path))

    def _clip_chosen(self, voice: Any, path: Any) -> None:
        try:
            audio, rate = bridge.load_audio(path)
        except TimbreError as error:
            self._queue = []
            self.w.show_error("Cannot read the recording", str(error))
            return
        self._send(voice, audio, rate)

    def _send(self, voice: Any, audio: np.ndarray, rate: int) -> None:
        request = self.w.engine_thread.remake_voice(voice, audio, rate)
        self._requests[request] = voice.name
        self.w.statusBar().showMessage(f"Re-analysing “{voice.name}” for {bridge.family_name(self.family)}…")

    def request_done(self, done: RequestDone) -> None:
        name = self._requests.pop(done.request_id, None)
        if name is None:
            return
        if done.error:
            self._queue = []
            self.w.show_error(f"Cannot re-analyse “{name}”", done.error)
            return
        self._replace(done.voice)
        self._queue = self._queue[1:]
        self._next()

    def _replace(self, voice: Any) -> None:
        """The remade voice in the library (where it is of the other family) and for every cast member using it."""
        library = self.w.library
        try:
            if voice.name in library and library.load(voice.name).family != voice.family:
                library.save(voice, overwrite=True)
        except TimbreError as error:
            self.w.show_error("Cannot save the voice", str(error))
        self.w.voice_work.forget()
        key = bridge.name_key(voice.name)
        for name, member in list(self.w.document.project.cast.items()):
            if member.voice is not None and bridge.name_key(member.voice.name) == key:
                self.w.document.set_cast(name, voice)
        self.w.voices.refresh()
        self.w.statusBar().showMessage(f"“{voice.name}” is made for {bridge.family_name(voice.family)} now.", 5000)
