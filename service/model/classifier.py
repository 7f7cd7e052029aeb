"""A verified model and the rule that turns its logits into an answer.

Shared by the HTTP service, the batch command and training's evaluation, so that all three
apply the same temperature and the same no-penguin rejection.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import ArrayLike

from service.model.formats import Backend, ModelFormatError, backend_file
from service.model.metadata import (
    ModelIntegrityError,
    ModelMetadata,
    read_metadata,
    verify_model_file,
)
from service.model.networks import ExecutedPrecision, Network, Precision, load_network


@dataclass(frozen=True)
class Prediction:
    """One photo's answer: a species, or the reject label when no species is trusted."""

    species: str
    confidence: float
    probabilities: dict[str, float]
    rejected: bool


@dataclass(frozen=True)
class Classifier:
    """A model whose file was verified against its metadata, ready for inference."""

    network: Network  # the backend running the verified file (networks.py)
    metadata: ModelMetadata

    @property
    def module(self) -> object:
        """The backend's own model object (the TorchScript module, for training's tools)."""
        return self.network.module

    @property
    def precision(self) -> ExecutedPrecision:
        """What its forward passes compute in."""
        return self.network.precision

    def logits(self, pixels: np.ndarray) -> np.ndarray:
        """(N, H, W, 3) uint8 photos at the input size to their (N, labels) logits."""
        return self.network(pixels)

    def predict(self, pixels: np.ndarray) -> list[Prediction]:
        return interpret(self.logits(pixels), self.metadata)


def calibrated_probabilities(logits: ArrayLike, temperature: float) -> np.ndarray:
    """Softmax of the logits over the temperature, row by row, in float32 as the network's
    own arithmetic."""
    scaled = np.asarray(logits, dtype=np.float32) / np.float32(temperature)
    scaled -= scaled.max(axis=-1, keepdims=True)
    exponentials = np.exp(scaled)
    return exponentials / exponentials.sum(axis=-1, keepdims=True)


def interpret(logits: ArrayLike, metadata: ModelMetadata) -> list[Prediction]:
    """Apply the calibration temperature and the rejection rule to a batch of logits.

    A photo is rejected when the reject class wins, or when the best species is less probable
    than the metadata's threshold. `confidence` is always the probability of the answer given,
    so a rejection's confidence is the probability of 'none of the three species'.
    """
    probabilities = calibrated_probabilities(logits, metadata.temperature)
    reject_index = metadata.labels.index(metadata.rejection.label)
    species_probs = probabilities.copy()
    species_probs[:, reject_index] = -1.0
    best_species = species_probs.argmax(axis=-1)
    predictions = []
    for row, best in zip(probabilities.tolist(), best_species.tolist(), strict=True):
        best_probability = row[best]
        rejected = (
            row[reject_index] >= best_probability
            or best_probability < metadata.rejection.min_species_probability
        )
        answer = reject_index if rejected else best
        predictions.append(
            Prediction(
                species=metadata.labels[answer],
                confidence=row[answer],
                probabilities=dict(zip(metadata.labels, row, strict=True)),
                rejected=rejected,
            )
        )
    return predictions


def load_classifier(model_path: Path, *, backend: Backend = "torchscript",
                    threads: int = 1, precision: Precision = "float32") -> Classifier:
    """Read the metadata beside `model_path`, verify the file `backend` runs against the
    checksum recorded for it, load it and check its outputs.

    TorchScript (the contract) runs `model_path` itself; ONNX Runtime (MODEL_BACKEND=onnx) runs
    its ONNX export beside it, on `threads` threads. `precision` is what the forward pass
    computes in (TorchScript only; float32, the default, is what the metadata's figures and
    known answers were recorded in). Both go through the same verification:
    raises `ModelIntegrityError` with the exact reason when any step fails, and nothing is
    loaded from a file whose checksum does not match.
    """
    if not model_path.is_file():  # named first: "the model is missing" is the likelier news
        raise ModelIntegrityError(f"model file {model_path} is missing")
    metadata = read_metadata(model_path)
    path = backend_file(model_path, backend)
    verify_model_file(path, metadata, backend)
    try:
        network = load_network(path, backend, metadata.preprocessing, threads=threads,
                               precision=precision)
    except ModelFormatError as error:
        raise ModelIntegrityError(str(error)) from error
    _check_outputs(network, metadata)
    return Classifier(network=network, metadata=metadata)


def _check_outputs(network: Network, metadata: ModelMetadata) -> None:
    """A model whose outputs do not match the labels would name the wrong species."""
    size = metadata.preprocessing.input_size
    try:
        logits = network(np.zeros((1, size, size, 3), dtype=np.uint8))
    except RuntimeError as error:
        raise ModelIntegrityError(
            f"model does not accept a 1x3x{size}x{size} input as its metadata says: {error}"
        ) from error
    if tuple(logits.shape) != (1, len(metadata.labels)):
        raise ModelIntegrityError(
            f"model outputs shape {tuple(logits.shape)} but its metadata lists "
            f"{len(metadata.labels)} labels {metadata.labels}"
        )
    if metadata.rejection.label not in metadata.labels:
        raise ModelIntegrityError(
            f"rejection label {metadata.rejection.label!r} is not among labels {metadata.labels}"
        )
