"""`penguin-classify birds.csv`: CSV files of measurements, answered offline row by row.

The same model file, the same checks and the same answers as POST /predict/measurements, so a
researcher's spreadsheet agrees with the API. A bad row is written with its error and does not
stop the others; the exit code is 0 when at least one row was classified, 1 when none was, 2
when the model or a file is unusable.
"""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path
from typing import TextIO

from service.measurements_model import MeasurementsModel, load_measurements_model
from service.measurements_records import RecordRejected, read_csv_rows
from service.measurements_state import Answer, answer_each
from service.metadata import ModelIntegrityError

CSV_SUFFIX = ".csv"
# One file is read whole; far beyond any field season, small enough to refuse a wrong file.
MAX_ROWS_PER_FILE = 1_000_000


def is_measurements_csv(path: Path) -> bool:
    return path.suffix.lower() == CSV_SUFFIX


def classify_csv_files(paths: list[Path], model_path: Path, fmt: str, stream: TextIO,
                       program: str) -> int:
    """Answer every row of every file into `stream`; report to stderr; return the exit code."""
    try:
        model = load_measurements_model(model_path)
    except ModelIntegrityError as error:
        print(f"{program}: cannot use the measurements model: {error}", file=sys.stderr)
        return 2
    records: list[dict] = []
    for path in paths:
        try:
            rows = read_csv_rows(path.read_text(encoding="utf-8-sig"), model, MAX_ROWS_PER_FILE)
        except (OSError, UnicodeDecodeError, RecordRejected, csv.Error) as error:
            print(f"{program}: cannot read {path}: {error}", file=sys.stderr)
            return 2
        for row, outcome in enumerate(answer_each(model, rows), start=1):
            records.append(_record(path, row, outcome, model))
    write_records(records, model, fmt, stream)
    classified = sum(1 for record in records if not record["error"])
    print(f"classified {classified} bird(s), {len(records) - classified} row(s) with errors",
          file=sys.stderr)
    for record in records:
        if record["error"]:
            print(f"  {record['path']} row {record['row']}: {record['error']}", file=sys.stderr)
    return 0 if classified else 1


def _record(path: Path, row: int, outcome: Answer | RecordRejected,
            model: MeasurementsModel) -> dict:
    if isinstance(outcome, RecordRejected):
        return {"path": str(path), "row": row, "species": None, "confidence": None,
                "probabilities": None, "features_missing": [], "warnings": [],
                "error": outcome.message}
    prediction = outcome.prediction
    return {"path": str(path), "row": row, "species": prediction.species,
            "confidence": round(prediction.confidence, 6),
            "probabilities": {label: round(p, 6) for label, p in
                              prediction.probabilities.items()},
            "features_missing": prediction.features_missing, "warnings": outcome.warnings,
            "error": None}


def write_records(records: list[dict], model: MeasurementsModel, fmt: str,
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
