"""Fixtures of the speed suite: a real MobileNet (photos and apps come from tests/conftest.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

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
