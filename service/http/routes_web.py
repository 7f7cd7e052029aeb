"""The web page: an upload form, and the result page the form posts to when there is no script."""

from __future__ import annotations

import time
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from fastapi.staticfiles import StaticFiles

from service.http.dependencies import PagesDep, PipelineDep
from service.http.server_timing import note_timing, server_timing, timing_of
from service.http.uploads import read_upload

router = APIRouter(include_in_schema=False)

# Errors on these paths are rendered as pages for people rather than JSON for programs.
PAGE_PATHS = frozenset({"/", "/classify", "/classify-measurements"})

# Only our own script and styles run; the result page's preview is a data: URL and the
# script's preview a blob: URL. Inline style attributes carry the bar widths.
PAGE_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data: blob:; style-src 'self' 'unsafe-inline'; "
        "script-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


class RevalidatedStaticFiles(StaticFiles):
    """The page's CSS and script, which browsers must revalidate (a cheap 304 via ETag).

    Without Cache-Control, browsers cache by heuristics for hours, so after a deploy the new
    page could run with the old script.
    """

    def file_response(self, *args: Any, **kwargs: Any) -> Response:
        response = super().file_response(*args, **kwargs)
        response.headers["Cache-Control"] = "no-cache"
        return response


def html_page(body: str, status: int = 200) -> HTMLResponse:
    return HTMLResponse(body, status_code=status, headers=PAGE_HEADERS)


@router.get("/", response_class=HTMLResponse)
async def upload_page(pages: PagesDep) -> HTMLResponse:
    """The upload form; works as a plain form, and without reloads when scripts run."""
    return html_page(pages.index())


@router.post("/classify", response_class=HTMLResponse)
async def classify_page(request: Request, pipeline: PipelineDep, pages: PagesDep) -> HTMLResponse:
    """The form's no-script target: the same classification as /predict, as a result page."""
    started = time.perf_counter()
    upload = await read_upload(request)
    classified = await pipeline.classify(upload, preview=True)
    note_timing(request, classified)
    assert classified.preview_jpeg is not None
    timing = timing_of(classified, started)
    page = html_page(pages.result(classified.prediction, pipeline.metadata, timing,
                                  filename=upload.filename, preview_jpeg=classified.preview_jpeg))
    page.headers.update(server_timing(timing))
    return page
