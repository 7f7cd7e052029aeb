"""End to end: a short headless Locust run of loadtest/locustfile.py against a real server."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from loadtest.stats import aggregated, read_history, read_stats
from loadtest.summary import PLOT_NAME, summarise_run

REPO_ROOT = Path(__file__).resolve().parents[2]


def test_a_short_headless_run_makes_requests_and_none_fail(server: str, tmp_path: Path):
    # The smoke scenario (3 users) through its LoadTestShape, cut to 4 s; with no wait, a few
    # seconds give dozens of requests over the three endpoints.
    env = {**os.environ, "SCENARIO": "smoke", "SMOKE_SECONDS": "4", "WAIT": "none"}
    finished = subprocess.run(
        [sys.executable, "-m", "locust", "-f", "loadtest/locustfile.py", "--headless",
         "--host", server,
         "--csv", str(tmp_path / "run"), "--csv-full-history", "--only-summary"],
        cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=60,
    )
    output = finished.stdout + finished.stderr
    assert finished.returncode == 0, output

    rows = read_stats(tmp_path / "run_stats.csv")
    total = aggregated(rows)
    assert total.requests >= 10, output
    assert total.failures == 0, (tmp_path / "run_failures.csv").read_text()
    assert {row.name for row in rows} >= {"/predict", "Aggregated"}
    # The smoke scenario's shape, not command-line options, set the users.
    assert "scenario smoke" in output
    assert max(point.users for point in read_history(tmp_path / "run_stats_history.csv")) == 3

    # The summary reads a real run's CSVs too, not only the fixture.
    markdown = summarise_run(tmp_path)
    assert "| POST /predict |" in markdown
    assert (tmp_path / PLOT_NAME).stat().st_size > 0
