"""Export a trained network as TorchScript with the metadata that travels with it, its known
answers (the start-up self-test's references) included."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import torch

from service.model.classifier import Classifier
from service.model.formats import FORMAT_NAME, export_model, load_model
from service.model.known_answers import record_known_answers
from service.model.metadata import (
    ModelMetadata,
    Preprocessing,
    Rejection,
    sha256_of,
    write_metadata,
)
from service.model.torch_network import TorchScriptNetwork

PARITY_TOLERANCE = 1e-4


def export_classifier(
    model: torch.nn.Module,
    model_path: Path,
    *,
    architecture: str,
    version: str,
    labels: list[str],
    preprocessing: Preprocessing,
    temperature: float,
    rejection: Rejection,
    check_batch: torch.Tensor,
    training: dict | None = None,
    metrics: dict | None = None,
) -> ModelMetadata:
    """Write the model and its metadata, after proving the export computes what the model does.

    The parity check runs the exported file on `check_batch` and compares with the eager model:
    a scripting or freezing bug would otherwise ship silently. The known answers are what the
    exported file (not the eager model) gives the reference photos: what the service must match.
    """
    model = model.eval()
    model_path.parent.mkdir(parents=True, exist_ok=True)
    export_model(model, model_path)
    _check_parity(model, model_path, check_batch)
    metadata = ModelMetadata(
        format=FORMAT_NAME,
        model_file=model_path.name,
        sha256=sha256_of(model_path),
        architecture=architecture,
        version=version,
        created_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        labels=labels,
        preprocessing=preprocessing,
        temperature=temperature,
        rejection=rejection,
        training=training or {},
        metrics=metrics or {},
    )
    served = TorchScriptNetwork(load_model(model_path), preprocessing,
                                threads=torch.get_num_threads())
    exported = Classifier(network=served, metadata=metadata)
    metadata = metadata.model_copy(update={"known_answers": record_known_answers(exported)})
    write_metadata(model_path, metadata)
    return metadata


def _check_parity(model: torch.nn.Module, model_path: Path, batch: torch.Tensor) -> None:
    with torch.inference_mode():
        expected = model(batch)
        actual = load_model(model_path)(batch)
    difference = (expected - actual).abs().max().item()
    if difference > PARITY_TOLERANCE:
        raise RuntimeError(
            f"exported model differs from the trained one by {difference:.2e} "
            f"(tolerance {PARITY_TOLERANCE:.0e}); refusing to ship it"
        )
