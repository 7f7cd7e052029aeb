"""Build the MobileNet to fine-tune, from random initialisation or from published weights."""

from __future__ import annotations

from pathlib import Path

import torch
import torchvision
from torch import nn

ARCHITECTURES = {
    "mobilenet_v3_small": (
        torchvision.models.mobilenet_v3_small,
        torchvision.models.MobileNet_V3_Small_Weights.IMAGENET1K_V1,
    ),
    "mobilenet_v3_large": (
        torchvision.models.mobilenet_v3_large,
        torchvision.models.MobileNet_V3_Large_Weights.IMAGENET1K_V1,
    ),
}


class PretrainedUnavailable(Exception):
    """Published weights were asked for but could not be had (offline, or a bad file)."""


def build_model(
    architecture: str,
    *,
    num_classes: int,
    pretrained: str = "none",
    imagenet_url: str | None = None,
) -> nn.Module:
    """A MobileNet with a fresh `num_classes` head.

    `pretrained` is "none" (random initialisation, works offline), "imagenet" (torchvision's
    published weights, downloaded once into the torch hub cache), or a path to a local state dict
    of the same architecture, for machines that cannot download. `imagenet_url` overrides the
    published address, for mirrors and tests.
    """
    if architecture not in ARCHITECTURES:
        raise ValueError(
            f"unknown architecture {architecture!r}; choose from {sorted(ARCHITECTURES)}"
        )
    factory, weights = ARCHITECTURES[architecture]
    model = factory()
    if pretrained == "imagenet":
        model.load_state_dict(_download_state_dict(imagenet_url or weights.url, architecture))
    elif pretrained != "none":
        model.load_state_dict(_read_state_dict(Path(pretrained)))
    _replace_head(model, num_classes)
    if pretrained == "none":
        _quicken_batch_norm(model)
    return model


def _quicken_batch_norm(model: nn.Module, momentum: float = 0.1) -> None:
    """torchvision's MobileNetV3 keeps batch-norm running statistics with momentum 0.01, tuned
    for hundreds of ImageNet epochs. From random initialisation over a few epochs the running
    statistics then lag far behind the weights, and the evaluation-mode network answers one
    class for every photo (measured: validation accuracy stuck at chance while training
    accuracy rose). 0.1 lets them follow."""
    for module in model.modules():
        if isinstance(module, nn.BatchNorm2d):
            module.momentum = momentum


def _replace_head(model: nn.Module, num_classes: int) -> None:
    last = model.classifier[-1]
    model.classifier[-1] = nn.Linear(last.in_features, num_classes)


def _download_state_dict(url: str, architecture: str) -> dict[str, torch.Tensor]:
    try:
        return torch.hub.load_state_dict_from_url(url, progress=False, map_location="cpu")
    except Exception as error:  # urllib, socket and HTTP errors all mean "not available here"
        raise PretrainedUnavailable(
            f"could not download the ImageNet weights for {architecture} from {url} ({error}). "
            f"Without internet, download them elsewhere and pass the file instead: "
            f"--pretrained /path/to/{architecture}.pth (or train from scratch: --pretrained none)."
        ) from error


def _read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    if not path.is_file():
        raise PretrainedUnavailable(
            f"--pretrained {path}: no such file. Pass 'imagenet', 'none', or a state-dict file."
        )
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:
        raise PretrainedUnavailable(
            f"--pretrained {path} is not a readable state dict: {error}"
        ) from error
