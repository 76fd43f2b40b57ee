"""The look: Fusion style with a dark (default) or light palette and a little QSS for the
studio-specific pieces (primary buttons, the mode segments, the transport bar)."""
from __future__ import annotations

from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QApplication

ACCENT = "#4c8dff"

_QSS = """
QGroupBox { font-weight: 600; border: 1px solid palette(mid); border-radius: 6px; margin-top: 14px;
            padding: 10px 8px 8px 8px; }
QGroupBox::title { subcontrol-origin: margin; left: 10px; padding: 0 4px; }
QPushButton { padding: 4px 10px; border-radius: 4px; background: palette(button); border: 1px solid palette(mid); }
QPushButton:hover { border-color: %(accent)s; }
QPushButton:pressed { background: palette(mid); }
QPushButton:disabled { color: palette(placeholder-text); background: palette(window); }
QPushButton:focus, QToolButton:focus { border: 1px solid %(accent)s; }
QPushButton#compactButton { padding: 3px 6px; }
QPushButton#primaryButton { background: %(accent)s; color: white; font-weight: 600; border: 1px solid %(accent)s; }
QPushButton#primaryButton:focus { border: 1px solid palette(bright-text); }
QPushButton#primaryButton:disabled { background: palette(mid); color: palette(dark); border-color: palette(mid); }
QPushButton#recordButton:checked { background: #d64545; color: white; border-color: #d64545; }
QToolButton#segment { padding: 6px 10px; border: 1px solid palette(mid); }
QToolButton#segment:checked { background: %(accent)s; color: white; border-color: %(accent)s; }
QToolButton#tagButton { padding: 3px 6px; border: 1px solid palette(mid); border-radius: 10px; }
QToolButton#tagButton:hover { border-color: %(accent)s; }
QListWidget#presetList::item { border: 1px solid palette(mid); border-radius: 10px; padding: 2px 8px; }
QListWidget#presetList::item:selected { background: %(accent)s; color: white; }
QFrame#playbackBar { border-top: 1px solid palette(mid); }
QLabel#metricLabel { font-family: monospace; color: palette(placeholder-text); padding: 0 4px; }
QLabel#dimLabel { color: palette(placeholder-text); }
QLabel#sectionLabel { color: palette(placeholder-text); font-size: 11px; text-transform: uppercase; }
QLabel#voiceBanner { padding: 4px 2px; }
QLabel#statusField { padding: 0 8px; }
QPlainTextEdit#narrationEditor { padding: 6px; }
"""


def _dark_palette() -> QPalette:
    p = QPalette()
    colors = {
        QPalette.ColorRole.Window: "#1f2125", QPalette.ColorRole.WindowText: "#e6e6e6",
        QPalette.ColorRole.Base: "#16181b", QPalette.ColorRole.AlternateBase: "#1c1e22",
        QPalette.ColorRole.ToolTipBase: "#2b2e33", QPalette.ColorRole.ToolTipText: "#e6e6e6",
        QPalette.ColorRole.Text: "#e6e6e6", QPalette.ColorRole.Button: "#2b2e33",
        QPalette.ColorRole.ButtonText: "#e6e6e6", QPalette.ColorRole.BrightText: "#ffffff",
        QPalette.ColorRole.Highlight: ACCENT, QPalette.ColorRole.HighlightedText: "#ffffff",
        QPalette.ColorRole.Mid: "#3a3d43", QPalette.ColorRole.Dark: "#5a5d63",
        QPalette.ColorRole.PlaceholderText: "#8a8f98", QPalette.ColorRole.Link: ACCENT,
    }
    for role, color in colors.items():
        p.setColor(role, QColor(color))
    for role in (QPalette.ColorRole.Text, QPalette.ColorRole.ButtonText, QPalette.ColorRole.WindowText):
        p.setColor(QPalette.ColorGroup.Disabled, role, QColor("#6b6f76"))
    return p


def apply_theme(theme: str = "dark") -> None:
    app = QApplication.instance()
    if app is None:
        return
    app.setStyle("Fusion")
    if theme == "dark":
        app.setPalette(_dark_palette())
    else:
        palette = app.style().standardPalette()
        palette.setColor(QPalette.ColorRole.Highlight, QColor(ACCENT))
        app.setPalette(palette)
    app.setStyleSheet(_QSS % {"accent": ACCENT})
