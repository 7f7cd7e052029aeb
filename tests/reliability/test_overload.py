"""Overload and the per-request deadline, seen from outside: a bounded queue answers 503 at once
instead of letting everyone wait, and nothing but those deliberate 503s ever fails.

The mechanics are unit-tested with the batcher (service/engine/batching.py); here the whole service
is driven past its bounds: in-process with a deliberately slow model (so the timing is exact),
and as a real server process flooded by concurrent uploads.
"""

from __future__ import annotations

import concurrent.futures
import io
import time
from collections import Counter

import httpx
import pytest
from PIL import Image
from reliability_helpers import HealthPoller, live_server

MODEL_SECONDS = 0.4  # one forward pass of the slowed-down model


def slow_down(client, seconds: float = MODEL_SECONDS) -> None:
    batcher = client.app.state.model.pipeline.runner.batcher
    real = batcher.run_batch

    def slow(items):
        time.sleep(seconds)
        return real(items)

    batcher.run_batch = slow


def burst(client, photo, count: int) -> list:
    def one(_):
        started = time.monotonic()
        response = client.post("/predict", files={"file": ("a.jpg", photo("red"))})
        return response, time.monotonic() - started

    with concurrent.futures.ThreadPoolExecutor(count) as pool:
        return list(pool.map(one, range(count)))


def test_past_the_queue_bound_requests_get_an_immediate_503_overloaded(
        serve, settings_for, photo):
    with serve(settings_for(max_queue=2, max_batch_size=1)) as client:
        slow_down(client)
        results = burst(client, photo, 10)
        after = client.post("/predict", files={"file": ("a.jpg", photo("red"))})
        metrics = client.get("/metrics").text
        assert client.get("/healthz").status_code == 200
    statuses = Counter(response.status_code for response, _ in results)
    assert set(statuses) == {200, 503} and statuses[200] >= 2, statuses
    for response, seconds in results:
        if response.status_code == 503:
            assert response.json()["error"]["code"] == "overloaded"
            assert int(response.headers["retry-after"]) >= 1
            assert seconds < MODEL_SECONDS, "an overloaded answer must not wait for the model"
        else:
            assert response.json()["species"] == "Adelie"
    assert after.status_code == 200  # every admission was released: nothing is stuck
    assert f'penguin_errors_total{{code="overloaded"}} {float(statuses[503])}' in metrics
    assert "penguin_queue_depth 0.0" in metrics


def test_work_still_queued_at_its_deadline_is_dropped_with_503_queue_timeout(
        serve, settings_for, photo):
    timeout = 0.5
    with serve(settings_for(request_timeout_s=timeout, max_batch_size=1, max_queue=50)) as client:
        slow_down(client, seconds=0.3)
        results = burst(client, photo, 8)  # one pass at a time: 8 x 0.3 s > 0.5 s
        after = client.post("/predict", files={"file": ("a.jpg", photo("red"))})
        assert client.get("/healthz").status_code == 200
    statuses = Counter(response.status_code for response, _ in results)
    assert set(statuses) == {200, 503} and statuses[503] >= 2, statuses
    for response, seconds in results:
        if response.status_code == 503:
            assert response.json()["error"]["code"] == "queue_timeout"
            assert int(response.headers["retry-after"]) >= 1
            # Answered at the deadline (plus at most the pass running then), not at the end.
            assert seconds < timeout + 0.3 + 0.5, seconds
    assert after.status_code == 200


def test_a_real_server_flooded_past_its_bound_answers_only_200_or_503(tiny_model_path, tmp_path):
    """24 concurrent 2000x1500 uploads against MAX_QUEUE=2: no error but deliberate 503s."""
    image = Image.effect_noise((2000, 1500), 20).convert("RGB")
    buffer = io.BytesIO()
    image.paste((230, 20, 20), (0, 0, 2000, 750))
    image.save(buffer, format="PNG", compress_level=1)  # PNG: no cheap JPEG draft decoding
    body = buffer.getvalue()
    with live_server(tiny_model_path, tmp_path / "server", MAX_QUEUE="2",
                     DECODE_WORKERS="1") as server:
        before = server.resources()

        def one(_):
            with httpx.Client(timeout=60) as http:
                return http.post(f"{server.url}/predict", content=body,
                                 headers={"Content-Type": "image/png"})

        with HealthPoller(server.url) as health, \
                concurrent.futures.ThreadPoolExecutor(24) as pool:
            responses = list(pool.map(one, range(24)))
        health.assert_responsive(max_seconds=2.0)
        statuses = Counter(response.status_code for response in responses)
        assert set(statuses) <= {200, 503} and statuses[200] >= 1, statuses
        assert statuses[503] >= 1, f"the bound was never reached: {statuses}"
        for response in responses:
            if response.status_code == 503:
                assert response.json()["error"]["code"] == "overloaded"
                assert "retry-after" in response.headers
        server.assert_healthy()
        server.assert_resources_back(before, rss_slack_mb=150)
        errors = [line for line in server.log_lines() if line.get("severity") == "ERROR"]
    assert not errors, errors


@pytest.mark.parametrize("path", ["/healthz", "/readyz", "/metrics"])
def test_probes_and_metrics_are_never_refused_for_overload(serve, settings_for, photo, path):
    with serve(settings_for(max_queue=1, max_batch_size=1)) as client:
        slow_down(client, seconds=0.5)
        with concurrent.futures.ThreadPoolExecutor(4) as pool:
            uploads = [pool.submit(client.post, "/predict",
                                   files={"file": ("a.jpg", photo("red"))}) for _ in range(4)]
            time.sleep(0.1)
            probe = client.get(path)
            assert probe.status_code == 200
            statuses = sorted(future.result().status_code for future in uploads)
    assert 503 in statuses and 200 in statuses
