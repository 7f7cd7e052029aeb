"""POST /predict/measurements: a penguin's species from its measurements (the web face).

One record as a JSON object answers like a photo; a JSON list or a CSV file (multipart field
`file`, or a raw text/csv body) answers one result per row, in order, a bad row getting its own
error without failing the others. Parsing and evaluation run in a worker thread: a 10 MiB CSV
must not stall the event loop that serves every other request.
"""

from __future__ import annotations

import asyncio
import csv
import json
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, Field
from starlette.datastructures import UploadFile

from service.http.dependencies import MeasurementsModelDep, PagesDep, SettingsDep
from service.http.errors import ErrorDetail, error_responses
from service.http.request_context import note_for_log
from service.http.routes_web import html_page
from service.http.uploads import MULTIPART, media_type_of
from service.model.errors import ApiError
from service.model.measurements import MeasurementsModel, NumberFeature
from service.model.measurements_records import (
    Answer,
    RecordRejected,
    answer,
    answer_each,
    check_list_size,
    read_csv_rows,
)

router = APIRouter(tags=["measurements"])
# The web page's "I have measurements" form posts here without JavaScript (not in the API docs).
page_router = APIRouter(include_in_schema=False)

PATH = "/predict/measurements"
JSON_TYPES = frozenset({"application/json", "text/json"})
CSV_TYPES = frozenset({"text/csv", "application/csv"})


class MeasurementFields(BaseModel):
    species: str = Field(description="The most probable species.")
    confidence: float = Field(description="Probability of that species (cross-validated "
                                          "calibration: see the model card's ECE).")
    probabilities: dict[str, float] = Field(description="Probability of every species.")
    features_used: list[str] = Field(description="The features the answer is based on.")
    features_missing: list[str] = Field(
        description="Optional features not given: the answer comes from the submodel trained "
        "without them.")
    warnings: list[str] = Field(
        description="Values outside the range seen in training (the answer is then an "
        "extrapolation) and ignored unknown fields.")


class MeasurementResponse(MeasurementFields):
    model_version: str


class MeasurementRow(MeasurementFields):
    row: int = Field(description="1 for the first record: the first list item, or the first "
                                 "CSV line after the header (blank lines are skipped).")


class MeasurementRowError(BaseModel):
    row: int
    error: ErrorDetail
    fields: list[str] = Field(description="The fields at fault.")


class MeasurementBatchResponse(BaseModel):
    results: list[MeasurementRow | MeasurementRowError] = Field(
        description="One entry per record, in order.")
    model_version: str


DESCRIPTION = """
The species of a penguin from its measurements, by a model trained on the 342 measured birds of
the Palmer Penguins data (model card: weights/MEASUREMENTS_MODEL_CARD.md; features, units,
ranges and categories: `GET /model`, field `measurements`).

Required: `bill_length_mm`, `bill_depth_mm`, `flipper_length_mm` (positive numbers). Optional:
`body_mass_g`, `year`, `sex` (female, male), `island` (Biscoe, Dream, Torgersen); the answer
names the optional features it went without in `features_missing`. A value outside the range
seen in training is answered, with a `warnings` entry.

    curl -H 'Content-Type: application/json' http://localhost:8080/predict/measurements \\
      -d '{"bill_length_mm": 45.1, "bill_depth_mm": 14.5, "flipper_length_mm": 210,
           "body_mass_g": 4500, "sex": "male", "island": "Biscoe", "year": 2008}'

Several birds: a JSON list of such objects, or a CSV file with a header row of those names
(other columns are ignored; empty or `NA` cells mean not measured):

    curl -F file=@birds.csv http://localhost:8080/predict/measurements

answers `results`, one entry per record in order; a bad record gets an `error` entry naming its
fields and does not fail the others. A single bad object, an empty list, too many records or a
CSV without a required column is answered 422.
"""

EXAMPLE_BIRD = {"bill_length_mm": 45.1, "bill_depth_mm": 14.5, "flipper_length_mm": 210,
                "body_mass_g": 4500, "sex": "male", "island": "Biscoe", "year": 2008}
EXAMPLE_ANSWER = {
    "species": "Gentoo", "confidence": 0.9982,
    "probabilities": {"Adelie": 0.0015, "Chinstrap": 0.0003, "Gentoo": 0.9982},
    "features_used": ["bill_length_mm", "bill_depth_mm", "flipper_length_mm", "body_mass_g",
                      "year", "sex", "island"],
    "features_missing": [], "warnings": [], "model_version": "1.0.0"}
REQUEST_BODY: dict[str, Any] = {"requestBody": {"required": True, "content": {
    "application/json": {
        "schema": {"oneOf": [{"type": "object"}, {"type": "array", "items": {"type": "object"}}]},
        "examples": {
            "one bird": {"value": EXAMPLE_BIRD},
            "without sex, island and year": {"value": {
                "bill_length_mm": 39.1, "bill_depth_mm": 18.7, "flipper_length_mm": 181,
                "body_mass_g": 3750}},
            "several birds": {"value": [EXAMPLE_BIRD, {
                "bill_length_mm": 46.5, "bill_depth_mm": 17.9, "flipper_length_mm": 192}]},
        },
    },
    "multipart/form-data": {"schema": {
        "type": "object", "required": ["file"],
        "properties": {"file": {"type": "string", "format": "binary",
                                "description": "A CSV file with a header row."}}}},
    "text/csv": {"schema": {"type": "string"}, "example":
                 "bill_length_mm,bill_depth_mm,flipper_length_mm,sex\n39.1,18.7,181,male\n"},
}}}
RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"description": "One answer for an object; `results` for a list or a CSV.",
          "content": {"application/json": {
              "schema": {"oneOf": [{"$ref": "#/components/schemas/MeasurementResponse"},
                                   {"$ref": "#/components/schemas/MeasurementBatchResponse"}]},
              "examples": {
                  "one bird": {"value": EXAMPLE_ANSWER},
                  "out of range": {"value": {**EXAMPLE_ANSWER, "warnings": [
                      "flipper_length_mm 400 mm is outside the range seen in training (172-231 "
                      "mm); the answer is an extrapolation"]}},
                  "several birds": {"value": {"model_version": "1.0.0", "results": [
                      {**{k: v for k, v in EXAMPLE_ANSWER.items() if k != "model_version"},
                       "row": 1},
                      {"row": 2, "fields": ["bill_depth_mm"], "error": {
                          "code": "invalid_measurement",
                          "message": "bill_depth_mm: must be greater than 0, got -3."}}]}},
              }}}},
    **error_responses(400, 413, 415, 422, 500, 503),
}


@router.post(PATH, summary="Classify a penguin from its measurements", description=DESCRIPTION,
             openapi_extra=REQUEST_BODY, responses=RESPONSES,
             response_model=MeasurementResponse | MeasurementBatchResponse)
async def predict_measurements(
    request: Request, model: MeasurementsModelDep, settings: SettingsDep
) -> MeasurementResponse | MeasurementBatchResponse:
    """Read the body, then parse, check and answer it in a worker thread."""
    media_type = media_type_of(request)
    max_rows = settings.max_measurement_rows
    if media_type == MULTIPART:
        data = await read_csv_upload(request)
        response = await asyncio.to_thread(answer_csv, data, model, max_rows)
    elif media_type in CSV_TYPES:
        response = await asyncio.to_thread(answer_csv, await request.body(), model, max_rows)
    elif media_type in JSON_TYPES:
        response = await asyncio.to_thread(answer_json, await request.body(), model, max_rows)
    else:
        raise ApiError(415, "unsupported_media_type", f"Content-Type {media_type or '(none)'} "
                       "is not accepted here; send application/json (one object or a list), "
                       "or a CSV file as multipart field 'file' or as text/csv.")
    note_for_log(request.scope, **log_fields(response))
    return response


async def read_csv_upload(request: Request) -> bytes:
    """The CSV file of field `file` (a malformed form is Starlette's 400, reworded in errors)."""
    form = await request.form()
    upload = form.get("file")
    if not isinstance(upload, UploadFile):
        found = ", ".join(f"'{key}'" for key in form) or "no fields"
        raise ApiError(422, "missing_file", f"The form has no CSV file in field 'file' (found "
                       f"{found}); send it as curl -F file=@birds.csv.")
    return await upload.read()


def answer_json(body: bytes, model: MeasurementsModel, max_rows: int
                ) -> MeasurementResponse | MeasurementBatchResponse:
    """An object answers alone (422 when bad); a list answers per record."""
    try:
        parsed = json.loads(body)
    except (ValueError, RecursionError) as error:  # UnicodeDecodeError is a ValueError
        raise ApiError(400, "malformed_request",
                       f"The request body is not valid JSON: {error}.") from error
    if isinstance(parsed, list):
        return answer_batch(parsed, model, max_rows)
    return encode(answer(model, parsed), model)  # a bad object's RecordRejected is the 422


def answer_csv(data: bytes, model: MeasurementsModel, max_rows: int) -> MeasurementBatchResponse:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise ApiError(400, "malformed_request",
                       f"The CSV file is not UTF-8 text: {error}.") from error
    try:
        rows = read_csv_rows(text, model, max_rows)
    except csv.Error as error:
        raise ApiError(400, "malformed_request",
                       f"The CSV file could not be read: {error}.") from error
    return answer_batch(rows, model, max_rows)


def answer_batch(records: list, model: MeasurementsModel, max_rows: int
                 ) -> MeasurementBatchResponse:
    check_list_size(records, max_rows)
    results: list[MeasurementRow | MeasurementRowError] = []
    for row, outcome in enumerate(answer_each(model, records), start=1):
        if isinstance(outcome, RecordRejected):
            error = ErrorDetail(code=outcome.code, message=outcome.detail)
            results.append(MeasurementRowError(row=row, error=error, fields=outcome.fields))
        else:
            results.append(MeasurementRow(row=row, **fields_of(outcome)))
    return MeasurementBatchResponse(results=results, model_version=model.version)


def encode(outcome: Answer, model: MeasurementsModel) -> MeasurementResponse:
    return MeasurementResponse(**fields_of(outcome), model_version=model.version)


def fields_of(outcome: Answer) -> dict[str, Any]:
    prediction = outcome.prediction
    return {
        "species": prediction.species,
        "confidence": round(prediction.confidence, 4),
        "probabilities": {label: round(p, 4) for label, p in prediction.probabilities.items()},
        "features_used": prediction.features_used,
        "features_missing": prediction.features_missing,
        "warnings": outcome.warnings,
    }


def log_fields(response: MeasurementResponse | MeasurementBatchResponse) -> dict[str, Any]:
    """What the log line and the metrics record: species answered, row errors by code."""
    if isinstance(response, MeasurementResponse):
        return {"measurement_predictions": [response.species]}
    return {
        "measurement_predictions": [r.species for r in response.results
                                    if isinstance(r, MeasurementRow)],
        "row_errors": [r.error.code for r in response.results
                       if isinstance(r, MeasurementRowError)],
    }


def describe_measurements_model(model: MeasurementsModel) -> dict[str, Any]:
    """The measurements model as /model describes it: what it accepts and how good it is."""
    return {
        "version": model.version,
        "format": model.format,
        "architecture": model.architecture,
        "sha256": model.sha256,
        "labels": model.labels,
        "required": model.required,
        "optional": model.optional,
        "numbers": [feature.model_dump() for feature in model.numbers],
        "categories": [feature.model_dump() for feature in model.categories],
        "metrics": model.metrics,
        "training": model.training,
    }


@page_router.post("/classify-measurements", response_class=HTMLResponse)
async def classify_measurements_page(request: Request, model: MeasurementsModelDep,
                                     pages: PagesDep) -> HTMLResponse:
    """The measurements form's target: the same answer as the API, as a result page."""
    form = await request.form()
    record = {name: _form_value(form.get(name), name, model) for name in model.feature_names}
    record = {name: value for name, value in record.items() if value is not None}
    try:
        outcome = await asyncio.to_thread(answer, model, record)
    except RecordRejected as rejected:
        note_for_log(request.scope, error_code=rejected.code)
        page = pages.error(422, rejected.detail, heading="Those measurements cannot be used",
                           measurements_open=True)
        return html_page(page, 422)
    note_for_log(request.scope, measurement_predictions=[outcome.prediction.species])
    given = {_display_name(name, model): str(record[name]).removesuffix(".0")
             for name in outcome.prediction.features_used}
    return html_page(pages.measurements_result(outcome.prediction, given, outcome.warnings))


def _form_value(value: object, name: str, model: MeasurementsModel) -> object:
    """A form field as the API would receive it: blank is absent, a number field's text a
    number when it reads as one (else the text, which the check refuses by name)."""
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip()
    if name in {feature.name for feature in model.numbers}:
        try:
            return float(text)
        except ValueError:
            return text
    return text


def _display_name(name: str, model: MeasurementsModel) -> str:
    """'Flipper length (mm)': the feature's description and unit, as the page shows it."""
    feature = model.features()[name]
    has_unit = isinstance(feature, NumberFeature) and feature.unit != "year"
    unit = f" ({feature.unit})" if has_unit else ""
    return f"{feature.description.rstrip('.')}{unit}"
