"""From uploaded bytes to the model's input tensor: the single home of preprocessing.

Serving, batch classification and training's evaluation all call these functions with the
`Preprocessing` recorded in the model's metadata, so the three can never drift apart.
Only the decoders of the allowed formats ever run: a TIFF, PSD or EPS renamed `.jpg` is refused
before any other Pillow plugin (or Ghostscript) could touch it.
"""

from __future__ import annotations

import contextlib
import functools
import io
import warnings

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from service.model.errors import ApiError
from service.model.metadata import Preprocessing

ALLOWED_FORMATS = ("JPEG", "PNG", "WEBP", "GIF", "BMP")
# File names that hold those formats, for whoever lists photos in a folder (the batch command,
# training's datasets).
IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".webp", ".gif", ".bmp"})
DEFAULT_MAX_PIXELS = 40_000_000

# Signatures of formats people send that we refuse on purpose, so that the answer is a clear 415
# rather than "not an image". Matched on the first bytes only; no decoder runs.
_KNOWN_UNSUPPORTED = (
    (b"II*\x00", "TIFF"),
    (b"MM\x00*", "TIFF"),
    (b"8BPS", "PSD"),
    (b"%PDF", "PDF"),
    (b"%!PS", "EPS"),
    (b"\xc5\xd0\xd3\xc6", "EPS"),
    (b"\x00\x00\x01\x00", "ICO"),
    (b"\x00\x00\x02\x00", "CUR"),
    (b"qoif", "QOI"),
    (b"\xff\x0a", "JPEG XL"),
    (b"\x00\x00\x00\x0cJXL ", "JPEG XL"),
)
# The messages of the refusals below, kept here so the API's documented examples are these.
SEND_A_PHOTO = "send a JPEG, PNG, WebP, GIF or BMP photo"
EMPTY_FILE = "The uploaded file is empty."
NOT_AN_IMAGE = f"The file is not a readable image; {SEND_A_PHOTO}."


def unsupported_format_message(name: str) -> str:
    return f"{name} files are not supported; {SEND_A_PHOTO}."


_ISO_MEDIA_BRANDS = {b"heic": "HEIC", b"heix": "HEIC", b"mif1": "HEIF", b"msf1": "HEIF",
                     b"avif": "AVIF", b"avis": "AVIF"}


def sniff_unsupported_format(data: bytes) -> str | None:
    """Name a known image or document format we do not accept, from its first bytes."""
    for signature, name in _KNOWN_UNSUPPORTED:
        if data.startswith(signature):
            return name
    if data[4:8] == b"ftyp":
        return _ISO_MEDIA_BRANDS.get(data[8:12], "ISO media (HEIC/AVIF/MP4)")
    head = data[:512].lstrip().lower()
    if head.startswith((b"<?xml", b"<svg", b"<!doctype", b"<html")):
        return "SVG/HTML/XML text"
    return None


def decode_image(
    data: bytes, *, draft_size: int, max_pixels: int = DEFAULT_MAX_PIXELS
) -> Image.Image:
    """Decode an upload to an upright RGB image, refusing anything unsafe or unreadable.

    `draft_size` lets the JPEG decoder scale by 1/2, 1/4 or 1/8 in the DCT while keeping both
    sides at least that large, which is several times cheaper than decoding every pixel of a
    phone photo only to shrink it to the model's input.
    """
    if not data:
        raise ApiError(400, "empty_file", EMPTY_FILE)
    image = _open_allowed(data)
    width, height = image.size
    if width * height > max_pixels:
        raise ApiError(
            413, "image_too_large",
            f"The image is {width}x{height} pixels; the limit is {max_pixels:,} pixels.",
        )
    if image.format == "JPEG":
        image.draft("RGB", (draft_size, draft_size))
    try:
        image.load()
    except (OSError, SyntaxError, ValueError, EOFError, Image.DecompressionBombError) as error:
        raise ApiError(
            400, "corrupt_image", f"The {image.format} image is truncated or corrupt ({error})."
        ) from error
    return _to_rgb(_upright(image))


def _open_allowed(data: bytes) -> Image.Image:
    unsupported = sniff_unsupported_format(data)
    if unsupported:
        raise ApiError(415, "unsupported_format", unsupported_format_message(unsupported))
    try:
        with warnings.catch_warnings():
            # Our own pixel limit is checked right after opening; Pillow's global warning would
            # only add noise to the logs.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            return Image.open(io.BytesIO(data), formats=ALLOWED_FORMATS)
    except Image.DecompressionBombError as error:
        raise ApiError(413, "image_too_large", f"The image is too large: {error}") from error
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError) as error:
        raise ApiError(400, "invalid_image", NOT_AN_IMAGE) from error


def _upright(image: Image.Image) -> Image.Image:
    """Apply the EXIF orientation, as phones rely on it; a malformed EXIF block is ignored.

    In place: otherwise Pillow returns a copy of every photo that is already upright, and for
    the largest accepted image (40 Mpx, 160 MB decoded) that copy doubled a decode's memory.
    """
    with contextlib.suppress(OSError, SyntaxError, ValueError, TypeError, KeyError,
                             ZeroDivisionError):
        ImageOps.exif_transpose(image, in_place=True)
    return image


def _to_rgb(image: Image.Image) -> Image.Image:
    """Convert any colour mode to 8-bit RGB without clipping or black backgrounds."""
    if image.mode in ("I;16", "I;16L", "I;16B", "I;16N", "I"):
        # 16-bit greyscale: rescale to 8 bits (clipping would turn most photos white).
        image = image.convert("I").point(lambda value: value * (1 / 257)).convert("L")
    elif image.mode == "F":
        image = image.point(lambda value: value * 255).convert("L")
    if image.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in image.info:
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(background, rgba)
    return image.convert("RGB") if image.mode != "RGB" else image


def resize_square(image: Image.Image, size: int) -> Image.Image:
    """Resize the whole photo to `size` x `size` (the 'squash' policy)."""
    if image.size == (size, size):
        return image
    return image.resize((size, size), Image.Resampling.BILINEAR, reducing_gap=2.0)


def to_pixels(image: Image.Image) -> np.ndarray:
    """An RGB image's bytes as an (H, W, 3) uint8 array: the decoder's own order, one copy."""
    return np.asarray(image, dtype=np.uint8)


def normalize_array(pixels: np.ndarray, spec: Preprocessing) -> np.ndarray:
    """A uint8 (N, H, W, 3) batch to the float32 NCHW input the network was trained on, with
    NumPy alone: the path of a service that runs ONNX Runtime and never imports torch.

    The transpose and the conversion to float are one pass into contiguous planes; scaling and
    shifting each plane in place then works on long contiguous rows."""
    planes = np.ascontiguousarray(pixels.transpose(0, 3, 1, 2), dtype=np.float32)
    scale, offset = _per_plane(spec.mean, spec.std)
    planes *= scale
    planes += offset
    return planes


def normalisation_affine(mean: tuple[float, ...], std: tuple[float, ...]
                         ) -> tuple[np.ndarray, np.ndarray]:
    """`(x / 255 - mean) / std` as `x * scale + offset`: the per-channel scale and offset, in
    float64, that both backends' normalisation use (this module's, and torch_network's)."""
    std64 = np.asarray(std, dtype=np.float64)
    return 1.0 / (std64 * 255.0), -np.asarray(mean, dtype=np.float64) / std64


@functools.lru_cache(maxsize=8)
def _per_plane(mean: tuple[float, ...], std: tuple[float, ...]) -> tuple[np.ndarray, np.ndarray]:
    """The scale and offset in float32, shaped to broadcast over NCHW planes."""
    return tuple(values.astype(np.float32).reshape(-1, 1, 1)
                 for values in normalisation_affine(mean, std))


def bytes_to_pixels(
    data: bytes, *, size: int, max_pixels: int = DEFAULT_MAX_PIXELS
) -> np.ndarray:
    """Uploaded bytes to (H, W, 3) uint8 pixels, `size` x `size`: decode, orient upright, resize.

    The one recipe every caller uses (serving, the batch command, training's data, the
    benchmark), so a photo is the same input wherever it is classified; `size` is the model's
    `input_size` (training keeps its photos a little larger, for random crops). Normalisation is
    left to the backend, which applies it to a whole batch at once (service/model/networks.py).
    """
    image = decode_image(data, draft_size=size, max_pixels=max_pixels)
    return to_pixels(resize_square(image, size))

