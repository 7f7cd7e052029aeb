"""What the parts cost, measured in a process of their own with the service's thread settings.

- the model's ceiling: images per second on preprocessed tensors at each batch size, for the
  TorchScript file as served (contiguous and channels-last input; with and without
  `torch.jit.optimize_for_inference`), and ONNX Runtime on its ONNX export if given;
- one batch-1 forward pass, and one decode (the service's path: draft-mode JPEG decoding, one
  resize, uint8 pixels), the two parts of a lone request's latency;
- the naive path's decode (whole photo, torchvision transforms), for comparison.

    python -m loadtest.bench.components --model M.pt --threads 1 --photos DIR --out parts.json
"""

from __future__ import annotations

import argparse
import io
import json
import statistics
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from service.model.formats import load_model
from service.model.metadata import Preprocessing, read_metadata
from service.model.preprocessing import bytes_to_pixels, normalize_array
from service.model.torch_network import as_batch, normalize

BATCH_SIZES = (1, 2, 4, 8, 16, 32, 64)
NORMALISE_BATCHES = (1, 8, 32)


def timed_rate(call: Callable[[], object], images: int, *, budget: float, rounds: int = 3
               ) -> float:
    """Images per second: the best of `rounds` rounds, each repeating `call` for about
    budget / rounds seconds (best, because on a shared machine interference only slows)."""
    call()
    call()  # warm: shape-specific kernels and the profiling executor
    best = 0.0
    for _ in range(rounds):
        count, started = 0, time.perf_counter()
        while True:
            call()
            count += 1
            elapsed = time.perf_counter() - started
            if elapsed >= budget / rounds and count >= 2:
                break
        best = max(best, count * images / elapsed)
    return best


def median_ms(call: Callable[[], object], repeats: int) -> float:
    call()
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        call()
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000


def torchscript_variants(model_path: Path) -> dict[str, Callable[[torch.Tensor], object]]:
    served = load_model(model_path)
    variants: dict[str, Callable[[torch.Tensor], object]] = {
        "torchscript": served,
        "torchscript channels-last": lambda x: served(x.contiguous(
            memory_format=torch.channels_last)),
    }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        optimized = torch.jit.optimize_for_inference(load_model(model_path))
    variants["torchscript optimize_for_inference"] = optimized
    variants["torchscript optimize_for_inference channels-last"] = lambda x: optimized(
        x.contiguous(memory_format=torch.channels_last))
    return variants


def onnx_variant(onnx_path: Path | None, threads: int) -> Callable[[torch.Tensor], object] | None:
    """ONNX Runtime on the same network, same thread count, if an export and ORT are there."""
    if onnx_path is None or not onnx_path.exists():
        return None
    try:
        import onnxruntime
    except ImportError:
        return None
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    session = onnxruntime.InferenceSession(str(onnx_path), options,
                                           providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    return lambda x: session.run(None, {name: x.numpy()})


def ceiling(model_path: Path, threads: int, budget: float, input_size: int,
            onnx_path: Path | None = None) -> dict:
    variants = torchscript_variants(model_path)
    onnx = onnx_variant(onnx_path, threads)
    if onnx is not None:
        variants["onnxruntime"] = onnx
    table: dict[str, dict[int, float]] = {name: {} for name in variants}
    with torch.inference_mode():
        for size in BATCH_SIZES:
            batch = torch.randn(size, 3, input_size, input_size)
            for name, run in variants.items():
                table[name][size] = round(timed_rate(lambda run=run, batch=batch: run(batch),
                                                     size, budget=budget), 1)
        one = torch.randn(1, 3, input_size, input_size)
        batch1_ms = {name: round(median_ms(lambda run=run: run(one), 30), 2)
                     for name, run in variants.items()}
    return {"images_per_second": table, "batch1_ms": batch1_ms}


def normalise_costs(spec: Preprocessing) -> dict[str, dict[int, float]]:
    """Median ms to stack and normalise a batch of decoded uint8 photos, as the inference
    runner and each backend do before every pass (service/engine/inference.py,
    service/model/networks.py), by batch size: TorchScript's channels-last torch path and ONNX
    Runtime's NumPy path."""
    side = spec.input_size
    photos = [np.random.default_rng(index).integers(0, 256, (side, side, 3), dtype=np.uint8)
              for index in range(max(NORMALISE_BATCHES))]
    paths = {"torchscript": lambda batch: normalize(as_batch(np.stack(batch)), spec),
             "onnxruntime": lambda batch: normalize_array(np.stack(batch), spec)}
    return {name: {size: round(median_ms(lambda size=size, path=path: path(photos[:size]), 30),
                               2) for size in NORMALISE_BATCHES}
            for name, path in paths.items()}


def decode_costs(photo_dir: Path, spec: Preprocessing) -> dict:
    from PIL import Image
    from torchvision import transforms  # the naive path only; the service never imports it

    input_size = spec.input_size
    naive = transforms.Compose([transforms.Resize((input_size, input_size)),
                                transforms.ToTensor(),
                                transforms.Normalize(list(spec.mean), list(spec.std))])
    served, tutorial = [], []
    for path in sorted(photo_dir.glob("*.jpg")):
        data = path.read_bytes()
        served.append(median_ms(lambda data=data: bytes_to_pixels(data, size=input_size), 5))
        tutorial.append(median_ms(lambda data=data: naive(
            Image.open(io.BytesIO(data)).convert("RGB")), 3))
    return {"decode_ms_median": round(statistics.median(served), 2),
            "decode_ms_mean": round(statistics.fmean(served), 2),
            "naive_decode_ms_median": round(statistics.median(tutorial), 2),
            "naive_decode_ms_mean": round(statistics.fmean(tutorial), 2)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--threads", type=int, required=True)
    parser.add_argument("--photos", type=Path)
    parser.add_argument("--onnx", type=Path, help="the same network exported as ONNX")
    parser.add_argument("--budget", type=float, default=1.5, help="seconds per measurement")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    spec = read_metadata(args.model).preprocessing
    result = {"threads": args.threads,
              **ceiling(args.model, args.threads, args.budget, spec.input_size, args.onnx)}
    result["normalise_ms"] = normalise_costs(spec)
    if args.photos:
        result.update(decode_costs(args.photos, spec))
    args.out.write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
