"""A loaded model file as one call, whichever backend runs it: uint8 photos in, logits out.

Photos travel the engine as NumPy arrays, (N, H, W, 3) uint8, the decoder's own bytes; logits
come back as a float32 (N, labels) array. Each backend normalises a batch its fastest way:
TorchScript with torch on a channels-last view of those bytes (service/model/torch_network.py),
ONNX Runtime with NumPy. Only the backend in use is imported, so a service on ONNX Runtime
never loads torch.
"""

from __future__ import annotations

import contextlib
import importlib
from pathlib import Path
from typing import Any, Literal, Protocol, get_args

import numpy as np

from service.model.formats import Backend, ModelFormatError, OnnxModule, load_onnx_model
from service.model.metadata import Preprocessing
from service.model.preprocessing import normalize_array

# What a forward pass computes in (INFERENCE_PRECISION): `auto` chooses where the model loads.
Precision = Literal["auto", "float32", "bfloat16"]
PRECISIONS: tuple[Precision, ...] = get_args(Precision)
ExecutedPrecision = Literal["float32", "bfloat16"]
EXECUTED_PRECISIONS: tuple[ExecutedPrecision, ...] = get_args(ExecutedPrecision)


class Network(Protocol):
    """What the engine runs: one forward pass over a batch of photos."""

    module: Any  # the backend's own model object (TorchScript module, ONNX Runtime wrapper)
    precision: ExecutedPrecision

    def __call__(self, pixels: np.ndarray) -> np.ndarray:
        """(N, H, W, 3) uint8 photos at the input size to (N, labels) float32 logits."""

    def prepare(self, pixels: np.ndarray) -> Any:
        """The batch as this backend's network takes it (normalised): the part of a call that
        is not the forward pass, apart so that the benchmark can time it as served."""

    def configure_thread(self) -> None:
        """Called once on the thread that will run the passes (some settings are per thread)."""


class OnnxNetwork:
    """ONNX Runtime on the model's ONNX export, with NumPy normalisation."""

    precision: ExecutedPrecision = "float32"

    def __init__(self, module: OnnxModule, spec: Preprocessing) -> None:
        self.module = module
        self.spec = spec

    def __call__(self, pixels: np.ndarray) -> np.ndarray:
        return self.module(self.prepare(pixels))

    def prepare(self, pixels: np.ndarray) -> np.ndarray:
        return normalize_array(pixels, self.spec)

    def configure_thread(self) -> None:
        """Nothing to do: the session's thread count was set when it was created."""


def load_network(path: Path, backend: Backend, spec: Preprocessing, *, threads: int,
                 precision: Precision = "float32") -> Network:
    """Load `path` (see formats.backend_file) with `backend`, normalising as `spec` says, on
    `threads` threads, computing in `precision` (ONNX Runtime: float32 only). Raises
    formats.ModelFormatError when the file cannot be loaded."""
    if backend == "onnx":
        if precision == "bfloat16":
            raise ModelFormatError("bfloat16 runs on the TorchScript backend only; ONNX "
                                   "Runtime computes the export in float32")
        return OnnxNetwork(load_onnx_model(path, threads=threads), spec)
    # Imported here so that only a TorchScript service pays for torch.
    from service.model.torch_network import load_torchscript_network

    return load_torchscript_network(path, spec, threads=threads, precision=precision)


def import_backend(backend: Backend) -> None:
    """Import what `backend` runs on now rather than at the model's load: a server calls this
    before `gc.freeze()`, so the library's objects are frozen with the rest of start-up's.
    A library that is not installed is left for the load to report, as the model's failure."""
    with contextlib.suppress(ImportError):
        importlib.import_module("onnxruntime" if backend == "onnx"
                                else "service.model.torch_network")
