"""Helpers for the server tests: the request the server makes of a body, and a gate to pause a real engine.

The tiny model never says EOS: every sentence runs until the engine's watchdog stops it (15 speech tokens per
text token by default), so a short input gives a few chunks of nonsense audio in about a second.
"""
from __future__ import annotations

import json
import socket
import threading
import time

import numpy as np

from engine import SynthesisRequest
from engine.server.formats import pcm16

PROMPT_TEXT = "Hello there, this is a short prompt for voice cloning."
TWO_SENTENCES = "Tiny models talk. A second sentence here."  # four chunks when streamed


def expected_pcm(engine, voice, text: str, **kw) -> bytes:
    """What the server must send as ``pcm`` for this request: the engine's samples as 16-bit PCM."""
    return pcm16(engine.synthesize_all(SynthesisRequest(text, voice, **kw)))


class GatedEngine:
    """The real engine with a gate after each request's first chunk, so a test can act while a request is
    known to be mid-generation. ``at_gate`` is set when a request reaches the gate; ``gate`` (set by the test)
    lets it go on. ``started`` lists the texts in the order the worker began them; ``after_gate`` counts the
    chunks the engine still produced after the gate opened, ``outcomes`` how each request ended."""

    def __init__(self, engine):
        self._engine = engine
        self.gate = threading.Event()
        self.at_gate = threading.Event()
        self.started: list[str] = []
        self.tokens: list = []  # each request's cancel token
        self.after_gate = 0
        self.outcomes: list[str] = []

    def __getattr__(self, name):
        return getattr(self._engine, name)

    def synthesize(self, request, *, cancel):
        self.started.append(request.text)
        self.tokens.append(cancel)
        chunks = self._engine.synthesize(request, cancel=cancel)
        try:
            yield next(chunks)
            self.at_gate.set()
            assert self.gate.wait(120), "the test never opened the gate"
            for chunk in chunks:
                self.after_gate += 1
                yield chunk
        except BaseException as e:
            self.outcomes.append(type(e).__name__)
            raise
        self.outcomes.append("done")


def read_pcm(data: bytes) -> np.ndarray:
    return np.frombuffer(data, dtype="<i2")


def wait_until(condition, what: str, timeout: float = 60.0) -> None:
    """Poll ``condition`` until it holds; fail naming ``what`` if it never does (a hang guard, not a speed bound)."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"never happened: {what}"
        time.sleep(0.01)


class RawRequest:
    """One HTTP/1.1 request written on a plain socket, so a test controls exactly when the client goes away."""

    def __init__(self, server, body: dict, path: str = "/v1/audio/speech"):
        payload = json.dumps(body).encode()
        self.sock = socket.create_connection(("127.0.0.1", server.port), timeout=60)
        self.sock.sendall(f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n"
                          f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n\r\n".encode()
                          + payload)
        self.received = b""

    def read_until(self, marker: bytes) -> bytes:
        while marker not in self.received:
            data = self.sock.recv(65536)
            assert data, f"connection closed before {marker!r}"
            self.received += data
        return self.received

    def close(self) -> None:
        self.sock.close()
