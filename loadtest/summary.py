"""Turn a run's Locust CSVs into a markdown summary and a PNG plot; or several runs into one table.

    python -m loadtest.summary loadtest/results/20250101-120000-normal
    python -m loadtest.summary --combined loadtest/results/*-baseline loadtest/results/*-normal

For one run it writes `summary.md` and `response_times.png` into the run's folder and prints
the markdown. With --combined it prints one row per run (the Aggregated totals), the table
published in loadtest/results/SUMMARY.md. The run's `run.json` (written by loadtest/run.py),
when present, supplies the scenario, wait and model version; plain Locust CSVs work without it.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from loadtest.ceiling import find_ceiling, steps_table
from loadtest.plot import plot_history
from loadtest.stats import (
    EndpointStats,
    aggregated,
    history_path,
    read_history,
    read_stats,
    stats_path,
)

COLUMNS = ("requests", "failures", "RPS", "median ms", "p95 ms", "p99 ms", "max ms")
PLOT_NAME = "response_times.png"
SUMMARY_NAME = "summary.md"


def table_row(label: str, stats: EndpointStats, extra: tuple[str, ...] = ()) -> str:
    cells = (label, *extra, str(stats.requests),
             f"{stats.failures} ({stats.failure_rate:.1%})" if stats.failures else "0",
             f"{stats.rps:.2f}", f"{stats.median_ms:.0f}", f"{stats.p95_ms:.0f}",
             f"{stats.p99_ms:.0f}", f"{stats.max_ms:.0f}")
    return "| " + " | ".join(cells) + " |"


def table_header(first: str, extra: tuple[str, ...] = ()) -> str:
    names = (first, *extra, *COLUMNS)
    aligns = (":--", *(":--" for _ in extra), *("--:" for _ in COLUMNS))
    return "| " + " | ".join(names) + " |\n|" + "|".join(aligns) + "|"


def endpoint_table(rows: list[EndpointStats]) -> str:
    """One row per endpoint, then the Aggregated row in bold-free last position."""
    lines = [table_header("endpoint")]
    lines += [table_row(f"{row.method} {row.name}".strip(), row) for row in rows]
    return "\n".join(lines)


def read_run_info(run_dir: Path) -> dict[str, Any]:
    path = run_dir / "run.json"
    return json.loads(path.read_text()) if path.exists() else {}


def summarise_run(run_dir: Path, *, plot: bool = True) -> str:
    """The run's markdown (and, with `plot`, its PNG beside the CSVs)."""
    info = read_run_info(run_dir)
    rows = read_stats(stats_path(run_dir))
    history = read_history(history_path(run_dir))
    scenario = info.get("scenario", run_dir.name)
    parts = [f"# Load test: {scenario}", ""]
    if info:
        parts += [
            f"- scenario: {info.get('description', scenario)}",
            f"- wait between a user's requests: {info.get('wait', '?')}",
            f"- host: {info.get('host', '?')}",
            f"- model: {info.get('model', {}).get('version', 'unknown')}",
            f"- started: {info.get('started_at', '?')}, "
            f"load average before: {info.get('load_before', '?')}",
            "",
        ]
    if history:
        parts += [f"Peak users: {max(point.users for point in history)}.", ""]
    parts.append(endpoint_table(rows))
    if info.get("scenario") == "ceiling" and history:
        ceiling = find_ceiling(history)
        parts += ["", f"Ceiling: {ceiling.sentence()}.", "", steps_table(ceiling)]
    if plot and history:
        plot_history(history, run_dir / PLOT_NAME, f"{scenario}: response time and load")
        parts += ["", f"![response time and users over time]({PLOT_NAME})"]
    markdown = "\n".join(parts) + "\n"
    (run_dir / SUMMARY_NAME).write_text(markdown)
    return markdown


def combined_table(run_dirs: list[Path]) -> str:
    """One row per run, from each run's Aggregated totals, with its peak users and wait."""
    extra_names = ("users", "wait")
    lines = [table_header("scenario", extra_names)]
    for run_dir in run_dirs:
        info = read_run_info(run_dir)
        history = read_history(history_path(run_dir))
        peak = str(max((point.users for point in history), default=0))
        total = aggregated(read_stats(stats_path(run_dir)))
        lines.append(table_row(info.get("scenario", run_dir.name), total,
                               (peak, info.get("wait", "?"))))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", type=Path, help="run folders holding Locust CSVs")
    parser.add_argument("--combined", action="store_true",
                        help="print one table with a row per run instead of per-run summaries")
    parser.add_argument("--no-plot", action="store_true", help="skip the PNG")
    args = parser.parse_args(argv)
    if args.combined:
        print(combined_table(args.runs))
    else:
        for run_dir in args.runs:
            print(summarise_run(run_dir, plot=not args.no_plot))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
