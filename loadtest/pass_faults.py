"""What glibc's malloc thresholds cost a forward pass (service/engine/allocator.py).

For each backend, in fresh interpreters (the model loaded as the service loads it, 1 thread):
the median pass and its page faults at batch 1, then at `--batch`, then at batch 1 and
`--batch` again, once with glibc's dynamic thresholds and once with the thresholds the service
fixes at start-up.

    python -m loadtest.pass_faults              # ~1 min
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

from loadtest.servers import REPO_ROOT

PASSES = 40
WARM_UP_PASSES = 5


def passes(logits, pixels) -> dict[str, float]:
    """Median ms per photo and minor page faults per pass, after a few unmeasured passes."""
    for _ in range(WARM_UP_PASSES):
        logits(pixels)
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    times = []
    for _ in range(PASSES):
        started = time.perf_counter()
        logits(pixels)
        times.append(time.perf_counter() - started)
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults
    return {"ms_per_photo": round(statistics.median(times) * 1000 / len(pixels), 2),
            "faults_per_pass": round(faults / PASSES)}


def one_process(model: Path, backend: str, batch: int, fixed: bool) -> list[dict]:
    """This process's passes at batch 1, `batch`, 1, `batch` (the child's side)."""
    import numpy as np

    from service.engine.allocator import keep_freed_memory_for_reuse
    from service.model.classifier import load_classifier

    if fixed:
        keep_freed_memory_for_reuse()
    classifier = load_classifier(model, backend=backend, threads=1)
    classifier.network.configure_thread()
    size = classifier.metadata.preprocessing.input_size
    one = np.random.default_rng(0).integers(0, 256, (1, size, size, 3), dtype=np.uint8)
    many = np.repeat(one, batch, axis=0)
    return [{"batch": len(pixels), **passes(classifier.logits, pixels)}
            for pixels in (one, many, one, many)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, default=REPO_ROOT / "weights/penguin_classifier.pt")
    parser.add_argument("--batch", type=int, default=4, help="the larger pass (MAX_BATCH_SIZE)")
    parser.add_argument("--backends", default="torchscript,onnx")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--fixed", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(one_process(args.model, args.child, args.batch, args.fixed)))
        return
    for backend in args.backends.split(","):
        for fixed in (False, True):
            finished = subprocess.run(
                [sys.executable, "-m", "loadtest.pass_faults", "--child", backend,
                 "--model", str(args.model), "--batch", str(args.batch),
                 *(["--fixed"] if fixed else [])],
                cwd=REPO_ROOT, capture_output=True, text=True, check=True)
            steps = "; ".join(f"batch {step['batch']}: {step['ms_per_photo']} ms/photo, "
                              f"{step['faults_per_pass']} faults"
                              for step in json.loads(finished.stdout))
            thresholds = "fixed (the service)" if fixed else "glibc's dynamic"
            print(f"{backend}, thresholds {thresholds}: {steps}")


if __name__ == "__main__":
    main()
