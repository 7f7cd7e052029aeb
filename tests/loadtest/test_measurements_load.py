"""The measurements load test: its birds, its answer check, and a short real Locust run."""

from __future__ import annotations

import os
import random
import subprocess
import sys
from pathlib import Path

import pytest

from loadtest.measurements import (
    BIRDS,
    check_measurement_answer,
    random_request,
    request_for,
)
from loadtest.run import LOCUSTFILES, locust_command
from loadtest.stats import aggregated, read_stats
from service.model.measurements import load_measurements_model, predict
from service.settings import DEFAULT_MEASUREMENTS_MODEL_PATH

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("all_features", [True, False], ids=["all", "bill-and-flipper"])
def test_the_shipped_model_names_every_load_test_bird_right(all_features):
    """Otherwise a correct service would fail the load test."""
    model = load_measurements_model(DEFAULT_MEASUREMENTS_MODEL_PATH)
    for bird in BIRDS:
        answer = predict(model, request_for(bird, all_features=all_features))
        assert answer.species == bird["species"], bird


def test_requests_mix_both_forms_and_every_species():
    rng = random.Random(4)
    sent = [random_request(rng) for _ in range(200)]
    assert {len(body) for body, _ in sent} == {3, 7}
    assert {species for _, species in sent} == {"Adelie", "Chinstrap", "Gentoo"}


@pytest.mark.parametrize(("body", "complaint"), [
    ({"species": "Adelie", "confidence": 0.9}, "expected Gentoo"),
    ({"species": "Gentoo", "confidence": 1.5}, "not between 0 and 1"),
    ({"species": "Gentoo", "confidence": "high"}, "not a number"),
    (["Gentoo"], "JSON object"),
])
def test_a_wrong_answer_is_a_failure(body, complaint):
    assert complaint in check_measurement_answer(body, "Gentoo")


def test_a_right_answer_passes():
    assert check_measurement_answer({"species": "Gentoo", "confidence": 0.99}, "Gentoo") is None


def test_the_runner_picks_the_measurements_locustfile(tmp_path):
    command = locust_command("http://x", tmp_path, [], LOCUSTFILES["measurements"])
    assert command[command.index("-f") + 1].endswith("loadtest/measurements_locustfile.py")


def test_a_short_headless_run_of_the_measurements_users_has_no_failure(server, tmp_path):
    env = {**os.environ, "SCENARIO": "smoke", "SMOKE_SECONDS": "3", "WAIT": "none"}
    finished = subprocess.run(
        [sys.executable, "-m", "locust", "-f", "loadtest/measurements_locustfile.py",
         "--headless", "--host", server, "--csv", str(tmp_path / "run"),
         "--only-summary"],
        cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=60)
    output = finished.stdout + finished.stderr
    assert finished.returncode == 0, output
    rows = read_stats(tmp_path / "run_stats.csv")
    assert {row.name for row in rows} >= {"/predict/measurements"}
    total = aggregated(rows)
    assert total.requests >= 10 and total.failures == 0, output
