"""The request path from uploaded bytes to a prediction, as small named async steps.

Decoding runs in a thread pool (Pillow releases the GIL while decoding, so several uploads
decode in parallel, and in parallel with inference) and inference in the runner's micro-batches:
the event loop only waits, so health checks and other requests are answered while a large photo
decodes. Every classification is first admitted by the runner (a bounded queue: 503 at once
when full) and carries its deadline through both stages.
"""

from __future__ import annotations

import asyncio
import io
import time
from collections.abc import Sequence
from concurrent.futures import Executor
from dataclasses import dataclass

import numpy as np
from PIL import Image

from service.engine.batching import Admission
from service.engine.inference import InferenceRunner
from service.model.classifier import Prediction
from service.model.errors import ApiError
from service.model.metadata import ModelMetadata
from service.model.preprocessing import bytes_to_pixels, decode_image
from service.settings import describe_limit

PREVIEW_SIZE = 480
PREVIEW_QUALITY = 80


@dataclass(frozen=True)
class Upload:
    """One uploaded file: the name the client gave it (for messages) and its bytes."""

    filename: str
    data: bytes


@dataclass(frozen=True)
class Prepared:
    """A decoded upload: the model's (H, W, 3) uint8 pixels (normalised with the rest of its
    batch) and, for the web page, a small JPEG preview."""

    pixels: np.ndarray
    preview_jpeg: bytes | None


@dataclass(frozen=True)
class Classified:
    """A prediction with what it cost, for the response's timing_ms and Server-Timing:
    decoding, waiting for a batch, then the batch's forward pass."""

    prediction: Prediction
    preview_jpeg: bytes | None
    decode_ms: float
    queue_ms: float
    inference_ms: float


@dataclass(frozen=True)
class BatchClassified:
    """One outcome per upload, in upload order: a prediction, or the reason it has none.
    `queue_ms` is the longest any of its photos waited for a batch."""

    outcomes: list[Prediction | ApiError]
    decode_ms: float
    queue_ms: float
    inference_ms: float


class ClassificationPipeline:
    """A loaded model plus the limits and thread pools needed to serve it."""

    def __init__(
        self,
        metadata: ModelMetadata,
        runner: InferenceRunner,
        decode_pool: Executor,
        *,
        max_pixels: int,
        max_file_bytes: int,
    ) -> None:
        self.metadata = metadata
        self.runner = runner
        self.decode_pool = decode_pool
        self.max_pixels = max_pixels
        self.max_file_bytes = max_file_bytes

    async def classify(self, upload: Upload, *, preview: bool = False) -> Classified:
        """Decode, preprocess and classify one upload."""
        started = time.perf_counter()
        self._check_size(upload)
        with self.runner.admit() as admission:
            prepared = await self.preprocess(upload, admission, preview=preview)
            decoded = time.perf_counter()
            prediction, queued = await self.runner.predict_timed(prepared.pixels, admission)
        queue_ms, inference_ms = _split(decoded, queued)
        return Classified(prediction, prepared.preview_jpeg, _ms(started, decoded),
                          queue_ms, inference_ms)

    async def classify_many(self, uploads: Sequence[Upload]) -> BatchClassified:
        """Decode all uploads concurrently, then classify the good ones together (they join
        the same micro-batches as everyone else's photos)."""
        started = time.perf_counter()
        with self.runner.admit(max(1, len(uploads))) as admission:
            prepared = await asyncio.gather(
                *(self._preprocess_or_error(upload, admission) for upload in uploads))
            decoded = time.perf_counter()
            pixels = [item.pixels for item in prepared if isinstance(item, Prepared)]
            admission.expect(len(pixels))
            timed = await asyncio.gather(
                *(self.runner.predict_timed(item, admission) for item in pixels))
        predictions = iter(prediction for prediction, _ in timed)
        outcomes = [next(predictions) if isinstance(item, Prepared) else item for item in prepared]
        queue_ms, inference_ms = _split(decoded, max((queued for _, queued in timed), default=0.0))
        return BatchClassified(outcomes, _ms(started, decoded), queue_ms, inference_ms)

    async def preprocess(self, upload: Upload, admission: Admission, *,
                         preview: bool = False) -> Prepared:
        """Bytes to model input in the decode pool, using the model's own preprocessing;
        dropped without decoding if still queued at the admission's deadline."""
        self._check_size(upload)
        return await self.runner.run_before_deadline(self.decode_pool, self._prepare, upload.data,
                                                     preview, admission=admission)

    def _check_size(self, upload: Upload) -> None:
        if len(upload.data) > self.max_file_bytes:
            raise file_too_large_error(upload.filename, self.max_file_bytes)

    def _prepare(self, data: bytes, preview: bool) -> Prepared:
        """The model's uint8 pixels; the runner normalises them with the rest of their batch.

        The preview is decoded on its own: a JPEG decoded for a small model input is too
        coarse to show, and reusing a larger decode would change the model's input, so the page
        could disagree with /predict about the same photo."""
        pixels = bytes_to_pixels(data, size=self.metadata.preprocessing.input_size,
                                 max_pixels=self.max_pixels)
        if not preview:
            return Prepared(pixels, None)
        image = decode_image(data, draft_size=PREVIEW_SIZE, max_pixels=self.max_pixels)
        return Prepared(pixels, _preview_jpeg(image))

    async def _preprocess_or_error(self, upload: Upload, admission: Admission
                                   ) -> Prepared | ApiError:
        try:
            return await self.preprocess(upload, admission)
        except ApiError as error:
            if error.code == "queue_timeout":
                raise  # the whole request is late, not this file
            return error


def file_too_large_error(filename: str, limit: int) -> ApiError:
    return ApiError(413, "file_too_large",
                    f"{filename} is larger than the {describe_limit(limit)} limit for one photo.")


def _preview_jpeg(image: Image.Image) -> bytes:
    """A small JPEG of the upright photo, so the result page can show what was classified."""
    thumbnail = image.copy()
    thumbnail.thumbnail((PREVIEW_SIZE, PREVIEW_SIZE))
    buffer = io.BytesIO()
    thumbnail.save(buffer, format="JPEG", quality=PREVIEW_QUALITY)
    return buffer.getvalue()


def _split(decoded: float, queued_seconds: float) -> tuple[float, float]:
    """The time since decoding ended, as (queue, inference) milliseconds: the wait for a batch,
    then the rest (the forward pass and the answer's way back)."""
    waited = _ms(decoded)
    queue_ms = min(round(queued_seconds * 1000, 1), waited)
    return queue_ms, round(waited - queue_ms, 1)


def _ms(start: float, end: float | None = None) -> float:
    return round(((end if end is not None else time.perf_counter()) - start) * 1000, 1)
