"""The speech server's switch in the status bar: a check box that starts and stops it, and where it listens."""
from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QCheckBox, QHBoxLayout, QLabel, QWidget


class ServerPanel(QWidget):
    toggled = Signal(bool)  # the user switched the server on (True) or off

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.switch = QCheckBox("Speech server")
        self.switch.setToolTip("Serve your voices to other programs on this computer with the OpenAI audio API "
                               "(127.0.0.1 only), from the loaded model")
        self.switch.toggled.connect(self.toggled)
        self.address = QLabel("off")
        self.address.setObjectName("statusField")
        self.address.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(4)
        layout.addWidget(self.switch)
        layout.addWidget(self.address)

    def show_state(self, on: bool, text: str, tip: str = "") -> None:
        """The switch as ``on`` (without telling anyone) and ``text`` beside it ("off", the URL, "starting…")."""
        self.switch.blockSignals(True)
        self.switch.setChecked(on)
        self.switch.blockSignals(False)
        self.address.setText(text)
        self.address.setToolTip(tip)
