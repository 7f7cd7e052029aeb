"""The camera: exposure, white balance, lens and sensor effects, and the final pixel size.

Users' photos come from phones and long lenses in every light, so the model must not rely on
clean colours or sharp edges. Each effect here is drawn from the image's own generator so the
same (seed, class, index) always develops to the same pixels.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
from PIL import Image, ImageChops, ImageEnhance, ImageFilter

JPEG_QUALITY = (55, 95)
NOISE_TILE = 256


def _luma(img: np.ndarray) -> np.ndarray:
    return img[..., 0] * 0.299 + img[..., 1] * 0.587 + img[..., 2] * 0.114


def light_falloff(rng: np.random.Generator, h: int, w: int) -> tuple[np.ndarray, float]:
    """Uneven light across the frame (cloud shadow, low sun): a linear ramp in any direction."""
    strength = float(rng.uniform(0.0, 0.3))
    ang = rng.uniform(0, 2 * math.pi)
    xs = np.linspace(-0.5, 0.5, w, dtype=np.float32)[None, :]
    ys = np.linspace(-0.5, 0.5, h, dtype=np.float32)[:, None]
    return 1.0 + strength * (math.cos(ang) * xs + math.sin(ang) * ys), strength


def vignette(rng: np.random.Generator, h: int, w: int) -> tuple[np.ndarray | float, float]:
    """Lens fall-off towards the corners."""
    strength = float(rng.uniform(0.0, 0.4)) if rng.random() < 0.6 else 0.0
    if strength == 0:
        return 1.0, 0.0
    xs = np.linspace(-1, 1, w, dtype=np.float32)[None, :]
    ys = np.linspace(-1, 1, h, dtype=np.float32)[:, None]
    return 1.0 - strength * 0.5 * (xs * xs + ys * ys), strength


def white_balance(rng: np.random.Generator) -> tuple[np.ndarray, float]:
    """Colour temperature (warm/cool) and a little green-magenta tint, as channel gains."""
    temp = float(rng.normal(0.0, 0.06))
    tint = float(rng.normal(0.0, 0.02))
    return np.array([1.0 + temp, 1.0 + tint, 1.0 - temp], np.float32), temp


def exposure(canvas: np.ndarray, gain_map, rng: np.random.Generator) -> tuple[float, float]:
    """Auto-exposure on the bright end of the scene, then a random error in stops."""
    g = gain_map[::4, ::4] if isinstance(gain_map, np.ndarray) else gain_map
    ref = float(np.percentile(_luma(canvas[::4, ::4]) * g, 97)) or 1.0
    ev = float(np.clip(rng.normal(0.0, 0.25), -0.7, 0.5))
    return float(rng.uniform(0.85, 1.02) / ref * 2.0**ev), ev


def tone_curve(image: Image.Image, rng: np.random.Generator) -> Image.Image:
    """Gamma, contrast and saturation as phones and editors apply them (lookup tables)."""
    x = np.linspace(0.0, 1.0, 256)
    y = x ** float(rng.uniform(0.85, 1.15))
    contrast = float(rng.uniform(-0.15, 0.25))
    y = np.clip(y + contrast * y * (1 - y) * (2 * y - 1) * 2, 0, 1)
    lut = (y * 255 + 0.5).astype(np.uint8).tolist()
    image = image.point(lut * 3)
    return ImageEnhance.Color(image).enhance(float(rng.uniform(0.75, 1.25)))


def motion_blur(arr: np.ndarray, length: int, angle: float) -> np.ndarray:
    """Average of shifted copies along a line: camera shake or a moving subject."""
    acc = np.zeros(arr.shape, np.float32)
    h, w = arr.shape[:2]
    for k in range(length):
        t = k - (length - 1) / 2
        dx, dy = int(round(t * math.cos(angle))), int(round(t * math.sin(angle)))
        src = arr[max(0, -dy) : h - max(0, dy), max(0, -dx) : w - max(0, dx)]
        pad = ((max(0, dy), max(0, -dy)), (max(0, dx), max(0, -dx)), (0, 0))
        acc += np.pad(src, pad, mode="edge")
    return acc / length


def lens(image: Image.Image, rng: np.random.Generator) -> dict:
    """Defocus, motion blur or in-camera sharpening, at the working resolution."""
    r = rng.random()
    params = {"defocus": 0.0, "motion": 0, "sharpen": 0.0}
    if r < 0.35:
        radius = float(rng.uniform(0.4, 2.0))
        image = image.filter(ImageFilter.BoxBlur(radius))
        params["defocus"] = round(radius, 2)
    elif r < 0.45:
        length = int(rng.integers(3, 9))
        arr = motion_blur(np.asarray(image, np.float32), length, float(rng.uniform(0, math.pi)))
        image = Image.fromarray(np.clip(arr + 0.5, 0, 255).astype(np.uint8))
        params["motion"] = length
    elif r < 0.7:
        k = float(rng.uniform(0.2, 0.8))
        kernel = [0, -k, 0, -k, 1 + 4 * k, -k, 0, -k, 0]
        image = image.filter(ImageFilter.Kernel((3, 3), kernel, scale=1.0))
        params["sharpen"] = round(k, 2)
    return {"image": image, **params}


@lru_cache(maxsize=4)
def _noise_tile(level: int) -> Image.Image:
    """A fixed tile of sensor noise, centred on 128, shared by every image in a process.

    Drawing fresh Gaussian noise for a 1600-pixel photo costs more than rendering the scene;
    a random offset into a fixed tile looks the same, and it is identical in every class, so
    it cannot become a label cue.
    """
    rng = np.random.default_rng(9000 + level)
    sigma = (2.0, 4.5, 8.0)[level]
    size = NOISE_TILE
    lum = rng.standard_normal((size, size, 1)) * sigma
    chroma = rng.standard_normal((size // 2, size // 2, 3)) * sigma * 0.5
    chroma = np.repeat(np.repeat(chroma, 2, axis=0), 2, axis=1)
    return Image.fromarray(np.clip(128 + lum + chroma + 0.5, 0, 255).astype(np.uint8))


def sensor_noise(image: Image.Image, rng: np.random.Generator) -> tuple[Image.Image, int]:
    """Add luminance grain and blotchy chroma noise at the final pixel size."""
    level = int(rng.integers(-1, 3))
    if level < 0:
        return image, -1
    w, h = image.size
    tile = _noise_tile(level)
    ox, oy = int(rng.integers(NOISE_TILE)), int(rng.integers(NOISE_TILE))
    noise = Image.new("RGB", (w, h))
    for y in range(-oy, h, NOISE_TILE):
        for x in range(-ox, w, NOISE_TILE):
            noise.paste(tile, (x, y))
    return ImageChops.add(image, noise, scale=1.0, offset=-128), level


def develop(
    canvas: np.ndarray, rng: np.random.Generator, size: tuple[int, int]
) -> tuple[Image.Image, dict]:
    """Turn the float scene into the photo a user would upload, at its final pixel size."""
    h, w = canvas.shape[:2]
    ramp, ramp_k = light_falloff(rng, h, w)
    vig, vig_k = vignette(rng, h, w)
    wb, temp = white_balance(rng)
    gain_map = ramp * vig
    gain, ev = exposure(canvas, gain_map, rng)
    img = np.multiply(canvas, (gain_map * (255.0 * gain))[..., None] + 0.0, dtype=np.float32)
    img *= wb
    np.clip(img, 0, 255, out=img)
    image = Image.fromarray(img.astype(np.uint8))
    image = tone_curve(image, rng)
    blur = lens(image, rng)
    image = blur.pop("image")
    # A photo upsampled a lot is soft anyway: its grain is added before the resize, where it
    # costs a fraction and looks like the blotchy noise of a denoised phone picture.
    early = max(size) > 1.6 * max(image.size)
    if early:
        image, noise = sensor_noise(image, rng)
    if image.size != size:
        image = image.resize(size, Image.BILINEAR)
    if not early:
        image, noise = sensor_noise(image, rng)
    info = {
        "light_ramp": round(ramp_k, 3),
        "color_temp": round(temp, 3),
        "exposure_ev": round(ev, 3),
        "vignette": round(vig_k, 3),
        "blur": blur,
        "noise_level": noise,
        "jpeg_quality": int(rng.integers(JPEG_QUALITY[0], JPEG_QUALITY[1] + 1)),
    }
    return image, info
