"""What `make bench` sends to /predict/measurements and how it reads the batch command's rate
(loadtest/bench/harness.py); the benchmark itself is never run in tests."""

from __future__ import annotations

import json
from collections import Counter

from loadtest import measurements
from loadtest.bench.harness import MEASUREMENTS_PATH, batch_summary, measurement_requests
from service.batch.engine_run import RunStats
from service.batch.results import Row
from service.batch_command import report


def test_measurement_requests_are_each_bird_as_one_json_record_both_ways():
    requests, expected = measurement_requests(8080)
    assert len(requests) == len(expected) == 2 * len(measurements.BIRDS)
    bodies = []
    for request in requests:
        head, _, body = request.partition(b"\r\n\r\n")
        lines = head.decode().split("\r\n")
        assert lines[0] == f"POST {MEASUREMENTS_PATH} HTTP/1.1"
        assert "Content-Type: application/json" in lines
        assert f"Content-Length: {len(body)}" in lines
        bodies.append(json.loads(body))
    for index, bird in enumerate(measurements.BIRDS):
        assert bodies[2 * index] == measurements.request_for(bird, all_features=True)
        assert bodies[2 * index + 1] == measurements.request_for(bird, all_features=False)
        assert expected[2 * index] == expected[2 * index + 1] == bird["species"]
    assert Counter(expected) == {"Adelie": 8, "Chinstrap": 8, "Gentoo": 8}


def test_the_bench_reads_the_rate_the_batch_command_reports(capsys):
    report([Row("a.jpg", None, "cannot be read")], [], RunStats(classified=96, seconds=2.0))
    assert batch_summary(capsys.readouterr().err) == {
        "classified": 96, "skipped": 1, "images_per_second": 48.0, "seconds": 2.0}


def test_no_summary_is_none():
    assert batch_summary("penguin-classify: cannot use the model: ...\n") is None
