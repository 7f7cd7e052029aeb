"""A PNG of a run over time: response times above, users and throughput below.

A table of totals hides when things went wrong; the plot shows whether latency grew with the
users, stayed flat, or drifted (a soak run's leak) and how fast a spike was absorbed.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # no display: runs headless, in CI and over SSH

import matplotlib.pyplot as plt  # noqa: E402

from loadtest.stats import HistoryPoint  # noqa: E402


def plot_history(history: list[HistoryPoint], out: Path, title: str) -> Path:
    """Write the two-panel plot to `out` (PNG) and return its path."""
    start = history[0].timestamp if history else 0
    seconds = [point.timestamp - start for point in history]
    figure, (latency, load) = plt.subplots(2, 1, sharex=True, figsize=(10, 6.5),
                                           height_ratios=(3, 2))
    for attribute, label in (("p50_ms", "median"), ("p95_ms", "p95"), ("p99_ms", "p99")):
        latency.plot(seconds, [_nan(getattr(point, attribute)) for point in history],
                     label=label, linewidth=1.2)
    latency.set_ylabel("response time, ms\n(last ~10 s)")
    latency.set_ylim(bottom=0)
    latency.grid(alpha=0.3)
    latency.legend(loc="upper left")
    latency.set_title(title)

    users = [point.users for point in history]
    load.plot(seconds, users, color="black", label="users")
    load.set_ylabel("users")
    load.set_ylim(0, max(users, default=1) * 1.4 or 1)  # headroom for the legend
    load.set_xlabel("seconds since start")
    load.grid(alpha=0.3)
    throughput = load.twinx()
    throughput.plot(seconds, [point.rps for point in history], color="tab:green",
                    label="requests/s")
    throughput.plot(seconds, [point.failures_per_s for point in history], color="tab:red",
                    label="failures/s")
    throughput.set_ylabel("per second")
    rates = [point.rps for point in history]
    throughput.set_ylim(0, max(rates, default=1) * 1.4 or 1)
    lines = load.get_lines() + throughput.get_lines()
    load.legend(lines, [line.get_label() for line in lines], loc="upper left", ncols=3)

    figure.tight_layout()
    figure.savefig(out, dpi=100)
    plt.close(figure)
    return out


def _nan(value: float | None) -> float:
    return float("nan") if value is None else value
