"""Joining the shard files of one run into one results file, and checking nothing is lost.

The shards are concatenated in index order, which is the unsharded run's order. A missing shard,
a photo with two rows, shard files of runs with different shard counts, or (with the listing to
compare against) a photo with no row at all are all reported, and nothing is written: an
incomplete merge that looked complete is the one outcome a researcher cannot detect.
"""

from __future__ import annotations

import csv
import io
import json
from collections import Counter
from dataclasses import dataclass, field

from service.batch import storage
from service.batch.results import Row
from service.batch.shards import SHARD_FILE, ShardError
from service.model.classifier import Prediction


@dataclass
class Merged:
    """The rows found, the labels of their probability columns, and what is wrong with them."""

    rows: list[Row]
    labels: list[str]
    shard_count: int
    missing_shards: list[int] = field(default_factory=list)
    duplicated: dict[str, int] = field(default_factory=dict)
    missing_files: list[str] = field(default_factory=list)
    unexpected_files: list[str] = field(default_factory=list)

    @property
    def problems(self) -> list[str]:
        found = []
        if self.missing_shards:
            found.append(f"{len(self.missing_shards)} of {self.shard_count} shard(s) missing: "
                         + ", ".join(f"{i}/{self.shard_count}" for i in self.missing_shards)
                         + " (re-run them with --shard)")
        found += [f"{path} has {count} rows" for path, count in self.duplicated.items()]
        found += [f"{path} has no row" for path in self.missing_files]
        found += [f"{path} has a row but is not in the listing" for path in self.unexpected_files]
        return found


def merge_shards(folder: str, expected: list[str] | None = None) -> Merged:
    """Read every shard file in `folder`; compare with the listing `expected` when given."""
    shards = {}
    for name in storage.names_in(folder):
        match = SHARD_FILE.match(name)
        if match:
            shards.setdefault(int(match[2]), {}).setdefault(int(match[1]), []).append(name)
    if not shards:
        raise ShardError(f"no shard files (shard-IIIII-of-NNNNN.csv or .json) in {folder}")
    if len(shards) > 1:
        raise ShardError(f"{folder} holds the shards of runs with different shard counts "
                         f"({', '.join(map(str, sorted(shards)))}): move the stale ones away")
    (count, by_index), = shards.items()
    rows: list[Row] = []
    labels: list[str] = []
    for index in sorted(by_index):
        names = by_index[index]
        if len(names) > 1:
            raise ShardError(f"shard {index}/{count} is there twice ({', '.join(names)}): "
                             "keep one format")
        shard_rows, shard_labels = read_results(storage.join(folder, names[0]))
        rows += shard_rows
        labels = labels or shard_labels
    merged = Merged(rows, labels, count,
                    missing_shards=[i for i in range(count) if i not in by_index])
    counts = Counter(row.path for row in rows)
    merged.duplicated = {path: n for path, n in counts.items() if n > 1}
    if expected is not None:
        listed = set(expected)
        merged.missing_files = [path for path in expected if path not in counts]
        merged.unexpected_files = [path for path in counts if path not in listed]
    return merged


def read_results(location: str) -> tuple[list[Row], list[str]]:
    """The rows of a results file the batch command wrote, and its labels."""
    text = storage.read_text(location)
    if location.endswith(".json"):
        rows = [Row.from_record(record) for record in json.loads(text)]
        labels = next((list(row.prediction.probabilities) for row in rows if row.prediction),
                      [])
        return rows, labels
    reader = csv.DictReader(io.StringIO(text, newline=""))
    labels = [column.removeprefix("probability_") for column in reader.fieldnames or []
              if column.startswith("probability_")]
    return [_csv_to_row(record, labels) for record in reader], labels


def _csv_to_row(record: dict[str, str], labels: list[str]) -> Row:
    if record["error"]:
        return Row(record["path"], None, record["error"])
    return Row(record["path"], Prediction(
        species=record["species"], confidence=float(record["confidence"]),
        probabilities={label: float(record[f"probability_{label}"]) for label in labels},
        rejected=record["rejected"] == "true"))
