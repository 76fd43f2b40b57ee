"""The line above the narration that says what the studio needs or does next: a model to get, a voice to pick,
the voice it narrates with, and, while takes exist, that this voice is locked and what to do about it. When there
is something to do it has a button for it."""
from __future__ import annotations

import enum
from dataclasses import dataclass
from html import escape

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QPushButton, QSizePolicy, QWidget


class Banner(str, enum.Enum):
    MODEL_NEEDED = "model_needed"
    MODEL_LOADING = "model_loading"
    MODEL_FAILED = "model_failed"
    NO_VOICE = "no_voice"
    VOICE = "voice"
    LOCKED = "locked"  # takes exist: they were all made with this voice


@dataclass(frozen=True)
class BannerState:
    kind: Banner
    voice: str = ""
    takes: int = 0


ACTIONS = {Banner.MODEL_NEEDED: "Get a model…", Banner.MODEL_FAILED: "Open Models…",
           Banner.LOCKED: "Clear takes…"}


def banner_html(state: BannerState) -> str:
    voice = f"<b>{escape(state.voice, quote=False)}</b>"
    takes = f"{state.takes} take{'s' if state.takes != 1 else ''} of this narration " \
        f"{'was' if state.takes == 1 else 'were'}"
    return {
        Banner.MODEL_NEEDED: "<b>A speech model is needed</b> before Timbre can speak: download CosyVoice2-0.5B "
                             "once, or pick the folder that holds it.",
        Banner.MODEL_LOADING: "Loading the model… Meanwhile you can prepare a voice and the text.",
        Banner.MODEL_FAILED: "<b>The model could not be loaded.</b> Check its folder and the device in Models.",
        Banner.NO_VOICE: "Pick a voice in Voices, or save one from a reference clip.",
        Banner.VOICE: f"Narrating with {voice}.",
        Banner.LOCKED: f"Narrating with {voice} — <b>locked</b>: the {takes} made with it. "
                       "Picking another voice asks whether to keep the takes or clear them.",
    }[state.kind]


class VoiceBanner(QFrame):
    actionRequested = Signal(object)  # Banner: the state whose button was pressed  # noqa: N815

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("voiceBanner")
        self.state = BannerState(Banner.NO_VOICE)
        self.label = QLabel()
        self.label.setWordWrap(True)  # never wider than the column: a long voice name wraps
        self.label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.button = QPushButton()
        self.button.setObjectName("compactButton")
        self.button.clicked.connect(lambda: self.actionRequested.emit(self.state.kind))
        layout = QHBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.setSpacing(8)
        layout.addWidget(self.label, 1)
        layout.addWidget(self.button)
        self.show_state(self.state)

    def show_state(self, state: BannerState) -> None:
        self.state = state
        self.label.setText(banner_html(state))
        action = ACTIONS.get(state.kind)
        self.button.setVisible(action is not None)
        self.button.setText(action or "")
