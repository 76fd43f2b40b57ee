"""Save screenshots of the main screens to resources/screenshots/*.png (for the README).

    xvfb-run -a -s "-screen 0 1600x1000x24" env QT_QPA_PLATFORM=xcb .venv/bin/python -m app.tools.screenshots

It drives the real window on the tiny model (engine.tiny, or --model DIR): imports a reference,
saves a voice, types a narration, generates two sentences, and grabs the window and dialogs.
Settings and data live in a temp folder. Works offscreen too (QT_QPA_PLATFORM=offscreen).
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

SIZE = (1440, 900)


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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="model folder (default: a tiny model made in a temp folder)")
    parser.add_argument("--reference", help="reference clip (default: the test fixture prompt)")
    parser.add_argument("--out", default=str(Path(__file__).resolve().parents[2] / "resources" / "screenshots"))
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="timbre-shots-") as tmp_name:
        tmp = Path(tmp_name)
        os.environ["TIMBRE_CONFIG_DIR"] = str(tmp / "config")
        os.environ["TIMBRE_DATA_DIR"] = str(tmp / "data")
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
        from ..application import create_main_window, make_qapp
        from ..resources import sample_texts
        from ..settings import Settings

        app = make_qapp([sys.argv[0]])
        model = args.model
        if model is None:
            from engine.tiny import make_tiny_model

            model = str(make_tiny_model(tmp / "tiny"))
        reference = Path(args.reference) if args.reference else \
            Path(__file__).resolve().parents[2] / "tests" / "fixtures" / "parity" / "wavs" / "prompt_en_22k.wav"

        # First start: no model yet, the model manager explains what to do.
        first = create_main_window(Settings(), voices_dir=tmp / "voices-empty")
        first.resize(*SIZE)
        first.show()
        dialog = first.open_model_manager(first_run=True)
        _settle(app)
        dialog.grab().save(str(out / "first-run-models.png"))
        dialog.reject()
        first.close()

        window = create_main_window(Settings(model_dir=model), voices_dir=tmp / "voices")
        window.resize(*SIZE)
        window.show()
        window.start_engine()
        _wait(app, lambda: window.engine_state in ("ready", "failed"))
        window.reference.import_file(reference)
        window.reference.waveform.set_trim(0.25, 3.6)
        window.reference.transcript.setPlainText("Hello, this is a short test of my speaking voice.")
        window.reference.name_edit.setText("Narrator")
        saved: list[str] = []
        window.voiceSaved.connect(saved.append)
        window.reference.save_button.click()
        _wait(app, lambda: bool(saved) or window.last_error is not None)
        window.editor.setPlainText(sample_texts()["en_story"])
        window.editor.flush()
        window.direction.choose_preset("Emotion", "Calm")
        finished: list[str] = []
        window.generationFinished.connect(finished.append)
        for index in (0, 1):
            finished.clear()
            window.regenerate_sentence(index)
            _wait(app, lambda: bool(finished))
        window.player.stop()
        window.sentences.select(1)
        _settle(app, 0.5)
        window.grab().save(str(out / "studio.png"))

        window.direction.set_mode("instruct")
        window.direction.choose_preset("Role", "Mysterious")
        _settle(app)
        window.direction.grab().save(str(out / "direction.png"))
        window.reference.grab().save(str(out / "reference.png"))
        window.open_settings()
        _settle(app)
        for widget in app.topLevelWidgets():
            if widget.windowTitle() == "Settings" and widget.isVisible():
                widget.grab().save(str(out / "settings.png"))
                widget.close()
        window.close()
    print("screenshots in", out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
