"""CSV files of measurements in, one row per bird out: the batch command's other input.

Each row is judged and answered by the same code as POST /predict/measurements
(service/model/measurements_records.py), so a spreadsheet agrees with the API. Like a photo that
cannot be read, a row that cannot be answered still gets a row, with its reason in `error`, and
spoils no other; a file that cannot be read at all (missing, not UTF-8, no required column) stops
the run, since every row of it would fail the same way. Files are read through `storage`, so a
CSV may sit in a bucket as well as on disk.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass

from service.batch import storage
from service.model.measurements import MeasurementsModel
from service.model.measurements_records import Answer, RecordRejected, answer_each, read_csv_rows

CSV_SUFFIX = ".csv"
# One CSV file is read whole; far beyond any field season, small enough to refuse a wrong file.
MAX_ROWS_PER_FILE = 1_000_000


class UnreadableFile(Exception):
    """A CSV file that cannot be used as a whole; the message names it and says why."""


@dataclass(frozen=True)
class BirdRow:
    """One CSV row's answer, or the reason it has none (then `answer` is None)."""

    path: str
    row: int
    answer: Answer | None
    error: str | None = None

    def as_record(self) -> dict:
        """The JSON object of this row."""
        if self.answer is None:
            return {"path": self.path, "row": self.row, "species": None, "confidence": None,
                    "probabilities": None, "features_missing": [], "warnings": [],
                    "error": self.error}
        prediction = self.answer.prediction
        return {"path": self.path, "row": self.row, "species": prediction.species,
                "confidence": round(prediction.confidence, 6),
                "probabilities": {label: round(p, 6)
                                  for label, p in prediction.probabilities.items()},
                "features_missing": prediction.features_missing,
                "warnings": self.answer.warnings, "error": None}


def is_measurements_file(location: str) -> bool:
    return location.lower().endswith(CSV_SUFFIX)


def classify_files(locations: list[str], model: MeasurementsModel) -> list[BirdRow]:
    """Every row of every file, in order; raises UnreadableFile for a file unusable as a whole."""
    rows: list[BirdRow] = []
    for location in locations:
        for number, outcome in enumerate(answer_each(model, read_records(location, model)),
                                         start=1):
            if isinstance(outcome, RecordRejected):
                rows.append(BirdRow(location, number, None, outcome.detail))
            else:
                rows.append(BirdRow(location, number, outcome))
    return rows


def read_records(location: str, model: MeasurementsModel) -> list[dict[str, object]]:
    try:
        # utf-8-sig: spreadsheet programs often start an exported CSV with a byte-order mark.
        text = storage.read_bytes(location).decode("utf-8-sig")
        return read_csv_rows(text, model, MAX_ROWS_PER_FILE)
    except RecordRejected as error:
        raise UnreadableFile(f"cannot read {location}: {error.detail}") from error
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        raise UnreadableFile(f"cannot read {location}: {error}") from error


def render(rows: list[BirdRow], labels: list[str], fmt: str) -> str:
    """The whole results file. CSV: a probability column per species. JSON: a list of objects."""
    if fmt == "json":
        return json.dumps([row.as_record() for row in rows], indent=2) + "\n"
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer)
    writer.writerow(["path", "row", "species", "confidence",
                     *(f"probability_{label}" for label in labels),
                     "features_missing", "warnings", "error"])
    writer.writerows(_csv_row(row, labels) for row in rows)
    return buffer.getvalue()


def _csv_row(row: BirdRow, labels: list[str]) -> list[object]:
    if row.answer is None:
        return [row.path, row.row, "", "", *("" for _ in labels), "", "", row.error or ""]
    prediction = row.answer.prediction
    return [row.path, row.row, prediction.species, f"{prediction.confidence:.6f}",
            *(f"{prediction.probabilities[label]:.6f}" for label in labels),
            " ".join(prediction.features_missing), "; ".join(row.answer.warnings), ""]
