"""What the parts cost, measured in a process of their own with the service's thread settings.

- the model's ceiling: images per second on preprocessed tensors at each batch size, for the
  TorchScript file as served (contiguous and channels-last input; with and without
  `torch.jit.optimize_for_inference`; channels-last in bfloat16, INFERENCE_PRECISION), and ONNX
  Runtime on its ONNX export if given;
- one batch-1 forward pass (TorchScript in the service's precision), and one decode (the
  service's path: draft-mode JPEG decoding, one resize, uint8 pixels), the two parts of a lone
  request's latency;
- the same two parts run one after the other, as a lone request runs them in the service
  (decoded on one thread, answered by the classifier on another), without HTTP;
- the naive path's decode (whole photo, torchvision transforms), for comparison.

    python -m loadtest.bench.components --model M.pt --threads 1 --photos DIR --out parts.json
"""

from __future__ import annotations

import argparse
import importlib.util
import io
import json
import statistics
import time
import warnings
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch

from service.engine.allocator import keep_freed_memory_for_reuse
from service.model.classifier import Classifier, load_classifier
from service.model.formats import load_model, load_onnx_model
from service.model.metadata import Preprocessing, read_metadata
from service.model.networks import PRECISIONS, Precision
from service.model.preprocessing import bytes_to_pixels
from service.model.torch_network import TorchScriptNetwork, resolve_precision

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
    # The pass as INFERENCE_PRECISION=bfloat16 runs it, by the service's own network.
    in_bfloat16 = TorchScriptNetwork(served, read_metadata(model_path).preprocessing,
                                     threads=torch.get_num_threads(), precision="bfloat16")
    variants["torchscript channels-last bfloat16"] = lambda x: in_bfloat16.forward(
        x.contiguous(memory_format=torch.channels_last))
    return variants


def onnx_variant(onnx_path: Path | None, threads: int) -> Callable[[torch.Tensor], object] | None:
    """ONNX Runtime on the same network, loaded as the service loads it (same thread count),
    if an export and ONNX Runtime are there."""
    if onnx_path is None or not onnx_path.exists() or not importlib.util.find_spec("onnxruntime"):
        return None
    module = load_onnx_model(onnx_path, threads=threads)
    return lambda x: module(x.numpy())


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


def served_classifiers(model_path: Path, onnx_path: Path | None, threads: int,
                       precision: Precision) -> dict[str, Classifier]:
    """The service's own classifier on each backend the run measures, TorchScript's in the
    service's precision (ONNX Runtime's from the export's folder, whose metadata records the
    export's checksum; the bench passes an export only when ONNX Runtime is installed)."""
    classifiers = {"torchscript": load_classifier(model_path, threads=threads,
                                                  precision=precision)}
    if onnx_path is not None and onnx_path.exists():
        classifiers["onnxruntime"] = load_classifier(onnx_path.with_suffix(".pt"),
                                                     backend="onnx", threads=threads)
    return classifiers


def normalise_costs(classifiers: dict[str, Classifier], spec: Preprocessing
                    ) -> dict[str, dict[int, float]]:
    """Median ms to stack and prepare a batch of decoded uint8 photos, as the inference runner
    and each backend's network do before every pass (service/engine/inference.py,
    Network.prepare), by batch size."""
    side = spec.input_size
    photos = [np.random.default_rng(index).integers(0, 256, (side, side, 3), dtype=np.uint8)
              for index in range(max(NORMALISE_BATCHES))]
    return {name: {size: round(median_ms(lambda size=size, classifier=classifier:
                                         classifier.network.prepare(np.stack(photos[:size])),
                                         30), 2)
                   for size in NORMALISE_BATCHES}
            for name, classifier in classifiers.items()}


def lone_request_costs(classifiers: dict[str, Classifier], photo_dir: Path, spec: Preprocessing,
                       rounds: int = 3) -> dict[str, dict[str, float]]:
    """A lone request's decode and pass as the service runs them at C=1, minus HTTP: each photo
    decoded on one thread, then answered by the classifier (batch of one) on another, one after
    the other, medians over the photos and rounds.

    Timed apart, in loops of their own, each part starts with the caches as its previous run
    left them; run in turn, the pass starts after a decode (and the other way round), which is
    the cost the C=1 target's budget does not see."""
    uploads = [path.read_bytes() for path in sorted(photo_dir.glob("*.jpg"))]
    out = {}
    with ThreadPoolExecutor(1) as decoder, ThreadPoolExecutor(1) as inference:
        for name, classifier in classifiers.items():
            inference.submit(classifier.network.configure_thread).result()
            decode_ms, pass_ms, serial_ms = [], [], []
            for _ in range(rounds):
                for data in uploads:
                    started = time.perf_counter()
                    pixels = decoder.submit(bytes_to_pixels, data, size=spec.input_size).result()
                    decoded = time.perf_counter()
                    inference.submit(classifier.predict, pixels[None]).result()
                    answered = time.perf_counter()
                    decode_ms.append(decoded - started)
                    pass_ms.append(answered - decoded)
                    serial_ms.append(answered - started)
            out[name] = {key: round(statistics.median(values) * 1000, 2) for key, values in
                         (("decode_ms", decode_ms), ("pass_ms", pass_ms),
                          ("serial_ms", serial_ms))}
    return out


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
    parser.add_argument("--precision", choices=PRECISIONS, default="auto",
                        help="the service's INFERENCE_PRECISION")
    args = parser.parse_args()
    keep_freed_memory_for_reuse()  # the service's allocator settings (engine/allocator.py)
    torch.set_num_threads(args.threads)
    spec = read_metadata(args.model).preprocessing
    result = {"threads": args.threads, "precision": resolve_precision(args.precision),
              **ceiling(args.model, args.threads, args.budget, spec.input_size, args.onnx)}
    classifiers = served_classifiers(args.model, args.onnx, args.threads, args.precision)
    result["normalise_ms"] = normalise_costs(classifiers, spec)
    if args.photos:
        result.update(decode_costs(args.photos, spec))
        result["lone_request"] = lone_request_costs(classifiers, args.photos, spec)
    args.out.write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
