"""The metadata that travels beside every model file, and the checks that bind the two.

The model file is treated as code: before it is loaded, its SHA-256 must match the one recorded
at export. Everything needed to use the model (labels, preprocessing, temperature, rejection
rule) is read from here, so serving never repeats constants that training chose.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, ValidationError

from service.model.formats import MADE_BY, Backend

REJECT_LABEL = "no_penguin"


class Preprocessing(BaseModel):
    """How a decoded photo becomes the model's input tensor."""

    input_size: int = Field(gt=0, description="Side of the square input, in pixels.")
    resize: Literal["squash"] = Field(
        description="'squash': the whole photo is resized to a square, aspect ratio not kept, "
        "so a penguin near the border is never cropped away."
    )
    interpolation: Literal["bilinear"]
    mean: tuple[float, float, float]
    std: tuple[float, float, float]


class Rejection(BaseModel):
    """When the answer is 'no penguin' instead of a species."""

    label: str = Field(description="Output class that means 'none of the three species'.")
    min_species_probability: float = Field(
        ge=0.0, le=1.0, description="Below this, the best species is not trusted and rejected."
    )


# Per probability, absolute. Far above what a batch size, a memory layout or ONNX Runtime change
# (about 1e-6 here), far below what a wrong preprocessing or decoder does (0.01 to 1).
KNOWN_ANSWER_TOLERANCE = 1e-3


class KnownAnswer(BaseModel):
    """One reference photo and the calibrated probabilities the exported model gave it."""

    name: str
    png_base64: str = Field(description="The photo, a small PNG (so decoding is exercised).")
    probabilities: dict[str, float] = Field(description="Every label's probability, exactly.")


class KnownAnswers(BaseModel):
    """The start-up self-test: served photos must get these answers within the tolerance."""

    tolerance: float = Field(KNOWN_ANSWER_TOLERANCE, gt=0.0,
                             description="Largest difference allowed per probability.")
    seed: int = Field(description="What the reference photos were generated from.")
    references: list[KnownAnswer] = Field(min_length=1)


class ModelMetadata(BaseModel):
    """Everything needed to use, verify and describe one exported model file."""

    format: str
    model_file: str = Field(description="File name of the model, beside this metadata file.")
    sha256: str
    architecture: str
    version: str
    created_at: str
    labels: list[str] = Field(description="Model outputs in order, the reject class included.")
    preprocessing: Preprocessing
    temperature: float = Field(gt=0.0, description="Logits are divided by this before softmax.")
    rejection: Rejection
    training: dict = Field(default_factory=dict)
    metrics: dict = Field(default_factory=dict)
    onnx_sha256: str | None = Field(
        None, description="SHA-256 of the same network exported as ONNX beside the model file "
        "(training/export_onnx.py), for MODEL_BACKEND=onnx; absent when there is none.")
    known_answers: KnownAnswers | None = Field(
        None, description="Reference photos and the answers the exported model gave them, "
        "checked at start-up (training/selftest.py); absent in models exported before them.")

    def recorded_sha256(self, backend: Backend) -> str | None:
        """The SHA-256 recorded at export for the file `backend` runs (formats.backend_file)."""
        return self.onnx_sha256 if backend == "onnx" else self.sha256

    @property
    def species(self) -> list[str]:
        """The labels a prediction may name, without the reject class."""
        return [label for label in self.labels if label != self.rejection.label]


class ModelIntegrityError(Exception):
    """The model file or its metadata is missing, unreadable, or they do not belong together."""


def metadata_path_for(model_path: Path) -> Path:
    """The metadata file travels beside the model with the same name and a .json suffix."""
    return model_path.with_suffix(".json")


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_metadata(model_path: Path) -> ModelMetadata:
    path = metadata_path_for(model_path)
    try:
        return ModelMetadata.model_validate_json(path.read_bytes())
    except FileNotFoundError as error:
        raise ModelIntegrityError(f"metadata file {path} is missing") from error
    except OSError as error:
        raise ModelIntegrityError(f"metadata file {path} is unreadable: {error}") from error
    except ValidationError as error:
        raise ModelIntegrityError(
            f"metadata file {path} is unreadable: {_summarise(error)}") from error


def _summarise(error: ValidationError) -> str:
    """Pydantic's report in one line (it spans several, with URLs), for logs and 503 bodies."""
    return "; ".join(
        f"{'.'.join(str(part) for part in problem['loc']) or 'file'}: {problem['msg']}"
        for problem in error.errors()
    )


def write_metadata(model_path: Path, metadata: ModelMetadata) -> Path:
    path = metadata_path_for(model_path)
    path.write_text(metadata.model_dump_json(indent=2) + "\n")
    return path


def verify_model_file(path: Path, metadata: ModelMetadata,
                      backend: Backend = "torchscript") -> None:
    """Refuse a file that is missing, or is not the one the metadata recorded for `backend`:
    the one check that every model file passes before it is loaded, whatever runs it."""
    if not path.is_file():
        raise ModelIntegrityError(f"model file {path} is missing; it is written by "
                                  f"{MADE_BY[backend]}")
    expected = metadata.recorded_sha256(backend)
    if expected is None:
        raise ModelIntegrityError(f"the metadata beside {path} records no SHA-256 for it, so it "
                                  f"cannot be verified; it is written by {MADE_BY[backend]}")
    actual = sha256_of(path)
    if actual != expected:
        raise ModelIntegrityError(
            f"model file {path} has SHA-256 {actual} but its metadata expects "
            f"{expected}: the file is corrupted or was replaced"
        )

