"""Training and evaluation see a photo exactly as serving feeds it to the model."""

import numpy as np
import torch
from PIL import Image

from service.model.preprocessing import bytes_to_pixels
from training.data import LabelledFiles, cache_images


def test_cached_photos_are_the_pixels_serving_feeds_the_model(tmp_path, encode):
    gradient = Image.merge("RGB", [Image.linear_gradient("L").resize((640, 480)),
                                   Image.radial_gradient("L").resize((640, 480)),
                                   Image.new("L", (640, 480), 90)])
    exif = Image.Exif()
    exif[0x0112] = 6  # rotated: serving turns it upright before resizing
    photos = {"upright.jpg": encode(gradient), "rotated.jpg": encode(gradient, exif=exif),
              "small.png": encode(gradient.resize((20, 30)), "PNG")}
    paths = []
    for name, data in photos.items():
        (tmp_path / name).write_bytes(data)
        paths.append(tmp_path / name)
    (tmp_path / "broken.jpg").write_bytes(photos["upright.jpg"][:200])
    files = LabelledFiles(paths + [tmp_path / "broken.jpg"], [0, 1, 0, 1], ["a", "b"])

    cached = cache_images(files, size=48, workers=1)

    assert cached.paths == paths  # the unreadable photo is skipped, the rest kept in order
    served = torch.from_numpy(np.stack([bytes_to_pixels(data, size=48)
                                        for data in photos.values()])).permute(0, 3, 1, 2)
    assert torch.equal(cached.pixels, served)
    assert not torch.equal(cached.pixels[0], cached.pixels[1])  # the orientation was applied
