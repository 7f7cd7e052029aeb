"""Classifying files on disk in batches, for the offline `penguin-classify` command.

Uses the same verified model, the same preprocessing (from the model's metadata) and the same
rejection rule as the HTTP service, so a researcher's spreadsheet agrees with the API.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Executor
from dataclasses import dataclass
from pathlib import Path

import torch

from service.classifier import Classifier, Prediction
from service.metadata import Preprocessing
from service.preprocessing import DEFAULT_MAX_PIXELS, ImageRejected, bytes_to_input

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".webp", ".gif", ".bmp"})


@dataclass(frozen=True)
class Classified:
    path: Path
    prediction: Prediction


@dataclass(frozen=True)
class Skipped:
    path: Path
    reason: str


def find_images(paths: Iterable[Path], *, recursive: bool) -> tuple[list[Path], list[Skipped]]:
    """Files named on the command line are always tried; in folders, only image suffixes.

    Returns the files in a stable order, and the named paths that do not exist.
    """
    found: list[Path] = []
    missing: list[Skipped] = []
    for path in paths:
        if path.is_dir():
            pattern = path.rglob("*") if recursive else path.glob("*")
            found.extend(sorted(p for p in pattern if _is_image_name(p)))
        elif path.is_file():
            found.append(path)
        else:
            missing.append(Skipped(path, "no such file or folder"))
    return list(dict.fromkeys(found)), missing


def _is_image_name(path: Path) -> bool:
    hidden = path.name.startswith(".")
    return path.suffix.lower() in IMAGE_SUFFIXES and path.is_file() and not hidden


def classify_files(
    files: list[Path],
    classifier: Classifier,
    decode_pool: Executor,
    *,
    batch_size: int,
    on_progress: Callable[[int, list[Skipped]], None] = lambda done, skipped: None,
) -> Iterator[Classified | Skipped]:
    """Decode each chunk of files in parallel, then classify the chunk in one forward pass.

    `on_progress(files_done, newly_skipped)` is called after each chunk.
    """
    spec = classifier.metadata.preprocessing
    done = 0
    for start in range(0, len(files), batch_size):
        chunk = files[start:start + batch_size]
        inputs = list(decode_pool.map(lambda path: _read_input(path, spec), chunk))
        tensors = [item for item in inputs if isinstance(item, torch.Tensor)]
        predictions = iter(classifier.predict(torch.stack(tensors)) if tensors else [])
        outcomes = [
            Classified(path, next(predictions)) if isinstance(item, torch.Tensor)
            else Skipped(path, item)
            for path, item in zip(chunk, inputs, strict=True)
        ]
        done += len(chunk)
        on_progress(done, [outcome for outcome in outcomes if isinstance(outcome, Skipped)])
        yield from outcomes


def _read_input(path: Path, spec: Preprocessing) -> torch.Tensor | str:
    """The model input for one file, or the reason it cannot be classified."""
    try:
        return bytes_to_input(path.read_bytes(), spec, max_pixels=DEFAULT_MAX_PIXELS)
    except ImageRejected as rejected:
        return rejected.message
    except OSError as error:
        return f"cannot be read ({error.strerror or error})"
