"""Log lines are single JSON objects with the fields log collectors index."""

from __future__ import annotations

import io
import json
import logging

import pytest

from service.http.logging_setup import JsonFormatter, configure_logging


def format_record(**options) -> dict:
    record = logging.LogRecord("service.test", logging.WARNING, __file__, 1, "hello %s",
                               ("world",), options.pop("exc_info", None))
    for key, value in options.items():
        setattr(record, key, value)
    line = JsonFormatter().format(record)
    assert "\n" not in line
    return json.loads(line)


def test_record_becomes_one_json_object_with_severity_and_extras():
    entry = format_record(status=413, prediction={"species": "Gentoo"}, color_message="\x1b[36m")
    assert entry["severity"] == "WARNING" and entry["message"] == "hello world"
    assert entry["logger"] == "service.test" and entry["time"].endswith("+00:00")
    assert entry["status"] == 413 and entry["prediction"] == {"species": "Gentoo"}
    assert "color_message" not in entry and "args" not in entry and "lineno" not in entry


def test_exceptions_stay_on_the_same_line():
    try:
        raise ValueError("bad\nthing")
    except ValueError:
        import sys
        entry = format_record(exc_info=sys.exc_info())
    assert "ValueError: bad" in entry["exception"]


@pytest.fixture
def restore_root_logger():
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    logging.captureWarnings(False)


def test_configure_logging_sends_uvicorn_and_our_lines_as_json_to_stdout(
        restore_root_logger, monkeypatch):
    stream = io.StringIO()
    monkeypatch.setattr("sys.stdout", stream)
    configure_logging("INFO")
    logging.getLogger("uvicorn.error").info("Started server process")
    logging.getLogger("service").debug("not at INFO")
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [line["message"] for line in lines] == ["Started server process"]
