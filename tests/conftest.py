"""Fixtures shared by the whole suite: a tiny exported model whose answers tests can predict.

The model averages the top half of the photo per colour channel and maps it to logits with
fixed weights: a red top half means Adelie, green Chinstrap, blue Gentoo, and a dark photo means
no penguin. Tests can therefore assert the real answer for a photo, not just the JSON shape,
and an EXIF rotation that is not applied changes the answer.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

TINY_LABELS = ["Adelie", "Chinstrap", "Gentoo", "no_penguin"]
TINY_INPUT_SIZE = 32
TINY_VERSION = "tiny-test-1"


class TopHalfColourNet(nn.Module):
    """Logits from the mean colour of the top half of the (normalised) input."""

    def __init__(self) -> None:
        super().__init__()
        self.pool = nn.AdaptiveAvgPool2d((2, 1))
        self.head = nn.Linear(3, 4)
        with torch.no_grad():
            # Rows: Adelie <- red, Chinstrap <- green, Gentoo <- blue, no_penguin <- darkness.
            self.head.weight.copy_(torch.tensor([
                [8.0, 0.0, 0.0], [0.0, 8.0, 0.0], [0.0, 0.0, 8.0], [-8.0, -8.0, -8.0],
            ]))
            self.head.bias.zero_()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        top_half = self.pool(x)[:, :, 0, 0]
        return self.head(top_half)


def export_tiny_model(path: Path) -> Path:
    """Export with training's own exporter, so the tests exercise the real file format."""
    from service.metadata import Rejection
    from training.export import export_classifier
    from training.presets import preprocessing_spec

    export_classifier(
        TopHalfColourNet(),
        path,
        architecture="tiny-top-half-colour",
        version=TINY_VERSION,
        labels=TINY_LABELS,
        preprocessing=preprocessing_spec(input_size=TINY_INPUT_SIZE),
        temperature=1.0,
        rejection=Rejection(label="no_penguin", min_species_probability=0.5),
        check_batch=torch.randn(2, 3, TINY_INPUT_SIZE, TINY_INPUT_SIZE),
        metrics={"accuracy": 0.5},
    )
    return path


@pytest.fixture(scope="session")
def tiny_model_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A verified model file plus its metadata .json, exported once per test session."""
    return export_tiny_model(tmp_path_factory.mktemp("model") / "tiny.pt")
