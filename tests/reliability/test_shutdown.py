"""SIGTERM under load, against a real server process: nothing in flight is lost.

Twenty uploads are caught mid-body when SIGTERM arrives (what Cloud Run sends before stopping an
instance). They must all complete with 200, while new connections are refused; the process must
exit with status 0 within 10 s, and log no error.
"""

from __future__ import annotations

import http.client
import io
import signal
import socket
import subprocess
import time

import httpx
import pytest
from PIL import Image
from reliability_helpers import RawResponse, _parse, live_server

IN_FLIGHT = 20
EXIT_SECONDS = 10


def red_photo() -> bytes:
    """640x480: a red top half (Adelie for the tiny model) over noise."""
    image = Image.effect_noise((640, 480), 40).convert("RGB")
    image.paste((230, 20, 20), (0, 0, 640, 240))
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()


def read_response(connection: socket.socket, timeout: float = 20) -> RawResponse:
    connection.settimeout(timeout)
    started = time.monotonic()
    buffer = b""
    while (parsed := _parse(buffer)) is None:
        chunk = connection.recv(65536)
        if not chunk:
            parsed = _parse(buffer, complete=True)
            break
        buffer += chunk
    assert parsed is not None, buffer[:200]
    return RawResponse(*parsed, seconds=time.monotonic() - started)


def wait_until_in_flight(server, count: int, timeout: float = 15) -> None:
    """Until the server has started handling `count` requests (the scrape itself aside): a
    connection still waiting in the kernel's accept queue is not in flight yet."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        metrics = httpx.get(f"{server.url}/metrics", timeout=5).text
        if f"penguin_http_requests_in_flight {float(count + 1)}" in metrics:
            return
        time.sleep(0.05)
    raise AssertionError(f"{count} requests were not in flight after {timeout} s")


def test_sigterm_with_uploads_in_flight_completes_them_refuses_new_ones_and_exits_0(
        tiny_model_path, tmp_path):
    body = red_photo()
    head = ("POST /predict HTTP/1.1\r\nHost: test\r\nContent-Type: image/jpeg\r\n"
            f"Content-Length: {len(body)}\r\n\r\n").encode()
    with live_server(tiny_model_path, tmp_path / "server") as server:
        connections = [socket.create_connection(("127.0.0.1", server.port))
                       for _ in range(IN_FLIGHT)]
        for connection in connections:
            connection.sendall(head + body[:1000])  # in flight: the body is not all there
        wait_until_in_flight(server, IN_FLIGHT)
        server.process.send_signal(signal.SIGTERM)
        signalled = time.monotonic()

        # New connections are refused once the server has stopped listening, which it does
        # while the uploads are still in flight (their bodies are only sent below). The bound
        # is a hang guard, not a speed claim.
        refused = False
        while time.monotonic() - signalled < EXIT_SECONDS and not refused:
            try:
                socket.create_connection(("127.0.0.1", server.port), timeout=1).close()
                time.sleep(0.05)
            except ConnectionRefusedError:
                refused = True
        assert refused, "the server kept accepting connections with uploads in flight"

        for connection in connections:
            connection.sendall(body[1000:])
        responses = [read_response(connection) for connection in connections]
        for connection in connections:
            connection.close()
        try:
            code = server.process.wait(timeout=EXIT_SECONDS - (time.monotonic() - signalled))
        except subprocess.TimeoutExpired:
            pytest.fail(f"no exit within {EXIT_SECONDS} s of SIGTERM:\n"
                        f"{server.log_path.read_text()[-3000:]}")
        lines = server.log_lines()

    assert code == 0
    assert [r.status for r in responses] == [200] * IN_FLIGHT
    assert all(b'"species":"Adelie"' in r.body for r in responses)
    assert not [line for line in lines if line.get("severity") in ("ERROR", "CRITICAL")]
    served = [line for line in lines if line.get("path") == "/predict"]
    assert [line["status"] for line in served] == [200] * IN_FLIGHT


def test_an_idle_keep_alive_connection_still_serves_the_next_request(server):
    """Clients that pause between requests (the load tests wait up to 5 s) reuse their
    connection; the server must not close it first (uvicorn's default closes after 5 s, and a
    request crossing that close fails with no response)."""
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        connection.request("GET", "/healthz")
        first = connection.getresponse()
        assert (first.status, first.read()) == (200, b'{"status":"ok"}')
        socket_used = connection.sock
        time.sleep(6)  # longer than uvicorn's default keep-alive
        connection.request("GET", "/healthz")  # no reconnect: a closed socket fails here
        second = connection.getresponse()
        assert (second.status, second.read()) == (200, b'{"status":"ok"}')
        assert connection.sock is socket_used
    finally:
        connection.close()
