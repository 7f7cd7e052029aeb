"""loadtest/soak.py's clients: the request mix, sent through the shared load client."""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter

from loadtest.soak import Run, client_loop, next_request, unexpected


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
