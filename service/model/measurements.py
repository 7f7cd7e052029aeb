"""The measurements model's file: its format, verification and evaluation in plain Python.

A penguin's species from calliper and scale readings (Palmer Penguins data, issue 15). The file
is one JSON document written by training/measurements.py: the features it accepts (units,
ranges seen in training, categories), and one multinomial logistic regression per subset of the
optional features, each with its standardisation and coefficients.
A bird measured without a scale or without knowing its sex is answered by the submodel trained
on exactly the features given, never by imputing the missing ones.

Serving needs no scikit-learn: a prediction is a dot product and a softmax. The file is verified
at load like the photo model: its SHA-256 (of the canonical JSON of everything else) must match,
and its recorded check records must come out with the probabilities training computed.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, ValidationError, model_validator

from service.model.metadata import ModelIntegrityError

FORMAT_NAME = "penguin-measurements-logistic/1"
# Evaluation is the same arithmetic as training's in another order; 1e-9 would still pass.
CHECK_TOLERANCE = 1e-6

Value = float | str


class NumberFeature(BaseModel):
    """A measurement: a positive finite number, expected within the range seen in training."""

    name: str
    unit: str
    description: str
    required: bool
    integer: bool = Field(False, description="Whole numbers only (the year).")
    minimum: float = Field(description="Smallest value in the training data.")
    maximum: float = Field(description="Largest value in the training data.")


class CategoryFeature(BaseModel):
    """A choice among the categories seen in training (matched case-insensitively)."""

    name: str
    description: str
    required: bool
    categories: list[str]


class Submodel(BaseModel):
    """A logistic regression over one subset of the features.

    `inputs` are the columns after one-hot encoding: a number's own name, or `name=category`.
    """

    features: list[str]
    inputs: list[str]
    mean: list[float]
    scale: list[float]
    coef: list[list[float]] = Field(description="One row per label, one column per input.")
    intercept: list[float]
    metrics: dict = Field(default_factory=dict)

    @model_validator(mode="after")
    def _shapes_agree(self) -> Submodel:
        width = len(self.inputs)
        if len(self.mean) != width or len(self.scale) != width:
            raise ValueError("mean and scale must have one value per input")
        if any(len(row) != width for row in self.coef) or len(self.intercept) != len(self.coef):
            raise ValueError("coef must be labels x inputs and intercept one value per label")
        if any(value <= 0 for value in self.scale):
            raise ValueError("every scale must be positive")
        return self


class CheckRecord(BaseModel):
    """A record and the probabilities training computed for it, replayed at every load."""

    record: dict[str, Value]
    probabilities: list[float]


class MeasurementsModel(BaseModel):
    """Everything needed to use, verify and describe the measurements model."""

    format: Literal["penguin-measurements-logistic/1"]
    version: str
    sha256: str = Field(description="SHA-256 of the canonical JSON of every other field.")
    architecture: str
    labels: list[str]
    numbers: list[NumberFeature]
    categories: list[CategoryFeature]
    submodels: list[Submodel]
    checks: list[CheckRecord]
    training: dict = Field(default_factory=dict)
    metrics: dict = Field(default_factory=dict)

    @model_validator(mode="after")
    def _submodels_fit_the_labels(self) -> MeasurementsModel:
        if any(len(submodel.coef) != len(self.labels) for submodel in self.submodels):
            raise ValueError("every submodel must have one coefficient row per label")
        return self

    @property
    def feature_names(self) -> list[str]:
        """Every feature in the documented order: numbers first, then categories."""
        return [feature.name for feature in self.numbers] + [c.name for c in self.categories]

    @property
    def required(self) -> list[str]:
        return [name for name, feature in self.features().items() if feature.required]

    @property
    def optional(self) -> list[str]:
        return [name for name, feature in self.features().items() if not feature.required]

    def features(self) -> dict[str, NumberFeature | CategoryFeature]:
        return {feature.name: feature for feature in [*self.numbers, *self.categories]}

    def submodel_for(self, given: Iterable[str]) -> Submodel:
        """The submodel trained on exactly the features given."""
        wanted = frozenset(given)
        for submodel in self.submodels:
            if frozenset(submodel.features) == wanted:
                return submodel
        raise ModelIntegrityError(f"no submodel for the features {sorted(wanted)}")


@dataclass(frozen=True)
class MeasurementPrediction:
    species: str
    confidence: float
    probabilities: dict[str, float]
    features_used: list[str]
    features_missing: list[str]


def canonical_sha256(document: Mapping) -> str:
    """SHA-256 of a document without its own `sha256` field, keys sorted, no whitespace."""
    body = {key: value for key, value in document.items() if key != "sha256"}
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), allow_nan=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def predict(model: MeasurementsModel, record: Mapping[str, Value]) -> MeasurementPrediction:
    """Species probabilities for a validated record (absent optional features left out)."""
    given = [name for name in model.feature_names if record.get(name) is not None]
    submodel = model.submodel_for(given)
    probabilities = class_probabilities(submodel, record)
    best = max(range(len(probabilities)), key=probabilities.__getitem__)
    return MeasurementPrediction(
        species=model.labels[best],
        confidence=probabilities[best],
        probabilities=dict(zip(model.labels, probabilities, strict=True)),
        features_used=given,
        features_missing=[name for name in model.feature_names if name not in given],
    )


def class_probabilities(submodel: Submodel, record: Mapping[str, Value]) -> list[float]:
    """Standardise, apply the linear layer, softmax."""
    inputs = [
        (_input_value(name, record) - mean) / scale
        for name, mean, scale in zip(submodel.inputs, submodel.mean, submodel.scale, strict=True)
    ]
    logits = [
        sum(w * x for w, x in zip(row, inputs, strict=True)) + bias
        for row, bias in zip(submodel.coef, submodel.intercept, strict=True)
    ]
    top = max(logits)
    exps = [math.exp(logit - top) for logit in logits]
    total = sum(exps)
    return [value / total for value in exps]


def _input_value(column: str, record: Mapping[str, Value]) -> float:
    """A number's value, or 1.0/0.0 for a one-hot column `name=category`."""
    name, is_category, category = column.partition("=")
    value = record[name]
    if is_category:
        return 1.0 if value == category else 0.0
    return float(value)


def load_measurements_model(path: Path) -> MeasurementsModel:
    """Read, verify and self-check the model file; `ModelIntegrityError` says what is wrong."""
    try:
        document = json.loads(path.read_bytes())
    except FileNotFoundError as error:
        raise ModelIntegrityError(f"measurements model file {path} is missing") from error
    except (OSError, ValueError) as error:
        raise ModelIntegrityError(
            f"measurements model file {path} is unreadable: {error}") from error
    if not isinstance(document, dict):
        raise ModelIntegrityError(f"measurements model file {path} is not a JSON object")
    try:
        model = MeasurementsModel.model_validate(document)
    except ValidationError as error:
        problems = "; ".join(f"{'.'.join(map(str, p['loc'])) or 'file'}: {p['msg']}"
                             for p in error.errors())
        raise ModelIntegrityError(
            f"measurements model file {path} is unreadable: {problems}") from error
    actual = canonical_sha256(document)
    if actual != model.sha256:
        raise ModelIntegrityError(
            f"measurements model file {path} has SHA-256 {actual} but records {model.sha256}: "
            "the file was edited or corrupted after export")
    verify_checks(model)
    return model


def verify_checks(model: MeasurementsModel) -> None:
    """Replay the recorded check records: every submodel must be present and agree."""
    for check in model.checks:
        try:
            answer = predict(model, check.record)
        except (KeyError, ValueError, TypeError) as error:
            raise ModelIntegrityError(
                f"measurements model check record {check.record} failed: {error!r}") from error
        got = list(answer.probabilities.values())
        if any(abs(a - b) > CHECK_TOLERANCE for a, b in zip(got, check.probabilities,
                                                             strict=True)):
            raise ModelIntegrityError(
                f"measurements model check record {check.record} gives {got}, training "
                f"recorded {check.probabilities}")
