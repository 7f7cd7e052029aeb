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
larger than the byte bound is not read at all, since it could not be finished anyway.
"""

from __future__ import annotations

import asyncio
import contextlib

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.http.limits import declared_length


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
        declared = declared_length(scope)
        if self.max_bytes <= 0 or (declared is not None and declared > self.max_bytes):
            return  # switched off, or more than we would ever read: answer at once
        discarded = 0
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self.max_seconds):
                while discarded <= self.max_bytes:
                    message = await receive()
                    if message["type"] != "http.request":
                        return
                    discarded += len(message.get("body", b""))
                    if not message.get("more_body", False):
                        return
