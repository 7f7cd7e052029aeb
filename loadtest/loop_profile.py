"""Where the event loop's time goes per upload, by layer, in CPU time.

    python -m loadtest.loop_profile                      # C=8, 2 plain rounds + 1 profiled
    python -m loadtest.loop_profile --concurrency 32 --seconds 20 --rounds 3

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
import pstats
import signal
import sys
import tempfile
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
                      seconds: float, log: Path) -> dict:
    port = free_port()
    server = service_process(sys.executable, model, port, log)
    server.start()
    try:
        await server.wait_for()
        return (await closed_loop(HOST, port, requests_for(photos, port, "/predict"),
                                  concurrency=concurrency, warmup=3.0, duration=seconds,
                                  server_cpu=server.cpu_seconds)).summary()
    finally:
        server.stop()


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
            if out.exists() and out.stat().st_size:
                break
            await asyncio.sleep(0.05)
        time.sleep(0.5)
    finally:
        server.stop()
    return pstats.Stats(str(out)), len(result.samples)


def serve_profiled(out: Path) -> None:
    """`python -m service`, with cProfile on its main thread between SIGUSR1 and SIGUSR2."""
    from service.__main__ import main

    # The thread's CPU clock, not wall time: waiting in epoll is not work.
    profiler = cProfile.Profile(time.thread_time)

    def stop(signum: int, frame: object) -> None:
        profiler.disable()
        profiler.dump_stats(str(out))

    signal.signal(signal.SIGUSR1, lambda signum, frame: profiler.enable())
    signal.signal(signal.SIGUSR2, stop)
    main()


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
    for round_number in range(args.rounds):
        summary = await plain_round(model, photos, args.concurrency, args.seconds,
                                    out / f"plain-{round_number}.log")
        loops.append(summary["event_loop_cpu_ms_per_request"])
        print(f"round {round_number + 1}: {summary['rps']} req/s, server CPU "
              f"{summary['server_cpu_ms_per_request']} ms/req, of which event loop "
              f"{summary['event_loop_cpu_ms_per_request']} ms/req, errors {summary['errors']}",
              flush=True)
    if args.no_profile:
        return
    stats, requests = await profiled_round(model, photos, args.concurrency, args.seconds,
                                           out / "loop.prof")
    loop_ms = sorted(loops)[len(loops) // 2] if loops else None
    print(report(stats, requests, loop_ms))
    print(f"\ntop functions by own time (stats in {out / 'loop.prof'}):")
    stats.sort_stats("tottime").print_stats(args.top)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--concurrency", type=int, default=8, help="requests in flight")
    parser.add_argument("--seconds", type=float, default=15.0, help="each measured window")
    parser.add_argument("--rounds", type=int, default=2, help="plain (unprofiled) rounds")
    parser.add_argument("--no-profile", action="store_true", help="plain rounds only")
    parser.add_argument("--top", type=int, default=30, help="functions listed")
    parser.add_argument("--model", type=Path, default=None, help="default: the shipped model")
    parser.add_argument("--serve-profiled", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_profiled:
        serve_profiled(args.serve_profiled)
        return
    asyncio.run(main_async(args))


if __name__ == "__main__":
    main()
