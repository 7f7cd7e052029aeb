"""A scenario's table of stages as a Locust LoadTestShape class.

Kept apart from scenarios.py because importing locust monkey-patches the process with gevent:
only the locustfile, which runs inside Locust, imports this module.
"""

from __future__ import annotations

from typing import ClassVar

from locust import LoadTestShape

from loadtest.scenarios import Scenario, Stage, stage_at


class StagedShape(LoadTestShape):
    """A LoadTestShape that follows its `stages` table; subclasses only set the table."""

    abstract = True
    stages: ClassVar[tuple[Stage, ...]] = ()

    def tick(self) -> tuple[int, float] | None:
        return stage_at(self.stages, self.get_run_time())


def shape_class(scenario: Scenario) -> type[StagedShape]:
    """A LoadTestShape subclass named after the scenario (Locust shows and logs that name)."""
    class_name = f"{scenario.name.capitalize()}Shape"
    return type(class_name, (StagedShape,), {"stages": scenario.stages,
                                              "__doc__": scenario.description})
