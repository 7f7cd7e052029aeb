"""What the benchmark's programs share (`python -m loadtest.bench`, `loadtest.bench.memory`):
where results go, the machine and the model under test, and the requests they send."""

from __future__ import annotations

import os
import platform
import re
import shutil
import sys
from pathlib import Path
from typing import Any

from loadtest import measurements
from loadtest.loadgen import json_request, multipart_request
from loadtest.photos import Photo
from loadtest.servers import HOST, REPO_ROOT

RESULTS = REPO_ROOT / "loadtest" / "results"
CACHE = RESULTS / "bench-cache"
SHIPPED_MODEL = REPO_ROOT / "weights" / "penguin_classifier.pt"
PREVIOUS_MODEL = REPO_ROOT / "weights" / "previous" / "1.1.0" / "penguin_classifier.pt"
MEASUREMENTS_PATH = "/predict/measurements"
# The batch command's summary on stderr (service/batch_command.py, `report`).
BATCH_SUMMARY = re.compile(r"classified (\d+) photo\(s\), skipped (\d+); ([\d.]+) images/s "
                           r"over ([\d.]+) s")


def machine() -> dict[str, Any]:
    import torch

    from service.cpus import usable_cpu_count

    cpu_model = "unknown CPU"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu_model = line.split(":", 1)[1].strip()
            break
    memory_kb = int(re.search(r"MemTotal:\s+(\d+)", Path("/proc/meminfo").read_text())[1])
    return {"cpu_model": cpu_model, "logical_cpus": os.cpu_count(),
            "usable_cpus": usable_cpu_count(), "memory_gb": round(memory_kb / 1024 / 1024, 1),
            "python": platform.python_version(), "torch": torch.__version__,
            "load_before": load_average()}


def load_average() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def model_under_test(explicit: Path | None, out: Path) -> tuple[Path, str]:
    """The model given, else the shipped one.

    The shipped files (the model, its metadata, its ONNX export for MODEL_BACKEND=onnx) are
    copied into the run's folder first: the whole run then measures one model, even if
    training replaces weights/ meanwhile."""
    if explicit:
        return explicit.absolute(), "given"
    if not SHIPPED_MODEL.exists():
        sys.exit(f"error: {SHIPPED_MODEL.relative_to(REPO_ROOT)} is missing; restore it "
                 "(git checkout -- weights) or give --model")
    snapshot = out / "model" / SHIPPED_MODEL.name
    snapshot.parent.mkdir(parents=True, exist_ok=True)
    for suffix in (".pt", ".json", ".onnx"):
        source = SHIPPED_MODEL.with_suffix(suffix)
        if source.exists():
            shutil.copy(source, snapshot.parent / source.name)
    return snapshot, "shipped, weights/penguin_classifier.pt"


def requests_for(photos: list[Photo], port: int, path: str) -> list[bytes]:
    return [multipart_request(HOST, port, path, "file", photo.filename, photo.data)
            for photo in photos]


def measurement_requests(port: int) -> tuple[list[bytes], list[str]]:
    """The load test's real birds (loadtest/measurements.py) as single JSON records, each with
    every feature and with the bill and flipper only; and the species each must be answered
    with, index for index."""
    records = [(measurements.request_for(bird, all_features=every), bird["species"])
               for bird in measurements.BIRDS for every in (True, False)]
    return ([json_request(HOST, port, MEASUREMENTS_PATH, body) for body, _ in records],
            [species for _, species in records])


def batch_summary(stderr: str) -> dict[str, Any] | None:
    """The counts and the rate a `penguin-classify` run reports last, or None without them."""
    found = BATCH_SUMMARY.search(stderr)
    if found is None:
        return None
    return {"classified": int(found[1]), "skipped": int(found[2]),
            "images_per_second": float(found[3]), "seconds": float(found[4])}
