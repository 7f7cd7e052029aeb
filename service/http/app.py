"""The application factory: wires settings, middleware, error handling, routes and the lifespan.

Importing this module has no side effects; nothing is loaded until the server starts the
lifespan, so tests and tools can build as many independent apps as they need.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.metadata
import logging
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor

from fastapi import FastAPI
from fastapi.responses import Response
from starlette.types import Scope

from service.engine.inference import overloaded_error
from service.engine.lifecycle import ModelState, load_and_warm_up
from service.engine.measurements_lifecycle import MeasurementsState, load_measurements
from service.http import (
    metrics,
    routes_api,
    routes_health,
    routes_measurements,
    routes_oip,
    routes_web,
)
from service.http.api_docs import install_api_docs
from service.http.errors import (
    INTERNAL_ERROR,
    ErrorRenderer,
    install_error_handlers,
    json_error_response,
    upload_too_large,
)
from service.http.limits import InflightBytes, UploadLimitMiddleware
from service.http.lingering import LingeringRefusalMiddleware
from service.http.request_context import RequestContextMiddleware, note_for_log
from service.http.web_render import PageRenderer
from service.model.errors import ApiError
from service.settings import Settings

log = logging.getLogger("service")

BATCH_PATH = "/predict/batch"


def create_app(settings: Settings | None = None) -> FastAPI:
    """A ready-to-serve app; the model loads in the background once the server starts it."""
    settings = settings or Settings()
    app = FastAPI(
        title="Penguin classifier",
        version=service_version(),
        summary="Tells which penguin species (Adelie, Chinstrap, Gentoo) is in a photo.",
        lifespan=lifespan,
        docs_url=None,  # /docs and /redoc are served from local assets: install_api_docs
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.model = ModelState()
    app.state.measurements = MeasurementsState()
    app.state.pages = PageRenderer(settings.max_upload_bytes)
    render = error_renderer(app.state.pages)
    install_error_handlers(app, render)
    # Added last = outermost: the request context sees the upload limit's 413 too.
    inflight = InflightBytes(settings.max_inflight_upload_bytes)
    app.add_middleware(
        UploadLimitMiddleware,
        limit_for_path=lambda path: upload_limit_for(path, settings),
        reject=lambda scope, limit: render(scope, upload_too_large(limit)),
        inflight=inflight,
        busy=lambda scope: render(scope, uploads_busy()),
    )
    # Outside the upload limit, so its discarding reads are counted by nothing.
    app.add_middleware(LingeringRefusalMiddleware,
                       max_bytes=settings.refused_body_discard_bytes,
                       max_seconds=settings.refused_body_discard_seconds)
    app.add_middleware(RequestContextMiddleware,
                       on_crash=lambda scope: render(scope, INTERNAL_ERROR))
    # Outermost, so it counts every answer, the request context's last-resort 500 included.
    app.state.metrics = metrics.ServiceMetrics(lambda: app.state.model,
                                               lambda: app.state.measurements)
    app.state.metrics.upload_bytes.set_function(lambda: inflight.held)
    app.add_middleware(metrics.MetricsMiddleware, metrics=lambda: app.state.metrics,
                       routes=lambda: app.router.routes)
    for router in (routes_api.router, routes_measurements.router, routes_health.router,
                   routes_oip.router, routes_web.router, routes_measurements.page_router,
                   metrics.router):
        app.include_router(router)
    install_api_docs(app)
    app.mount("/static", routes_web.RevalidatedStaticFiles(packages=[("service.http", "static")]),
              name="static")
    return app


@contextlib.asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Start loading the models without waiting for them, so /healthz answers during the load."""
    settings: Settings = app.state.settings
    decode_pool = ThreadPoolExecutor(settings.decode_workers, thread_name_prefix="decode")
    state = app.state.model = ModelState()
    log.info("loading model", extra={"model_path": str(settings.model_path),
                                     "model_backend": settings.model_backend,
                                     "torch_threads": settings.torch_threads,
                                     "decode_workers": settings.decode_workers})
    loading = asyncio.create_task(load_and_warm_up(state, settings, decode_pool, app.state.metrics))
    measurements = app.state.measurements = MeasurementsState()
    loading_measurements = asyncio.create_task(
        load_measurements(measurements, settings.measurements_model_path))
    try:
        yield
    finally:
        for task in (loading, loading_measurements):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        state.close()
        decode_pool.shutdown(wait=False, cancel_futures=True)


def service_version() -> str:
    """The installed package's version, so the API docs cannot drift from pyproject.toml."""
    try:
        return importlib.metadata.version("penguin-classifier")
    except importlib.metadata.PackageNotFoundError:  # run from a source tree, not installed
        return "unknown"


def uploads_busy() -> ApiError:
    """Too many upload bytes held already: the same answer as any other overload."""
    error = overloaded_error(retry_after=1)
    error.headers["Connection"] = "close"  # the unread body must not be taken for a request
    return error


def upload_limit_for(path: str, settings: Settings) -> int:
    """A batch carries many photos, so its body may be larger than a single upload; so may an
    Open Inference Protocol request (several photos, in base64, a third larger)."""
    if path in (BATCH_PATH, routes_oip.INFER_PATH):
        return settings.max_batch_upload_bytes
    return settings.max_upload_bytes


def error_renderer(pages: PageRenderer) -> ErrorRenderer:
    """Errors become a page for the web form's paths, the Open Inference Protocol's error object
    under /v2, and the product's JSON everywhere else."""

    def render(scope: Scope, error: ApiError) -> Response:
        note_for_log(scope, error_code=error.code)
        if routes_oip.is_protocol_path(scope.get("path", "")):
            return routes_oip.protocol_error_response(error)
        if scope.get("path") in routes_web.PAGE_PATHS:
            page = pages.error(error.status, error.message)
            response = routes_web.html_page(page, error.status)
            response.headers.update(error.headers)
            return response
        return json_error_response(error)

    return render
