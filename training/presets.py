"""Preprocessing and augmentation choices made at training time.

The evaluation-time preprocessing is written into the model's metadata from here, and serving
reads it from there: this is the only place its values are chosen.
"""

from __future__ import annotations

import torch
from torchvision.transforms import v2

from service.model.metadata import Preprocessing
from service.model.torch_network import normalize

# torchvision's ImageNet statistics, so that `--pretrained imagenet` weights see what they expect.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def preprocessing_spec(
    *,
    input_size: int,
    mean: tuple[float, ...] = IMAGENET_MEAN,
    std: tuple[float, ...] = IMAGENET_STD,
) -> Preprocessing:
    """Evaluation preprocessing; `mean` and `std` are those the starting weights were trained
    with (`training.model.input_normalisation`)."""
    return Preprocessing(
        input_size=input_size, resize="squash", interpolation="bilinear", mean=mean, std=std
    )


AUGMENTATION_POLICIES = ("project", "trivial", "trivial-lowres")


def cache_size_for(input_size: int) -> int:
    """Training images are cached a little larger than the input so random crops keep detail."""
    return round(input_size * 1.15)


def train_augmentation(*, input_size: int, policy: str = "project") -> v2.Compose:
    """Augmentations for uint8 CHW tensors cut from the cached, squashed photos.

    Crops stay large (a penguin near the border must remain recognisable), colour changes leave
    hue alone (colour is a field mark: Gentoo's bill must stay orange). Brightness reaches down to
    0.45 (about two stops in sRGB): real photos of dark birds on bright snow are often underexposed,
    and the renderer's own exposure varies far less than a camera's (`make robustness`).

    `policy="trivial"` adds torchvision's TrivialAugmentWide (one random operation of random
    strength per image; none of its operations changes hue), widening the gap renders must
    cover to look like camera photos. `"trivial-lowres"` also shows a third of the photos at a
    third to two thirds of their resolution (scaled down, then up again): the renderer draws
    fine field marks (an eye ring) crisper than a phone photo of a distant bird shows them, so
    the network must also learn the coarser ones (a black or white throat).
    """
    if policy not in AUGMENTATION_POLICIES:
        raise ValueError(f"unknown augmentation {policy!r}; choose from {AUGMENTATION_POLICIES}")
    extra = [v2.TrivialAugmentWide()] if policy.startswith("trivial") else []
    lowres = [_low_resolution(input_size, p=0.33)] if policy == "trivial-lowres" else []
    return v2.Compose(
        extra + [
            v2.RandomResizedCrop(input_size, scale=(0.55, 1.0), ratio=(0.75, 1.33), antialias=True),
            v2.RandomHorizontalFlip(),
            v2.RandomApply([v2.RandomRotation(10)], p=0.3),
            v2.ColorJitter(brightness=(0.45, 1.3), contrast=0.3, saturation=0.25),
            v2.RandomGrayscale(p=0.03),
            v2.RandomApply([v2.GaussianBlur(5, sigma=(0.1, 1.5))], p=0.2),
        ] + lowres
    )


def _low_resolution(input_size: int, *, p: float) -> v2.Transform:
    """With probability `p`, down to 1/3..2/3 of `input_size` and back up: detail lost, as in a
    small or distant subject."""
    down = v2.RandomResize(min_size=input_size // 3, max_size=2 * input_size // 3, antialias=True)
    return v2.RandomApply([v2.Compose([down, v2.Resize((input_size, input_size))])], p=p)


def normalize_batch(pixels: torch.Tensor, spec: Preprocessing) -> torch.Tensor:
    """uint8 NCHW pixels to normalised float input, channels-last (measured faster on CPU)."""
    return normalize(pixels, spec).contiguous(memory_format=torch.channels_last)
