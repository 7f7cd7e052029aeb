"""Dynamic micro-batching with a bounded queue and per-request deadlines, free of HTTP and torch.

A request is first *admitted* (`MicroBatcher.admit`): it then counts against `max_queue` until
it is released, whatever stage it is in (decoding, waiting for a batch, in a batch). Beyond the
bound, `admit` raises `Overloaded` at once, so an overloaded server answers fast instead of
letting every client wait. Admitted work carries a deadline: work still *queued* when it passes
is dropped without running and its caller gets `DeadlineExceeded` at that moment (work already
running is let finish: it is about to).

Items submitted by admitted requests are gathered into one batch until `max_batch_size` items
are waiting or the oldest has waited `max_batch_wait_ms`, whichever comes first, and run by
`run_batch` in an executor (one batch at a time), never on the event loop. The wait is skipped
when no admitted request is still on its way to `submit` (e.g. still decoding): nothing else can
join, so a lone request is never delayed. Results are returned in submission order; an exception
from `run_batch` fails that batch's items only.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from concurrent.futures import Future as ThreadFuture
from typing import Generic, TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")
Value = TypeVar("Value")

Clock = Callable[[], float]


class Overloaded(Exception):
    """More work is admitted than the queue bound allows; retry after `retry_after` seconds."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"the queue is full; retry after {retry_after} s")
        self.retry_after = retry_after


class DeadlineExceeded(Exception):
    """The work was still queued when its deadline passed; it was dropped without running."""

    def __init__(self, retry_after: int) -> None:
        super().__init__("the request waited in the queue past its deadline")
        self.retry_after = retry_after


class Admission:
    """One admitted request's share of the queue bound, and its deadline. Release it once."""

    def __init__(self, batcher: MicroBatcher, weight: int, deadline: float) -> None:
        self._batcher = batcher
        self.weight = weight
        self.deadline = deadline
        self.unsubmitted = weight  # items this request may still submit
        self.released = False

    def remaining(self) -> float:
        """Seconds left before the deadline (negative once past)."""
        return self.deadline - self._batcher.clock()

    def expect(self, items: int) -> None:
        """Only `items` more items will be submitted (the rest failed before, e.g. to decode):
        they stop counting against the bound, and the batcher stops waiting for them."""
        drop = max(0, self.unsubmitted - items)
        self.weight -= drop
        self._batcher._forget(self, drop, release_weight=drop)

    def release(self) -> None:
        if not self.released:
            self.released = True
            self._batcher._forget(self, self.unsubmitted, release_weight=self.weight)

    def __enter__(self) -> Admission:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.release()


class _Entry(Generic[Item, Result]):
    __slots__ = ("item", "future", "enqueued", "deadline", "state", "started")

    def __init__(self, item: Item, future: asyncio.Future[Result], enqueued: float,
                 deadline: float) -> None:
        self.item = item
        self.future = future
        self.enqueued = enqueued
        self.deadline = deadline
        self.state = "queued"  # -> "running" | "dropped"
        self.started = enqueued  # when its batch was taken to run (the end of its queueing)


class _Timing:
    """How long a call took on the thread that made it (failed calls included)."""

    def __init__(self) -> None:
        self.seconds: float | None = None

    def call(self, function: Callable[[list[Item]], Sequence[Result]], items: list[Item]
             ) -> Sequence[Result]:
        started = time.perf_counter()
        try:
            return function(items)
        finally:
            self.seconds = time.perf_counter() - started


class MicroBatcher(Generic[Item, Result]):
    """Gathers concurrently submitted items into batches run one at a time by `run_batch`.

    `on_batch(size, seconds)` is called after each batch and `on_queue_depth(items)` whenever
    the number of waiting items changes: the seam for metrics. `seconds` is `run_batch`'s own
    time on the executor's thread: the hand-offs to and from the event loop (longer when the
    loop is busy) would otherwise be counted as forward pass.
    """

    def __init__(
        self,
        run_batch: Callable[[list[Item]], Sequence[Result]],
        *,
        executor: Executor,
        max_batch_size: int,
        max_batch_wait_ms: float,
        max_queue: int,
        request_timeout_s: float,
        retry_after: int = 1,
        on_batch: Callable[[int, float], None] | None = None,
        on_queue_depth: Callable[[int], None] | None = None,
        clock: Clock = time.monotonic,
    ) -> None:
        if max_batch_size < 1 or max_queue < 1 or max_batch_wait_ms < 0 or request_timeout_s <= 0:
            raise ValueError("batch size and queue bound must be >= 1, waits non-negative")
        self.run_batch = run_batch
        self.executor = executor
        self.max_batch_size = max_batch_size
        self.max_wait_seconds = max_batch_wait_ms / 1000  # in the clock's unit
        self.max_queue = max_queue
        self.request_timeout_s = request_timeout_s
        self.retry_after = retry_after
        self.on_batch = on_batch or (lambda size, seconds: None)
        self.on_queue_depth = on_queue_depth or (lambda depth: None)
        self.clock = clock
        self.admitted = 0  # weight of admitted, unreleased requests (what max_queue bounds)
        self.unsubmitted = 0  # items admitted requests may still submit
        self._queue: collections.deque[_Entry[Item, Result]] = collections.deque()
        self._arrived: asyncio.Event | None = None
        self._running: list[_Entry[Item, Result]] = []
        self._worker: asyncio.Task[None] | None = None
        self._closed = False

    # ---- admission -------------------------------------------------------------------------

    def admit(self, weight: int = 1) -> Admission:
        """A place for a request of `weight` items, or `Overloaded` at once when the bound is
        reached. A request heavier than the whole bound is admitted only when nothing else is."""
        if self.admitted and self.admitted + weight > self.max_queue:
            raise Overloaded(self.retry_after)
        self.admitted += weight
        self.unsubmitted += weight
        return Admission(self, weight, self.clock() + self.request_timeout_s)

    def _forget(self, admission: Admission, items: int, release_weight: int = 0) -> None:
        admission.unsubmitted -= items
        self.unsubmitted -= items
        self.admitted -= release_weight
        if items and self._arrived is not None:
            self._arrived.set()  # the worker may be waiting for these items

    # ---- batching --------------------------------------------------------------------------

    async def submit(self, item: Item, admission: Admission) -> Result:
        """The result of `item`, computed in some batch; raises what `run_batch` raised, or
        `DeadlineExceeded` if the item is still queued at the admission's deadline."""
        result, _ = await self.submit_timed(item, admission)
        return result

    async def submit_timed(self, item: Item, admission: Admission) -> tuple[Result, float]:
        """Like `submit`, plus how long the item waited for its batch (in the clock's unit),
        so a response can tell queueing apart from the forward pass (Server-Timing)."""
        if self._closed:
            raise RuntimeError("the batcher is closed")
        if admission.unsubmitted > 0:
            self._forget(admission, 1)
        loop = asyncio.get_running_loop()
        entry: _Entry[Item, Result] = _Entry(item, loop.create_future(), self.clock(),
                                            admission.deadline)
        self._queue.append(entry)
        self.on_queue_depth(len(self._queue))
        self._wake_worker()
        try:
            done, _ = await asyncio.wait((entry.future,), timeout=max(0.0, admission.remaining()))
            if not done and entry.state == "queued":
                self._drop(entry)
                raise DeadlineExceeded(self.retry_after)
            result = await entry.future  # finished, or running: about to finish
            return result, entry.started - entry.enqueued
        except asyncio.CancelledError:
            if entry.state == "queued":
                self._drop(entry)  # the caller is gone; do not compute it
            raise

    def _drop(self, entry: _Entry[Item, Result]) -> None:
        entry.state = "dropped"
        with contextlib.suppress(ValueError):
            self._queue.remove(entry)
        self.on_queue_depth(len(self._queue))

    def _wake_worker(self) -> None:
        if self._arrived is None:
            self._arrived = asyncio.Event()
        self._arrived.set()
        if self._worker is None or self._worker.done():
            self._worker = asyncio.get_running_loop().create_task(self._work(), name="batcher")

    async def _work(self) -> None:
        assert self._arrived is not None
        while not self._closed:
            if not self._queue:
                self._arrived.clear()
                await self._arrived.wait()
                continue
            await self._gather()
            self._running = self._take()
            if self._running:
                await self._run(self._running)
            self._running = []

    async def _run(self, batch: list[_Entry[Item, Result]]) -> None:
        """One batch in the executor; its outcome goes to its own items only."""
        loop = asyncio.get_running_loop()
        timing = _Timing()
        try:
            results = await loop.run_in_executor(
                self.executor, timing.call, self.run_batch, [entry.item for entry in batch])
            if len(results) != len(batch):
                raise RuntimeError(f"run_batch returned {len(results)} results for "
                                   f"{len(batch)} items")
        except Exception as error:  # this batch fails; the worker and other batches go on
            for entry in batch:
                if not entry.future.done():
                    entry.future.set_exception(error)
            return
        finally:
            if timing.seconds is not None:  # None: cancelled before the executor ran it
                with contextlib.suppress(Exception):  # a broken metrics hook must not stop serving
                    self.on_batch(len(batch), timing.seconds)
        for entry, result in zip(batch, results, strict=True):
            if not entry.future.done():
                entry.future.set_result(result)

    async def _gather(self) -> None:
        """Wait until the batch is full, the oldest item has waited max_batch_wait_ms, or
        nothing else can arrive (no admitted request still has an item to submit)."""
        assert self._arrived is not None
        flush_at = self._queue[0].enqueued + self.max_wait_seconds if self._queue else 0.0
        while (self._queue and len(self._queue) < self.max_batch_size
               and self.unsubmitted > 0):
            left = flush_at - self.clock()
            if left <= 0:
                return
            self._arrived.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._arrived.wait(), left)

    def _take(self) -> list[_Entry[Item, Result]]:
        """Up to max_batch_size items in arrival order; items past their deadline are dropped
        (their callers are answered by `submit`) and never run."""
        now = self.clock()
        batch: list[_Entry[Item, Result]] = []
        while self._queue and len(batch) < self.max_batch_size:
            entry = self._queue.popleft()
            if entry.future.done():
                continue
            if entry.deadline <= now:
                entry.state = "dropped"
                entry.future.set_exception(DeadlineExceeded(self.retry_after))
                continue
            entry.state, entry.started = "running", now
            batch.append(entry)
        self.on_queue_depth(len(self._queue))
        return batch

    # ---- single calls with a deadline (decoding) --------------------------------------------

    async def run_before_deadline(
        self, executor: Executor, function: Callable[..., Value], *args: object,
        admission: Admission,
    ) -> Value:
        """`function(*args)` in `executor`, unless it is still queued there at the deadline:
        then it is cancelled without running and `DeadlineExceeded` raised."""

        def guarded() -> Value:
            if admission.remaining() <= 0:
                raise DeadlineExceeded(self.retry_after)
            return function(*args)

        future: ThreadFuture[Value] = executor.submit(guarded)
        waiting = asyncio.wrap_future(future)
        try:
            done, _ = await asyncio.wait((waiting,), timeout=max(0.0, admission.remaining()))
        except asyncio.CancelledError:
            future.cancel()  # the caller is gone: do not decode for nobody
            raise
        if not done and future.cancel():
            waiting.cancel()
            raise DeadlineExceeded(self.retry_after)
        return await waiting  # finished, or already running: let it finish

    # ---- shutdown --------------------------------------------------------------------------

    def close(self) -> None:
        """Stop the worker (call on the event loop); whatever is still queued or running fails
        with a RuntimeError, so no caller waits forever."""
        self._closed = True
        if self._worker is not None:
            self._worker.cancel()
        for entry in [*self._running, *self._queue]:
            if not entry.future.done():
                entry.future.set_exception(RuntimeError("the service is shutting down"))
        self._queue.clear()

    @property
    def queue_depth(self) -> int:
        return len(self._queue)
