"""Getting the photo bytes out of a request: multipart form fields or a raw image body.

Only the transport is judged here (content type, field present, one file); whether the bytes
are an acceptable image is decided by decoding them, never by the declared content type,
which clients routinely get wrong.
"""

from __future__ import annotations

from fastapi import Request

from service.engine.pipeline import Upload
from service.http.errors import missing_field_error
from service.http.multipart import FilePart, MalformedForm, malformed_request, read_form
from service.model.errors import ApiError

RAW_IMAGE_TYPES = frozenset({
    "image/jpeg", "image/jpg", "image/pjpeg", "image/png", "image/webp", "image/gif",
    "image/bmp", "image/x-bmp", "image/x-ms-bmp", "application/octet-stream",
})
MULTIPART = "multipart/form-data"
RAW_BODY_NAME = "upload"


async def read_upload(request: Request, field: str = "file") -> Upload:
    """Read the single photo of a request, sent as multipart field `field` or as the raw body."""
    media_type = media_type_of(request)
    if media_type == MULTIPART:
        return _single_file(await _read_form(request), field)
    if media_type in RAW_IMAGE_TYPES:
        return Upload(filename=RAW_BODY_NAME, data=await request.body())
    raise ApiError(
        415, "unsupported_media_type",
        f"Content-Type {media_type or '(none)'} is not accepted; send multipart/form-data with "
        f"the photo in field '{field}', or the raw image with Content-Type image/jpeg, image/png, "
        "image/webp, image/gif, image/bmp or application/octet-stream.",
    )


async def read_files(request: Request, max_files: int, field: str = "files") -> list[Upload]:
    """Read a batch's photos, the repeated multipart field `field`, refusing the whole request
    when there are too many. A file over the per-file limit is left for the pipeline to refuse
    alone; the body as a whole is bounded while it is read (service/http/limits.py)."""
    media_type = media_type_of(request)
    if media_type != MULTIPART:
        raise ApiError(
            415, "unsupported_media_type",
            f"Content-Type {media_type or '(none)'} is not accepted; send "
            f"multipart/form-data with one '{field}' part per photo.",
        )
    values = [value for name, value in await _read_form(request) if name == field]
    if not values:
        raise missing_field_error([field])
    files = [value for value in values if isinstance(value, FilePart)]
    if len(files) != len(values):
        raise ApiError(422, "invalid_request",
                       f"The request is invalid: field '{field}' holds text, not a file; attach "
                       "each photo as a file.")
    if len(files) > max_files:
        raise ApiError(
            413, "too_many_files",
            f"{len(files)} files were sent; at most {max_files} are accepted per request. "
            "Split them into several requests.",
        )
    return [Upload(filename=file.filename or f"file {number}", data=file.data)
            for number, file in enumerate(files, start=1)]


async def _read_form(request: Request) -> list[tuple[str, str | FilePart]]:
    try:
        return await read_form(request)
    except MalformedForm as error:
        raise malformed_request(error) from error


def media_type_of(request: Request) -> str:
    """The Content-Type without parameters, lower case ('' when absent)."""
    return request.headers.get("content-type", "").split(";")[0].strip().lower()


def _single_file(form: list[tuple[str, str | FilePart]], field: str) -> Upload:
    values = [value for name, value in form if name == field]
    files = [value for value in values if isinstance(value, FilePart)]
    if not values:
        found = ", ".join(f"'{name}'" for name in dict.fromkeys(name for name, _ in form))
        found = found or "no fields"
        raise ApiError(422, "missing_file",
                       f"The form has no field '{field}' (found {found}); send the photo in "
                       f"field '{field}', e.g. curl -F {field}=@photo.jpg.")
    if len(files) != len(values):
        raise ApiError(422, "missing_file",
                       f"Field '{field}' holds text, not a file; attach the photo as a file.")
    if len(files) > 1:
        raise ApiError(422, "multiple_files",
                       f"Field '{field}' holds {len(files)} files; send one, "
                       "or use /predict/batch for several.")
    file = files[0]
    if not file.data and not file.filename:
        raise ApiError(422, "missing_file", "No photo was chosen; choose a photo to classify.")
    return Upload(filename=file.filename or RAW_BODY_NAME, data=file.data)
