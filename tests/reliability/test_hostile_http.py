"""Hostile requests against a real server process: oversized bodies, multipart abuse and
malformed HTTP, sent over raw sockets.

Every case asserts the status and the error code, that /healthz answers afterwards and, where a
request could leave something behind, that memory, open files and temporary files come back.
The multipart cases also poll /healthz from before the abuse is sent until after it is answered:
the parser runs on the event loop, so a parse that held the loop would leave a poll unanswered.
No assertion here is on speed (that is `make bench`'s): a time bound is only a hang guard.
"""

from __future__ import annotations

import pytest
from reliability_helpers import (
    BOUNDARY,
    HealthPoller,
    LiveServer,
    RawResponse,
    assert_error_shape,
    chunked,
    closing,
    multipart_type,
    part,
    raw_exchange,
    repeat,
    request_head,
)

from service.settings import MIB, Settings

LIMIT = 10 * MIB  # the default MAX_UPLOAD_BYTES the shared server runs with
BATCH_LIMIT = 50 * MIB
# What is read on (and dropped) after a refusal, so that clients writing first can read it.
DISCARD_LIMIT = Settings.model_fields["refused_body_discard_bytes"].default


def post_raw(server: LiveServer, body: bytes, content_type: str, path: str = "/predict",
             extra_headers: dict[str, str] | None = None) -> RawResponse:
    headers = {"Content-Type": content_type, "Content-Length": str(len(body)),
               **(extra_headers or {})}
    return raw_exchange(server.port, request_head("POST", path, headers), [body])


def assert_refused(server: LiveServer, response: RawResponse, status: int, code: str) -> None:
    assert response.status == status, (response.status, response.body[:300])
    assert_error_shape(response.status, response.headers, response.json(), code)
    server.assert_healthy()


# ---- upload size

@pytest.mark.parametrize(("path", "content_type", "declared"), [
    ("/predict", "image/jpeg", 100 * LIMIT),
    ("/predict/batch", multipart_type(), BATCH_LIMIT + DISCARD_LIMIT + 1),
])
def test_declared_length_over_the_limit_is_refused_before_any_body_byte(
        server, path, content_type, declared):
    """A body declared larger than the discarding would ever read is refused at once."""
    before = server.resources()
    head = request_head("POST", path, {"Content-Type": content_type,
                                       "Content-Length": str(declared)})
    response = raw_exchange(server.port, head, [])  # not one byte of the body is sent
    assert_refused(server, response, 413, "upload_too_large")
    assert response.headers["connection"] == "close" and response.closed
    server.assert_resources_back(before)


@pytest.mark.parametrize(("path", "prefix"), [
    ("/predict", b""),  # a raw image body
    ("/predict", part("file", b"")[:-2]),  # one multipart file part that never ends
    ("/predict/batch", part("files", b"")[:-2]),
])
def test_chunked_body_over_the_limit_is_refused_while_streaming_with_flat_memory(
        server, path, prefix):
    """No Content-Length: 256 MiB offered in 64 KiB chunks; refused soon after the limit.

    Twice: the memory a refusal freed may stay in the process for reuse (the service keeps up
    to 64 MiB free per heap: service/engine/allocator.py), so the second refusal must leave RSS
    where the first left it; memory that leaked would grow again."""
    limit = BATCH_LIMIT if path == "/predict/batch" else LIMIT
    content_type = multipart_type() if prefix else "image/jpeg"
    head = request_head("POST", path, {"Content-Type": content_type,
                                       "Transfer-Encoding": "chunked"})
    for _ in range(2):
        before = server.resources()
        server.reset_peak()
        response = raw_exchange(server.port, head,
                                chunked([prefix, *repeat(b"\xff" * 65536, 256 * MIB)]))
        peak_growth = server.peak_mb() - before.rss_mb
        assert_refused(server, response, 413, "upload_too_large")
        # The server stopped reading near the limit plus the discarding's bound (socket
        # buffers hold a few MiB more), not at the end of the 256 MiB...
        assert response.bytes_sent < limit + DISCARD_LIMIT + 16 * MIB, response.bytes_sent
        # ...and never held much of it: multipart parts spool to disk past 1 MiB, raw bodies
        # are refused by counting. Peak RSS, not just RSS afterwards.
        assert peak_growth < 3 * limit / MIB, f"peak RSS grew {peak_growth:.0f} MB"
    server.assert_resources_back(before)


def test_batch_declared_one_byte_over_its_limit_is_refused_after_its_body_is_discarded(server):
    """Declared within the discarding's bound, the body is read and dropped before the 413, so
    a client that writes it all before reading still reads the refusal. (Never sent, the
    server would wait out REFUSED_BODY_DISCARD_SECONDS first: test_refusals_readable.py.)"""
    head = request_head("POST", "/predict/batch", {"Content-Type": multipart_type(),
                                                   "Content-Length": str(BATCH_LIMIT + 1)})
    body = [*repeat(b"\xff" * 65536, BATCH_LIMIT), b"\xff"]  # exactly as declared
    response = raw_exchange(server.port, head, body)
    assert_refused(server, response, 413, "upload_too_large")
    assert response.bytes_sent == BATCH_LIMIT + 1


def test_a_large_file_part_under_the_limit_leaves_no_temporary_file(server):
    """9 MiB spools to a temporary file (past 1 MiB); it must be gone after the answer."""
    before = server.resources()
    body = part("file", b"\x00" * (9 * MIB)) + closing()
    response = post_raw(server, body, multipart_type())
    assert_refused(server, response, 400, "invalid_image")
    server.assert_resources_back(before)


def test_a_batch_of_large_garbage_files_reports_each_and_leaves_nothing(server):
    before = server.resources()
    body = b"".join(part("files", bytes([n]) * (3 * MIB), filename=f"{n}.jpg")
                    for n in range(8)) + closing()
    response = post_raw(server, body, multipart_type(), path="/predict/batch")
    assert response.status == 200
    results = response.json()["results"]
    assert [r["error"]["code"] for r in results] == ["invalid_image"] * 8
    server.assert_healthy()
    server.assert_resources_back(before)


# ---- multipart abuse

def _many_file_parts(count: int) -> bytes:
    return b"".join(part("file", filename=f"{n}.jpg") for n in range(count)) + closing()


def _many_fields(count: int) -> bytes:
    return b"".join(part(f"field{n}", filename=None, content_type="text/plain")
                    for n in range(count)) + closing()


def _crlf_flood(where: str) -> bytes:
    flood = b"\r\n" * (4 * MIB)  # 8 MiB of line breaks, just under the body limit
    file_part = part("file", b"not a photo")
    if where == "before":
        return flood + file_part + closing()
    if where == "between":
        return file_part + flood + closing()
    return file_part + closing() + flood


def _huge_part_header() -> bytes:
    return (f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.jpg\""
            f"\r\nX-Padding: ").encode() + b"a" * (8 * MIB) + b"\r\n\r\nxx\r\n" + closing()


def _thousands_of_part_headers() -> bytes:
    return (f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.jpg\""
            "\r\n").encode() + b"X-Padding: a\r\n" * 500_000 + b"\r\nxx\r\n" + closing()


MULTIPART_ABUSE = {
    # name: (body, content type, status, code)
    "50 file parts where one is expected": (
        _many_file_parts(50), multipart_type(), 422, "multiple_files"),
    "1001 file parts": (_many_file_parts(1001), multipart_type(), 400, "malformed_request"),
    "5000 fields": (_many_fields(5000), multipart_type(), 400, "malformed_request"),
    "ReDoS-class Content-Type: 60000 backslashes": (
        part("file") + closing(), 'multipart/form-data; !="' + "\\" * 60_000, 400,
        "malformed_request"),
    "ReDoS-class Content-Type: 60000 semicolons": (  # parsed: the part is not an image
        part("file") + closing(), multipart_type() + ";" * 60_000, 400, "invalid_image"),
    "8000-character boundary": (
        part("file", boundary="b" * 8000) + closing("b" * 8000), multipart_type("b" * 8000),
        400, "malformed_request"),
    "no boundary": (part("file") + closing(), "multipart/form-data", 400, "malformed_request"),
    "empty boundary": (part("file") + closing(), "multipart/form-data; boundary=", 400,
                       "malformed_request"),
    "8 MiB of CR/LF before the first boundary": (
        _crlf_flood("before"), multipart_type(), 400, "invalid_image"),
    "8 MiB of CR/LF between the parts": (
        _crlf_flood("between"), multipart_type(), 400, "invalid_image"),
    "8 MiB of CR/LF after the closing boundary": (
        _crlf_flood("after"), multipart_type(), 400, "invalid_image"),
    "an 8 MiB part header": (_huge_part_header(), multipart_type(), 400, "malformed_request"),
    "500000 part header lines": (
        _thousands_of_part_headers(), multipart_type(), 400, "malformed_request"),
    "a 3 MiB file name": (
        part("file", filename="a" * (3 * MIB)) + closing(), multipart_type(), 400,
        "malformed_request"),
    "a part without a name": (
        f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\n\r\nxx\r\n".encode() + closing(),
        multipart_type(), 400, "malformed_request"),
    "binary garbage declared as multipart": (
        b"\x00\xff" * (2 * MIB), multipart_type(), 400, "malformed_request"),
}


@pytest.mark.parametrize("case", list(MULTIPART_ABUSE))
def test_multipart_abuse_is_answered_and_health_answers_throughout(server, case):
    body, content_type, status, code = MULTIPART_ABUSE[case]
    assert len(body) < LIMIT  # these are about parsing, not size
    before = server.resources()
    with HealthPoller(server.url) as health:
        response = post_raw(server, body, content_type)
    assert_refused(server, response, status, code)
    health.assert_responsive()
    server.assert_resources_back(before)


def test_several_hostile_uploads_at_once_do_not_starve_health_checks(server):
    """Eight concurrent 8 MiB CR/LF floods and part-header floods while /healthz is polled."""
    import concurrent.futures

    bodies = [_crlf_flood("before"), _thousands_of_part_headers()] * 4
    with HealthPoller(server.url) as health, concurrent.futures.ThreadPoolExecutor(8) as pool:
        responses = list(pool.map(lambda b: post_raw(server, b, multipart_type()), bodies))
    assert [r.status for r in responses] == [400] * 8
    health.assert_responsive()
    server.assert_healthy()


# ---- malformed HTTP (refused by uvicorn before the app: plain-text 400, no error code)

@pytest.mark.parametrize("head", [
    b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Padding: " + b"a" * (5 * MIB) + b"\r\n\r\n",
    b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + b"X-Padding: a\r\n" * 100_000 + b"\r\n",
    b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\nContent-Length: abc\r\n\r\n",
    b"GET /\x00\x01 HTTP/1.1\r\nHost: x\r\n\r\n",
], ids=["5 MiB header", "100000 headers", "non-numeric Content-Length", "control bytes in path"])
def test_malformed_http_is_refused_by_the_server(server, head):
    response = raw_exchange(server.port, head)
    assert response.status == 400 and response.closed
    assert response.error_code is None  # uvicorn's own answer; the app never saw it
    server.assert_healthy()


# The encoded ones aim at real files: service/http/app.py and service/settings.py.
@pytest.mark.parametrize("path", ["/static/../../etc/passwd", "/static/%2e%2e/app.py",
                                  "/static/..%2f..%2f..%2fservice%2fsettings.py",
                                  "/docs-assets/../../../etc/passwd"])
def test_path_traversal_finds_nothing(server, path):
    response = raw_exchange(server.port, request_head("GET", path, {}))
    assert_refused(server, response, 404, "not_found")
    assert b"root:" not in response.body and b"import" not in response.body


def test_every_hostile_request_was_logged_with_its_code_and_id_and_none_was_a_500(server):
    """Runs last in this module: the server's log over everything above."""
    requests = [line for line in server.log_lines() if "path" in line and "status" in line]
    assert requests
    for line in requests:
        assert line["request_id"] and line["severity"] == "INFO", line
        if line["status"] >= 400:
            assert line.get("error_code"), line
    assert not [line for line in server.log_lines() if line["severity"] in ("ERROR", "CRITICAL")]
