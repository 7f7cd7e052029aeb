"""Micro-batching through the real app: same answers batched or alone, and overload handled.

The inference thread is held with a gate where a test needs a busy server, so nothing here
depends on how fast this machine is.
"""

from __future__ import annotations

import io
import random
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future

import anyio
import pytest
import torch
from PIL import Image

from service.engine.inference import InferenceRunner
from service.model.classifier import interpret, load_classifier
from service.model.preprocessing import bytes_to_pixels
from service.model.torch_network import normalize

PROBABILITY_TOLERANCE = 1e-5


def noise_photo(seed: int, size: tuple[int, int] = (120, 90)) -> bytes:
    """A photo of coloured noise: every seed a different input, so answers differ."""
    pixels = random.Random(seed).randbytes(size[0] * size[1] * 3)
    buffer = io.BytesIO()
    Image.frombytes("RGB", size, pixels).save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()


def post_photo(client, data: bytes, name: str = "a.jpg"):
    return client.post("/predict", files={"file": (name, data, "image/jpeg")})


def post_concurrently(client, photos: list[bytes]) -> list:
    """All uploads in flight at once, on the app's own event loop."""
    async def all_at_once():
        responses = [None] * len(photos)

        async def one(index: int) -> None:
            responses[index] = await client.http.post(
                "/predict", files={"file": (f"{index}.jpg", photos[index], "image/jpeg")})

        async with anyio.create_task_group() as group:
            for index in range(len(photos)):
                group.start_soon(one, index)
        return responses

    return client.portal.call(all_at_once)


def record_batches(client) -> list[int]:
    """The size of every forward pass from now on."""
    sizes: list[int] = []
    batcher = client.app.state.model.pipeline.runner.batcher
    previous = batcher.on_batch

    def on_batch(size: int, seconds: float) -> None:
        sizes.append(size)
        previous(size, seconds)

    batcher.on_batch = on_batch
    return sizes


def hold_inference(client) -> tuple[threading.Event, threading.Event, list[int]]:
    """Make every forward pass wait for `gate`; `running` is set when one has started."""
    gate, running, ran = threading.Event(), threading.Event(), []
    batcher = client.app.state.model.pipeline.runner.batcher
    real = batcher.run_batch

    def held(items: list[torch.Tensor]) -> list:
        ran.append(len(items))
        running.set()
        gate.wait(timeout=10)
        return real(items)

    batcher.run_batch = held
    return gate, running, ran


def in_background(client, data: bytes) -> Future:
    return client.portal.start_task_soon(
        lambda: client.http.post("/predict", files={"file": ("bg.jpg", data, "image/jpeg")}))


def wait_for(condition: Callable[[], bool], timeout: float = 30.0) -> None:
    """Until `condition` holds; the timeout is a hang guard, not a speed claim."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.005)


# ---- parity -------------------------------------------------------------------------------


def contiguous_nchw(pixels) -> torch.Tensor:
    """One (H, W, 3) photo as a contiguous 1x3xHxW tensor, the layout training evaluates in."""
    return torch.from_numpy(pixels.copy()).permute(2, 0, 1).contiguous()[None]


def test_a_batch_gives_each_photo_the_probabilities_it_gets_alone(mobilenet_path, settings_for):
    classifier = load_classifier(mobilenet_path)
    spec = classifier.metadata.preprocessing
    runner = InferenceRunner.from_settings(classifier, settings_for())
    try:
        pixels = [bytes_to_pixels(noise_photo(seed), size=spec.input_size) for seed in range(12)]
        batched = runner.run_batch(pixels)
        alone = [runner.run_batch([one])[0] for one in pixels]
        # Training's evaluation path: contiguous NCHW, normalised per photo.
        with torch.inference_mode():
            offline = [interpret(classifier.module(normalize(contiguous_nchw(one), spec)),
                                 classifier.metadata)[0] for one in pixels]
    finally:
        runner.close()
    for together, single, reference in zip(batched, alone, offline, strict=True):
        assert together.species == single.species == reference.species
        for label, probability in together.probabilities.items():
            assert probability == pytest.approx(single.probabilities[label],
                                                abs=PROBABILITY_TOLERANCE)
            assert probability == pytest.approx(reference.probabilities[label],
                                                abs=PROBABILITY_TOLERANCE)


@pytest.mark.parametrize("precision", ["float32", "bfloat16"])
def test_answers_through_the_app_are_identical_batched_or_alone(serve, settings_for,
                                                                mobilenet_path, precision):
    photos = [noise_photo(seed) for seed in range(8)]
    # A long wait, so the concurrent uploads surely share a batch; decoding on 2 threads.
    settings = settings_for(model_path=mobilenet_path, max_batch_wait_ms=1000.0,
                            inference_precision=precision)
    with serve(settings) as client:
        sizes = record_batches(client)
        together = post_concurrently(client, photos)
        assert max(sizes) > 1, sizes  # they were batched
        sizes.clear()
        alone = [post_photo(client, data) for data in photos]
        assert sizes == [1] * len(photos)  # and these were not
    for batched, single in zip(together, alone, strict=True):
        assert batched.status_code == single.status_code == 200
        first, second = batched.json(), single.json()
        assert first["probabilities"] == second["probabilities"]
        assert first["species"] == second["species"]


def test_batch_endpoint_files_are_split_into_micro_batches(serve, settings_for, photo):
    with serve(settings_for(max_batch_size=2)) as client:
        sizes = record_batches(client)
        colours = ["red", "green", "blue", "black", "red"]
        files = [("files", (f"{c}.jpg", photo(c), "image/jpeg")) for c in colours]
        response = client.post("/predict/batch", files=files)
        assert response.status_code == 200
        species = [item["species"] for item in response.json()["results"]]
        assert species == ["Adelie", "Chinstrap", "Gentoo", "no_penguin", "Adelie"]
        assert sizes and max(sizes) <= 2 and sum(sizes) == 5


def test_forward_passes_are_reported_to_the_metrics(serve, settings_for, photo):
    with serve(settings_for()) as client:
        assert post_photo(client, photo("red")).status_code == 200
        text = client.get("/metrics").text
    count = [line for line in text.splitlines() if line.startswith("penguin_batch_size_count")]
    assert count and float(count[0].split()[-1]) >= 1


# ---- overload -----------------------------------------------------------------------------


def assert_busy_error(response, code: str) -> None:
    assert response.status_code == 503, response.text
    body = response.json()
    assert body["error"]["code"] == code and body["error"]["message"]
    assert body["request_id"] == response.headers["x-request-id"]
    assert int(response.headers["retry-after"]) >= 1


def test_beyond_the_queue_bound_requests_get_a_fast_503(serve, settings_for, photo):
    with serve(settings_for(max_queue=1)) as client:
        gate, running, _ = hold_inference(client)
        first = in_background(client, photo("red"))
        assert running.wait(5)  # the only place is taken, in a forward pass
        started = time.perf_counter()
        refused = post_photo(client, photo("green"))
        refused_in = time.perf_counter() - started
        # Refused before the body is read: even a malformed upload gets the 503, not a 400.
        unparsed = client.post("/predict", content=b"--x\r\ngarbage",
                               headers={"Content-Type": "multipart/form-data; boundary=x"})
        gate.set()
        assert first.result(timeout=10).status_code == 200
        after = post_photo(client, photo("blue"))
    assert_busy_error(refused, "overloaded")
    assert refused_in < 1.0
    assert_busy_error(unparsed, "overloaded")
    assert after.status_code == 200 and after.json()["species"] == "Gentoo"


def test_work_queued_past_the_deadline_is_answered_503_and_never_runs(serve, settings_for,
                                                                      photo):
    with serve(settings_for(request_timeout_s=0.5, max_batch_wait_ms=0.0)) as client:
        gate, running, ran = hold_inference(client)
        first = in_background(client, photo("red"))
        assert running.wait(5)
        started = time.perf_counter()
        late = post_photo(client, photo("green"))  # queued behind the held forward pass
        answered_in = time.perf_counter() - started
        gate.set()
        first_response = first.result(timeout=10)
        after = post_photo(client, photo("blue"))
    assert_busy_error(late, "queue_timeout")
    assert answered_in < 5.0  # at its deadline, not whenever the inference thread freed up
    assert first_response.status_code == 200  # already running at its deadline: finished
    assert after.status_code == 200 and after.json()["species"] == "Gentoo"
    assert ran == [1, 1]  # the first photo and the last; the late one never ran


def test_overload_errors_are_documented():
    from service.http.errors import ERROR_CATALOGUE

    assert {"overloaded", "queue_timeout"} <= set(ERROR_CATALOGUE[503][1])
