"""Evaluate an exported model on any folder of labelled photos, exactly as the service sees them.

Photos go through serving's decoder and preprocessing and the model's own rejection rule. Folder
names are matched to the model's labels ignoring case; any other folder (`not_penguin`,
`other_penguin`, ...) holds photos the model should reject as 'no penguin'.

    python -m training.evaluate --model weights/penguin_classifier.pt --data ../shared/real-photos
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch

from service.model.classifier import (
    Classifier,
    calibrated_probabilities,
    interpret,
    load_classifier,
)
from service.model.metadata import ModelMetadata, Preprocessing
from service.model.networks import EXECUTED_PRECISIONS
from service.model.torch_network import normalize
from training.calibration import expected_calibration_error
from training.conditions import accuracy_by_condition, read_manifest
from training.data import CachedImages, LabelledFiles, cache_images, list_images


def expected_labels(folders: list[str], metadata: ModelMetadata) -> list[str]:
    """The answer expected for each folder: its species, or the reject label."""
    by_name = {label.lower(): label for label in metadata.labels}
    return [by_name.get(folder.lower(), metadata.rejection.label) for folder in folders]


@torch.inference_mode()
def model_logits(
    module: torch.nn.Module, pixels: torch.Tensor, spec: Preprocessing, batch_size: int = 64
) -> torch.Tensor:
    """Logits for uint8 pixels already at the model's input size, in batches."""
    chunks = [
        module(normalize(pixels[start : start + batch_size], spec))
        for start in range(0, len(pixels), batch_size)
    ]
    return torch.cat(chunks)


def served_logits(classifier: Classifier, pixels: torch.Tensor, batch_size: int = 64
                  ) -> torch.Tensor:
    """Logits for uint8 NCHW pixels at the model's input size, in batches, through the
    classifier's own backend and normalisation: what the service computes for them."""
    nhwc = pixels.permute(0, 2, 3, 1).numpy()
    chunks = [classifier.logits(nhwc[start : start + batch_size])
              for start in range(0, len(nhwc), batch_size)]
    return torch.from_numpy(np.concatenate(chunks))


def summarize(
    logits: torch.Tensor,
    folder_targets: torch.Tensor,
    folders: list[str],
    metadata: ModelMetadata,
    records: list[dict | None] | None = None,
    paths: list[Path] | None = None,
) -> dict:
    """Accuracy, per-class precision and recall, rejection rates, confusion and calibration;
    with the renderer's `records` of each photo, accuracy by scene condition too; with the
    photos' `paths`, every photo's answer (what `training.compare` pairs between two models)."""
    expected = expected_labels(folders, metadata)
    predictions = interpret(logits, metadata)
    answers = [p.species for p in predictions]
    truth = [expected[t] for t in folder_targets.tolist()]
    reject = metadata.rejection.label
    penguin = [i for i, t in enumerate(truth) if t != reject]
    non_penguin = [i for i, t in enumerate(truth) if t == reject]
    metrics = {
        "images": len(truth),
        "species_accuracy": _rate(penguin, lambda i: answers[i] == truth[i]),
        "no_penguin_rejected": _rate(non_penguin, lambda i: answers[i] == reject),
        "penguin_wrongly_rejected": _rate(penguin, lambda i: answers[i] == reject),
        "overall_accuracy": _rate(range(len(truth)), lambda i: answers[i] == truth[i]),
        "per_class": _precision_recall(truth, answers, metadata.labels),
        "confusion": _confusion(folder_targets.tolist(), answers, folders, metadata.labels),
    }
    metrics.update(_calibration(logits, truth, metadata))
    if records is not None:
        metrics["by_condition"] = accuracy_by_condition(answers, truth, records, reject)
    if paths is not None:
        metrics["photos"] = [
            {"photo": f"{path.parent.name}/{path.name}", "expected": expected_answer,
             "answer": prediction.species, "confidence": round(prediction.confidence, 4)}
            for path, expected_answer, prediction in zip(paths, truth, predictions, strict=True)
        ]
    return metrics


def _rate(indices, is_hit) -> float | None:
    indices = list(indices)
    return round(sum(1 for i in indices if is_hit(i)) / len(indices), 4) if indices else None


def _precision_recall(truth: list[str], answers: list[str], labels: list[str]) -> dict:
    table = {}
    for label in labels:
        predicted = [i for i, a in enumerate(answers) if a == label]
        actual = [i for i, t in enumerate(truth) if t == label]
        table[label] = {
            "precision": _rate(predicted, lambda i, label=label: truth[i] == label),
            "recall": _rate(actual, lambda i, label=label: answers[i] == label),
            "support": len(actual),
        }
    return table


def _confusion(
    targets: list[int], answers: list[str], folders: list[str], labels: list[str]
) -> dict:
    """Rows are the dataset's folders, columns the model's answers."""
    rows = {folder: dict.fromkeys(labels, 0) for folder in folders}
    for target, answer in zip(targets, answers, strict=True):
        rows[folders[target]][answer] += 1
    return rows


def _calibration(logits: torch.Tensor, truth: list[str], metadata: ModelMetadata) -> dict:
    targets = torch.tensor([metadata.labels.index(t) for t in truth])
    before = torch.softmax(logits.float(), dim=1)
    after = torch.from_numpy(calibrated_probabilities(logits, metadata.temperature))
    return {
        "ece_before_temperature": round(expected_calibration_error(before, targets), 4),
        "ece": round(expected_calibration_error(after, targets), 4),
    }


def evaluate_folder(
    classifier: Classifier, folder: LabelledFiles, workers: int, dataset_root: Path | None = None
) -> tuple[dict, CachedImages]:
    """Metrics of `folder`; when `dataset_root` is a rendered dataset, by scene condition too."""
    images = cache_images(
        folder, size=classifier.metadata.preprocessing.input_size, workers=workers
    )
    logits = served_logits(classifier, images.pixels)
    manifest = read_manifest(dataset_root) if dataset_root else {}
    records = [manifest.get(path.resolve()) for path in images.paths] if manifest else None
    metrics = summarize(
        logits, images.targets, images.classes, classifier.metadata, records, images.paths
    )
    return metrics, images


def plot_confusion(confusion: dict, path: Path, title: str) -> None:
    """A PNG of the confusion table, for people who would rather look than read."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = list(confusion)
    columns = list(next(iter(confusion.values())))
    counts = [[confusion[r][c] for c in columns] for r in rows]
    figure, axes = plt.subplots(figsize=(1.6 + 1.3 * len(columns), 1.2 + 0.6 * len(rows)))
    axes.imshow(counts, cmap="Blues")
    axes.set_xticks(range(len(columns)), columns, rotation=30, ha="right")
    axes.set_yticks(range(len(rows)), rows)
    axes.set_xlabel("model's answer")
    axes.set_ylabel("true folder")
    axes.set_title(title)
    peak = max(max(r) for r in counts) or 1
    for y, row in enumerate(counts):
        for x, count in enumerate(row):
            axes.text(
                x,
                y,
                count,
                ha="center",
                va="center",
                color="white" if count > peak / 2 else "black",
            )
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def format_report(metrics: dict) -> str:
    lines = [f"images: {metrics['images']}"]
    for key in (
        "species_accuracy",
        "no_penguin_rejected",
        "penguin_wrongly_rejected",
        "overall_accuracy",
        "ece_before_temperature",
        "ece",
    ):
        lines.append(f"{key}: {metrics[key]}")
    lines.append("confusion (rows: folders, columns: answers):")
    for folder, row in metrics["confusion"].items():
        lines.append(f"  {folder:>16}: " + "  ".join(f"{k}={v}" for k, v in row.items()))
    for condition, values in metrics.get("by_condition", {}).items():
        lines.append(f"by {condition}:")
        for value, outcome in values.items():
            lines.append(f"  {value:>28}: " + "  ".join(f"{k}={v}" for k, v in outcome.items()))
    return "\n".join(lines)


def folder_to_evaluate(data: Path, split: str = "test") -> Path:
    """`data/split` when that exists (a rendered or split dataset), else `data` itself (any
    folder of labelled photos, one folder per class)."""
    return data / split if (data / split).is_dir() else data


def files_to_evaluate(data: Path, split: str = "test") -> LabelledFiles:
    """The photos of `folder_to_evaluate(data, split)`, labelled by their class folder."""
    folder = folder_to_evaluate(data, split)
    classes = sorted(p.name for p in folder.iterdir() if p.is_dir()) if folder.is_dir() else []
    if not classes:
        raise ValueError(f"{folder} has no class folders to evaluate")
    files = LabelledFiles([], [], classes)
    for index, name in enumerate(classes):
        found = list_images(folder / name)
        files.paths.extend(found)
        files.targets.extend([index] * len(found))
    return files


def get_args_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--model",
        type=Path,
        default=Path("weights/penguin_classifier.pt"),
        help="exported model (.pt with its .json beside it)",
    )
    parser.add_argument(
        "--data",
        type=Path,
        required=True,
        help="folder of class folders, or a dataset with a test/ split",
    )
    parser.add_argument(
        "--split", default="test", help="split to use when --data has train/val/test folders"
    )
    parser.add_argument(
        "--report",
        type=Path,
        default=None,
        help="write metrics JSON here, and a confusion PNG beside it",
    )
    parser.add_argument("--workers", type=int, default=2, help="processes decoding photos")
    add_precision_argument(parser)
    return parser


def add_precision_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--precision", choices=EXECUTED_PRECISIONS, default="float32",
        help="what the forward pass computes in (the service's INFERENCE_PRECISION; float32 is "
        "what the metadata's figures and known answers were recorded in)",
    )


def main(argv: list[str] | None = None) -> int:
    args = get_args_parser().parse_args(argv)
    try:
        files = files_to_evaluate(args.data, args.split)
    except ValueError as error:
        sys.exit(f"error: {error}")
    folder = folder_to_evaluate(args.data, args.split)
    classifier = load_classifier(args.model, precision=args.precision)
    metrics, _ = evaluate_folder(classifier, files, args.workers, dataset_root=args.data)
    print(format_report(metrics))
    if args.report:
        args.report.parent.mkdir(parents=True, exist_ok=True)
        args.report.write_text(json.dumps(metrics, indent=2) + "\n")
        plot_confusion(metrics["confusion"], args.report.with_suffix(".png"), f"{folder}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
