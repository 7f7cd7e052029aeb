"""The start-up self-test: the model's known answers, asked again through the whole serving path.

Each reference photo goes through exactly what a request does (the decode pool, the model's
preprocessing, the micro-batcher and the backend in use), so a mismatch between the model file
and its metadata, a backend or library that computes differently, or a changed decoder is found
before the first user's photo, and the service never becomes ready with it.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from service.engine.pipeline import ClassificationPipeline, Upload
from service.model.errors import ApiError
from service.model.known_answers import allowed_difference, largest_difference, photo_bytes


class SelfTestStatus(enum.StrEnum):
    PASSED = "passed"
    FAILED = "failed"
    NOT_RECORDED = "not recorded"


@dataclass(frozen=True)
class SelfTestResult:
    """What /model, /readyz, the log and the metrics say about the self-test."""

    status: SelfTestStatus
    detail: str
    references: int = 0
    largest_difference: float | None = None
    tolerance: float | None = None

    @property
    def ok(self) -> bool:
        return self.status is not SelfTestStatus.FAILED


NOT_RECORDED = SelfTestResult(
    SelfTestStatus.NOT_RECORDED,
    "the model's metadata records no known answers; record them with "
    "python -m training.selftest --model <model file>")


async def run_self_test(pipeline: ClassificationPipeline) -> SelfTestResult:
    """Classify every reference photo as a request would; fail on the first answer that is
    further from its record than the tolerance, naming it and the difference."""
    known = pipeline.metadata.known_answers
    if known is None:
        return NOT_RECORDED
    tolerance = allowed_difference(known, pipeline.runner.classifier.precision)
    largest = 0.0
    for reference in known.references:
        try:
            classified = await pipeline.classify(Upload(reference.name, photo_bytes(reference)))
        except ApiError as error:
            return SelfTestResult(SelfTestStatus.FAILED,
                                  f"{reference.name} could not be classified: {error.message}",
                                  len(known.references), None, tolerance)
        difference = largest_difference(reference, classified.prediction.probabilities)
        largest = max(largest, difference.size)
        if difference.size > tolerance:
            return SelfTestResult(SelfTestStatus.FAILED,
                                  f"{difference.describe()}, more than the tolerance "
                                  f"{tolerance:.0e}", len(known.references), largest, tolerance)
    return SelfTestResult(SelfTestStatus.PASSED,
                          f"all {len(known.references)} reference photos answered as recorded",
                          len(known.references), largest, tolerance)
