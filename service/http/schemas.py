"""The JSON bodies the API answers with (errors excepted: see errors.py)."""

from __future__ import annotations

from pydantic import BaseModel, Field

from service.http.errors import ErrorDetail


class Timing(BaseModel):
    """Where the request's time went, milliseconds; the same figures as its Server-Timing."""

    decode: float = Field(description="Decoding and preprocessing the image, milliseconds.")
    queue: float = Field(description="Waiting for a batch to start, milliseconds.")
    inference: float = Field(description="The batch's forward pass, milliseconds.")
    total: float = Field(description="Handling the request in the service, milliseconds.")


class PredictionFields(BaseModel):
    species: str = Field(description="The species, or `no_penguin` when the photo is rejected.")
    confidence: float = Field(
        description="Calibrated probability of the answer given; for a rejection, of `no_penguin`."
    )
    probabilities: dict[str, float] = Field(description="Calibrated probability of every label.")
    rejected: bool = Field(description="True when no species is trusted for this photo.")
    message: str | None = Field(
        None, description="For a rejection, a sentence saying so; null otherwise."
    )


class PredictionResponse(PredictionFields):
    model_version: str
    timing_ms: Timing


class BatchItem(PredictionFields):
    filename: str


class BatchItemError(BaseModel):
    filename: str
    error: ErrorDetail


class BatchResponse(BaseModel):
    results: list[BatchItem | BatchItemError] = Field(description="One entry per file, in order.")
    model_version: str
    timing_ms: Timing


class HealthResponse(BaseModel):
    status: str = "ok"


class ReadyResponse(BaseModel):
    status: str = "ready"
    model_version: str
    measurements_model_version: str


class SelfTestInfo(BaseModel):
    """The start-up self-test: the model's known answers, asked through the serving path."""

    status: str = Field(description="`passed`, `failed` or `not recorded` (the model's "
                        "metadata has no known answers).")
    detail: str
    references: int = Field(description="Reference photos checked.")
    largest_difference: float | None = Field(
        description="Largest difference of any probability from its record.")
    tolerance: float | None = Field(description="Largest difference allowed.")


class ModelInfo(BaseModel):
    """What a client may want to know about the model that answers."""

    version: str
    architecture: str
    format: str
    backend: str = Field(description="What runs the network (MODEL_BACKEND): `torchscript`, the "
                         "model file itself, or `onnx`, ONNX Runtime on its ONNX export.")
    precision: str = Field(description="What the forward pass computes in (INFERENCE_PRECISION "
                           "as resolved on this machine): `float32` or `bfloat16`.")
    created_at: str
    sha256: str
    labels: list[str] = Field(description="Every output label, the reject label included.")
    species: list[str]
    reject_label: str
    input_size: int
    preprocessing: dict
    temperature: float
    min_species_probability: float
    metrics: dict
    training: dict
    selftest: SelfTestInfo
    measurements: dict | None = Field(
        None, description="The measurements model of /predict/measurements: features (units, "
        "ranges seen in training, categories), labels, version, SHA-256, cross-validated "
        "accuracy and calibration; null while it is not loaded (see /readyz).")
