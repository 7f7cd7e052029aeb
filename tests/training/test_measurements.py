"""The measurements model: Palmer Penguins loading, the missing-value rule, export, and parity
between what training fitted and what the served file computes."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from service.model.measurements import canonical_sha256, load_measurements_model, predict
from service.model.metadata import ModelIntegrityError
from service.settings import DEFAULT_MEASUREMENTS_MODEL_PATH
from training.measurements import Recipe, export, logistic_regression, train
from training.measurements_card import render_card
from training.measurements_data import (
    FEATURE_ORDER,
    LABELS,
    REQUIRED,
    apply_missing_value_rule,
    design_matrix,
    feature_subsets,
    input_columns,
    load_palmer_penguins,
    rows_with,
    targets,
)

# A quick recipe: one C, three folds. The shipped file's own recipe takes minutes.
QUICK = Recipe(c_grid=(1.0,), folds=3, seed=3)


@pytest.fixture(scope="module")
def penguins():
    return load_palmer_penguins()


@pytest.fixture(scope="module")
def quick_model(tmp_path_factory):
    path = tmp_path_factory.mktemp("measurements") / "quick.json"
    return export(train(QUICK, compare_mlp=False), path), path


def test_the_package_ships_the_344_birds(penguins):
    assert len(penguins) == 344
    assert penguins["species"].value_counts().to_dict() == {
        "Adelie": 152, "Gentoo": 124, "Chinstrap": 68}
    assert set(penguins["island"]) == {"Biscoe", "Dream", "Torgersen"}


def test_rows_without_measurements_are_dropped_and_unknown_sex_is_kept(penguins):
    kept, report = apply_missing_value_rule(penguins)
    assert report == {"rows_in_package": 344, "rows_dropped_without_measurements": 2,
                      "rows_used": 342, "rows_with_unknown_sex": 9}
    assert kept[["bill_length_mm", "bill_depth_mm", "flipper_length_mm",
                 "body_mass_g"]].notna().all().all()
    # Birds of unknown sex teach every submodel without sex, and only those.
    assert len(rows_with(kept, REQUIRED)) == 342
    assert len(rows_with(kept, (*REQUIRED, "sex"))) == 333


def test_every_optional_subset_has_a_submodel_and_the_required_features_are_in_each():
    subsets = feature_subsets()
    assert len(subsets) == 16 and len(set(subsets)) == 16
    assert all(set(REQUIRED) <= set(subset) for subset in subsets)
    assert subsets[0] == REQUIRED and subsets[-1] == FEATURE_ORDER


def test_categories_are_one_hot(penguins):
    kept, _ = apply_missing_value_rule(penguins)
    features = (*REQUIRED, "island")
    x = design_matrix(kept, features)
    assert input_columns(features)[-3:] == ["island=Biscoe", "island=Dream", "island=Torgersen"]
    assert (x[:, -3:].sum(axis=1) == 1).all()
    assert x[0, -1] == 1.0  # the first bird was measured on Torgersen


def test_export_writes_a_verified_file_that_says_what_it_accepts(quick_model):
    model, path = quick_model
    document = json.loads(path.read_text())
    assert document["sha256"] == canonical_sha256(document) == model.sha256
    assert model.labels == LABELS
    assert len(model.submodels) == 16 and len(model.checks) == 16
    flipper = next(f for f in model.numbers if f.name == "flipper_length_mm")
    assert (flipper.unit, flipper.minimum, flipper.maximum, flipper.required) == (
        "mm", 172.0, 231.0, True)
    assert model.training["missing_values"]["rows_dropped_without_measurements"] == 2


def test_served_probabilities_equal_scikit_learns_for_every_bird(quick_model, penguins):
    """Parity: the plain-Python evaluation of the file against the fitted scikit-learn model."""
    model, _ = quick_model
    kept, _ = apply_missing_value_rule(penguins)
    for features in [REQUIRED, FEATURE_ORDER]:
        rows = rows_with(kept, features)
        submodel = model.submodel_for(features)
        fitted = logistic_regression(submodel.metrics["c"]).fit(
            design_matrix(rows, features), targets(rows))
        expected = fitted.predict_proba(design_matrix(rows, features))
        served = np.array([list(predict(model, _record(row, features)).probabilities.values())
                           for _, row in rows.iterrows()])
        np.testing.assert_allclose(served, expected, atol=1e-9)


def _record(row, features) -> dict:
    return {name: row[name] if isinstance(row[name], str) else float(row[name])
            for name in features}


def test_a_tampered_file_is_refused(quick_model, tmp_path):
    _, path = quick_model
    document = json.loads(path.read_text())
    document["submodels"][0]["intercept"][0] += 1.0
    edited = tmp_path / "edited.json"
    edited.write_text(json.dumps(document))
    with pytest.raises(ModelIntegrityError, match="SHA-256"):
        load_measurements_model(edited)
    # Even with a matching SHA-256 the check records catch a changed coefficient.
    document["sha256"] = canonical_sha256(document)
    edited.write_text(json.dumps(document))
    with pytest.raises(ModelIntegrityError, match="check record"):
        load_measurements_model(edited)


@pytest.mark.parametrize(("content", "reason"), [
    (None, "missing"), ("{not json", "unreadable"), ("[]", "not a JSON object"),
    ('{"format": "other"}', "unreadable"),
])
def test_a_broken_file_is_refused_with_its_reason(tmp_path, content, reason):
    path = tmp_path / "model.json"
    if content is not None:
        path.write_text(content)
    with pytest.raises(ModelIntegrityError, match=reason):
        load_measurements_model(path)


@pytest.fixture(scope="module")
def shipped():
    return load_measurements_model(DEFAULT_MEASUREMENTS_MODEL_PATH)


def test_the_shipped_file_meets_the_issues_accuracy(shipped):
    assert shipped.metrics["all_features"]["accuracy"] >= 0.98
    assert shipped.metrics["bill_and_flipper_only"]["accuracy"] >= 0.97
    assert shipped.metrics["all_features"]["ece"] < 0.05


def test_the_shipped_file_is_what_its_recipe_fits(shipped, penguins):
    """Refit every submodel with the C recorded in the shipped file: same coefficients. (The
    whole `make train-measurements`, choice of C included, takes minutes: not run here.)"""
    kept, _ = apply_missing_value_rule(penguins)
    for submodel in shipped.submodels:
        features = tuple(submodel.features)
        rows = rows_with(kept, features)
        fitted = logistic_regression(submodel.metrics["c"]).fit(
            design_matrix(rows, features), targets(rows))
        np.testing.assert_allclose(fitted[-1].coef_, submodel.coef, rtol=1e-4, atol=1e-6)
        np.testing.assert_allclose(fitted[0].mean_, submodel.mean, rtol=1e-12)


def test_the_card_reports_the_files_figures(shipped):
    card = render_card(shipped)
    full = shipped.metrics["all_features"]
    assert f"| {full['rows']} | {full['accuracy']:.4f} | {full['ece']:.4f} |" in card
    assert "bill and flipper only" in card and shipped.sha256 in card
    assert Path(DEFAULT_MEASUREMENTS_MODEL_PATH.parent / "MEASUREMENTS_MODEL_CARD.md"
                ).read_text() == card
