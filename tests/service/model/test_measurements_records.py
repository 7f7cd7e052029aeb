"""A record's refusal is an ApiError like every other: 422, a code, every field named."""

from __future__ import annotations

import pytest

from service.model.errors import ApiError
from service.model.measurements import load_measurements_model
from service.model.measurements_records import Answer, RecordRejected, answer, answer_each
from service.settings import DEFAULT_MEASUREMENTS_MODEL_PATH

GENTOO = {"bill_length_mm": 45.1, "bill_depth_mm": 14.5, "flipper_length_mm": 210}
BAD = {"bill_length_mm": -3, "bill_depth_mm": 14.5, "flipper_length_mm": 210,
       "island": "Atlantis"}


@pytest.fixture(scope="module")
def model():
    return load_measurements_model(DEFAULT_MEASUREMENTS_MODEL_PATH)


def test_a_rejected_record_is_a_422_api_error_naming_every_field(model):
    with pytest.raises(RecordRejected) as caught:
        answer(model, BAD)
    error = caught.value
    assert isinstance(error, ApiError)
    assert (error.status, error.code) == (422, "invalid_measurement")
    assert error.fields == ["bill_length_mm", "island"]
    assert error.detail == ("bill_length_mm: must be greater than 0, got -3; island: must be one "
                           "of Biscoe, Dream, Torgersen, got text 'Atlantis'.")
    assert error.message == f"The measurements cannot be used: {error.detail}"


def test_only_missing_fields_are_a_missing_measurement(model):
    with pytest.raises(RecordRejected) as caught:
        answer(model, {"bill_length_mm": 45.1})
    assert caught.value.code == "missing_measurement"
    assert caught.value.fields == ["bill_depth_mm", "flipper_length_mm"]


def test_a_bad_record_spoils_no_other(model):
    outcomes = answer_each(model, [GENTOO, BAD, GENTOO])
    assert isinstance(outcomes[1], RecordRejected)
    assert [o.prediction.species for o in outcomes if isinstance(o, Answer)] == ["Gentoo"] * 2
