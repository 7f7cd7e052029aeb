"""The model's life in the server: loading, ready, or failed with a reason.

Why a failed load does not stop the process: on Cloud Run, a container that exits at startup is
restarted again and again (a crash loop), and the reason scrolls away between restarts. A
container that stays up but never becomes ready fails its startup probe instead: the revision is
marked failed, traffic stays on the previous revision, and the one ERROR line naming the exact
problem (missing file, checksum mismatch...) sits in the logs. Meanwhile /predict answers 503
with the same reason, so predictions never come from a file that did not verify.
"""

from __future__ import annotations

import asyncio
import enum
import io
import logging
from concurrent.futures import Executor

from PIL import Image

from service.classifier import load_classifier
from service.errors import ApiError
from service.inference import InferenceRunner
from service.metadata import ModelIntegrityError
from service.pipeline import ClassificationPipeline
from service.settings import Settings
from service.uploads import Upload

log = logging.getLogger("service.model")

# TorchScript's profiling executor optimises the graph on the second call: warm up past it, so
# the first real request does not pay for it.
WARM_UP_PASSES = 2


class ModelStatus(enum.StrEnum):
    LOADING = "loading"
    READY = "ready"
    FAILED = "failed"


class ModelState:
    """What /readyz reports and what every prediction route needs."""

    def __init__(self) -> None:
        self.status = ModelStatus.LOADING
        self.reason = ""
        self.pipeline: ClassificationPipeline | None = None

    def require_pipeline(self) -> ClassificationPipeline:
        """The ready pipeline, or the 503 that explains why there is none."""
        if self.pipeline is not None:
            return self.pipeline
        raise self.unavailable_error()

    def unavailable_error(self) -> ApiError:
        if self.status is ModelStatus.FAILED:
            return ApiError(503, "model_unavailable",
                            f"The model could not be loaded: {self.reason}")
        return ApiError(503, "model_loading",
                        "The model is still loading; try again in a few seconds.",
                        headers={"Retry-After": "2"})

    def close(self) -> None:
        if self.pipeline is not None:
            self.pipeline.runner.close()


async def load_model(state: ModelState, settings: Settings, decode_pool: Executor) -> None:
    """Load, verify and warm up the model off the event loop, then mark the state ready.

    Any failure is logged once at ERROR with its reason and leaves the state FAILED.
    """
    try:
        pipeline = await _warmed_up_pipeline(settings, decode_pool)
    except ModelIntegrityError as error:
        _fail(state, str(error))
        return
    except Exception as error:  # a failure to serve must be reported, whatever its type
        _fail(state, f"unexpected {type(error).__name__} while loading: {error}", exc_info=True)
        return
    state.pipeline, state.status = pipeline, ModelStatus.READY
    log.info("model ready", extra={"model_version": pipeline.metadata.version,
                                   "model_path": str(settings.model_path)})


async def _warmed_up_pipeline(settings: Settings, decode_pool: Executor) -> ClassificationPipeline:
    classifier = await asyncio.to_thread(load_classifier, settings.model_path)
    runner = InferenceRunner(classifier, threads=settings.torch_threads)
    pipeline = ClassificationPipeline(
        classifier.metadata, runner, decode_pool,
        max_pixels=settings.max_image_pixels, max_file_bytes=settings.max_upload_bytes,
    )
    try:
        await warm_up(pipeline)
    except BaseException:
        runner.close()  # a pipeline that never becomes ready must not keep its thread
        raise
    return pipeline


async def warm_up(pipeline: ClassificationPipeline) -> None:
    """Run a generated photo through the whole path: decoding, preprocessing and inference."""
    photo = _warm_up_photo(pipeline.metadata.preprocessing.input_size)
    for _ in range(WARM_UP_PASSES):
        await pipeline.classify(photo)


def _warm_up_photo(size: int) -> Upload:
    buffer = io.BytesIO()
    Image.new("RGB", (size * 2, size * 2), (120, 130, 140)).save(buffer, format="JPEG")
    return Upload(filename="warm-up.jpg", data=buffer.getvalue())


def _fail(state: ModelState, reason: str, *, exc_info: bool = False) -> None:
    state.reason, state.status = reason, ModelStatus.FAILED
    log.error("model unavailable, serving 503 until it is fixed: %s", reason, exc_info=exc_info)
