"""One short epoch on a tiny rendered set must export a model the service can load."""

import json

from service.model.classifier import load_classifier
from service.model.metadata import read_metadata, sha256_of
from training.train import main as train_main


def test_training_smoke_run_exports_a_verified_loadable_model(tiny_dataset, tmp_path):
    output = tmp_path / "smoke.pt"
    status = train_main(
        [
            "--data",
            str(tiny_dataset),
            "--output",
            str(output),
            "--epochs",
            "1",
            "--probe-epochs",
            "1",
            "--input-size",
            "64",
            "--batch-size",
            "8",
            "--workers",
            "2",
            "--version",
            "smoke-1",
        ]
    )
    assert status == 0
    metadata = read_metadata(output)
    assert metadata.sha256 == sha256_of(output)
    assert metadata.version == "smoke-1"
    assert metadata.labels == ["Adelie", "Chinstrap", "Gentoo", "no_penguin"]
    assert metadata.preprocessing.input_size == 64
    assert metadata.temperature > 0
    assert metadata.metrics["images"] == sum(1 for _ in (tiny_dataset / "test").rglob("*.jpg"))
    assert metadata.training["images"]["train"] > 0
    assert metadata.training["probe_epochs"] == 1
    report = json.loads(output.with_name("smoke_test_report.json").read_text())
    assert set(report["confusion"]) == set(metadata.labels)
    assert len(report["photos"]) == metadata.metrics["images"]
    assert "photos" not in metadata.metrics  # the metadata keeps the figures, not every answer
    assert output.with_name("smoke_test_report.png").stat().st_size > 0

    classifier = load_classifier(output)
    assert classifier.metadata == metadata


def test_dataset_without_a_no_penguin_folder_is_refused_with_the_reason(tiny_dataset, tmp_path):
    import shutil

    import pytest

    copy = tmp_path / "only_species"
    shutil.copytree(tiny_dataset, copy)
    for split in ("train", "val", "test"):
        shutil.rmtree(copy / split / "no_penguin")
    with pytest.raises(SystemExit, match="needs a 'no_penguin' folder"):
        train_main(["--data", str(copy), "--output", str(tmp_path / "m.pt"), "--epochs", "1"])


def test_an_empty_validation_split_is_refused_with_the_reason(tiny_dataset, tmp_path):
    import shutil

    import pytest

    copy = tmp_path / "no_val"
    shutil.copytree(tiny_dataset, copy)
    for photo in (copy / "val").rglob("*.jpg"):
        photo.unlink()
    with pytest.raises(SystemExit, match="the val split of .* has no photos"):
        train_main(["--data", str(copy), "--output", str(tmp_path / "m.pt"), "--epochs", "1"])
