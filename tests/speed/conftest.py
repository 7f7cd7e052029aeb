"""Fixtures of the speed suite: the service tests' photo and app fixtures, and a real MobileNet.

The service tests' fixtures are loaded under a private name rather than copied, so both suites
build photos and apps the same way.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import torch

_SPEC = importlib.util.spec_from_file_location(
    "_speed_service_fixtures", Path(__file__).resolve().parents[1] / "service" / "conftest.py")
assert _SPEC is not None and _SPEC.loader is not None
service_fixtures = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(service_fixtures)

photo = service_fixtures.photo
settings_for = service_fixtures.settings_for
serve = service_fixtures.serve
tiny_metadata = service_fixtures.tiny_metadata

MOBILENET_INPUT_SIZE = 64


@pytest.fixture(scope="session")
def mobilenet_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The served architecture (MobileNetV3-small, 4 outputs), random weights, a small input:
    what batched-versus-alone parity must hold for (its convolutions pick kernels by batch
    size; the tiny test model has none)."""
    torchvision = pytest.importorskip("torchvision")
    from service.metadata import Rejection
    from training.export import export_classifier
    from training.presets import preprocessing_spec

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("mobilenet") / "mobilenet.pt"
    export_classifier(
        torchvision.models.mobilenet_v3_small(num_classes=4), path,
        architecture="mobilenet_v3_small", version="speed-test",
        labels=["Adelie", "Chinstrap", "Gentoo", "no_penguin"],
        preprocessing=preprocessing_spec(input_size=MOBILENET_INPUT_SIZE), temperature=1.0,
        rejection=Rejection(label="no_penguin", min_species_probability=0.5),
        check_batch=torch.randn(2, 3, MOBILENET_INPUT_SIZE, MOBILENET_INPUT_SIZE),
    )
    return path
