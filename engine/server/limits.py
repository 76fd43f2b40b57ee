"""Refuse request bodies larger than a bound before they are read into memory (uvicorn sets no limit)."""
from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .errors import too_long
from .response import error_response


class BodyLimit:
    """ASGI middleware: 413 for a declared Content-Length over ``max_bytes``; a chunked upload that grows
    past it stops being read and is answered the same way (the app's HTTPException handler words it)."""

    def __init__(self, app: ASGIApp, max_bytes: int):
        self.app = app
        self.max_bytes = max_bytes

    def _message(self) -> str:
        return f"The request body is larger than {self.max_bytes} bytes."

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        declared = dict(scope.get("headers", ())).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            return await error_response(too_long(self._message(), param=None))(scope, receive, send)
        seen = 0

        async def limited() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise HTTPException(413, self._message())  # FastAPI lets HTTPException through body parsing
            return message

        await self.app(scope, limited, send)
