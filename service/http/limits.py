"""Refuse oversized request bodies while they stream in, before they fill memory or disk.

A pure ASGI middleware, because only at that level are body chunks visible as they arrive:
a declared Content-Length over the limit is refused before a single byte is read, and a chunked
body without Content-Length is counted chunk by chunk and refused the moment it passes the limit.
The 413 goes out at once; whatever the application was doing with the body is abandoned and its
own response (if it tries to send one) is dropped.

The same middleware bounds the bytes of all request bodies held at once (`InflightBytes`): a
per-request limit alone lets a hundred concurrent 32 MiB batches hold gigabytes, twice over
(/predict holds its upload in memory; a batch's files are spooled by Starlette to /tmp,
which is memory on Cloud Run, and read back).
A body that does not fit in what is left of the budget is answered 503 with Retry-After at
once, before it is read, like any other overload.
"""

from __future__ import annotations

from collections.abc import Callable

from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send


class BodyTooLarge(Exception):
    """Raised inside the application's `receive()` to stop it reading an oversized body."""


class InflightBytes:
    """Bytes of request bodies held by requests in progress, against a budget."""

    def __init__(self, budget: int) -> None:
        self.budget = budget
        self.held = 0

    def take(self, size: int) -> bool:
        """Hold `size` more bytes if they fit in the budget; False (nothing held) if not."""
        if self.held + size > self.budget:
            return False
        self.held += size
        return True

    def give_back(self, size: int) -> None:
        self.held -= size


class UploadLimitMiddleware:
    """Answers 413 as soon as a request body is known to exceed the limit for its path, and
    503 when it would not fit in the budget of body bytes held at once."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        limit_for_path: Callable[[str], int],
        reject: Callable[[Scope, int], Response],
        inflight: InflightBytes,
        busy: Callable[[Scope], Response],
    ) -> None:
        self.app = app
        self.limit_for_path = limit_for_path
        self.reject = reject
        self.inflight = inflight
        self.busy = busy

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_for_path(scope["path"])
        declared = declared_length(scope)
        if declared is not None and declared > limit:
            await self.reject(scope, limit)(scope, receive, send)
            return
        # A declared body is held in full up front; a chunked one as its chunks arrive.
        up_front = declared or 0
        if not self.inflight.take(up_front):
            await self.busy(scope)(scope, receive, send)
            return
        guard = _StreamingGuard(self.app, limit, self.reject, self.inflight, self.busy,
                                chunked=declared is None)
        try:
            await guard.run(scope, receive, send)
        finally:
            self.inflight.give_back(up_front + guard.held_while_streaming)


class _StreamingGuard:
    """One request's byte count, and the switch from the app's response to our 413."""

    def __init__(self, app: ASGIApp, limit: int, reject: Callable[[Scope, int], Response],
                 inflight: InflightBytes, busy: Callable[[Scope], Response], *,
                 chunked: bool) -> None:
        self.app = app
        self.limit = limit
        self.reject = reject
        self.inflight = inflight
        self.busy = busy
        self.chunked = chunked
        self.received = 0
        self.held_while_streaming = 0  # a chunked body's bytes taken from `inflight` so far
        self.response_started = False
        self.rejected = False

    async def run(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def limited_receive() -> Message:
            message = await receive()
            if message["type"] == "http.request":
                chunk = len(message.get("body", b""))
                self.received += chunk
                if self.received > self.limit:
                    await self._reject_now(scope, receive, send, self.reject(scope, self.limit))
                if self.chunked:
                    if not self.inflight.take(chunk):
                        await self._reject_now(scope, receive, send, self.busy(scope))
                    self.held_while_streaming += chunk
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

    async def _reject_now(self, scope: Scope, receive: Receive, send: Send,
                          response: Response) -> None:
        if not self.response_started:
            self.rejected = True
            await response(scope, receive, send)
        raise BodyTooLarge(f"request body exceeds {self.limit} bytes or the in-flight budget")


def declared_length(scope: Scope) -> int | None:
    """The Content-Length header as an int; None when absent (chunked) or unparseable."""
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None
