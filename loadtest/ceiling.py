"""Where the ceiling is: from a no-wait stepped run, the most users (and requests per second)
served while the 95th percentile stays under a latency budget.

With no wait, each user sends its next photo as soon as the last is answered, so users are
concurrency: past the service's throughput, more users only lengthen the queue. Each step of
the `ceiling` scenario holds a user count; its last history row has percentiles and requests
per second over the step's last ~10 s, after the change of users has settled.
"""

from __future__ import annotations

from dataclasses import dataclass

from loadtest.stats import HistoryPoint

DEFAULT_BUDGET_MS = 500.0


@dataclass(frozen=True)
class Step:
    users: int
    seconds: int
    rps: float
    p95_ms: float | None
    p50_ms: float | None


@dataclass(frozen=True)
class Ceiling:
    budget_ms: float
    steps: list[Step]
    within: Step | None  # the last step whose p95 is within the budget (None: not even one user)
    peak_rps: float

    def sentence(self) -> str:
        if self.within is None:
            return (f"p95 exceeded {self.budget_ms:g} ms from the first step; "
                    f"peak {self.peak_rps:.1f} requests/s")
        return (f"{self.within.users} users at {self.within.rps:.1f} requests/s with p95 "
                f"{self.within.p95_ms:.0f} ms (budget {self.budget_ms:g} ms); "
                f"peak {self.peak_rps:.1f} requests/s")


def steps_of(history: list[HistoryPoint]) -> list[Step]:
    """Consecutive runs of one non-zero user count, each summarised by its last row."""
    runs: list[list[HistoryPoint]] = []
    for point in history:
        if point.users == 0:
            continue
        if runs and runs[-1][-1].users == point.users:
            runs[-1].append(point)
        else:
            runs.append([point])
    return [Step(users=run[-1].users, seconds=run[-1].timestamp - run[0].timestamp + 1,
                 rps=run[-1].rps, p95_ms=run[-1].p95_ms, p50_ms=run[-1].p50_ms)
            for run in runs]


def find_ceiling(history: list[HistoryPoint], budget_ms: float = DEFAULT_BUDGET_MS,
                 min_step_seconds: int = 5) -> Ceiling:
    """Steps shorter than `min_step_seconds` (ramping between counts) are left out."""
    steps = [step for step in steps_of(history) if step.seconds >= min_step_seconds]
    within = None
    for step in steps:
        if step.p95_ms is None or step.p95_ms > budget_ms:
            break
        within = step
    peak = max((step.rps for step in steps), default=0.0)
    return Ceiling(budget_ms=budget_ms, steps=steps, within=within, peak_rps=peak)


def steps_table(ceiling: Ceiling) -> str:
    lines = ["| users | requests/s | median ms | p95 ms |", "|---:|---:|---:|---:|"]
    for step in ceiling.steps:
        lines.append(f"| {step.users} | {step.rps:.1f} | {_ms(step.p50_ms)} | {_ms(step.p95_ms)} |")
    return "\n".join(lines)


def _ms(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.0f}"
