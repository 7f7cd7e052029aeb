"""Refusals that every client can read: read and discard the rest of a refused body first.

A client that writes the whole body before reading (Python's urllib, requests, httpx, most
SDKs) never sees an early answer (413 over the limit, 503 overloaded, 415 by content type) if
the server closes the connection with the body still arriving: the kernel answers the unread
bytes with a reset, and the client reports "connection reset by peer" instead of the refusal.
So when a response starts while the request body is unfinished, this middleware first reads and
discards the rest of the body, bounded in bytes and in seconds, and only then lets the response
out (uvicorn then closes the connection cleanly). Reading before answering, rather than after
as Apache's lingering close does, is what uvicorn allows: it would send the `100 Continue` of an
`Expect: 100-continue` request on our first read, which may not follow a final response.

The discarded bytes are never held (so they count against no memory budget); a body declared
larger than the byte bound is not read at all, since it could not be finished anyway. What was
discarded, for how long and why it stopped goes on the request's log line (`discarded_bytes`,
`discard_ms`, `discard_end`), which is also how loadtest/refusals.py measured the bounds.
"""

from __future__ import annotations

import asyncio
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.http.limits import declared_length
from service.http.request_context import note_for_log


class LingeringRefusalMiddleware:
    """Before any response to a request whose body is still arriving, discard the rest of it
    (at most `max_bytes`, for at most `max_seconds`)."""

    def __init__(self, app: ASGIApp, *, max_bytes: int, max_seconds: float) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.max_seconds = max_seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        body_done = False

        async def tracking_receive() -> Message:
            nonlocal body_done
            message = await receive()
            if message["type"] == "http.disconnect" or not message.get("more_body", False):
                body_done = True
            return message

        async def discarding_send(message: Message) -> None:
            nonlocal body_done
            if message["type"] == "http.response.start" and not body_done:
                body_done = True
                await self._discard_rest(scope, receive)
            await send(message)

        await self.app(scope, tracking_receive, discarding_send)

    async def _discard_rest(self, scope: Scope, receive: Receive) -> None:
        started = time.perf_counter()
        discarded = 0

        async def read_on() -> str:
            """Why the discarding stopped: `complete` (the body ended), `disconnect`, `bytes`
            (the byte bound was passed)."""
            nonlocal discarded
            while discarded <= self.max_bytes:
                message = await receive()
                if message["type"] != "http.request":
                    return "disconnect"
                discarded += len(message.get("body", b""))
                if not message.get("more_body", False):
                    return "complete"
            return "bytes"

        declared = declared_length(scope)
        if self.max_bytes <= 0:
            return  # switched off
        if declared is not None and declared > self.max_bytes:
            end = "declared_too_large"  # more than we would ever read: answer at once
        else:
            try:
                async with asyncio.timeout(self.max_seconds):
                    end = await read_on()
            except TimeoutError:
                end = "seconds"
        if end == "complete" and not discarded:
            return  # there was no body left (a GET): nothing to report
        note_for_log(scope, discarded_bytes=discarded, discard_end=end,
                     discard_ms=round((time.perf_counter() - started) * 1000, 1))
