"""One row per photo, and the two file formats people read them in (CSV and JSON).

A photo that could not be classified is a row too, with the reason in `error`: a season of
camera-trap photos is never silently smaller in the results than in the bucket.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass

from service.model.classifier import Prediction

FORMATS = ("csv", "json")


@dataclass(frozen=True)
class Row:
    """A photo's answer, or the reason it has none (then `prediction` is None)."""

    path: str
    prediction: Prediction | None
    error: str | None = None

    def as_record(self) -> dict:
        """The JSON object of this row (also the line format of shard checkpoints)."""
        if self.prediction is None:
            return {"path": self.path, "species": None, "confidence": None, "rejected": None,
                    "probabilities": None, "error": self.error}
        prediction = self.prediction
        return {
            "path": self.path,
            "species": prediction.species,
            "confidence": round(prediction.confidence, 6),
            "rejected": prediction.rejected,
            "probabilities": {label: round(p, 6)
                              for label, p in prediction.probabilities.items()},
            "error": None,
        }

    @classmethod
    def from_record(cls, record: dict) -> Row:
        if record.get("error") is not None:
            return cls(record["path"], None, record["error"])
        prediction = Prediction(species=record["species"], confidence=record["confidence"],
                                probabilities=record["probabilities"],
                                rejected=record["rejected"])
        return cls(record["path"], prediction)


def csv_header(labels: list[str]) -> list[str]:
    return ["path", "species", "confidence", "rejected",
            *(f"probability_{label}" for label in labels), "error"]


def csv_row(row: Row, labels: list[str]) -> list[str]:
    prediction = row.prediction
    if prediction is None:
        return [row.path, "", "", "", *("" for _ in labels), row.error or ""]
    return [row.path, prediction.species, f"{prediction.confidence:.6f}",
            str(prediction.rejected).lower(),
            *(f"{prediction.probabilities[label]:.6f}" for label in labels), ""]


def render(rows: list[Row], labels: list[str], fmt: str) -> str:
    """The whole results file. CSV: a probability column per label. JSON: a list of objects."""
    if fmt == "json":
        return json.dumps([row.as_record() for row in rows], indent=2) + "\n"
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer)
    writer.writerow(csv_header(labels))
    writer.writerows(csv_row(row, labels) for row in rows)
    return buffer.getvalue()


def format_of(location: str) -> str | None:
    """"csv" or "json" from a file name's suffix, None for anything else."""
    suffix = location.rsplit(".", 1)[-1].lower() if "." in location else ""
    return suffix if suffix in FORMATS else None
