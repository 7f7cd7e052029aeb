"""`make bench` / `python -m loadtest.bench`: the service's speed, end to end, in one run.

1. The model's parts, in a process of their own with the service's thread settings: its ceiling
   (images/s on preprocessed tensors, best batch size), one batch-1 pass, one decode.
2. The naive reference server (loadtest/naive_server.py), both endpoints, at several C.
3. The service as a real process (`python -m service`) on loopback: cold start (process start
   to first 200 from /readyz and to the first prediction, several times), then a closed loop at
   each C (1, 8, 32, 64), then POST /predict/measurements (one JSON record) at C=1 and 32, then
   twice the queue bound (overload), then its peak RSS.
4. The batch command (`penguin-classify`, one task) over a local folder of the same photos, at
   its default batch size and at the service's.
5. The parts again (the machine's load drifts; the better of the two runs is kept).

Writes result.json and report.md into loadtest/results/bench-<timestamp>/ and the report into
loadtest/BENCHMARK.md (between its markers). `BENCH_QUICK=1` (or --quick) is a short smoke run
that leaves BENCHMARK.md alone. `--variant NAME:ENV=V,ENV=V` (repeatable) instead compares
service configurations, e.g. thread counts or batching knobs, at the given concurrencies.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import shlex
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from loadtest import photos as photo_set
from loadtest.bench import report
from loadtest.bench.harness import (
    CACHE,
    PREVIOUS_MODEL,
    RESULTS,
    batch_summary,
    load_average,
    machine,
    measurement_requests,
    model_under_test,
    requests_for,
)
from loadtest.loadgen import (
    PhaseResult,
    closed_loop,
    fetch,
    get_request,
)
from loadtest.measurements import check_measurement_answer
from loadtest.servers import (
    HOST,
    REPO_ROOT,
    ServerProcess,
    free_port,
    naive_process,
    service_process,
)
from service.model.preprocessing import IMAGE_SUFFIXES

PUBLISHED = REPO_ROOT / "loadtest" / "BENCHMARK.md"
LARGE_BATCH = 32
CONCURRENCY = (1, 8, 32, 64)
NAIVE_CONCURRENCY = (1, 4, 16)
MEASUREMENTS_CONCURRENCY = (1, 32)


class Plan:
    """How long each measurement lasts: the full run (< 10 min) or the quick smoke."""

    def __init__(self, quick: bool) -> None:
        self.quick = quick
        self.warmup = 1.0 if quick else 3.0
        self.duration = 3.0 if quick else 15.0
        self.naive_duration = 2.0 if quick else 10.0
        self.overload_duration = 2.0 if quick else 8.0
        self.cold_starts = 1 if quick else 3
        self.parts_budget = 0.5 if quick else 1.5
        self.naive_concurrency = (1, 8) if quick else NAIVE_CONCURRENCY
        # Copies of the bench photos the batch command classifies: enough that its start-up
        # (threads, the first passes) is a small part of the rate it reports.
        self.batch_copies = 4 if quick else 40


def model_record(path: Path, source: str) -> dict[str, Any]:
    metadata = json.loads(path.with_suffix(".json").read_text())
    return {"path": str(path), "source": source, "architecture": metadata["architecture"],
            "version": metadata["version"], "input_size": metadata["preprocessing"]["input_size"],
            "megabytes": round(path.stat().st_size / 1e6, 1)}


def service_settings() -> dict[str, Any]:
    """The settings the service will run with here (its defaults, or this environment's)."""
    from service.settings import Settings

    settings = Settings()
    return {name: getattr(settings, name) for name in (
        "torch_threads", "decode_workers", "max_batch_size", "max_batch_wait_ms", "max_queue",
        "request_timeout_s", "inference_precision")}


def measure_parts(model: Path, settings: dict[str, Any], photo_dir: Path, out: Path,
                  budget: float, onnx: Path | None) -> dict[str, Any]:
    subprocess.run([sys.executable, "-m", "loadtest.bench.components", "--model", str(model),
                    "--threads", str(settings["torch_threads"]), "--precision",
                    settings["inference_precision"], "--photos", str(photo_dir), "--budget",
                    str(budget), "--out", str(out), *(["--onnx", str(onnx)] if onnx else [])],
                   check=True, cwd=REPO_ROOT)
    return json.loads(out.read_text())


def onnx_export(model: Path) -> Path | None:
    """A copy of the model under test with its ONNX export beside it (training/export_onnx.py,
    which records the export's checksum in the copy's metadata): what MODEL_BACKEND=onnx
    serves. Cached by the model's checksum; None without the optional `onnx` extra."""
    import importlib.util

    if not all(importlib.util.find_spec(name) for name in ("onnx", "onnxruntime")):
        return None
    sha256 = json.loads(model.with_suffix(".json").read_text())["sha256"]
    copy = CACHE / f"onnx-{sha256[:16]}" / model.name
    if not copy.with_suffix(".onnx").exists():
        copy.parent.mkdir(parents=True, exist_ok=True)
        for source in (model, model.with_suffix(".json")):
            shutil.copy(source, copy.parent / source.name)
        subprocess.run([sys.executable, "-m", "training.export_onnx", str(copy)], check=True,
                       cwd=REPO_ROOT, stdout=subprocess.DEVNULL)
    return copy


def footprints(model: Path, onnx: Path, input_size: int, runs: int) -> dict[str, Any]:
    """Import, load, first run and peak memory of each runtime alone, in fresh interpreters."""
    out: dict[str, Any] = {}
    for runtime, path in (("torchscript", model), ("onnxruntime", onnx)):
        samples = [json.loads(subprocess.run(
            [sys.executable, "-m", "loadtest.bench.footprint", runtime, str(path),
             str(input_size)], check=True, cwd=REPO_ROOT, capture_output=True, text=True).stdout)
            for _ in range(runs)]
        out[runtime] = {key: statistics.median(sample[key] for sample in samples)
                        for key in samples[0]}
    return out


def import_seconds(runs: int) -> list[float]:
    code = ("import time; t = time.perf_counter(); import service.http.app; "
            "print(time.perf_counter() - t)")
    return [round(float(subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO_ROOT,
                                       capture_output=True, text=True).stdout), 2)
            for _ in range(runs)]


def log_timings(log_path: Path) -> list[dict[str, float]]:
    """The load and warm-up durations the service logs with its 'model ready' line."""
    found = []
    for line in log_path.read_text(errors="replace").splitlines():
        if '"model ready"' in line:
            entry = json.loads(line)
            found.append({key: entry[key] for key in ("load_seconds", "warm_up_seconds")
                          if key in entry})
    return found


async def run_phase(server: ServerProcess, requests: list[bytes], concurrency: int,
                    warmup: float, duration: float, keep_bodies: bool = False) -> PhaseResult:
    return await closed_loop(HOST, server.port, requests, concurrency=concurrency,
                             warmup=warmup, duration=duration, keep_bodies=keep_bodies,
                             server_cpu=server.cpu_seconds)


def mb(kb: int | None) -> float | None:
    return None if kb is None else round(kb / 1024, 1)


async def bench_naive(plan: Plan, model: Path, photos: list[photo_set.Photo], threads: int,
                      out: Path) -> dict[str, Any]:
    port = free_port()
    server = naive_process(sys.executable, model, port, out / "naive.log", threads)
    server.start()
    try:
        await server.wait_for("/readyz")
        ready = server.memory_kb()["VmRSS"]
        modes: dict[str, list[dict[str, Any]]] = {}
        for mode in ("async", "sync"):
            requests = requests_for(photos, port, f"/predict-{mode}")
            modes["async def (inline)" if mode == "async" else "def (thread pool)"] = runs = []
            for concurrency in plan.naive_concurrency:
                phase = await run_phase(server, requests, concurrency, plan.warmup / 2,
                                        plan.naive_duration)
                runs.append(phase.summary())
                print(f"  naive {mode:5} C={concurrency:<3} {_line(runs[-1])}", flush=True)
        peak = server.memory_kb()["VmHWM"]
    finally:
        server.stop()
    return {"threads": threads, "modes": modes,
            "memory": {"ready_mb": mb(ready), "peak_mb": mb(peak)}}


async def cold_starts(plan: Plan, model: Path, photos: list[photo_set.Photo], out: Path,
                      overrides: dict[str, str]) -> tuple[dict[str, Any], ServerProcess, int]:
    """Start the service several times; the last one is left running for the load phases."""
    ready_s, first_s, ready_kb = [], [], []
    server: ServerProcess | None = None
    port = 0
    for attempt in range(plan.cold_starts):
        if server is not None:
            server.stop()
        port = free_port()
        server = service_process(sys.executable, model, port, out / "service.log", overrides)
        server.start()
        ready_s.append(round(await server.wait_for("/readyz"), 2))
        request = requests_for(photos[:1], port, "/predict")[0]
        first_s.append(round(await server.first_success(request), 2))
        ready_kb.append(server.memory_kb()["VmRSS"])
        print(f"  cold start {attempt + 1}: ready {ready_s[-1]} s, first prediction "
              f"{first_s[-1]} s", flush=True)
    assert server is not None
    imports = import_seconds(plan.cold_starts)
    timings = log_timings(out / "service.log")
    cold = {"ready_s": ready_s, "ready_s_median": statistics.median(ready_s),
            "first_prediction_s": first_s, "first_prediction_s_median": statistics.median(first_s),
            "import_s": imports, "import_s_median": statistics.median(imports),
            "ready_rss_mb": [mb(kb) for kb in ready_kb]}
    for key, name in (("load_seconds", "load_s"), ("warm_up_seconds", "warm_up_s")):
        values = [entry[key] for entry in timings if key in entry]
        if values:
            cold[name], cold[f"{name}_median"] = values, statistics.median(values)
    return cold, server, port


async def bench_service(plan: Plan, model: Path, photos: list[photo_set.Photo], out: Path,
                        settings: dict[str, Any], concurrencies: tuple[int, ...],
                        overrides: dict[str, str], overload: bool = True,
                        cold: bool = True,
                        measurements_concurrency: tuple[int, ...] = ()) -> dict[str, Any]:
    if cold:
        cold_start, server, port = await cold_starts(plan, model, photos, out, overrides)
    else:
        port = free_port()
        server = service_process(sys.executable, model, port, out / "service.log", overrides)
        server.start()
        await server.wait_for("/readyz")
        cold_start = {}
    try:
        ready_kb = server.memory_kb()["VmRSS"]
        requests = requests_for(photos, port, "/predict")
        phases, bodies = [], {}
        for concurrency in concurrencies:
            before = await batch_totals(port)
            phase = await run_phase(server, requests, concurrency, plan.warmup, plan.duration,
                                    keep_bodies=concurrency in (1, 32))
            phases.append({**phase.summary(), **batch_figures(before, await batch_totals(port))})
            bodies[concurrency] = phase.bodies
            print(f"  service C={concurrency:<3} {_line(phases[-1])}", flush=True)
        result: dict[str, Any] = {"settings": settings, "phases": phases,
                                  "cold_start": cold_start}
        if measurements_concurrency:
            result["measurements"] = await bench_measurements(plan, server, port,
                                                              measurements_concurrency)
        if overload:
            bound = int(overrides.get("MAX_QUEUE", settings["max_queue"]))
            phase = await run_phase(server, requests, 2 * bound, plan.warmup / 2,
                                    plan.overload_duration)
            result["overload"] = phase.summary()
            print(f"  service C={2 * bound:<3} {_line(result['overload'])}", flush=True)
        if 1 in bodies and 32 in bodies:
            result["parity"] = compare_answers(bodies[1], bodies[32])
        result["memory"] = {"ready_mb": mb(ready_kb), "peak_mb": mb(server.memory_kb()["VmHWM"])}
    finally:
        server.stop()
    return result


async def bench_measurements(plan: Plan, server: ServerProcess, port: int,
                             concurrencies: tuple[int, ...]) -> list[dict[str, Any]]:
    """POST /predict/measurements, one JSON record per request, through the same closed loop
    as the photos; every distinct answer is checked for its species (a wrong one is counted)."""
    requests, expected = measurement_requests(port)
    phases = []
    for concurrency in concurrencies:
        phase = await run_phase(server, requests, concurrency, plan.warmup, plan.duration,
                                keep_bodies=True)
        wrong = sum(check_measurement_answer(json.loads(body), expected[index]) is not None
                    for index, body in phase.bodies.items())
        phases.append({**phase.summary(), "answers_checked": len(phase.bodies),
                       "wrong_answers": wrong})
        print(f"  measurements C={concurrency:<3} {_line(phases[-1])}  wrong answers {wrong} of "
              f"{len(phase.bodies)} checked", flush=True)
    return phases


def batch_folder(photo_dir: Path, folder: Path, copies: int) -> int:
    """`copies` of each bench photo in one folder, as a camera trap's folder would hold them;
    the number of photos. Hard links where the file system allows (no space taken), else
    copies; not symbolic links, which a folder's listing skips (fsspec lists them as links)."""
    folder.mkdir(parents=True, exist_ok=True)
    photos = sorted(path for path in photo_dir.iterdir()
                    if path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES)
    for copy in range(copies):
        for photo in photos:
            target = folder / f"{copy:03d}-{photo.name}"
            if target.exists():
                continue
            try:
                target.hardlink_to(photo)
            except OSError:
                shutil.copyfile(photo, target)
    return copies * len(photos)


def bench_batch_command(plan: Plan, model: Path, photo_dir: Path, out: Path,
                        batch_sizes: tuple[int, ...]) -> dict[str, Any]:
    """One `penguin-classify` run (one task of a job) per batch size over a local folder; its
    own images/s (classifying only) and the process's wall time (start and model load too)."""
    folder = out / "batch-input"
    count = batch_folder(photo_dir, folder, plan.batch_copies)
    runs = []
    for size in batch_sizes:
        started = time.perf_counter()
        finished = subprocess.run(
            [sys.executable, "-m", "service.batch_command", str(folder), "--model", str(model),
             "--batch-size", str(size), "--output", str(out / f"batch-{size}.csv")],
            cwd=REPO_ROOT, capture_output=True, text=True)
        wall = time.perf_counter() - started
        (out / f"batch-{size}.log").write_text(finished.stderr)
        summary = batch_summary(finished.stderr)
        if finished.returncode != 0 or summary is None:
            raise RuntimeError(f"penguin-classify --batch-size {size} failed (exit "
                               f"{finished.returncode}); see {out / f'batch-{size}.log'}")
        runs.append({"batch_size": size, "photos": count, **summary, "wall_s": round(wall, 1)})
        print(f"  penguin-classify --batch-size {size}: {runs[-1]['images_per_second']} images/s "
              f"({runs[-1]['classified']} photos in {runs[-1]['seconds']} s; process "
              f"{runs[-1]['wall_s']} s)", flush=True)
    return {"runs": runs}


BATCH_TOTALS = ("penguin_batch_size_sum", "penguin_batch_size_count",
                "penguin_batch_duration_seconds_sum")


async def batch_totals(port: int) -> tuple[float, float, float] | None:
    """(inputs, forward passes, seconds in forward passes) so far, from the service's
    /metrics; None without metrics."""
    try:
        response = await fetch(HOST, port, get_request(HOST, port, "/metrics"))
    except (OSError, asyncio.IncompleteReadError, TimeoutError):
        return None
    if response.status != 200:
        return None
    values = {}
    for line in response.body.decode().splitlines():
        name, _, value = line.partition(" ")
        if name in BATCH_TOTALS:
            values[name] = float(value)
    if len(values) != len(BATCH_TOTALS):
        return None
    inputs, passes, seconds = (values[name] for name in BATCH_TOTALS)
    return inputs, passes, seconds


def batch_figures(before: tuple[float, float, float] | None,
                  after: tuple[float, float, float] | None) -> dict[str, float | None]:
    """The mean batch size and the mean forward pass (ms, as the service ran it: the batch's
    normalisation and answers included) between two `batch_totals` readings."""
    if before is None or after is None or after[1] == before[1]:
        return {"mean_batch_size": None, "mean_pass_ms": None}
    passes = after[1] - before[1]
    return {"mean_batch_size": round((after[0] - before[0]) / passes, 1),
            "mean_pass_ms": round((after[2] - before[2]) / passes * 1000, 2)}


def compare_answers(alone: dict[int, bytes], batched: dict[int, bytes]) -> dict[str, int]:
    """Same photo, same probabilities (as the JSON gives them) at C=1 and at C=32?"""
    shared = sorted(set(alone) & set(batched))
    differ = sum(json.loads(alone[i])["probabilities"] != json.loads(batched[i])["probabilities"]
                 for i in shared)
    return {"compared": len(shared), "mismatches": differ}


def _line(summary: dict[str, Any]) -> str:
    errors = f" errors {summary['errors_by_code']}" if summary["errors"] else ""
    batch = f"  mean batch {summary['mean_batch_size']}" if summary.get("mean_batch_size") else ""
    return (f"{summary['rps']:7.1f} req/s  p50 {summary['p50_ms']} p90 {summary['p90_ms']} "
            f"p99 {summary['p99_ms']} ms  server CPU {summary['server_cpu_ms_per_request']} "
            f"ms/req ({summary['event_loop_cpu_ms_per_request']} event loop){batch}{errors}")


def parse_variant(text: str) -> tuple[str, dict[str, str]]:
    name, _, assignments = text.partition(":")
    env = dict(item.split("=", 1) for item in assignments.split(",") if item)
    return name, env


async def main_async(args: argparse.Namespace) -> int:
    plan = Plan(args.quick)
    started = time.perf_counter()
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    out = args.out or RESULTS / f"bench-{stamp}{'-quick' if plan.quick else ''}"
    out.mkdir(parents=True, exist_ok=True)
    model, source = model_under_test(args.model, out)
    photos = photo_set.load_photos(photo_set.BENCH_SET, CACHE)
    photo_dir = photo_set.set_folder(photo_set.BENCH_SET, CACHE)
    settings = service_settings()
    print(f"bench: results in {out}\n  model {model} ({source})\n  settings {settings}",
          flush=True)
    if args.variant:
        return await compare_variants(plan, args, model, photos, out, settings)

    result: dict[str, Any] = {
        "started": stamp, "quick": plan.quick, "command": args.command,
        "machine": machine(), "model": model_record(model, source),
        "photos": photo_set.summary(photos), "parts": [],
    }
    onnx_model = onnx_export(model)
    onnx = onnx_model.with_suffix(".onnx") if onnx_model else None
    if onnx is not None:
        print("ONNX Runtime and TorchScript alone: cold start and memory", flush=True)
        result["onnx"] = {"file": str(onnx), "footprint": footprints(
            model, onnx, result["model"]["input_size"], plan.cold_starts)}
    print("model and decoding costs (1/2)", flush=True)
    result["parts"].append(measure_parts(model, settings, photo_dir, out / "parts-1.json",
                                         plan.parts_budget, onnx))
    print("naive reference server", flush=True)
    result["naive"] = await bench_naive(plan, model, photos, settings["torch_threads"], out)
    print("the service", flush=True)
    result["service"] = await bench_service(plan, model, photos, out, settings, CONCURRENCY, {},
                                            measurements_concurrency=MEASUREMENTS_CONCURRENCY)
    print("the batch command, one task", flush=True)
    result["batch_command"] = bench_batch_command(
        plan, model, photo_dir, out,
        # Its default (the service's MAX_BATCH_SIZE) and a large batch, to show the difference.
        tuple(dict.fromkeys((settings["max_batch_size"], LARGE_BATCH))))
    if args.previous.is_file():
        print(f"the service with the previous model {args.previous}", flush=True)
        result["service_previous"] = await bench_service(
            plan, args.previous, photos, out / "previous", settings, (1, 32), {},
            overload=False)
        result["service_previous"]["model"] = model_record(args.previous, "previous")
    if onnx_model is not None:
        print("the service with MODEL_BACKEND=onnx", flush=True)
        result["service_onnx"] = await bench_service(
            plan, onnx_model, photos, out / "onnx", settings, (1, 32), {"MODEL_BACKEND": "onnx"},
            overload=False)
    print("model and decoding costs (2/2)", flush=True)
    result["parts"].append(measure_parts(model, settings, photo_dir, out / "parts-2.json",
                                         plan.parts_budget, onnx))
    result["machine"]["load_after"] = load_average()
    result["seconds"] = time.perf_counter() - started
    result["verdicts"] = report.verdicts(result)
    result["speed_verdicts"] = report.speed_verdicts(result)
    text = report.markdown(result)
    (out / "result.json").write_text(json.dumps(result, indent=1, default=str))
    (out / "report.md").write_text(text)
    if not plan.quick and not args.no_publish:
        existing = PUBLISHED.read_text() if PUBLISHED.exists() else None
        PUBLISHED.write_text(report.publish(text, existing))
    print()
    for verdict in result["verdicts"]:
        mark = {True: "PASS", False: "FAIL", None: "n/a "}[verdict["passed"]]
        print(f"{mark}  {verdict['target']}: {verdict['measured']} (required "
              f"{verdict['required']})")
    print(f"\nreport: {out / 'report.md'}" + ("" if plan.quick or args.no_publish
                                            else f" and {PUBLISHED}"))
    return 0


async def compare_variants(plan: Plan, args: argparse.Namespace, model: Path,
                           photos: list[photo_set.Photo], out: Path,
                           settings: dict[str, Any]) -> int:
    """Each variant's service (its environment overrides) at each concurrency, in turn, the
    whole list `--rounds` times (interleaved, so drift in the machine's load hits all alike)."""
    concurrencies = tuple(int(c) for c in args.concurrency.split(","))
    rows = []
    for round_number in range(args.rounds):
        for text in args.variant:
            name, env = parse_variant(text)
            print(f"variant {name} {env} (round {round_number + 1})", flush=True)
            result = await bench_service(plan, model, photos, out / name, settings,
                                         concurrencies, env, overload=False, cold=False)
            for phase in result["phases"]:
                rows.append({"variant": name, "env": env, "round": round_number + 1, **phase})
    (out / "variants.json").write_text(json.dumps(rows, indent=1))
    print("\n| variant | C | req/s | p50 ms | p90 ms | p99 ms | errors | server CPU ms/req "
          "| of which event loop | mean batch |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for row in rows:
        print(f"| {row['variant']} | {row['concurrency']} | {row['rps']} | {row['p50_ms']} | "
              f"{row['p90_ms']} | {row['p99_ms']} | {row['errors']} | "
              f"{row['server_cpu_ms_per_request']} | {row['event_loop_cpu_ms_per_request']} | "
              f"{row.get('mean_batch_size')} |")
    return 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true",
                        default=os.environ.get("BENCH_QUICK", "") not in ("", "0"),
                        help="a short smoke run (also BENCH_QUICK=1)")
    parser.add_argument("--model", type=Path, help="model file (default: the shipped one)")
    parser.add_argument("--out", type=Path, help="results folder")
    parser.add_argument("--no-publish", action="store_true",
                        help="do not update loadtest/BENCHMARK.md")
    parser.add_argument("--previous", type=Path, default=PREVIOUS_MODEL,
                        help="the model this one replaced, served in the same run at C=1 and 32 "
                             "(skipped when the file is missing)")
    parser.add_argument("--variant", action="append",
                        help="NAME:ENV=V,ENV=V compare service configurations instead")
    parser.add_argument("--concurrency", default="1,32", help="with --variant")
    parser.add_argument("--rounds", type=int, default=1, help="with --variant")
    args = parser.parse_args()
    args.command = "make bench" if os.environ.get("MAKELEVEL") else shlex.join(
        ["python", "-m", "loadtest.bench", *sys.argv[1:]])
    sys.exit(asyncio.run(main_async(args)))


if __name__ == "__main__":
    main()
