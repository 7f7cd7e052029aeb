"""The Open Inference Protocol (KServe v2, also spoken by Triton), for clients that speak it.

Health, server and model metadata, and `infer`, which takes the photos as one BYTES input whose
elements are base64 strings (the protocol's JSON form of binary data) and answers each photo's
probabilities and label as outputs. Inference goes through the same pipeline as /predict/batch:
the same micro-batches, queue bound, deadlines and limits (`MAX_BATCH_UPLOAD_BYTES` for the body,
`MAX_UPLOAD_BYTES` per photo, `MAX_BATCH_FILES` photos). Errors take the protocol's shape,
`{"error": "..."}` (service/http/app.py renders them so for every path under /v2).
"""

from __future__ import annotations

import base64
import binascii
import math
import time
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field, ValidationError
from starlette.concurrency import run_in_threadpool

from service.engine.pipeline import BatchClassified, ClassificationPipeline, Upload
from service.http.dependencies import ModelStateDep, PipelineDep, SettingsDep
from service.http.request_context import log_summary, note_for_log
from service.http.server_timing import server_timing, timing_of
from service.model.classifier import Prediction
from service.model.errors import ApiError

# Not in /docs: the protocol's own specification (KServe's and Triton's) documents these paths,
# their bodies and their error object, which is not the product's error shape.
router = APIRouter(prefix="/v2", include_in_schema=False)

PREFIX = "/v2"
MODEL_NAME = "penguin-classifier"
INFER_PATH = f"{PREFIX}/models/{MODEL_NAME}/infer"
INPUT_NAME = "image"
PROBABILITIES = "probabilities"
LABEL = "label"
PLATFORMS = {"torchscript": "pytorch_torchscript", "onnx": "onnxruntime_onnx"}


class MetadataTensor(BaseModel):
    name: str
    datatype: str
    shape: list[int]


class RequestInput(BaseModel):
    name: str
    shape: list[int]
    datatype: str
    parameters: dict[str, Any] | None = None
    data: list[Any]


class RequestOutput(BaseModel):
    name: str
    parameters: dict[str, Any] | None = None


class InferenceRequest(BaseModel):
    id: str | None = None
    parameters: dict[str, Any] | None = None
    inputs: list[RequestInput] = Field(min_length=1)
    outputs: list[RequestOutput] | None = None


class ResponseOutput(BaseModel):
    name: str
    shape: list[int]
    datatype: str
    parameters: dict[str, Any] | None = None
    data: list[Any]


class InferenceResponse(BaseModel):
    model_name: str
    model_version: str
    id: str | None = None
    outputs: list[ResponseOutput]


@router.get("", summary="Server metadata")
async def server_metadata(request: Request) -> dict[str, Any]:
    return {"name": MODEL_NAME, "version": request.app.version, "extensions": []}


@router.get("/health/live", summary="Server live")
async def server_live() -> dict[str, bool]:
    """Live whenever the process answers, as /healthz."""
    return {"live": True}


@router.get("/health/ready", summary="Server ready")
async def server_ready(state: ModelStateDep) -> dict[str, bool]:
    """Ready when the model is (verified, warm, self-tested); a 503 with the reason otherwise."""
    state.require_pipeline()
    return {"ready": True}


@router.get(f"/models/{MODEL_NAME}", summary="Model metadata")
async def model_metadata(pipeline: PipelineDep, settings: SettingsDep) -> dict[str, Any]:
    """The one input (encoded photos) and the two outputs, per photo."""
    labels = len(pipeline.metadata.labels)
    return {
        "name": MODEL_NAME,
        "versions": [pipeline.metadata.version],
        "platform": PLATFORMS[settings.model_backend],
        "inputs": [MetadataTensor(name=INPUT_NAME, datatype="BYTES", shape=[-1]).model_dump()],
        "outputs": [
            MetadataTensor(name=PROBABILITIES, datatype="FP32", shape=[-1, labels]).model_dump(),
            MetadataTensor(name=LABEL, datatype="BYTES", shape=[-1]).model_dump(),
        ],
    }


@router.get(f"/models/{MODEL_NAME}/ready", summary="Model ready")
async def model_ready(pipeline: PipelineDep) -> dict[str, Any]:
    return {"name": MODEL_NAME, "ready": True}


@router.post(f"/models/{MODEL_NAME}/infer", summary="Inference",
             response_model=InferenceResponse, response_model_exclude_none=True)
async def infer(request: Request, response: Response, pipeline: PipelineDep,
                settings: SettingsDep) -> InferenceResponse:
    """Classify the photos of the BYTES input `image` (base64 strings), all in one request."""
    started = time.perf_counter()
    body = await request.body()
    # Parsing JSON and base64 of up to MAX_BATCH_UPLOAD_BYTES takes a while: off the event loop.
    parsed, uploads = await run_in_threadpool(read_infer_request, body, settings.max_batch_files)
    requested = requested_outputs(parsed)
    batch = await pipeline.classify_many(uploads)
    predictions = predictions_or_error(batch, uploads)
    note_for_log(request.scope, predictions=[log_summary(p) for p in predictions],
                 decode_ms=batch.decode_ms, queue_ms=batch.queue_ms,
                 inference_ms=batch.inference_ms)
    response.headers.update(server_timing(timing_of(batch, started)))
    return encode_infer_response(parsed, predictions, pipeline, requested)


def read_infer_request(body: bytes, max_photos: int) -> tuple[InferenceRequest, list[Upload]]:
    """The request and its photos, or a 400 (413 for too many photos) saying what is wrong."""
    try:
        parsed = InferenceRequest.model_validate_json(body)
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in problem['loc']) or 'body'}: {problem['msg']}"
            for problem in error.errors(include_url=False))
        raise bad_request(f"The request is not an inference request: {problems}.") from error
    if [item.name for item in parsed.inputs] != [INPUT_NAME]:
        raise bad_request(f"Send exactly one input, '{INPUT_NAME}' (got "
                          f"{', '.join(repr(item.name) for item in parsed.inputs)}).")
    (image,) = parsed.inputs
    if image.datatype != "BYTES":
        raise bad_request(f"Input '{INPUT_NAME}' must have datatype BYTES, not {image.datatype}.")
    elements = _flatten(image.data)
    if math.prod(image.shape) != len(elements) or not elements:
        raise bad_request(f"Input '{INPUT_NAME}' has shape {image.shape} but {len(elements)} "
                          "elements; send shape [N] with N base64-encoded photos.")
    if len(elements) > max_photos:
        raise ApiError(413, "too_many_files",
                       f"{len(elements)} photos were sent; at most {max_photos} are accepted "
                       "per request. Split them into several requests.")
    uploads = [Upload(f"{INPUT_NAME}[{index}]", _base64(element, index))
               for index, element in enumerate(elements)]
    return parsed, uploads


def requested_outputs(parsed: InferenceRequest) -> list[str]:
    """The outputs asked for, in order; all of them when the request names none."""
    if parsed.outputs is None:
        return [PROBABILITIES, LABEL]
    names = [output.name for output in parsed.outputs]
    unknown = [name for name in names if name not in (PROBABILITIES, LABEL)]
    if unknown:
        raise bad_request(f"Unknown output {', '.join(map(repr, unknown))}; this model has "
                          f"'{PROBABILITIES}' and '{LABEL}'.")
    return names


def predictions_or_error(batch: BatchClassified, uploads: list[Upload]) -> list[Prediction]:
    """The protocol has no per-photo errors: the first photo that failed fails the request,
    its message naming the photo (`image[1]`)."""
    for upload, outcome in zip(uploads, batch.outcomes, strict=True):
        if isinstance(outcome, ApiError):
            message = outcome.message
            if upload.filename not in message:
                message = f"{upload.filename}: {message}"
            raise ApiError(outcome.status, outcome.code, message, outcome.headers)
    return [outcome for outcome in batch.outcomes if isinstance(outcome, Prediction)]


def encode_infer_response(parsed: InferenceRequest, predictions: list[Prediction],
                          pipeline: ClassificationPipeline, requested: list[str]
                          ) -> InferenceResponse:
    labels = pipeline.metadata.labels
    outputs = {
        PROBABILITIES: ResponseOutput(
            name=PROBABILITIES, datatype="FP32", shape=[len(predictions), len(labels)],
            parameters={"labels": labels},
            data=[p.probabilities[label] for p in predictions for label in labels]),
        LABEL: ResponseOutput(name=LABEL, datatype="BYTES", shape=[len(predictions)],
                              data=[p.species for p in predictions]),
    }
    return InferenceResponse(model_name=MODEL_NAME, model_version=pipeline.metadata.version,
                             id=parsed.id, outputs=[outputs[name] for name in requested])


def is_protocol_path(path: str) -> bool:
    return path == PREFIX or path.startswith(PREFIX + "/")


def protocol_error_response(error: ApiError) -> JSONResponse:
    """The protocol's error object, one string; the status and headers (Retry-After) as the
    rest of the API gives them."""
    return JSONResponse({"error": error.message}, status_code=error.status, headers=error.headers)


def bad_request(message: str) -> ApiError:
    return ApiError(400, "invalid_inference_request", message)


def _flatten(data: list[Any]) -> list[Any]:
    """Tensor data may be nested by dimension or flat (row-major); the photos, in order."""
    flat: list[Any] = []
    for element in data:
        flat.extend(_flatten(element) if isinstance(element, list) else [element])
    return flat


def _base64(element: Any, index: int) -> bytes:
    if not isinstance(element, str):
        raise bad_request(f"Element {index} of input '{INPUT_NAME}' is not a string; send each "
                          "photo as a base64 string.")
    try:
        return base64.b64decode(element, validate=True)
    except binascii.Error as error:
        raise bad_request(f"Element {index} of input '{INPUT_NAME}' is not valid base64 "
                          f"({error}).") from error
