"""A closed-loop HTTP load generator: C connections, each with one request in flight at a time.

Plain asyncio streams and requests encoded once up front, so the generator costs little CPU
next to the server it measures (both share the machine). HTTP/1.1 keep-alive; a connection is
reopened after an error, a timeout or `Connection: close`.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy

BOUNDARY = "bench-boundary-7d3f0c9a"


def multipart_request(host: str, port: int, path: str, field_name: str, filename: str,
                      data: bytes, content_type: str = "image/jpeg") -> bytes:
    """A complete POST with one file in a multipart/form-data body, as bytes on the wire."""
    return multipart_files_request(host, port, path, [(field_name, filename, data, content_type)])


def multipart_files_request(host: str, port: int, path: str,
                            files: Sequence[tuple[str, str, bytes, str]]) -> bytes:
    """A complete POST with (field, filename, data, content type) files in a multipart body."""
    body = b"".join(
        (f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{field_name}\"; "
         f"filename=\"{filename}\"\r\nContent-Type: {content_type}\r\n\r\n").encode()
        + data + b"\r\n"
        for field_name, filename, data, content_type in files)
    body += f"--{BOUNDARY}--\r\n".encode()
    head = (f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUser-Agent: penguin-bench\r\n"
            f"Content-Type: multipart/form-data; boundary={BOUNDARY}\r\n"
            f"Content-Length: {len(body)}\r\n\r\n").encode()
    return head + body


def json_request(host: str, port: int, path: str, payload: object) -> bytes:
    """A complete POST with `payload` as its JSON body, as bytes on the wire."""
    body = json.dumps(payload).encode()
    head = (f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUser-Agent: penguin-bench\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n").encode()
    return head + body


def get_request(host: str, port: int, path: str) -> bytes:
    return (f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\n"
            "User-Agent: penguin-bench\r\n\r\n").encode()


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: bytes


class Connection:
    """One keep-alive HTTP/1.1 connection."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def exchange(self, request: bytes) -> Response:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        assert self.reader is not None
        self.writer.write(request)
        await self.writer.drain()
        head = await self.reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        headers = {}
        for line in lines[1:]:
            if ":" in line:
                name, value = line.split(":", 1)
                headers[name.strip().lower()] = value.strip()
        body = await self.reader.readexactly(int(headers.get("content-length", "0")))
        if headers.get("connection", "").lower() == "close":
            self.close()
        return Response(status, headers, body)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


@dataclass
class Sample:
    started: float
    latency: float
    status: int  # 0 when the request failed without an HTTP answer (timeout, reset)
    code: str = ""  # the error code of a non-200 answer, or the failure's kind
    retry_after: str | None = None


@dataclass
class PhaseResult:
    concurrency: int
    duration: float
    samples: list[Sample] = field(default_factory=list)
    bodies: dict[int, bytes] = field(default_factory=dict)  # first 200 body per request index
    server_cpu: float | None = None  # CPU seconds the server used during the window
    server_main_cpu: float | None = None  # of which its main thread (the event loop)
    client_cpu: float | None = None  # CPU seconds this load generator used during the window

    def summary(self) -> dict:
        ok = [s.latency for s in self.samples if s.status == 200]
        errors = [s for s in self.samples if s.status != 200]
        by_code: dict[str, int] = {}
        for sample in errors:
            key = f"{sample.status or 'no answer'} {sample.code}".strip()
            by_code[key] = by_code.get(key, 0) + 1
        rejected = [s for s in errors if s.status == 503]
        return {
            "concurrency": self.concurrency,
            "seconds": round(self.duration, 2),
            "requests": len(self.samples),
            "ok": len(ok),
            "rps": round(len(ok) / self.duration, 1),
            "p50_ms": _ms(percentile(ok, 50)),
            "p90_ms": _ms(percentile(ok, 90)),
            "p99_ms": _ms(percentile(ok, 99)),
            "mean_ms": _ms(statistics.fmean(ok) if ok else None),
            "errors": len(errors),
            "errors_by_code": by_code,
            "rejected_503": len(rejected),
            "rejected_503_with_retry_after": sum(1 for s in rejected if s.retry_after),
            "rejected_p50_ms": _ms(percentile([s.latency for s in rejected], 50)),
            "rejected_p99_ms": _ms(percentile([s.latency for s in rejected], 99)),
            # CPU time per answered request: what each costs, whatever else shares the machine.
            "server_cpu_ms_per_request": _per(self.server_cpu, len(self.samples)),
            "event_loop_cpu_ms_per_request": _per(self.server_main_cpu, len(self.samples)),
            "client_cpu_ms_per_request": _per(self.client_cpu, len(self.samples)),
        }


def percentile(values: list[float], q: float) -> float | None:
    """The q-th percentile (0 to 100) of `values`, NumPy's (linear between the closest ranks);
    None when there are none. The one percentile of every harness, so reports agree."""
    if not values:
        return None
    return float(numpy.percentile(values, q))


def _per(cpu_seconds: float | None, count: int) -> float | None:
    return None if cpu_seconds is None or not count else round(cpu_seconds / count * 1000, 2)


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 1)


async def closed_loop(host: str, port: int, requests: list[bytes], *, concurrency: int,
                      warmup: float, duration: float, timeout: float = 30.0,
                      keep_bodies: bool = False,
                      server_cpu: Callable[[], tuple[float, float]] | None = None
                      ) -> PhaseResult:
    """Keep `concurrency` requests in flight for warmup + duration seconds; the requests that
    finish within the measured window (after the warm-up) count. Requests are taken in turn from
    `requests`, so every photo is sent equally often."""
    result = PhaseResult(concurrency, duration)
    loop_start = time.perf_counter()
    window_start = loop_start + warmup
    window_end = window_start + duration
    counter = 0

    async def worker() -> None:
        nonlocal counter
        connection = Connection(host, port)
        try:
            while time.perf_counter() < window_end:
                index = counter % len(requests)
                counter += 1
                started = time.perf_counter()
                try:
                    response = await asyncio.wait_for(connection.exchange(requests[index]),
                                                      timeout)
                except TimeoutError:
                    connection.close()
                    sample = Sample(started, time.perf_counter() - started, 0, "timeout")
                except (OSError, asyncio.IncompleteReadError, ValueError) as error:
                    connection.close()
                    sample = Sample(started, time.perf_counter() - started, 0,
                                    type(error).__name__)
                    await asyncio.sleep(0.01)
                else:
                    finished = time.perf_counter()
                    code = "" if response.status == 200 else error_code(response.body)
                    sample = Sample(started, finished - started, response.status, code,
                                    response.headers.get("retry-after"))
                    if keep_bodies and response.status == 200:
                        result.bodies.setdefault(index, response.body)
                if window_start <= started + sample.latency <= window_end:
                    result.samples.append(sample)
        finally:
            connection.close()

    async def meter() -> None:
        """CPU used by the server (if it can be read) and by this process during the window."""
        await asyncio.sleep(max(0.0, window_start - time.perf_counter()))
        server_start, client_start = server_cpu() if server_cpu else None, time.process_time()
        await asyncio.sleep(max(0.0, window_end - time.perf_counter()))
        result.client_cpu = time.process_time() - client_start
        if server_cpu and server_start is not None:
            total, main = server_cpu()
            result.server_cpu = total - server_start[0]
            result.server_main_cpu = main - server_start[1]

    await asyncio.gather(meter(), *(worker() for _ in range(concurrency)))
    return result


def error_code(body: bytes) -> str:
    try:
        return str(json.loads(body)["error"]["code"])
    except (ValueError, KeyError, TypeError):
        return "non-json"


async def fetch(host: str, port: int, request: bytes, timeout: float = 5.0) -> Response:
    """One request on a fresh connection."""
    connection = Connection(host, port)
    try:
        return await asyncio.wait_for(connection.exchange(request), timeout)
    finally:
        connection.close()
