"""The photos the load harnesses upload: deterministic sets, generated once and cached.

Real clients send camera and phone photos, a few hundred KB to a few MB, 640 to 4000 px, mostly
JPEG with some PNG. Decoding and resizing such files is a real part of the service's cost, so
the harnesses must send files like them, not thumbnails. Every photo is rendered with the
training renderer (so some hold penguins and some do not), upscaled to its size, given a little
sensor-like grain (an upscaled render is so smooth that it would compress to a fraction of a real
photo's size) and encoded with Pillow, at a fixed JPEG quality or at the one whose file size
comes closest to a target. The same specs always give the same bytes, so runs are comparable;
each set is cached on disk keyed by its specs, so only the first run on a machine pays for it.

Two sets: `POOL`, the Locust load test's (640 to 4000 px, some PNG), and `BENCH_SET`, the speed
benchmark's (24 JPEGs, 640 to 1600 px, 60 to 400 KB).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import random
import shutil
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

from PIL import Image

SET_VERSION = 2
CACHE_ENV = "LOADTEST_CACHE"
GRAIN_SIGMA = 7.0  # grey levels of noise: mild, like a phone sensor in daylight
LABELS = ("Adelie", "Chinstrap", "Gentoo", "no_penguin")


@dataclass(frozen=True)
class PhotoSpec:
    """One photo of a set: what to render and how to encode it."""

    label: str
    index: int
    long_side: int
    fmt: str = "JPEG"  # or "PNG"
    quality: int = 90  # JPEG, unless target_kb is given
    target_kb: int | None = None  # JPEG: encode at the quality whose size comes closest
    seed: int = 2024  # the renderer's seed; with `index`, which scene is rendered

    @property
    def filename(self) -> str:
        ext = "jpg" if self.fmt == "JPEG" else "png"
        return f"{self.label}-{self.index}-{self.long_side}px.{ext}"

    @property
    def content_type(self) -> str:
        return "image/jpeg" if self.fmt == "JPEG" else "image/png"


@dataclass(frozen=True)
class Photo:
    """An encoded photo ready to upload."""

    filename: str
    content_type: str
    data: bytes
    width: int
    height: int
    quality: int | None = None  # the JPEG quality it was encoded at

    @property
    def kb(self) -> float:
        return len(self.data) / 1000


# Mostly JPEG across the whole size range, some PNG (whose files grow fast: kept <= 1280 px so
# every file stays under the service's 10 MiB upload limit). Labels cycle so the answers vary.
POOL: tuple[PhotoSpec, ...] = (
    PhotoSpec("Adelie", 0, 640, "JPEG", 95),
    PhotoSpec("Chinstrap", 1, 1024, "JPEG", 92),
    PhotoSpec("Gentoo", 2, 1280, "JPEG", 92),
    PhotoSpec("no_penguin", 3, 1600, "JPEG", 90),
    PhotoSpec("Adelie", 4, 2048, "JPEG", 90),
    PhotoSpec("Chinstrap", 5, 2560, "JPEG", 90),
    PhotoSpec("Gentoo", 6, 3000, "JPEG", 90),
    PhotoSpec("Adelie", 7, 4000, "JPEG", 90),
    PhotoSpec("Gentoo", 8, 4000, "JPEG", 92),
    PhotoSpec("Chinstrap", 9, 640, "PNG"),
    PhotoSpec("no_penguin", 10, 800, "PNG"),
    PhotoSpec("Gentoo", 11, 1024, "PNG"),
)


def bench_set(count: int = 24, *, seed: int = 31, sides: tuple[int, int] = (640, 1600),
              target_kb: tuple[int, int] = (64, 390)) -> tuple[PhotoSpec, ...]:
    """Sizes spread over the whole range; the file size grows with the pixel count, loosely
    (targets aimed inside the 60 to 400 KB the benchmark's issue asks for)."""
    rng = random.Random(seed)
    specs = []
    for index in range(count):
        share = index / max(1, count - 1)
        long_side = round(sides[0] + (sides[1] - sides[0]) * share)
        low, high = max(0.0, share - 0.35), min(1.0, share + 0.35)
        target = round(target_kb[0] + (target_kb[1] - target_kb[0]) * rng.uniform(low, high))
        specs.append(PhotoSpec(LABELS[index % len(LABELS)], index, long_side,
                               target_kb=target, seed=seed))
    return tuple(specs)


BENCH_SET = bench_set()


def default_cache_dir() -> Path:
    return Path(os.environ.get(CACHE_ENV) or Path(tempfile.gettempdir()) / "penguin-loadtest")


def set_key(specs: tuple[PhotoSpec, ...]) -> str:
    """A digest of everything that decides the bytes: a changed spec gives a fresh cache."""
    from training.render.compose import GENERATOR_VERSION

    payload = json.dumps([SET_VERSION, GRAIN_SIGMA, GENERATOR_VERSION,
                          [asdict(spec) for spec in specs]])
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def set_folder(specs: tuple[PhotoSpec, ...], cache_dir: Path | None = None) -> Path:
    """Where the set's files are cached (filled by `load_photos`)."""
    return (cache_dir or default_cache_dir()) / f"photos-{set_key(specs)}"


def render_photo(spec: PhotoSpec) -> Photo:
    """Render, upscale, add grain and encode one photo; deterministic for a given spec."""
    from training.render.compose import render_image

    image, _info = render_image(spec.label, spec.seed, spec.index)
    scale = spec.long_side / max(image.size)
    size = (round(image.width * scale), round(image.height * scale))
    image = add_grain(image.convert("RGB").resize(size, Image.Resampling.BICUBIC), spec)
    if spec.fmt == "PNG":
        return Photo(spec.filename, spec.content_type, _encode(image, "PNG"), *size)
    quality = spec.quality if spec.target_kb is None \
        else _closest_quality(image, spec.target_kb * 1000)
    return Photo(spec.filename, spec.content_type, _encode(image, "JPEG", quality), *size,
                 quality)


def add_grain(image: Image.Image, spec: PhotoSpec) -> Image.Image:
    """Grey-level Gaussian noise, seeded by the spec, as a phone sensor adds in daylight."""
    import numpy as np

    rng = np.random.default_rng([spec.seed, spec.index])
    noise = rng.normal(0.0, GRAIN_SIGMA, (image.height, image.width, 1))
    pixels = np.clip(np.asarray(image, dtype=np.float32) + noise, 0, 255).astype(np.uint8)
    return Image.fromarray(pixels)


def _encode(image: Image.Image, fmt: str, quality: int = 90) -> bytes:
    buffer = io.BytesIO()
    if fmt == "JPEG":
        image.save(buffer, format="JPEG", quality=quality)
    else:
        image.save(buffer, format="PNG", compress_level=6)
    return buffer.getvalue()


def _closest_quality(image: Image.Image, target_bytes: int) -> int:
    """Bisect the JPEG quality (file size grows with it) for the size nearest the target."""
    low, high = 20, 97
    best, best_size = high, len(_encode(image, "JPEG", high))
    while low <= high:
        middle = (low + high) // 2
        size = len(_encode(image, "JPEG", middle))
        if abs(size - target_bytes) < abs(best_size - target_bytes):
            best, best_size = middle, size
        if size < target_bytes:
            low = middle + 1
        else:
            high = middle - 1
    return best


def load_photos(specs: tuple[PhotoSpec, ...] = POOL,
                cache_dir: Path | None = None) -> list[Photo]:
    """The set's photos, from the cache when it holds these specs, else rendered into it."""
    root = set_folder(specs, cache_dir)
    manifest = root / "manifest.json"
    if not manifest.exists():
        _generate_into(root, specs)
    return [Photo(entry["filename"], entry["content_type"],
                  (root / entry["filename"]).read_bytes(), entry["width"], entry["height"],
                  entry.get("quality"))
            for entry in json.loads(manifest.read_text())]


def load_pool(cache_dir: Path | None = None) -> list[Photo]:
    """The Locust load test's photos."""
    return load_photos(POOL, cache_dir)


def _generate_into(root: Path, specs: tuple[PhotoSpec, ...]) -> None:
    """Render into a scratch folder renamed into place, so concurrent runs never see half a set."""
    root.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(dir=root.parent, prefix=f".{root.name}-"))
    try:
        entries = []
        for spec in specs:
            photo = render_photo(spec)
            (scratch / photo.filename).write_bytes(photo.data)
            entries.append({"filename": photo.filename, "content_type": photo.content_type,
                            "width": photo.width, "height": photo.height,
                            "quality": photo.quality, "bytes": len(photo.data)})
        (scratch / "manifest.json").write_text(json.dumps(entries, indent=1))
        try:
            scratch.rename(root)
        except OSError:  # another process finished first: its set is identical
            if not (root / "manifest.json").exists():
                raise
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def describe_pool(photos: list[Photo]) -> str:
    """One line per photo, for the run's log and the summary."""
    return "\n".join(f"{p.filename:32} {p.width}x{p.height:<5} {p.kb / 1000:6.2f} MB"
                     + (f"  q={p.quality}" if p.quality else "") for p in photos)


def summary(photos: list[Photo]) -> dict:
    """Counts and ranges of a set, for the benchmark's report."""
    sizes = [photo.kb for photo in photos]
    sides = [max(photo.width, photo.height) for photo in photos]
    return {"count": len(photos), "kb_min": round(min(sizes)), "kb_max": round(max(sizes)),
            "kb_mean": round(sum(sizes) / len(sizes)), "long_side_min": min(sides),
            "long_side_max": max(sides)}


if __name__ == "__main__":
    print(describe_pool(load_pool()))
