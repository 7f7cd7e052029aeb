"""INFERENCE_PRECISION: the TorchScript pass in bfloat16 where asked (or where `auto` finds the
CPU computes it natively), float32 otherwise; ONNX Runtime only in float32; and the start-up
self-test holding a bfloat16 pass to its own tolerance."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from service.model import torch_network
from service.model.classifier import load_classifier
from service.model.known_answers import BFLOAT16_TOLERANCE, allowed_difference
from service.model.metadata import ModelIntegrityError, read_metadata


@pytest.fixture
def colour_pixels() -> np.ndarray:
    """Three photos whose normalised mean colours have more digits than bfloat16 keeps."""
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, size=(3, 32, 32, 3), dtype=np.uint8)


def as_bfloat16(values: np.ndarray) -> np.ndarray:
    return torch.from_numpy(values).bfloat16().float().numpy()


def test_a_bfloat16_pass_computes_in_bfloat16_and_returns_float32_logits(tiny_model_path,
                                                                         colour_pixels):
    exact = load_classifier(tiny_model_path, precision="float32")
    rounded = load_classifier(tiny_model_path, precision="bfloat16")
    assert (exact.network.precision, rounded.network.precision) == ("float32", "bfloat16")
    exact_logits, rounded_logits = exact.logits(colour_pixels), rounded.logits(colour_pixels)
    assert rounded_logits.dtype == np.float32
    # The head ran in bfloat16: its outputs are bfloat16 values, unlike float32's ...
    assert np.array_equal(rounded_logits, as_bfloat16(rounded_logits))
    assert not np.array_equal(exact_logits, as_bfloat16(exact_logits))
    # ... and within bfloat16's rounding (8 significant bits) of them.
    np.testing.assert_allclose(rounded_logits, exact_logits, rtol=2e-2, atol=2e-2)


@pytest.mark.parametrize(("native", "resolved"), [(True, "bfloat16"), (False, "float32")])
def test_auto_is_bfloat16_only_where_the_cpu_computes_it_natively(monkeypatch, tiny_model_path,
                                                                   native, resolved):
    monkeypatch.setattr(torch_network, "native_bfloat16", lambda: native)
    assert torch_network.resolve_precision("auto") == resolved
    assert load_classifier(tiny_model_path, precision="auto").network.precision == resolved


@pytest.mark.parametrize("precision", ["float32", "bfloat16"])
def test_an_explicit_precision_is_kept_whatever_the_cpu(monkeypatch, precision):
    monkeypatch.setattr(torch_network, "native_bfloat16", lambda: precision == "float32")
    assert torch_network.resolve_precision(precision) == precision


def test_onnx_runtime_refuses_bfloat16_and_runs_auto_in_float32(tiny_model_path):
    with pytest.raises(ModelIntegrityError, match="bfloat16 runs on the TorchScript backend"):
        load_classifier(tiny_model_path, backend="onnx", precision="bfloat16")
    assert load_classifier(tiny_model_path, backend="onnx",
                           precision="auto").network.precision == "float32"


def test_bfloat16_answers_are_held_to_their_own_tolerance_float32_to_the_recorded_one(
        tiny_model_path):
    known = read_metadata(tiny_model_path).known_answers
    assert allowed_difference(known, "float32") == known.tolerance
    assert allowed_difference(known, "bfloat16") == BFLOAT16_TOLERANCE > known.tolerance


def test_a_bfloat16_service_passes_its_self_test_and_says_how_it_computes(serve, settings_for):
    with serve(settings_for(inference_precision="bfloat16")) as client:
        assert client.get("/readyz").status_code == 200
        model = client.get("/model").json()
    assert model["precision"] == "bfloat16"
    assert model["selftest"]["status"] == "passed"
    assert model["selftest"]["tolerance"] == BFLOAT16_TOLERANCE
