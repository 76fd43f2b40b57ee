"""The studio's speech server switch (issue 18): the OpenAI audio API on 127.0.0.1 with the studio's loaded model and
voices, asked by the official ``openai`` package while the studio is open, and one engine lock shared with the
studio's own generation."""
from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import openai
import pytest

from app.settings import Settings

pytestmark = pytest.mark.slow
WAIT_MS = 240_000  # only ends a test that would otherwise hang; never a speed bound


def speak(url: str, text: str, seed: int = 5) -> bytes:
    client = openai.OpenAI(base_url=url, api_key="unused", max_retries=0, timeout=600)
    return client.audio.speech.create(model="tts-1", voice="Narrator", input=text, response_format="pcm",
                                      extra_body={"seed": seed}).content


def switch_on(studio, window) -> str:
    studio.click(window.extras.server.panel.switch)
    studio.qtbot.waitUntil(lambda: window.extras.server.panel.address.text().startswith("http"), timeout=WAIT_MS)
    return window.extras.server.panel.address.text()


def test_the_switch_serves_the_studios_voices_and_stops(studio, qtbot, voice_file: Path) -> None:
    window = studio.window(Settings(model_dir=str(studio.model), server_port=0))  # 0: any free port
    studio.load(window)
    studio.import_voice(window, voice_file)
    panel = window.extras.server.panel
    assert panel.address.text() == "off" and not panel.switch.isChecked()
    shown = switch_on(studio, window)
    url, port = shown.split(" · port ")
    assert url == f"http://127.0.0.1:{port}/v1" and int(port) > 0
    client = openai.OpenAI(base_url=url, api_key="unused", max_retries=0)
    assert [v["name"] for v in client.get("/audio/voices", cast_to=dict)["voices"]] == ["Narrator"]
    pcm = np.frombuffer(speak(url, "Hello there."), np.int16)
    assert len(pcm) > 0 and np.abs(pcm).max() > 0  # audio, not silence
    studio.click(panel.switch)
    qtbot.waitUntil(lambda: panel.address.text() == "off", timeout=WAIT_MS)
    with pytest.raises(openai.APIConnectionError):
        speak(url, "Hello there.")


def test_server_and_studio_share_one_engine_lock(studio, qtbot, voice_file: Path) -> None:
    window = studio.ready(studio.window(Settings(model_dir=str(studio.model), server_port=0)), voice_file,
                          "Good morning, sailor. The sea is calm. The wind is low.")
    url = switch_on(studio, window).split(" · ")[0]
    alone = speak(url, "Tiny models talk.")
    # While the studio holds the engine (as it does for each line it makes), a request waits: no audio comes.
    got: list[bytes] = []
    lock = window.engine_thread.worker.engine_lock
    with lock:
        asking = threading.Thread(target=lambda: got.append(speak(url, "Tiny models talk.")))
        asking.start()
        health = openai.OpenAI(base_url=url.removesuffix("/v1"), api_key="unused", max_retries=0)
        qtbot.waitUntil(lambda: health.get("/health", cast_to=dict)["queue"]["running"] == 1, timeout=WAIT_MS)
        asking.join(0.5)
        assert asking.is_alive() and not got  # the server took the request, and waits for the engine
    asking.join(WAIT_MS / 1000)
    assert got == [alone]  # served once the studio let go, and the same answer as alone
    # The studio generates while the server answers: both complete, and the server's answer is the one it
    # gives alone (the engine was never run by both at once: same seed, same input, same samples).
    with qtbot.waitSignal(window.generationFinished, timeout=WAIT_MS) as done:
        studio.click(window.bar.generate_button)
        during = speak(url, "Tiny models talk.")
    assert done.args[0] == "finished", window.last_error
    assert during == alone
    assert all(row[2].startswith("1/1") for row in studio.lines(window))
