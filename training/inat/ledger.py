"""ATTRIBUTION.csv: who took each photo, under which licence, and its SHA-256.

It is both the licence record that ships with the data set (CC BY requires crediting the
photographer; CC BY-NC also forbids commercial use) and what makes a run resumable: a photo
is written to disk first and gets its row right after, so a row always names a complete file,
and a later run skips every observation that already has a row whose file still matches its
checksum.
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

FILE_NAME = "ATTRIBUTION.csv"
PHOTO_PREFIX = "inat-"  # every photo this tool writes is named inat-<observation id>.<ext>


@dataclass(frozen=True)
class Credit:
    """One downloaded photo: one row of ATTRIBUTION.csv."""

    file: str  # relative to the data set root: split/class/inat-<id>.<ext>
    species: str  # the observation's taxon, by scientific name
    observation_url: str
    photographer: str  # the observer's iNaturalist login, as iNaturalist credits them
    licence: str
    date: str
    place: str
    sha256: str
    photo_url: str
    attribution: str  # iNaturalist's own attribution line for the photo
    observer_id: int
    source: str  # which query of training.inat.catalogue found it

    @property
    def split(self) -> str:
        return Path(self.file).parts[0]

    @property
    def label(self) -> str:
        return Path(self.file).parts[1]


FIELDS = tuple(field.name for field in dataclasses.fields(Credit))


def sha256_of_file(path: Path) -> str:
    with path.open("rb") as file:
        return hashlib.file_digest(file, "sha256").hexdigest()


class Ledger:
    """The rows of ATTRIBUTION.csv, by observation URL, appended to as photos arrive."""

    def __init__(self, root: Path, credits: Iterable[Credit] = ()) -> None:
        self.root = root
        self.path = root / FILE_NAME
        self.credits = {credit.observation_url: credit for credit in credits}

    @classmethod
    def read(cls, root: Path) -> Ledger:
        path = root / FILE_NAME
        if not path.exists():
            return cls(root)
        with path.open(newline="", encoding="utf-8") as file:
            rows = list(csv.DictReader(file))
        return cls(root, (Credit(**{**row, "observer_id": int(row["observer_id"])})
                          for row in rows))

    def __contains__(self, observation_url: str) -> bool:
        return observation_url in self.credits

    def __len__(self) -> int:
        return len(self.credits)

    def count(self, **where) -> int:
        """How many rows have these field values, e.g. count(source='seals')."""
        return sum(all(getattr(credit, key) == value for key, value in where.items())
                   for credit in self.credits.values())

    def append(self, credit: Credit) -> None:
        new_file = not self.path.exists()
        with self.path.open("a", newline="", encoding="utf-8") as file:
            writer = csv.DictWriter(file, fieldnames=FIELDS)
            if new_file:
                writer.writeheader()
            writer.writerow(dataclasses.asdict(credit))
        self.credits[credit.observation_url] = credit

    def rewrite(self, credits: Iterable[Credit]) -> None:
        """Replace every row (after dropping the ones whose files are gone or changed)."""
        self.credits = {credit.observation_url: credit for credit in credits}
        partial = self.path.with_suffix(".csv.part")
        with partial.open("w", newline="", encoding="utf-8") as file:
            writer = csv.DictWriter(file, fieldnames=FIELDS)
            writer.writeheader()
            writer.writerows(dataclasses.asdict(credit) for credit in self.credits.values())
        partial.replace(self.path)


@dataclass(frozen=True)
class Audit:
    """What an earlier run left behind, checked against its rows and the licence allow-list."""

    intact: list[Credit]
    changed: list[Credit]  # file missing or its checksum differs: download again
    not_allowed: list[Credit]  # licence no longer on the allow-list: delete
    orphans: list[Path]  # photos with no row (a run stopped between the file and its row)


def audit(ledger: Ledger, licences: frozenset[str]) -> Audit:
    """Check every row's file by SHA-256, and find photos that have no row."""
    intact, changed, not_allowed = [], [], []
    for credit in ledger.credits.values():
        path = ledger.root / credit.file
        if credit.licence not in licences:
            not_allowed.append(credit)
        elif path.is_file() and sha256_of_file(path) == credit.sha256:
            intact.append(credit)
        else:
            changed.append(credit)
    recorded = {ledger.root / credit.file for credit in ledger.credits.values()}
    photos = ledger.root.glob(f"*/*/{PHOTO_PREFIX}*")
    orphans = sorted(path for path in photos if path not in recorded)
    return Audit(intact, changed, not_allowed, orphans)


def apply_audit(ledger: Ledger, result: Audit) -> None:
    """Keep only intact rows and delete every file without a valid row, so the folder never
    holds a photo whose licence and author are not recorded."""
    doomed = [ledger.root / c.file for c in (*result.changed, *result.not_allowed)]
    for path in [*doomed, *result.orphans]:
        path.unlink(missing_ok=True)
    if len(result.intact) != len(ledger):
        ledger.rewrite(result.intact)
