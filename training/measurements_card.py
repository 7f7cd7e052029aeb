"""The measurements model's card, written from the figures recorded in its file.

    python -m training.measurements_card --model weights/penguin_measurements.json \
        --output weights/MEASUREMENTS_MODEL_CARD.md

Every number comes from the model file (nested cross-validation at training time), so the card
cannot disagree with what is served.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from service.model.measurements import MeasurementsModel, load_measurements_model


def get_args_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description="Write the measurements model card.")
    parser.add_argument("--model", type=Path, default=Path("weights/penguin_measurements.json"),
                        help="measurements model file (default: the shipped one)")
    parser.add_argument("--output", type=Path,
                        default=Path("weights/MEASUREMENTS_MODEL_CARD.md"), help="card to write")
    return parser


def render_card(model: MeasurementsModel) -> str:
    metrics, training = model.metrics, model.training
    full, small = metrics["all_features"], metrics["bill_and_flipper_only"]
    missing = training["missing_values"]
    lines = [
        f"# Measurements model card: penguin_measurements {model.version}",
        "",
        "Written by `make train-measurements` from the figures recorded in "
        "`weights/penguin_measurements.json`; do not edit by hand.",
        "",
        "Names the species (Adelie, Chinstrap, Gentoo) of a penguin from its measurements, "
        "served at `POST /predict/measurements`.",
        "",
        "## Model",
        "",
        f"- {model.architecture}; scikit-learn {training['scikit_learn']} for training, "
        "plain Python for serving (a dot product and a softmax).",
        f"- Required: {', '.join(model.required)}. Optional: {', '.join(model.optional)}. "
        f"A request is answered by the submodel trained on exactly the features it gives "
        f"({len(model.submodels)} submodels); the answer lists the features it went without.",
        f"- Strength C chosen per submodel from {training['c_grid']} by the lowest stratified "
        f"{training['folds']}-fold out-of-fold log loss (a proper score: calibration counts, "
        "not only accuracy). No temperature scaling (see training/measurements.py).",
        f"- SHA-256 `{model.sha256}` (of the file's canonical JSON; verified at every load, "
        "with the check records replayed).",
        "",
        "## Data",
        "",
        f"- {training['data']}.",
        f"- Missing values: {training['missing_value_rule']}. "
        f"{missing['rows_in_package']} rows in the package, "
        f"{missing['rows_dropped_without_measurements']} dropped (no measurement at all), "
        f"{missing['rows_used']} used, of which {missing['rows_with_unknown_sex']} have an "
        "unknown sex.",
        "",
        "## Accuracy and calibration",
        "",
        f"Nested stratified {training['folds']}-fold cross-validation (seed {training['seed']}): "
        "each outer fold chose C on its training part only, so no figure saw the birds it is "
        "measured on. ECE: 15 equal-width confidence bins.",
        "",
        "| features given | birds | accuracy | ECE | log loss |",
        "|---|---|---|---|---|",
        _row("all (bill, flipper, body mass, year, sex, island)", full),
        _row("bill and flipper only", small),
        "",
        "### Confusion, all features (rows: true species)",
        "",
        *_confusion(full["confusion"], model.labels),
        "",
        "### Confusion, bill and flipper only",
        "",
        *_confusion(small["confusion"], model.labels),
        "",
        "### Every submodel",
        "",
        "| optional features given | birds | C | accuracy | ECE |",
        "|---|---|---|---|---|",
        *(_submodel_row(model, submodel) for submodel in model.submodels),
        "",
        "## Which features matter",
        "",
        "Mean absolute standardised coefficient of the all-features submodel (one-hot columns "
        "summed), the largest scaled to 1:",
        "",
        "| feature | weight |",
        "|---|---|",
        *(f"| {name} | {weight} |" for name, weight in metrics["feature_importance"].items()),
        "",
        "The island nearly gives the species in this data (Gentoo were measured only on "
        "Biscoe, Chinstrap only on Dream, Torgersen had only Adelie): a bird from another "
        "colony should be sent without its island. The submodels above show what each "
        "optional feature adds.",
        "",
    ]
    if "mlp_comparison" in metrics:
        mlp = metrics["mlp_comparison"]
        lines += [
            "## Not chosen",
            "",
            f"- {mlp['architecture']}, all features, plain (not nested) cross-validation on the "
            f"same folds: accuracy {mlp['accuracy']}, ECE {mlp['ece']}, log loss "
            f"{mlp['log_loss']} (the logistic regression, nested: {full['accuracy']}, "
            f"{full['ece']}, {full['log_loss']}). The logistic regression was kept: its "
            "probabilities are chosen for log loss, it serves in a few lines of plain Python, "
            "and its coefficients say which features matter.",
            "",
        ]
    lines += [
        "## Limits",
        "",
        "- 342 birds from three islands in 2007-2009: a measurement outside the range seen "
        "(listed in `/model`) is answered with a warning, and the answer is an extrapolation.",
        "- Adult birds of these three species only; there is no 'not a penguin' answer here.",
        "",
    ]
    return "\n".join(lines)


def _row(name: str, figures: dict) -> str:
    return (f"| {name} | {figures['rows']} | {figures['accuracy']:.4f} | {figures['ece']:.4f} | "
            f"{figures['log_loss']:.4f} |")


def _confusion(confusion: dict, labels: list[str]) -> list[str]:
    return [
        f"| true \\ answered | {' | '.join(labels)} |",
        f"|---|{'---|' * len(labels)}",
        *(f"| {true} | {' | '.join(str(confusion[true][guess]) for guess in labels)} |"
          for true in labels),
    ]


def _submodel_row(model: MeasurementsModel, submodel) -> str:
    optional = [name for name in submodel.features if name in model.optional]
    figures = submodel.metrics["nested_cv"]
    return (f"| {', '.join(optional) or '(none)'} | {figures['rows']} | {submodel.metrics['c']} "
            f"| {figures['accuracy']:.4f} | {figures['ece']:.4f} |")


def write_card(model: MeasurementsModel, path: Path) -> None:
    path.write_text(render_card(model), encoding="utf-8")


def main(argv: list[str] | None = None) -> None:
    args = get_args_parser().parse_args(argv)
    write_card(load_measurements_model(args.model), args.output)
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
