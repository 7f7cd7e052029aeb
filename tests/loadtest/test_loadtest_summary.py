"""The summary, plot and ceiling analysis, on a committed fixture run (a short ceiling run)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from loadtest.ceiling import find_ceiling, steps_of
from loadtest.stats import aggregated, history_path, read_history, read_stats, stats_path
from loadtest.summary import PLOT_NAME, SUMMARY_NAME, combined_table, main, summarise_run

FIXTURE_RUN = Path(__file__).resolve().parent / "fixtures" / "ceiling-run"


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    """A copy of the fixture run, so writing summary.md and the PNG leaves the fixture alone."""
    return Path(shutil.copytree(FIXTURE_RUN, tmp_path / "20250101-120000-ceiling"))


def test_stats_are_read_with_the_aggregated_row_last():
    rows = read_stats(stats_path(FIXTURE_RUN))
    assert [row.name for row in rows] == ["/classify", "/predict", "/predict/batch", "Aggregated"]
    total = aggregated(rows)
    assert total.requests == sum(row.requests for row in rows[:-1]) == 1834
    assert (total.failures, total.median_ms, total.p95_ms, total.p99_ms) == (0, 100, 410, 470)
    assert total.max_ms == pytest.approx(549.07, abs=0.01)


def test_history_keeps_aggregated_rows_and_reads_missing_percentiles_as_none():
    history = read_history(history_path(FIXTURE_RUN))
    assert len(history) == 46  # of 181 rows: the per-endpoint ones (--csv-full-history) are left
    assert history[0].users == 0 and history[0].p95_ms is None  # N/A: nothing answered yet
    assert history[1].p95_ms is None  # 0: nothing in the window yet
    assert history[2].p95_ms == 65
    assert max(point.users for point in history) == 16


def test_summary_writes_markdown_and_plot(run_dir: Path):
    markdown = summarise_run(run_dir)
    assert (run_dir / SUMMARY_NAME).read_text() == markdown
    header = "| endpoint | requests | failures | RPS | median ms | p95 ms | p99 ms | max ms |"
    assert header in markdown
    assert "| Aggregated | 1834 | 0 | 40.66 | 100 | 410 | 470 | 549 |" in markdown
    assert "Ceiling: 16 users at 47.4 requests/s with p95 440 ms" in markdown
    assert "- model: stub-untrained-mnv3s-160" in markdown
    assert (run_dir / PLOT_NAME).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_ceiling_is_the_last_step_within_the_p95_budget():
    history = read_history(history_path(FIXTURE_RUN))
    assert [step.users for step in steps_of(history)] == [1, 4, 16]
    ceiling = find_ceiling(history, budget_ms=300)
    assert ceiling.within is not None and ceiling.within.users == 4
    assert ceiling.within.p95_ms == 160 and ceiling.within.rps == pytest.approx(48.6)
    assert ceiling.peak_rps == pytest.approx(48.6)
    assert find_ceiling(history, budget_ms=500).within.users == 16
    assert find_ceiling(history, budget_ms=50).within is None


def test_combined_table_has_one_row_per_run(run_dir: Path, capsys: pytest.CaptureFixture):
    table = combined_table([run_dir, run_dir])
    lines = table.splitlines()
    assert lines[0].startswith("| scenario | users | wait | requests |")
    row = "| ceiling | 16 | no wait | 1834 | 0 | 40.66 | 100 | 410 | 470 | 549 |"
    assert lines[2] == lines[3] == row
    assert main(["--combined", str(run_dir)]) == 0
    assert "| ceiling | 16 |" in capsys.readouterr().out
