"""The micro-batcher on its own: gathering, waiting, order, failures, the bound and deadlines.

Batches run on a real one-thread executor, as in the service; `run_batch` is a recording fake.
Times are short but generous: these tests check behaviour, not speed.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from service.engine.batching import DeadlineExceeded, MicroBatcher, Overloaded


class Recorder:
    """run_batch that doubles its items and remembers every batch; optionally blocks on a gate
    or fails a batch that holds a 'bad' item."""

    def __init__(self) -> None:
        self.batches: list[list[object]] = []
        self.gate: threading.Event | None = None
        self.started = threading.Event()

    def __call__(self, items: list[object]) -> list[object]:
        self.batches.append(list(items))
        self.started.set()
        if self.gate is not None:
            self.gate.wait(timeout=10)
        if "bad" in items:
            raise ValueError("a bad batch")
        return [item * 2 for item in items]  # type: ignore[operator]


@pytest.fixture
def executor() -> Iterator[ThreadPoolExecutor]:
    pool = ThreadPoolExecutor(max_workers=1)
    yield pool
    pool.shutdown(wait=False, cancel_futures=True)


def make(executor: ThreadPoolExecutor, recorder: Recorder, **options: object) -> MicroBatcher:
    settings: dict = {"max_batch_size": 4, "max_batch_wait_ms": 50.0, "max_queue": 100,
                      "request_timeout_s": 5.0,
                      **options}
    return MicroBatcher(recorder, executor=executor, **settings)


async def submit_all(batcher: MicroBatcher, items: list[object]) -> list[object]:
    """Admit and submit each item as its own request, all at once."""
    async def one(item: object) -> object:
        with batcher.admit() as admission:
            return await batcher.submit(item, admission)

    return await asyncio.gather(*(one(item) for item in items), return_exceptions=True)


def test_concurrent_requests_are_gathered_up_to_the_batch_size_in_order(executor):
    recorder = Recorder()

    async def scenario():
        batcher = make(executor, recorder, max_batch_size=4)
        return await submit_all(batcher, list(range(10)))

    results = asyncio.run(scenario())
    assert results == [item * 2 for item in range(10)]  # each caller gets its own answer
    assert recorder.batches == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]  # arrival order kept


def test_a_lone_request_runs_at_once_without_waiting_for_others(executor):
    recorder = Recorder()

    async def scenario():
        batcher = make(executor, recorder, max_batch_wait_ms=2000)
        started = time.perf_counter()
        await submit_all(batcher, [1])
        return time.perf_counter() - started

    assert asyncio.run(scenario()) < 1.0  # nobody else was admitted: the 2 s wait is skipped
    assert recorder.batches == [[1]]


def test_a_batch_waits_for_admitted_requests_but_only_up_to_max_wait(executor):
    recorder = Recorder()

    async def scenario():
        batcher = make(executor, recorder, max_batch_wait_ms=200)
        late = batcher.admit()  # admitted (e.g. still decoding) but never submits in time
        started = time.perf_counter()
        with batcher.admit() as admission:
            assert await batcher.submit(1, admission) == 2
        waited = time.perf_counter() - started
        late.release()
        return waited

    waited = asyncio.run(scenario())
    assert 0.15 <= waited < 2.0
    assert recorder.batches == [[1]]


def test_a_request_that_arrives_within_max_wait_joins_the_batch(executor):
    recorder = Recorder()

    async def scenario():
        batcher = make(executor, recorder, max_batch_wait_ms=1000)
        first, second = batcher.admit(), batcher.admit()

        async def submit_later():
            await asyncio.sleep(0.05)  # "decoding"
            return await batcher.submit(20, second)

        results = await asyncio.gather(batcher.submit(10, first), submit_later())
        first.release()
        second.release()
        return results

    assert asyncio.run(scenario()) == [20, 40]
    assert recorder.batches == [[10, 20]]


def test_the_batch_flushes_as_soon_as_it_is_full(executor):
    recorder = Recorder()

    async def scenario():
        batcher = make(executor, recorder, max_batch_size=2, max_batch_wait_ms=5000)
        waiting = batcher.admit()  # would keep a non-full batch waiting for 5 s
        started = time.perf_counter()
        await submit_all(batcher, [1, 2])
        waiting.release()
        return time.perf_counter() - started

    assert asyncio.run(scenario()) < 2.0
    assert recorder.batches == [[1, 2]]


def test_a_failing_batch_fails_its_own_requests_only(executor):
    recorder = Recorder()

    async def scenario():
        batcher = make(executor, recorder, max_batch_size=2)
        first = await submit_all(batcher, [1, "bad"])
        second = await submit_all(batcher, [3, 4])
        return first, second

    first, second = asyncio.run(scenario())
    assert all(isinstance(outcome, ValueError) for outcome in first)
    assert second == [6, 8]  # the worker survived and serves the next batch


def test_a_full_queue_refuses_at_once_and_accepts_again_once_drained(executor):
    recorder = Recorder()

    async def scenario():
        batcher = make(executor, recorder, max_queue=2)
        first, second = batcher.admit(), batcher.admit()
        started = time.perf_counter()
        with pytest.raises(Overloaded) as refused:
            batcher.admit()
        refused_in = time.perf_counter() - started
        first.release()
        with batcher.admit() as third:
            assert await batcher.submit(5, third) == 10
        second.release()
        return refused_in, refused.value.retry_after, batcher.admitted

    refused_in, retry_after, admitted_after = asyncio.run(scenario())
    assert refused_in < 0.05 and retry_after >= 1
    assert admitted_after == 0  # every place was given back


def test_a_request_heavier_than_the_bound_is_admitted_only_when_nothing_else_is(executor):
    async def scenario():
        batcher = make(executor, Recorder(), max_queue=4)
        # Idle: admitted, so a big /predict/batch is never refused forever; then nothing fits.
        with batcher.admit(10), pytest.raises(Overloaded):
            batcher.admit()
        other = batcher.admit()
        with pytest.raises(Overloaded):
            batcher.admit(10)
        other.release()

    asyncio.run(scenario())


def test_each_item_reports_how_long_it_waited_for_its_batch(executor):
    """The wait ends when the item's batch starts: on the batcher's own clock, set by hand."""
    recorder = Recorder()
    recorder.gate = threading.Event()
    now = [100.0]

    async def scenario():
        batcher = make(executor, recorder, max_batch_wait_ms=0, request_timeout_s=1000.0,
                       clock=lambda: now[0])

        async def timed(item: object) -> tuple[object, float]:
            with batcher.admit() as admission:
                return await batcher.submit_timed(item, admission)

        first = asyncio.ensure_future(timed(1))
        await asyncio.to_thread(recorder.started.wait, 5)  # the first batch runs, gated
        now[0] = 110.0
        second = asyncio.ensure_future(timed(2))
        await asyncio.sleep(0.05)  # the second is queued behind the running batch
        now[0] = 125.0
        recorder.gate.set()
        return await first, await second

    first, second = asyncio.run(scenario())
    assert first == (2, 0.0)  # alone: its batch started at once
    assert second == (4, 15.0)  # queued at 110, its batch started at 125


def test_work_still_queued_at_its_deadline_is_dropped_without_running(executor):
    recorder = Recorder()
    recorder.gate = threading.Event()

    async def scenario():
        batcher = make(executor, recorder, request_timeout_s=0.3, max_batch_wait_ms=0)
        blocker = asyncio.ensure_future(submit_all(batcher, ["slow"]))
        await asyncio.to_thread(recorder.started.wait, 5)  # the executor is now busy
        started = time.perf_counter()
        late = await submit_all(batcher, [7])
        answered_in = time.perf_counter() - started
        recorder.gate.set()  # the long batch finishes
        blocked_result = await blocker
        after = await submit_all(batcher, [8])  # the next request is served normally
        return late, answered_in, blocked_result, after

    late, answered_in, blocked_result, after = asyncio.run(scenario())
    assert isinstance(late[0], DeadlineExceeded) and late[0].retry_after >= 1
    assert answered_in < 2.0  # answered at its deadline, not when the executor freed up
    assert blocked_result == ["slowslow"]
    assert after == [16]
    assert [7] not in recorder.batches  # the expired request never ran


def test_decoding_still_queued_at_the_deadline_is_cancelled_without_running(executor):
    gate = threading.Event()
    ran = []

    def decode(name: str) -> str:
        ran.append(name)
        return name.upper()

    async def scenario():
        batcher = make(executor, Recorder(), request_timeout_s=0.3)
        busy = executor.submit(gate.wait, 10)  # every decode worker is busy
        with batcher.admit() as admission, pytest.raises(DeadlineExceeded):
            await batcher.run_before_deadline(executor, decode, "late", admission=admission)
        gate.set()
        busy.result(timeout=5)
        with batcher.admit() as admission:
            return await batcher.run_before_deadline(executor, decode, "next",
                                                     admission=admission)

    assert asyncio.run(scenario()) == "NEXT"
    assert ran == ["next"]


def test_a_caller_that_goes_away_takes_its_queued_work_with_it(executor):
    recorder = Recorder()
    recorder.gate = threading.Event()

    async def scenario():
        batcher = make(executor, recorder, max_batch_wait_ms=0)
        blocker = asyncio.ensure_future(submit_all(batcher, ["slow"]))
        await asyncio.to_thread(recorder.started.wait, 5)
        gone = asyncio.ensure_future(submit_all(batcher, [9]))
        await asyncio.sleep(0.05)
        gone.cancel()
        await asyncio.sleep(0.01)
        depth = batcher.queue_depth
        recorder.gate.set()
        await blocker
        assert await submit_all(batcher, [1]) == [2]
        return depth

    assert asyncio.run(scenario()) == 0
    assert [9] not in recorder.batches


def test_metrics_hooks_hear_each_batch_and_the_queue_depth(executor):
    batches, depths = [], []

    async def scenario():
        batcher = make(executor, Recorder(), max_batch_size=3,
                       on_batch=lambda size, seconds: batches.append((size, seconds)),
                       on_queue_depth=depths.append)
        await submit_all(batcher, list(range(5)))

    asyncio.run(scenario())
    assert [size for size, _ in batches] == [3, 2]
    assert all(seconds >= 0 for _, seconds in batches)
    assert max(depths) == 5 and depths[-1] == 0


def test_a_batch_is_timed_on_its_own_thread_not_by_the_busy_event_loop(executor):
    """on_batch's seconds are run_batch's own: a loop busy elsewhere while the batch runs (and
    so late to take its result) must not show up as forward-pass time in the metrics."""
    recorder = Recorder()
    recorder.gate = threading.Event()
    seconds: list[float] = []

    async def scenario():
        batcher = make(executor, recorder, max_batch_wait_ms=0,
                       on_batch=lambda size, took: seconds.append(took))
        answers = asyncio.ensure_future(submit_all(batcher, [1]))
        while not recorder.started.is_set():
            await asyncio.sleep(0.001)
        threading.Timer(0.05, recorder.gate.set).start()  # the batch runs about 50 ms...
        time.sleep(0.5)  # ...while the loop is held up ten times as long
        return await answers

    assert asyncio.run(scenario()) == [2]
    assert len(seconds) == 1 and 0.04 < seconds[0] < 0.25, seconds


def test_closing_fails_whatever_is_still_waiting(executor):
    recorder = Recorder()
    recorder.gate = threading.Event()

    async def scenario():
        batcher = make(executor, recorder, max_batch_wait_ms=0)
        running = asyncio.ensure_future(submit_all(batcher, ["slow"]))
        await asyncio.to_thread(recorder.started.wait, 5)
        queued = asyncio.ensure_future(submit_all(batcher, [1]))
        await asyncio.sleep(0.02)
        batcher.close()
        outcomes = await asyncio.gather(running, queued)
        recorder.gate.set()
        return outcomes

    running, queued = asyncio.run(scenario())
    assert isinstance(running[0], RuntimeError) and isinstance(queued[0], RuntimeError)


def test_invalid_settings_are_refused(executor):
    with pytest.raises(ValueError):
        MicroBatcher(Recorder(), executor=executor, max_batch_size=0, max_batch_wait_ms=0,
                     max_queue=1, request_timeout_s=1.0)


@pytest.mark.parametrize(("cpus", "threads"), [(1, 1), (2, 1), (3, 1), (4, 2), (8, 4)])
def test_torch_gets_half_the_cpus_and_decoding_the_rest(cpus, threads):
    from service.settings import default_torch_threads

    assert default_torch_threads(cpus) == threads


def test_items_a_request_will_not_submit_stop_counting(executor):
    async def scenario():
        batcher = make(executor, Recorder(), max_queue=4)
        admission = batcher.admit(4)  # a batch of 4 files, 3 of which then fail to decode
        admission.expect(1)
        other = batcher.admit(3)  # their places are free again
        result = await batcher.submit(2, admission)
        admission.release()
        other.release()
        return result, batcher.admitted, batcher.unsubmitted

    assert asyncio.run(scenario()) == (4, 0, 0)
