"""The Server-Timing header of every prediction, so browser devtools and load tools show where
a request's time went without parsing the JSON body.

Its metrics, in milliseconds, in the order a photo meets them (README, "Using it"):

    decode     reading the image and preprocessing it to the model's input, in the decode pool
    queue      waiting for a micro-batch to start (other photos' passes, the batching window)
    inference  the forward pass of the photo's batch, and the answer's way back
    total      the whole request in the service, reading the upload included
"""

from __future__ import annotations

import time
from collections.abc import Mapping

from starlette.requests import Request

from service.engine.pipeline import BatchClassified, Classified
from service.http.request_context import log_summary, note_for_log
from service.http.schemas import Timing

HEADER = "Server-Timing"
DESCRIPTIONS = {
    "decode": "Decode and preprocess",
    "queue": "Wait for a batch",
    "inference": "Forward pass",
    "total": "Whole request",
}


def server_timing(timing: Timing) -> dict[str, str]:
    """The header for a response whose body carries `timing` (the same figures)."""
    return {HEADER: format_metrics(timing.model_dump())}


def format_metrics(durations_ms: Mapping[str, float]) -> str:
    """`decode;dur=4.1;desc="Decode and preprocess", ...`, as RFC 8941 lists it (W3C spec)."""
    return ", ".join(f'{name};dur={durations_ms[name]};desc="{description}"'
                     for name, description in DESCRIPTIONS.items())


def timing_of(classified: Classified | BatchClassified, started: float) -> Timing:
    """The engine's timings of a request that began at `started`, with its total so far."""
    return Timing(decode=classified.decode_ms, queue=classified.queue_ms,
                  inference=classified.inference_ms, total=_elapsed_ms(started))


def note_timing(request: Request, classified: Classified) -> None:
    """The answer and its timings for the request's log line (and the latency metrics)."""
    note_for_log(request.scope, prediction=log_summary(classified.prediction),
                 decode_ms=classified.decode_ms, queue_ms=classified.queue_ms,
                 inference_ms=classified.inference_ms)


def _elapsed_ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 1)
