"""JSON log lines on stdout, one object per line.

Cloud Run (and most log collectors) parse a JSON line into fields: `severity` and `message` are
the names Cloud Logging understands, and every field given with `extra=` (status, latency,
prediction...) becomes searchable. The request id is added to every line logged during a request.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import sys
from typing import Any

from service.http.request_context import current_request_id

# Attributes every LogRecord has; anything else on a record came from `extra=`. Uvicorn adds
# `color_message`, a copy of the message with terminal colour codes.
_NOT_EXTRA = frozenset(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {
    "message", "asctime", "taskName", "color_message"}


class JsonFormatter(logging.Formatter):
    """Formats a record as one JSON object: time, severity, logger, message, request id, extras."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(
                timespec="milliseconds"),
            "severity": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        request_id = current_request_id()
        if request_id != "-":
            entry["request_id"] = request_id
        entry.update(
            (key, value) for key, value in record.__dict__.items()
            if key not in _NOT_EXTRA
        )
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def configure_logging(level: str) -> None:
    """Send every logger (ours, uvicorn's, torch's warnings) as JSON to stdout."""
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    logging.captureWarnings(True)
    # What no line shows is not gathered for every record (the logging HOWTO, "Optimization"):
    # the caller's file and line (a walk up the stack), thread and process names.
    logging._srcfile = None
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
