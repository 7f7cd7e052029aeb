"""Request ids and the one structured log line per request."""

from __future__ import annotations

import logging
import re

import pytest


def request_lines(caplog, path: str) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "service.requests" and r.path == path]


def test_incoming_request_id_is_kept_and_echoed(client):
    response = client.get("/nowhere", headers={"X-Request-ID": "trace-abc.123"})
    assert response.headers["x-request-id"] == "trace-abc.123"
    assert response.json()["request_id"] == "trace-abc.123"


@pytest.mark.parametrize("incoming", [None, "", "has spaces", "x" * 200, "new\nline"])
def test_missing_or_unsafe_request_ids_are_replaced(client, incoming):
    headers = {} if incoming is None else {"X-Request-ID": incoming.replace("\n", "%0A")}
    response = client.get("/healthz", headers=headers)
    assert re.fullmatch(r"[0-9a-f]{32}", response.headers["x-request-id"])


def test_each_request_is_logged_once_with_its_outcome(client, photo, caplog):
    data = photo("green")
    with caplog.at_level(logging.INFO, logger="service.requests"):
        response = client.post("/predict", content=data, headers={
            "Content-Type": "image/jpeg", "X-Request-ID": "log-test-1"})
    (line,) = request_lines(caplog, "/predict")
    assert line.levelno == logging.INFO
    assert (line.method, line.status, line.request_id) == ("POST", 200, "log-test-1")
    assert line.bytes_in == len(data) and line.bytes_out == len(response.content)
    assert line.latency_ms >= 0
    assert line.prediction == {"species": "Chinstrap",
                               "confidence": response.json()["confidence"]}


def test_batch_requests_log_every_prediction(client, photo, caplog):
    files = [("files", ("a.jpg", photo("red"))), ("files", ("b.jpg", photo("blue")))]
    with caplog.at_level(logging.INFO, logger="service.requests"):
        client.post("/predict/batch", files=files)
    (line,) = request_lines(caplog, "/predict/batch")
    assert [p["species"] for p in line.predictions] == ["Adelie", "Gentoo"]


def test_errors_are_logged_with_their_code(client, caplog):
    with caplog.at_level(logging.INFO, logger="service.requests"):
        client.post("/predict", content=b"", headers={"Content-Type": "image/png"})
    (line,) = request_lines(caplog, "/predict")
    assert (line.status, line.error_code) == (400, "empty_file")
    assert not hasattr(line, "prediction")
