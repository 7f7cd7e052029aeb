"""Where the event loop's time goes per upload, by layer, in CPU time.

    python -m loadtest.loop_profile                      # C=8, 2 plain rounds + 1 profiled
    python -m loadtest.loop_profile --concurrency 32 --seconds 20 --rounds 3
    python -m loadtest.loop_profile --rounds 3 --compare /tmp/base   # A/B against a worktree
    python -m loadtest.loop_profile --parsers    # the two multipart parsers alone

Plain rounds: `python -m service` as deployed (INFO logging), the benchmark's 24 photos as
multipart uploads to /predict, C in flight; the server's CPU seconds per answered request, all
threads and its main thread (the event loop) alone, read from /proc. CPU time, not wall time:
what a request costs whatever share of a busy machine the server got.

Profiled round: the same server under cProfile timed by the thread's CPU clock, switched on
for the measured window only (SIGUSR1 / SIGUSR2) and on the main thread only, so decoding and
the forward pass (their own threads) are not in it. Every function's own time is put in a
layer by where its code lives; C functions (socket sends, dict copies) are shared out to the
layers that called them. The profiler inflates Python code more than C code, so read the
shares, not its milliseconds; the plain rounds' event-loop figure times a share estimates
a layer's cost.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import json
import os
import pstats
import signal
import sys
import tempfile
import threading
import time
from pathlib import Path

from loadtest import photos as photo_set
from loadtest.bench.harness import CACHE, SHIPPED_MODEL, requests_for
from loadtest.loadgen import closed_loop
from loadtest.servers import HOST, ServerProcess, free_port, service_env, service_process

# (layer, substrings of a code path or function name), first match wins.
LAYERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("response encoding (FastAPI serialize, pydantic, JSON)",
     ("serialize_response", "jsonable_encoder", "_prepare_response_content", "pydantic",
      "json/", "starlette/responses.py", "fastapi/encoders")),
    ("multipart parsing and spooling", ("multipart/", "starlette/formparsers.py",
                                        "service/http/multipart.py",
                                        "starlette/datastructures.py", "tempfile.py")),
    ("HTTP protocol (uvicorn, h11)", ("uvicorn/", "h11/")),
    ("routing, dependencies (Starlette, FastAPI)", ("starlette/", "fastapi/", "anyio/")),
    ("middleware: upload limit", ("service/http/limits.py",)),
    ("middleware: lingering refusal", ("service/http/lingering.py",)),
    ("middleware: request context", ("service/http/request_context.py",)),
    ("metrics (middleware, prometheus_client)", ("service/http/metrics.py", "prometheus_client")),
    ("logging (JSON line)", ("logging/", "service/http/logging_setup.py", "datetime")),
    ("our routes (uploads, timing, answer)", ("service/http/",)),
    ("engine hand-offs (futures, queues)", ("service/engine/", "concurrent/", "threading.py",
                                            "queue.py")),
    ("asyncio event loop, sockets", ("asyncio/", "selectors.py", "socket.py")),
)
OTHER = "other"


def layer_of(function: tuple[str, int, str]) -> str | None:
    """The layer of a Python function; None for a C function (filename '~')."""
    filename, _, name = function
    if filename == "~":
        return None
    for layer, keys in LAYERS:
        if any(key in filename or key == name for key in keys):
            return layer
    return OTHER


def layer_times(stats: pstats.Stats) -> dict[str, float]:
    """Own time per layer, C functions' time shared out among their callers' layers."""
    totals: dict[str, float] = {}
    for function, (_, _, own, _, callers) in stats.stats.items():  # type: ignore[attr-defined]
        layer = layer_of(function)
        if layer is not None:
            totals[layer] = totals.get(layer, 0.0) + own
            continue
        called = sum(entry[2] for entry in callers.values()) or 1.0
        for caller, entry in callers.items():
            share = layer_of(caller) or OTHER
            totals[share] = totals.get(share, 0.0) + own * entry[2] / called
        if not callers:
            totals[OTHER] = totals.get(OTHER, 0.0) + own
    return totals


async def plain_round(model: Path, photos: list[photo_set.Photo], concurrency: int,
                      seconds: float, log: Path, source: Path | None = None,
                      env: dict[str, str] | None = None) -> dict:
    """One window against `python -m service`; from the checkout `source` if given."""
    port = free_port()
    server = service_process(sys.executable, model, port, log, env)
    if source is not None:
        server.argv = service_from(source)
    server.start()
    try:
        await server.wait_for()
        return (await closed_loop(HOST, port, requests_for(photos, port, "/predict"),
                                  concurrency=concurrency, warmup=3.0, duration=seconds,
                                  server_cpu=server.cpu_seconds)).summary()
    finally:
        server.stop()


def service_from(source: Path) -> list[str]:
    """`python -m service`, importing the service from the checkout `source` instead."""
    return [sys.executable, "-c", f"import sys; sys.path.insert(0, {str(source)!r}); "
            "from service.__main__ import main; main()"]


async def profiled_round(model: Path, photos: list[photo_set.Photo], concurrency: int,
                         seconds: float, out: Path) -> tuple[pstats.Stats, int]:
    port = free_port()
    argv = [sys.executable, "-m", "loadtest.loop_profile", "--serve-profiled", str(out)]
    server = ServerProcess("profiled service", argv, env=service_env(model, port), port=port,
                           log_path=out.with_suffix(".log"))
    server.start()
    assert server.process is not None
    try:
        await server.wait_for()
        requests = requests_for(photos, port, "/predict")
        warm = asyncio.create_task(closed_loop(HOST, port, requests, concurrency=concurrency,
                                               warmup=0.0, duration=3.0))
        await warm
        server.process.send_signal(signal.SIGUSR1)
        result = await closed_loop(HOST, port, requests, concurrency=concurrency, warmup=0.0,
                                   duration=seconds)
        server.process.send_signal(signal.SIGUSR2)
        for _ in range(200):
            if out.exists() and out.stat().st_size and out.with_suffix(".gc.json").exists():
                break
            await asyncio.sleep(0.05)
        time.sleep(0.5)
    finally:
        server.stop()
    return pstats.Stats(str(out)), len(result.samples)


def serve_profiled(out: Path) -> None:
    """`python -m service`, with cProfile on its main thread between SIGUSR1 and SIGUSR2, and
    the garbage collector's passes on that thread counted (cProfile does not see them)."""
    from service.__main__ import main

    # The thread's CPU clock, not wall time: waiting in epoll is not work.
    profiler = cProfile.Profile(time.thread_time)
    collections = GcTally()

    def start(signum: int, frame: object) -> None:
        gc.callbacks.append(collections.observe)
        profiler.enable()

    def stop(signum: int, frame: object) -> None:
        profiler.disable()
        gc.callbacks.remove(collections.observe)
        out.with_suffix(".gc.json").write_text(json.dumps(collections.by_generation))
        profiler.dump_stats(str(out))

    signal.signal(signal.SIGUSR1, start)
    signal.signal(signal.SIGUSR2, stop)
    main()


class GcTally:
    """Collections per generation on the main thread, and their CPU seconds."""

    def __init__(self) -> None:
        self.by_generation: dict[str, list[float]] = {}
        self.started = 0.0

    def observe(self, phase: str, info: dict) -> None:
        if threading.current_thread() is not threading.main_thread():
            return
        if phase == "start":
            self.started = time.thread_time()
            return
        tally = self.by_generation.setdefault(str(info["generation"]), [0, 0.0])
        tally[0] += 1
        tally[1] += time.thread_time() - self.started


def report(stats: pstats.Stats, requests: int, loop_ms: float | None) -> str:
    totals = layer_times(stats)
    whole = sum(totals.values())
    lines = [f"profiled: {requests} requests, {whole / requests * 1000:.2f} ms of profiled "
             f"main-thread time per request (inflated by the profiler)",
             "| layer | share | est. ms/upload |", "| --- | ---: | ---: |"]
    for layer, seconds in sorted(totals.items(), key=lambda item: -item[1]):
        share = seconds / whole
        estimate = f"{share * loop_ms:.2f}" if loop_ms else "-"
        lines.append(f"| {layer} | {share:.0%} | {estimate} |")
    return "\n".join(lines)


async def main_async(args: argparse.Namespace) -> None:
    model = args.model or SHIPPED_MODEL
    photos = photo_set.load_photos(photo_set.BENCH_SET, CACHE)
    out = Path(tempfile.mkdtemp(prefix="loop-profile-"))
    print(f"model {model}, C={args.concurrency}, {args.seconds} s windows; logs in {out}",
          flush=True)
    loops = []
    sources = [None, args.compare] if args.compare else [None]
    for round_number in range(args.rounds):
        for source in sources:
            summary = await plain_round(model, photos, args.concurrency, args.seconds,
                                        out / f"plain-{round_number}-{len(loops)}.log", source,
                                        dict(item.split("=", 1) for item in args.env))
            if source is None:
                loops.append(summary["event_loop_cpu_ms_per_request"])
            print(f"round {round_number + 1} ({source or 'this checkout'}): "
                  f"{summary['rps']} req/s, server CPU {summary['server_cpu_ms_per_request']} "
                  f"ms/req, of which event loop {summary['event_loop_cpu_ms_per_request']} "
                  f"ms/req, errors {summary['errors']}", flush=True)
    if args.no_profile:
        return
    stats, requests = await profiled_round(model, photos, args.concurrency, args.seconds,
                                           out / "loop.prof")
    loop_ms = sorted(loops)[len(loops) // 2] if loops else None
    print(report(stats, requests, loop_ms))
    collections = json.loads((out / "loop.gc.json").read_text())
    print("garbage collections on the event loop (generation: count, CPU ms in all): "
          + ", ".join(f"{gen}: {count}, {seconds * 1000:.1f}"
                      for gen, (count, seconds) in sorted(collections.items())))
    print(f"\ntop functions by own time (stats in {out / 'loop.prof'}):")
    stats.sort_stats("tottime").print_stats(args.top)


async def compare_parsers(size: int = 200_000, repeats: int = 1000) -> None:
    """CPU per multipart upload of `size` bytes, in 64 KiB chunks: Starlette's form parser
    (a SpooledTemporaryFile per file, read back) against the service's in-memory one."""
    from starlette.formparsers import MultiPartParser
    from starlette.requests import Request

    from loadtest.loadgen import multipart_request
    from service.http.multipart import read_form

    wire = multipart_request(HOST, 1, "/predict", "file", "photo.jpg", os.urandom(size))
    head, body = wire.split(b"\r\n\r\n", 1)
    content_type = next(line.split(b": ", 1)[1] for line in head.split(b"\r\n")
                        if line.lower().startswith(b"content-type"))
    chunks = [body[start:start + 65536] for start in range(0, len(body), 65536)]

    def request() -> Request:
        messages = [{"type": "http.request", "body": chunk, "more_body": True}
                    for chunk in chunks] + [{"type": "http.request", "body": b""}]

        async def receive() -> dict:
            return messages.pop(0)

        return Request({"type": "http", "method": "POST", "path": "/predict",
                        "headers": [(b"content-type", content_type)]}, receive)

    async def starlette_way() -> bytes:
        form = await MultiPartParser(request().headers, request().stream()).parse()
        upload = form["file"]
        data = await upload.read()
        await upload.close()
        return data

    async def in_memory() -> bytes:
        return (await read_form(request()))[0][1].data

    for name, parse in (("Starlette's MultiPartParser", starlette_way),
                        ("service.http.multipart.read_form", in_memory)):
        for _ in range(50):
            await parse()
        started = time.thread_time()
        for _ in range(repeats):
            await parse()
        per_upload = (time.thread_time() - started) / repeats * 1000
        print(f"{name}: {per_upload:.3f} ms of CPU per {size // 1000} KB upload")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--concurrency", type=int, default=8, help="requests in flight")
    parser.add_argument("--seconds", type=float, default=15.0, help="each measured window")
    parser.add_argument("--rounds", type=int, default=2, help="plain (unprofiled) rounds")
    parser.add_argument("--no-profile", action="store_true", help="plain rounds only")
    parser.add_argument("--compare", type=Path, default=None,
                        help="another checkout (e.g. a `git worktree` of the previous commit): "
                        "its service in plain rounds alternating with this one's")
    parser.add_argument("--top", type=int, default=30, help="functions listed")
    parser.add_argument("--model", type=Path, default=None, help="default: the shipped model")
    parser.add_argument("--env", action="append", default=[],
                        help="NAME=value for the plain rounds' servers")
    parser.add_argument("--parsers", action="store_true",
                        help="only compare the two multipart parsers, in this process")
    parser.add_argument("--serve-profiled", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_profiled:
        serve_profiled(args.serve_profiled)
        return
    asyncio.run(compare_parsers() if args.parsers else main_async(args))


if __name__ == "__main__":
    main()
