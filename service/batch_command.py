"""penguin-classify: classify folders of photos, or CSV files of measurements, offline.

    penguin-classify photos/ more/*.jpg --recursive --format csv --output results.csv
    penguin-classify birds.csv --output species.csv

Uses the same verified model, the same preprocessing (from the model's metadata) and the same
rejection rule as the HTTP service, so a researcher's spreadsheet agrees with the API; the model
is found the way the service finds it (MODEL_PATH, through `Settings`). Files that cannot be
classified are skipped with a warning and listed at the end; the exit code is 0 when at least
one photo was classified, 1 when none was, 2 when the model or the configuration is unusable.

CSV files of measurements get the same model file, checks and answers as POST
/predict/measurements (service/model/measurements_records.py). A bad row is written with its
error and does not stop the others; the exit code is 0 when at least one row was classified, 1
when none was, 2 when the measurements model or a file is unusable.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Executor, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

import torch
from pydantic import ValidationError
from tqdm import tqdm

from service.cpus import usable_cpu_count
from service.model.classifier import Classifier, Prediction, load_classifier
from service.model.errors import ApiError
from service.model.measurements import MeasurementsModel, load_measurements_model
from service.model.measurements_records import Answer, RecordRejected, answer_each, read_csv_rows
from service.model.metadata import ModelIntegrityError, Preprocessing
from service.model.preprocessing import DEFAULT_MAX_PIXELS, IMAGE_SUFFIXES, bytes_to_input
from service.settings import Settings

PROGRAM = "penguin-classify"
PROGRESS_FORMAT = "{bar:30} {n_fmt}/{total_fmt} photos [{elapsed}<{remaining}]"
CSV_SUFFIX = ".csv"
# One CSV file is read whole; far beyond any field season, small enough to refuse a wrong file.
MAX_ROWS_PER_FILE = 1_000_000


@dataclass(frozen=True)
class ClassifiedFile:
    path: Path
    prediction: Prediction


@dataclass(frozen=True)
class Skipped:
    path: Path
    reason: str


def parse_args(argv: list[str] | None, settings: Settings) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog=PROGRAM,
        description="Classify every photo in the given files and folders with the penguin model, "
        "or every row of the given CSV files of measurements with the measurements model.",
    )
    parser.add_argument("paths", nargs="+", type=Path, metavar="PATH",
                        help="image files, or folders of .jpg/.png/.webp/.gif/.bmp files; or "
                             ".csv files of measurements (a header row with the API's field "
                             "names), not both at once")
    parser.add_argument("--model", type=Path, default=settings.model_path,
                        help="model file, with its .json beside it "
                             "(default: $MODEL_PATH, else the shipped weights)")
    parser.add_argument("--measurements-model", type=Path,
                        default=settings.measurements_model_path,
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
    try:
        settings = Settings()
    except ValidationError as error:
        print(f"{PROGRAM}: invalid configuration in environment variables:\n{error}",
              file=sys.stderr)
        return 2
    args = parse_args(argv, settings)
    csv_files = [path for path in args.paths if is_measurements_csv(path)]
    if csv_files:
        if len(csv_files) != len(args.paths):
            print(f"{PROGRAM}: give photos or .csv files of measurements, not both",
                  file=sys.stderr)
            return 2
        with open_output(args.output) as stream:
            return classify_csv_files(csv_files, args.measurements_model.absolute(),
                                      args.format, stream)
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


# ---- finding and classifying files ----------------------------------------------------------

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


def classify_with_progress(
    files: list[Path], classifier: Classifier, batch_size: int
) -> tuple[list[ClassifiedFile], list[Skipped]]:
    """Run the batches with a progress bar on stderr; warn about each skipped file at once."""
    cpus = usable_cpu_count()
    torch.set_num_threads(cpus)
    with (tqdm(total=len(files), file=sys.stderr, bar_format=PROGRESS_FORMAT, ascii=True,
               dynamic_ncols=True) as progress,
          ThreadPoolExecutor(cpus, thread_name_prefix="decode") as pool):

        def on_progress(done: int, newly_skipped: list[Skipped]) -> None:
            for item in newly_skipped:
                progress.write(f"warning: skipped {item.path}: {item.reason}", file=sys.stderr)
            progress.update(done - progress.n)

        outcomes = list(classify_files(files, classifier, pool, batch_size=batch_size,
                                       on_progress=on_progress))
    return ([o for o in outcomes if isinstance(o, ClassifiedFile)],
            [o for o in outcomes if isinstance(o, Skipped)])


def classify_files(
    files: list[Path],
    classifier: Classifier,
    decode_pool: Executor,
    *,
    batch_size: int,
    on_progress: Callable[[int, list[Skipped]], None] = lambda done, skipped: None,
) -> Iterator[ClassifiedFile | Skipped]:
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
            ClassifiedFile(path, next(predictions)) if isinstance(item, torch.Tensor)
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
    except ApiError as refused:
        return refused.message
    except OSError as error:
        return f"cannot be read ({error.strerror or error})"


# ---- writing the results --------------------------------------------------------------------

@contextmanager
def open_output(path: Path | None) -> Iterator[TextIO]:
    if path is None or str(path) == "-":
        yield sys.stdout
        return
    with path.open("w", newline="", encoding="utf-8") as stream:
        yield stream


def write_results(results: list[ClassifiedFile], labels: list[str], fmt: str,
                  stream: TextIO) -> None:
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


def _as_record(result: ClassifiedFile) -> dict:
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


# ---- CSV files of measurements --------------------------------------------------------------

def is_measurements_csv(path: Path) -> bool:
    return path.suffix.lower() == CSV_SUFFIX


def classify_csv_files(paths: list[Path], model_path: Path, fmt: str, stream: TextIO) -> int:
    """Answer every row of every file into `stream`; report to stderr; return the exit code."""
    try:
        model = load_measurements_model(model_path)
    except ModelIntegrityError as error:
        print(f"{PROGRAM}: cannot use the measurements model: {error}", file=sys.stderr)
        return 2
    records: list[dict] = []
    for path in paths:
        try:
            rows = read_csv_rows(path.read_text(encoding="utf-8-sig"), model, MAX_ROWS_PER_FILE)
        except RecordRejected as error:
            print(f"{PROGRAM}: cannot read {path}: {error.detail}", file=sys.stderr)
            return 2
        except (OSError, UnicodeDecodeError, csv.Error) as error:
            print(f"{PROGRAM}: cannot read {path}: {error}", file=sys.stderr)
            return 2
        for row, outcome in enumerate(answer_each(model, rows), start=1):
            records.append(_measurement_record(path, row, outcome))
    write_measurement_records(records, model, fmt, stream)
    classified = sum(1 for record in records if not record["error"])
    print(f"classified {classified} bird(s), {len(records) - classified} row(s) with errors",
          file=sys.stderr)
    for record in records:
        if record["error"]:
            print(f"  {record['path']} row {record['row']}: {record['error']}", file=sys.stderr)
    return 0 if classified else 1


def _measurement_record(path: Path, row: int, outcome: Answer | RecordRejected) -> dict:
    if isinstance(outcome, RecordRejected):
        return {"path": str(path), "row": row, "species": None, "confidence": None,
                "probabilities": None, "features_missing": [], "warnings": [],
                "error": outcome.detail}
    prediction = outcome.prediction
    return {"path": str(path), "row": row, "species": prediction.species,
            "confidence": round(prediction.confidence, 6),
            "probabilities": {label: round(p, 6) for label, p in
                              prediction.probabilities.items()},
            "features_missing": prediction.features_missing, "warnings": outcome.warnings,
            "error": None}


def write_measurement_records(records: list[dict], model: MeasurementsModel, fmt: str,
                              stream: TextIO) -> None:
    """CSV: a row per bird, a probability column per species. JSON: a list of objects."""
    if fmt == "json":
        json.dump(records, stream, indent=2)
        stream.write("\n")
        return
    writer = csv.writer(stream)
    writer.writerow(["path", "row", "species", "confidence",
                     *(f"probability_{label}" for label in model.labels),
                     "features_missing", "warnings", "error"])
    for record in records:
        probabilities = record["probabilities"] or {}
        confidence = record["confidence"]
        writer.writerow([
            record["path"], record["row"], record["species"] or "",
            "" if confidence is None else f"{confidence:.6f}",
            *(f"{probabilities[label]:.6f}" if probabilities else "" for label in model.labels),
            " ".join(record["features_missing"]), "; ".join(record["warnings"]),
            record["error"] or ""])


if __name__ == "__main__":
    sys.exit(main())
