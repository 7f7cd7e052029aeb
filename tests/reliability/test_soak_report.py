"""loadtest/soak.py's verdict: the memory slope, the percentiles and what counts as a failure."""

from __future__ import annotations

import argparse

import pytest

from loadtest.soak import Outcome, Run, Sample, percentile, report, slope_per_minute, unexpected


def samples(mb_per_minute: float, minutes: int = 10) -> list[Sample]:
    return [Sample(at=s, rss_mb=500 + mb_per_minute * s / 60, open_files=3, threads=9)
            for s in range(0, minutes * 60 + 1, 5)]


@pytest.mark.parametrize("slope", [0.0, 0.5, -2.0, 12.0])
def test_the_slope_is_the_least_squares_fit_in_mb_per_minute(slope):
    assert slope_per_minute(samples(slope)) == pytest.approx(slope)


def test_percentiles():
    values = [float(n) for n in range(1, 101)]
    assert (percentile(values, 50), percentile(values, 99), percentile(values, 100)) == (
        pytest.approx(50, abs=1), pytest.approx(99, abs=1), 100)


@pytest.mark.parametrize(("kind", "status", "code", "failed"), [
    ("predict", 200, None, False), ("predict", 503, "overloaded", False),
    ("predict", 503, "queue_timeout", False), ("predict", 503, "model_loading", True),
    ("predict", 500, "internal_error", True), ("predict", 0, "ReadTimeout", True),
    ("batch", 200, None, False), ("broken", 400, "invalid_image", False),
    ("broken", 200, None, True),
])
def test_only_deliberate_503s_and_the_broken_uploads_400s_are_not_failures(
        kind, status, code, failed):
    assert unexpected(Outcome(1.0, kind, status, code, 0.01)) is failed


def test_the_report_passes_a_flat_run_and_fails_a_leak():
    args = argparse.Namespace(minutes=10, warmup_minutes=2, max_slope=1.0, concurrency=8)
    conditions = {"date": "today", "machine": "test"}
    outcomes = [Outcome(float(n), "predict", 200, None, 0.02) for n in range(600)]
    flat, passed = report(Run(outcomes, samples(0.1)), args, conditions, 0, 0)
    assert passed and flat.startswith("# Soak test\n\n**PASS**") and "+0.10 MB/min" in flat
    leak, passed = report(Run(outcomes, samples(5.0)), args, conditions, 0, 0)
    assert not passed and "**FAIL**" in leak
    _, passed = report(Run(outcomes, samples(0.0)), args, conditions, 143, 0)
    assert not passed  # an unclean exit fails the soak too
