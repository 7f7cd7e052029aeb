"""loadtest/soak.py: the request mix, sent through the shared load client, and the memory
verdict (flat after the warm-up, or a plateau)."""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from collections.abc import Callable

import pytest

from loadtest.soak import (
    Run,
    Sample,
    client_loop,
    memory_verdict,
    next_request,
    unexpected,
    write_samples,
)


def test_the_mix_is_mostly_single_photos_some_batches_and_a_few_broken_uploads(photo):
    rng = random.Random(0)
    kinds = Counter(next_request(8080, [photo("red")], rng)[0] for _ in range(2000))
    assert kinds["predict"] > kinds["batch"] > kinds["broken"] > 0
    kind, request = next(
        (kind, request) for kind, request in (next_request(8080, [photo("red")], rng)
                                              for _ in range(200)) if kind == "batch")
    assert request.startswith(b"POST /predict/batch HTTP/1.1")
    assert request.count(b'name="files"') == 4


def test_clients_get_the_answers_the_soak_expects_from_a_real_server(server, photo):
    port = int(server.rsplit(":", 1)[1])
    run = Run()
    photos = [photo("red"), photo("blue", fmt="PNG")]
    started = time.monotonic()

    async def load() -> None:
        await asyncio.gather(*(client_loop(port, photos, run, started, started + 2.0,
                                           random.Random(seed)) for seed in range(2)))

    asyncio.run(load())
    assert run.outcomes and not run.transport_errors
    assert [o for o in run.outcomes if unexpected(o)] == []
    assert {o.status for o in run.outcomes if o.kind == "predict"} == {200}


def rss_over(minutes: int, rss: Callable[[float], float]) -> list[Sample]:
    """One sample every 5 s, as the soak takes them."""
    return [Sample(at=t, rss_mb=rss(t / 60), open_files=10, threads=8)
            for t in range(0, minutes * 60, 5)]


def test_a_steady_climb_is_a_leak_by_either_criterion():
    verdict = memory_verdict(rss_over(120, lambda minute: 600 + 0.3 * minute), max_slope=0.1)
    assert verdict.slope == pytest.approx(0.3) and verdict.late_slope == pytest.approx(0.3)
    assert not verdict.flat and verdict.how == "still climbing"


def test_an_early_step_then_flat_memory_is_a_plateau():
    """An allocator filling the memory it keeps for reuse: 30 MB over the first 30 minutes."""
    verdict = memory_verdict(rss_over(120, lambda minute: 670 + min(minute, 30)),
                             max_slope=0.1)
    assert verdict.slope > 0.1  # the whole run's line is tilted by the early step
    assert verdict.late_slope == pytest.approx(0.0)
    assert verdict.flat and verdict.how == "a plateau over the second half"


def test_flat_memory_passes_outright_and_too_few_samples_show_no_plateau():
    assert memory_verdict(rss_over(30, lambda minute: 700.0), 0.1).how == "flat after the warm-up"
    few = memory_verdict(rss_over(1, lambda minute: 700 + 100 * minute)[:4], 0.1)
    assert few.late_slope is None and not few.flat


def test_the_samples_are_kept_as_csv(tmp_path):
    path = tmp_path / "results" / "soak.csv"
    write_samples(rss_over(1, lambda minute: 700.0)[:3], path)
    assert path.read_text().splitlines() == ["seconds,rss_mb,open_files,threads",
                                             "0.0,700.0,10,8", "5.0,700.0,10,8",
                                             "10.0,700.0,10,8"]
