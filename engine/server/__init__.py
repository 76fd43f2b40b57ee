"""A local speech server with OpenAI's audio API, for the tools that speak it (chat front-ends, readers, agents).

    from engine.server import ServerConfig, SpeechServer

    with SpeechServer(engine, VoiceLibrary(), ServerConfig(port=0)) as server:
        OpenAI(base_url=server.base_url, api_key="unused").audio.speech.create(
            model="tts-1", voice="Me", input="Hello.")

Layout: :mod:`.config` (what it may do), :mod:`.schemas` (request bodies, model names), :mod:`.app` (routes),
:mod:`.worker` (the one thread that owns the engine, the queue), :mod:`.response` (streaming, disconnects),
:mod:`.formats` (encoders), :mod:`.errors` (OpenAI's error objects), :mod:`.limits` (body size),
:mod:`.server` (uvicorn, start/stop), :mod:`.bench` (load test). Needs the ``server`` extra.
"""
from __future__ import annotations

from .app import create_app
from .config import ServerConfig, is_loopback
from .server import SpeechServer

__all__ = ["ServerConfig", "SpeechServer", "create_app", "is_loopback"]
