"""One error shape for every failure, and the handlers that turn exceptions into it.

Clients and people get the same thing whatever went wrong: a stable machine `code`, a sentence
that says what to do, and the request id to quote when reporting a problem. Framework errors
(404, 405, validation) are converted too, so no default FastAPI error body ever leaks out.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import Scope

from service.engine.inference import deadline_error, overloaded_error
from service.engine.lifecycle import model_loading_error
from service.engine.pipeline import file_too_large_error
from service.http.request_context import current_request_id
from service.model.errors import ApiError
from service.model.preprocessing import EMPTY_FILE, NOT_AN_IMAGE, unsupported_format_message
from service.settings import MIB, describe_limit


class ErrorDetail(BaseModel):
    code: str = Field(description="Stable machine-readable reason, e.g. `unsupported_format`.")
    message: str = Field(description="What went wrong and what to do, for a person to read.")


class ErrorResponse(BaseModel):
    """The body of every error response."""

    error: ErrorDetail
    request_id: str = Field(description="Quote it when reporting a problem; it is in the logs.")


ErrorRenderer = Callable[[Scope, ApiError], Response]

INTERNAL_ERROR = ApiError(500, "internal_error", "Something went wrong on our side. Please try "
                          "again; if it keeps failing, report the request id.")


def upload_too_large(limit: int) -> ApiError:
    return ApiError(413, "upload_too_large",
                    f"The upload is larger than the {describe_limit(limit)} limit; "
                    "send a smaller photo.", headers={"Connection": "close"})


# Every error code the API can answer, by status: documents the API and feeds /docs examples.
ERROR_CATALOGUE: dict[int, tuple[str, dict[str, str]]] = {
    400: ("The upload is empty, truncated or not an image, or the request body is malformed.", {
        "empty_file": EMPTY_FILE,
        "invalid_image": NOT_AN_IMAGE,
        "corrupt_image": "The JPEG image is truncated or corrupt (image file is truncated).",
        "malformed_request": "The request body could not be read as multipart/form-data.",
    }),
    404: ("Nothing is served at this path.", {
        "not_found": "Nothing is served at /nope. The API is described at /docs.",
    }),
    405: ("The path exists but not for this HTTP method.", {
        "method_not_allowed": "GET is not allowed on /predict; use POST.",
    }),
    413: ("The request body, a file, the image's pixel count or the file count is over a limit.", {
        "upload_too_large": upload_too_large(10 * MIB).message,
        "image_too_large": "The image is 20000x20000 pixels; the limit is 40,000,000 pixels.",
        "file_too_large": file_too_large_error("photo.jpg", 10 * MIB).message,
        "too_many_files": "40 files were sent; at most 32 are accepted per request.",
    }),
    415: ("The content type or the image format is not supported.", {
        "unsupported_media_type": "Content-Type text/plain is not accepted; send multipart/"
                                  "form-data with the photo in field 'file', or a raw image body.",
        "unsupported_format": unsupported_format_message("TIFF"),
    }),
    422: ("A required form field is missing or has the wrong type, or measurements are "
          "missing, invalid, too many or none.", {
        "missing_file": "The form has no file in field 'file'.",
        "missing_field": "The request has no 'files' field.",
        "multiple_files": "Field 'file' holds 2 files; send one, or use /predict/batch.",
        "invalid_request": "The request is invalid: field 'files' holds text, not a file; "
                           "attach each photo as a file.",
        # /predict/measurements (service/http/routes_measurements.py)
        "missing_measurement": "The measurements cannot be used: bill_depth_mm: is required.",
        "invalid_measurement": "The measurements cannot be used: bill_length_mm: must be "
                               "greater than 0, got -3; island: must be one of Biscoe, Dream, "
                               "Torgersen, got text 'Atlantis'.",
        "empty_batch": "The measurements cannot be used: body: the list is empty; send at least "
                       "one record.",
        "too_many_rows": "The measurements cannot be used: body: 1200 records; send at most "
                         "1000 per request.",
    }),
    500: ("An unexpected error on our side; it is logged with the request id.", {
        "internal_error": INTERNAL_ERROR.message,
    }),
    503: ("The model is still loading or could not be loaded (the reason is given), or the "
          "service is too busy right now (retry after the Retry-After header's seconds).", {
        "model_loading": model_loading_error().message,
        "model_unavailable": "The model could not be loaded: model file weights/penguin_"
                             "classifier.pt is missing.",
        "overloaded": overloaded_error(retry_after=1).message,
        "queue_timeout": deadline_error(retry_after=1).message,
    }),
}


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses=` for a route: each status with its meaning and example bodies."""
    return {status: _documented_error(status) for status in statuses}


def _documented_error(status: int) -> dict[str, Any]:
    description, codes = ERROR_CATALOGUE[status]
    examples = {
        code: {"summary": code, "value": error_body(code, message, "3f2a9c0e5b7d4e1f")}
        for code, message in codes.items()
    }
    return {
        "model": ErrorResponse,
        "description": description,
        "content": {"application/json": {"examples": examples}},
    }


def error_body(code: str, message: str, request_id: str) -> dict[str, Any]:
    return ErrorResponse(
        error=ErrorDetail(code=code, message=message), request_id=request_id
    ).model_dump()


def json_error_response(error: ApiError) -> JSONResponse:
    """The JSON form of an error, for API clients."""
    return JSONResponse(
        error_body(error.code, error.message, current_request_id()),
        status_code=error.status,
        headers=error.headers,
    )


def install_error_handlers(app: FastAPI, render: ErrorRenderer) -> None:
    """Route every exception FastAPI knows how to handle through `render`."""

    async def on_api_error(request: Request, error: Exception) -> Response:
        assert isinstance(error, ApiError)
        return render(request.scope, error)

    async def on_http_exception(request: Request, error: Exception) -> Response:
        assert isinstance(error, StarletteHTTPException)
        return render(request.scope, from_http_exception(request, error))

    async def on_validation_error(request: Request, error: Exception) -> Response:
        assert isinstance(error, RequestValidationError)
        return render(request.scope, from_validation_error(error))

    app.add_exception_handler(ApiError, on_api_error)
    app.add_exception_handler(StarletteHTTPException, on_http_exception)
    app.add_exception_handler(RequestValidationError, on_validation_error)


def from_http_exception(request: Request, error: StarletteHTTPException) -> ApiError:
    """Starlette's routing and parsing errors, reworded for people."""
    headers = dict(error.headers or {})
    if error.status_code == 404:
        message = f"Nothing is served at {request.url.path}. The API is described at /docs."
        return ApiError(404, "not_found", message, headers)
    if error.status_code == 405:
        allowed = headers.get("Allow") or headers.get("allow") or "another method"
        message = f"{request.method} is not allowed on {request.url.path}; use {allowed}."
        return ApiError(405, "method_not_allowed", message, headers)
    if error.status_code == 400:
        message = f"The request body could not be read: {error.detail}."
        return ApiError(400, "malformed_request", message, headers)
    return ApiError(error.status_code, f"http_{error.status_code}", str(error.detail), headers)


def from_validation_error(error: RequestValidationError) -> ApiError:
    """FastAPI's list of validation problems, as one sentence naming each field."""
    problems = error.errors()
    missing = [_field_name(problem) for problem in problems if problem.get("type") == "missing"]
    if missing and len(missing) == len(problems):
        return missing_field_error(missing)
    details = "; ".join(f"{_field_name(problem)}: {problem.get('msg')}" for problem in problems)
    return ApiError(422, "invalid_request", f"The request is invalid: {details}.")


def missing_field_error(names: list[str]) -> ApiError:
    """The 422 for a form without the photo fields it needs, however the absence was found."""
    quoted = ", ".join(f"'{name}'" for name in names)
    return ApiError(422, "missing_field",
                    f"The request has no {quoted} field. Send each photo as a {quoted} part of a "
                    "multipart/form-data request.")


def _field_name(problem: dict[str, Any]) -> str:
    location = [str(part) for part in problem.get("loc", ()) if part not in ("body", "query")]
    return ".".join(location) or "body"
