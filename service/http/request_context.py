"""Per-request identity and accounting: request id, one log line, and the last-resort 500.

Written as pure ASGI middleware (not `BaseHTTPMiddleware`) so that request bodies stream through
untouched and the byte counts are exact. It sits outside everything else the app adds, so it
sees every response, including the upload limit's 413, and every unexpected exception.
"""

from __future__ import annotations

import contextvars
import logging
import re
import time
import uuid
from collections.abc import Callable
from typing import Any

from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.model.classifier import Prediction

REQUEST_ID_HEADER = "x-request-id"
_VALID_INCOMING_ID = re.compile(r"^[A-Za-z0-9._:/+=-]{1,128}$")
_request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")

request_log = logging.getLogger("service.requests")


def current_request_id() -> str:
    """The id of the request being handled ('-' outside of one), for error bodies and logs."""
    return _request_id.get()


def note_for_log(scope: Scope, **fields: Any) -> None:
    """Add fields (a prediction, an error code) to this request's log line."""
    scope.setdefault("state", {}).setdefault("log_fields", {}).update(fields)


def log_summary(prediction: Prediction) -> dict[str, str | float]:
    """What a request's log line says about its prediction."""
    return {"species": prediction.species, "confidence": round(prediction.confidence, 4)}


def choose_request_id(scope: Scope) -> str:
    """Keep a caller's X-Request-ID so logs can be joined across services; else make one up.

    An incoming id is only kept when it is short and plain, so it cannot forge log lines.
    """
    for name, value in scope.get("headers", ()):
        if name == REQUEST_ID_HEADER.encode():
            incoming = value.decode("latin-1")
            if _VALID_INCOMING_ID.match(incoming):
                return incoming
    return uuid.uuid4().hex


class RequestContextMiddleware:
    """Gives each request an id, writes its log line, and answers 500 if anything escapes."""

    def __init__(self, app: ASGIApp, *, on_crash: Callable[[Scope], Response]) -> None:
        self.app = app
        self.on_crash = on_crash

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = choose_request_id(scope)
        token = _request_id.set(request_id)
        scope.setdefault("state", {})
        tally = _Tally(request_id)
        try:
            await self._run(scope, tally.count_receive(receive), tally.count_send(send), tally)
        finally:
            _log_request(scope, tally)
            _request_id.reset(token)

    async def _run(self, scope: Scope, receive: Receive, send: Send, tally: _Tally) -> None:
        """Run the app; an exception it lets escape becomes a logged 500 in the usual shape."""
        try:
            await self.app(scope, receive, send)
        except Exception:
            request_log.exception("unhandled error in %s %s", scope["method"], scope["path"],
                                  extra={"request_id": tally.request_id})
            if tally.status:
                raise  # too late for an error response; the server closes the connection
            await self.on_crash(scope)(scope, receive, send)


class _Tally:
    """What the log line reports: status, bytes each way and timing."""

    def __init__(self, request_id: str) -> None:
        self.request_id = request_id
        self.started = time.perf_counter()
        self.status = 0
        self.bytes_in = 0
        self.bytes_out = 0

    def count_receive(self, receive: Receive) -> Receive:
        async def counted() -> Message:
            message = await receive()
            if message["type"] == "http.request":
                self.bytes_in += len(message.get("body", b""))
            return message

        return counted

    def count_send(self, send: Send) -> Send:
        """Also stamps the request id on the response, so callers can quote it."""

        async def counted(message: Message) -> None:
            if message["type"] == "http.response.start":
                self.status = message["status"]
                headers = [*message.get("headers", []), (REQUEST_ID_HEADER.encode(),
                                                          self.request_id.encode())]
                message = {**message, "headers": headers}
            elif message["type"] == "http.response.body":
                self.bytes_out += len(message.get("body", b""))
            await send(message)

        return counted


def _log_request(scope: Scope, tally: _Tally) -> None:
    fields = scope.get("state", {}).get("log_fields", {})
    # 503 while the model loads is expected (readiness probes); only crashes are errors.
    level = logging.ERROR if tally.status in (0, 500) else logging.INFO
    request_log.log(
        level,
        "%s %s %s",
        scope["method"],
        scope["path"],
        tally.status,
        extra={
            "request_id": tally.request_id,
            "method": scope["method"],
            "path": scope["path"],
            "status": tally.status,
            "latency_ms": round((time.perf_counter() - tally.started) * 1000, 1),
            "bytes_in": tally.bytes_in,
            "bytes_out": tally.bytes_out,
            **fields,
        },
    )
