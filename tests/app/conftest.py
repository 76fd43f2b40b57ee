"""App test setup: settings and data in a temp folder, audio-device checks, the real engine's tiny model."""
from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def app_dirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Never touch the user's settings, voices, autosave or hardware check."""
    monkeypatch.setenv("TIMBRE_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.setenv("TIMBRE_DATA_DIR", str(tmp_path / "data"))
    # nor the hardware check this computer cached for "auto" (engine.machine_check): loads stay the static default
    monkeypatch.setenv("TIMBRE_MACHINE_CHECK_CACHE", str(tmp_path / "cache" / "machine-check.json"))
    return tmp_path


def _no_audio(kind: str) -> str | None:
    from app.audio import devices

    return devices.no_device_reason(kind)


@pytest.fixture
def output_device() -> None:
    """Skip (with the reason) only when this machine has no PortAudio output device at all."""
    reason = _no_audio("output")
    if reason:
        pytest.skip(f"no PortAudio output device: {reason} (CI starts one with .ci/audio.sh)")


@pytest.fixture
def input_device() -> None:
    reason = _no_audio("input")
    if reason:
        pytest.skip(f"no PortAudio input device: {reason} (CI starts one with .ci/audio.sh)")


@pytest.fixture
def reference_wav(parity_dir: Path) -> Path:
    return parity_dir / "wavs" / "prompt_en_22k.wav"


# ---- the studio as a person sees it: a 1280x800 screen, the real window, real dialogs ---------------------
SCREEN = (1280, 800)  # the smallest screen issue 13 names; the studio must fit it


@pytest.fixture(scope="session")
def qapp_args(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    """Qt's offscreen screen is 800x800 unless configured: give it the size of a small laptop screen."""
    import json
    import os

    if os.environ.get("QT_QPA_PLATFORM", "offscreen") != "offscreen":
        return ["timbre-tests"]
    config = tmp_path_factory.mktemp("qt") / "screen.json"
    width, height = SCREEN
    config.write_text(json.dumps({"screens": [{"name": "laptop", "x": 0, "y": 0, "width": width, "height": height,
                                               "logicalDpi": 96, "logicalBaseDpi": 96, "dpr": 1}]}))
    return ["timbre-tests", "-platform", f"offscreen:configfile={config}"]


@pytest.fixture(scope="session")
def voice_file(tmp_path_factory: pytest.TempPathFactory, tiny_model_dir: Path, parity_dir: Path) -> Path:
    """A real voice made once by the engine from the reference recording, exported as a voice file; tests
    import it to have a voice in their library without the model."""
    import soundfile as sf

    from engine import Engine, VoiceLibrary

    audio, rate = sf.read(parity_dir / "wavs" / "prompt_en_22k.wav", dtype="float32")
    engine = Engine.load(tiny_model_dir, device="cpu", precision="fp32", normalizer="none")
    voice = engine.make_voice(audio[int(0.3 * rate):int(2.3 * rate)], "Hello, this is a test of my voice.",
                              name="Narrator", sample_rate=rate)
    folder = tmp_path_factory.mktemp("voice")
    library = VoiceLibrary(folder / "library")
    library.save(voice)
    return library.export("Narrator", folder / "narrator.safetensors")


@pytest.fixture(scope="session")
def other_voice_file(tmp_path_factory: pytest.TempPathFactory, tiny_model_dir: Path, parity_dir: Path) -> Path:
    """Another voice (another stretch of the recording, another transcript): its takes are another voice's."""
    import soundfile as sf

    from engine import Engine, VoiceLibrary

    audio, rate = sf.read(parity_dir / "wavs" / "prompt_en_22k.wav", dtype="float32")
    engine = Engine.load(tiny_model_dir, device="cpu", precision="fp32", normalizer="none")
    voice = engine.make_voice(audio[int(1.0 * rate):int(3.0 * rate)], "This is another voice.", name="Other",
                              sample_rate=rate)
    folder = tmp_path_factory.mktemp("other-voice")
    library = VoiceLibrary(folder / "library")
    library.save(voice)
    return library.export("Other", folder / "other.safetensors")


LOAD_MS = 120_000  # these only end a test that would otherwise hang; never a speed bound
GEN_MS = 240_000


class Studio:
    """Opens real studio windows and does what a person does with them: click, type, wait for the screen."""

    def __init__(self, qtbot, tiny_model_dir: Path, voices_dir: Path) -> None:
        self.qtbot, self.model, self.voices_dir = qtbot, tiny_model_dir, voices_dir
        self.windows: list = []

    def window(self, settings=None, model: bool = True, voices_dir: Path | None = None):
        from app.application import create_main_window
        from app.settings import Settings

        settings = settings or Settings(model_dir=str(self.model) if model else "")
        window = create_main_window(settings, voices_dir=voices_dir or self.voices_dir)
        # Not qtbot.addWidget: pytest-qt closes its widgets before the fixtures end, and a window with unsaved work
        # would then ask its question into the next test; close() below shuts the window down first.
        window.show()
        self.qtbot.waitExposed(window)
        window.activateWindow()
        from PySide6.QtWidgets import QApplication

        # active, or showing a question of its own at start (the recovery of a crashed studio's work)
        self.qtbot.waitUntil(lambda: window.isActiveWindow() or QApplication.activeModalWidget() is not None)
        self.windows.append(window)
        return window

    def load(self, window) -> None:
        with self.qtbot.waitSignal(window.engineStateChanged, timeout=LOAD_MS,
                                   check_params_cb=lambda state: state in ("ready", "failed")):
            window.start_engine()
        assert window.engine_state == "ready", window.last_error
        self.settled(window)

    def settled(self, window) -> None:
        """Wait until the line list shows the editor's text (parsed on the text thread)."""
        self.qtbot.waitUntil(lambda: window.script_current, timeout=LOAD_MS)

    def click(self, widget, button=None) -> None:
        from PySide6.QtCore import QPoint, Qt
        from PySide6.QtWidgets import QCheckBox

        assert widget.isVisible() and widget.isEnabled(), f"{widget.text() if hasattr(widget, 'text') else widget}"
        # A check box is clicked on its box (its widget may be wider than the box and its words).
        pos = QPoint(8, widget.height() // 2) if isinstance(widget, QCheckBox) else None
        if pos is None:
            self.qtbot.mouseClick(widget, button or Qt.MouseButton.LeftButton)
        else:
            self.qtbot.mouseClick(widget, button or Qt.MouseButton.LeftButton, pos=pos)

    def type(self, widget, text: str) -> None:
        """Click into ``widget`` and type ``text`` key by key (a new line is the Return key)."""
        from PySide6.QtCore import Qt

        self.click(widget)
        for i, line in enumerate(text.split("\n")):
            if i:
                self.qtbot.keyClick(widget, Qt.Key.Key_Return)
            if line:
                self.qtbot.keyClicks(widget, line)

    def modal(self, kind, timeout: int = 5000):
        """The window-modal dialog of ``kind`` that is open now."""
        from PySide6.QtWidgets import QApplication

        self.qtbot.waitUntil(lambda: isinstance(QApplication.activeModalWidget(), kind), timeout=timeout)
        dialog = QApplication.activeModalWidget()
        dialog.activateWindow()  # as the window system does for a new dialog; keys go to it
        self.qtbot.waitUntil(dialog.isActiveWindow, timeout=timeout)
        return dialog

    def answer(self, box, text: str) -> None:
        """Click the button of a message box whose text is ``text``."""
        buttons = {b.text(): b for b in box.buttons()}
        assert text in buttons, f"{text!r} not in {list(buttons)}"
        owner = box.parentWidget().window() if box.parentWidget() else None
        self.click(buttons[text])
        if owner is not None:  # the window system gives the window back its focus when the box closes
            owner.activateWindow()
            self.qtbot.waitUntil(owner.isActiveWindow)

    def tab(self, window, text: str) -> None:
        """Click the side column's tab that reads ``text`` ("Cast" or "Voices")."""
        from PySide6.QtCore import Qt

        bar = window.side.tabBar()
        index = next((i for i in range(bar.count()) if bar.tabText(i) == text), -1)
        assert index >= 0, f"{text!r} not in {[bar.tabText(i) for i in range(bar.count())]}"
        self.qtbot.mouseClick(bar, Qt.MouseButton.LeftButton, pos=bar.tabRect(index).center())
        assert window.side.currentIndex() == index

    def import_voice(self, window, voice_file: Path, name: str = "Narrator") -> None:
        window.library.import_file(voice_file, name=name)
        window.voices.refresh()

    def choose(self, combo, text: str) -> None:
        """Open a combo box and click the entry that reads ``text``."""
        from PySide6.QtCore import Qt

        index = combo.findText(text)
        assert index >= 0, f"{text!r} not in {[combo.itemText(i) for i in range(combo.count())]}"
        combo.showPopup()
        view = combo.view()
        self.qtbot.waitUntil(view.isVisible)
        rect = view.visualRect(view.model().index(index, 0))
        self.qtbot.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
        self.qtbot.waitUntil(lambda: not view.isVisible())
        assert combo.currentText() == text
        owner = combo.window()  # the window system gives the window back its focus when the popup closes
        owner.activateWindow()
        self.qtbot.waitUntil(owner.isActiveWindow)

    def cast_voice(self, window, member: str, voice: str) -> None:
        """Pick ``voice`` for cast member ``member`` in the Cast panel."""
        combo = window.cast.combo(member)
        assert combo is not None, f"{member} is not in the cast {[r.name for r in window.cast_rows()]}"
        self.choose(combo, voice)
        member_now = window.document.member(member)
        assert member_now is not None and member_now.voice is not None and member_now.voice.name == voice

    def ready(self, window, voice_file: Path, script: str = "Good morning, sailor.", voice: str = "Narrator",
              mode: str = "Cross-lingual"):
        """The model loaded, ``voice`` in the library and the narrator's, its direction ``mode``, ``script`` typed."""
        self.load(window)
        self.import_voice(window, voice_file, voice)
        self.cast_voice(window, "Narrator", voice)
        self.click(window.direction.mode_buttons[{"Clone": "zero_shot", "Cross-lingual": "cross_lingual",
                                                  "Instruct": "instruct"}[mode]])
        self.type_script(window, script)
        return window

    def lines(self, window) -> list:
        """What the line list shows: (speaker, line, take, check) per row."""
        from app.widgets.line_list import COL_CHECK, COL_SPEAKER, COL_TAKE, COL_TEXT

        model = window.lines.view.model()
        return [tuple(model.index(r, c).data() for c in (COL_SPEAKER, COL_TEXT, COL_TAKE, COL_CHECK))
                for r in range(model.rowCount())]

    def click_line(self, window, row: int) -> None:
        from PySide6.QtCore import Qt

        from app.widgets.line_list import COL_TEXT

        view = window.lines.view
        rect = view.visualRect(view.model().index(row, COL_TEXT))
        self.qtbot.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())

    def click_take(self, window, number: int) -> None:
        """Click take ``number`` (1-based) in the Takes panel."""
        from PySide6.QtCore import Qt

        tree = window.takes.tree
        item = tree.topLevelItem(number - 1)
        tree.scrollToItem(item)
        self.qtbot.mouseClick(tree.viewport(), Qt.MouseButton.LeftButton, pos=tree.visualItemRect(item).center())
        assert window.takes.current_take == item.data(0, Qt.ItemDataRole.UserRole)

    def select_voice(self, window, name: str) -> None:
        """Click the voice's row in the Voices list."""
        from PySide6.QtCore import Qt

        lst = window.voices.list
        item = next(lst.item(i) for i in range(lst.count()) if lst.item(i).data(Qt.ItemDataRole.UserRole) == name)
        lst.scrollToItem(item)
        self.qtbot.mouseClick(lst.viewport(), Qt.MouseButton.LeftButton, pos=lst.visualItemRect(item).center())

    def type_script(self, window, text: str) -> None:
        self.type(window.editor, text)
        self.settled(window)

    def generate_all(self, window) -> str:
        """Click Generate all and wait for the job to end; returns its outcome."""
        with self.qtbot.waitSignal(window.generationFinished, timeout=GEN_MS) as done:
            self.click(window.bar.generate_button)
        return done.args[0]

    def close(self) -> None:
        for window in self.windows:
            close_window(window)


def close_window(window) -> None:
    """Shut a studio window down (which closes its dialogs: a message box left open would be the next test's active
    window), close it and delete it now (processEvents alone never runs deferred deletes)."""
    from PySide6.QtCore import QEvent
    from PySide6.QtWidgets import QApplication

    window.shutdown()
    window.close()
    window.deleteLater()
    QApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)


@pytest.fixture
def studio(qtbot, tiny_model_dir: Path, app_dirs: Path):
    helper = Studio(qtbot, tiny_model_dir, app_dirs / "voices")
    yield helper
    helper.close()
