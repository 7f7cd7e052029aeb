"""The benchmark's uploads: photo-like JPEGs, 640 to 1600 px and 60 to 400 KB, deterministic.

Rendered with the training renderer (penguins of each species and scenes without one), upscaled
to the target size, given sensor-like grain (an upscaled render is so smooth that it would
compress far below a real photo's size) and encoded at the JPEG quality that comes closest to the
target file size. Same inputs, same bytes; cached on disk keyed by everything that decides them.
"""

from __future__ import annotations

import hashlib
import io
import json
import random
from dataclasses import asdict, dataclass
from pathlib import Path

from PIL import Image

VERSION = 1
SEED = 31
COUNT = 24
LABELS = ("Adelie", "Chinstrap", "Gentoo", "no_penguin")
SIDES = (640, 1600)
TARGET_KB = (64, 390)  # aimed inside the 60 to 400 KB of the issue
GRAIN_SIGMA = 6.0


@dataclass(frozen=True)
class PhotoSpec:
    label: str
    index: int
    long_side: int
    target_kb: int


@dataclass(frozen=True)
class Photo:
    name: str
    data: bytes
    width: int
    height: int
    quality: int

    @property
    def kb(self) -> float:
        return len(self.data) / 1000


def specs(count: int = COUNT) -> list[PhotoSpec]:
    """Sizes spread over the whole range; the file size grows with the pixel count, loosely."""
    rng = random.Random(SEED)
    out = []
    for index in range(count):
        share = index / max(1, count - 1)
        long_side = round(SIDES[0] + (SIDES[1] - SIDES[0]) * share)
        low, high = max(0.0, share - 0.35), min(1.0, share + 0.35)
        target = round(TARGET_KB[0] + (TARGET_KB[1] - TARGET_KB[0]) * rng.uniform(low, high))
        out.append(PhotoSpec(LABELS[index % len(LABELS)], index, long_side, target))
    return out


def render(spec: PhotoSpec) -> Photo:
    import numpy as np

    from training.render.compose import render_image

    image, _info = render_image(spec.label, SEED, spec.index)
    scale = spec.long_side / max(image.size)
    size = (round(image.width * scale), round(image.height * scale))
    image = image.convert("RGB").resize(size, Image.Resampling.BICUBIC)
    rng = np.random.default_rng([SEED, spec.index])
    noise = rng.normal(0.0, GRAIN_SIGMA, (size[1], size[0], 1))
    pixels = np.clip(np.asarray(image, dtype=np.float32) + noise, 0, 255).astype(np.uint8)
    image = Image.fromarray(pixels)
    quality, data = _closest_quality(image, spec.target_kb * 1000)
    return Photo(f"{spec.index:02d}-{spec.label}-{size[0]}x{size[1]}.jpg", data, *size, quality)


def _closest_quality(image: Image.Image, target_bytes: int) -> tuple[int, bytes]:
    """Bisect the JPEG quality (file size grows with it) for the size nearest the target."""
    def encode(quality: int) -> bytes:
        buffer = io.BytesIO()
        image.save(buffer, format="JPEG", quality=quality)
        return buffer.getvalue()

    low, high = 20, 97
    best = (high, encode(high))
    while low <= high:
        middle = (low + high) // 2
        data = encode(middle)
        if abs(len(data) - target_bytes) < abs(len(best[1]) - target_bytes):
            best = (middle, data)
        if len(data) < target_bytes:
            low = middle + 1
        else:
            high = middle - 1
    return best


def cache_key(items: list[PhotoSpec]) -> str:
    from training.render.compose import GENERATOR_VERSION

    payload = json.dumps([VERSION, SEED, GRAIN_SIGMA, GENERATOR_VERSION,
                          [asdict(spec) for spec in items]])
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def load_photos(cache_root: Path, count: int = COUNT) -> list[Photo]:
    """The photos, from `cache_root` when it holds this exact set, else rendered into it."""
    items = specs(count)
    folder = cache_root / f"photos-{cache_key(items)}"
    manifest = folder / "manifest.json"
    if not manifest.exists():
        folder.mkdir(parents=True, exist_ok=True)
        entries = []
        for spec in items:
            photo = render(spec)
            (folder / photo.name).write_bytes(photo.data)
            entries.append({"name": photo.name, "width": photo.width, "height": photo.height,
                            "quality": photo.quality})
        manifest.write_text(json.dumps(entries, indent=1))
    return [Photo(entry["name"], (folder / entry["name"]).read_bytes(), entry["width"],
                  entry["height"], entry["quality"])
            for entry in json.loads(manifest.read_text())]


def describe(photos: list[Photo]) -> dict:
    sizes = [photo.kb for photo in photos]
    sides = [max(photo.width, photo.height) for photo in photos]
    return {"count": len(photos), "kb_min": round(min(sizes)), "kb_max": round(max(sizes)),
            "kb_mean": round(sum(sizes) / len(sizes)), "long_side_min": min(sides),
            "long_side_max": max(sides)}


if __name__ == "__main__":
    import sys
    for photo in load_photos(Path(sys.argv[1] if len(sys.argv) > 1 else "/tmp/bench-photos")):
        print(f"{photo.name:36} {photo.kb:6.0f} KB  q={photo.quality}")
