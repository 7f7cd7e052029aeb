"""Labelled photo folders, decoded once into memory.

Decoding a 1600 px JPEG costs more than a training step on a small network, so every photo is
decoded a single time through serving's own decoder and kept as uint8 pixels. Validation and
test photos are kept at exactly the size serving feeds the model; training photos a little
larger, so random crops have detail to work with.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import torch

from service.model.errors import ApiError
from service.model.preprocessing import IMAGE_SUFFIXES, bytes_to_pixels

SPLITS = ("train", "val", "test")


@dataclass(frozen=True)
class LabelledFiles:
    """Image paths with class indices into `classes`."""

    paths: list[Path]
    targets: list[int]
    classes: list[str]


@dataclass(frozen=True)
class CachedImages:
    pixels: torch.Tensor  # N x 3 x S x S, uint8
    targets: torch.Tensor  # N, int64
    classes: list[str]
    paths: list[Path]


def list_images(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)


def find_splits(
    root: Path, *, seed: int, fractions: Sequence[float] = (0.8, 0.1, 0.1)
) -> dict[str, LabelledFiles]:
    """Use `root/train`, `root/val` (and `root/test`) when present, as `make data` writes them;
    otherwise split a plain folder-per-class layout, stratified and seeded, so that a folder of
    labelled camera photos trains as it is."""
    if not root.is_dir():
        raise FileNotFoundError(f"dataset folder {root} does not exist (make data writes one)")
    if (root / "train").is_dir() and (root / "val").is_dir():
        classes = _class_folders(root / "train")
        return {s: _labelled(root / s, classes) for s in SPLITS if (root / s).is_dir()}
    classes = _class_folders(root)
    return _stratified_split(_labelled(root, classes), seed, fractions)


def _class_folders(root: Path) -> list[str]:
    classes = sorted(p.name for p in root.iterdir() if p.is_dir())
    if len(classes) < 2:
        raise ValueError(f"{root} needs one sub-folder per class (found {classes})")
    return classes


def _labelled(root: Path, classes: list[str]) -> LabelledFiles:
    paths, targets = [], []
    for index, name in enumerate(classes):
        found = list_images(root / name) if (root / name).is_dir() else []
        paths += found
        targets += [index] * len(found)
    return LabelledFiles(paths, targets, classes)


def _stratified_split(
    files: LabelledFiles, seed: int, fractions: Sequence[float]
) -> dict[str, LabelledFiles]:
    rng = random.Random(seed)
    split_paths: dict[str, list[tuple[Path, int]]] = {s: [] for s in SPLITS}
    for index in range(len(files.classes)):
        members = [p for p, t in zip(files.paths, files.targets, strict=True) if t == index]
        rng.shuffle(members)
        n_val = max(1, round(len(members) * fractions[1]))
        n_test = max(1, round(len(members) * fractions[2]))
        split_paths["val"] += [(p, index) for p in members[:n_val]]
        split_paths["test"] += [(p, index) for p in members[n_val : n_val + n_test]]
        split_paths["train"] += [(p, index) for p in members[n_val + n_test :]]
    return {
        s: LabelledFiles([p for p, _ in pairs], [t for _, t in pairs], files.classes)
        for s, pairs in split_paths.items()
    }


def _decode_square(path: Path, size: int) -> bytes | None:
    """Raw RGB bytes (cheap to send between processes) of one photo squashed to `size`."""
    try:
        pixels = bytes_to_pixels(path.read_bytes(), size=size)
    except (ApiError, OSError):
        return None
    return pixels.tobytes()  # HWC, the order they were decoded in


def cache_images(files: LabelledFiles, *, size: int, workers: int) -> CachedImages:
    """Decode every file in parallel; unreadable files are skipped with a warning."""
    with ProcessPoolExecutor(max_workers=workers) as pool:
        decoded = list(pool.map(partial(_decode_square, size=size), files.paths, chunksize=32))
    keep = [i for i, pixels in enumerate(decoded) if pixels is not None]
    for i in set(range(len(decoded))) - set(keep):
        print(f"warning: skipped unreadable image {files.paths[i]}")
    if not keep:
        raise ValueError("no readable images found")
    return CachedImages(
        pixels=torch.stack([_to_chw(decoded[i], size) for i in keep]),
        targets=torch.tensor([files.targets[i] for i in keep]),
        classes=files.classes,
        paths=[files.paths[i] for i in keep],
    )


def _to_chw(rgb: bytes, size: int) -> torch.Tensor:
    return torch.frombuffer(bytearray(rgb), dtype=torch.uint8).view(size, size, 3).permute(2, 0, 1)
