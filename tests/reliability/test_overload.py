"""Overload and the per-request deadline, seen from outside: a bounded queue answers 503 at once
instead of letting everyone wait, and nothing but those deliberate 503s ever fails.

The mechanics are unit-tested with the batcher (service/engine/batching.py); here the whole service
is driven past its bounds: in-process with a model held until the test releases it (so which
answers did not wait for it is known without timing anything), and as a real server process
flooded by concurrent uploads.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import io
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from PIL import Image
from reliability_helpers import HealthPoller, live_server

# Waits on the service longer than this are hangs; the bound only keeps them from hanging the suite.
HANG_GUARD_SECONDS = 30.0


@dataclass
class HeldModel:
    """Forward passes that wait until the test releases them: what is answered before the
    release did not wait for the model, whatever the machine's speed."""

    batcher: Any
    release: threading.Event = field(default_factory=threading.Event)
    items_held: int = 0  # items inside a held forward pass


@contextlib.contextmanager
def held_model(client) -> Iterator[HeldModel]:
    held = HeldModel(client.app.state.model.pipeline.runner.batcher)
    real = held.batcher.run_batch

    def run_when_released(items):
        held.items_held += len(items)
        held.release.wait(HANG_GUARD_SECONDS)
        return real(items)

    held.batcher.run_batch = run_when_released
    try:
        yield held
    finally:
        held.release.set()


def wait_until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + HANG_GUARD_SECONDS  # a hang guard, not a speed claim
    while not condition():
        assert time.monotonic() < deadline, f"hung: {what}"
        time.sleep(0.01)


def post_red(client, photo):
    return client.post("/predict", files={"file": ("a.jpg", photo("red"))})


def test_past_the_queue_bound_requests_get_an_immediate_503_overloaded(
        serve, settings_for, photo):
    # No deadline can pass while the model is held: every 503 here is the queue bound's.
    settings = settings_for(max_queue=2, max_batch_size=1,
                            request_timeout_s=2 * HANG_GUARD_SECONDS)
    with serve(settings) as client, concurrent.futures.ThreadPoolExecutor(10) as pool, \
            held_model(client) as model:  # released first on the way out, even on failure
        uploads = [pool.submit(post_red, client, photo) for _ in range(10)]
        # With the model held, every request is either admitted (and waits for it) or answered.
        wait_until(lambda: sum(u.done() for u in uploads) + model.batcher.admitted == 10,
                   "requests past the queue bound were not answered while the model was held")
        answered_while_held = [u.result() for u in uploads if u.done()]
        model.release.set()
        responses = [u.result(timeout=HANG_GUARD_SECONDS) for u in uploads]
        after = post_red(client, photo)
        metrics = client.get("/metrics").text
        assert client.get("/healthz").status_code == 200
    statuses = Counter(response.status_code for response in responses)
    assert set(statuses) == {200, 503} and statuses[200] >= 2, statuses
    # An overloaded answer does not wait for the model: every 503 came while it was held.
    assert len(answered_while_held) == statuses[503]
    for response in answered_while_held:
        assert response.status_code == 503
        assert response.json()["error"]["code"] == "overloaded"
        assert int(response.headers["retry-after"]) >= 1
    assert all(response.json()["species"] == "Adelie"
               for response in responses if response.status_code == 200)
    assert after.status_code == 200  # every admission was released: nothing is stuck
    assert f'penguin_errors_total{{code="overloaded"}} {float(statuses[503])}' in metrics
    assert "penguin_queue_depth 0.0" in metrics


def test_work_still_queued_at_its_deadline_is_dropped_with_503_queue_timeout(
        serve, settings_for, photo):
    with serve(settings_for(request_timeout_s=0.5, max_batch_size=1, max_queue=50)) as client, \
            concurrent.futures.ThreadPoolExecutor(8) as pool, held_model(client) as model:
        uploads = [pool.submit(post_red, client, photo) for _ in range(8)]
        # One pass at a time, and it is held: all but the photo inside it must be answered at
        # their deadline, without waiting for the pass.
        wait_until(lambda: sum(u.done() for u in uploads) + model.items_held == 8,
                   "queued requests were not answered at their deadline")
        answered_while_held = [u.result() for u in uploads if u.done()]
        items_held = model.items_held
        model.release.set()
        responses = [u.result(timeout=HANG_GUARD_SECONDS) for u in uploads]
        after = post_red(client, photo)
        assert client.get("/healthz").status_code == 200
    assert len(answered_while_held) >= 7, [r.status_code for r in responses]
    for response in answered_while_held:
        assert response.status_code == 503
        assert response.json()["error"]["code"] == "queue_timeout"
        assert int(response.headers["retry-after"]) >= 1
    held = [response for response in responses if response not in answered_while_held]
    assert [response.status_code for response in held] == [200] * items_held
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
        health.assert_responsive()
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
    settings = settings_for(max_queue=1, max_batch_size=1,
                            request_timeout_s=2 * HANG_GUARD_SECONDS)
    with serve(settings) as client, concurrent.futures.ThreadPoolExecutor(4) as pool, \
            held_model(client) as model:
        uploads = [pool.submit(post_red, client, photo) for _ in range(4)]
        wait_until(lambda: sum(u.done() for u in uploads) + model.batcher.admitted == 4,
                   "the queue bound was not reached")
        probe = client.get(path)  # the service is overloaded right now
        model.release.set()
        statuses = sorted(u.result(timeout=HANG_GUARD_SECONDS).status_code for u in uploads)
    assert probe.status_code == 200
    assert 503 in statuses and 200 in statuses
