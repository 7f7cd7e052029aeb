"""Peak memory under the worst input the service accepts, at the concurrency it is deployed with.

Cloud Run bills an instance for its memory and kills it when it passes its limit, and there the
instance's /tmp is a RAM disk: uploads that Starlette spools to disk count against the same
limit. So this measures both, on a real `python -m service` process: its peak resident set
(VmHWM) and the peak size of its temporary folder, sampled every 50 ms.

Workloads, each on a fresh server with the default settings, closed loop at C concurrent
requests (default 32, the Cloud Run concurrency in deploy/):

- typical: the benchmark's photos (640 to 1600 px JPEGs, 60 to 400 KB) to /predict;
- largest photo: a PNG just under MAX_IMAGE_PIXELS, just under MAX_UPLOAD_BYTES, to /predict
  (PNG has no reduced-size decoding, so the whole image is decoded: the worst per photo);
- largest batch: as many of those as fit in a 32 MiB request (Cloud Run refuses larger bodies)
  to /predict/batch.

    python -m loadtest.bench.memory            # ~3 min; writes loadtest/MEMORY.md
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import io
import json
import os
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from PIL import Image

from loadtest import photos as photo_set
from loadtest.bench.harness import CACHE, machine, model_under_test, requests_for
from loadtest.loadgen import BOUNDARY, closed_loop
from loadtest.servers import HOST, free_port, service_process
from service.settings import MIB, Settings

CLOUD_RUN_MAX_REQUEST_BYTES = 32 * MIB
REPORT = Path(__file__).resolve().parents[1] / "MEMORY.md"
NOTES_MARKER = "<!-- notes: written by hand, kept by `make memory` -->"


def largest_png(max_pixels: int, max_bytes: int) -> bytes:
    """A photo-shaped (4:3) PNG with just under `max_pixels` pixels and just under `max_bytes`.

    Smooth gradients (which compress to almost nothing) with one block of random noise (which
    does not compress) sized to bring the file to ~90% of the byte limit: the most pixels and
    nearly the most bytes a client can send in one photo."""
    height = int((max_pixels * 3 / 4) ** 0.5) - 1
    width = max_pixels // height - 1
    small = Image.radial_gradient("L").resize((width // 8, height // 8))
    image = Image.merge("RGB", (small, small.transpose(Image.Transpose.FLIP_LEFT_RIGHT),
                                Image.linear_gradient("L").resize(small.size)))
    image = image.resize((width, height), Image.Resampling.BILINEAR)
    base = _png_bytes(image)  # what the smooth part costs
    side = int((max(0.0, 0.9 * max_bytes - len(base)) / 3) ** 0.5)
    noise = Image.frombytes("RGB", (side, side), random.Random(5).randbytes(side * side * 3))
    image.paste(noise, (0, 0))
    data = _png_bytes(image)
    if len(data) > max_bytes:
        raise ValueError(f"the largest PNG came out at {len(data)} bytes, over {max_bytes}")
    return data


def _png_bytes(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", compress_level=6)
    return buffer.getvalue()


def png_upload(port: int, path: str, field: str, files: list[bytes]) -> bytes:
    """A POST of `files` as PNGs in multipart field `field`, as bytes on the wire."""
    parts = b"".join(
        (f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{field}\"; "
         f"filename=\"large-{n}.png\"\r\nContent-Type: image/png\r\n\r\n").encode() + data
        + b"\r\n" for n, data in enumerate(files))
    body = parts + f"--{BOUNDARY}--\r\n".encode()
    head = (f"POST {path} HTTP/1.1\r\nHost: {HOST}:{port}\r\n"
            f"Content-Type: multipart/form-data; boundary={BOUNDARY}\r\n"
            f"Content-Length: {len(body)}\r\n\r\n").encode()
    return head + body


def temporary_bytes(pid: int, folder: Path) -> int:
    """Bytes of the files under `folder` that process `pid` holds open.

    Read through /proc/<pid>/fd because Python's temporary files are unlinked at creation: a
    directory listing never shows them, yet they occupy the (RAM-backed, on Cloud Run) disk."""
    sizes: dict[int, int] = {}
    fd_dir = Path(f"/proc/{pid}/fd")
    for fd in os.listdir(fd_dir):
        with contextlib.suppress(OSError):  # closed between listing and reading
            if os.readlink(fd_dir / fd).startswith(str(folder)):
                status = os.stat(fd_dir / fd)
                sizes[status.st_ino] = status.st_size
    return sum(sizes.values())


async def run_workload(name: str, model: Path, make_requests, concurrency: int,
                       duration: float, out: Path) -> dict[str, Any]:
    """One fresh server under one workload: its peaks of memory and of temporary files."""
    port = free_port()
    tmp = Path(tempfile.mkdtemp(prefix=f"memory-{name}-"))
    server = service_process(sys.executable, model, port, out / f"{name}.log",
                             {"TMPDIR": str(tmp)})
    server.start()
    peak_tmp, peak_sum = 0, 0
    try:
        await server.wait_for("/readyz")
        ready_kb = server.memory_kb()["VmRSS"]
        done = asyncio.Event()

        async def sample() -> None:
            nonlocal peak_tmp, peak_sum
            while not done.is_set():
                tmp_bytes = temporary_bytes(server.process.pid, tmp)
                rss_bytes = server.memory_kb()["VmRSS"] * 1024
                peak_tmp, peak_sum = max(peak_tmp, tmp_bytes), max(peak_sum,
                                                                    tmp_bytes + rss_bytes)
                await asyncio.sleep(0.05)

        sampler = asyncio.create_task(sample())
        phase = await closed_loop(HOST, port, make_requests(port), concurrency=concurrency,
                                  warmup=2.0, duration=duration, timeout=60.0)
        done.set()
        await sampler
        summary = phase.summary()
        peak_kb = server.memory_kb()["VmHWM"]
    finally:
        server.stop()
    return {"workload": name, "concurrency": concurrency, "requests": summary["requests"],
            "ok": summary["ok"], "errors_by_code": summary["errors_by_code"],
            "p50_ms": summary["p50_ms"], "p99_ms": summary["p99_ms"],
            "ready_rss_mib": round(ready_kb / 1024), "peak_rss_mib": round(peak_kb / 1024),
            "peak_tmp_mib": round(peak_tmp / MIB), "peak_rss_plus_tmp_mib": round(peak_sum / MIB)}


def kept_notes(report: Path) -> str:
    """The hand-written part of `report` (from NOTES_MARKER on), which a new run keeps."""
    text = report.read_text() if report.exists() else ""
    start = text.find(NOTES_MARKER)
    return "" if start < 0 else "\n" + text[start:]


def markdown(result: dict[str, Any]) -> str:
    head = result["machine"]
    rows = ["| workload | request size | C | requests (ok) | errors | p50 / p99 ms | RSS when "
            "ready MiB | peak RSS MiB | peak /tmp MiB | peak RSS + /tmp MiB |",
            "| --- | --- | ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: |"]
    for row in result["workloads"]:
        rows.append(
            f"| {row['workload']} | {row['size']} | {row['concurrency']} | {row['requests']} "
            f"({row['ok']}) | {row['errors_by_code'] or 'none'} | {row['p50_ms']} / "
            f"{row['p99_ms']} | {row['ready_rss_mib']} | {row['peak_rss_mib']} | "
            f"{row['peak_tmp_mib']} | **{row['peak_rss_plus_tmp_mib']}** |")
    return "\n".join([
        "# Memory under the worst allowed input",
        "",
        f"Measured by `python -m loadtest.bench.memory` (`make memory`) on {result['date']}: "
        f"{head['cpu_model']}, {head['usable_cpus']} usable CPUs, {head['memory_gb']} GB, Python "
        f"{head['python']}, torch {head['torch']}; "
        f"model {result['model']}; default settings (MAX_UPLOAD_BYTES "
        f"{result['settings']['max_upload_bytes']}, MAX_IMAGE_PIXELS "
        f"{result['settings']['max_image_pixels']}, MAX_INFLIGHT_UPLOAD_BYTES "
        f"{result['settings']['max_inflight_upload_bytes']}, MAX_QUEUE "
        f"{result['settings']['max_queue']}"
        f"); {result['duration_s']} s per workload after 2 s of warm-up, each on a fresh server.",
        "",
        *rows,
        "",
        "Peak RSS is the server process's VmHWM. /tmp is where Starlette spools uploaded "
        "files over 1 MB while a request is read (unlinked temporary files, measured through "
        "/proc/<pid>/fd; /predict and /predict/batch hold their uploads in memory, only the "
        "web form and the measurements CSV go through Starlette); on Cloud Run it is memory, so "
        "the last column is what counts against the instance's memory limit (RSS and /tmp "
        "are sampled together every 50 ms, so the sum "
        "can miss a short spike by a little).",
        "",
        "Under the largest uploads most requests are refused, by design: decoding one 40 Mpx PNG "
        "takes about a second, so 32 in flight cannot all finish within REQUEST_TIMEOUT_S "
        "(503 `queue_timeout`), and bodies beyond MAX_INFLIGHT_UPLOAD_BYTES are answered 503 "
        "`overloaded` before they are read, with `Connection: close`. The load generator counts "
        "those as \"no answer ConnectionResetError\": the server closes the connection while "
        "the client is still sending megabytes it did not read, and the client's TCP stack "
        "reports the reset instead of the 503 (a client sending small bodies, or reading while "
        "it sends, sees the 503). What matters here is the memory: it stays bounded however "
        "many such uploads arrive.",
        "",
    ])


async def main_async(args: argparse.Namespace) -> int:
    settings = Settings()
    out = args.out or CACHE.parent / f"memory-{dt.datetime.now():%Y%m%d-%H%M%S}"
    out.mkdir(parents=True, exist_ok=True)
    model, source = model_under_test(args.model, out)
    photos = photo_set.load_photos(photo_set.BENCH_SET, CACHE)
    print("encoding the largest accepted PNG ...", flush=True)
    large = largest_png(settings.max_image_pixels, settings.max_upload_bytes)
    per_batch = min(settings.max_batch_files,
                    (min(settings.max_batch_upload_bytes, CLOUD_RUN_MAX_REQUEST_BYTES) - 4096)
                    // len(large))
    with Image.open(io.BytesIO(large)) as image:
        large_size = f"{image.width} x {image.height} px PNG, {len(large) / 2**20:.1f} MiB"
    workloads = [
        ("typical photos", lambda port: requests_for(photos, port, "/predict"),
         "640-1600 px JPEG, 60-400 KB"),
        ("largest photo", lambda port: [png_upload(port, "/predict", "file", [large])],
         large_size),
        ("largest batch",
         lambda port: [png_upload(port, "/predict/batch", "files", [large] * per_batch)],
         f"{per_batch} x that PNG, {per_batch * len(large) / 2**20:.1f} MiB"),
    ]
    rows = []
    for name, make_requests, size in workloads:
        started = time.perf_counter()
        row = await run_workload(name.replace(" ", "-"), model, make_requests, args.concurrency,
                                 args.duration, out)
        row.update(workload=name, size=size)
        print(f"  {name}: {json.dumps(row)} ({time.perf_counter() - started:.0f} s)", flush=True)
        rows.append(row)
    result = {"date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
              "machine": machine(), "model": source, "duration_s": args.duration,
              "settings": settings.model_dump(mode="json"), "workloads": rows}
    (out / "memory.json").write_text(json.dumps(result, indent=2) + "\n")
    if not args.no_publish:
        REPORT.write_text(markdown(result) + kept_notes(REPORT))
        print(f"wrote {REPORT}")
    return 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, help="model file (default: the shipped one)")
    parser.add_argument("--concurrency", type=int, default=32, help="requests in flight")
    parser.add_argument("--duration", type=float, default=40.0, help="seconds per workload")
    parser.add_argument("--out", type=Path, help="results folder")
    parser.add_argument("--no-publish", action="store_true", help="leave MEMORY.md alone")
    raise SystemExit(asyncio.run(main_async(parser.parse_args())))


if __name__ == "__main__":
    main()
