"""Locust users sending penguin measurements to POST /predict/measurements (issue 15).

The same load shapes as the photo scenarios and as the published figures of the measurements
API this product is compared with (baseline 1 user 60 s, normal 10 users 5 min, stress 50 users
2 min, spike 1 to 100 users in 1 min), so the figures can be set side by side.

    python -m loadtest.run --target measurements --scenario baseline --host http://localhost:8080

Every answer is checked: a 200 naming the wrong species is a failure (loadtest/measurements.py).
"""

from __future__ import annotations

import os
import random

from locust import HttpUser, task

from loadtest.measurements import check_measurement_answer, random_request
from loadtest.scenarios import SCENARIO_ENV, scenario_named
from loadtest.shapes import shape_class
from loadtest.waits import WAIT_ENV, wait_time_for

REQUEST_TIMEOUT = 60  # seconds; a slow answer is measured, not cut short

_scenario_name = os.environ.get(SCENARIO_ENV, "").strip()
SCENARIO = scenario_named(_scenario_name) if _scenario_name else None

if SCENARIO is not None:
    # Locust picks up any LoadTestShape subclass in this module: exactly one, the chosen one.
    ScenarioShape = shape_class(SCENARIO)


class FieldResearcher(HttpUser):
    """Someone with callipers and a scale, sending one bird at a time as the study's users did."""

    wait_time = wait_time_for(os.environ.get(WAIT_ENV),
                              no_wait_default=bool(SCENARIO and SCENARIO.no_wait))

    def on_start(self) -> None:
        self.rng = random.Random()

    @task
    def predict_measurements(self) -> None:
        body, expected = random_request(self.rng)
        with self.client.post("/predict/measurements", json=body, name="/predict/measurements",
                              timeout=REQUEST_TIMEOUT, catch_response=True) as response:
            if response.status_code != 200:
                response.failure(f"HTTP {response.status_code}")
                return
            try:
                problem = check_measurement_answer(response.json(), expected)
            except ValueError:
                problem = "answer is not JSON"
            if problem:
                response.failure(problem)
            else:
                response.success()
