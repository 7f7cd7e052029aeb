"""The one module that knows the model file format (TorchScript today).

Export and loading live here together so that a later move to another format (torch.export,
ONNX) changes this file only. torch 2.14 marks every `torch.jit` entry point as deprecated with a
FutureWarning; TorchScript is still this product's contract, so exactly those warnings are
silenced, and only around our own calls.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator
from pathlib import Path

import torch

FORMAT_NAME = "torchscript"
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
    try:
        with _jit_deprecation_silenced():
            module = torch.jit.load(str(path), map_location="cpu")
    except (RuntimeError, ValueError, OSError) as error:
        raise ModelFormatError(f"{path} is not a loadable {FORMAT_NAME} model: {error}") from error
    return module.eval()


class ModelFormatError(Exception):
    """The model file exists but cannot be read as a model."""
