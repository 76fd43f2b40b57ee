"""``timbre serve``: the saved voices over OpenAI's audio API (``POST /v1/audio/speech``) on 127.0.0.1.

The key is read from $TIMBRE_API_KEY or ``--api-key-file`` (never a command-line value, which other users of
the machine can read in the process list); it is required for any address but loopback.
"""
from __future__ import annotations

import logging
import os
from pathlib import Path

from ..errors import TimbreError
from .common import add_model_options, add_voices_dir_option, load_engine, voice_library

API_KEY_ENV = "TIMBRE_API_KEY"


def register(sub) -> None:
    s = sub.add_parser("serve", help="serve the saved voices over the OpenAI audio API")
    add_model_options(s)
    add_voices_dir_option(s)
    s.add_argument("--host", default="127.0.0.1",
                   help="address to listen on (default %(default)s; any other needs an API key)")
    s.add_argument("--port", type=int, default=8000, help="TCP port (default %(default)s; 0: any free port)")
    s.add_argument("--api-key-file", help=f"file holding the API key clients must send (or set ${API_KEY_ENV})")
    s.add_argument("--max-input-chars", type=int, default=4096, help="longest input accepted (default %(default)s)")
    s.add_argument("--queue-depth", type=int, default=8,
                   help="requests that may wait behind the one being spoken (default %(default)s)")
    s.add_argument("--cors-origin", action="append", default=[], metavar="ORIGIN",
                   help="let web pages from ORIGIN call the server (repeatable; default: none)")
    s.add_argument("--allowed-host", action="append", default=None, metavar="HOST",
                   help="Host header to accept (repeatable; default: the loopback names on loopback, any else)")
    s.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    s.set_defaults(func=run)


def _api_key(args) -> str | None:
    if args.api_key_file:
        try:
            return Path(args.api_key_file).read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as e:
            raise TimbreError(f"Cannot read the API key file {args.api_key_file}: "
                              f"{getattr(e, 'strerror', None) or e}.") from e
    return os.environ.get(API_KEY_ENV) or None


def run(args) -> int:
    try:
        from ..server import ServerConfig, SpeechServer
    except ImportError as e:  # the studio bundle and a plain install leave the web stack out
        raise TimbreError(f"The speech server needs the 'server' extra ({e.name} is missing): "
                          "pip install 'timbre[server]'.") from e

    config = ServerConfig(host=args.host, port=args.port, max_input_chars=args.max_input_chars,
                          queue_depth=args.queue_depth, api_key=_api_key(args),
                          cors_origins=tuple(args.cors_origin),
                          allowed_hosts=tuple(args.allowed_host) if args.allowed_host else None,
                          log_level=args.log_level)  # checked before the slow model load
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    voices = voice_library(args)
    engine = load_engine(args)
    server = SpeechServer(engine, voices, config)
    names = ", ".join(i.name for i in voices.list()) or "none saved yet"
    key = "API key required" if config.api_key else "no API key"

    def ready() -> None:  # the line scripts wait for (the bench reads the URL from it)
        print(f"serving on {server.base_url} | voices: {names} | {key} | Ctrl+C stops", flush=True)

    try:
        server.serve(on_started=ready)
    except KeyboardInterrupt:  # uvicorn stops gracefully on Ctrl+C, then re-raises it: the normal way to stop
        pass
    print("stopped", flush=True)
    return 0
