"""The ASGI response of one speech request: waits for the first audio, then streams the rest as it is spoken.

The status is decided by the first event from the worker, so an error the engine finds before any audio
(empty text after normalisation, a mode the voice cannot do) is a proper 400 rather than a broken 200. From
then on the body goes out with chunked transfer encoding, one piece per engine chunk. While the response
runs, a second task listens for the client going away and cancels the job: a disconnect in the queue or in
the middle of a sentence stops the engine within one step. An error after audio was sent cannot change the
status any more; the connection is then closed before the final chunk, which every HTTP client reports as
an incomplete body.
"""
from __future__ import annotations

import logging

import anyio
from starlette.responses import JSONResponse, Response
from starlette.types import Receive, Scope, Send

from ..errors import Cancelled, TimbreError
from .errors import APIError, from_engine, not_serving
from .formats import Encoder
from .worker import SpeechJob

log = logging.getLogger("timbre.server")


def error_response(e: APIError) -> JSONResponse:
    return JSONResponse(e.body(), status_code=e.status, headers=e.headers)


def _api_error(e: Exception) -> APIError:
    if isinstance(e, TimbreError):
        return from_engine(e)
    return APIError(500, f"Synthesis failed: {e}", type="server_error", code="generation_failed")


class SpeechResponse(Response):
    """Audio of ``job`` encoded by ``encoder``; ``stream=False`` sends it whole with a Content-Length."""

    def __init__(self, job: SpeechJob, encoder: Encoder, media_type: str, *, stream: bool = True,
                 headers: dict[str, str] | None = None):
        self.job = job
        self.encoder = encoder
        self.stream = stream and encoder.streams
        self.status_code = 200
        self.media_type = media_type
        self.background = None
        self.extra_headers = dict(headers or {})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async with anyio.create_task_group() as tg:
            tg.start_soon(self._watch_disconnect, receive, tg.cancel_scope)
            try:
                await self._respond(scope, receive, send)
            finally:
                tg.cancel_scope.cancel()
                self.job.abandon()  # a no-op once the worker is done with it

    async def _watch_disconnect(self, receive: Receive, scope: anyio.CancelScope) -> None:
        while (await receive())["type"] != "http.disconnect":
            pass
        self.job.abandon()
        scope.cancel()

    async def _respond(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            first = await self.job.next()
        except Cancelled:
            # The worker closed (the server is stopping); a client that left hears nothing either way.
            return await error_response(not_serving())(scope, receive, send)
        except Exception as e:  # noqa: BLE001 - typed errors become 4xx/5xx, the rest (logged by the worker) 500
            return await error_response(_api_error(e))(scope, receive, send)
        if self.stream:
            await self._stream(first, send)
        else:
            await self._whole(first, scope, receive, send)

    def _headers(self, content_length: int | None = None) -> list[tuple[bytes, bytes]]:
        h = {"content-type": self.media_type, "cache-control": "no-store", **self.extra_headers}
        if content_length is not None:
            h["content-length"] = str(content_length)
        return [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in h.items()]

    async def _encode(self, chunk) -> bytes:
        if chunk is None:
            return await anyio.to_thread.run_sync(self.encoder.finish)
        return await anyio.to_thread.run_sync(self.encoder.feed, chunk.samples)

    async def _stream(self, chunk, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": self._headers()})
        try:
            while chunk is not None:
                data = await self._encode(chunk)
                if data:
                    await send({"type": "http.response.body", "body": data, "more_body": True})
                chunk = await self.job.next()
            tail = await self._encode(None)
        except Exception as e:  # noqa: BLE001 - after the status went out: end without the final chunk
            log.warning("speech stream stopped after audio was sent: %s", " ".join(str(e).split()))
            self.encoder.abort()
            return
        await send({"type": "http.response.body", "body": tail, "more_body": False})

    async def _whole(self, chunk, scope: Scope, receive: Receive, send: Send) -> None:
        parts = []
        try:
            while chunk is not None:
                parts.append(await self._encode(chunk))
                chunk = await self.job.next()
            parts.append(await self._encode(None))
        except Exception as e:  # noqa: BLE001 - nothing was sent yet, so the status can still say what failed
            self.encoder.abort()
            return await error_response(_api_error(e))(scope, receive, send)
        body = b"".join(parts)
        await send({"type": "http.response.start", "status": 200, "headers": self._headers(len(body))})
        await send({"type": "http.response.body", "body": body, "more_body": False})
