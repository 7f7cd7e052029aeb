"""penguin-classify: classify folders of photos, or CSV files of measurements, offline.

    penguin-classify photos/ more/*.jpg --recursive --format csv --output results.csv
    penguin-classify birds.csv --output species.csv    # service/measurements_batch.py

Files that cannot be classified are skipped with a warning and listed at the end; the exit code
is 0 when at least one photo was classified, 1 when none was, 2 when the model is unusable.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import TextIO

import torch

from service.batch_classify import Classified, Skipped, classify_files, find_images
from service.classifier import Classifier, load_classifier
from service.cpus import usable_cpu_count
from service.measurements_batch import classify_csv_files, is_measurements_csv
from service.metadata import ModelIntegrityError
from service.progress import ProgressBar
from service.settings import DEFAULT_MEASUREMENTS_MODEL_PATH, DEFAULT_MODEL_PATH

PROGRAM = "penguin-classify"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog=PROGRAM,
        description="Classify every photo in the given files and folders with the penguin model, "
        "or every row of the given CSV files of measurements with the measurements model.",
    )
    parser.add_argument("paths", nargs="+", type=Path, metavar="PATH",
                        help="image files, or folders of .jpg/.png/.webp/.gif/.bmp files; or "
                             ".csv files of measurements (a header row with the API's field "
                             "names), not both at once")
    parser.add_argument("--model", type=Path,
                        default=Path(os.environ.get("MODEL_PATH", DEFAULT_MODEL_PATH)),
                        help="model file, with its .json beside it "
                             "(default: $MODEL_PATH, else the shipped weights)")
    parser.add_argument("--measurements-model", type=Path,
                        default=Path(os.environ.get("MEASUREMENTS_MODEL_PATH",
                                                    DEFAULT_MEASUREMENTS_MODEL_PATH)),
                        help="measurements model file for .csv inputs (default: "
                             "$MEASUREMENTS_MODEL_PATH, else the shipped one)")
    parser.add_argument("--format", choices=("csv", "json"), default="csv",
                        help="output format (default: csv)")
    parser.add_argument("--output", type=Path, default=None,
                        help="file to write (default: standard output)")
    parser.add_argument("--recursive", action="store_true", help="also look inside sub-folders")
    parser.add_argument("--batch-size", type=int, default=32,
                        help="photos per forward pass (default: 32)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    csv_files = [path for path in args.paths if is_measurements_csv(path)]
    if csv_files:
        if len(csv_files) != len(args.paths):
            print(f"{PROGRAM}: give photos or .csv files of measurements, not both",
                  file=sys.stderr)
            return 2
        with open_output(args.output) as stream:
            return classify_csv_files(csv_files, args.measurements_model.absolute(),
                                      args.format, stream, PROGRAM)
    try:
        classifier = load_classifier(args.model.absolute())
    except ModelIntegrityError as error:
        print(f"{PROGRAM}: cannot use the model: {error}", file=sys.stderr)
        return 2
    files, skipped = find_images(args.paths, recursive=args.recursive)
    results, unreadable = classify_with_progress(files, classifier, max(1, args.batch_size))
    skipped += unreadable
    with open_output(args.output) as stream:
        write_results(results, classifier.metadata.labels, args.format, stream)
    report(len(results), skipped)
    return 0 if results else 1


def classify_with_progress(
    files: list[Path], classifier: Classifier, batch_size: int
) -> tuple[list[Classified], list[Skipped]]:
    """Run the batches with a progress bar on stderr; warn about each skipped file at once."""
    cpus = usable_cpu_count()
    torch.set_num_threads(cpus)
    progress = ProgressBar(len(files))

    def on_progress(done: int, newly_skipped: list[Skipped]) -> None:
        for item in newly_skipped:
            progress.message(f"warning: skipped {item.path}: {item.reason}")
        progress.update(done)

    with ThreadPoolExecutor(cpus, thread_name_prefix="decode") as pool:
        outcomes = list(classify_files(files, classifier, pool, batch_size=batch_size,
                                       on_progress=on_progress))
    progress.finish()
    return ([o for o in outcomes if isinstance(o, Classified)],
            [o for o in outcomes if isinstance(o, Skipped)])


@contextmanager
def open_output(path: Path | None) -> Iterator[TextIO]:
    if path is None or str(path) == "-":
        yield sys.stdout
        return
    with path.open("w", newline="", encoding="utf-8") as stream:
        yield stream


def write_results(results: list[Classified], labels: list[str], fmt: str, stream: TextIO) -> None:
    """CSV: one row per photo, a probability column per label. JSON: a list of objects."""
    if fmt == "json":
        json.dump([_as_record(result) for result in results], stream, indent=2)
        stream.write("\n")
        return
    writer = csv.writer(stream)
    writer.writerow(["path", "species", "confidence", "rejected",
                     *(f"probability_{label}" for label in labels)])
    for result in results:
        prediction = result.prediction
        writer.writerow([str(result.path), prediction.species, f"{prediction.confidence:.6f}",
                         str(prediction.rejected).lower(),
                         *(f"{prediction.probabilities[label]:.6f}" for label in labels)])


def _as_record(result: Classified) -> dict:
    prediction = result.prediction
    return {
        "path": str(result.path),
        "species": prediction.species,
        "confidence": round(prediction.confidence, 6),
        "rejected": prediction.rejected,
        "probabilities": {label: round(p, 6) for label, p in prediction.probabilities.items()},
    }


def report(classified: int, skipped: list[Skipped]) -> None:
    """The summary people read at the end, skipped files listed again so none goes unnoticed."""
    print(f"classified {classified} photo(s), skipped {len(skipped)}", file=sys.stderr)
    for item in skipped:
        print(f"  skipped {item.path}: {item.reason}", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
