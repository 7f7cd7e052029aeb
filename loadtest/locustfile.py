"""Locust users that upload photos the way the classifier's real clients do.

Most traffic is one photo to /predict, as a program would send it; some is a batch of photos
to /predict/batch; some is the web page's no-script form posting to /classify. Every answer is
checked, not only its status: a 200 with a wrong body counts as a failure.

    SCENARIO=normal locust -f loadtest/locustfile.py --headless --host http://localhost:8080

Environment: SCENARIO picks the load shape (loadtest/scenarios.py; unset: users and run time
come from the command line or the web UI), WAIT the wait between a user's requests ('1-5'
seconds by default as in the original study, 'none' to find the ceiling), LOADTEST_CACHE where
the photo pool is cached. `make loadtest` and `make loadtest-ui` set these for you.
"""

from __future__ import annotations

import logging
import os
import random
from collections.abc import Callable
from typing import Any

import gevent
import requests
from locust import HttpUser, events, task
from locust.clients import ResponseContextManager
from locust.env import Environment

from loadtest.checks import DEFAULT_LABELS, check_batch, check_prediction, check_result_page
from loadtest.photos import Photo, describe_pool, load_pool
from loadtest.scenarios import SCENARIO_ENV, scenario_named
from loadtest.shapes import shape_class
from loadtest.waits import WAIT_ENV, describe_wait, wait_time_for

logger = logging.getLogger("loadtest")

REQUEST_TIMEOUT = 60  # seconds; generous, so a slow answer is measured rather than cut short
BATCH_SIZES = (2, 3, 4)

_scenario_name = os.environ.get(SCENARIO_ENV, "").strip()
SCENARIO = scenario_named(_scenario_name) if _scenario_name else None
NO_WAIT_DEFAULT = bool(SCENARIO and SCENARIO.no_wait)

if SCENARIO is not None:
    # Locust picks up any LoadTestShape subclass in this module: exactly one, the chosen one.
    ScenarioShape = shape_class(SCENARIO)

PHOTOS: list[Photo] = []
LABELS: list[str] = list(DEFAULT_LABELS)


@events.init.add_listener
def _load_photos(environment: Environment, **_kwargs: Any) -> None:
    """Generate (or read from the cache) the photo pool before any user starts."""
    PHOTOS[:] = load_pool()
    # Rendering a fresh pool blocks for seconds; gevent's cached clock would then start the
    # --run-time timer that many seconds in the past and cut the run short.
    gevent.get_hub().loop.update_now()
    logger.info("photo pool:\n%s", describe_pool(PHOTOS))
    logger.info("scenario %s, wait %s", SCENARIO.name if SCENARIO else "(from the command line)",
                describe_wait(os.environ.get(WAIT_ENV), no_wait_default=NO_WAIT_DEFAULT))


@events.test_start.add_listener
def _learn_labels(environment: Environment, **_kwargs: Any) -> None:
    """Ask the service which labels its model answers with; keep the usual four if it won't say.

    Fetched outside Locust's client so the look-up is not counted among the measured requests.
    """
    if not environment.host:
        return
    try:
        answer = requests.get(f"{environment.host.rstrip('/')}/model", timeout=10)
        answer.raise_for_status()
        LABELS[:] = answer.json()["labels"]
        logger.info("model %s, labels %s", answer.json().get("version"), ", ".join(LABELS))
    except (requests.RequestException, ValueError, KeyError) as error:
        logger.warning("could not read /model (%s); expecting labels %s", error,
                       ", ".join(LABELS))


def judge(response: ResponseContextManager, check: Callable[[Any], str | None],
          *, json_body: bool = True) -> None:
    """Mark the request failed unless it is a 200 whose body passes `check`."""
    if response.error is not None and not response.status_code:
        # No answer at all (connection refused or reset, timeout): name the exception.
        response.failure(f"no response: {type(response.error).__name__}: {response.error}")
        return
    if response.status_code != 200:
        response.failure(f"HTTP {response.status_code}{_error_code(response)}")
        return
    if json_body:
        try:
            body: Any = response.json()
        except ValueError:
            response.failure("answer is not JSON")
            return
    else:
        body = response.text
    problem = check(body)
    if problem:
        response.failure(problem)
    else:
        response.success()


def _error_code(response: ResponseContextManager) -> str:
    """The service's error code (e.g. ' model_loading'), so failures group by cause."""
    try:
        return f" {response.json()['error']['code']}"
    except (ValueError, KeyError, TypeError):
        return ""


def _part(photo: Photo) -> tuple[str, bytes, str]:
    return photo.filename, photo.data, photo.content_type


class PhotoUploader(HttpUser):
    """Someone (or some program) classifying photos, waiting between photos as people do."""

    wait_time = wait_time_for(os.environ.get(WAIT_ENV), no_wait_default=NO_WAIT_DEFAULT)

    @task(8)
    def predict(self) -> None:
        photo = random.choice(PHOTOS)
        with self.client.post("/predict", files={"file": _part(photo)}, name="/predict",
                              timeout=REQUEST_TIMEOUT, catch_response=True) as response:
            judge(response, lambda body: check_prediction(body, tuple(LABELS)))

    @task(1)
    def predict_batch(self) -> None:
        photos = random.sample(PHOTOS, k=random.choice(BATCH_SIZES))
        files = [("files", _part(photo)) for photo in photos]
        with self.client.post("/predict/batch", files=files, name="/predict/batch",
                              timeout=REQUEST_TIMEOUT, catch_response=True) as response:
            judge(response, lambda body: check_batch(body, len(photos), tuple(LABELS)))

    @task(1)
    def classify_page(self) -> None:
        photo = random.choice(PHOTOS)
        with self.client.post("/classify", files={"file": _part(photo)}, name="/classify",
                              timeout=REQUEST_TIMEOUT, catch_response=True) as response:
            judge(response, lambda page: check_result_page(page, tuple(LABELS)), json_body=False)
