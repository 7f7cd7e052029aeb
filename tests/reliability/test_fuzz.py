"""Fuzzing the bytes-to-pixels path: whatever the bytes, only ApiError may escape.

`service.model.preprocessing.bytes_to_pixels` is everything an upload goes through before the
model (then normalisation, checked here too); any other exception there would be a 500.
Hypothesis mutates valid images of every accepted format and mode (bit flips, overwritten
bytes, truncation, insertions, deletions, spliced headers) and also feeds raw bytes behind each
format's magic number.

Time-bounded: FUZZ_SECONDS (default 12, what CI runs); `make fuzz FUZZ_SECONDS=600` runs longer.
A failure is shrunk to a minimal input and printed; paste it into a regression test.
"""

from __future__ import annotations

import io
import os
import time
from collections import Counter

import numpy as np
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from PIL import Image

from service.model.errors import ApiError
from service.model.preprocessing import bytes_to_pixels, normalize_array

FUZZ_SECONDS = float(os.environ.get("FUZZ_SECONDS", "12"))
MAX_PIXELS = 1_000_000  # small, so that each example decodes in milliseconds
MAGIC = [b"\xff\xd8\xff\xe0", b"\xff\xd8\xff\xe1", b"\x89PNG\r\n\x1a\n", b"GIF87a", b"GIF89a",
         b"RIFF\x00\x01\x00\x00WEBPVP8 ", b"RIFF\x00\x01\x00\x00WEBPVP8L",
         b"RIFF\x00\x01\x00\x00WEBPVP8X", b"BM"]


def _encode(image: Image.Image, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def _seeds() -> list[bytes]:
    gradient = Image.linear_gradient("L").resize((24, 20)).convert("RGB")
    frames = [Image.new("RGB", (12, 10), (n * 40, 0, 0)) for n in range(3)]
    exif = Image.Exif()
    exif[0x0112] = 6
    sixteen = Image.new("I;16", (9, 7), 30000)
    return [
        _encode(gradient, "JPEG", quality=80),
        _encode(gradient, "JPEG", progressive=True, exif=exif),
        _encode(gradient.convert("L"), "JPEG"),
        _encode(gradient.convert("CMYK"), "JPEG"),
        _encode(gradient, "PNG"),
        _encode(gradient.convert("RGBA"), "PNG"),
        _encode(gradient.convert("P"), "PNG", transparency=0),
        _encode(gradient.convert("LA"), "PNG"),
        _encode(sixteen, "PNG"),
        _encode(frames[0], "PNG", save_all=True, append_images=frames[1:]),
        _encode(frames[0], "GIF", save_all=True, append_images=frames[1:]),
        _encode(gradient, "WEBP", quality=50),
        _encode(gradient, "WEBP", lossless=True),
        _encode(frames[0], "WEBP", save_all=True, append_images=frames[1:]),
        _encode(gradient, "BMP"),
        _encode(gradient.convert("P"), "BMP"),
        _encode(gradient.convert("1"), "BMP"),
    ]


SEEDS = _seeds()


@st.composite
def mutated_images(draw: st.DrawFn) -> bytes:
    data = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(1, 6))):
        kind = draw(st.sampled_from(["flip", "set", "truncate", "insert", "delete", "splice",
                                     "header"]))
        position = draw(st.integers(0, max(0, len(data) - 1)))
        if kind == "flip" and data:
            data[position] ^= 1 << draw(st.integers(0, 7))
        elif kind == "set" and data:
            data[position] = draw(st.sampled_from([0x00, 0xFF, 0x7F, 0x80, 0x01]))
        elif kind == "truncate":
            del data[position:]
        elif kind == "insert":
            data[position:position] = draw(st.binary(min_size=1, max_size=64))
        elif kind == "delete":
            del data[position:position + draw(st.integers(1, 64))]
        elif kind == "splice":
            other = draw(st.sampled_from(SEEDS))
            data[position:] = other[draw(st.integers(0, len(other) - 1)):]
        elif kind == "header" and len(data) > 32:
            # Width, height, counts and lengths live in the first bytes of every format.
            offset = draw(st.integers(0, min(len(data), 64) - 4))
            data[offset:offset + 4] = draw(st.binary(min_size=4, max_size=4))
    return bytes(data)


fuzz_input = st.one_of(
    mutated_images(),
    st.builds(lambda magic, tail: magic + tail, st.sampled_from(MAGIC),
              st.binary(max_size=2048)),
    st.binary(max_size=512),
)


def check_one(data: bytes, spec, outcomes: Counter) -> None:
    try:
        pixels = bytes_to_pixels(data, size=spec.input_size, max_pixels=MAX_PIXELS)
    except ApiError as rejected:
        assert 400 <= rejected.status < 500 and rejected.code and rejected.message
        outcomes[rejected.code] += 1
        return
    assert pixels.shape == (spec.input_size, spec.input_size, 3) and pixels.dtype == np.uint8
    model_input = normalize_array(pixels[None], spec)
    assert model_input.dtype == np.float32 and np.isfinite(model_input).all()
    outcomes["decoded"] += 1


@pytest.mark.filterwarnings("ignore::UserWarning", "ignore::DeprecationWarning")
def test_bytes_to_pixels_lets_only_image_rejected_escape(tiny_metadata):
    spec = tiny_metadata.preprocessing
    outcomes: Counter = Counter()

    @settings(max_examples=300, deadline=None, database=None, derandomize=False,
              phases=[Phase.generate, Phase.shrink],
              suppress_health_check=list(HealthCheck))
    @given(fuzz_input)
    def one_round(data: bytes) -> None:
        check_one(data, spec, outcomes)

    deadline = time.monotonic() + FUZZ_SECONDS
    rounds = 0
    while time.monotonic() < deadline or rounds == 0:
        one_round()
        rounds += 1
    total = sum(outcomes.values())
    print(f"\nfuzz: {total} inputs in {FUZZ_SECONDS:g} s: {dict(outcomes.most_common())}")
    assert outcomes["decoded"] > 0 and total > outcomes["decoded"]  # both paths were exercised


def test_every_seed_decodes(tiny_metadata):
    """The fuzzer starts from valid images; if a seed itself failed, it would fuzz nothing."""
    outcomes: Counter = Counter()
    for seed in SEEDS:
        check_one(seed, tiny_metadata.preprocessing, outcomes)
    assert outcomes == {"decoded": len(SEEDS)}
