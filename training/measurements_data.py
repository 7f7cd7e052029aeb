"""The Palmer Penguins measurements: loading, the missing-value rule, and the feature columns.

The data (344 birds, Palmer Station LTER, CC0) ships inside the `palmerpenguins` package, so
training never downloads anything. The features the served model accepts are declared once
here, with their units and descriptions; export writes them into the model file, and serving
reads them from there.

Missing values, on purpose:
- A row without bill length, bill depth, flipper length or body mass is dropped: in this data
  that is 2 birds with no measurement at all, which have nothing to learn from.
- A row with an unknown sex (9 more birds) is kept. Each submodel trains on the rows that have
  its features, so those birds teach every submodel that does not use sex, and only the
  submodels that use sex go without them. Nothing is imputed: a guessed sex would be
  information the bird never gave.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
import pandas as pd

LABELS = ["Adelie", "Chinstrap", "Gentoo"]
TARGET = "species"


@dataclass(frozen=True)
class NumberSpec:
    name: str
    unit: str
    description: str
    required: bool
    integer: bool = False


@dataclass(frozen=True)
class CategorySpec:
    name: str
    description: str
    categories: tuple[str, ...]


NUMBERS = (
    NumberSpec("bill_length_mm", "mm", "Culmen (bill) length.", required=True),
    NumberSpec("bill_depth_mm", "mm", "Culmen (bill) depth.", required=True),
    NumberSpec("flipper_length_mm", "mm", "Flipper length.", required=True),
    NumberSpec("body_mass_g", "g", "Body mass.", required=False),
    NumberSpec("year", "year", "Year of the observation.", required=False, integer=True),
)
CATEGORIES = (
    CategorySpec("sex", "Sex of the bird.", ("female", "male")),
    CategorySpec("island", "Island in the Palmer Archipelago.", ("Biscoe", "Dream", "Torgersen")),
)
REQUIRED = tuple(spec.name for spec in NUMBERS if spec.required)
OPTIONAL = tuple(spec.name for spec in NUMBERS if not spec.required) + tuple(
    spec.name for spec in CATEGORIES)
# A row missing one of these is dropped (see the module docstring); sex may be missing.
ALWAYS_MEASURED = ("bill_length_mm", "bill_depth_mm", "flipper_length_mm", "body_mass_g")
CATEGORY_BY_NAME = {spec.name: spec for spec in CATEGORIES}
FEATURE_ORDER = tuple(spec.name for spec in NUMBERS) + tuple(spec.name for spec in CATEGORIES)


def load_palmer_penguins() -> pd.DataFrame:
    """The 344 rows as the package ships them (imported here: a training-only dependency)."""
    from palmerpenguins import load_penguins

    return load_penguins()


def apply_missing_value_rule(frame: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, int]]:
    """Drop rows without the four measurements; keep unknown sex as missing.

    Returns the kept rows (fresh index) and what was done, for the model's metadata.
    """
    measured = frame[list(ALWAYS_MEASURED)].notna().all(axis=1)
    kept = frame[measured].reset_index(drop=True)
    return kept, {
        "rows_in_package": len(frame),
        "rows_dropped_without_measurements": int((~measured).sum()),
        "rows_used": len(kept),
        "rows_with_unknown_sex": int(kept["sex"].isna().sum()),
    }


def feature_subsets() -> list[tuple[str, ...]]:
    """Every set of features a request may give: the required ones plus any optional ones."""
    subsets = []
    for size in range(len(OPTIONAL) + 1):
        for extra in itertools.combinations(OPTIONAL, size):
            chosen = set(REQUIRED) | set(extra)
            subsets.append(tuple(name for name in FEATURE_ORDER if name in chosen))
    return subsets


def input_columns(features: tuple[str, ...]) -> list[str]:
    """Model inputs: numbers by name, each category one-hot as `name=category`."""
    columns: list[str] = []
    for name in features:
        if name in CATEGORY_BY_NAME:
            columns.extend(f"{name}={value}" for value in CATEGORY_BY_NAME[name].categories)
        else:
            columns.append(name)
    return columns


def rows_with(frame: pd.DataFrame, features: tuple[str, ...]) -> pd.DataFrame:
    """The rows that have every one of `features` (a submodel's training rows)."""
    return frame[frame[list(features)].notna().all(axis=1)].reset_index(drop=True)


def design_matrix(frame: pd.DataFrame, features: tuple[str, ...]) -> np.ndarray:
    """The float inputs for `input_columns(features)`, one row per bird."""
    columns = []
    for column in input_columns(features):
        name, is_category, category = column.partition("=")
        if is_category:
            columns.append((frame[name] == category).to_numpy(dtype=float))
        else:
            columns.append(frame[name].to_numpy(dtype=float))
    return np.column_stack(columns)


def targets(frame: pd.DataFrame) -> np.ndarray:
    """Label indices in LABELS order."""
    return frame[TARGET].map({label: index for index, label in enumerate(LABELS)}).to_numpy()
