"""Decoding uploads: every accepted format and colour mode, EXIF orientation, and refusals."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from service.model.errors import ApiError
from service.model.preprocessing import bytes_to_pixels, decode_image, normalize_array
from service.model.torch_network import as_batch, normalize

RED = (230, 20, 20)


def centre_pixel(image: Image.Image) -> tuple[int, ...]:
    return image.getpixel((image.width // 2, image.height // 2))


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP", "GIF", "BMP"])
def test_every_accepted_format_decodes_to_rgb_with_its_colour(photo, fmt):
    image = decode_image(photo("red", size=(40, 30), fmt=fmt), draft_size=32)
    assert image.mode == "RGB" and image.size == (40, 30)
    assert all(abs(a - b) <= 12 for a, b in zip(centre_pixel(image), RED, strict=True))


def test_animated_gif_uses_the_first_frame(encode):
    red, blue = Image.new("RGB", (20, 20), RED), Image.new("RGB", (20, 20), (20, 20, 230))
    data = encode(red, "GIF", save_all=True, append_images=[blue], duration=100)
    assert centre_pixel(decode_image(data, draft_size=32))[0] > 200


def test_exif_orientation_is_applied(encode):
    # Stored 40 wide x 20 high; orientation 6 means "rotate 90 degrees clockwise to view".
    exif = Image.Exif()
    exif[0x0112] = 6
    data = encode(Image.new("RGB", (40, 20), RED), "JPEG", exif=exif)
    assert decode_image(data, draft_size=64).size == (20, 40)


def test_an_upright_photo_is_not_copied_while_decoding(encode, monkeypatch):
    # A copy of the largest accepted image is 160 MB: decoding must not make one to orient it.
    data = encode(Image.new("RGB", (40, 20), RED), "PNG")
    copies = []
    original_copy = Image.Image.copy

    def counted_copy(image: Image.Image) -> Image.Image:
        copies.append(image)
        return original_copy(image)

    monkeypatch.setattr(Image.Image, "copy", counted_copy)
    assert decode_image(data, draft_size=64).size == (40, 20)
    assert copies == []


@pytest.mark.parametrize(("mode", "fmt"), [
    ("RGBA", "PNG"), ("LA", "PNG"), ("P", "PNG"), ("L", "JPEG"), ("1", "PNG"), ("CMYK", "JPEG"),
    ("P", "GIF"), ("RGBA", "WEBP"), ("L", "BMP"), ("1", "BMP"),
])
def test_any_colour_mode_becomes_rgb(encode, mode, fmt):
    image = Image.new("RGB", (16, 16), (200, 200, 200)).convert(mode)
    decoded = decode_image(encode(image, fmt), draft_size=8)
    assert decoded.mode == "RGB"
    assert all(150 <= channel <= 255 for channel in centre_pixel(decoded))


def test_transparent_pixels_become_white_not_black(encode):
    data = encode(Image.new("RGBA", (8, 8), (0, 0, 0, 0)), "PNG")
    assert centre_pixel(decode_image(data, draft_size=8)) == (255, 255, 255)


def test_sixteen_bit_greyscale_is_scaled_not_clipped(encode):
    data = encode(Image.new("I;16", (8, 8), 32768), "PNG")
    grey = centre_pixel(decode_image(data, draft_size=8))
    assert 120 <= grey[0] <= 135  # clipping to 8 bits would give 255


def test_one_pixel_image_becomes_a_full_input(photo, tiny_metadata):
    spec = tiny_metadata.preprocessing
    pixels = bytes_to_pixels(photo("red", size=(1, 1), fmt="PNG"), size=spec.input_size)
    assert pixels.shape == (spec.input_size, spec.input_size, 3) and pixels.dtype == np.uint8
    assert (pixels == pixels[0, 0]).all()  # the one pixel, everywhere


@pytest.mark.parametrize("path", ["numpy", "torch"])
def test_input_is_normalised_with_the_metadata_statistics(encode, tiny_metadata, path):
    """Both backends' normalisation (ONNX Runtime's NumPy, TorchScript's torch) give
    (x/255 - mean)/std per channel."""
    spec = tiny_metadata.preprocessing
    pixels = bytes_to_pixels(encode(Image.new("RGB", (4, 4), (255, 0, 0)), "PNG"),
                             size=spec.input_size)[None]
    if path == "numpy":
        planes = normalize_array(pixels, spec)
    else:
        planes = normalize(as_batch(pixels), spec).numpy()
    assert planes.shape == (1, 3, spec.input_size, spec.input_size)
    expected = [(value - mean) / std for value, mean, std in zip((1.0, 0.0, 0.0), spec.mean,
                                                                 spec.std, strict=True)]
    np.testing.assert_allclose(planes[0].mean(axis=(1, 2)), expected, rtol=0, atol=1e-4)


def test_both_backends_normalise_a_batch_alike(tiny_metadata):
    """ONNX Runtime's NumPy path and TorchScript's torch path must feed the same numbers."""
    spec = tiny_metadata.preprocessing
    nhwc = np.random.default_rng(0).integers(0, 256, (3, 17, 23, 3), dtype=np.uint8)
    np.testing.assert_allclose(normalize_array(nhwc, spec),
                               normalize(as_batch(nhwc), spec).numpy(), rtol=0, atol=1e-6)



def test_batch_normalisation_matches_the_formula_and_keeps_the_channels_last_layout(tiny_metadata):
    """The runner stacks photos channels-last; normalising must give (x/255 - mean)/std per
    channel in that layout, as it does for a plain NCHW batch."""
    spec = tiny_metadata.preprocessing
    generator = torch.Generator().manual_seed(0)
    nhwc = torch.randint(0, 256, (3, 17, 23, 3), dtype=torch.uint8, generator=generator)
    channels_last = nhwc.permute(0, 3, 1, 2)
    mean = torch.tensor(spec.mean).view(1, 3, 1, 1)
    std = torch.tensor(spec.std).view(1, 3, 1, 1)
    expected = (channels_last.double() / 255 - mean.double()) / std.double()

    normalised = normalize(channels_last, spec)
    assert normalised.is_contiguous(memory_format=torch.channels_last)
    torch.testing.assert_close(normalised.double(), expected, rtol=0, atol=1e-5)
    plain = normalize(channels_last.contiguous(), spec)
    assert plain.is_contiguous()
    torch.testing.assert_close(plain, normalised, rtol=0, atol=1e-6)


@pytest.mark.parametrize(("width", "height"), [(10_000, 5_000), (60_000, 60_000)])
def test_huge_dimensions_are_refused_before_decoding(huge_png, width, height):
    data = huge_png(width, height)
    assert len(data) < 200
    with pytest.raises(ApiError) as refused:
        decode_image(data, draft_size=32, max_pixels=40_000_000)
    assert (refused.value.status, refused.value.code) == (413, "image_too_large")


@pytest.mark.parametrize(("data", "status", "code"), [
    (b"", 400, "empty_file"),
    (b"this is plain text, not a photo", 400, "invalid_image"),
    (b"II*\x00" + b"\x00" * 64, 415, "unsupported_format"),
    (b"%PDF-1.7\n", 415, "unsupported_format"),
    (b"<svg xmlns='http://www.w3.org/2000/svg'></svg>", 415, "unsupported_format"),
])
def test_non_images_and_refused_formats(data, status, code):
    with pytest.raises(ApiError) as refused:
        decode_image(data, draft_size=32)
    assert (refused.value.status, refused.value.code) == (status, code)


def test_a_real_tiff_is_refused_as_unsupported(photo):
    with pytest.raises(ApiError) as refused:
        decode_image(photo("red", fmt="TIFF"), draft_size=8)
    assert refused.value.status == 415 and "TIFF" in refused.value.message


def test_truncated_jpeg_is_refused_as_corrupt(encode):
    data = encode(Image.effect_noise((256, 256), 64).convert("RGB"), "JPEG", quality=95)
    with pytest.raises(ApiError) as refused:
        decode_image(data[: len(data) // 2], draft_size=256)
    assert (refused.value.status, refused.value.code) == (400, "corrupt_image")
