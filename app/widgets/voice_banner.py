"""The line above the script that says what the studio needs or does next: a model to get, cast members without a
voice, problems in the script, stale lines to make again, or that the project is ready. When there is something to
do it has a button for it."""
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
    NO_VOICE = "no_voice"  # cast members the script speaks with have no voice
    PROBLEMS = "problems"  # the script has problems (underlined in the editor)
    STALE = "stale"  # lines whose take was made for another voice, text or direction
    READY = "ready"


@dataclass(frozen=True)
class BannerState:
    kind: Banner
    names: tuple[str, ...] = ()  # NO_VOICE: who needs a voice
    count: int = 0  # PROBLEMS: problems; STALE: stale lines; READY: lines with a take
    total: int = 0  # READY: lines
    failed: int = 0  # READY: lines whose take failed its checks


ACTIONS = {Banner.MODEL_NEEDED: "Get a model…", Banner.MODEL_FAILED: "Open Models…", Banner.STALE: "Generate stale"}


def _names(names: tuple[str, ...]) -> str:
    bold = [f"<b>{escape(n, quote=False)}</b>" for n in names]
    return bold[0] if len(bold) == 1 else ", ".join(bold[:-1]) + " and " + bold[-1]


def banner_html(state: BannerState) -> str:
    n = state.count
    return {
        Banner.MODEL_NEEDED: "<b>A speech model is needed</b> before Timbre can speak: download CosyVoice2-0.5B "
                             "once, or pick the folder that holds it.",
        Banner.MODEL_LOADING: "Loading the model… Meanwhile you can prepare the voices, the cast and the script.",
        Banner.MODEL_FAILED: "<b>The model could not be loaded.</b> Check its folder and the device in Models.",
        Banner.NO_VOICE: f"{_names(state.names) if state.names else 'The narrator'} "
                         f"{'needs' if len(state.names) <= 1 else 'need'} a voice: choose one in the Cast "
                         "(save one from a reference clip first if there is none).",
        Banner.PROBLEMS: f"The script has {n} problem{'s' if n != 1 else ''} (underlined): fix "
                         f"{'it' if n == 1 else 'them'} before generating.",
        Banner.STALE: f"{n} line{'s are' if n != 1 else ' is'} <b>stale</b>: {'their takes were' if n != 1 else 'its take was'}"
                      " made with another voice, text or direction (kept; generate again when you like).",
        Banner.READY: (f"{state.count} of {state.total} lines have a take" + (
            f"; {state.failed} failed {'their' if state.failed != 1 else 'its'} checks (“Only failed” shows them, "
            "“Retake failed lines” tries again)." if state.failed else ".")) if state.total else
                      "Write the script below: each sentence becomes a line with its own takes.",
    }[state.kind]


class VoiceBanner(QFrame):
    actionRequested = Signal(object)  # Banner: the state whose button was pressed  # noqa: N815

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("voiceBanner")
        self.state = BannerState(Banner.READY)
        self.label = QLabel()
        self.label.setWordWrap(True)  # never wider than the column: long names wrap
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
