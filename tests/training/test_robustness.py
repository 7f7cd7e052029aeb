"""The robustness check changes every photo the way it says, and keeps labels and order."""

from __future__ import annotations

from PIL import Image, ImageStat

from training.data import LabelledFiles
from training.robustness import CHANGES, changed_copy


def photo_files(folder) -> LabelledFiles:
    paths = []
    for number, (label, colour) in enumerate([("Adelie", (20, 20, 20)), ("Gentoo", (250, 120, 0))]):
        path = folder / label / f"{number}.png"
        path.parent.mkdir(parents=True)
        image = Image.new("RGB", (90, 60), (200, 220, 240))
        image.paste(colour, (30, 20, 60, 40))
        image.save(path)
        paths.append(path)
    return LabelledFiles(paths, [0, 1], ["Adelie", "Gentoo"])


def test_every_change_keeps_classes_order_and_size(tmp_path):
    files = photo_files(tmp_path / "in")
    for number, change in enumerate(CHANGES.values()):
        copy = changed_copy(files, change, tmp_path / str(number))
        assert copy.targets == files.targets and copy.classes == files.classes
        assert [p.parent.name for p in copy.paths] == ["Adelie", "Gentoo"]
        for path in copy.paths:
            with Image.open(path) as image:
                assert image.format == "JPEG" and image.size == (90, 60)


def test_greyscale_drops_colour_and_underexposure_darkens(tmp_path):
    files = photo_files(tmp_path / "in")
    grey = changed_copy(files, CHANGES["greyscale (infrared camera trap)"], tmp_path / "g")
    dark = changed_copy(files, CHANGES["3 stops underexposed"], tmp_path / "d")
    with Image.open(grey.paths[1]) as image:
        red, green, blue = ImageStat.Stat(image).mean
        assert abs(red - blue) < 2 and abs(red - green) < 2
    with Image.open(dark.paths[0]) as image, Image.open(files.paths[0]) as original:
        assert ImageStat.Stat(image).mean[0] < ImageStat.Stat(original).mean[0] / 6


def test_far_away_penguin_is_a_ninth_of_its_area(tmp_path):
    files = photo_files(tmp_path / "in")
    far = changed_copy(
        files, CHANGES["penguin far away (photo shrunk to 1/3 in a wide frame)"], tmp_path / "f"
    )
    with Image.open(far.paths[1]) as image:
        # the orange block, 600 of 5400 pixels, is now about a ninth of that (67), edges blurred
        orange = sum(
            1 for r, g, b in image.get_flattened_data() if r > 200 and 80 < g < 160 and b < 60
        )
    assert 40 <= orange <= 100
