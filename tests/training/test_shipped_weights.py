"""The committed model: its checksum, and its accuracy on photos rendered from an unseen seed.

The full acceptance figures (200 photos per class) are in weights/MODEL_CARD.md; this test
renders a smaller fresh set so that `make test` stays quick, with bounds that leave room for
its sampling noise but would fail for a broken, stale or mismatched model.
"""

from pathlib import Path

import pytest

from service.classifier import load_classifier
from service.metadata import read_metadata, sha256_of
from training.data import find_splits
from training.evaluate import evaluate_folder
from training.render.dataset import main as render_main

SHIPPED = Path(__file__).resolve().parents[2] / "weights" / "penguin_classifier.pt"
UNSEEN_SEED = 31337  # training used seed 1, the model card's test set seed 90210


def test_shipped_model_checksum_matches_its_metadata():
    metadata = read_metadata(SHIPPED)
    assert sha256_of(SHIPPED) == metadata.sha256
    assert metadata.labels == ["Adelie", "Chinstrap", "Gentoo", "no_penguin"]


@pytest.fixture(scope="module")
def fresh_metrics(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("fresh")
    render_main([
        "--out", str(root), "--seed", str(UNSEEN_SEED), "--per-class", "60",
        "--split", "0,0,1", "--workers", "2",
    ])
    test_files = find_splits(root, seed=0)["test"]
    metrics, _ = evaluate_folder(load_classifier(SHIPPED), test_files, workers=2)
    return metrics


def test_shipped_model_names_the_species_of_fresh_rendered_penguins(fresh_metrics):
    assert fresh_metrics["images"] == 240
    assert fresh_metrics["species_accuracy"] >= SPECIES_ACCURACY_FLOOR


def test_shipped_model_rejects_fresh_photos_without_penguins(fresh_metrics):
    assert fresh_metrics["no_penguin_rejected"] >= REJECTION_FLOOR
    assert fresh_metrics["penguin_wrongly_rejected"] <= FALSE_REJECT_CEILING


def test_shipped_model_is_calibrated_on_fresh_photos(fresh_metrics):
    assert fresh_metrics["ece"] <= ECE_CEILING
