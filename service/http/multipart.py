"""A multipart/form-data body parsed in memory, its file parts kept as bytes.

Starlette's `request.form()` gives every file part a SpooledTemporaryFile (written to /tmp
beyond 1 MB, through the thread pool), so a photo's bytes were copied four times on the event
loop (chunk, part slice, temporary file, `read()`): 0.31 ms of CPU per 200 KB upload, against
0.08 ms here, each parser alone (`python -m loadtest.loop_profile --parsers`). Holding the
parts in memory is what the upload limits already assume: a body is refused beyond its
per-path limit and is counted against MAX_INFLIGHT_UPLOAD_BYTES while it is read
(service/http/limits.py).

The parsing is python-multipart's, as in Starlette, with Starlette's limits (1000 files, 1000
fields, 1 MB per text field) and its words for a malformed body, so the answers are unchanged.
"""

from __future__ import annotations

import codecs
from dataclasses import dataclass, field

from python_multipart import MultipartParser
from python_multipart.exceptions import FormParserError
from python_multipart.multipart import parse_options_header
from starlette.requests import Request

from service.model.errors import ApiError

MAX_FILES = 1000
MAX_FIELDS = 1000
MAX_FIELD_BYTES = 1024 * 1024


@dataclass
class FilePart:
    """One file of the form: its name as the client gave it, and its bytes."""

    filename: str
    data: bytes


@dataclass
class _Part:
    """A part while it is parsed."""

    disposition: bytes = b""
    name: str = ""
    filename: str | None = None  # None for a text field
    pieces: list[bytes] = field(default_factory=list)
    size: int = 0


class MalformedForm(Exception):
    """The body is not a readable multipart form; the message says why (Starlette's words)."""


class _FormCollector:
    """python-multipart's callbacks, collecting (name, text or FilePart) in body order."""

    def __init__(self, charset: str) -> None:
        self.charset = charset
        self.items: list[tuple[str, str | FilePart]] = []
        self.part = _Part()
        self.header_name = b""
        self.header_value = b""
        self.files = 0
        self.fields = 0

    def callbacks(self) -> dict:
        return {
            "on_part_begin": self.on_part_begin, "on_part_data": self.on_part_data,
            "on_part_end": self.on_part_end, "on_header_field": self.on_header_field,
            "on_header_value": self.on_header_value, "on_header_end": self.on_header_end,
            "on_headers_finished": self.on_headers_finished,
        }

    def on_part_begin(self) -> None:
        self.part = _Part()

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self.header_name += data[start:end]

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self.header_value += data[start:end]

    def on_header_end(self) -> None:
        if self.header_name.lower() == b"content-disposition":
            self.part.disposition = self.header_value
        self.header_name = self.header_value = b""

    def on_headers_finished(self) -> None:
        _, options = parse_options_header(self.part.disposition)
        if b"name" not in options:
            raise MalformedForm('The Content-Disposition header field "name" must be provided.')
        self.part.name = _decode(options[b"name"], self.charset)
        if b"filename" in options:
            self.files += 1
            if self.files > MAX_FILES:
                raise MalformedForm(f"Too many files. Maximum number of files is {MAX_FILES}.")
            self.part.filename = _decode(options[b"filename"], self.charset)
        else:
            self.fields += 1
            if self.fields > MAX_FIELDS:
                raise MalformedForm(f"Too many fields. Maximum number of fields is {MAX_FIELDS}.")

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        part = self.part
        part.size += end - start
        if part.filename is None and part.size > MAX_FIELD_BYTES:
            raise MalformedForm(
                f"Part exceeded maximum size of {MAX_FIELD_BYTES // 1024}KB.")
        part.pieces.append(data[start:end])

    def on_part_end(self) -> None:
        part = self.part
        data = part.pieces[0] if len(part.pieces) == 1 else b"".join(part.pieces)
        value = (_decode(data, self.charset) if part.filename is None
                 else FilePart(part.filename, data))
        self.items.append((part.name, value))


async def read_form(request: Request) -> list[tuple[str, str | FilePart]]:
    """The form's fields in body order; `MalformedForm` when the body cannot be parsed."""
    _, params = parse_options_header(request.headers.get("content-type", ""))
    charset = _charset(params.get(b"charset", b"utf-8"))
    if b"boundary" not in params:
        raise MalformedForm("Missing boundary in multipart.")
    collector = _FormCollector(charset)
    try:
        parser = MultipartParser(params[b"boundary"], collector.callbacks())
        async for chunk in request.stream():
            parser.write(chunk)
        parser.finalize()
    except FormParserError as error:
        raise MalformedForm("Invalid multipart data.") from error
    return collector.items


def malformed_request(error: MalformedForm) -> ApiError:
    """The product's 400 for an unreadable multipart body."""
    return ApiError(
        400, "malformed_request",
        f"The multipart/form-data body could not be read: {str(error).rstrip('.')}.",
    )


def _charset(declared: bytes | str) -> str:
    name = declared.decode("latin-1") if isinstance(declared, bytes) else declared
    try:
        return codecs.lookup(name).name
    except LookupError:
        return "latin-1"


def _decode(value: bytes, charset: str) -> str:
    try:
        return value.decode(charset)
    except (UnicodeDecodeError, LookupError):
        return value.decode("latin-1")
