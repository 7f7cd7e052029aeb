"""Refuse oversized request bodies while they stream in, before they fill memory or disk.

A pure ASGI middleware, because only at that level are body chunks visible as they arrive:
a declared Content-Length over the limit is refused before a single byte is read, and a chunked
body without Content-Length is counted chunk by chunk and refused the moment it passes the limit.
The 413 goes out at once; whatever the application was doing with the body is abandoned and its
own response (if it tries to send one) is dropped.
"""

from __future__ import annotations

from collections.abc import Callable

from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

MIB = 1024 * 1024


class BodyTooLarge(Exception):
    """Raised inside the application's `receive()` to stop it reading an oversized body."""


def describe_limit(limit: int) -> str:
    """10485760 -> '10 MiB', for messages people read."""
    if limit >= MIB and limit % MIB == 0:
        return f"{limit // MIB} MiB"
    return f"{limit:,} bytes"


class UploadLimitMiddleware:
    """Answers 413 as soon as a request body is known to exceed the limit for its path."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        limit_for_path: Callable[[str], int],
        reject: Callable[[Scope, int], Response],
    ) -> None:
        self.app = app
        self.limit_for_path = limit_for_path
        self.reject = reject

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_for_path(scope["path"])
        declared = declared_length(scope)
        if declared is not None and declared > limit:
            await self.reject(scope, limit)(scope, receive, send)
            return
        await _StreamingGuard(self.app, limit, self.reject).run(scope, receive, send)


class _StreamingGuard:
    """One request's byte count, and the switch from the app's response to our 413."""

    def __init__(self, app: ASGIApp, limit: int, reject: Callable[[Scope, int], Response]) -> None:
        self.app = app
        self.limit = limit
        self.reject = reject
        self.received = 0
        self.response_started = False
        self.rejected = False

    async def run(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def limited_receive() -> Message:
            message = await receive()
            if message["type"] == "http.request":
                self.received += len(message.get("body", b""))
                if self.received > self.limit:
                    await self._reject_now(scope, receive, send)
            return message

        async def guarded_send(message: Message) -> None:
            if self.rejected:
                return  # our 413 is already out; the app's late answer is dropped
            if message["type"] == "http.response.start":
                self.response_started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, guarded_send)
        except Exception:
            if not self.rejected:
                raise
            # Whatever the app raised while being cut off (our BodyTooLarge, or a parser error
            # wrapping it) is the expected consequence of the 413 already sent.

    async def _reject_now(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not self.response_started:
            self.rejected = True
            await self.reject(scope, self.limit)(scope, receive, send)
        raise BodyTooLarge(f"request body exceeds {self.limit} bytes")


def declared_length(scope: Scope) -> int | None:
    """The Content-Length header as an int; None when absent (chunked) or unparseable."""
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None
