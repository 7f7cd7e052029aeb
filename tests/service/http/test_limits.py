"""Oversized bodies are refused while streaming, before the application has read them.

Most tests here switch off the discarding of a refused body's rest (REFUSED_BODY_DISCARD_BYTES=0)
to see the limit alone; the last ones, and tests/reliability/test_refusals_readable.py against
the real process, check the discarding.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

import anyio
import pytest

CHUNK = 16 * 1024
LIMIT = 64 * 1024
BOUNDARY = "limit-test-boundary"


class CountingBody:
    """An async request body of CHUNK-sized pieces (far more than any limit), counting pulls."""

    def __init__(self, first: bytes = b"", total: int = 64 * 1024 * 1024) -> None:
        self.first = first
        self.total = total
        self.pulled = 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        if self.first:
            self.pulled += 1
            yield self.first
        for _ in range(self.total // CHUNK):
            self.pulled += 1
            yield b"\xff" * CHUNK

    @property
    def bytes_pulled(self) -> int:
        return len(self.first) + CHUNK * self.pulled


def multipart_start(field: str) -> bytes:
    return (f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{field}\"; "
            f"filename=\"big.jpg\"\r\nContent-Type: image/jpeg\r\n\r\n").encode()


@pytest.fixture(scope="module")
def small_limit_client(serve, settings_for):
    with serve(settings_for(max_upload_bytes=LIMIT, max_batch_upload_bytes=LIMIT,
                            refused_body_discard_bytes=0)) as client:
        yield client


def assert_refused_early(response, body: CountingBody) -> None:
    assert response.status_code == 413
    assert response.headers["connection"] == "close"
    # Stopped within a chunk or two of the limit, out of 64 MiB offered.
    assert body.bytes_pulled <= LIMIT + 2 * CHUNK


def test_chunked_raw_body_over_the_limit_is_413_without_reading_it_all(small_limit_client):
    body = CountingBody()
    response = small_limit_client.post("/predict", content=body,
                                       headers={"Content-Type": "image/jpeg"})
    assert "content-length" not in response.request.headers  # really chunked
    assert_refused_early(response, body)
    error = response.json()["error"]
    assert error["code"] == "upload_too_large" and "64 MiB" not in error["message"]
    assert "65,536 bytes" in error["message"]


@pytest.mark.parametrize(("path", "field"), [("/predict", "file"), ("/predict/batch", "files")])
def test_chunked_multipart_over_the_limit_is_413(small_limit_client, path, field):
    body = CountingBody(first=multipart_start(field))
    response = small_limit_client.post(
        path, content=body, headers={"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"})
    assert_refused_early(response, body)
    assert response.json()["error"]["code"] == "upload_too_large"


def test_declared_content_length_over_the_limit_is_refused_before_reading(small_limit_client):
    body = CountingBody()
    response = small_limit_client.post(
        "/predict", content=body,
        headers={"Content-Type": "image/jpeg", "Content-Length": str(LIMIT + 1)})
    assert response.status_code == 413
    assert body.pulled == 0


def test_the_web_form_gets_the_413_as_a_page(small_limit_client):
    body = CountingBody(first=multipart_start("file"))
    response = small_limit_client.post(
        "/classify", content=body,
        headers={"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"})
    assert_refused_early(response, body)
    assert response.headers["content-type"].startswith("text/html")
    assert "That file is too large" in response.text


def test_a_body_exactly_at_the_limit_is_accepted(serve, settings_for, photo):
    data = photo("red", size=(300, 300), fmt="BMP")
    with serve(settings_for(max_upload_bytes=len(data))) as client:
        at_limit = client.post("/predict", content=data, headers={"Content-Type": "image/bmp"})
        over = client.post("/predict", content=data + b"\x00",
                           headers={"Content-Type": "image/bmp"})
    assert at_limit.status_code == 200 and at_limit.json()["species"] == "Adelie"
    assert over.status_code == 413


def test_the_refusal_is_logged_with_the_bytes_actually_read(small_limit_client, caplog):
    body = CountingBody()
    with caplog.at_level(logging.INFO, logger="service.requests"):
        small_limit_client.post("/predict", content=body, headers={"Content-Type": "image/png"})
    (line,) = [r for r in caplog.records if getattr(r, "path", None) == "/predict"]
    assert line.status == 413 and line.error_code == "upload_too_large"
    assert LIMIT < line.bytes_in <= LIMIT + CHUNK


@pytest.mark.parametrize("chunked", [False, True], ids=["declared", "chunked"])
def test_bodies_over_the_in_flight_budget_get_503_until_the_bytes_are_released(
    serve, settings_for, chunked
):
    """Two uploads that each fit the per-request limit but not, together, the budget of bytes
    held at once: the second is refused at once (503 + Retry-After, before its body is read),
    and accepted again once the first has finished."""
    settings = settings_for(max_upload_bytes=LIMIT, max_batch_upload_bytes=LIMIT,
                            max_inflight_upload_bytes=LIMIT, refused_body_discard_bytes=0)
    headers = {"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"}
    second = b"\xff" * (LIMIT // 2 + CHUNK)

    def second_body() -> bytes | AsyncIterator[bytes]:
        async def chunks() -> AsyncIterator[bytes]:
            yield second

        return chunks() if chunked else second

    async def scenario(client) -> tuple:
        first_chunk_taken, release = anyio.Event(), anyio.Event()

        async def held_body() -> AsyncIterator[bytes]:
            yield multipart_start("file") + b"\xff" * (LIMIT // 2)
            first_chunk_taken.set()  # asked for more: the first chunk went through the limit
            await release.wait()
            yield f"\r\n--{BOUNDARY}--\r\n".encode()

        async with anyio.create_task_group() as group:
            answers: dict[str, object] = {}

            async def post_held() -> None:
                answers["held"] = await client.http.post("/predict", content=held_body(),
                                                         headers=headers)

            group.start_soon(post_held)
            await first_chunk_taken.wait()
            scrape = await client.http.get("/metrics")
            refused = await client.http.post("/predict", content=second_body(),
                                             headers={"Content-Type": "image/jpeg"})
            release.set()
        again = await client.http.post("/predict", content=second,
                                       headers={"Content-Type": "image/jpeg"})
        return refused, answers["held"], again, scrape

    with serve(settings) as client:
        refused, held, again, scrape = client.portal.call(scenario, client)
    (gauge,) = [line for line in scrape.text.splitlines()
                if line.startswith("penguin_upload_bytes_in_flight ")]
    assert float(gauge.split()[1]) >= LIMIT // 2  # the held upload, as operators see it
    assert refused.status_code == 503
    assert refused.json()["error"]["code"] == "overloaded"
    assert refused.headers["retry-after"] == "1"
    assert held.status_code == 400  # its bytes are no image, but it was read and judged
    assert again.status_code == 400  # the budget is free again: read and judged, not refused


def test_in_flight_budget_smaller_than_one_batch_is_refused_at_startup(settings_for):
    with pytest.raises(ValueError, match="MAX_INFLIGHT_UPLOAD_BYTES"):
        settings_for(max_batch_upload_bytes=2 * LIMIT, max_inflight_upload_bytes=LIMIT)


def discard_fields(caplog) -> list[tuple[str, int, int]]:
    """(discard_end, discarded_bytes, bytes_in) of each request line logged, in order."""
    return [(line.discard_end, line.discarded_bytes, line.bytes_in) for line in caplog.records
            if line.name == "service.requests" and hasattr(line, "discard_end")]


def test_a_refused_bodys_rest_is_discarded_up_to_its_bound_then_answered(serve, settings_for,
                                                                        caplog):
    """Read on (and dropped) so clients that write before reading can read the 413, but no
    further than REFUSED_BODY_DISCARD_BYTES of the 64 MiB offered; the log line says how much
    and why it stopped."""
    with caplog.at_level(logging.INFO, logger="service.requests"), serve(settings_for(
            max_upload_bytes=LIMIT, refused_body_discard_bytes=4 * LIMIT)) as client:
        endless = CountingBody()
        refused = client.post("/predict", content=endless, headers={"Content-Type": "image/jpeg"})
        short = CountingBody(total=3 * LIMIT)
        finished = client.post("/predict", content=short, headers={"Content-Type": "image/jpeg"})
        declared = client.post("/predict", content=b"\xff" * (5 * LIMIT),
                               headers={"Content-Type": "image/jpeg"})
    assert refused.status_code == 413 and refused.json()["error"]["code"] == "upload_too_large"
    assert 5 * LIMIT <= endless.bytes_pulled <= 5 * LIMIT + 2 * CHUNK  # limit + discard bound
    assert finished.status_code == 413 and short.bytes_pulled == 3 * LIMIT  # read to its end
    assert declared.status_code == 413
    (bound, bound_bytes, _), (complete, rest, bytes_in), (too_large, none, _) = (
        discard_fields(caplog))
    assert bound == "bytes" and 4 * LIMIT < bound_bytes <= 4 * LIMIT + CHUNK
    # Everything after the chunk that passed the limit, read by the discarding.
    assert complete == "complete" and bytes_in == 3 * LIMIT and LIMIT < rest < 2 * LIMIT
    # Declared larger than the bound: not read at all (such clients may see a reset).
    assert (too_large, none) == ("declared_too_large", 0)


class StalledBody:
    """Passes the limit in one piece, then never sends another byte."""

    async def __aiter__(self) -> AsyncIterator[bytes]:
        yield b"\xff" * (LIMIT + 1)
        await anyio.sleep_forever()
        yield b""  # never reached


def test_a_stalled_bodys_discarding_ends_at_its_time_bound(serve, settings_for, caplog):
    with caplog.at_level(logging.INFO, logger="service.requests"), serve(settings_for(
            max_upload_bytes=LIMIT, refused_body_discard_seconds=0.2)) as client:
        refused = client.post("/predict", content=StalledBody(),
                              headers={"Content-Type": "image/jpeg"})
    assert refused.status_code == 413 and refused.json()["error"]["code"] == "upload_too_large"
    assert [(end, size) for end, size, _ in discard_fields(caplog)] == [("seconds", 0)]
