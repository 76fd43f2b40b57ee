"""Save screenshots of the main screens (the README's, in resources/screenshots/, and review sets).

    xvfb-run -a -s "-screen 0 1280x800x24" env QT_QPA_PLATFORM=xcb .venv/bin/python -m app.tools.screenshots
    ... -m app.tools.screenshots --theme light --out /tmp/shots --review   # also the window before generating

It drives the real window on the tiny model (engine.tiny, or --model DIR) on the screen it is given: the window
fills the screen's available area, as a user on that screen would make it. It saves two voices from a reference
clip, writes a short script with a narrator and a second speaker (a chapter, a direction, a pause), gives each a
voice in the Cast, generates every line and one more take of a line, and grabs the window (before generating too
with --review) and the dialogs (export, pronunciations, settings, the model manager). Settings and data live in a
temp folder. Works offscreen too (QT_QPA_PLATFORM=offscreen).
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

SCRIPT = """# The Lighthouse
The keeper climbed the stairs one last time. Outside, the storm had passed.
Ann: Is the light still burning?
{Calm} It is. It always has been.
[pause 1s]
Ann: Then we can go home."""


def _wait(app, condition: Callable[[], bool], timeout: float = 300.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        app.processEvents()
        if time.monotonic() > deadline:
            raise TimeoutError("timed out")
        time.sleep(0.01)


def _settle(app, seconds: float = 0.3) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        app.processEvents()
        time.sleep(0.01)


def _fill_screen(window) -> None:
    from PySide6.QtGui import QCursor

    area = window.screen().availableGeometry()
    QCursor.setPos(area.right(), area.bottom())  # the pointer sits mid-screen otherwise, hovering a button
    frame = window.frameGeometry()
    window.resize(area.width() - (frame.width() - window.width()), area.height() - (frame.height() - window.height()))
    window.move(area.topLeft())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="model folder (default: a tiny model made in a temp folder)")
    parser.add_argument("--reference", help="reference clip (default: the test fixture prompt)")
    parser.add_argument("--theme", choices=("dark", "light"), default="dark")
    parser.add_argument("--review", action="store_true", help="also grab the window before generating")
    parser.add_argument("--out", default=str(Path(__file__).resolve().parents[2] / "resources" / "screenshots"))
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="timbre-shots-") as tmp_name:
        tmp = Path(tmp_name)
        os.environ["TIMBRE_CONFIG_DIR"] = str(tmp / "config")
        os.environ["TIMBRE_DATA_DIR"] = str(tmp / "data")
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
        shoot(args, out, tmp)
    print("screenshots in", out)
    return 0


def _save_voice(app, window, reference: Path, name: str, trim: tuple[float, float]) -> None:
    saved: list[str] = []
    window.voiceSaved.connect(saved.append)
    window.reference.import_file(reference)
    window.reference.waveform.set_trim(*trim)
    window.reference.transcript.setPlainText("Hello, this is a short test of my speaking voice.")
    window.reference.name_edit.setText(name)
    window.reference.save_button.click()
    _wait(app, lambda: bool(saved) or window.last_error is not None)
    window.voiceSaved.disconnect(saved.append)


def _generate(app, window, start: Callable[[], bool]) -> None:
    finished: list[str] = []
    window.generationFinished.connect(finished.append)
    if start():
        _wait(app, lambda: bool(finished))
    window.generationFinished.disconnect(finished.append)


def shoot(args: argparse.Namespace, out: Path, tmp: Path) -> None:
    from .. import engine_bridge as bridge
    from ..application import create_main_window, make_qapp
    from ..settings import Settings

    app = make_qapp([sys.argv[0]])
    model = args.model or str(bridge.make_tiny_model(tmp / "tiny"))
    reference = Path(args.reference) if args.reference else \
        Path(__file__).resolve().parents[2] / "tests" / "fixtures" / "parity" / "wavs" / "prompt_en_22k.wav"

    # First start: no model yet, the model manager explains what to do.
    first = create_main_window(Settings(theme=args.theme), voices_dir=tmp / "voices-empty")
    first.show()
    dialog = first.open_model_manager(first_run=True)
    _settle(app)
    dialog.grab().save(str(out / "first-run-models.png"))
    dialog.reject()
    _settle(app)
    if args.review:
        first.grab().save(str(out / "studio-no-model.png"))
    first.shutdown()
    first.close()

    window = create_main_window(Settings(model_dir=model, theme=args.theme), voices_dir=tmp / "voices")
    window.show()
    _fill_screen(window)
    window.start_engine()
    _wait(app, lambda: window.engine_state in ("ready", "failed"))
    _save_voice(app, window, reference, "Ann", (1.0, 3.4))
    _save_voice(app, window, reference, "Keeper", (0.25, 3.6))
    window.editor.setPlainText(SCRIPT)
    window.editor.flush()
    _wait(app, lambda: window.script_current)
    window.choose_cast_voice("Narrator", "Keeper")
    window.choose_cast_voice("Ann", "Ann")
    window.cast.select("Ann")
    _settle(app, 0.5)
    if args.review:
        window.grab().save(str(out / "studio-before.png"))
    _generate(app, window, window.generate_all)
    window.lines.select(window.document.rows()[1].id)
    _generate(app, window, window.generate_line)
    _wait(app, lambda: not window.check_thread.pending, 120)
    window.player.stop()
    _settle(app, 0.5)
    window.grab().save(str(out / "studio.png"))

    window.cast.select("Narrator")
    window.direction.choose_preset("Role", "Mysterious")
    _settle(app)
    window.direction.grab().save(str(out / "direction.png"))
    window.show_voices()  # the reference clip and the saved voices are on the side column's second tab
    _settle(app)
    window.reference.grab().save(str(out / "reference.png"))
    if args.review:
        window.grab().save(str(out / "studio-voices.png"))
    window.show_cast()
    for name, opened in (("export", lambda: window.open_export(tmp / "book.m4b")),
                         ("pronunciations", window.open_pronunciations), ("settings", window.open_settings)):
        shown = opened()
        _settle(app)
        shown.grab().save(str(out / f"{name}.png"))
        shown.close()
    window.shutdown()
    window.close()


if __name__ == "__main__":
    sys.exit(main())
