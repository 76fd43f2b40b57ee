"""``timbre serve`` as a user starts it: a real process, a key file, Ctrl+C."""
from __future__ import annotations

import httpx

from engine.cli import main
from engine.server.bench import ServerProcess


def test_serve_with_a_key_file_then_ctrl_c(tiny_model_dir, voices, tmp_path):
    key_file = tmp_path / "key"
    key_file.write_text("from-a-file\n")
    server = ServerProcess(["--model", str(tiny_model_dir), "--normalizer", "none", "--voices-dir", str(voices.root),
                            "--api-key-file", str(key_file)])
    try:
        assert server.url.startswith("http://127.0.0.1:")
        assert httpx.get(server.url + "/v1/models").status_code == 401
        r = httpx.post(server.url + "/v1/audio/speech", headers={"authorization": "Bearer from-a-file"},
                       json={"model": "tts-1", "voice": "Prompt", "input": "Hi.", "response_format": "wav"},
                       timeout=120)
        assert r.status_code == 200 and r.content[:4] == b"RIFF" and len(r.content) > 44
    finally:
        assert server.stop() == 0  # SIGINT: a clean exit


def test_serve_refuses_an_open_address_without_a_key_before_loading(capsys, monkeypatch, tmp_path):
    monkeypatch.delenv("TIMBRE_API_KEY", raising=False)
    # --model points nowhere: the address is refused first, so the error is about the key, not the model
    assert main(["serve", "--host", "0.0.0.0", "--model", str(tmp_path / "none")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "needs an API key" in err[0] and "TIMBRE_API_KEY" in err[0]
    assert main(["serve", "--api-key-file", str(tmp_path / "missing"), "--model", str(tmp_path)]) == 1
    assert "Cannot read the API key file" in capsys.readouterr().err
