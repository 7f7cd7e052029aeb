"""Hostile and unusual images: bombs, broken files, foreign formats, odd modes and orientations.

Sent to the real server process (so memory is the server's own), except the checks that need a
spy inside the process: that only the allowed formats' decoders ever run.
The tiny model answers by the colour of the photo's top half (red -> Adelie), so a photo that
decodes the wrong way up or with the wrong colours gets a visibly wrong answer.
"""

from __future__ import annotations

import contextlib
import io
import struct
import subprocess
import warnings
import zlib

import httpx
import pytest
from PIL import Image, ImageFile, PngImagePlugin
from reliability_helpers import LiveServer, assert_error_shape

from service.model.errors import ApiError
from service.model.preprocessing import ALLOWED_FORMATS, decode_image

RED, ORANGE, BLUE, BLACK = (230, 20, 20), (230, 120, 20), (20, 20, 230), (0, 0, 0)
BOMB_PEAK_MB = 60  # a decoded 20000x20000 image would need 400 MB to 1.2 GB


def encode(image: Image.Image, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def png_chunk(kind: bytes, payload: bytes) -> bytes:
    return (struct.pack(">I", len(payload)) + kind + payload
            + struct.pack(">I", zlib.crc32(kind + payload) & 0xFFFFFFFF))


def pixel_flood_png(width: int, height: int) -> bytes:
    """A valid, tiny PNG that decodes to width x height 8-bit grey pixels (zlib of zeros)."""
    row = b"\x00" + b"\x00" * width
    compressor = zlib.compressobj(9)
    data = b"".join(compressor.compress(row) for _ in range(min(height, 2000)))
    data += compressor.flush()
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", header) + png_chunk(b"IDAT", data)
            + png_chunk(b"IEND", b""))


def jpeg_declaring(width: int, height: int) -> bytes:
    """A small JPEG whose frame header claims another size."""
    data = bytearray(encode(Image.new("RGB", (16, 16), RED), "JPEG"))
    sof = data.find(b"\xff\xc0")
    data[sof + 5: sof + 9] = struct.pack(">HH", height, width)
    return bytes(data)


def lossless_webp_declaring(width: int, height: int) -> bytes:
    bits = (width - 1) | ((height - 1) << 14)
    chunk = b"\x2f" + struct.pack("<I", bits) + b"\x00" * 65  # RIFF chunks have even sizes
    body = b"WEBP" + b"VP8L" + struct.pack("<I", len(chunk)) + chunk
    return b"RIFF" + struct.pack("<I", len(body)) + body


def gif_declaring(width: int, height: int) -> bytes:
    return (b"GIF89a" + struct.pack("<HH", width, height) + b"\x00\x00\x00"
            + b"\x2c\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02\x44\x01\x00\x3b")


def bmp_declaring(width: int, height: int) -> bytes:
    return (b"BM" + struct.pack("<IHHI", 0, 0, 0, 54)
            + struct.pack("<IiiHHIIiiII", 40, width, height, 1, 24, 0, 0, 0, 0, 0, 0))


def png_with_text_bomb(kind: str) -> bytes:
    info = PngImagePlugin.PngInfo()
    if kind == "zTXt":
        info.add_text("comment", "a" * 50_000_000, zip=True)
    else:
        info.add_itxt("comment", "a" * 50_000_000, zip=True)
    return encode(Image.new("RGB", (8, 8), RED), "PNG", pnginfo=info)


def upright_photo() -> Image.Image:
    """64x32: top half red and orange (Adelie), bottom half blue and black."""
    image = Image.new("RGB", (64, 32), BLUE)
    image.paste(RED, (0, 0, 32, 16))
    image.paste(ORANGE, (32, 0, 64, 16))
    image.paste(BLACK, (32, 16, 64, 32))
    return image


# What a camera stores for each EXIF orientation: the inverse of the transform that shows it.
STORED_FOR_ORIENTATION = {
    1: None,
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_90,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_270,
}


def photo_with_orientation(orientation: int) -> bytes:
    upright = upright_photo()
    transform = STORED_FOR_ORIENTATION[orientation]
    stored = upright.transpose(transform) if transform is not None else upright
    exif = Image.Exif()
    exif[0x0112] = orientation
    return encode(stored, "JPEG", quality=95, subsampling=0, exif=exif)


def post(server: LiveServer, data: bytes, filename: str = "photo.jpg",
         content_type: str = "image/jpeg") -> httpx.Response:
    return server.http.post("/predict", files={"file": (filename, data, content_type)})


def assert_refused(server: LiveServer, response: httpx.Response, status: int, code: str) -> str:
    assert response.status_code == status, response.text
    assert_error_shape(status, dict(response.headers), response.json(), code)
    server.assert_healthy()
    return response.json()["error"]["message"]


def assert_classified(server: LiveServer, response: httpx.Response, species: str | None) -> None:
    assert response.status_code == 200, response.text
    if species is not None:
        assert response.json()["species"] == species, response.json()
    server.assert_healthy()


# ---- bombs: refused from the header, before any pixel is decoded

BOMBS = {
    "PNG pixel flood 20000x20000": (pixel_flood_png(20_000, 20_000), "400000000 pixels"),
    "PNG 1.5x the pixel limit (60 MP)": (pixel_flood_png(7746, 7746), "7746x7746"),
    "JPEG declaring 65500x65500": (jpeg_declaring(65_500, 65_500), "too large"),
    "JPEG declaring 8000x6000 (48 MP)": (jpeg_declaring(8000, 6000), "8000x6000"),
    "lossless WebP declaring 16383x16383": (lossless_webp_declaring(16_383, 16_383), "too large"),
    "WebP declaring 8000x6000": (lossless_webp_declaring(8000, 6000), "8000x6000"),
    "GIF screen 65535x65535": (gif_declaring(65_535, 65_535), "too large"),
    "BMP declaring 30000x30000": (bmp_declaring(30_000, 30_000), "too large"),
}


@pytest.mark.parametrize("case", list(BOMBS))
def test_decompression_bombs_are_refused_before_decoding(server, case):
    data, mentioned = BOMBS[case]
    assert len(data) < 1_000_000
    before = server.resources()
    server.reset_peak()
    response = post(server, data)
    message = assert_refused(server, response, 413, "image_too_large")
    assert mentioned in message
    # Refused before decoding: the server's peak memory never held the pixels.
    assert server.peak_mb() - before.rss_mb < BOMB_PEAK_MB
    server.assert_resources_back(before)


def test_an_image_between_one_and_two_times_the_limit_is_refused_not_just_warned(
        serve, settings_for, monkeypatch):
    """Pillow only warns between 1x and 2x its own limit; the service's limit is a hard one,
    checked before any pixel is decoded."""
    loads = []
    real_load = ImageFile.ImageFile.load
    monkeypatch.setattr(ImageFile.ImageFile, "load",
                        lambda self: loads.append(self.size) or real_load(self))
    data = encode(Image.new("RGB", (150, 100), RED), "PNG")  # 15000 pixels = 1.5x
    with serve(settings_for(max_image_pixels=10_000)) as client:
        response = client.post("/predict", files={"file": ("big.png", data, "image/png")})
        assert client.get("/healthz").status_code == 200
        at_limit = client.post("/predict", files={"file": ("ok.png", encode(
            Image.new("RGB", (100, 100), RED), "PNG"), "image/png")})
    assert response.status_code == 413 and response.json()["error"]["code"] == "image_too_large"
    assert (150, 100) not in loads
    assert at_limit.status_code == 200


@pytest.mark.parametrize("kind", ["zTXt", "iTXt"])
def test_png_text_chunk_bombs_are_refused_with_flat_memory(server, kind):
    data = png_with_text_bomb(kind)
    before = server.resources()
    server.reset_peak()
    assert_refused(server, post(server, data, "text.png", "image/png"), 400, "invalid_image")
    assert server.peak_mb() - before.rss_mb < BOMB_PEAK_MB


# ---- broken files

def _noise_png() -> bytes:
    return encode(Image.effect_noise((128, 128), 64).convert("RGB"), "PNG")


def _noise_jpeg() -> bytes:
    return encode(Image.effect_noise((256, 256), 64).convert("RGB"), "JPEG", quality=95)


BROKEN = {
    "truncated PNG": (_noise_png()[:3000], 400, "corrupt_image"),
    "PNG with a bad chunk CRC": (
        _noise_png()[:40] + bytes([_noise_png()[40] ^ 1]) + _noise_png()[41:], 400,
        "invalid_image"),
    "JPEG cut inside its headers": (_noise_jpeg()[:400], 400, "invalid_image"),
    "JPEG cut inside its scan data": (_noise_jpeg()[:len(_noise_jpeg()) // 2], 400,
                                      "corrupt_image"),
    "garbage bytes": (bytes(range(256)) * 64, 400, "invalid_image"),
    "JPEG magic then garbage": (b"\xff\xd8\xff\xe0" + b"\x00" * 5000, 400, "invalid_image"),
    "PNG magic then garbage": (b"\x89PNG\r\n\x1a\n" + b"\xff" * 5000, 400, "invalid_image"),
    "GIF magic only": (b"GIF89a", 400, "invalid_image"),
    "empty file": (b"", 400, "empty_file"),
}


@pytest.mark.parametrize("case", list(BROKEN))
def test_broken_files_are_a_clear_400(server, case):
    data, status, code = BROKEN[case]
    assert_refused(server, post(server, data), status, code)


def test_garbage_sent_as_a_raw_image_jpeg_body_is_a_clear_400(server):
    response = server.http.post("/predict", content=b"\x13\x37" * 4096,
                                headers={"Content-Type": "image/jpeg"})
    assert_refused(server, response, 400, "invalid_image")


# ---- foreign formats: refused, and their decoders never run

def _psd() -> bytes:
    return b"8BPS\x00\x01" + b"\x00" * 6 + struct.pack(">HIIHH", 3, 64, 64, 8, 3) + b"\x00" * 64


def _heic(brand: bytes = b"heic") -> bytes:
    return b"\x00\x00\x00\x18ftyp" + brand + b"\x00\x00\x00\x00mif1" + brand + b"\x00" * 64


def _pillow(fmt: str, mode: str = "RGB") -> bytes:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # Pillow is retiring some writers
        return encode(Image.new(mode, (32, 32)), fmt)


NAMED_FORMATS = {  # refused by name with 415, the name in the message
    "TIFF": _pillow("TIFF"),
    "PSD": _psd(),
    "EPS": _pillow("EPS"),
    "ICO": _pillow("ICO"),
    "PDF": _pillow("PDF"),
    "SVG": b"<?xml version='1.0'?><svg xmlns='http://www.w3.org/2000/svg' width='9' height='9'/>",
    "HTML": b"<!DOCTYPE html><html><body><img src=x onerror=alert(1)></body></html>",
    "HEIC": _heic(b"heic"),
    "AVIF": _heic(b"avif"),
    "QOI": _pillow("QOI"),
}
OTHER_FORMATS = {  # anything else Pillow could decode: refused, no foreign decoder runs
    "BigTIFF": b"II+\x00\x08\x00\x00\x00" + b"\x00" * 64,
    "PCX": _pillow("PCX"), "TGA": _pillow("TGA"), "PPM": _pillow("PPM"), "SGI": _pillow("SGI"),
    "DDS": _pillow("DDS"), "ICNS": _pillow("ICNS"), "IM": _pillow("IM"),
    "MSP": _pillow("MSP", "1"), "SPIDER": _pillow("SPIDER", "F"), "XBM": _pillow("XBM", "1"),
    "JPEG2000": _pillow("JPEG2000"), "DIB": _pillow("DIB"), "PALM": _pillow("PALM", "1"),
    "JPEG XL": b"\xff\x0a" + b"\x00" * 64,
    "PostScript": b"%!PS-Adobe-3.0\nshowpage\n",
}


@pytest.fixture
def foreign_decoder_calls(monkeypatch) -> list[str]:
    """Spies on every registered Pillow plugin that is not allowed, and on subprocesses
    (Ghostscript is how Pillow reads EPS): the list of what was called."""
    Image.init()
    calls: list[str] = []
    for fmt, (factory, accept) in list(Image.OPEN.items()):
        if fmt in ALLOWED_FORMATS:
            continue

        def spy_factory(*args, _fmt=fmt, _factory=factory, **kwargs):
            calls.append(f"{_fmt} open")
            return _factory(*args, **kwargs)

        def spy_accept(prefix, _fmt=fmt, _accept=accept):
            calls.append(f"{_fmt} accept")
            return _accept(prefix)

        monkeypatch.setitem(Image.OPEN, fmt, (spy_factory, spy_accept if accept else None))

    def no_subprocess(*args, **kwargs):
        calls.append(f"subprocess {args[:1]}")
        raise AssertionError("no external program may run while decoding an upload")

    monkeypatch.setattr(subprocess, "Popen", no_subprocess)
    return calls


def test_the_decoder_spy_sees_a_foreign_decoder_when_one_runs(foreign_decoder_calls):
    """The control: without the allowlist, Pillow would open a TIFF with its TIFF plugin."""
    Image.open(io.BytesIO(NAMED_FORMATS["TIFF"]))
    assert "TIFF open" in foreign_decoder_calls


@pytest.mark.parametrize("fmt", list(NAMED_FORMATS))
def test_refused_formats_renamed_jpg_get_a_clear_415_and_no_foreign_decoder_runs(
        client, foreign_decoder_calls, fmt):
    response = client.post("/predict", files={"file": ("photo.jpg", NAMED_FORMATS[fmt],
                                                       "image/jpeg")})
    assert response.status_code == 415, response.text
    error = response.json()["error"]
    assert error["code"] == "unsupported_format"
    assert fmt.split()[0] in error["message"] or (fmt == "HTML" and "HTML" in error["message"])
    assert foreign_decoder_calls == []
    assert client.get("/healthz").status_code == 200


@pytest.mark.parametrize("fmt", list(OTHER_FORMATS))
def test_other_decodable_formats_are_refused_and_no_foreign_decoder_runs(
        client, foreign_decoder_calls, fmt):
    response = client.post("/predict", files={"file": ("photo.jpg", OTHER_FORMATS[fmt],
                                                       "image/jpeg")})
    assert (response.status_code, response.json()["error"]["code"]) in (
        (400, "invalid_image"), (415, "unsupported_format")), response.text
    assert foreign_decoder_calls == []
    assert client.get("/healthz").status_code == 200


def test_heic_gets_a_415_that_says_heic(server):
    message = assert_refused(server, post(server, _heic(), "IMG_0001.HEIC", "image/heic"), 415,
                             "unsupported_format")
    assert "HEIC" in message and "JPEG" in message


# ---- EXIF

@pytest.mark.parametrize("orientation", range(1, 9))
def test_every_exif_orientation_comes_out_upright(server, orientation):
    data = photo_with_orientation(orientation)
    decoded = decode_image(data, draft_size=64)
    assert decoded.size == (64, 32)
    for (x, y), expected in {(8, 4): RED, (56, 4): ORANGE, (8, 28): BLUE,
                             (56, 28): BLACK}.items():
        actual = decoded.getpixel((x, y))
        assert all(abs(a - e) <= 40 for a, e in zip(actual, expected, strict=True)), (
            orientation, (x, y), actual, expected)
    assert_classified(server, post(server, data), "Adelie")


def _jpeg_with_exif_block(block: bytes) -> bytes:
    return encode(upright_photo(), "JPEG", quality=95, exif=block)


MALFORMED_EXIF = {
    "orientation 9 (out of range)": _jpeg_with_exif_block(
        b"Exif\x00\x00MM\x00*\x00\x00\x00\x08\x00\x01\x01\x12\x00\x03\x00\x00\x00\x01\x00\x09"
        b"\x00\x00\x00\x00\x00\x00"),
    "orientation as a string": _jpeg_with_exif_block(
        b"Exif\x00\x00MM\x00*\x00\x00\x00\x08\x00\x01\x01\x12\x00\x02\x00\x00\x00\x04abc\x00"
        b"\x00\x00\x00\x00"),
    "IFD offset past the end": _jpeg_with_exif_block(b"Exif\x00\x00II*\x00\xff\xff\xff\x7f"),
    "entry count past the end": _jpeg_with_exif_block(
        b"Exif\x00\x00II*\x00\x08\x00\x00\x00\xff\xff" + b"\x00" * 8),
    "garbage block": _jpeg_with_exif_block(b"Exif\x00\x00" + b"\xff" * 200),
}


@pytest.mark.parametrize("case", list(MALFORMED_EXIF))
def test_malformed_exif_is_ignored_and_the_photo_classified(server, case):
    assert_classified(server, post(server, MALFORMED_EXIF[case]), "Adelie")


# ---- modes, depths, frames, shapes

def _top_red(mode: str, fmt: str, **options) -> bytes:
    return encode(upright_photo().convert(mode), fmt, **options)


def _palette_with_transparency() -> bytes:
    image = upright_photo().convert("P", palette=Image.Palette.ADAPTIVE, colors=8)
    black_index = image.getpixel((60, 30))
    return encode(image, "PNG", transparency=black_index)


def _sixteen_bit_grey() -> bytes:
    image = Image.new("I;16", (4, 1))
    image.putdata([0, 257 * 100, 65535, 32768])
    return encode(image, "PNG")


def _animation(fmt: str, frames: int) -> bytes:
    first = Image.new("RGB", (32, 32), RED)
    rest = [Image.new("RGB", (32, 32), (20, 20, (n * 7) % 256)) for n in range(frames - 1)]
    return encode(first, fmt, save_all=True, append_images=rest, duration=10)


ODD_BUT_FINE = {
    "CMYK JPEG": (_top_red("CMYK", "JPEG"), "Adelie"),
    "LA PNG": (_top_red("LA", "PNG"), None),
    "palette PNG with transparency": (_palette_with_transparency(), "Adelie"),
    "16-bit greyscale PNG": (_sixteen_bit_grey(), None),
    "1x1 PNG": (encode(Image.new("RGB", (1, 1), RED), "PNG"), "Adelie"),
    "1x50000 PNG": (encode(Image.new("RGB", (1, 50_000), RED), "PNG"), "Adelie"),
    "50000x1 PNG": (encode(Image.new("RGB", (50_000, 1), RED), "PNG"), "Adelie"),
}


@pytest.mark.parametrize("case", list(ODD_BUT_FINE))
def test_unusual_but_valid_images_are_classified(server, case):
    data, species = ODD_BUT_FINE[case]
    assert_classified(server, post(server, data), species)


def test_sixteen_bit_grey_is_rescaled_not_clipped():
    decoded = decode_image(_sixteen_bit_grey(), draft_size=4)
    assert [decoded.getpixel((x, 0))[0] for x in range(4)] == [0, 100, 255, 127]


@pytest.mark.parametrize("fmt", ["GIF", "PNG", "WEBP"])
def test_an_animation_with_thousands_of_frames_is_classified_by_its_first_frame(server, fmt):
    data = _animation(fmt, 3000)
    response = post(server, data, f"anim.{fmt.lower()}", f"image/{fmt.lower()}")
    assert_classified(server, response, "Adelie")  # the first frame is red, the others blue


@pytest.mark.parametrize("fmt", ["GIF", "PNG", "WEBP"])
def test_an_animation_is_decoded_without_visiting_its_other_frames(fmt, monkeypatch):
    """Thousands of frames cost nothing: decoding never seeks past the first one."""
    data = _animation(fmt, 300)
    animated = type(Image.open(io.BytesIO(data)))
    frames_sought = []
    real_seek = animated.seek

    def seek(self, frame):
        frames_sought.append(frame)
        return real_seek(self, frame)

    monkeypatch.setattr(animated, "seek", seek)
    decoded = decode_image(data, draft_size=4)
    assert max(abs(got - want) for got, want in zip(decoded.getpixel((0, 0)), RED,
                                                    strict=True)) <= 8  # lossy WebP: nearly
    assert [frame for frame in frames_sought if frame != 0] == []


@pytest.mark.filterwarnings("ignore:Corrupt EXIF data")
def test_only_image_rejected_escapes_decoding_of_everything_above():
    """Every payload of this module, straight through decode_image: nothing but ApiError."""
    payloads = [*(data for data, _ in BOMBS.values()), *(d for d, _, _ in BROKEN.values()),
                *NAMED_FORMATS.values(), *OTHER_FORMATS.values(), *MALFORMED_EXIF.values(),
                *(data for data, _ in ODD_BUT_FINE.values())]
    for data in payloads:
        with contextlib.suppress(ApiError):
            decode_image(data, draft_size=32)
