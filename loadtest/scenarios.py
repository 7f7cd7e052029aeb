"""The load scenarios, each a table of stages, turned into Locust LoadTestShape classes by name.

The first four repeat the original study (baseline, normal, stress, spike) so our figures can be
set beside its figures; soak, tenx and ceiling answer the operations guide's questions (does it
hold for half an hour, what would ten times the traffic do, where is the ceiling). A table of
stages makes each scenario readable at a glance and keeps the shapes free of logic.

Plain data, no Locust import: importing locust monkey-patches the whole process with gevent,
which the test suite and the runner must not suffer. The LoadTestShape lives in shapes.py.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass

SCENARIO_ENV = "SCENARIO"


@dataclass(frozen=True)
class Stage:
    """Hold `users` users for `seconds`, starting or stopping `spawn_rate` users a second."""

    seconds: float
    users: int
    spawn_rate: float


@dataclass(frozen=True)
class Scenario:
    name: str
    description: str
    stages: tuple[Stage, ...]
    no_wait: bool = False  # True: users send their next request as soon as one is answered

    @property
    def duration(self) -> float:
        return sum(stage.seconds for stage in self.stages)


def stage_at(stages: tuple[Stage, ...], run_time: float) -> tuple[int, float] | None:
    """(users, spawn rate) at `run_time` seconds into the run; None once every stage is over."""
    end = 0.0
    for stage in stages:
        end += stage.seconds
        if run_time < end:
            return stage.users, stage.spawn_rate
    return None


def _number(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name, "").strip()
    try:
        value = float(raw) if raw else default
    except ValueError:
        raise ValueError(f"{name}={raw!r} is not a number") from None
    if value <= 0:
        raise ValueError(f"{name} must be positive, got {raw}")
    return value


def _smoke(env: Mapping[str, str]) -> Scenario:
    seconds = _number(env, "SMOKE_SECONDS", 10)
    return Scenario("smoke", f"3 users for {seconds:g} s: does the test itself work",
                    (Stage(seconds, 3, 3),))


def _baseline(env: Mapping[str, str]) -> Scenario:
    return Scenario("baseline", "1 user for 60 s: the latency of one request at a time",
                    (Stage(60, 1, 1),))


def _normal(env: Mapping[str, str]) -> Scenario:
    return Scenario("normal", "10 users for 5 min: everyday traffic", (Stage(300, 10, 2),))


def _stress(env: Mapping[str, str]) -> Scenario:
    return Scenario("stress", "50 users for 2 min: a busy day", (Stage(120, 50, 5),))


def _spike(env: Mapping[str, str]) -> Scenario:
    return Scenario(
        "spike", "1 user, then 100 users within 10 s, held to the 1 min mark, then back to 1",
        (Stage(10, 1, 1), Stage(50, 100, 10), Stage(20, 1, 100)),
    )


def _tenx(env: Mapping[str, str]) -> Scenario:
    return Scenario("tenx", "100 users (10 x normal, same wait) for 3 min",
                    (Stage(180, 100, 10),))


def _soak(env: Mapping[str, str]) -> Scenario:
    users = int(_number(env, "SOAK_USERS", 10))
    minutes = _number(env, "SOAK_MINUTES", 30)
    return Scenario("soak", f"{users} users for {minutes:g} min: leaks and slow drift",
                    (Stage(minutes * 60, users, 2),))


def _ceiling(env: Mapping[str, str]) -> Scenario:
    raw_steps = env.get("CEILING_USERS", "1,2,4,8,12,16,24,32")
    try:
        steps = [int(step) for step in raw_steps.split(",") if step.strip()]
    except ValueError:
        raise ValueError(f"CEILING_USERS={raw_steps!r} is not a comma-separated list") from None
    seconds = _number(env, "CEILING_STEP_SECONDS", 25)
    return Scenario(
        "ceiling", f"no wait, users stepping {raw_steps} every {seconds:g} s: the throughput limit",
        tuple(Stage(seconds, users, 20) for users in steps), no_wait=True,
    )


SCENARIOS: dict[str, Callable[[Mapping[str, str]], Scenario]] = {
    "smoke": _smoke, "baseline": _baseline, "normal": _normal, "stress": _stress, "spike": _spike,
    "tenx": _tenx, "soak": _soak, "ceiling": _ceiling,
}


def scenario_named(name: str, env: Mapping[str, str] | None = None) -> Scenario:
    """The scenario called `name`, with its knobs read from `env` (the environment by default)."""
    if name not in SCENARIOS:
        raise ValueError(f"unknown scenario {name!r}; choose one of {', '.join(SCENARIOS)}")
    return SCENARIOS[name](os.environ if env is None else env)
