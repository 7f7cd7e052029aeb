"""Early refusals are readable by clients that write the whole body before reading.

Against the real server process: urllib, requests and httpx (sync and async) send bodies from
just over the upload limit to 4 times it, with and without `Expect: 100-continue`, and must read
the refusal's JSON (413 over the limit, 415 by content type, 503 while the model is unavailable
and 503 when the upload bytes in flight are at their bound) rather than "connection reset by
peer"; a client that never finishes its body gets its answer
too, once the bounded discarding gives up. Run with the discarding switched off
(REFUSED_BODY_DISCARD_BYTES=0), these clients see resets instead.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from service_process import ServiceProcess

from loadtest.refusal_clients import CLIENTS, headers

LIMIT = 2 * 1024 * 1024  # large enough that unread bytes overflow the sockets' buffers


def serve(model_path: Path, log_path: Path, **env: str) -> Iterator[str]:
    limits = {"MAX_UPLOAD_BYTES": str(LIMIT), "MAX_BATCH_UPLOAD_BYTES": str(LIMIT)}
    with ServiceProcess(model_path, log_path, **(limits | env)) as service:
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


# The refusals below 413 come from servers whose upload limit is 4 times LIMIT, so that they
# are tried with bodies up to that size (a body over the limit would get the 413 instead).
ROOMY = {"MAX_UPLOAD_BYTES": str(4 * LIMIT), "MAX_BATCH_UPLOAD_BYTES": str(4 * LIMIT)}


@pytest.fixture(scope="module")
def roomy(tiny_model_path, tmp_path_factory) -> Iterator[str]:
    yield from serve(tiny_model_path, tmp_path_factory.mktemp("roomy") / "server.log", **ROOMY)


@pytest.fixture(scope="module")
def unavailable(tmp_path_factory) -> Iterator[str]:
    folder = tmp_path_factory.mktemp("unavailable")
    yield from serve(folder / "missing.pt", folder / "server.log", **ROOMY)


@pytest.fixture(scope="module")
def overloaded(tiny_model_path, tmp_path_factory) -> Iterator[str]:
    """A server whose whole budget of upload bytes in flight is held by one stalled upload, so
    that every other body is refused 503 `overloaded` before it is read."""
    folder = tmp_path_factory.mktemp("overloaded")
    budget = ROOMY["MAX_UPLOAD_BYTES"]
    for base in serve(tiny_model_path, folder / "server.log", **ROOMY,
                      MAX_INFLIGHT_UPLOAD_BYTES=budget):
        host, port = base.removeprefix("http://").split(":")
        with socket.create_connection((host, int(port)), timeout=30) as holder:
            holder.sendall(b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: image/jpeg\r\n"
                           + f"Content-Length: {budget}\r\n\r\n".encode() + b"\xff" * 1000)
            wait_for_bytes_in_flight(base, 4 * LIMIT)
            yield base


def wait_for_bytes_in_flight(base: str, expected: int) -> None:
    for _ in range(300):
        families = text_string_to_metric_families(httpx.get(f"{base}/metrics", timeout=5).text)
        if any(sample.value == expected for family in families for sample in family.samples
               if sample.name == "penguin_upload_bytes_in_flight"):
            return
        asyncio.run(asyncio.sleep(0.1))
    raise AssertionError("the holding upload was never admitted")


@pytest.mark.parametrize("expect", [False, True], ids=["plain", "expect-100"])
@pytest.mark.parametrize("size", [LIMIT, 2 * LIMIT, 4 * LIMIT], ids=["1x", "2x", "4x"])
@pytest.mark.parametrize("client", CLIENTS.values(), ids=CLIENTS.keys())
def test_overloaded_every_client_reads_the_503(overloaded, client, size, expect):
    status, body = client(f"{overloaded}/predict", b"\xff" * size, headers("image/jpeg", expect))
    assert (status, body["error"]["code"]) == (503, "overloaded")


@pytest.mark.parametrize("expect", [False, True], ids=["plain", "expect-100"])
@pytest.mark.parametrize("size", [LIMIT + 1, 2 * LIMIT, 4 * LIMIT], ids=["+1", "2x", "4x"])
@pytest.mark.parametrize("client", CLIENTS.values(), ids=CLIENTS.keys())
def test_over_the_limit_every_client_reads_the_413(server, client, size, expect):
    status, body = client(f"{server}/predict", b"\xff" * size, headers("image/jpeg", expect))
    assert status == 413 and body["error"]["code"] == "upload_too_large"


@pytest.mark.parametrize("expect", [False, True], ids=["plain", "expect-100"])
@pytest.mark.parametrize("size", [LIMIT, 2 * LIMIT, 4 * LIMIT], ids=["1x", "2x", "4x"])
@pytest.mark.parametrize("client", CLIENTS.values(), ids=CLIENTS.keys())
def test_a_refused_content_type_is_read_by_every_client(roomy, client, size, expect):
    status, body = client(f"{roomy}/predict", b"x" * size, headers("text/plain", expect))
    assert status == 415 and body["error"]["code"] == "unsupported_media_type"


@pytest.mark.parametrize("expect", [False, True], ids=["plain", "expect-100"])
@pytest.mark.parametrize("size", [LIMIT, 4 * LIMIT, 8 * LIMIT], ids=["1x", "4x", "8x"])
@pytest.mark.parametrize("client", CLIENTS.values(), ids=CLIENTS.keys())
def test_unavailable_every_client_reads_the_503_or_413(unavailable, client, size, expect):
    status, body = client(f"{unavailable}/predict", b"\xff" * size, headers("image/jpeg", expect))
    expected = (413, "upload_too_large") if size > 4 * LIMIT else (503, "model_unavailable")
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
