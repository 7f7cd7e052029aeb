"""Train the measurements model on Palmer Penguins and export it for serving (issue 15).

    python -m training.measurements --output weights/penguin_measurements.json \
        --card weights/MEASUREMENTS_MODEL_CARD.md

Reads top to bottom: data (training/measurements_data.py), then for every subset of the
optional features a standardised multinomial logistic regression whose strength C is chosen by
stratified cross-validation on log loss (a proper score, so calibration counts, not only
accuracy), then export. The figures reported are nested cross-validation: each outer fold
chooses C on its own training part only, so the reported accuracy and ECE never saw the birds
they are measured on.

The file records no timestamp, so the same data, code and library versions rewrite it byte for
byte: `make train-measurements` reproduces the shipped file.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_val_predict
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler

from service.model.measurements import (
    FORMAT_NAME,
    MeasurementsModel,
    canonical_sha256,
    load_measurements_model,
)
from training.calibration import expected_calibration_error
from training.measurements_data import (
    CATEGORIES,
    LABELS,
    NUMBERS,
    apply_missing_value_rule,
    design_matrix,
    feature_subsets,
    input_columns,
    load_palmer_penguins,
    rows_with,
    targets,
)

VERSION = "1.0.0"
ARCHITECTURE = "standardised multinomial logistic regression, one per optional-feature subset"
C_GRID = (0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0, 30.0, 100.0)
FOLDS = 5
SEED = 15


def get_args_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--output", type=Path, default=Path("weights/penguin_measurements.json"),
                        help="model file to write (default: weights/penguin_measurements.json)")
    parser.add_argument("--card", type=Path, default=None,
                        help="also write the model card here, e.g. "
                             "weights/MEASUREMENTS_MODEL_CARD.md")
    parser.add_argument("--seed", type=int, default=SEED, help=f"fold shuffling (default {SEED})")
    parser.add_argument("--folds", type=int, default=FOLDS,
                        help=f"cross-validation folds, outer and inner (default {FOLDS})")
    parser.add_argument("--c-grid", type=float, nargs="+", default=list(C_GRID),
                        help="inverse regularisation strengths tried (default: 0.01 to 100)")
    parser.add_argument("--skip-mlp", action="store_true",
                        help="skip the comparison with a small MLP (reported in the card)")
    return parser


@dataclass(frozen=True)
class Recipe:
    """How every submodel is chosen; recorded in the model file."""

    c_grid: tuple[float, ...] = C_GRID
    folds: int = FOLDS
    seed: int = SEED


def logistic_regression(c: float) -> Pipeline:
    return make_pipeline(StandardScaler(), LogisticRegression(C=c, max_iter=10_000))


def log_loss(probabilities: np.ndarray, y: np.ndarray) -> float:
    return float(-np.log(np.clip(probabilities[np.arange(len(y)), y], 1e-15, 1.0)).mean())


def folds_for(recipe: Recipe, seed: int) -> StratifiedKFold:
    return StratifiedKFold(recipe.folds, shuffle=True, random_state=seed)


def select_c(x: np.ndarray, y: np.ndarray, recipe: Recipe, seed: int) -> float:
    """The C whose out-of-fold probabilities have the lowest log loss.

    No temperature on top: log loss already rewards calibrated probabilities, and a temperature
    fitted to the same out-of-fold logits came out far below 1 on the nearly separable subsets
    (the island alone almost gives the species), sharpening answers to 1.0 for birds unlike any
    seen. Nested cross-validation measures the calibration this leaves (ECE in the card).
    """
    losses = {}
    for c in recipe.c_grid:
        probabilities = cross_val_predict(logistic_regression(c), x, y,
                                          cv=folds_for(recipe, seed), method="predict_proba")
        losses[c] = log_loss(probabilities, y)
    return min(recipe.c_grid, key=losses.__getitem__)


def nested_cv_probabilities(x: np.ndarray, y: np.ndarray, recipe: Recipe) -> np.ndarray:
    """Out-of-fold probabilities where each fold chose its C without seeing its test part."""
    probabilities = np.zeros((len(y), len(LABELS)))
    for train, test in folds_for(recipe, recipe.seed).split(x, y):
        c = select_c(x[train], y[train], recipe, recipe.seed + 1)
        model = logistic_regression(c).fit(x[train], y[train])
        probabilities[test] = model.predict_proba(x[test])
    return probabilities


def evaluate(probabilities: np.ndarray, y: np.ndarray) -> dict:
    """Accuracy, ECE, log loss and the confusion matrix (rows: true species)."""
    predicted = probabilities.argmax(axis=1)
    confusion = np.zeros((len(LABELS), len(LABELS)), dtype=int)
    np.add.at(confusion, (y, predicted), 1)
    ece = expected_calibration_error(torch.tensor(probabilities), torch.tensor(y))
    return {
        "accuracy": round(float((predicted == y).mean()), 4),
        "ece": round(ece, 4),
        "log_loss": round(log_loss(probabilities, y), 4),
        "rows": len(y),
        "confusion": {true: {guess: int(confusion[i, j]) for j, guess in enumerate(LABELS)}
                      for i, true in enumerate(LABELS)},
    }


def train_submodel(frame: pd.DataFrame, features: tuple[str, ...], recipe: Recipe, *,
                   check_species: str) -> dict:
    """Choose, fit and measure the submodel for one feature subset; returns its file entry,
    with a real bird of `check_species` as its check record."""
    rows = rows_with(frame, features)
    x, y = design_matrix(rows, features), targets(rows)
    measured = evaluate(nested_cv_probabilities(x, y, recipe), y)
    c = select_c(x, y, recipe, recipe.seed)
    pipeline = logistic_regression(c).fit(x, y)
    scaler, regression = pipeline[0], pipeline[-1]
    check_row = rows[rows["species"] == check_species].iloc[[0]]
    return {
        "features": list(features),
        "inputs": input_columns(features),
        "mean": [float(v) for v in scaler.mean_],
        "scale": [float(v) for v in scaler.scale_],
        "coef": [[float(v) for v in row] for row in regression.coef_],
        "intercept": [float(v) for v in regression.intercept_],
        "metrics": {"c": c, "nested_cv": measured},
        "_check": {
            "record": {name: _plain(check_row[name].iloc[0]) for name in features},
            "probabilities": [float(v) for v in
                              pipeline.predict_proba(design_matrix(check_row, features))[0]],
        },
    }


def _plain(value: object) -> float | str:
    """A pandas cell as JSON: numbers as float, categories as str."""
    return value if isinstance(value, str) else float(value)  # type: ignore[arg-type]


def feature_importance(submodel: dict) -> dict[str, float]:
    """Mean absolute standardised coefficient per feature (one-hot columns summed), scaled so
    the largest is 1: how strongly the full model leans on each feature."""
    weights = np.abs(np.array(submodel["coef"])).mean(axis=0)
    totals: dict[str, float] = {}
    for column, weight in zip(submodel["inputs"], weights, strict=True):
        name = column.partition("=")[0]
        totals[name] = totals.get(name, 0.0) + float(weight)
    top = max(totals.values())
    return {name: round(value / top, 3)
            for name, value in sorted(totals.items(), key=lambda item: -item[1])}


def mlp_comparison(frame: pd.DataFrame, features: tuple[str, ...], recipe: Recipe) -> dict:
    """A small MLP's plain cross-validated accuracy and ECE on the same folds, for the card."""
    rows = rows_with(frame, features)
    x, y = design_matrix(rows, features), targets(rows)
    mlp = make_pipeline(StandardScaler(), MLPClassifier(
        hidden_layer_sizes=(16,), alpha=1e-3, max_iter=3000, random_state=recipe.seed))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        probabilities = cross_val_predict(mlp, x, y, cv=folds_for(recipe, recipe.seed),
                                          method="predict_proba")
    measured = evaluate(probabilities, y)
    return {"architecture": "MLP, one hidden layer of 16 (scikit-learn MLPClassifier)",
            "features": list(features), "accuracy": measured["accuracy"],
            "ece": measured["ece"], "log_loss": measured["log_loss"]}


def feature_specs(frame: pd.DataFrame) -> tuple[list[dict], list[dict]]:
    """The features as the file describes them: numbers with the range seen, categories."""
    numbers = [{
        "name": spec.name, "unit": spec.unit, "description": spec.description,
        "required": spec.required, "integer": spec.integer,
        "minimum": float(frame[spec.name].min()), "maximum": float(frame[spec.name].max()),
    } for spec in NUMBERS]
    categories = [{"name": spec.name, "description": spec.description, "required": False,
                   "categories": list(spec.categories)} for spec in CATEGORIES]
    return numbers, categories


def train(recipe: Recipe, *, compare_mlp: bool = True) -> dict:
    """The whole model file as a dict (before its SHA-256 is added)."""
    frame, missing = apply_missing_value_rule(load_palmer_penguins())
    submodels = [train_submodel(frame, features, recipe, check_species=LABELS[i % len(LABELS)])
                 for i, features in enumerate(feature_subsets())]
    checks = [submodel.pop("_check") for submodel in submodels]
    full, bill_and_flipper = submodels[-1], submodels[0]
    numbers, categories = feature_specs(frame)
    metrics = {
        "all_features": full["metrics"]["nested_cv"],
        "bill_and_flipper_only": bill_and_flipper["metrics"]["nested_cv"],
        "feature_importance": feature_importance(full),
    }
    if compare_mlp:
        metrics["mlp_comparison"] = mlp_comparison(frame, tuple(full["features"]), recipe)
    return {
        "format": FORMAT_NAME,
        "version": VERSION,
        "architecture": ARCHITECTURE,
        "labels": LABELS,
        "numbers": numbers,
        "categories": categories,
        "submodels": submodels,
        "checks": checks,
        "training": {
            "data": "Palmer Penguins (Gorman et al. 2014, Palmer Station LTER, CC0), from the "
                    f"palmerpenguins {_version('palmerpenguins')} package",
            "missing_values": missing,
            "missing_value_rule": "rows without the four measurements are dropped; unknown sex "
                                  "is kept as missing and each submodel trains on the rows that "
                                  "have its features; nothing is imputed",
            "selection": "C by lowest stratified out-of-fold log loss; no temperature",
            "evaluation": "nested stratified cross-validation",
            "c_grid": list(recipe.c_grid),
            "folds": recipe.folds,
            "seed": recipe.seed,
            "scikit_learn": _version("scikit-learn"),
        },
        "metrics": metrics,
    }


def _version(package: str) -> str:
    return importlib.metadata.version(package)


def export(document: dict, path: Path) -> MeasurementsModel:
    """Write the file with its SHA-256, then load it as the service does (verifying the checks).

    The check records' probabilities come from scikit-learn's own decision function, the served
    ones from service/model/measurements.py: loading proves the two agree.
    """
    document = {**document, "sha256": canonical_sha256(document)}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=1, allow_nan=False) + "\n", encoding="utf-8")
    return load_measurements_model(path)


def main(argv: list[str] | None = None) -> None:
    args = get_args_parser().parse_args(argv)
    recipe = Recipe(c_grid=tuple(args.c_grid), folds=args.folds, seed=args.seed)
    model = export(train(recipe, compare_mlp=not args.skip_mlp), args.output)
    print(f"wrote {args.output} (sha256 {model.sha256})")
    if args.card is not None:
        from training.measurements_card import write_card

        write_card(model, args.card)
        print(f"wrote {args.card}")
    for name in ("all_features", "bill_and_flipper_only"):
        figures = model.metrics[name]
        print(f"{name}: nested CV accuracy {figures['accuracy']}, ECE {figures['ece']}")


if __name__ == "__main__":
    main()
