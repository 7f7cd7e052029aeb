"""Classifying a listing through the service's own engine: files read by an I/O pool, decoded
in the decode pool, classified in the runner's batched forward passes (service/engine/), so the
batch command's answers and speed are the service's.

The listing goes through in chunks; each chunk's rows are handed to `on_chunk` (the shard's
checkpoint) before the next chunk starts, which bounds the photos held in memory and the work a
killed task loses.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass

from service.batch import storage
from service.batch.results import Row
from service.engine.inference import InferenceRunner
from service.engine.pipeline import ClassificationPipeline, Upload
from service.model.classifier import Classifier, Prediction
from service.settings import Settings

# Reading from a bucket is network latency, not CPU: many reads in flight keep the decoders fed.
READ_THREADS = 16
READ_WINDOW_BATCHES = 2
# A chunk is admitted whole and must never time out in the queue: the batch command has no
# impatient client, only a job's task timeout.
NO_DEADLINE_S = 7 * 24 * 3600.0


@dataclass(frozen=True)
class RunStats:
    """What a run did, for the report: photos classified and how fast."""

    classified: int
    seconds: float

    @property
    def images_per_second(self) -> float:
        return self.classified / self.seconds if self.seconds > 0 else 0.0


def classify_in_chunks(
    files: list[str],
    classifier: Classifier,
    settings: Settings,
    *,
    batch_size: int,
    chunk_size: int,
    on_chunk: Callable[[list[Row]], None],
) -> RunStats:
    """Classify `files`, calling `on_chunk(rows)` after every `chunk_size` files, in order."""
    return asyncio.run(_classify_all(files, classifier, settings, batch_size=batch_size,
                                     chunk_size=chunk_size, on_chunk=on_chunk))


async def _classify_all(files: list[str], classifier: Classifier, settings: Settings, *,
                        batch_size: int, chunk_size: int,
                        on_chunk: Callable[[list[Row]], None]) -> RunStats:
    runner = InferenceRunner(classifier, threads=settings.torch_threads,
                             max_batch_size=batch_size,
                             max_batch_wait_ms=settings.max_batch_wait_ms,
                             max_queue=chunk_size, request_timeout_s=NO_DEADLINE_S)
    started = time.perf_counter()
    classified = 0
    with (ThreadPoolExecutor(settings.decode_workers, thread_name_prefix="decode") as decode,
          ThreadPoolExecutor(READ_THREADS, thread_name_prefix="read") as read):
        pipeline = ClassificationPipeline(classifier.metadata, runner, decode,
                                          max_pixels=settings.max_image_pixels,
                                          max_file_bytes=settings.max_upload_bytes)
        try:
            # The photos' bytes are held from reading to decoding: a window of a few batches
            # at a time bounds that memory (camera-trap JPEGs are several MB each).
            window = READ_WINDOW_BATCHES * batch_size
            for start in range(0, len(files), chunk_size):
                chunk = files[start:start + chunk_size]
                rows = []
                for first in range(0, len(chunk), window):
                    rows += await classify_chunk(chunk[first:first + window], pipeline, read)
                classified += sum(row.prediction is not None for row in rows)
                await asyncio.to_thread(on_chunk, rows)
        finally:
            runner.close()
    return RunStats(classified, time.perf_counter() - started)


async def classify_chunk(files: list[str], pipeline: ClassificationPipeline,
                         read_pool: Executor) -> list[Row]:
    """One row per file, in order: read all, then decode and classify the readable ones
    together (they share forward passes)."""
    loop = asyncio.get_running_loop()
    contents = await asyncio.gather(*(loop.run_in_executor(read_pool, _read, f) for f in files))
    uploads = [Upload(f, data) for f, data in zip(files, contents, strict=True)
               if isinstance(data, bytes)]
    outcomes = iter((await pipeline.classify_many(uploads)).outcomes if uploads else [])
    rows = []
    for path, data in zip(files, contents, strict=True):
        if isinstance(data, str):
            rows.append(Row(path, None, data))
            continue
        outcome = next(outcomes)
        rows.append(Row(path, outcome) if isinstance(outcome, Prediction)
                    else Row(path, None, outcome.message))
    return rows


def _read(location: str) -> bytes | str:
    """The file's bytes, or the reason they cannot be read."""
    try:
        return storage.read_bytes(location)
    except OSError as error:
        return f"cannot be read ({error.strerror or error})"
