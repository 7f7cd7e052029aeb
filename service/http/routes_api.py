"""The JSON API: classify one photo, classify many, describe the model."""

from __future__ import annotations

import time
from typing import Any

from fastapi import APIRouter, Request, Response

from service.engine.pipeline import BatchClassified, Classified
from service.engine.selftest import SelfTestResult
from service.http.dependencies import (
    MeasurementsStateDep,
    ModelStateDep,
    PipelineDep,
    SettingsDep,
)
from service.http.errors import ErrorDetail, error_responses
from service.http.request_context import log_summary, note_for_log
from service.http.routes_measurements import describe_measurements_model
from service.http.schemas import (
    BatchItem,
    BatchItemError,
    BatchResponse,
    ModelInfo,
    PredictionFields,
    PredictionResponse,
    SelfTestInfo,
)
from service.http.server_timing import note_timing, server_timing, timing_of
from service.http.uploads import read_files, read_upload
from service.http.wording import rejection_message
from service.model.classifier import Prediction
from service.model.errors import ApiError
from service.model.metadata import ModelMetadata

router = APIRouter(tags=["classification"])

PREDICT_DESCRIPTION = """
Send one photo, either as the multipart form field `file`:

    curl -F file=@photo.jpg http://localhost:8080/predict

or as the raw request body with its image content type:

    curl --data-binary @photo.jpg -H 'Content-Type: image/jpeg' http://localhost:8080/predict

JPEG, PNG, WebP, GIF (first frame) and BMP are accepted, in any colour mode; the EXIF
orientation is applied. When no species is trusted the answer is `no_penguin` with
`rejected: true` and a `message`.
"""

BATCH_DESCRIPTION = """
Send several photos as repeated multipart fields `files`; the answer has one entry per file,
in order. A file that cannot be classified gets an `error` entry and does not fail the others:

    curl -F files=@one.jpg -F files=@two.png http://localhost:8080/predict/batch
"""

_BINARY = {"type": "string", "format": "binary"}
# The usual names; RAW_IMAGE_TYPES also accepts a few legacy aliases (image/jpg, image/x-ms-bmp).
DOCUMENTED_RAW_TYPES = ("image/jpeg", "image/png", "image/webp", "image/gif", "image/bmp",
                        "application/octet-stream")
PREDICT_REQUEST_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "description": "The photo, as form field `file` or as the raw body.",
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {"file": {**_BINARY, "description": "The photo."}},
                },
            },
            **{media_type: {"schema": _BINARY} for media_type in DOCUMENTED_RAW_TYPES},
        },
    }
}

BATCH_REQUEST_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["files"],
                    "properties": {"files": {
                        "type": "array", "items": _BINARY,
                        "description": "The photos, one `files` part each."}},
                },
            },
        },
    }
}

_EXAMPLE_PROBABILITIES = {"Adelie": 0.9812, "Chinstrap": 0.0103, "Gentoo": 0.0061,
                          "no_penguin": 0.0024}
PREDICT_EXAMPLES = {
    200: {
        "description": "The species, or a rejection, with every label's probability.",
        "content": {"application/json": {"examples": {
            "species": {"summary": "A penguin", "value": {
                "species": "Adelie", "confidence": 0.9812, "probabilities": _EXAMPLE_PROBABILITIES,
                "rejected": False, "message": None, "model_version": "1.0.0",
                "timing_ms": {"decode": 4.1, "queue": 0.2, "inference": 11.6,
                              "total": 17.3}}},
            "rejected": {"summary": "No penguin", "value": {
                "species": "no_penguin", "confidence": 0.91,
                "probabilities": {"Adelie": 0.03, "Chinstrap": 0.02, "Gentoo": 0.04,
                                  "no_penguin": 0.91},
                "rejected": True, "message": rejection_message(["Adelie", "Chinstrap", "Gentoo"]),
                "model_version": "1.0.0",
                "timing_ms": {"decode": 3.9, "queue": 0.1, "inference": 11.1,
                              "total": 16.4}}},
        }}},
    },
}


@router.post(
    "/predict",
    response_model=PredictionResponse,
    summary="Classify one photo",
    description=PREDICT_DESCRIPTION,
    openapi_extra=PREDICT_REQUEST_BODY,
    responses={**PREDICT_EXAMPLES, **error_responses(400, 413, 415, 422, 500, 503)},
)
async def predict(request: Request, response: Response,
                  pipeline: PipelineDep) -> PredictionResponse:
    """Single-photo classification: read, decode, predict, answer."""
    started = time.perf_counter()
    upload = await read_upload(request)
    classified = await pipeline.classify(upload)
    note_timing(request, classified)
    answer = encode_response(classified, pipeline.metadata, started)
    response.headers.update(server_timing(answer.timing_ms))
    return answer


@router.post(
    "/predict/batch",
    response_model=BatchResponse,
    summary="Classify several photos",
    description=BATCH_DESCRIPTION,
    openapi_extra=BATCH_REQUEST_BODY,
    responses=error_responses(400, 413, 415, 422, 500, 503),
)
async def predict_batch(
    request: Request,
    response: Response,
    pipeline: PipelineDep,
    settings: SettingsDep,
) -> BatchResponse:
    """Batch classification: per-file errors are reported in place, the rest are classified."""
    started = time.perf_counter()
    uploads = await read_files(request, settings.max_batch_files)
    batch = await pipeline.classify_many(uploads)
    note_for_log(request.scope, predictions=[
        log_summary(outcome) for outcome in batch.outcomes if isinstance(outcome, Prediction)],
        file_errors=[outcome.code for outcome in batch.outcomes if isinstance(outcome, ApiError)],
        decode_ms=batch.decode_ms, queue_ms=batch.queue_ms, inference_ms=batch.inference_ms)
    filenames = [upload.filename for upload in uploads]
    answer = encode_batch_response(batch, filenames, pipeline.metadata, started)
    response.headers.update(server_timing(answer.timing_ms))
    return answer


@router.get(
    "/model",
    response_model=ModelInfo,
    summary="Describe the model",
    responses=error_responses(500, 503),
)
async def model_info(
    pipeline: PipelineDep, state: ModelStateDep, measurements: MeasurementsStateDep,
    settings: SettingsDep,
) -> ModelInfo:
    """The metadata of the models that answer, so clients can log which version they used,
    the backend running it, and the photo model's self-test result."""
    assert state.selftest is not None  # a ready model has run its self-test
    info = encode_model_info(pipeline.metadata, state.selftest, settings.model_backend,
                             pipeline.runner.classifier.precision)
    if measurements.model is not None:
        info.measurements = describe_measurements_model(measurements.model)
    return info


def encode_response(
    classified: Classified, metadata: ModelMetadata, started: float
) -> PredictionResponse:
    """A prediction and its timings as the /predict JSON body."""
    return PredictionResponse(
        **_prediction_fields(classified.prediction, metadata).model_dump(),
        model_version=metadata.version,
        timing_ms=timing_of(classified, started),
    )


def encode_batch_response(
    batch: BatchClassified, filenames: list[str], metadata: ModelMetadata, started: float
) -> BatchResponse:
    """Batch outcomes as the /predict/batch JSON body, one entry per file in order."""
    results: list[BatchItem | BatchItemError] = []
    for filename, outcome in zip(filenames, batch.outcomes, strict=True):
        if isinstance(outcome, ApiError):
            error = ErrorDetail(code=outcome.code, message=outcome.message)
            results.append(BatchItemError(filename=filename, error=error))
        else:
            fields = _prediction_fields(outcome, metadata).model_dump()
            results.append(BatchItem(filename=filename, **fields))
    return BatchResponse(
        results=results,
        model_version=metadata.version,
        timing_ms=timing_of(batch, started),
    )


def encode_model_info(metadata: ModelMetadata, selftest: SelfTestResult, backend: str,
                      precision: str) -> ModelInfo:
    """The model's metadata as the /model JSON body."""
    return ModelInfo(
        version=metadata.version,
        architecture=metadata.architecture,
        format=metadata.format,
        backend=backend,
        precision=precision,
        created_at=metadata.created_at,
        sha256=metadata.sha256,
        labels=metadata.labels,
        species=metadata.species,
        reject_label=metadata.rejection.label,
        input_size=metadata.preprocessing.input_size,
        preprocessing=metadata.preprocessing.model_dump(),
        temperature=metadata.temperature,
        min_species_probability=metadata.rejection.min_species_probability,
        metrics=metadata.metrics,
        training=metadata.training,
        selftest=SelfTestInfo(status=str(selftest.status), detail=selftest.detail,
                              references=selftest.references,
                              largest_difference=selftest.largest_difference,
                              tolerance=selftest.tolerance),
    )


def _prediction_fields(prediction: Prediction, metadata: ModelMetadata) -> PredictionFields:
    return PredictionFields(
        species=prediction.species,
        confidence=round(prediction.confidence, 4),
        probabilities={label: round(p, 4) for label, p in prediction.probabilities.items()},
        rejected=prediction.rejected,
        message=rejection_message(metadata.species) if prediction.rejected else None,
    )

