"""Errors as OpenAI sends them: an HTTP status and ``{"error": {"message", "type", "param", "code"}}``.

Clients written for OpenAI (its own Python package first) read ``type``/``code`` to tell a bad request from
a busy server; the statuses follow OpenAI's: 400 bad input, 401 key, 404 unknown model or voice, 413 input
too long, 429 queue full, 503 not serving, 500 our fault.
"""
from __future__ import annotations

from ..errors import InputError, ServerError, TimbreError, VoiceLibraryError


class APIError(ServerError):
    """One error response. ``param`` names the request field at fault, ``code`` is a stable machine word."""

    def __init__(self, status: int, message: str, *, type: str = "invalid_request_error", param: str | None = None,
                 code: str | None = None, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type
        self.param = param
        self.code = code
        self.headers = dict(headers or {})

    def body(self) -> dict:
        return {"error": {"message": self.message, "type": self.type, "param": self.param, "code": self.code}}


def bad_request(message: str, param: str | None = None, code: str | None = "invalid_value") -> APIError:
    return APIError(400, message, param=param, code=code)


def unauthorized(message: str) -> APIError:
    return APIError(401, message, type="invalid_request_error", code="invalid_api_key",
                    headers={"WWW-Authenticate": "Bearer"})


def not_found(message: str, param: str, code: str) -> APIError:
    return APIError(404, message, param=param, code=code)


def too_long(message: str, param: str = "input") -> APIError:
    return APIError(413, message, param=param, code="input_too_long")


def queue_full(depth: int, retry_after_s: int = 5) -> APIError:
    return APIError(429, f"The server is busy: {depth} request(s) are already waiting. Try again shortly.",
                    type="rate_limit_error", code="queue_full", headers={"Retry-After": str(retry_after_s)})


def not_serving(message: str = "The server is shutting down and takes no new requests.") -> APIError:
    return APIError(503, message, type="server_error", code="not_serving")


def from_engine(e: TimbreError) -> APIError:
    """The response for an error the engine raised before any audio was sent."""
    if isinstance(e, APIError):
        return e
    text = " ".join(str(e).split())
    if isinstance(e, InputError):
        return bad_request(text, code="invalid_input")
    if isinstance(e, VoiceLibraryError):  # an unknown voice is a 404 found before queueing; this one is damaged
        return APIError(500, text, type="server_error", param="voice", code="voice_unreadable")
    return APIError(500, text, type="server_error", code="generation_failed")
