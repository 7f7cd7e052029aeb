"""The synthetic photo renderer and the dataset writer.

Rendering is the only source of training data, so these tests pin what training relies on:
byte-identical output for a (seed, class, index), the folder layout and manifest, photo sizes,
the field marks actually being there, and clear errors for bad command lines.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from training.render import CLASSES, render_image
from training.render.dataset import SAMPLE_MAX_SIDE, main, split_counts


def jpeg_bytes(label: str, seed: int, index: int) -> bytes:
    image, info = render_image(label, seed, index)
    buf = io.BytesIO()
    image.save(buf, "JPEG", quality=info["jpeg_quality"])
    return buf.getvalue()


def test_same_seed_and_index_give_identical_jpeg() -> None:
    assert jpeg_bytes("Gentoo", 3, 5) == jpeg_bytes("Gentoo", 3, 5)


def test_other_seed_index_or_class_gives_another_image() -> None:
    reference = jpeg_bytes("Chinstrap", 3, 5)
    assert jpeg_bytes("Chinstrap", 4, 5) != reference
    assert jpeg_bytes("Chinstrap", 3, 6) != reference
    assert jpeg_bytes("Adelie", 3, 5) != reference


def test_unknown_label_is_refused() -> None:
    with pytest.raises(ValueError, match="Adelie"):
        render_image("Emperor", 1, 0)


def test_sizes_info_and_aspect_ratios() -> None:
    shapes = set()
    for label in CLASSES:
        for index in range(4):
            image, info = render_image(label, 21, index)
            assert image.mode == "RGB"
            assert 320 <= image.width <= 1600 and 320 <= image.height <= 1600
            assert (info["width"], info["height"]) == image.size
            assert 55 <= info["jpeg_quality"] <= 95
            assert 0.0 <= info["penguin_area_fraction"] <= 1.0
            if label != "no_penguin":
                assert info["species"] == label and info["n_penguins"] >= 1
                assert info["penguin_boxes"], "a penguin photo must show a penguin"
            shapes.add(round(image.width / image.height, 2))
    assert len(shapes) > 2, "aspect ratios should vary"
    assert shapes != {1.0}


def orange_fraction(image: Image.Image, box: list[int]) -> float:
    """Share of strongly orange-red pixels (a Gentoo bill) inside a box."""
    rgb = np.asarray(image.crop(tuple(box)), np.int32)
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    orange = (r > 110) & (r - g > 50) & (r - b > 80) & (g > 20)
    return float(orange.mean())


def head_orange(label: str, seed: int, count: int) -> list[float]:
    """Orange share of every clearly visible head in `count` photos of a class."""
    shares = []
    for index in range(count):
        image, info = render_image(label, seed, index)
        for box in info["head_boxes"]:
            if min(box[2] - box[0], box[3] - box[1]) >= 24:
                shares.append(orange_fraction(image, box))
    return shares


def test_gentoo_heads_have_an_orange_bill_and_adelie_heads_do_not() -> None:
    gentoo = head_orange("Gentoo", 5, 10)
    adelie = head_orange("Adelie", 5, 10)
    assert len(gentoo) >= 4 and len(adelie) >= 4
    assert np.median(gentoo) > 0.004
    assert np.median(adelie) < 0.001
    assert np.mean([s > 0.002 for s in gentoo]) >= 0.7


def test_dataset_layout_manifest_and_counts(tmp_path: Path) -> None:
    out = tmp_path / "set"
    assert main(["--out", str(out), "--seed", "2", "--per-class", "4", "--workers", "1"]) == 0
    expected = dict(zip(("train", "val", "test"), split_counts(4, (0.8, 0.1, 0.1)), strict=True))
    lines = (out / "manifest.jsonl").read_text().splitlines()
    records = [json.loads(line) for line in lines]
    assert len(records) == 4 * len(CLASSES)
    for record in records:
        path = out / record["path"]
        assert path.is_file()
        split, label, name = record["path"].split("/")
        assert (split, label) == (record["split"], record["label"])
        assert name == f"{record['index']:06d}.jpg"
        with Image.open(path) as im:
            assert im.format == "JPEG" and im.size == (record["width"], record["height"])
    summary = json.loads((out / "manifest_summary.json").read_text())
    assert summary["seed"] == 2 and summary["generator"] and "--per-class 4" in summary["command"]
    for split, count in expected.items():
        files = {c: len(list((out / split / c).glob("*.jpg"))) for c in CLASSES}
        assert files == {c: count for c in CLASSES}
        if count:
            assert summary["counts"][split] == files


def test_workers_do_not_change_the_output(tmp_path: Path) -> None:
    args = ["--seed", "4", "--per-class", "2", "--split", "0.5,0.5,0"]
    main(["--out", str(tmp_path / "one"), *args, "--workers", "1"])
    main(["--out", str(tmp_path / "two"), *args, "--workers", "2"])
    one = sorted(p.relative_to(tmp_path / "one") for p in (tmp_path / "one").rglob("*.jpg"))
    two = sorted(p.relative_to(tmp_path / "two") for p in (tmp_path / "two").rglob("*.jpg"))
    assert one == two and len(one) == 2 * len(CLASSES)
    for rel in one:
        assert (tmp_path / "one" / rel).read_bytes() == (tmp_path / "two" / rel).read_bytes()


def test_samples_mode_writes_small_flat_class_folders(tmp_path: Path) -> None:
    out = tmp_path / "samples"
    assert main(["--out", str(out), "--seed", "7", "--samples", "1", "--workers", "1"]) == 0
    for label in CLASSES:
        (photo,) = (out / label).glob("*.jpg")
        with Image.open(photo) as im:
            assert max(im.size) <= SAMPLE_MAX_SIDE
    assert not (out / "train").exists()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--per-class", "-3"], "--per-class must be a positive"),
        (["--per-class", "0"], "--per-class must be a positive"),
        (["--samples", "-1"], "--samples must be a positive"),
        (["--per-class", "5", "--split", "0.5,0.2,0.1"], "must sum to 1"),
        (["--per-class", "5", "--split", "0.5,0.5"], "exactly three"),
        (["--per-class", "5", "--split", "a,b,c"], "three numbers"),
        (["--per-class", "5", "--split", "1.2,-0.1,-0.1"], "must not be negative"),
        (["--per-class", "5", "--workers", "0"], "--workers must be at least 1"),
        (["--per-class", "5", "--samples", "2"], "not allowed with"),
        ([], "one of the arguments --per-class --samples is required"),
    ],
)
def test_bad_arguments_exit_with_a_clear_message(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["--out", str(tmp_path / "x"), *argv])
    assert exc.value.code == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


def test_split_counts_add_up() -> None:
    for total in (1, 4, 10, 999):
        counts = split_counts(total, (0.8, 0.1, 0.1))
        assert sum(counts) == total and all(c >= 0 for c in counts)
    assert split_counts(1000, (0.8, 0.1, 0.1)) == [800, 100, 100]
