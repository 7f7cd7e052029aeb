"""Known answers that travel with the model: a few generated reference photos and the exact
probabilities the exported file gave them, so whoever serves it can prove it still computes them.

They catch what a checksum cannot: a model file paired with the wrong preprocessing, a backend
or numeric library that answers differently, a build whose image decoder changed. Recorded by
training at export (or later, `python -m training.selftest`); checked by the service at start-up
through its whole serving path (service/engine/selftest.py).
"""

from __future__ import annotations

import base64
import io
import math
import random
from dataclasses import dataclass

from PIL import Image

from service.model.classifier import Classifier
from service.model.metadata import KnownAnswer, KnownAnswers
from service.model.networks import ExecutedPrecision
from service.model.preprocessing import bytes_to_pixels

REFERENCE_COUNT = 4
REFERENCE_SEED = 16
GRID = 4  # each photo is a GRID x GRID mosaic of random colours


def reference_photo(seed: int, index: int, input_size: int) -> bytes:
    """A PNG mosaic of random colour blocks, the same for the same seed and index, larger than
    the model's input and not square, so resizing is exercised too."""
    colours = random.Random(seed * 1000 + index).randbytes(GRID * GRID * 3)
    mosaic = Image.frombytes("RGB", (GRID, GRID), colours)
    photo = mosaic.resize((input_size * 2, input_size * 3 // 2), Image.Resampling.NEAREST)
    buffer = io.BytesIO()
    photo.save(buffer, format="PNG")
    return buffer.getvalue()


def record_known_answers(classifier: Classifier, *, seed: int = REFERENCE_SEED,
                         count: int = REFERENCE_COUNT) -> KnownAnswers:
    """Run the reference photos through the model's own preprocessing and the loaded file, one
    at a time, and keep every probability exactly."""
    metadata = classifier.metadata
    references = []
    for index in range(count):
        data = reference_photo(seed, index, metadata.preprocessing.input_size)
        pixels = bytes_to_pixels(data, size=metadata.preprocessing.input_size)
        (prediction,) = classifier.predict(pixels[None])
        references.append(KnownAnswer(name=f"reference-{seed}-{index}",
                                      png_base64=base64.b64encode(data).decode("ascii"),
                                      probabilities=prediction.probabilities))
    return KnownAnswers(seed=seed, references=references)


# The answers are recorded in float32. A bfloat16 pass keeps about 3 significant digits per
# layer: the shipped model's reference photos moved by up to 1.3e-3 (loadtest/BENCHMARK.md), so
# bfloat16 is held to 1e-2, still below most of what a wrong preprocessing or decoder does.
BFLOAT16_TOLERANCE = 1e-2


def allowed_difference(known: KnownAnswers, precision: ExecutedPrecision) -> float:
    """The per-probability tolerance for answers computed in `precision`."""
    if precision == "float32":
        return known.tolerance
    return max(known.tolerance, BFLOAT16_TOLERANCE)


def photo_bytes(reference: KnownAnswer) -> bytes:
    return base64.b64decode(reference.png_base64)


@dataclass(frozen=True)
class Difference:
    """How far an answer is from its reference: the label that differs most, and by how much."""

    reference: str
    label: str
    expected: float
    actual: float

    @property
    def size(self) -> float:
        return abs(self.actual - self.expected)

    def describe(self) -> str:
        return (f"{self.reference} gave {self.label} {self.actual:.6f}, recorded "
                f"{self.expected:.6f} (difference {self.size:.2e})")


def largest_difference(reference: KnownAnswer, probabilities: dict[str, float]) -> Difference:
    """The label whose probability moved most; a label missing on either side is infinitely
    far (the model and its references do not name the same things)."""
    labels = sorted(set(reference.probabilities) | set(probabilities))
    differences = [Difference(reference.name, label, reference.probabilities.get(label, math.inf),
                              probabilities.get(label, math.inf)) for label in labels]
    return max(differences, key=lambda difference: difference.size)
