"""One photo per observation: which one, which split it joins, and whether it is fit to keep.

The split goes by observer, so no photographer appears in two splits and the test figures are
not flattered by a photographer's camera, light and colonies seen in training. It is a hash
of the observer's id (not their login, which they can change), so it needs no state: a
resumed run, or a run with more classes, puts each observer where earlier runs did.
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass

from PIL import Image

# The project's decoder, so a photo kept for training is one the service would accept. The
# only imports from service/ in the fetcher.
from service.model.errors import ApiError
from service.model.preprocessing import DEFAULT_MAX_PIXELS, decode_image
from training.inat.observations import Observation, Photo

SPLITS = ("train", "val", "test")
DEFAULT_MAX_BYTES = 10 * 1024 * 1024  # the service's default upload limit (MAX_UPLOAD_BYTES)
EXTENSIONS = {"JPEG": ".jpg", "PNG": ".png", "WEBP": ".webp", "GIF": ".gif", "BMP": ".bmp"}
CHECK_SIZE = 224  # JPEGs are checked through the DCT-scaled draft decoder, as training reads them


@dataclass(frozen=True)
class SplitFractions:
    val: float = 0.1
    test: float = 0.1
    seed: int = 0


def split_for(observer_id: int, fractions: SplitFractions) -> str:
    """The split every photo of this observer goes to."""
    digest = hashlib.sha256(f"{fractions.seed}:{observer_id}".encode()).digest()
    position = int.from_bytes(digest[:8], "big") / 2**64
    if position < fractions.test:
        return "test"
    return "val" if position < fractions.test + fractions.val else "train"


def allowed_photo(observation: Observation, licences: frozenset[str]) -> Photo | None:
    """The observation's first photo under an allowed licence. Photos of one observation can
    carry different licences, and the API's licence filter matches an observation when any
    one of them is allowed, so the first photo is not necessarily a usable one."""
    return next((photo for photo in observation.photos if photo.licence in licences), None)


def medium_url(photo: Photo) -> str:
    """The medium size (500 px on the long side): enough for a 224 px model, a tenth of the
    original's bytes."""
    return photo.sized("medium")


class PhotoRejected(Exception):
    """A download that is not a usable image; the reason is counted in the summary."""


@dataclass(frozen=True)
class CheckedPhoto:
    data: bytes
    extension: str
    sha256: str


def check_photo(
    data: bytes, *, max_bytes: int = DEFAULT_MAX_BYTES, max_pixels: int = DEFAULT_MAX_PIXELS
) -> CheckedPhoto:
    """Refuse what is too large or does not decode, exactly as serving's decoder would."""
    if len(data) > max_bytes:
        raise PhotoRejected("too many bytes")
    try:
        decode_image(data, draft_size=CHECK_SIZE, max_pixels=max_pixels)
    except ApiError as error:
        raise PhotoRejected(error.code.replace("_", " ")) from error
    with Image.open(io.BytesIO(data)) as image:  # the header only: the format's extension
        extension = EXTENSIONS[image.format]
    return CheckedPhoto(data, extension, hashlib.sha256(data).hexdigest())
