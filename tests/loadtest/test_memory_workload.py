"""The memory benchmark's worst-case photo really is at the limits the service accepts."""

from __future__ import annotations

import io
import os
import tempfile

from PIL import Image

from loadtest.bench.memory import largest_png, temporary_bytes
from service.model.preprocessing import decode_image


def test_largest_png_is_just_under_both_limits_and_decodes():
    max_pixels, max_bytes = 600_000, 200_000
    data = largest_png(max_pixels, max_bytes)
    with Image.open(io.BytesIO(data)) as image:
        assert image.format == "PNG"
        assert 0.99 * max_pixels <= image.width * image.height < max_pixels
    assert 0.8 * max_bytes <= len(data) <= max_bytes
    # and the service accepts it: decoded whole, within its pixel limit
    assert decode_image(data, draft_size=160, max_pixels=max_pixels).size == image.size


def test_unlinked_temporary_files_are_counted_while_open(tmp_path):
    with tempfile.TemporaryFile(dir=tmp_path) as spooled:  # unlinked at once, like Starlette's
        spooled.write(b"x" * 5000)
        spooled.flush()
        assert list(tmp_path.iterdir()) == []  # invisible to a directory listing
        assert temporary_bytes(os.getpid(), tmp_path) == 5000
    assert temporary_bytes(os.getpid(), tmp_path) == 0
