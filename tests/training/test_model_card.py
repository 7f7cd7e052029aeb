"""The model card copies its figures from the reports it is given, never typed by hand."""

from __future__ import annotations

from pathlib import Path

from service.model.metadata import read_metadata
from training.model_card import render_card

TEMPLATE = Path(__file__).resolve().parents[2] / "training" / "model_card_template.md"


def report(accuracy: float) -> dict:
    return {
        "images": 8, "species_accuracy": accuracy, "no_penguin_rejected": 0.5,
        "penguin_wrongly_rejected": 0.0, "ece_before_temperature": 0.2, "ece": 0.1,
        "confusion": {"Adelie": {"Adelie": 2, "no_penguin": 0},
                      "no_penguin": {"Adelie": 1, "no_penguin": 1}},
        "by_condition": {
            "penguin size": {"under 25% of the frame": {"images": 2, "species_accuracy": 0.5,
                                                        "wrongly_rejected": 0.0}},
            "no-penguin photo shows": {"seal": {"images": 2, "rejected": 0.5}},
        },
    }


def test_card_holds_each_report_its_conditions_and_the_robustness_table(tiny_model_path):
    robustness = {"data": "/tmp/fresh", "changes": {
        "greyscale (infrared camera trap)": {"images": 8, "species_accuracy": 0.625,
                                             "no_penguin_rejected": 1.0,
                                             "penguin_wrongly_rejected": 0.125, "ece": 0.05}}}
    card = render_card(read_metadata(tiny_model_path), TEMPLATE.read_text(),
                       {"Synthetic": report(0.875), "Real": report(0.8)}, robustness)
    lines = card.splitlines()
    assert "**Synthetic**" in lines and "**Real**" in lines
    assert "| species accuracy (penguin photos answered with the right species) | 87.5% |" in lines
    assert "| species accuracy (penguin photos answered with the right species) | 80.0% |" in lines
    assert "| penguin size | under 25% of the frame | 2 | 50.0% | 0.0% |  |" in lines
    assert "| no-penguin photo shows | seal | 2 |  |  | 50.0% |" in lines
    assert "| greyscale (infrared camera trap) | 8 | 62.5% | 100.0% | 12.5% | 0.050 |" in lines
    assert read_metadata(tiny_model_path).sha256 in card


def test_card_names_the_onnx_export_and_its_checksum_only_when_there_is_one(tiny_model_path):
    metadata = read_metadata(tiny_model_path)
    without = render_card(metadata.model_copy(update={"onnx_sha256": None}),
                          TEMPLATE.read_text(), {}, None)
    with_onnx = render_card(metadata.model_copy(update={"onnx_sha256": "ab" * 32}),
                            TEMPLATE.read_text(), {}, None)
    assert "| ONNX export | none (`make export-onnx` writes one) |" in without.splitlines()
    assert "ab" * 32 in with_onnx and "ab" * 32 not in without
