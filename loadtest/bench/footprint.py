"""Cold start and memory of a runtime alone: import it, load the model, run one photo.

    python -m loadtest.bench.footprint torchscript MODEL.pt 160
    python -m loadtest.bench.footprint onnxruntime MODEL.onnx 160

Prints one JSON object: seconds to import, to load, to run the first and a second batch of one,
the resident memory right after the import, and the peak (VmHWM). Run in a fresh interpreter
each time.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path


def status_mb(field: str) -> float:
    """A memory figure of this process from /proc (VmRSS, VmHWM), in MiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return round(int(line.split()[1]) / 1024, 1)
    return 0.0


def main() -> None:
    runtime, path, size = sys.argv[1], Path(sys.argv[2]), int(sys.argv[3])
    started = time.perf_counter()
    if runtime == "torchscript":
        import torch

        from service.model.formats import load_model

        torch.set_num_threads(1)
        imported = time.perf_counter()
        imported_mb = status_mb("VmRSS")
        module = load_model(path)
        loaded = time.perf_counter()
        batch = torch.zeros(1, 3, size, size)
        with torch.inference_mode():
            module(batch)
            first = time.perf_counter()
            module(batch)
    else:
        import numpy
        import onnxruntime

        imported = time.perf_counter()
        imported_mb = status_mb("VmRSS")
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = 1
        session = onnxruntime.InferenceSession(str(path), options,
                                               providers=["CPUExecutionProvider"])
        loaded = time.perf_counter()
        feed = {session.get_inputs()[0].name: numpy.zeros((1, 3, size, size), numpy.float32)}
        session.run(None, feed)
        first = time.perf_counter()
        session.run(None, feed)
    second = time.perf_counter()
    print(json.dumps({"import_s": round(imported - started, 3), "import_rss_mb": imported_mb,
                      "load_s": round(loaded - imported, 3),
                      "first_run_s": round(first - loaded, 3),
                      "second_run_ms": round((second - first) * 1000, 2),
                      "peak_mb": status_mb("VmHWM")}))


if __name__ == "__main__":
    main()
