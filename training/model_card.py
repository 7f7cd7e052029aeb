"""Write weights/MODEL_CARD.md from the model's metadata and evaluation reports.

The card's figures are copied from measured reports, never typed by hand, so re-running this
after `make train` and the evaluations (`make evaluate ... REPORT=weights/reports/...json`,
`make robustness`) keeps the card true to the shipped file. `make model-card` runs:

    python -m training.model_card --model weights/penguin_classifier.pt \
        --report "Synthetic test set=weights/reports/fresh_synthetic.json" \
        --report "Real photos=weights/reports/real_photos.json" \
        --robustness weights/reports/robustness.json --notes weights/reports/NOTES.md
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from service.model.metadata import ModelMetadata, read_metadata


def _percent(value: float | None) -> str:
    return "n/a" if value is None else f"{value * 100:.1f}%"


def metrics_table(title: str, metrics: dict) -> str:
    rows = [
        ("images", str(metrics["images"])),
        (
            "species accuracy (penguin photos answered with the right species)",
            _percent(metrics["species_accuracy"]),
        ),
        ("no-penguin photos rejected", _percent(metrics["no_penguin_rejected"])),
        ("penguin photos wrongly rejected", _percent(metrics["penguin_wrongly_rejected"])),
        (
            "expected calibration error, before / after temperature",
            f"{metrics['ece_before_temperature']:.3f} / {metrics['ece']:.3f}",
        ),
    ]
    lines = [f"**{title}**", "", "| measure | value |", "|---|---|"]
    lines += [f"| {name} | {value} |" for name, value in rows]
    return "\n".join(lines)


def confusion_table(metrics: dict) -> str:
    confusion = metrics["confusion"]
    columns = list(next(iter(confusion.values())))
    lines = [
        "| true folder \\ answer | " + " | ".join(columns) + " |",
        "|---" * (len(columns) + 1) + "|",
    ]
    lines += [
        f"| {folder} | " + " | ".join(str(row[c]) for c in columns) + " |"
        for folder, row in confusion.items()
    ]
    return "\n".join(lines)


def condition_table(metrics: dict) -> str:
    """Where the model fails, by the rendered photo's conditions (training/conditions.py)."""
    by_condition = metrics.get("by_condition")
    if not by_condition:
        return ""
    lines = [
        "| condition | value | photos | species right | wrongly rejected | rejected |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for condition, values in by_condition.items():
        for value, outcome in values.items():
            rates = [
                _percent(outcome[key]) if key in outcome else ""
                for key in ("species_accuracy", "wrongly_rejected", "rejected")
            ]
            lines.append(
                f"| {condition} | {value} | {outcome['images']} | " + " | ".join(rates) + " |"
            )
    return "By scene condition (from the renderer's manifest):\n\n" + "\n".join(lines)


def robustness_table(robustness: dict) -> str:
    """Accuracy under conditions the training photos never had (training/robustness.py)."""
    lines = [
        f"**Under conditions never seen in training** (`training/robustness.py` on "
        f"`{robustness['data']}`: every photo changed, then evaluated as the service sees it)",
        "",
        "| change | photos | species accuracy | no-penguin rejected | penguins wrongly rejected "
        "| ECE |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for change, m in robustness["changes"].items():
        lines.append(
            f"| {change} | {m['images']} | {_percent(m['species_accuracy'])} | "
            f"{_percent(m['no_penguin_rejected'])} | {_percent(m['penguin_wrongly_rejected'])} "
            f"| {m['ece']:.3f} |"
        )
    return "\n".join(lines)


# The training choices that make a recipe, in the order a reader needs them.
RECIPE_KEYS = (
    "architecture", "pretrained", "input_size", "train_from", "backbone_lr_scale", "lr",
    "batch_norm_stats", "probe_epochs", "augment", "label_smoothing", "epochs", "seed",
)


def _bullets(items: dict) -> str:
    return "\n".join(f"- {key.replace('_', ' ')}: {value}" for key, value in items.items())


def render_card(
    metadata: ModelMetadata,
    template: str,
    reports: dict[str, dict],
    robustness: dict | None = None,
    notes: str = "",
) -> str:
    sections = []
    for title, metrics in reports.items():
        parts = [metrics_table(title, metrics), confusion_table(metrics), condition_table(metrics)]
        sections.append("\n\n".join(part for part in parts if part))
    if robustness:
        sections.append(robustness_table(robustness))
    if notes:  # written by a person: how this version was chosen, what it was compared with
        sections.append(notes.strip())
    training = metadata.training
    return template.format(
        version=metadata.version,
        architecture=metadata.architecture,
        sha256=metadata.sha256,
        onnx=(f"`weights/penguin_classifier.onnx` (`make export-onnx`, served with "
              f"MODEL_BACKEND=onnx), SHA-256 `{metadata.onnx_sha256}`"
              if metadata.onnx_sha256 else "none (`make export-onnx` writes one)"),
        input_size=metadata.preprocessing.input_size,
        temperature=f"{metadata.temperature:.3f}",
        threshold=metadata.rejection.min_species_probability,
        command=training.get("command", "n/a"),
        wall_time=training.get("wall_time_min", "n/a"),
        images=", ".join(f"{k} {v}" for k, v in training.get("images", {}).items()),
        provenance=_bullets(training.get("provenance", {"weights": "not recorded"})),
        recipe=_bullets({key: training[key] for key in RECIPE_KEYS if key in training}),
        metrics="\n\n".join(sections),
    )


def get_args_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", type=Path, default=Path("weights/penguin_classifier.pt"))
    parser.add_argument(
        "--template", type=Path, default=Path(__file__).with_name("model_card_template.md")
    )
    parser.add_argument(
        "--report",
        action="append",
        default=[],
        metavar="TITLE=PATH",
        help="an evaluation report JSON to include, with its title (repeatable)",
    )
    parser.add_argument(
        "--robustness", type=Path, help="a training.robustness report JSON to include"
    )
    parser.add_argument(
        "--notes", type=Path, help="a markdown file of notes on this version to include"
    )
    parser.add_argument("--output", type=Path, default=Path("weights/MODEL_CARD.md"))
    return parser


def main(argv: list[str] | None = None) -> int:
    args = get_args_parser().parse_args(argv)
    reports = {}
    for item in args.report:
        title, _, path = item.partition("=")
        reports[title] = json.loads(Path(path).read_text())
    robustness = json.loads(args.robustness.read_text()) if args.robustness else None
    notes = args.notes.read_text() if args.notes else ""
    card = render_card(
        read_metadata(args.model), args.template.read_text(), reports, robustness, notes
    )
    args.output.write_text(card)
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
