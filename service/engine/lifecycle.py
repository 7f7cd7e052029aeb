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
import functools
import io
import logging
import time
from collections.abc import Callable
from concurrent.futures import Executor
from pathlib import Path

from PIL import Image

from service.engine.inference import InferenceObserver, InferenceRunner
from service.engine.pipeline import ClassificationPipeline, Upload
from service.engine.selftest import SelfTestResult, SelfTestStatus, run_self_test
from service.model.classifier import Classifier, load_classifier
from service.model.errors import ApiError
from service.model.metadata import ModelIntegrityError
from service.settings import Settings

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
        self.selftest: SelfTestResult | None = None  # once the model has loaded and warmed up

    def require_pipeline(self) -> ClassificationPipeline:
        """The ready pipeline, or the 503 that explains why there is none."""
        if self.pipeline is not None:
            return self.pipeline
        raise self.unavailable_error()

    def unavailable_error(self) -> ApiError:
        if self.status is ModelStatus.FAILED:
            return ApiError(503, "model_unavailable",
                            f"The model could not be loaded: {self.reason}")
        return model_loading_error()

    def close(self) -> None:
        if self.pipeline is not None:
            self.pipeline.runner.close()


def model_loading_error() -> ApiError:
    return ApiError(503, "model_loading", "The model is still loading; try again in a few seconds.",
                    headers={"Retry-After": "2"})


async def load_and_warm_up(state: ModelState, settings: Settings, decode_pool: Executor,
                     observer: InferenceObserver | None = None) -> None:
    """Load, verify, warm up and self-test the model off the event loop, then mark the state
    ready.

    Any failure is logged once at ERROR with its reason and leaves the state FAILED; so does a
    self-test answer that differs from the model's known answers.
    `observer` (the app's metrics) hears of every forward pass and of the queue's depth.
    """
    timings: dict[str, float] = {}
    try:
        pipeline, state.selftest = await _warmed_up_pipeline(settings, decode_pool, observer,
                                                             timings)
    except SelfTestFailed as error:
        state.selftest = error.result
        _fail(state, str(error))
        return
    except ModelIntegrityError as error:
        _fail(state, str(error))
        return
    except Exception as error:  # a failure to serve must be reported, whatever its type
        _fail(state, f"unexpected {type(error).__name__} while loading: {error}", exc_info=True)
        return
    if state.selftest.status is SelfTestStatus.NOT_RECORDED:
        log.warning("model self-test not recorded: %s", state.selftest.detail)
    state.pipeline, state.status = pipeline, ModelStatus.READY
    log.info("model ready", extra={"model_version": pipeline.metadata.version,
                                   "model_path": str(settings.model_path),
                                   "precision": pipeline.runner.classifier.precision,
                                   "selftest": str(state.selftest.status), **timings})


async def _warmed_up_pipeline(settings: Settings, decode_pool: Executor,
                              observer: InferenceObserver | None, timings: dict[str, float]
                              ) -> tuple[ClassificationPipeline, SelfTestResult]:
    """The ready pipeline and its self-test's result; `timings` receives load_seconds and
    warm_up_seconds (cold start, the self-test included). A failed self-test raises
    `SelfTestFailed`, with the result."""
    started = time.perf_counter()
    classifier = await asyncio.to_thread(_loader(settings), settings.model_path)
    timings["load_seconds"] = round(time.perf_counter() - started, 3)
    runner = InferenceRunner.from_settings(classifier, settings, observer)
    pipeline = ClassificationPipeline(
        classifier.metadata, runner, decode_pool,
        max_pixels=settings.max_image_pixels, max_file_bytes=settings.max_upload_bytes,
    )
    started = time.perf_counter()
    try:
        await warm_up(pipeline)
        selftest = await run_self_test(pipeline)
        if not selftest.ok:
            raise SelfTestFailed(selftest)
    except BaseException:
        runner.close()  # a pipeline that never becomes ready must not keep its thread
        raise
    timings["warm_up_seconds"] = round(time.perf_counter() - started, 3)
    return pipeline, selftest


class SelfTestFailed(ModelIntegrityError):
    """The model does not give its known answers here: it must not serve."""

    def __init__(self, result: SelfTestResult) -> None:
        super().__init__(f"the self-test failed: {result.detail}")
        self.result = result


def _loader(settings: Settings) -> Callable[[Path], Classifier]:
    """TorchScript (the contract), or ONNX Runtime on the same network's ONNX export."""
    return functools.partial(load_classifier, backend=settings.model_backend,
                             threads=settings.torch_threads,
                             precision=settings.inference_precision)


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
