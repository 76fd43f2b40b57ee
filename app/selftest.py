"""``python -m app --self-test``: the whole path on this machine, with a tiny model, in ~a minute.

Starts the real main window offscreen, makes a tiny random model in a temp folder
(engine.tiny.make_tiny_model), imports a reference clip, saves a voice (the narrator speaks in it), streams one
line of a script to the default output device, saves the project, opens it again and plays its take, and exports
it through the export dialog (a FLAC read back). Settings and data go to the temp folder, never to the
user's. Exit code 0 on success; otherwise 1 and a line naming the step that failed and the first error
(exception type and message), even when it happened earlier in a Qt slot and the step only saw its effect.
"""
from __future__ import annotations

import contextlib
import logging
import os
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np

STEP_TIMEOUT_S = 90.0
STEPS = 7


class SelfTestError(Exception):
    pass


class Problems:
    """Everything that goes wrong while the self-test runs, in order, so a failure names its first cause.

    A step rarely fails where the fault is: an exception in a Qt slot is only printed (PySide passes it
    to sys.excepthook and carries on), and a later step then fails with a symptom; a missing wetext
    once surfaced as "Nothing to say: Type some text…". So this records uncaught exceptions (GUI and
    worker threads), the errors the window shows the user, and ERROR log records; WARNING records
    are kept as context.
    """

    def __init__(self) -> None:
        self.errors: list[str] = []
        self.warnings: list[str] = []

    @property
    def first(self) -> str | None:
        return self.errors[0] if self.errors else None

    def add(self, text: str) -> None:
        self.errors.append(" ".join(text.split()))  # one line: messages for dialogs have paragraphs

    @contextlib.contextmanager
    def capture(self) -> Iterator[Problems]:
        problems = self

        class Recorder(logging.Handler):
            def emit(self, record: logging.LogRecord) -> None:
                text = " ".join(summarize_record(record).split())
                (problems.errors if record.levelno >= logging.ERROR else problems.warnings).append(text)

        def on_exception(kind: type[BaseException], error: BaseException, tb: TracebackType | None) -> None:
            traceback.print_exception(kind, error, tb)  # the log keeps the whole story
            problems.add(describe(error))

        def on_thread_exception(args: threading.ExceptHookArgs) -> None:
            if args.exc_value is not None:
                on_exception(args.exc_type, args.exc_value, args.exc_traceback)

        handler = Recorder(logging.WARNING)
        root = logging.getLogger()
        old_hook, old_thread_hook = sys.excepthook, threading.excepthook
        sys.excepthook, threading.excepthook = on_exception, on_thread_exception
        root.addHandler(handler)
        try:
            yield self
        finally:
            root.removeHandler(handler)
            sys.excepthook, threading.excepthook = old_hook, old_thread_hook


def describe(error: BaseException) -> str:
    return str(error) if isinstance(error, SelfTestError) else f"{type(error).__name__}: {error}"


def summarize_record(record: logging.LogRecord) -> str:
    """One line for a log record; a traceback in it (the workers log format_exc()) becomes "Type: message"."""
    message = record.getMessage()
    if record.exc_info and record.exc_info[1] is not None:
        return f"{message.strip()} ({describe(record.exc_info[1])})"
    head, marker, trace = message.partition("Traceback (most recent call last):")
    if marker and trace.strip():
        name, _, text = trace.strip().splitlines()[-1].partition(": ")
        return f"{head.strip()} {name.rsplit('.', 1)[-1]}: {text}".strip()
    return message


def failure_message(step: str, cause: str, symptom: str | None = None, warnings: Sequence[str] = ()) -> str:
    """"self-test FAILED at <step>: <first error>", then what it led to and the warnings logged before."""
    lines = [f"self-test FAILED at {step}: {cause}"]
    if symptom and cause not in symptom:
        lines.append(f"  which then made this fail: {symptom}")
    lines += [f"  warning logged before: {w}" for w in warnings[:3] if w not in cause]
    return "\n".join(lines)


def _wait(app, condition: Callable[[], bool], what: str, problems: Problems,
          timeout: float = STEP_TIMEOUT_S) -> None:
    deadline = time.monotonic() + timeout
    while True:
        app.processEvents()
        if problems.first:  # checked before the condition: a step can "succeed" after a slot has failed
            raise SelfTestError(f"{what}: {problems.first}")
        if condition():
            return
        if time.monotonic() > deadline:
            raise SelfTestError(f"{what}: no result after {timeout:.0f} s")
        time.sleep(0.01)


def speech_like_clip(seconds: float = 2.5, sample_rate: int = 22050, seed: int = 7) -> np.ndarray:
    """A voiced, syllable-modulated harmonic signal: enough for the frontend to treat as speech."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sample_rate)) / sample_rate
    f0 = 140 + 25 * np.sin(2 * np.pi * 0.7 * t)
    phase = 2 * np.pi * np.cumsum(f0) / sample_rate
    voiced = sum(np.sin(k * phase) / k for k in range(1, 12))
    syllables = np.clip(np.sin(2 * np.pi * 3.0 * t), 0, None) ** 0.7
    clip = 0.25 * voiced * syllables + 0.003 * rng.standard_normal(t.size)
    return (clip / np.max(np.abs(clip)) * 0.6).astype(np.float32)


def run_self_test(model_dir: str | None = None) -> int:
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="timbre-selftest-") as tmp_name:
        tmp = Path(tmp_name)
        os.environ["TIMBRE_CONFIG_DIR"] = str(tmp / "config")
        os.environ["TIMBRE_DATA_DIR"] = str(tmp / "data")
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
        test = SelfTest(tmp, model_dir)
        with test.problems.capture():
            try:
                test.run()
                test.step = "closing the window"
                test.close()
                test.check()  # an exception in a slot that broke nothing visible is still a failure
            except Exception as error:  # noqa: BLE001 - any crash is a failed self-test, reported with its cause
                with contextlib.suppress(Exception):  # the report below matters more than a second error
                    test.close()  # stop the engine thread: Qt aborts the process if it is still running
                print(test.failure(error), file=sys.stderr)
                return 1
    print(f"self-test passed in {time.monotonic() - started:.1f} s")
    return 0


class SelfTest:
    """The steps, in order; ``step`` names the one in progress for the failure line."""

    def __init__(self, tmp: Path, model_dir: str | None) -> None:
        self.tmp = tmp
        self.model_dir = model_dir
        self.problems = Problems()
        self.step = "starting"
        self.app: Any = None
        self.window: Any = None

    def begin(self, number: int, what: str) -> None:
        self.check()
        self.step = f"step {number}/{STEPS} ({what})"
        print(f"{number}/{STEPS} {what}…", flush=True)

    def check(self) -> None:
        if self.problems.first:
            raise SelfTestError(self.problems.first)

    def wait(self, condition: Callable[[], bool], what: str, timeout: float = STEP_TIMEOUT_S) -> None:
        _wait(self.app, condition, what, self.problems, timeout)

    def failure(self, error: BaseException) -> str:
        symptom = describe(error)
        errors = self.problems.errors
        warnings = [w for w in self.problems.warnings if not any(e in w for e in errors)]
        return failure_message(self.step, self.problems.first or symptom, symptom, warnings)

    def close(self) -> None:
        if self.window is not None:
            self.window.shutdown()  # the ordered shutdown without "save the changes?" (the temp folder goes)
            self.window.close()
            self.app.processEvents()

    def run(self) -> None:
        import soundfile as sf

        from .application import create_main_window, make_qapp
        from .audio import devices
        from .settings import Settings

        self.step = "checking the audio output"
        reason = devices.no_device_reason("output")
        if reason:
            raise SelfTestError(f"audio output: {reason}")
        self.begin(1, "making a tiny model")
        model_dir = self.model_dir
        if model_dir is None:
            from . import engine_bridge as bridge

            model_dir = str(bridge.make_tiny_model(self.tmp / "tiny-model"))
        self.step = "opening the window"
        self.app = make_qapp()
        window = self.window = create_main_window(Settings(model_dir=model_dir, theme="dark"),
                                                  voices_dir=self.tmp / "voices")
        window.errorShown.connect(lambda title, message: self.problems.add(f"{title}: {message}"))
        window.show()

        self.begin(2, "loading the model")
        window.start_engine()
        self.wait(lambda: window.engine_state == "ready", "loading the model")

        self.begin(3, "importing a reference")
        clip = self.tmp / "reference.wav"
        sf.write(clip, speech_like_clip(), 22050)
        if not window.reference.import_file(clip):
            raise SelfTestError(f"importing the reference: {self.problems.first}")
        window.reference.transcript.setPlainText("This is my reference voice.")
        window.reference.name_edit.setText("Self-test voice")

        self.begin(4, "saving a voice")
        saved: list[str] = []
        window.voiceSaved.connect(saved.append)
        window.reference.save_button.click()
        self.wait(lambda: bool(saved), "saving the voice")
        if window.voice_name != saved[0]:
            raise SelfTestError("the saved voice was not selected")

        self.begin(5, "streaming a line to the default output")
        window.editor.setPlainText("Hello.")
        window.editor.flush()
        self.wait(lambda: window.script_current, "reading the script")
        window.choose_cast_voice("Narrator", saved[0])
        self.check()
        outcome: list[str] = []
        window.generationFinished.connect(outcome.append)
        if not window.generate_all():  # it starts once the text thread has parsed the script
            raise SelfTestError(f"starting generation: {self.problems.first}")
        self.wait(lambda: bool(outcome), "generating", timeout=150)
        if outcome[0] != "finished":
            raise SelfTestError(f"generation {outcome[0]}")
        self.wait(lambda: window.player.stats.finished, "playing", timeout=30)
        stats = window.player.stats
        if stats.played_frames <= 0 or stats.played_frames < stats.queued_frames:
            raise SelfTestError(f"the output stream played {stats.played_frames} of {stats.queued_frames} frames")
        self.project_round_trip(window)
        self.export(window, sf)

    def project_round_trip(self, window: Any) -> None:
        self.begin(6, "saving the project and opening it again")
        path = window.files.save_to(self.tmp / "projects" / "self-test.timbre")
        if path is None or not path.is_file():
            raise SelfTestError(f"saving the project: {self.problems.first}")
        window.files.new()
        if window.document.rows():
            raise SelfTestError("File ▸ New kept the old lines")
        if not window.files.open_path(path) or len(window.document.rows()) != 1:
            raise SelfTestError(f"opening the project again: {self.problems.first}")
        take = window.document.rows()[0].chosen
        if not take or not window.listening.play_take(take):
            raise SelfTestError(f"playing the saved take: {self.problems.first}")
        self.wait(lambda: window.player.stats.finished, "playing the saved take", timeout=30)

    def export(self, window: Any, sf: Any) -> None:
        self.begin(7, "exporting through the export dialog")
        out = self.tmp / "export" / "narration.flac"
        out.parent.mkdir()
        dialog = window.open_export(out)
        if dialog is None:
            raise SelfTestError(f"opening the export dialog: {self.problems.first}")
        done: list = []
        dialog.exported.connect(done.append)
        dialog.export_button.click()
        self.wait(lambda: bool(done) or "Not exported" in dialog.status_label.text(), "exporting")
        if not done:
            raise SelfTestError(f"export: {dialog.report_view.toPlainText()}")
        info = sf.info(str(out))
        if info.format != "FLAC" or info.samplerate != 24000 or info.frames <= 0:
            raise SelfTestError(f"export wrote {info.frames} frames of {info.format} at {info.samplerate} Hz")
        dialog.close()
