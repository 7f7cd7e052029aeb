"""A stand-in for the shipped model while weights/ has none: the same network and input size.

An untrained MobileNetV3-small with 4 outputs at 224 px costs exactly what the trained one does
per image, which is all a speed benchmark needs. Exported by training's own exporter.

    python -m loadtest.bench.standin OUT.pt
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch
import torchvision

from service.model.metadata import Rejection
from training.export import export_classifier
from training.presets import preprocessing_spec

LABELS = ["Adelie", "Chinstrap", "Gentoo", "no_penguin"]
INPUT_SIZE = 224


def export_standin(path: Path) -> Path:
    torch.manual_seed(0)
    export_classifier(
        torchvision.models.mobilenet_v3_small(num_classes=len(LABELS)),
        path,
        architecture="mobilenet_v3_small",
        version="bench-stand-in",
        labels=LABELS,
        preprocessing=preprocessing_spec(input_size=INPUT_SIZE),
        temperature=1.0,
        rejection=Rejection(label="no_penguin", min_species_probability=0.5),
        check_batch=torch.randn(2, 3, INPUT_SIZE, INPUT_SIZE),
    )
    return path


if __name__ == "__main__":
    export_standin(Path(sys.argv[1]))
