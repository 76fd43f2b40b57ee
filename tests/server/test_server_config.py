"""What the server may do is checked before it starts: addresses, keys, CORS, ports."""
from __future__ import annotations

import socket

import pytest

from engine.errors import ServerError
from engine.server import ServerConfig, SpeechServer, is_loopback
from engine.server.config import LOOPBACK_HOST_HEADERS


@pytest.mark.parametrize("host, loopback", [
    ("127.0.0.1", True), ("127.8.9.10", True), ("::1", True), ("[::1]", True), ("localhost", True),
    ("LocalHost", True), ("0.0.0.0", False), ("::", False), ("192.168.1.20", False), ("studio.lan", False),
])
def test_is_loopback(host, loopback):
    assert is_loopback(host) is loopback


def test_listening_beyond_loopback_needs_a_key():
    with pytest.raises(ServerError, match="API key"):
        ServerConfig(host="0.0.0.0")
    cfg = ServerConfig(host="0.0.0.0", api_key="k")
    assert cfg.trusted_hosts == ("*",)  # reached by any name; the key guards it
    assert ServerConfig().trusted_hosts == LOOPBACK_HOST_HEADERS
    assert ServerConfig(allowed_hosts=("tts.lan",)).trusted_hosts == ("tts.lan",)


@pytest.mark.parametrize("kw, needle", [
    ({"cors_origins": ("*",)}, "any web page"),
    ({"api_key": "  "}, "empty"),
    ({"port": 70000}, "TCP port"),
    ({"max_input_chars": 0}, "at least 1"),
    ({"queue_depth": -1}, "negative"),
])
def test_bad_settings_are_refused(kw, needle):
    with pytest.raises(ServerError, match=needle):
        ServerConfig(**kw)


def test_a_port_in_use_is_a_clear_error(engine, voices):
    taken = socket.create_server(("127.0.0.1", 0))
    try:
        port = taken.getsockname()[1]
        with pytest.raises(ServerError, match=f"Cannot listen on 127.0.0.1:{port}.*--port"):
            SpeechServer(engine, voices, ServerConfig(port=port)).start()
    finally:
        taken.close()
