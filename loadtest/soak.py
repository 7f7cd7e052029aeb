"""Soak test: sustained closed-loop load against a real server process, watching its memory.

    python -m loadtest.soak --minutes 10            # or: make soak SOAK_MINUTES=10

Starts `python -m service` (the shipped model, or --model), then keeps --concurrency clients
busy for --minutes: each sends a request, waits for the answer, sends the next (closed loop, so
the load follows the server's speed rather than drowning it). The mix is mostly single photos
from data/samples/, some batches of four, and a few deliberately broken uploads (which must get
a 400). Every 5 s it samples the server's RSS, open files and threads from /proc.

After the warm-up (--warmup-minutes), memory must stay flat: the slope of a least-squares line
through the RSS samples must stay under --max-slope MB/min, or the run must show a plateau (the
slope over its second half under the same limit: a leak climbs through both halves, while an
allocator filling up the memory it keeps for reuse climbs early and stops). Nothing may fail
except deliberate 503s (`overloaded`, `queue_timeout`) and the broken uploads' 400s. The
server must then stop cleanly on SIGTERM (exit status 0). The report (conditions, RSS over
time, latency percentiles, error counts, verdict) is written to --out (loadtest/SOAK.md); the
exit status is 0 on PASS, 1 on FAIL. Every RSS sample is also written as CSV (--samples), for
a closer look.

Independent of Locust (loadtest/locustfile.py has its own soak scenario for a deployed service):
the server is started by loadtest/servers.py and loaded by loadtest/loadgen.py's client, like the
benchmark's; this one runs where /proc of the server is visible.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import csv
import datetime as dt
import json
import os
import platform
import random
import statistics
import sys
import tempfile
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from loadtest.loadgen import (
    Connection,
    error_code,
    multipart_files_request,
    multipart_request,
    percentile,
)
from loadtest.servers import HOST, free_port, service_process

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_MODEL = REPO_ROOT / "weights" / "penguin_classifier.pt"
DEFAULT_PHOTOS = REPO_ROOT / "data" / "samples"
SAMPLE_SECONDS = 5.0
DELIBERATE_503 = {"overloaded", "queue_timeout"}
BROKEN_UPLOAD = b"\xff\xd8\xff\xe0 this is not really a JPEG " * 40
REQUEST_TIMEOUT = 60.0  # seconds a client waits for an answer before counting a failure


@dataclass
class Outcome:
    at: float  # seconds since the load started
    kind: str  # predict | batch | broken
    status: int  # 0: transport error
    code: str | None
    seconds: float


@dataclass
class Sample:
    at: float
    rss_mb: float
    open_files: int
    threads: int


@dataclass
class Run:
    outcomes: list[Outcome] = field(default_factory=list)
    samples: list[Sample] = field(default_factory=list)
    transport_errors: Counter = field(default_factory=Counter)


# ---- the server (started by loadtest/servers.py, like every harness's)

def proc_sample(pid: int, at: float) -> Sample:
    status = Path(f"/proc/{pid}/status").read_text().splitlines()
    fields = {line.split(":")[0]: line.split(":", 1)[1].split() for line in status}
    files = 0
    for entry in Path(f"/proc/{pid}/fd").iterdir():
        with contextlib.suppress(OSError):
            if os.readlink(entry).startswith("/"):
                files += 1
    return Sample(at, int(fields["VmRSS"][0]) / 1024, files, int(fields["Threads"][0]))


# ---- the load

def load_photos(folder: Path, limit: int = 200) -> list[bytes]:
    paths = sorted(p for p in folder.rglob("*") if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    if not paths:
        raise SystemExit(f"no photos under {folder}: run `make samples` or pass --photos")
    random.Random(1).shuffle(paths)
    return [path.read_bytes() for path in paths[:limit]]


def next_request(port: int, photos: list[bytes], rng: random.Random) -> tuple[str, bytes]:
    """The mix: 3% broken uploads, 7% batches of four, the rest single photos."""
    roll = rng.random()
    if roll < 0.03:
        return "broken", multipart_request(HOST, port, "/predict", "file", "broken.jpg",
                                           BROKEN_UPLOAD)
    if roll < 0.10:
        files = [("files", f"{n}.jpg", rng.choice(photos), "image/jpeg") for n in range(4)]
        return "batch", multipart_files_request(HOST, port, "/predict/batch", files)
    return "predict", multipart_request(HOST, port, "/predict", "file", "photo.jpg",
                                        rng.choice(photos))


async def client_loop(port: int, photos: list[bytes], run: Run, started: float,
                      stop_at: float, rng: random.Random) -> None:
    """One closed-loop client on its own keep-alive connection (loadtest/loadgen.py's)."""
    connection = Connection(HOST, port)
    try:
        while time.monotonic() < stop_at:
            kind, request = next_request(port, photos, rng)
            sent = time.monotonic()
            retry_after = 0.0
            try:
                response = await asyncio.wait_for(connection.exchange(request), REQUEST_TIMEOUT)
            except (OSError, asyncio.IncompleteReadError, ValueError, TimeoutError) as error:
                connection.close()  # reopened by the next request
                status, code = 0, type(error).__name__
                run.transport_errors[code] += 1
            else:
                status = response.status
                code = error_code(response.body) if status >= 400 else None
                if status == 503:
                    retry_after = float(response.headers.get("retry-after", "1"))
            run.outcomes.append(Outcome(sent - started, kind, status, code,
                                        time.monotonic() - sent))
            await asyncio.sleep(retry_after)
    finally:
        connection.close()


async def sampler(pid: int, run: Run, started: float, stop_at: float) -> None:
    while True:
        run.samples.append(proc_sample(pid, time.monotonic() - started))
        if time.monotonic() >= stop_at:
            return
        await asyncio.sleep(min(SAMPLE_SECONDS, max(0.0, stop_at - time.monotonic())))


async def soak(port: int, pid: int, photos: list[bytes], minutes: float,
               concurrency: int) -> Run:
    run = Run()
    started = time.monotonic()
    stop_at = started + minutes * 60
    loops = [client_loop(port, photos, run, started, stop_at, random.Random(n))
             for n in range(concurrency)]
    await asyncio.gather(sampler(pid, run, started, stop_at), *loops)
    return run


# ---- the verdict

def slope_per_minute(samples: list[Sample]) -> float:
    """Least-squares slope of RSS (MB) over time, in MB per minute."""
    if len(samples) < 3:
        return 0.0
    xs = [s.at / 60 for s in samples]
    ys = [s.rss_mb for s in samples]
    mean_x, mean_y = statistics.fmean(xs), statistics.fmean(ys)
    denominator = sum((x - mean_x) ** 2 for x in xs)
    return sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys, strict=True)) / denominator


@dataclass(frozen=True)
class MemoryVerdict:
    """Whether resident memory stayed flat, and by which criterion."""

    slope: float  # MB/min over every sample after the warm-up
    late_slope: float | None  # MB/min over the second half of them (None: too few samples)
    limit: float

    @property
    def flat(self) -> bool:
        return self.slope <= self.limit or (self.late_slope is not None
                                            and self.late_slope <= self.limit)

    @property
    def how(self) -> str:
        if self.slope <= self.limit:
            return "flat after the warm-up"
        return "a plateau over the second half" if self.flat else "still climbing"


def memory_verdict(warm: list[Sample], max_slope: float) -> MemoryVerdict:
    """Flat after the warm-up, or a plateau: the second half of the run within the limit."""
    late = warm[len(warm) // 2:]
    return MemoryVerdict(slope=slope_per_minute(warm),
                         late_slope=slope_per_minute(late) if len(late) >= 3 else None,
                         limit=max_slope)


def _slope(mb_per_minute: float | None, digits: int = 2) -> str:
    return "-" if mb_per_minute is None else f"{mb_per_minute:+.{digits}f} MB/min"


def _whole(milliseconds: float | None) -> str:
    return "-" if milliseconds is None else f"{milliseconds:.0f}"


def unexpected(outcome: Outcome) -> bool:
    if outcome.kind == "broken":
        return outcome.status != 400
    if outcome.status == 503 and outcome.code in DELIBERATE_503:
        return False
    return outcome.status != 200


def report(run: Run, args: argparse.Namespace, conditions: dict[str, str], exit_code: int | None,
           error_lines: int) -> tuple[str, bool]:
    warm = [s for s in run.samples if s.at >= args.warmup_minutes * 60]
    memory = memory_verdict(warm, args.max_slope)
    failures = [o for o in run.outcomes if unexpected(o)]
    passed = memory.flat and not failures and exit_code == 0 and error_lines == 0 \
        and len(warm) >= 3
    duration = max((o.at for o in run.outcomes), default=0) or 1
    by_kind: dict[str, list[Outcome]] = defaultdict(list)
    for outcome in run.outcomes:
        by_kind[outcome.kind].append(outcome)
    lines = [
        "# Soak test",
        "",
        f"**{'PASS' if passed else 'FAIL'}**: {len(run.outcomes):,} requests in "
        f"{args.minutes:g} min; RSS slope after warm-up **{memory.slope:+.2f} MB/min**, over "
        f"the second half **{_slope(memory.late_slope)}** (limit {args.max_slope:g} for "
        f"either: {memory.how}); {len(failures)} unexpected failures; server exit status "
        f"{exit_code} after SIGTERM; {error_lines} ERROR log lines.",
        "",
        f"Generated by `make soak SOAK_MINUTES={args.minutes:g}` (loadtest/soak.py) on "
        f"{conditions['date']}.",
        "",
        "## Conditions",
        "",
        *(f"- {name}: {value}" for name, value in conditions.items() if name != "date"),
        f"- load: {args.concurrency} closed-loop clients (each sends its next request when the "
        "previous is answered; a 503 waits its Retry-After); 90% single photos, 7% batches of 4, "
        "3% broken uploads",
        f"- warm-up excluded from the slope: {args.warmup_minutes:g} min",
        "",
        "## Requests",
        "",
        "| kind | count | per s | p50 ms | p90 ms | p99 ms | max ms | statuses |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for kind in ("predict", "batch", "broken"):
        outcomes = by_kind.get(kind, [])
        latencies = [o.seconds * 1000 for o in outcomes]
        statuses = Counter(f"{o.status}{' ' + o.code if o.code else ''}" for o in outcomes)
        lines.append(
            f"| {kind} | {len(outcomes):,} | {len(outcomes) / duration:.1f} | "
            f"{_whole(percentile(latencies, 50))} | {_whole(percentile(latencies, 90))} | "
            f"{_whole(percentile(latencies, 99))} | {max(latencies, default=0):.0f} | "
            f"{', '.join(f'{k}: {v:,}' for k, v in statuses.most_common())} |")
    lines += ["", f"Unexpected failures: {len(failures)}"
              + (f" ({Counter((o.status, o.code) for o in failures).most_common(5)})"
                 if failures else ""), ""]
    lines += ["## Server memory over time", "",
              "| minute | RSS MB | open files | threads |", "| ---: | ---: | ---: | ---: |"]
    next_minute = 0.0
    for sample in run.samples:
        if sample.at >= next_minute or sample is run.samples[-1]:
            lines.append(f"| {sample.at / 60:.1f} | {sample.rss_mb:.1f} | {sample.open_files} | "
                         f"{sample.threads} |")
            next_minute = (int(sample.at / 60) + 1) * 60
    if warm:
        lines += ["", f"After warm-up: RSS {min(s.rss_mb for s in warm):.1f} to "
                  f"{max(s.rss_mb for s in warm):.1f} MB over {len(warm)} samples "
                  f"(every {SAMPLE_SECONDS:g} s); least-squares slope {memory.slope:+.3f} "
                  f"MB/min, over the second half {_slope(memory.late_slope, 3)}."]
    return "\n".join(lines) + "\n", passed


def write_samples(samples: list[Sample], path: Path) -> None:
    """Every sample as CSV (seconds, RSS MB, open files, threads): the report shows one a minute."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as stream:
        writer = csv.writer(stream)
        writer.writerow(["seconds", "rss_mb", "open_files", "threads"])
        writer.writerows([f"{s.at:.1f}", f"{s.rss_mb:.1f}", s.open_files, s.threads]
                         for s in samples)
    print(f"soak: samples in {path}", flush=True)


def model_line(model: Path) -> str:
    """The model file as one line of the report: path, architecture, version, input size."""
    shown = model.relative_to(REPO_ROOT) if model.is_relative_to(REPO_ROOT) else model
    with contextlib.suppress(OSError, ValueError, KeyError):
        metadata = json.loads(model.with_suffix(".json").read_text())
        return (f"{shown} ({metadata['architecture']}, version {metadata['version']}, "
                f"input {metadata['preprocessing']['input_size']} px)")
    return str(shown)


def conditions_now(args: argparse.Namespace, model: Path) -> dict[str, str]:
    load = os.getloadavg()
    return {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs visible, Linux "
                   f"{platform.release()}, Python {platform.python_version()}",
        "load average at start (1/5/15 min)": f"{load[0]:.2f} / {load[1]:.2f} / {load[2]:.2f} "
                                              "(the machine is shared: other work may run)",
        "model": model_line(model),
        "server settings from the environment": ", ".join(
            f"{k}={os.environ[k]}" for k in sorted(os.environ) if k in {
                "MAX_QUEUE", "MAX_BATCH_SIZE", "MAX_BATCH_WAIT_MS", "REQUEST_TIMEOUT_S",
                "TORCH_THREADS", "DECODE_WORKERS"}) or "defaults",
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float,
                        default=float(os.environ.get("SOAK_MINUTES", "10")))
    parser.add_argument("--warmup-minutes", type=float, default=None,
                        help="excluded from the slope (default: 20%% of the run, at most 2)")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL)
    parser.add_argument("--photos", type=Path, default=DEFAULT_PHOTOS)
    parser.add_argument("--max-slope", type=float, default=1.0, help="MB per minute")
    parser.add_argument("--torch-threads", default=None)
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "loadtest" / "SOAK.md")
    parser.add_argument("--samples", type=Path, default=None,
                        help="CSV of every RSS sample (default: loadtest/results/soak-<time>.csv)")
    args = parser.parse_args(argv)
    if args.warmup_minutes is None:
        args.warmup_minutes = min(2.0, args.minutes * 0.2)
    model = args.model.resolve()
    if not model.is_file():
        raise SystemExit(f"no model at {model}: train one (`make train`) or pass --model")
    photos = load_photos(args.photos)
    conditions = conditions_now(args, model)
    port = free_port()
    threads = {"TORCH_THREADS": args.torch_threads} if args.torch_threads else None
    with tempfile.TemporaryDirectory(prefix="soak-") as folder:
        log_path = Path(folder) / "server.log"
        server = service_process(sys.executable, model, port, log_path, threads)
        server.start()
        try:
            asyncio.run(server.wait_for("/readyz"))
            pid = server.process.pid
            print(f"soak: {args.minutes:g} min, {args.concurrency} clients, server pid {pid}",
                  flush=True)
            run = asyncio.run(soak(port, pid, photos, args.minutes, args.concurrency))
            exit_code = server.stop(timeout=15)
        finally:
            server.stop()  # killed if it is still running (the load failed)
        log_text = log_path.read_text()
        error_lines = sum('"severity": "ERROR"' in line or '"severity": "CRITICAL"' in line
                          for line in log_text.splitlines())
    text, passed = report(run, args, conditions, exit_code, error_lines)
    args.out.write_text(text)
    write_samples(run.samples, args.samples or REPO_ROOT / "loadtest" / "results"
                  / f"soak-{dt.datetime.now(dt.UTC):%Y%m%d-%H%M%S}.csv")
    print(text)
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
