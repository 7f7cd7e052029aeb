"""Tools of the hostile-input suite: a real server process, raw HTTP over sockets, resource
snapshots (RSS, peak RSS, open files, temporary files) and a /healthz poller.

A real `python -m service` is used wherever the claim is about the server as deployed: uvicorn's
own parsing, the body limit as bytes arrive on a socket, memory, files left behind, and whether
the event loop stays free for /healthz while something hostile is being processed.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import socket
import statistics
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from service_process import ServiceProcess

# A /healthz poll not answered in this long is a hang, not a slow answer: the bound only keeps
# a hung server from hanging the suite (how fast it answers is `make bench`'s business).
HEALTH_HANG_GUARD_SECONDS = 30.0


@dataclass(frozen=True)
class Resources:
    """What a request could leave behind in the server process."""

    rss_mb: float
    open_files: int
    tmp_files: int


class LiveServer(ServiceProcess):
    """A `python -m service` with a private TMPDIR under `workdir`, and ways to look inside it."""

    def __init__(self, model_path: Path, workdir: Path, **env: str) -> None:
        self.tmpdir = workdir / "tmp"
        self.tmpdir.mkdir(parents=True, exist_ok=True)
        super().__init__(model_path, workdir / "server.log", TMPDIR=str(self.tmpdir), **env)
        self.http = httpx.Client(base_url=self.url, timeout=30)

    # -- the process from the outside ---------------------------------------------------------
    def _status_kb(self, key: str) -> float:
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return float(line.split()[1])
        raise AssertionError(f"{key} not in /proc/{self.process.pid}/status")

    def rss_mb(self) -> float:
        return self._status_kb("VmRSS") / 1024

    def reset_peak(self) -> None:
        """Reset VmHWM (peak RSS) to the current RSS, so peak_mb() covers only what follows."""
        Path(f"/proc/{self.process.pid}/clear_refs").write_text("5")

    def peak_mb(self) -> float:
        return self._status_kb("VmHWM") / 1024

    def open_files(self) -> int:
        """Open descriptors that are files (temporary uploads included), sockets excluded."""
        count = 0
        for entry in Path(f"/proc/{self.process.pid}/fd").iterdir():
            with contextlib.suppress(OSError):
                target = os.readlink(entry)
                if target.startswith("/") and not target.startswith(("/dev/", "/proc/")):
                    count += 1
        return count

    def tmp_files(self) -> int:
        return sum(1 for _ in self.tmpdir.rglob("*"))

    def resources(self) -> Resources:
        return Resources(self.rss_mb(), self.open_files(), self.tmp_files())

    def log_lines(self) -> list[dict[str, Any]]:
        lines = []
        for text in self.log_path.read_text().splitlines():
            with contextlib.suppress(json.JSONDecodeError):
                lines.append(json.loads(text))
        return lines

    # -- requests -------------------------------------------------------------------------------
    def healthz_ok(self) -> bool:
        return self.http.get("/healthz").status_code == 200

    def assert_healthy(self) -> None:
        response = httpx.get(f"{self.url}/healthz", timeout=5)
        assert response.status_code == 200 and response.json() == {"status": "ok"}
        assert self.process.poll() is None, "the server process died"

    def assert_resources_back(self, before: Resources, *, rss_slack_mb: float = 30.0,
                              settle_seconds: float = 3.0) -> Resources:
        """Open files and temporary files back to where they were, RSS within `rss_slack_mb`."""
        deadline = time.monotonic() + settle_seconds
        while True:
            after = self.resources()
            back = (after.open_files <= before.open_files and after.tmp_files <= before.tmp_files
                    and after.rss_mb - before.rss_mb <= rss_slack_mb)
            if back or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        assert after.open_files <= before.open_files, f"files left open: {before} -> {after}"
        assert after.tmp_files <= before.tmp_files, f"temporary files left: {before} -> {after}"
        assert after.rss_mb - before.rss_mb <= rss_slack_mb, f"memory grew: {before} -> {after}"
        return after

    def stop(self) -> None:
        self.http.close()
        super().stop()


@contextlib.contextmanager
def live_server(model_path: Path, workdir: Path, **env: str) -> Iterator[LiveServer]:
    """`python -m service` on a free port serving `model_path`, ready; killed afterwards."""
    with LiveServer(model_path, workdir, **env) as server:
        server.wait_until_ready()
        yield server


# -- raw HTTP -------------------------------------------------------------------------------------
@dataclass
class RawResponse:
    status: int
    headers: dict[str, str]
    body: bytes
    seconds: float
    bytes_sent: int = 0
    closed: bool = False

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def error_code(self) -> str | None:
        if not self.headers.get("content-type", "").startswith("application/json"):
            return None
        return self.json().get("error", {}).get("code")


def request_head(method: str, path: str, headers: dict[str, str]) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: test", *(f"{k}: {v}" for k, v in headers.items())]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def _parse(buffer: bytes, complete: bool = False) -> tuple[int, dict[str, str], bytes] | None:
    """(status, headers, body) once the whole response is in `buffer`; None before that."""
    head, separator, rest = buffer.partition(b"\r\n\r\n")
    if not separator:
        return None
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    length = headers.get("content-length")
    if length is None and headers.get("connection") == "close" and not complete:
        return None  # the body runs to the end of the connection
    if length is not None and len(rest) < int(length):
        return None
    return status, headers, rest if length is None else rest[: int(length)]


def raw_exchange(port: int, head: bytes, body: Iterable[bytes] = (), *,
                 timeout: float = 30.0) -> RawResponse:
    """Send `head`, then `body` piece by piece until the server answers; read the answer.

    Stops sending as soon as response bytes arrive (the server refused the body mid-stream),
    so `bytes_sent` says how much of the body the server let in before answering.
    """
    started = time.monotonic()
    sent = 0
    buffer = b""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as connection:
        try:
            connection.sendall(head)
            connection.setblocking(False)
            for piece in body:
                if _readable(connection):
                    break
                connection.setblocking(True)
                connection.sendall(piece)
                connection.setblocking(False)
                sent += len(piece)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server closed after answering: read the answer below
        connection.setblocking(True)
        connection.settimeout(max(0.1, timeout - (time.monotonic() - started)))
        closed = False
        while (parsed := _parse(buffer)) is None:
            try:
                chunk = connection.recv(65536)
            except ConnectionResetError:
                chunk = b""
            if not chunk:
                closed = True
                parsed = _parse(buffer, complete=True)
                break
            buffer += chunk
        if parsed is None:
            raise AssertionError(f"no complete response (sent {sent} bytes): {buffer[:300]!r}")
        status, headers, content = parsed
        if not closed and headers.get("connection") == "close":
            with contextlib.suppress(OSError):  # a reset counts as closed too
                connection.settimeout(1.0)
                closed = connection.recv(1) == b""
            closed = closed or _reset(connection)
    return RawResponse(status, headers, content, time.monotonic() - started, sent, closed)


def _reset(connection: socket.socket) -> bool:
    try:
        connection.settimeout(0.01)
        return connection.recv(1) == b""
    except (ConnectionResetError, BrokenPipeError):
        return True
    except OSError:
        return False


def _readable(connection: socket.socket) -> bool:
    import select

    readable, _, _ = select.select([connection], [], [], 0)
    return bool(readable)


def repeat(piece: bytes, total: int) -> Iterator[bytes]:
    """`total` bytes (rounded up to whole pieces) as a stream of `piece`."""
    for _ in range(-(-total // len(piece))):
        yield piece


def chunked(pieces: Iterable[bytes]) -> Iterator[bytes]:
    """HTTP/1.1 chunked transfer coding of `pieces` (the terminating chunk included)."""
    for piece in pieces:
        if not piece:
            continue  # an empty chunk would end the body
        yield f"{len(piece):x}\r\n".encode() + piece + b"\r\n"
    yield b"0\r\n\r\n"


# -- multipart ------------------------------------------------------------------------------------
BOUNDARY = "reliability-boundary-7d1e"


def part(name: str, data: bytes = b"x", *, filename: str | None = "photo.jpg",
         content_type: str = "image/jpeg", boundary: str = BOUNDARY) -> bytes:
    disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename else "")
    return (f"--{boundary}\r\nContent-Disposition: {disposition}\r\n"
            f"Content-Type: {content_type}\r\n\r\n").encode("latin-1") + data + b"\r\n"


def closing(boundary: str = BOUNDARY) -> bytes:
    return f"--{boundary}--\r\n".encode()


def multipart_type(boundary: str = BOUNDARY) -> str:
    return f"multipart/form-data; boundary={boundary}"


# -- /healthz while something else happens --------------------------------------------------------
@dataclass
class HealthPoller:
    """Polls /healthz on its own connection every `interval` seconds, in a thread."""

    url: str
    interval: float = 0.05
    latencies: list[float] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None
    _polls_expected: int = 1

    def __enter__(self) -> HealthPoller:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        self._wait_for_polls(1)  # polling has really started before the abuse is sent
        return self

    def __exit__(self, *exc: object) -> None:
        # One more poll after the abuse ended (the one in progress may have begun during it).
        self._polls_expected = len(self.latencies) + 2
        self._wait_for_polls(self._polls_expected)
        self._stop.set()
        assert self._thread is not None
        self._thread.join(timeout=10)

    def _wait_for_polls(self, count: int,
                        timeout: float = 2 * HEALTH_HANG_GUARD_SECONDS) -> None:
        deadline = time.monotonic() + timeout
        while len(self.latencies) < count and time.monotonic() < deadline:
            time.sleep(0.005)

    def _run(self) -> None:
        with httpx.Client(base_url=self.url, timeout=HEALTH_HANG_GUARD_SECONDS) as client:
            while not self._stop.is_set():
                started = time.perf_counter()
                try:
                    status = client.get("/healthz").status_code
                    if status != 200:
                        self.failures.append(f"status {status}")
                except httpx.HTTPError as error:
                    self.failures.append(repr(error))
                self.latencies.append(time.perf_counter() - started)
                self._stop.wait(self.interval)

    def assert_responsive(self) -> None:
        """Every poll, from before the abuse began to after it ended, was answered 200 (a poll
        that hung past the guard is a failure). Latencies are printed, never asserted."""
        assert not self.failures, self.failures
        assert len(self.latencies) >= self._polls_expected, (
            f"/healthz answered {len(self.latencies)} polls, not one after the abuse ended")
        print(f"/healthz: {len(self.latencies)} polls, worst {max(self.latencies) * 1000:.0f} "
              f"ms, median {statistics.median(self.latencies) * 1000:.0f} ms")


def assert_error_shape(status: int, headers: dict[str, str], body: Any, code: str) -> None:
    """The service's one error shape, with the expected code and the request id echoed."""
    assert headers["content-type"].startswith("application/json"), headers
    assert set(body) == {"error", "request_id"}, body
    assert body["error"]["code"] == code, (status, body)
    assert body["request_id"] == headers["x-request-id"]
    assert not re.search(r"Traceback|File \"|line \d+", body["error"]["message"]), body
