"""Prometheus metrics: what the service is doing, at GET /metrics.

Every app has its own `CollectorRegistry` (kept on `app.state.metrics`), so tests that build
several apps never share counters. Almost everything is counted in one place, `MetricsMiddleware`,
from what a request already records for its log line (`note_for_log`: the error code, the
prediction, the decode and inference times): the metrics and the log line cannot disagree.

The inference engine reports its batches and its queue through `InferenceObserver`
(service/engine/inference.py), a two-method interface (`observe_batch`, `set_queue_depth`) that
`ServiceMetrics` implements.

Every name starts with `penguin_` and has its help text below. The `route` label is the route
template (`/predict`, not the URL), so a scan of random paths cannot create
unbounded label values: anything unrouted is counted as `route="unmatched"`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily, InfoMetricFamily, Metric
from prometheus_client.registry import Collector
from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.engine.selftest import SelfTestResult, SelfTestStatus

PREFIX = "penguin"
UNMATCHED_ROUTE = "unmatched"
# Request latency: health checks take a millisecond, a large photo under load a few seconds.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
# Decoding and one forward pass: milliseconds to a second.
STAGE_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
BATCH_SIZE_BUCKETS = (1, 2, 4, 8, 16, 32, 64)


class ServiceMetrics:
    """The registry of one app and every metric in it."""

    def __init__(self, model_state: Callable[[], Any],
                 measurements_state: Callable[[], Any]) -> None:
        """`model_state` returns the app's current `ModelState`, `measurements_state` its
        `MeasurementsState` (both are replaced at startup)."""
        # The `_created` timestamps of every series double the output and no alert uses them.
        disable_created_metrics()
        self._model_state = model_state
        self.registry = CollectorRegistry(auto_describe=True)
        registry = self.registry
        self.requests = Counter(
            f"{PREFIX}_http_requests", "HTTP requests answered, by route template, method and "
            "status.", ["route", "method", "status"], registry=registry)
        self.request_latency = Histogram(
            f"{PREFIX}_http_request_duration_seconds", "Time from the request's arrival to the "
            "end of its response, by route template.", ["route"], buckets=LATENCY_BUCKETS,
            registry=registry)
        self.in_flight = Gauge(
            f"{PREFIX}_http_requests_in_flight", "Requests being handled right now.",
            registry=registry)
        self.decode_latency = Histogram(
            f"{PREFIX}_decode_duration_seconds", "Decoding and preprocessing the photos of one "
            "classification request.", buckets=STAGE_BUCKETS, registry=registry)
        self.inference_latency = Histogram(
            f"{PREFIX}_inference_duration_seconds", "Waiting for and running the model for one "
            "classification request.", buckets=STAGE_BUCKETS, registry=registry)
        self.batch_size = Histogram(
            f"{PREFIX}_batch_size", "Inputs per forward pass.", buckets=BATCH_SIZE_BUCKETS,
            registry=registry)
        self.batch_latency = Histogram(
            f"{PREFIX}_batch_duration_seconds", "Time of one forward pass, on the inference "
            "thread (normalising the batch and reading its answers included).",
            buckets=STAGE_BUCKETS, registry=registry)
        self.upload_bytes = Gauge(
            f"{PREFIX}_upload_bytes_in_flight", "Request body bytes held by requests in "
            "progress (bounded by MAX_INFLIGHT_UPLOAD_BYTES).", registry=registry)
        self.queue_depth = Gauge(
            f"{PREFIX}_queue_depth", "Inputs waiting for a forward pass.", registry=registry)
        self.predictions = Counter(
            f"{PREFIX}_predictions", "Photos classified, by answer (the reject label included).",
            ["species"], registry=registry)
        self.rejections = Counter(
            f"{PREFIX}_no_penguin_rejections", "Photos answered 'no penguin' (no species "
            "trusted).", registry=registry)
        self.measurement_predictions = Counter(
            f"{PREFIX}_measurement_predictions", "Birds classified from their measurements "
            "(/predict/measurements), by species answered.", ["species"], registry=registry)
        self.errors = Counter(
            f"{PREFIX}_errors", "Error answers by code, per request, per file of a batch and "
            "per row of measurements.", ["code"], registry=registry)
        registry.register(ModelCollector(model_state, measurements_state))

    # InferenceObserver (service/engine/inference.py)
    def observe_batch(self, size: int, seconds: float) -> None:
        self.batch_size.observe(size)
        self.batch_latency.observe(seconds)

    def set_queue_depth(self, depth: int) -> None:
        self.queue_depth.set(depth)

    def observe_request(self, scope: Scope, route: str, status: int, seconds: float) -> None:
        """Count one finished request from its status and the fields noted for its log line."""
        self.requests.labels(route, scope.get("method", ""), str(status)).inc()
        self.request_latency.labels(route).observe(seconds)
        fields: dict[str, Any] = scope.get("state", {}).get("log_fields", {})
        if status >= 400:
            self.errors.labels(fields.get("error_code") or f"http_{status}").inc()
        for code in [*fields.get("file_errors", ()), *fields.get("row_errors", ())]:
            self.errors.labels(code).inc()
        if "decode_ms" in fields:
            self.decode_latency.observe(fields["decode_ms"] / 1000)
        if "inference_ms" in fields:
            self.inference_latency.observe(fields["inference_ms"] / 1000)
        if status < 400:
            single = [fields["prediction"]] if "prediction" in fields else []
            self._count_predictions([*single, *fields.get("predictions", ())])
            for species in fields.get("measurement_predictions", ()):
                self.measurement_predictions.labels(species).inc()

    def _count_predictions(self, predictions: Sequence[dict[str, Any]]) -> None:
        pipeline = getattr(self._model_state(), "pipeline", None)
        reject_label = pipeline.metadata.rejection.label if pipeline is not None else None
        for prediction in predictions:
            species = str(prediction.get("species"))
            self.predictions.labels(species).inc()
            if species == reject_label:
                self.rejections.inc()

    def render(self) -> bytes:
        return generate_latest(self.registry)


class ModelCollector(Collector):
    """Read at scrape time: which photo model answers (`penguin_model_info`) and whether each
    model is ready (label `model`: `photo`, `measurements`); /readyz needs both."""

    def __init__(self, model_state: Callable[[], Any],
                 measurements_state: Callable[[], Any]) -> None:
        self.model_state = model_state
        self.measurements_state = measurements_state

    def collect(self) -> Iterable[Metric]:
        state = self.model_state()
        statuses = {"photo": _status_of(state),
                    "measurements": _status_of(self.measurements_state())}
        ready = GaugeMetricFamily(f"{PREFIX}_model_ready", "1 once the model is loaded, "
                                  "verified and warmed up; 0 while loading or after a failed "
                                  "load (see /readyz for the reason).", labels=["model"])
        for model, status in statuses.items():
            ready.add_metric([model], 1.0 if status == "ready" else 0.0)
        yield ready
        load = GaugeMetricFamily(f"{PREFIX}_model_status", "1 for the model's current state.",
                                 labels=["model", "status"])
        for model, status in statuses.items():
            for name in ("loading", "ready", "failed"):
                load.add_metric([model, name], 1.0 if status == name else 0.0)
        yield load
        yield from selftest_families(getattr(state, "selftest", None))
        pipeline = getattr(state, "pipeline", None)
        if pipeline is not None:
            info = InfoMetricFamily(f"{PREFIX}_model", "The model that answers.")
            metadata = pipeline.metadata
            info.add_metric([], {"version": metadata.version,
                                 "architecture": metadata.architecture,
                                 "sha256": metadata.sha256})
            yield info

    def describe(self) -> Iterable[Metric]:
        return []  # labels depend on the model; nothing to check at registration


def _status_of(state: Any) -> str:
    """A model's `ModelStatus` as text; "loading" before its state exists."""
    return str(getattr(state, "status", "loading"))


# Label values of penguin_model_selftest_status, by the self-test's result (None: not run yet).
SELFTEST_STATES: dict[SelfTestStatus | None, str] = {
    None: "not_run", SelfTestStatus.PASSED: "passed", SelfTestStatus.FAILED: "failed",
    SelfTestStatus.NOT_RECORDED: "not_recorded"}


def selftest_families(selftest: SelfTestResult | None) -> Iterable[Metric]:
    """The self-test as Prometheus users read a result that may not exist yet.

    `penguin_model_selftest_ok` has a sample only once a self-test compared answers (1 passed,
    0 failed), so `== 0` means a real mismatch and never "nothing to compare"; the state set
    `penguin_model_selftest_status` says which of not_run (loading, or a load that failed
    before the test), passed, failed and not_recorded (a model exported without known answers,
    served unchecked) holds, like `penguin_model_status` for the load.
    """
    status = SELFTEST_STATES[selftest.status if selftest is not None else None]
    passed = GaugeMetricFamily(f"{PREFIX}_model_selftest_ok", "1 once the model gave its "
                               "known answers through the serving path, 0 when one differed "
                               "(see /readyz); no sample while none has been compared (see "
                               "penguin_model_selftest_status).")
    if status in ("passed", "failed"):
        passed.add_metric([], 1.0 if status == "passed" else 0.0)
    yield passed
    states = GaugeMetricFamily(f"{PREFIX}_model_selftest_status", "1 for the start-up "
                               "self-test's state: not_run, passed, failed, or not_recorded "
                               "(the model records no known answers and is served unchecked).",
                               labels=["status"])
    for name in SELFTEST_STATES.values():
        states.add_metric([name], 1.0 if status == name else 0.0)
    yield states


class MetricsMiddleware:
    """Counts every HTTP request: in flight, latency, status, errors, predictions."""

    def __init__(
        self, app: ASGIApp, *, metrics: Callable[[], ServiceMetrics],
        routes: Callable[[], Sequence[BaseRoute]],
    ) -> None:
        self.app = app
        self.metrics = metrics
        self.routes = routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        metrics = self.metrics()
        started = time.perf_counter()
        status = 0

        async def send_with_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        metrics.in_flight.inc()
        try:
            await self.app(scope, receive, send_with_status)
        finally:
            metrics.in_flight.dec()
            metrics.observe_request(scope, self._route_of(scope), status or 500,
                                    time.perf_counter() - started)

    def _route_of(self, scope: Scope) -> str:
        """The route template; found by matching when the router never ran (e.g. an early 413)."""
        template = getattr(scope.get("route"), "path", None)
        if template is None:
            template = _match_template(self.routes(), scope)
        return template or UNMATCHED_ROUTE


def _match_template(routes: Sequence[BaseRoute], scope: Scope) -> str | None:
    """The path template of the route that would handle `scope`, looking inside the routers
    FastAPI keeps for each `include_router` (they have no path of their own)."""
    for route in routes:
        try:
            match, _ = route.matches(scope)
        except Exception:  # a route that cannot judge this scope does not match it
            continue
        if match is Match.NONE:
            continue
        included = getattr(route, "original_router", None)
        if included is not None:
            found = _match_template(included.routes, scope)
            if found:
                return found
            continue
        return getattr(route, "path", None)
    return None


router = APIRouter(include_in_schema=False)


@router.get("/metrics")
async def metrics_endpoint(request: Request) -> Response:
    """Prometheus text format, for a scraper (or `curl`)."""
    metrics: ServiceMetrics = request.app.state.metrics
    return Response(metrics.render(), media_type=CONTENT_TYPE_LATEST)
