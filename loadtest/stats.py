"""Reading Locust's CSV reports: the per-endpoint totals and the every-second history.

Locust writes `<prefix>_stats.csv` (one row per endpoint plus an Aggregated row, totals over
the whole run) and `<prefix>_stats_history.csv` (one Aggregated row a second: users, current
requests per second and response-time percentiles). Those percentiles are over the last ~10 s
only when Locust ran with --csv-full-history (loadtest/run.py passes it); without it they are
cumulative since the start. Everything the summary,
the plot and the ceiling analysis need is read here, into plain dataclasses, once.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

AGGREGATED = "Aggregated"


@dataclass(frozen=True)
class EndpointStats:
    """One row of `_stats.csv`: totals for an endpoint (or all of them) over the run."""

    method: str
    name: str
    requests: int
    failures: int
    rps: float
    median_ms: float
    average_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float

    @property
    def failure_rate(self) -> float:
        return self.failures / self.requests if self.requests else 0.0


@dataclass(frozen=True)
class HistoryPoint:
    """One row of `_stats_history.csv` (Aggregated): the state of the run at one second."""

    timestamp: int
    users: int
    rps: float
    failures_per_s: float
    p50_ms: float | None  # None when no response falls in the window
    p95_ms: float | None
    p99_ms: float | None
    total_requests: int
    total_failures: int


def stats_path(run_dir: Path) -> Path:
    """The run's `_stats.csv`, whatever prefix it was written with."""
    return _one(run_dir, "*_stats.csv")


def history_path(run_dir: Path) -> Path:
    return _one(run_dir, "*_stats_history.csv")


def read_stats(path: Path) -> list[EndpointStats]:
    """Every row, endpoints first and the Aggregated row last, as Locust writes them."""
    with path.open(newline="") as stream:
        return [
            EndpointStats(
                method=row["Type"], name=row["Name"],
                requests=int(row["Request Count"]), failures=int(row["Failure Count"]),
                rps=float(row["Requests/s"]),
                median_ms=_float(row["Median Response Time"]) or 0.0,
                average_ms=_float(row["Average Response Time"]) or 0.0,
                p95_ms=_float(row["95%"]) or 0.0, p99_ms=_float(row["99%"]) or 0.0,
                max_ms=_float(row["Max Response Time"]) or 0.0,
            )
            for row in csv.DictReader(stream)
        ]


def aggregated(rows: list[EndpointStats]) -> EndpointStats:
    for row in rows:
        if row.name == AGGREGATED:
            return row
    raise ValueError("no Aggregated row in the stats")


def read_history(path: Path) -> list[HistoryPoint]:
    """The Aggregated rows only (per-endpoint rows appear with --csv-full-history)."""
    with path.open(newline="") as stream:
        return [
            HistoryPoint(
                timestamp=int(row["Timestamp"]), users=int(row["User Count"]),
                rps=float(row["Requests/s"]), failures_per_s=float(row["Failures/s"]),
                p50_ms=_window(row["50%"]), p95_ms=_window(row["95%"]),
                p99_ms=_window(row["99%"]),
                total_requests=int(row["Total Request Count"]),
                total_failures=int(row["Total Failure Count"]),
            )
            for row in csv.DictReader(stream) if row["Name"] == AGGREGATED
        ]


def _float(text: str) -> float | None:
    """Locust writes 'N/A' for a percentile with no responses behind it."""
    try:
        return float(text)
    except ValueError:
        return None


def _window(text: str) -> float | None:
    """A windowed percentile: Locust writes 0 (or N/A) when no response fell in the window."""
    value = _float(text)
    return value if value else None


def _one(run_dir: Path, pattern: str) -> Path:
    matches = sorted(run_dir.glob(pattern))
    if len(matches) != 1:
        raise FileNotFoundError(f"expected one {pattern} in {run_dir}, found {len(matches)}")
    return matches[0]
