"""The benchmark's measurement of a lone request's parts run in turn, on a real classifier."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from loadtest.bench.components import lone_request_costs, normalise_costs, served_classifiers
from service.model.metadata import read_metadata


def photos(folder: Path, count: int) -> Path:
    rng = np.random.default_rng(0)
    for index in range(count):
        pixels = rng.integers(0, 256, (120, 160, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(folder / f"{index}.jpg", quality=85)
    return folder


def test_a_lone_request_is_timed_as_its_decode_then_its_pass(tiny_model_path, tmp_path):
    spec = read_metadata(tiny_model_path).preprocessing
    classifiers = served_classifiers(tiny_model_path, None, threads=1, precision="float32")
    costs = lone_request_costs(classifiers, photos(tmp_path, 3), spec, rounds=2)
    assert set(costs) == {"torchscript"}
    figures = costs["torchscript"]
    assert figures["decode_ms"] > 0 and figures["pass_ms"] > 0
    # Each photo's whole is its decode plus its pass, so no part's median exceeds the whole's.
    assert figures["serial_ms"] >= max(figures["decode_ms"], figures["pass_ms"])


def test_onnx_runtime_is_measured_from_the_export_beside_the_model(tiny_model_path):
    spec = read_metadata(tiny_model_path).preprocessing
    classifiers = served_classifiers(tiny_model_path, tiny_model_path.with_suffix(".onnx"),
                                     threads=1, precision="auto")
    assert set(classifiers) == {"torchscript", "onnxruntime"}
    assert classifiers["onnxruntime"].network.precision == "float32"
    costs = normalise_costs(classifiers, spec)
    assert set(costs) == {"torchscript", "onnxruntime"}
    assert all(ms > 0 for sizes in costs.values() for ms in sizes.values())


def test_torchscript_is_measured_in_the_services_precision(tiny_model_path):
    classifiers = served_classifiers(tiny_model_path, None, threads=1, precision="bfloat16")
    assert classifiers["torchscript"].network.precision == "bfloat16"
