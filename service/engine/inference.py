"""Where forward passes run: dynamic micro-batches on one dedicated thread, never the event loop.

Concurrent requests are gathered by a `MicroBatcher` (service/engine/batching.py) into one forward
pass: on a CPU, one pass over 16 photos costs far less than 16 passes over one. Requests are
admitted against a bound (`MAX_QUEUE`) before any work is done for them, so an overloaded
server answers 503 + Retry-After at once, and work still queued at its deadline
(`REQUEST_TIMEOUT_S`) is dropped without running. Routes and the pipeline only ever
`refuse_if_full` (before reading an upload), `admit`, `run_before_deadline` (decoding, in the
decode pool) and `await runner.predict(pixels, admission)`.

Inputs arrive as (H, W, 3) uint8 arrays and are stacked here into one batch, which the backend
normalises at once, in the layout it runs fastest in (service/model/networks.py).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from concurrent.futures import Executor, ThreadPoolExecutor
from typing import Protocol, TypeVar

import numpy as np

from service.engine.batching import Admission, DeadlineExceeded, MicroBatcher, Overloaded
from service.model.classifier import Classifier, Prediction
from service.model.errors import ApiError
from service.settings import Settings

Value = TypeVar("Value")


class InferenceObserver(Protocol):
    """What the runner reports (the app's metrics implement it): each forward pass and the
    length of its queue."""

    def observe_batch(self, size: int, seconds: float) -> None:
        """One forward pass over `size` inputs took `seconds`."""

    def set_queue_depth(self, depth: int) -> None:
        """`depth` inputs are waiting for a forward pass."""


class InferenceRunner:
    """Runs a classifier on micro-batches, on a single worker thread (its backend using
    `threads` threads): one worker, because the backend already spreads a pass over the CPUs
    it is given, and two passes at once would only fight over the same cores."""

    def __init__(
        self,
        classifier: Classifier,
        *,
        threads: int,
        max_batch_size: int,
        max_batch_wait_ms: float,
        max_queue: int,
        request_timeout_s: float,
        observer: InferenceObserver | None = None,
    ) -> None:
        self.classifier = classifier
        self._executor = ThreadPoolExecutor(
            max_workers=1,
            thread_name_prefix="inference",
            initializer=classifier.network.configure_thread,
        )
        self.batcher: MicroBatcher[np.ndarray, Prediction] = MicroBatcher(
            self.run_batch,
            executor=self._executor,
            max_batch_size=max_batch_size,
            max_batch_wait_ms=max_batch_wait_ms,
            max_queue=max_queue,
            request_timeout_s=request_timeout_s,
            on_batch=observer.observe_batch if observer else None,
            on_queue_depth=observer.set_queue_depth if observer else None,
        )

    @classmethod
    def from_settings(cls, classifier: Classifier, settings: Settings,
                      observer: InferenceObserver | None = None) -> InferenceRunner:
        """The runner the service runs: batching and queue bounds as configured."""
        return cls(classifier, threads=settings.torch_threads,
                   max_batch_size=settings.max_batch_size,
                   max_batch_wait_ms=settings.max_batch_wait_ms, max_queue=settings.max_queue,
                   request_timeout_s=settings.request_timeout_s, observer=observer)

    @contextlib.contextmanager
    def admit(self, weight: int = 1) -> Iterator[Admission]:
        """A place in the queue for `weight` photos, held until the block ends; a 503
        `overloaded` at once when the queue is full."""
        try:
            admission = self.batcher.admit(weight)
        except Overloaded as error:
            raise overloaded_error(error.retry_after) from error
        with admission:
            yield admission

    def refuse_if_full(self) -> None:
        """A 503 `overloaded` now if no photo could be admitted: lets a route refuse before it
        reads (and parses) the upload, which is most of what an answer costs under overload."""
        if self.batcher.admitted >= self.batcher.max_queue:
            raise overloaded_error(self.batcher.retry_after)

    async def run_before_deadline(self, pool: Executor, function: Callable[..., Value],
                                  *args: object, admission: Admission) -> Value:
        """`function(*args)` in `pool` (decoding), unless still queued there at the deadline:
        then a 503 `queue_timeout`."""
        try:
            return await self.batcher.run_before_deadline(pool, function, *args,
                                                          admission=admission)
        except DeadlineExceeded as error:
            raise deadline_error(error.retry_after) from error

    async def predict(self, pixels: np.ndarray, admission: Admission) -> Prediction:
        """Classify one (H, W, 3) uint8 photo, in whichever batch it joins."""
        prediction, _ = await self.predict_timed(pixels, admission)
        return prediction

    async def predict_timed(self, pixels: np.ndarray, admission: Admission
                            ) -> tuple[Prediction, float]:
        """`predict`, plus the seconds the photo waited in the queue for its batch."""
        try:
            return await self.batcher.submit_timed(pixels, admission)
        except DeadlineExceeded as error:
            raise deadline_error(error.retry_after) from error

    def run_batch(self, pixels: list[np.ndarray]) -> list[Prediction]:
        """One forward pass over same-sized uint8 photos (runs on the inference thread)."""
        return self.classifier.predict(np.stack(pixels))

    def close(self) -> None:
        """Stop batching and the worker; called at shutdown, on the event loop."""
        self.batcher.close()
        self._executor.shutdown(wait=False, cancel_futures=True)


def overloaded_error(retry_after: int) -> ApiError:
    return ApiError(503, "overloaded",
                    f"The service is busy with other photos; try again in {retry_after} s.",
                    headers={"Retry-After": str(retry_after)})


def deadline_error(retry_after: int) -> ApiError:
    return ApiError(503, "queue_timeout",
                    "The service was too busy to classify this photo in time; "
                    f"try again in {retry_after} s.",
                    headers={"Retry-After": str(retry_after)})
