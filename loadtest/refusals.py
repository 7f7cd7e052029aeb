"""What reading the rest of a refused body costs, per client: the figures behind the defaults of
REFUSED_BODY_DISCARD_BYTES and REFUSED_BODY_DISCARD_SECONDS.

    python -m loadtest.refusals    # or: make refusals (about 3 minutes) -> loadtest/REFUSALS.md

Starts the real service (`python -m service`, the shipped model, the default upload limit) and
posts bodies over the limit with the four clients of loadtest/refusal_clients.py (urllib,
requests, httpx, httpx async), with and without `Expect: 100-continue`. Each case records what
the client got (the 413 it should read, or the error it raised instead), and from the request's
log line how many bytes the server discarded, for how long and why it stopped
(service/http/lingering.py), plus the server's CPU time for the request.

1. Needs: the bounds opened wide (1 GiB, 120 s), bodies from just over the limit to 8 times it:
   what each client makes the server read before it reads the answer.
2. Defaults (or --discard-bytes / --discard-seconds): the same clients at 4 times the limit
   and past the byte bound; then, all at the same time, clients on slow links (paced by the
   client: a body just over the limit at 64 KiB/s and at 1 MiB/s, 4 times it at 2 MiB/s) and
   one that stops sending; last, alone, one that sends forever at full speed.

Bytes are exact whatever the machine does; times and CPU are upper bounds when other work
shares the CPUs (the load average is in the report).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import json
import os
import shlex
import socket
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from loadtest.refusal_clients import CLIENTS, headers
from loadtest.servers import HOST, ServerProcess, free_port, service_process
from service.settings import Settings

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_MODEL = REPO_ROOT / "weights" / "penguin_classifier.pt"
DEFAULT_REPORT = REPO_ROOT / "loadtest" / "REFUSALS.md"
MIB = 1024 * 1024
WIDE_OPEN = {"REFUSED_BODY_DISCARD_BYTES": str(1024 * MIB), "REFUSED_BODY_DISCARD_SECONDS": "120"}
NEEDS_MULTIPLES = (1, 2, 4, 8)  # times the limit; 1 means one byte over it
LOG_WAIT = 5.0  # seconds to wait for a request's log line after its answer


@dataclass
class Case:
    """One refused request, what the client saw and what the server did."""

    client: str
    expect: bool
    body: str  # how big, or how it was sent
    got: str  # "413 upload_too_large", or the error the client raised
    client_s: float
    discarded: int | None = None
    discard_ms: float | None = None
    discard_end: str | None = None
    server_cpu_ms: float | None = None


@contextlib.contextmanager
def started(*servers: Server) -> Iterator[None]:
    """All `servers` started at once (a cold start is long on a busy machine), then ready."""
    try:
        for server in servers:
            server.process.start()

        async def all_ready() -> None:
            await asyncio.gather(*(server.process.wait_for() for server in servers))

        asyncio.run(all_ready())
        yield
    finally:
        for server in servers:
            server.stop()


class Server:
    """The service as a process, and what its log says about one request."""

    def __init__(self, model: Path, folder: Path, name: str, env: dict[str, str]) -> None:
        self.port = free_port()
        self.log_path = folder / f"{name}.log"
        self.process: ServerProcess = service_process(sys.executable, model, self.port,
                                                      self.log_path, env)
        self.url = f"http://{HOST}:{self.port}/predict"

    def stop(self) -> None:
        self.process.stop()

    def cpu_seconds(self) -> float:
        return self.process.cpu_seconds()[0]

    def log_line(self, request_id: str) -> dict:
        """The request's log line (written just after its answer, so waited for)."""
        deadline = time.monotonic() + LOG_WAIT
        while time.monotonic() < deadline:
            for line in self.log_path.read_text().splitlines():
                if request_id in line and '"service.requests"' in line:
                    return json.loads(line)
            time.sleep(0.05)
        return {}


def outcome(call: Callable[[], tuple[int, dict]]) -> str:
    """'413 upload_too_large' when the client read the answer, else the error it raised."""
    try:
        status, body = call()
    except Exception as error:  # what the client raises instead is the finding
        return f"{type(error).__name__}: {_root_cause(error)}"
    return f"{status} {body.get('error', {}).get('code', '')}"


def _root_cause(error: BaseException) -> str:
    while error.__cause__ is not None or error.__context__ is not None:
        error = error.__cause__ or error.__context__
    if isinstance(error, OSError) and error.strerror:
        return error.strerror
    return type(error).__name__


def measure(server: Server, client: str, expect: bool, label: str,
            call: Callable[[dict[str, str]], tuple[int, dict]]) -> Case:
    """Send one request tagged with a request id; join the client's view to the log line."""
    request_id = uuid.uuid4().hex
    extra = {"X-Request-ID": request_id, **headers("image/jpeg", expect)}
    cpu_before, started = server.cpu_seconds(), time.perf_counter()
    got = outcome(lambda: call(extra))
    client_s = time.perf_counter() - started
    line = server.log_line(request_id)
    return Case(client, expect, label, got, client_s, line.get("discarded_bytes"),
                line.get("discard_ms"), line.get("discard_end"),
                (server.cpu_seconds() - cpu_before) * 1000)


def sweep(server: Server, sizes: dict[str, int]) -> list[Case]:
    """Every client, with and without Expect: 100-continue, at every size, one at a time."""
    cases = []
    for label, size in sizes.items():
        body = b"\xff" * size
        for name, client in CLIENTS.items():
            for expect in (False, True):
                cases.append(measure(server, name, expect, label,
                                     lambda extra, c=client, b=body: c(server.url, b, extra)))
                print(_row(cases[-1]), flush=True)
    return cases


class PacedBody:
    """A request body read at `rate` bytes/s at most, like a client on a slow link; endless when
    `size` is None (then sent chunked, having no length)."""

    CHUNK = 8192

    def __init__(self, size: int | None, rate: float | None) -> None:
        self.size, self.rate = size, rate

    def __len__(self) -> int:
        if self.size is None:
            raise TypeError("an endless body has no length")
        return self.size

    def __iter__(self) -> Iterator[bytes]:
        started, sent = time.perf_counter(), 0
        while self.size is None or sent < self.size:
            chunk = b"\xff" * min(self.CHUNK, (self.size or sent + self.CHUNK) - sent)
            if self.rate:
                ahead = sent / self.rate - (time.perf_counter() - started)
                if ahead > 0:
                    time.sleep(ahead)
            sent += len(chunk)
            yield chunk


def stalled_socket(port: int, declared: int, extra: dict[str, str]) -> tuple[int, dict]:
    """Declares `declared` bytes, sends 1,000 and then nothing, and reads whatever comes."""
    head = "".join(f"{name}: {value}\r\n" for name, value in extra.items())
    with socket.create_connection((HOST, port), timeout=300) as sock:
        sock.sendall(f"POST /predict HTTP/1.1\r\nHost: x\r\n{head}Content-Length: {declared}"
                     f"\r\n\r\n".encode() + b"\xff" * 1000)
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
    status_line, _, rest = received.partition(b"\r\n")
    return int(status_line.split()[1]), json.loads(rest.partition(b"\r\n\r\n")[2])


SLOW_CLIENTS = ("urllib", "requests", "httpx")  # httpx's async client takes no plain iterator


def paced(client: str, url: str, size: int, rate: float) -> Callable[[dict[str, str]], tuple]:
    """`client` posting `size` bytes at `rate` bytes/s, with their Content-Length."""
    return lambda extra: CLIENTS[client](url, PacedBody(size, rate),
                                         {**extra, "Content-Length": str(size)})


def slow_and_endless(server: Server, limit: int) -> list[Case]:
    """Clients that take long or forever, all at once (so the phase lasts about the time bound),
    then one that sends forever at full speed, alone."""
    over = limit + 1
    runs: list[tuple[str, str, Callable[[dict[str, str]], tuple]]] = [
        *[(name, f"{_mib(over)} at {label}", paced(name, server.url, over, rate))
          for label, rate in (("64 KiB/s", 64 * 1024), ("1 MiB/s", MIB))
          for name in SLOW_CLIENTS],
        ("requests", f"{_mib(4 * limit)} at 2 MiB/s",
         paced("requests", server.url, 4 * limit, 2 * MIB)),
        ("raw socket", f"declares {_mib(2 * limit)}, sends 1,000 B, stops",
         lambda extra: stalled_socket(server.port, 2 * limit, extra)),
    ]
    with ThreadPoolExecutor(len(runs)) as pool:
        futures = [pool.submit(measure, server, client, False, label, run)
                   for client, label, run in runs]
        cases = [future.result() for future in futures]
    for case in cases:
        case.server_cpu_ms = None  # they overlapped: no CPU time of their own
    cases.append(measure(server, "requests", False, "endless, chunked, full speed",
                         lambda extra: CLIENTS["requests"](server.url,
                                                           iter(PacedBody(None, None)), extra)))
    for case in cases:
        print(_row(case), flush=True)
    return cases


def _mib(size: int) -> str:
    return f"{size / MIB:g} MiB" + (" + 1 B" if size % MIB == 1 else "")


def _sizes(limit: int, multiples: tuple[int, ...]) -> dict[str, int]:
    return {("limit + 1 B" if times == 1 else f"{times}x limit"): limit * times + (times == 1)
            for times in multiples}


HEADER = ("| client | Expect: 100-continue | body | client got | discarded | discard took | "
          "ended by | server CPU |\n|---|---|---|---|---:|---:|---|---:|")


def _row(case: Case) -> str:
    def show(value: float | None, unit: str, digits: int = 0) -> str:
        return "-" if value is None else f"{value:,.{digits}f} {unit}"

    discarded = "-" if case.discarded is None else _mib_or_bytes(case.discarded)
    return (f"| {case.client} | {'yes' if case.expect else 'no'} | {case.body} | {case.got} | "
            f"{discarded} | {show(case.discard_ms, 'ms')} | {case.discard_end or '-'} | "
            f"{show(case.server_cpu_ms, 'ms')} |")


def _mib_or_bytes(size: int) -> str:
    return f"{size / MIB:.2f} MiB" if size >= MIB else f"{size:,} B"


def summary(needs: list[Case], limit: int) -> list[str]:
    """The figures the defaults are chosen from."""
    read = [case for case in needs if case.got.startswith("413") and case.discarded]
    lines = [f"- Clients that read the 413 (bounds wide open): {len(read)} of {len(needs)}."]
    if read:
        biggest = max(case.discarded for case in read)
        rates = [case.discarded / MIB / (case.discard_ms / 1000) for case in read
                 if case.discard_ms]
        cpu = [case.server_cpu_ms / (case.discarded / MIB) for case in read
               if case.server_cpu_ms is not None]
        by_expect = {(case.client, case.body, case.expect): case.discarded for case in needs}
        same = all(by_expect.get((client, body, True)) == discarded
                   for (client, body, expect), discarded in by_expect.items() if not expect)
        lines += [
            f"- Discarded per request: up to {_mib_or_bytes(biggest)} "
            f"({biggest / limit:.1f} times the limit). With `Expect: 100-continue` the bytes "
            + ("are the same: no client waited for `100 Continue` before sending its body."
               if same else "differ from those without it (see the table)."),
            f"- Discarding speed on loopback: median {statistics.median(rates):,.0f} MiB/s "
            f"(slowest {min(rates):,.0f}); server CPU per discarded MiB: median "
            f"{statistics.median(cpu):.1f} ms (upper bounds on this busy machine; the CPU "
            "time is counted in 10 ms ticks).",
        ]
    return lines


def report(needs: list[Case], defaults: list[Case], slow: list[Case], settings: Settings,
           bounds: tuple[int, float], command: str) -> str:
    limit = settings.max_upload_bytes
    started = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        "# Refusals: what reading the rest of a refused body costs",
        "",
        f"Measured {started} with `{command}` (loadtest/refusals.py): the service as a real "
        f"process on loopback, upload limit {_mib(limit)} (`MAX_UPLOAD_BYTES`), "
        f"{os.cpu_count()} CPUs, load average {_load_average()} (other work was running: "
        "bytes are exact, times and CPU are upper bounds).",
        "",
        "## Summary",
        "",
        *summary(needs, limit),
        "",
        "## 1. What each client needs (discarding bounds 1 GiB and 120 s)",
        "",
        HEADER, *map(_row, needs),
        "",
        f"## 2. With the bounds under test: {_mib_or_bytes(bounds[0])}, {bounds[1]:g} s",
        "",
        HEADER, *map(_row, defaults),
        "",
        "### Slow and endless clients (all but the last at the same time)",
        "",
        HEADER, *map(_row, slow),
        "",
        "`ended by`: `complete` the body ended, `bytes` the byte bound was passed, `seconds` the "
        "time bound, `declared_too_large` a declared length over the byte bound (not read at "
        "all). Server CPU is the process's CPU time across the request, counted in 10 ms ticks "
        "(left out where requests overlapped).",
        "",
    ]
    return "\n".join(lines)


def _load_average() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    settings = Settings()
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL, help="model file served")
    parser.add_argument("--discard-bytes", type=int, default=settings.refused_body_discard_bytes,
                        help="REFUSED_BODY_DISCARD_BYTES of phase 2 (default: the setting's)")
    parser.add_argument("--discard-seconds", type=float,
                        default=settings.refused_body_discard_seconds,
                        help="REFUSED_BODY_DISCARD_SECONDS of phase 2 (default: the setting's)")
    parser.add_argument("--out", type=Path, default=DEFAULT_REPORT, help="report written here")
    args = parser.parse_args(argv)
    limit = settings.max_upload_bytes
    bounds = (args.discard_bytes, args.discard_seconds)
    past_bound = {"4x limit": 4 * limit,
                  f"{_mib(bounds[0] + limit)} (past the byte bound)": bounds[0] + limit}
    env = {"REFUSED_BODY_DISCARD_BYTES": str(bounds[0]),
           "REFUSED_BODY_DISCARD_SECONDS": str(bounds[1])}
    with tempfile.TemporaryDirectory(prefix="refusals-") as folder:
        wide = Server(args.model, Path(folder), "needs", WIDE_OPEN)
        bounded = Server(args.model, Path(folder), "bounded", env)
        with started(wide, bounded):
            needs = sweep(wide, _sizes(limit, NEEDS_MULTIPLES))
            defaults = sweep(bounded, past_bound)
            slow = slow_and_endless(bounded, limit)
    command = "python -m loadtest.refusals" + (f" {shlex.join(argv)}" if argv else "")
    args.out.write_text(report(needs, defaults, slow, settings, bounds, command))
    print(f"report: {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
