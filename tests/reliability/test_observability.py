"""GET /metrics (Prometheus) and the per-request log line show what the service is doing."""

from __future__ import annotations

import json
import logging

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from service.engine.inference import InferenceObserver
from service.http.app import create_app
from service.http.metrics import ServiceMetrics

REQUIRED_FAMILIES = {
    "penguin_http_requests": "counter",
    "penguin_http_request_duration_seconds": "histogram",
    "penguin_http_requests_in_flight": "gauge",
    "penguin_decode_duration_seconds": "histogram",
    "penguin_inference_duration_seconds": "histogram",
    "penguin_batch_size": "histogram",
    "penguin_batch_duration_seconds": "histogram",
    "penguin_queue_depth": "gauge",
    "penguin_upload_bytes_in_flight": "gauge",
    "penguin_predictions": "counter",
    "penguin_no_penguin_rejections": "counter",
    "penguin_errors": "counter",
    "penguin_model_info": "gauge",  # an Info is a gauge in the text format
    "penguin_model_ready": "gauge",
    "penguin_model_status": "gauge",
    "penguin_model_selftest_ok": "gauge",
    "penguin_model_selftest_status": "gauge",
}


def scrape(client) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of /metrics as {(name, sorted labels): value}."""
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=")
    return {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(response.text)
            for sample in family.samples}


def value(samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


@pytest.fixture
def fresh(serve, settings_for):
    """A fresh app, so counts start at zero."""
    with serve(settings_for(max_upload_bytes=64 * 1024)) as client:
        yield client


def test_metrics_has_every_family_in_prometheus_format(fresh):
    families = {family.name: family.type
                for family in text_string_to_metric_families(fresh.get("/metrics").text)}
    for name, kind in REQUIRED_FAMILIES.items():
        assert families.get(name) == kind, (name, families.get(name))


def test_requests_predictions_rejections_and_errors_are_counted(fresh, photo):
    fresh.post("/predict", files={"file": ("a.jpg", photo("red"))})
    fresh.post("/predict", files={"file": ("b.jpg", photo("black"))})  # no penguin
    fresh.post("/predict", files={"file": ("c.jpg", b"not an image")})
    fresh.post("/predict/batch", files=[("files", ("d.jpg", photo("blue"))),
                                        ("files", ("e.jpg", b""))])
    fresh.post("/predict", content=b"\0" * 70_000, headers={"Content-Type": "image/png"})
    for path in ("/nope", "/wp-admin/setup.php", "/.env"):
        fresh.get(path)
    samples = scrape(fresh)

    assert value(samples, "penguin_http_requests_total", route="/predict", method="POST",
                 status="200") == 2
    assert value(samples, "penguin_http_requests_total", route="/predict", method="POST",
                 status="400") == 1
    # Refused by the upload limit before routing, still counted under its route.
    assert value(samples, "penguin_http_requests_total", route="/predict", method="POST",
                 status="413") == 1
    # Unknown paths share one label value: a scanner cannot blow up the series count.
    assert value(samples, "penguin_http_requests_total", route="unmatched", method="GET",
                 status="404") == 3
    assert value(samples, "penguin_predictions_total", species="Adelie") == 1
    assert value(samples, "penguin_predictions_total", species="Gentoo") == 1
    assert value(samples, "penguin_predictions_total", species="no_penguin") == 1
    assert value(samples, "penguin_no_penguin_rejections_total") == 1
    assert value(samples, "penguin_errors_total", code="invalid_image") == 1
    assert value(samples, "penguin_errors_total", code="empty_file") == 1  # a file of a batch
    assert value(samples, "penguin_errors_total", code="upload_too_large") == 1
    assert value(samples, "penguin_errors_total", code="not_found") == 3
    assert value(samples, "penguin_decode_duration_seconds_count") == 3  # 2 photos + 1 batch
    assert value(samples, "penguin_inference_duration_seconds_count") == 3
    assert value(samples, "penguin_http_request_duration_seconds_count", route="/predict") == 4
    assert value(samples, "penguin_http_requests_in_flight") == 1  # the scrape itself
    assert value(samples, "penguin_model_info", version="tiny-test-1",
                 architecture="tiny-top-half-colour",
                 sha256=fresh.get("/model").json()["sha256"]) == 1
    for model in ("photo", "measurements"):
        assert value(samples, "penguin_model_ready", model=model) == 1
        assert value(samples, "penguin_model_status", model=model, status="ready") == 1
    assert value(samples, "penguin_model_selftest_ok") == 1
    assert value(samples, "penguin_model_selftest_status", status="passed") == 1


def test_a_crash_is_counted_as_a_500_internal_error(serve, settings_for, photo):
    async def explode(*args, **kwargs):
        raise RuntimeError("simulated bug")

    with serve(settings_for()) as client:
        client.app.state.model.pipeline.classify = explode
        assert client.post("/predict", files={"file": ("a.jpg", photo())}).status_code == 500
        samples = scrape(client)
    assert value(samples, "penguin_http_requests_total", route="/predict", method="POST",
                 status="500") == 1
    assert value(samples, "penguin_errors_total", code="internal_error") == 1
    assert value(samples, "penguin_http_requests_in_flight") == 1


def test_while_loading_the_model_is_not_ready_and_has_no_info(start, settings_for, monkeypatch):
    import threading

    import service.engine.lifecycle

    release = threading.Event()
    real = service.engine.lifecycle.load_classifier
    monkeypatch.setattr(service.engine.lifecycle, "load_classifier",
                        lambda path, **options: release.wait(10) and real(path, **options))
    with start(settings_for()) as client:
        samples = scrape(client)
        release.set()
    assert value(samples, "penguin_model_ready", model="photo") == 0
    assert value(samples, "penguin_model_status", model="photo", status="loading") == 1
    assert not [key for key in samples if key[0] == "penguin_model_info"]
    # No self-test has run: no result to report, rather than a 0 that reads as a failure.
    assert not [key for key in samples if key[0] == "penguin_model_selftest_ok"]
    assert value(samples, "penguin_model_selftest_status", status="not_run") == 1


def test_the_inference_observer_interface_feeds_batch_size_and_queue_depth(fresh):
    metrics: ServiceMetrics = fresh.app.state.metrics
    observer: InferenceObserver = metrics  # what the batching engine is handed
    before = scrape(fresh)  # the warm-up's forward passes are already counted
    for size in (1, 3, 8):
        observer.observe_batch(size, 0.02)
    observer.set_queue_depth(5)
    after = scrape(fresh)

    def grew(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert grew("penguin_batch_size_count") == 3
    assert grew("penguin_batch_size_sum") == 12
    assert grew("penguin_batch_size_bucket", le="2.0") == 1
    assert grew("penguin_batch_duration_seconds_count") == 3
    assert value(after, "penguin_queue_depth") == 5


def test_real_requests_are_seen_as_forward_passes(fresh, photo):
    before = scrape(fresh)
    fresh.post("/predict/batch", files=[("files", (f"{n}.jpg", photo())) for n in range(3)])
    after = scrape(fresh)
    passes = (value(after, "penguin_batch_size_count")
              - value(before, "penguin_batch_size_count"))
    photos = value(after, "penguin_batch_size_sum") - value(before, "penguin_batch_size_sum")
    assert passes >= 1 and photos == 3
    assert value(after, "penguin_queue_depth") == 0


def test_every_app_has_its_own_registry(settings_for):
    first, second = create_app(settings_for()), create_app(settings_for())
    assert first.state.metrics.registry is not second.state.metrics.registry
    first.state.metrics.requests.labels("/x", "GET", "200").inc()
    assert b"/x" not in second.state.metrics.render()


def test_metrics_and_docs_are_not_part_of_the_api_schema(fresh):
    paths = fresh.get("/openapi.json").json()["paths"]
    assert not {"/metrics", "/docs", "/redoc"} & set(paths)


def test_one_structured_line_per_request_errors_with_code_and_request_id(fresh, photo, caplog):
    with caplog.at_level(logging.INFO, logger="service"):
        ok = fresh.post("/predict", files={"file": ("a.jpg", photo("green"))},
                        headers={"X-Request-ID": "obs-ok"})
        bad = fresh.post("/predict", files={"file": ("a.jpg", b"GIF89a")},
                         headers={"X-Request-ID": "obs-bad"})
    lines = [r for r in caplog.records if r.name == "service.requests"]
    assert [line.request_id for line in lines] == ["obs-ok", "obs-bad"]
    assert ok.status_code == 200 and lines[0].decode_ms >= 0 and lines[0].inference_ms >= 0
    assert (bad.status_code, lines[1].error_code, bad.json()["request_id"]) == (
        400, "invalid_image", "obs-bad")


def test_the_live_server_logs_json_lines_and_serves_metrics(server):
    before = len(server.log_lines())
    server.http.get("/nope", headers={"X-Request-ID": "live-404"})
    text = httpx.get(f"{server.url}/metrics").text
    assert 'penguin_errors_total{code="not_found"}' in text
    assert 'penguin_model_info{' in text
    new = server.log_lines()[before:]
    (line,) = [entry for entry in new if entry.get("request_id") == "live-404"]
    assert line["error_code"] == "not_found" and line["status"] == 404
    assert json.dumps(line)  # one JSON object per line


def test_docs_work_offline_from_local_assets(fresh):
    page = fresh.get("/docs")
    assert page.status_code == 200 and "swagger-ui" in page.text.lower()
    assert "cdn" not in page.text.lower() and "https://" not in page.text.split("<body>")[-1]
    for asset in ("/docs-assets/swagger-ui-bundle.js", "/docs-assets/swagger-ui.css",
                  "/docs-assets/redoc.standalone.js", "/docs-assets/favicon.png"):
        response = fresh.get(asset)
        assert response.status_code == 200 and len(response.content) > 1000, asset
    redoc = fresh.get("/redoc")
    assert redoc.status_code == 200 and "/docs-assets/redoc.standalone.js" in redoc.text
    assert "fonts.googleapis" not in redoc.text
