"""Early refusals are readable by clients that write the whole body before reading.

Against the real server process: urllib, requests and httpx (sync and async) send bodies from
just over the upload limit to 4 times it, with and without `Expect: 100-continue`, and must read
the refusal's JSON (413 over the limit, 415 by content type, 503 while the model is unavailable)
rather than "connection reset by peer"; a client that never finishes its body gets its answer
too, once the bounded discarding gives up. Run with the discarding switched off
(REFUSED_BODY_DISCARD_BYTES=0), these clients see resets instead.
"""

from __future__ import annotations

import asyncio
import json
import socket
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
import requests
from service_process import ServiceProcess

LIMIT = 2 * 1024 * 1024  # large enough that unread bytes overflow the sockets' buffers
Client = Callable[[str, bytes, dict[str, str]], tuple[int, dict]]


def with_urllib(url: str, body: bytes, headers: dict[str, str]) -> tuple[int, dict]:
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def with_requests(url: str, body: bytes, headers: dict[str, str]) -> tuple[int, dict]:
    response = requests.post(url, data=body, headers=headers, timeout=30)
    return response.status_code, response.json()


def with_httpx(url: str, body: bytes, headers: dict[str, str]) -> tuple[int, dict]:
    response = httpx.post(url, content=body, headers=headers, timeout=30)
    return response.status_code, response.json()


def with_httpx_async(url: str, body: bytes, headers: dict[str, str]) -> tuple[int, dict]:
    async def post() -> httpx.Response:
        async with httpx.AsyncClient(timeout=30) as client:
            return await client.post(url, content=body, headers=headers)

    response = asyncio.run(post())
    return response.status_code, response.json()


CLIENTS = {"urllib": with_urllib, "requests": with_requests, "httpx": with_httpx,
           "httpx-async": with_httpx_async}


def serve(model_path: Path, log_path: Path, **env: str) -> Iterator[str]:
    with ServiceProcess(model_path, log_path, MAX_UPLOAD_BYTES=str(LIMIT),
                        MAX_BATCH_UPLOAD_BYTES=str(LIMIT), **env) as service:
        if model_path.exists():
            service.wait_until_ready()
        else:  # never ready: wait until its load has failed
            service.wait_until_loaded()
        yield service.url


@pytest.fixture(scope="module")
def server(tiny_model_path, tmp_path_factory) -> Iterator[str]:
    # A short discarding bound, so the endless-body test ends soon.
    yield from serve(tiny_model_path, tmp_path_factory.mktemp("refusals") / "server.log",
                     REFUSED_BODY_DISCARD_SECONDS="2")


@pytest.fixture(scope="module")
def unavailable(tmp_path_factory) -> Iterator[str]:
    folder = tmp_path_factory.mktemp("unavailable")
    yield from serve(folder / "missing.pt", folder / "server.log")


def headers(content_type: str, expect: bool) -> dict[str, str]:
    return {"Content-Type": content_type, **({"Expect": "100-continue"} if expect else {})}


@pytest.mark.parametrize("expect", [False, True], ids=["plain", "expect-100"])
@pytest.mark.parametrize("size", [LIMIT + 1, 2 * LIMIT, 4 * LIMIT], ids=["+1", "2x", "4x"])
@pytest.mark.parametrize("client", CLIENTS.values(), ids=CLIENTS.keys())
def test_over_the_limit_every_client_reads_the_413(server, client, size, expect):
    status, body = client(f"{server}/predict", b"\xff" * size, headers("image/jpeg", expect))
    assert status == 413 and body["error"]["code"] == "upload_too_large"


@pytest.mark.parametrize("expect", [False, True], ids=["plain", "expect-100"])
@pytest.mark.parametrize("client", CLIENTS.values(), ids=CLIENTS.keys())
def test_a_refused_content_type_is_read_by_every_client(server, client, expect):
    status, body = client(f"{server}/predict", b"x" * LIMIT, headers("text/plain", expect))
    assert status == 415 and body["error"]["code"] == "unsupported_media_type"


@pytest.mark.parametrize("expect", [False, True], ids=["plain", "expect-100"])
@pytest.mark.parametrize("size", [LIMIT // 2, LIMIT, 4 * LIMIT], ids=["half", "limit", "4x"])
@pytest.mark.parametrize("client", CLIENTS.values(), ids=CLIENTS.keys())
def test_unavailable_every_client_reads_the_503_or_413(unavailable, client, size, expect):
    status, body = client(f"{unavailable}/predict", b"\xff" * size, headers("image/jpeg", expect))
    expected = (413, "upload_too_large") if size > LIMIT else (503, "model_unavailable")
    assert (status, body["error"]["code"]) == expected


def test_a_chunked_body_over_the_limit_is_refused_readably(server):
    def chunks() -> Iterator[bytes]:
        for _ in range(16):
            yield b"\xff" * (LIMIT // 4)  # 4 times the limit, without a Content-Length

    response = httpx.post(f"{server}/predict", content=chunks(),
                          headers={"Content-Type": "image/jpeg"}, timeout=30)
    assert response.status_code == 413 and response.json()["error"]["code"] == "upload_too_large"


def test_a_body_that_never_ends_gets_its_answer_and_the_connection_closes(server):
    host, port = server.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=30) as connection:
        connection.sendall(b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: image/jpeg\r\n"
                           + f"Content-Length: {2 * LIMIT}\r\n\r\n".encode() + b"\xff" * 1000)
        received = b""
        while chunk := connection.recv(65536):  # the server closes after its answer
            received += chunk
    head, _, body = received.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 413") and b"upload_too_large" in body
