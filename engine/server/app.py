"""The FastAPI app: OpenAI's speech endpoint, the voice and model lists, health; no Qt, no globals.

:func:`create_app` takes an engine that is already loaded and a voice library, so the same app runs from
``timbre serve`` and inside the studio. Its lifespan starts and stops the :class:`EngineWorker`.
"""
from __future__ import annotations

import hmac
import time
from contextlib import asynccontextmanager
from typing import ContextManager

import anyio
from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.middleware.cors import CORSMiddleware
from starlette.middleware.trustedhost import TrustedHostMiddleware

from ..errors import TimbreError
from ..voices import VoiceLibrary
from .config import ServerConfig
from .errors import APIError, bad_request, from_engine, not_found, too_long, unauthorized
from .formats import MEDIA_TYPES, make_encoder
from .limits import BodyLimit
from .response import SpeechResponse, error_response
from .schemas import SpeechBody, model_names
from .worker import EngineWorker


def engine_family(engine) -> str:
    """The loaded model's family name (``cosyvoice2``, ``cosyvoice3``), what ``model`` is matched against first."""
    return engine.cfg.family


def create_app(engine, voices: VoiceLibrary, config: ServerConfig | None = None, *,
               engine_lock: ContextManager | None = None) -> FastAPI:
    """The ASGI app serving ``engine`` with the voices of ``voices``; ``app.state.worker`` is its queue."""
    config = config or ServerConfig()
    worker = EngineWorker(engine, config.queue_depth, engine_lock=engine_lock)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        worker.start()
        try:
            yield
        finally:
            await anyio.to_thread.run_sync(worker.close)

    app = FastAPI(title="Timbre speech server", lifespan=lifespan, docs_url=None, redoc_url=None,
                  openapi_url=None)
    app.state.worker = worker
    app.state.config = config
    _install_error_handlers(app)
    _install_middleware(app, config)
    auth = [Depends(_bearer(config.api_key))] if config.api_key else []
    names = model_names(engine_family(engine))
    _add_lists(app, engine, voices, worker, names, auth)
    _add_speech(app, engine, voices, config, worker, names, auth)
    return app


def _install_middleware(app: FastAPI, config: ServerConfig) -> None:
    """Outermost first: the Host check, the body size limit, CORS (only when origins are configured)."""
    if config.cors_origins:
        app.add_middleware(CORSMiddleware, allow_origins=list(config.cors_origins), allow_methods=["GET", "POST"],
                           allow_headers=["Authorization", "Content-Type"])
    app.add_middleware(BodyLimit, max_bytes=12 * config.max_input_chars + 65536)  # \uXXXX\uXXXX per character
    if config.trusted_hosts != ("*",):
        app.add_middleware(TrustedHostMiddleware, allowed_hosts=list(config.trusted_hosts), www_redirect=False)


def _add_lists(app: FastAPI, engine, voices: VoiceLibrary, worker: EngineWorker, names: tuple[str, ...],
               auth: list) -> None:
    started = int(time.time())

    @app.get("/health")
    async def health():
        s = worker.stats()
        return {"status": "ok", "model": names[0], "sample_rate": engine.sample_rate,
                "queue": {"running": int(s.running), "waiting": s.waiting, "depth": s.depth}}

    @app.get("/v1/models", dependencies=auth)
    async def list_models():
        return {"object": "list",
                "data": [{"id": n, "object": "model", "created": started, "owned_by": "timbre"} for n in names]}

    @app.get("/v1/audio/models", dependencies=auth)
    async def audio_models():  # the shape Open WebUI reads for a non-OpenAI base URL
        return {"models": [{"id": n, "name": n} for n in names]}

    @app.get("/v1/audio/voices", dependencies=auth)
    async def list_voices():
        infos = await anyio.to_thread.run_sync(voices.list)
        data = [{"id": i.name, "name": i.name, "object": "voice", "language": i.language,
                 "duration_s": round(i.duration_s, 2), "created": i.created} for i in infos]
        return {"object": "list", "data": data, "voices": data}  # OpenAI-style list; Open WebUI reads "voices"


async def _json_only(request: Request) -> None:
    """Only a declared JSON body: what a browser may send cross-site without asking first (text/plain, a form,
    a typeless Blob) is refused before anything is spoken, CORS or not."""
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind != "application/json" and not kind.endswith("+json"):
        raise APIError(415, f"Send the request body as JSON with 'Content-Type: application/json' (got "
                            f"{kind or 'no Content-Type'}).", code="unsupported_media_type")


def _add_speech(app: FastAPI, engine, voices: VoiceLibrary, config: ServerConfig, worker: EngineWorker,
                names: tuple[str, ...], auth: list) -> None:
    @app.post("/v1/audio/speech", dependencies=[*auth, Depends(_json_only)])
    async def speech(body: SpeechBody):
        if body.model.strip().lower() not in names:
            raise not_found(f"Model {body.model!r} is not served here; use one of {', '.join(names)}.",
                            param="model", code="model_not_found")
        if len(body.input) > config.max_input_chars:
            raise too_long(f"The input is {len(body.input)} characters; this server takes at most "
                           f"{config.max_input_chars}. Split the text into several requests.")
        if body.stream_format != "audio":
            raise bad_request("stream_format 'sse' is not supported; use 'audio' (the audio bytes are streamed "
                              "with chunked transfer encoding).", param="stream_format", code="unsupported_value")
        voice = await anyio.to_thread.run_sync(_load_voice, voices, body.voice)
        request = _synthesis_request(body, voice)
        encoder = make_encoder(body.response_format, engine.sample_rate, stream=body.stream)
        job = worker.submit(request)
        return SpeechResponse(job, encoder, MEDIA_TYPES[body.response_format], stream=body.stream,
                              headers={"x-sample-rate": str(engine.sample_rate)})


def _load_voice(voices: VoiceLibrary, name: str):
    if name not in voices:
        known = ", ".join(i.name for i in voices.list()) or "none saved yet"
        raise not_found(f"No voice named {name!r} (voices: {known}). GET /v1/audio/voices lists them.",
                        param="voice", code="voice_not_found")
    return voices.load(name)


def _synthesis_request(body: SpeechBody, voice):
    from .. import SynthesisRequest

    mode = body.mode
    if mode is None:
        mode = "instruct" if body.instructions.strip() else ("zero_shot" if voice.transcript.strip() else
                                                             "cross_lingual")
    elif body.instructions.strip() and mode != "instruct":
        raise bad_request(f"instructions only apply in instruct mode, not {mode}; drop one of them.",
                          param="instructions")
    return SynthesisRequest(text=body.input, voice=voice, mode=mode, instruction=body.instructions,
                            speed=body.speed, seed=body.seed, stream=body.stream)


def _bearer(key: str):
    expected = key.encode("utf-8")

    async def check(request: Request) -> None:
        scheme, _, given = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not given:
            raise unauthorized("This server needs an API key: send 'Authorization: Bearer KEY'.")
        if not hmac.compare_digest(given.strip().encode("utf-8"), expected):
            raise unauthorized("The API key is not right.")

    return check


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(TimbreError)
    async def timbre_error(request: Request, e: TimbreError):  # APIError, or e.g. a damaged voice file
        return error_response(from_engine(e))

    @app.exception_handler(Exception)
    async def unexpected(request: Request, e: Exception):  # Starlette still logs the traceback
        return error_response(APIError(500, f"The server failed: {e}", type="server_error", code="server_error"))

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, e: RequestValidationError):
        first = e.errors()[0] if e.errors() else {}
        if first.get("type") == "json_invalid":  # its "loc" is a character position, not a field
            return error_response(bad_request(f"The body is not valid JSON ({first.get('ctx', {}).get('error', '')}).",
                                              code="invalid_json"))
        where = [str(p) for p in first.get("loc", ()) if p != "body"]
        param = ".".join(where) or None
        msg = first.get("msg", "The request body is not valid.")
        text = f"{param}: {msg}" if param else f"{msg} (send a JSON object with Content-Type: application/json)"
        return error_response(bad_request(text, param=param))

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, e: HTTPException):
        code = {404: "not_found", 405: "method_not_allowed", 413: "input_too_long"}.get(e.status_code)
        return error_response(APIError(e.status_code, str(e.detail), param=None, code=code))
