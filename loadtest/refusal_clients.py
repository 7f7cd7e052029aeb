"""Posting a body the way a new user's Python program does: urllib, requests, httpx, httpx async.

All four write the whole body before they read the answer, which is why an early refusal (413,
415, 503) reaches them only if the server first reads and discards the rest of the body
(service/http/lingering.py). Shared by the tests that prove it (tests/reliability/
test_refusals_readable.py) and the measurement of the discarding's bounds (loadtest/refusals.py).
Each returns the status and the JSON answer; a transport error (a reset) is raised as the client
raises it. The body is bytes, or (the synchronous clients only) an iterable of bytes sent as it
is produced: with a Content-Length header as given, else chunked.
"""

from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable

import httpx
import requests

TIMEOUT = 30.0  # seconds any one read or write may wait
Body = bytes | Iterable[bytes]
Client = Callable[[str, Body, dict[str, str]], tuple[int, dict]]


def with_urllib(url: str, body: Body, headers: dict[str, str]) -> tuple[int, dict]:
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def with_requests(url: str, body: Body, headers: dict[str, str]) -> tuple[int, dict]:
    response = requests.post(url, data=body, headers=headers, timeout=TIMEOUT)
    return response.status_code, response.json()


def with_httpx(url: str, body: Body, headers: dict[str, str]) -> tuple[int, dict]:
    response = httpx.post(url, content=body, headers=headers, timeout=TIMEOUT)
    return response.status_code, response.json()


def with_httpx_async(url: str, body: Body, headers: dict[str, str]) -> tuple[int, dict]:
    async def post() -> httpx.Response:
        async with httpx.AsyncClient(timeout=TIMEOUT) as client:
            return await client.post(url, content=body, headers=headers)

    response = asyncio.run(post())
    return response.status_code, response.json()


CLIENTS: dict[str, Client] = {"urllib": with_urllib, "requests": with_requests,
                              "httpx": with_httpx, "httpx-async": with_httpx_async}


def headers(content_type: str, expect: bool) -> dict[str, str]:
    """The request's headers, with `Expect: 100-continue` or without."""
    return {"Content-Type": content_type, **({"Expect": "100-continue"} if expect else {})}
