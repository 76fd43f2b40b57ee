"""``python -m app --self-test``: the whole path on this machine, with a tiny model, in ~a minute.

Starts the real main window offscreen, makes a tiny random model in a temp folder
(engine.tiny.make_tiny_model), imports a reference clip, saves a voice, streams one sentence to the
default output device and exports a WAV. Settings and data go to the temp folder, never to the
user's. Exit code 0 on success; otherwise 1 and one line saying which step failed and why.
"""
from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

import numpy as np

STEP_TIMEOUT_S = 90.0


class SelfTestError(Exception):
    pass


def _wait(app, condition: Callable[[], bool], what: str, timeout: float = STEP_TIMEOUT_S,
          failed: Callable[[], str | None] = lambda: None) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        app.processEvents()
        problem = failed()
        if problem:
            raise SelfTestError(f"{what}: {problem}")
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
        try:
            _run(tmp, model_dir)
        except SelfTestError as error:
            print(f"self-test FAILED: {error}", file=sys.stderr)
            return 1
        except Exception as error:  # noqa: BLE001 - any crash is a failed self-test, reported as one line
            print(f"self-test FAILED: {type(error).__name__}: {error}", file=sys.stderr)
            return 1
    print(f"self-test passed in {time.monotonic() - started:.1f} s")
    return 0


def _run(tmp: Path, model_dir: str | None) -> None:
    import soundfile as sf

    from .application import create_main_window, make_qapp
    from .audio import devices
    from .settings import Settings

    reason = devices.no_device_reason("output")
    if reason:
        raise SelfTestError(f"audio output: {reason}")
    print("1/6 making a tiny model…", flush=True)
    if model_dir is None:
        from engine.tiny import make_tiny_model

        model_dir = str(make_tiny_model(tmp / "tiny-model"))
    app = make_qapp([sys.argv[0]])
    window = create_main_window(Settings(model_dir=model_dir, theme="dark"), voices_dir=tmp / "voices")
    window.show()
    errors: list[str] = []
    window.errorShown.connect(lambda title, message: errors.append(f"{title}: {message}"))
    failed = lambda: errors[-1] if errors else None  # noqa: E731

    print("2/6 loading the model…", flush=True)
    window.start_engine()
    _wait(app, lambda: window.engine_state == "ready", "loading the model", failed=failed)

    print("3/6 importing a reference…", flush=True)
    clip = tmp / "reference.wav"
    sf.write(clip, speech_like_clip(), 22050)
    if not window.reference.import_file(clip):
        raise SelfTestError(f"importing the reference: {failed()}")
    window.reference.transcript.setPlainText("This is my reference voice.")
    window.reference.name_edit.setText("Self-test voice")

    print("4/6 saving a voice…", flush=True)
    saved: list[str] = []
    window.voiceSaved.connect(saved.append)
    window.reference.save_button.click()
    _wait(app, lambda: bool(saved), "saving the voice", failed=failed)
    if window.voice_name != saved[0]:
        raise SelfTestError("the saved voice was not selected")

    print("5/6 streaming a sentence to the default output…", flush=True)
    window.direction.set_mode("cross_lingual")
    window.editor.setPlainText("Hello.")
    window.editor.flush()
    outcome: list[str] = []
    window.generationFinished.connect(outcome.append)
    if window.generate_all() is None:
        raise SelfTestError(f"starting generation: {failed()}")
    _wait(app, lambda: bool(outcome), "generating", timeout=150, failed=failed)
    if outcome[0] != "finished":
        raise SelfTestError(f"generation {outcome[0]}")
    _wait(app, lambda: window.player.stats.finished, "playing", timeout=30, failed=failed)
    stats = window.player.stats
    if stats.played_frames <= 0 or stats.played_frames < stats.queued_frames:
        raise SelfTestError(f"the output stream played {stats.played_frames} of {stats.queued_frames} frames")

    print("6/6 exporting a WAV…", flush=True)
    out = window.export_narration(tmp / "export" / "narration.wav")
    if out is None or not out.is_file():
        raise SelfTestError(f"export: {failed()}")
    info = sf.info(str(out))
    if info.samplerate != 24000 or info.frames <= 0:
        raise SelfTestError(f"export wrote {info.frames} frames at {info.samplerate} Hz")
    window.close()
    app.processEvents()
