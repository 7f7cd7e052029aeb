"""Accuracy by scene condition joins the renderer's manifest with the model's answers."""

from __future__ import annotations

import json

from training.conditions import accuracy_by_condition, read_manifest


def penguin_record(path: str, *, area: float, n_penguins: int = 1) -> dict:
    return {
        "path": path,
        "content": "penguin",
        "species": "Adelie",
        "penguin_area_fraction": area,
        "n_penguins": n_penguins,
        "cropped": False,
        "occluded": False,
        "pose": "left",
        "light": "sun",
        "blur": {"defocus": 0.0, "motion": 0, "sharpen": 0.0},
    }


def empty_record(path: str, content: str, species: str | None = None) -> dict:
    return {"path": path, "content": content, "species": species}


def test_penguin_photos_are_scored_per_size_and_no_penguin_photos_per_content():
    records = [
        penguin_record("a.jpg", area=0.1),
        penguin_record("b.jpg", area=0.1),
        penguin_record("c.jpg", area=0.7, n_penguins=3),
        empty_record("d.jpg", "seal"),
        empty_record("e.jpg", "other_penguin", "king"),
    ]
    truth = ["Adelie", "Adelie", "Adelie", "no_penguin", "no_penguin"]
    answers = ["Adelie", "no_penguin", "Gentoo", "no_penguin", "Chinstrap"]

    report = accuracy_by_condition(answers, truth, records, "no_penguin")

    assert report["penguin size"] == {
        "under 25% of the frame": {"images": 2, "species_accuracy": 0.5, "wrongly_rejected": 0.5},
        "over 50%": {"images": 1, "species_accuracy": 0.0, "wrongly_rejected": 0.0},
    }
    assert report["penguins in frame"]["several"]["images"] == 1
    assert report["no-penguin photo shows"] == {
        "other_penguin (king)": {"images": 1, "rejected": 0.0},
        "seal": {"images": 1, "rejected": 1.0},
    }


def test_photos_without_a_record_are_left_out():
    report = accuracy_by_condition(["Adelie"], ["Adelie"], [None], "no_penguin")
    assert report == {}


def test_manifest_is_keyed_by_resolved_path_and_absent_for_plain_folders(tmp_path):
    assert read_manifest(tmp_path) == {}
    record = empty_record("test/no_penguin/000001.jpg", "empty")
    (tmp_path / "manifest.jsonl").write_text(json.dumps(record) + "\n")
    manifest = read_manifest(tmp_path)
    assert manifest == {(tmp_path / "test/no_penguin/000001.jpg").resolve(): record}
