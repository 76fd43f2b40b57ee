"""Fixtures the server tests share: the tiny engine, a voice library on disk, and real servers on 127.0.0.1."""
from __future__ import annotations

import contextlib
from pathlib import Path

import pytest

from engine import Engine, VoiceLibrary
from engine.server import ServerConfig, SpeechServer
from serverkit import PROMPT_TEXT


@pytest.fixture(scope="session")
def engine(tiny_model_dir: Path) -> Engine:
    """The tiny model on the CPU (fp32), as ``timbre serve --model tests/fixtures/parity/model`` loads it."""
    return Engine.load(tiny_model_dir, device="cpu", normalizer="none")


@pytest.fixture(scope="session")
def voices(engine: Engine, parity_dir: Path, tmp_path_factory) -> VoiceLibrary:
    """A library with 'Prompt' (a real clip with its transcript) and 'Nameless' (the same clip, no transcript)."""
    lib = VoiceLibrary(tmp_path_factory.mktemp("voices"))
    clip = parity_dir / "wavs" / "prompt_en_22k.wav"
    lib.save(engine.make_voice(clip, PROMPT_TEXT, name="Prompt", language="en"))
    lib.save(engine.make_voice(clip, "", name="Nameless"))
    return lib


@pytest.fixture()
def serve(engine, voices):
    """``serve(config=None, engine=None) -> SpeechServer``, started on a free port; stopped after the test."""
    with contextlib.ExitStack() as stack:
        def start(config: ServerConfig | None = None, engine_=None) -> SpeechServer:
            server = SpeechServer(engine_ or engine, voices, config or ServerConfig(port=0))
            return stack.enter_context(server)

        yield start
