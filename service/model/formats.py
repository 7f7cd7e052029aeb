"""The one module that knows the model file formats: TorchScript (the contract), and ONNX.

Export and loading live here together so that a later move to another format (torch.export,
ONNX) changes this file only. Two backends run the same network: TorchScript runs the model
file itself, ONNX Runtime runs its ONNX export beside it (training/export_onnx.py,
MODEL_BACKEND=onnx). Which file a backend reads and how it is loaded is decided here; verifying
it against its checksum is one path for both (metadata.verify_model_file, called by
classifier.load_classifier).

Neither torch nor ONNX Runtime is imported until a file of its format is loaded or written:
a service on ONNX Runtime never loads torch, which alone is 1.4 s and 500 MiB of a start-up
(loadtest/BENCHMARK.md).

torch 2.14 marks every `torch.jit` entry point as deprecated with a FutureWarning; TorchScript is
still this product's contract, so exactly those warnings are silenced, and only around our own
calls.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, get_args

import numpy as np

if TYPE_CHECKING:
    import torch

FORMAT_NAME = "torchscript"
ONNX_SUFFIX = ".onnx"

Backend = Literal["torchscript", "onnx"]
BACKENDS: tuple[Backend, ...] = get_args(Backend)
# Where each backend's file comes from, for the message when it is missing or unverifiable.
MADE_BY: dict[Backend, str] = {
    "torchscript": "training/export.py (make train)",
    "onnx": "training/export_onnx.py (make export-onnx)",
}
_JIT_DEPRECATION = r"`torch\.jit\.\w+` is deprecated"


@contextlib.contextmanager
def _jit_deprecation_silenced() -> Iterator[None]:
    """Silence torch.jit's own deprecation notices, and nothing else."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=_JIT_DEPRECATION, category=FutureWarning)
        yield


def export_model(model: torch.nn.Module, path: Path) -> None:
    """Script and freeze `model`, then write it to `path`.

    Freezing inlines the weights as constants and folds batch norm into convolutions, which makes
    the served graph smaller and faster than the training module.
    """
    import torch

    model = model.eval()
    with _jit_deprecation_silenced():
        scripted = torch.jit.script(model)
        frozen = torch.jit.freeze(scripted)
        torch.jit.save(frozen, str(path))


def load_model(path: Path) -> torch.nn.Module:
    """Load an exported model for CPU inference.

    Raises `ModelFormatError` when the file is not a model this module wrote, so callers can
    report a clear reason instead of a TorchScript stack trace.
    """
    import torch

    try:
        with _jit_deprecation_silenced():
            module = torch.jit.load(str(path), map_location="cpu")
    except (RuntimeError, ValueError, OSError) as error:
        raise ModelFormatError(f"{path} is not a loadable {FORMAT_NAME} model: {error}") from error
    return module.eval()


class OnnxModule:
    """An ONNX Runtime session as one call: a float32 NCHW batch in, its logits out (arrays).

    ONNX Runtime's own exceptions derive from Exception alone; a failed run is raised as the
    RuntimeError a TorchScript module raises, so callers handle both backends the same way
    (classifier._check_outputs names a wrong input size)."""

    def __init__(self, session: Any) -> None:
        self.session = session
        self.input_name = session.get_inputs()[0].name
        self.output_name = session.get_outputs()[0].name

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        try:
            (logits,) = self.session.run([self.output_name],
                                         {self.input_name: np.ascontiguousarray(batch)})
        except Exception as error:  # ORT's pybind11 exception types share no narrower base
            raise RuntimeError(str(error)) from error
        return logits


def load_onnx_model(path: Path, *, threads: int) -> OnnxModule:
    """Load an ONNX export for CPU inference on `threads` threads (the calling thread when 1).

    Raises `ModelFormatError` when ONNX Runtime is not installed or cannot read the file.
    """
    try:
        import onnxruntime
    except ImportError as error:
        raise ModelFormatError("MODEL_BACKEND=onnx needs ONNX Runtime, which is not installed "
                               "(pip install '.[onnx]')") from error
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    try:
        session = onnxruntime.InferenceSession(str(path), options,
                                               providers=["CPUExecutionProvider"])
    except Exception as error:  # ORT raises its own pybind11 exception types
        raise ModelFormatError(f"{path} is not a loadable ONNX model: {error}") from error
    return OnnxModule(session)


def backend_file(model_path: Path, backend: Backend) -> Path:
    """The file `backend` runs: the TorchScript model itself, or its ONNX export beside it."""
    return model_path.with_suffix(ONNX_SUFFIX) if backend == "onnx" else model_path


class ModelFormatError(Exception):
    """The model file exists but cannot be read as a model."""
