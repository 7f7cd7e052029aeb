"""Sharing one listing between n tasks, and each shard's files in the output folder.

Shard i of n takes the i-th of n contiguous, near-equal slices of the sorted listing: every task
computes the same listing, so every photo lands in exactly one shard without a scheduler, and
the shards laid end to end are the unsharded run's order (merging is concatenation).

In the output folder, shard i of n is complete when `shard-0000i-of-0000n.csv` (or `.json`)
exists; it is written once, whole, at the end. Until then its progress lives in
`shard-0000i-of-0000n.progress/`, one checkpoint file per chunk of photos, each written whole:
a task killed midway (Cloud Run retries it) loses at most the chunk it was working on.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from service.batch import storage
from service.batch.results import Row

SHARD_FILE = re.compile(r"^shard-(\d{5})-of-(\d{5})\.(csv|json)$")
CHECKPOINT = re.compile(r"^checkpoint-(\d{6})\.jsonl$")


class ShardError(ValueError):
    """A shard that cannot be: the message says what a valid one looks like."""


@dataclass(frozen=True)
class Shard:
    """Shard `index` (from 0) of `count`."""

    index: int
    count: int

    def __post_init__(self) -> None:
        if self.count < 1:
            raise ShardError(f"the shard count must be at least 1, not {self.count}")
        if not 0 <= self.index < self.count:
            raise ShardError(f"shard index {self.index} is outside 0..{self.count - 1} "
                             f"(indices count from 0, so the last of {self.count} is "
                             f"{self.count - 1}/{self.count})")

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"

    def take(self, files: list[str]) -> list[str]:
        """This shard's contiguous slice; slices differ in length by at most one file."""
        total = len(files)
        return files[total * self.index // self.count: total * (self.index + 1) // self.count]

    def stem(self) -> str:
        return f"shard-{self.index:05d}-of-{self.count:05d}"

    def result_name(self, fmt: str) -> str:
        return f"{self.stem()}.{fmt}"

    def progress_name(self) -> str:
        return f"{self.stem()}.progress"


def parse_shard(text: str) -> Shard:
    """'2/7' -> Shard(2, 7); anything else a ShardError saying what was expected."""
    match = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", text)
    if not match:
        raise ShardError(f"{text!r} is not a shard: write INDEX/COUNT, e.g. 0/4 for the first "
                         "of four (indices count from 0)")
    return Shard(int(match[1]), int(match[2]))


def shard_from_task(index: int | None, count: int | None) -> Shard | None:
    """The shard Cloud Run Jobs assigns (CLOUD_RUN_TASK_INDEX of CLOUD_RUN_TASK_COUNT), if any."""
    if index is None and count is None:
        return None
    if index is None or count is None:
        raise ShardError("CLOUD_RUN_TASK_INDEX and CLOUD_RUN_TASK_COUNT must be set together")
    return Shard(index, count)


class ShardOutput:
    """Shard `shard`'s files in `folder`: its result, and its checkpoints until then."""

    def __init__(self, folder: str, shard: Shard, fmt: str) -> None:
        self.folder = folder
        self.shard = shard
        self.result = storage.join(folder, shard.result_name(fmt))
        self.progress = storage.join(folder, shard.progress_name())
        self._next_checkpoint: int | None = None

    def is_complete(self) -> bool:
        return storage.exists(self.result)

    def checkpoints(self) -> list[str]:
        return [name for name in storage.names_in(self.progress) if CHECKPOINT.match(name)]

    def rows_done(self) -> list[Row]:
        """Every row a previous attempt checkpointed."""
        rows = []
        for name in self.checkpoints():
            text = storage.read_text(storage.join(self.progress, name))
            rows.extend(Row.from_record(json.loads(line)) for line in text.splitlines() if line)
        return rows

    def save_checkpoint(self, rows: list[Row]) -> None:
        """One chunk's rows, numbered after every checkpoint already there (counted once: a
        bucket's listing may lag behind the writes just made)."""
        if self._next_checkpoint is None:
            numbers = [int(CHECKPOINT.match(name)[1]) for name in self.checkpoints()]
            self._next_checkpoint = max(numbers, default=-1) + 1
        name = f"checkpoint-{self._next_checkpoint:06d}.jsonl"
        self._next_checkpoint += 1
        lines = "".join(json.dumps(row.as_record()) + "\n" for row in rows)
        storage.write_atomically(storage.join(self.progress, name), lines)

    def complete(self, text: str) -> None:
        """Write the result (whole), then drop the checkpoints it supersedes."""
        storage.write_atomically(self.result, text)
        if self.checkpoints():
            storage.remove([self.progress])
