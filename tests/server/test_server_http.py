"""Raw HTTP against the real server: streaming while generating, disconnects, the queue, and every error.

Where a test must act while a request is known to be mid-generation, the server runs the real engine behind a
gate (:class:`serverkit.GatedEngine`) that holds each request after its first chunk until the test opens it.
"""
from __future__ import annotations

import struct
import threading

import httpx
import numpy as np
import pytest

from engine.server import ServerConfig
from serverkit import TWO_SENTENCES, GatedEngine, RawRequest, expected_pcm, read_pcm, wait_until


def speech(text: str = "Hi.", **kw) -> dict:
    return {"model": "tts-1", "voice": "Prompt", "input": text, "response_format": "pcm", **kw}


def test_wav_streams_while_the_rest_is_generated(serve, engine, voices):
    gated = GatedEngine(engine)
    server = serve(engine_=gated)
    with httpx.Client(timeout=60) as c, c.stream("POST", server.base_url + "/audio/speech",
                                                 json=speech(TWO_SENTENCES, response_format="wav", seed=5)) as r:
        assert r.status_code == 200 and r.headers["transfer-encoding"] == "chunked"
        assert r.headers["content-type"] == "audio/wav"
        pieces = r.iter_raw()
        first = b""
        while len(first) <= 44:  # the header and some audio, received while the engine is held at the gate
            first += next(pieces)
        assert gated.at_gate.wait(60) and gated.after_gate == 0
        # a streamed WAV says "length unknown": RIFF and data sizes 0xFFFFFFFF
        assert first[:4] == b"RIFF" and first[8:16] == b"WAVEfmt " and first[36:40] == b"data"
        assert struct.unpack("<I", first[4:8])[0] == struct.unpack("<I", first[40:44])[0] == 0xFFFFFFFF
        gated.gate.set()
        body = first + b"".join(pieces)
    assert gated.after_gate > 0 and gated.outcomes == ["done"]
    assert body[44:] == expected_pcm(engine, voices.load("Prompt"), TWO_SENTENCES, seed=5)


def test_a_client_that_disconnects_mid_sentence_cancels_within_a_step(serve, engine):
    gated = GatedEngine(engine)
    server = serve(engine_=gated)
    req = RawRequest(server, speech(TWO_SENTENCES))
    req.read_until(b"\r\n\r\n")  # the status line and headers came: the first chunk is out
    assert gated.at_gate.wait(60)
    req.close()
    wait_until(lambda: gated.tokens[0].cancelled, "the server cancelling the request of a client that left")
    gated.gate.set()
    wait_until(lambda: server.worker.stats().cancelled == 1, "the worker ending the cancelled request")
    # the engine's next step saw the token: not one more chunk was made after the gate opened
    assert gated.outcomes == ["Cancelled"] and gated.after_gate == 0
    assert httpx.get(server.url + "/health").json()["queue"] == {"running": 0, "waiting": 0, "depth": 8}


def test_a_waiting_client_that_leaves_frees_its_place_and_is_never_spoken(serve, engine):
    gated = GatedEngine(engine)
    server = serve(ServerConfig(port=0, queue_depth=2), engine_=gated)
    first = RawRequest(server, speech("First one."))
    assert gated.at_gate.wait(60)
    second = RawRequest(server, speech("Second one."))
    wait_until(lambda: server.worker.stats().waiting == 1, "the second request queueing")
    second.close()
    wait_until(lambda: server.worker.stats().waiting == 0, "the queue dropping the request of a client that left")
    assert server.worker.stats().cancelled == 1
    gated.gate.set()
    first.read_until(b"\r\n0\r\n\r\n")  # the end of the chunked body
    first.close()
    assert gated.started == ["First one."]


def test_the_queue_serves_in_order_and_refuses_when_full(serve, engine, voices):
    gated = GatedEngine(engine)
    server = serve(ServerConfig(port=0, queue_depth=2), engine_=gated)
    texts = ["Alpha.", "Bravo.", "Charlie."]
    reqs = [RawRequest(server, speech(texts[0]))]
    assert gated.at_gate.wait(60)
    for i, text in enumerate(texts[1:], start=1):
        reqs.append(RawRequest(server, speech(text)))
        wait_until(lambda: server.worker.stats().waiting == i, f"request {i} queueing")
    # one running + two waiting = full
    r = httpx.post(server.base_url + "/audio/speech", json=speech("Delta."), timeout=60)
    assert r.status_code == 429 and r.headers["retry-after"] == "5"
    assert r.json()["error"]["type"] == "rate_limit_error" and r.json()["error"]["code"] == "queue_full"
    gated.gate.set()
    bodies = [q.read_until(b"\r\n0\r\n\r\n") for q in reqs]
    for q in reqs:
        q.close()
    assert gated.started == texts
    prompt = voices.load("Prompt")
    for text, raw in zip(texts, bodies):  # each client got its own audio, whole
        assert _dechunk(raw) == expected_pcm(engine, prompt, text)


def _dechunk(raw: bytes) -> bytes:
    """The body of a raw chunked HTTP/1.1 response."""
    head, _, rest = raw.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200") and b"transfer-encoding: chunked" in head.lower()
    body = b""
    while True:
        size_line, _, rest = rest.partition(b"\r\n")
        size = int(size_line, 16)
        if size == 0:
            return body
        body, rest = body + rest[:size], rest[size + 2:]


def test_stopping_the_server_cancels_the_running_request(serve, engine):
    gated = GatedEngine(engine)
    server = serve(engine_=gated)
    req = RawRequest(server, speech(TWO_SENTENCES))
    req.read_until(b"\r\n\r\n")
    assert gated.at_gate.wait(60)
    stopper = threading.Thread(target=server.stop)
    stopper.start()
    wait_until(lambda: gated.tokens[0].cancelled, "stop cancelling the running request")
    gated.gate.set()
    stopper.join(60)
    assert not stopper.is_alive() and gated.outcomes == ["Cancelled"] and gated.after_gate == 0
    while data := req.sock.recv(65536):  # the stream ends without its final chunk: the client sees it cut short
        req.received += data
    assert not req.received.endswith(b"\r\n0\r\n\r\n")
    req.close()
    with pytest.raises(httpx.ConnectError):
        httpx.get(server.url + "/health")


@pytest.mark.parametrize("body, status, code, needle", [
    ({**speech(), "voice": "Nobody"}, 404, "voice_not_found", "No voice named 'Nobody'"),
    ({**speech(), "model": "whisper-1"}, 404, "model_not_found", "cosyvoice2"),
    (speech(""), 400, "invalid_input", "no text"),
    (speech(mode="zero_shot", voice="Nameless"), 400, "invalid_input", "transcript"),
    (speech(mode="zero_shot", instructions="Softly."), 400, "invalid_value", "instruct mode"),
    (speech(response_format="ogg"), 400, "invalid_value", "response_format"),
    (speech(stream_format="sse"), 400, "unsupported_value", "sse"),
    (speech(seeed=3), 400, "invalid_value", "seeed"),
    (speech(speed=0.1), 400, "invalid_input", "Speed"),
    ({"model": "tts-1", "voice": "Prompt"}, 400, "invalid_value", "input"),
    (speech("x" * 101), 413, "input_too_long", "at most 100"),
])
def test_errors_have_openais_shape_and_status(serve, body, status, code, needle):
    server = serve(ServerConfig(port=0, max_input_chars=100))
    r = httpx.post(server.base_url + "/audio/speech", json=body, timeout=60)
    err = r.json()["error"]
    assert (r.status_code, err["code"]) == (status, code), err
    assert needle in err["message"] and set(err) == {"message", "type", "param", "code"}


def test_bodies_that_are_not_json_or_too_big(serve):
    server = serve(ServerConfig(port=0, max_input_chars=100))
    url = server.base_url + "/audio/speech"
    # a browser's "simple" cross-site POST (text/plain, or a typeless Blob: no preflight) is refused, not spoken
    for headers in ({"content-type": "text/plain"}, {}):
        r = httpx.post(url, content=b'{"model":"tts-1","voice":"Prompt","input":"Hi."}', headers=headers)
        assert r.status_code == 415 and r.json()["error"]["code"] == "unsupported_media_type"
    r = httpx.post(url, content=b"{not json", headers={"content-type": "application/json"})
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_json"
    limit = 12 * 100 + 65536
    r = httpx.post(url, content=b" " * (limit + 1), headers={"content-type": "application/json"})
    assert r.status_code == 413 and r.json()["error"]["code"] == "input_too_long"
    r = httpx.post(url, content=iter([b" " * limit, b"  "]), headers={"content-type": "application/json"})
    assert "content-length" not in r.request.headers  # sent chunked: the limit is counted while reading
    assert r.status_code == 413 and r.json()["error"]["code"] == "input_too_long"
    r = httpx.get(url)
    assert r.status_code == 405 and r.json()["error"]["code"] == "method_not_allowed"
    r = httpx.get(server.base_url + "/nothing/here")
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
    assert server.worker.stats().served == 0


def test_key_host_and_cors(serve):
    server = serve(ServerConfig(port=0, api_key="k"))
    assert httpx.get(server.url + "/health").status_code == 200  # health needs no key
    for headers in ({}, {"authorization": "Basic k"}, {"authorization": "Bearer nope"}):
        r = httpx.get(server.base_url + "/audio/voices", headers=headers)
        assert r.status_code == 401 and r.json()["error"]["code"] == "invalid_api_key"
        assert r.headers["www-authenticate"] == "Bearer"
    r = httpx.get(server.base_url + "/audio/voices", headers={"authorization": "Bearer k"})
    assert [v["id"] for v in r.json()["voices"]] == ["Nameless", "Prompt"] == [v["id"] for v in r.json()["data"]]
    # a page whose name was rebound to 127.0.0.1 sends its own name as Host: refused
    assert httpx.get(server.url + "/health", headers={"host": "attacker.example:8000"}).status_code == 400
    assert httpx.get(server.url + "/health", headers={"host": f"localhost:{server.port}"}).status_code == 200
    # no CORS unless asked for: a browser gets no Access-Control-Allow-Origin, so it refuses the answer
    preflight = {"origin": "https://chat.example", "access-control-request-method": "POST",
                 "access-control-request-headers": "authorization,content-type"}
    r = httpx.options(server.base_url + "/audio/speech", headers=preflight)
    assert "access-control-allow-origin" not in r.headers


def test_cors_for_the_origins_configured(serve):
    server = serve(ServerConfig(port=0, cors_origins=("https://chat.example",)))
    preflight = {"access-control-request-method": "POST", "access-control-request-headers": "content-type"}
    r = httpx.options(server.base_url + "/audio/speech", headers={"origin": "https://chat.example", **preflight})
    assert r.status_code == 200 and r.headers["access-control-allow-origin"] == "https://chat.example"
    r = httpx.options(server.base_url + "/audio/speech", headers={"origin": "https://other.example", **preflight})
    assert "access-control-allow-origin" not in r.headers


def test_lists_and_health(serve, voices):
    server = serve()
    voices_ = httpx.get(server.base_url + "/audio/voices").json()
    assert [(v["id"], v["name"]) for v in voices_["data"]] == [("Nameless", "Nameless"), ("Prompt", "Prompt")]
    assert voices_["data"][1]["language"] == "en" and voices_["data"][1]["duration_s"] > 0
    assert "transcript" not in voices_["data"][1]  # what was said in the clip is not handed out
    models = httpx.get(server.base_url + "/audio/models").json()["models"]
    assert [m["id"] for m in models] == ["cosyvoice2", "tts-1", "tts-1-hd", "gpt-4o-mini-tts"]
    health = httpx.get(server.url + "/health").json()
    assert health == {"status": "ok", "model": "cosyvoice2", "sample_rate": 24000,
                      "queue": {"running": 0, "waiting": 0, "depth": 8}}


def test_not_streamed_answers_carry_their_length(serve, engine, voices):
    server = serve()
    r = httpx.post(server.base_url + "/audio/speech", json=speech(response_format="wav", stream=False, seed=2),
                   timeout=60)
    assert r.status_code == 200 and int(r.headers["content-length"]) == len(r.content)
    data_bytes = struct.unpack("<I", r.content[40:44])[0]
    assert data_bytes == len(r.content) - 44 and struct.unpack("<I", r.content[4:8])[0] == data_bytes + 36
    want = expected_pcm(engine, voices.load("Prompt"), "Hi.", seed=2, stream=False)  # the non-streaming path
    assert np.array_equal(read_pcm(r.content[44:]), read_pcm(want))
