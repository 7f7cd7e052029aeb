"""Cold start and memory when ready, in CPU time as well as wall time.

    python -m loadtest.startup --runs 5
    python -m loadtest.startup --runs 3 --env MALLOC_ARENA_MAX=2 --burst 32

Each run starts `python -m service` (shipped model, INFO logging), polls /readyz every 5 ms
and, at the first 200, reads the process's CPU seconds (user + system, all threads), VmRSS and
/proc/PID/smaps: how much of the resident memory is torch's own shared libraries (libtorch*,
the CUDA libraries of this venv's build; the image's CPU wheel has no CUDA libraries) and how
much is the heap. Wall time depends on what else runs on the machine; CPU time much less.

`--burst N` then sends N large uploads at once (the largest the limits allow, a 40 Mpx PNG
near MAX_UPLOAD_BYTES, loadtest/bench/memory.py's) and reports VmRSS after they are answered
and the peak (VmHWM): what the allocator keeps after a burst.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
from pathlib import Path

from loadtest.bench.harness import SHIPPED_MODEL
from loadtest.loadgen import Connection, multipart_request
from loadtest.loop_profile import service_from
from loadtest.servers import HOST, free_port, service_process

TORCH_LIBRARIES = ("/torch/lib/", "/nvidia/", "/triton/", "libtorch", "libc10", "libgomp")


def smaps_split(pid: int) -> dict[str, float]:
    """Resident MiB: torch's libraries, other files (Python, other libraries), anonymous."""
    split = {"torch_libraries": 0, "other_files": 0, "anonymous": 0}
    path = ""
    for line in Path(f"/proc/{pid}/smaps").read_text().splitlines():
        fields = line.split()
        if "-" in fields[0] and len(fields) >= 5 and not fields[0].endswith(":"):
            path = fields[5] if len(fields) > 5 else ""
        elif fields[0] == "Rss:":
            kb = int(fields[1])
            if any(key in path for key in TORCH_LIBRARIES):
                split["torch_libraries"] += kb
            elif path.startswith("/"):
                split["other_files"] += kb
            else:
                split["anonymous"] += kb
    return {key: round(kb / 1024, 1) for key, kb in split.items()}


def status_mib(pid: int) -> dict[str, float]:
    values = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, rest = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            values[name] = round(int(rest.split()[0]) / 1024, 1)
    return values


def largest_upload() -> bytes:
    """The memory benchmark's largest photo: a 40 Mpx PNG just under the 10 MiB limit."""
    from loadtest.bench.memory import largest_png
    from service.settings import Settings

    settings = Settings()
    return largest_png(settings.max_image_pixels, settings.max_upload_bytes)


async def burst(port: int, body: bytes, count: int) -> list[int]:
    request = multipart_request(HOST, port, "/predict", "file", "large.png", body, "image/png")

    async def one() -> int:
        connection = Connection(HOST, port)
        try:
            return (await asyncio.wait_for(connection.exchange(request), 120)).status
        except (OSError, asyncio.IncompleteReadError, TimeoutError):
            return 0
        finally:
            connection.close()

    return list(await asyncio.gather(*(one() for _ in range(count))))


async def one_run(model: Path, env: dict[str, str], log: Path, burst_size: int,
                  body: bytes | None, source: Path | None) -> dict:
    port = free_port()
    server = service_process(sys.executable, model, port, log, env)
    if source is not None:
        server.argv = service_from(source)
    server.start()
    try:
        ready = await server.wait_for()
        pid = server.process.pid  # type: ignore[union-attr]
        cpu, _ = server.cpu_seconds()
        result = {"ready_s": round(ready, 2), "cpu_s": round(cpu, 2), **status_mib(pid),
                  **smaps_split(pid)}
        if burst_size and body is not None:
            statuses = await burst(port, body, burst_size)
            await asyncio.sleep(1.0)
            after = status_mib(pid)
            result |= {"burst_statuses": {s: statuses.count(s) for s in set(statuses)},
                       "rss_after_burst": after["VmRSS"], "peak": after["VmHWM"],
                       "anonymous_after_burst": smaps_split(pid)["anonymous"]}
        return result
    finally:
        server.stop()


async def main_async(args: argparse.Namespace) -> None:
    env = dict(item.split("=", 1) for item in args.env)
    out = Path(tempfile.mkdtemp(prefix="startup-"))
    body = largest_upload() if args.burst else None
    runs = []
    for number in range(args.runs):
        run = await one_run(args.model, env, out / f"run-{number}.log", args.burst, body,
                            args.source)
        runs.append(run)
        print(run, flush=True)
    for key in ("ready_s", "cpu_s", "VmRSS", "torch_libraries", "anonymous", "rss_after_burst"):
        values = [run[key] for run in runs if key in run]
        if values:
            print(f"median {key}: {statistics.median(values)}  ({', '.join(map(str, values))})")
    print(f"source {args.source or 'this checkout'}, env {env or '(none)'}; "
          f"load average {os.getloadavg()}; logs in {out}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--burst", type=int, default=0, help="large uploads at once, once ready")
    parser.add_argument("--env", action="append", default=[], help="NAME=value for the server")
    parser.add_argument("--model", type=Path, default=SHIPPED_MODEL)
    parser.add_argument("--source", type=Path, default=None,
                        help="serve from another checkout (e.g. a worktree of an older commit)")
    asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    main()
