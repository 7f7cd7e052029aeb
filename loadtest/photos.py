"""The photos the load test uploads: a fixed, deterministic pool generated once and cached.

Real clients send camera and phone photos, a few hundred KB to a few MB, 640 to 4000 px, mostly
JPEG with some PNG. Decoding and resizing such files is a real part of the service's cost, so
the load test must send files like them, not thumbnails. The pool is rendered with the
training renderer (so some photos hold penguins and some do not), upscaled to the target sizes,
given a little sensor-like grain (an upscaled render is so smooth that it would compress to a
fraction of a real photo's size) and encoded with Pillow. The same specs always give the same
bytes, so runs are comparable; the pool is cached on disk keyed by its specs, so only the first
run on a machine pays the few seconds it takes.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

from PIL import Image, ImageChops

POOL_VERSION = 1
SEED = 2024
CACHE_ENV = "LOADTEST_CACHE"
GRAIN_SIGMA = 7.0  # grey levels of noise: mild, like a phone sensor in daylight


@dataclass(frozen=True)
class PhotoSpec:
    """One photo of the pool: what to render and how to encode it."""

    label: str
    index: int
    long_side: int
    fmt: str  # "JPEG" or "PNG"
    quality: int = 90  # JPEG only

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


def default_cache_dir() -> Path:
    return Path(os.environ.get(CACHE_ENV) or Path(tempfile.gettempdir()) / "penguin-loadtest")


def pool_key(specs: tuple[PhotoSpec, ...]) -> str:
    """A digest of everything that decides the bytes: a changed spec gives a fresh cache."""
    from training.render.compose import GENERATOR_VERSION

    payload = json.dumps([POOL_VERSION, SEED, GRAIN_SIGMA, GENERATOR_VERSION,
                          [asdict(spec) for spec in specs]])
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def render_photo(spec: PhotoSpec) -> Photo:
    """Render, upscale, add grain and encode one photo; deterministic for a given spec."""
    from training.render.compose import render_image

    image, _info = render_image(spec.label, SEED, spec.index)
    scale = spec.long_side / max(image.size)
    size = (round(image.width * scale), round(image.height * scale))
    image = image.convert("RGB").resize(size, Image.Resampling.BICUBIC)
    image = add_grain(image, spec.index)
    buffer = io.BytesIO()
    if spec.fmt == "JPEG":
        image.save(buffer, format="JPEG", quality=spec.quality)
    else:
        image.save(buffer, format="PNG", compress_level=6)
    return Photo(spec.filename, spec.content_type, buffer.getvalue(), *image.size)


def add_grain(image: Image.Image, seed: int) -> Image.Image:
    """Grey sensor-like noise, from a small tile repeated with an offset (fast at 12 MP).

    Pillow's noise generator is not seedable, so the tile is drawn from a seeded pattern
    instead: a deterministic pseudo-random tile via a hash of the seed.
    """
    tile_size = 257  # prime, so the repetition does not line up with JPEG's 8x8 blocks
    digest = hashlib.shake_256(f"grain-{seed}".encode()).digest(tile_size * tile_size)
    # Bytes are uniform on 0..255; centre and scale them to roughly GRAIN_SIGMA.
    levels = bytes(max(0, min(255, 128 + round((b - 127.5) * GRAIN_SIGMA / 73.6))) for b in digest)
    tile = Image.frombytes("L", (tile_size, tile_size), levels)
    noise = Image.new("L", image.size)
    for top in range(0, image.height, tile_size):
        for left in range(0, image.width, tile_size):
            noise.paste(tile, (left, top))
    return ImageChops.add(image, Image.merge("RGB", (noise, noise, noise)), scale=1.0,
                          offset=-128)


def load_pool(cache_dir: Path | None = None,
              specs: tuple[PhotoSpec, ...] = POOL) -> list[Photo]:
    """The pool's photos, from the cache when it holds these specs, else rendered into it."""
    root = (cache_dir or default_cache_dir()) / pool_key(specs)
    manifest = root / "manifest.json"
    if not manifest.exists():
        _generate_into(root, specs)
    entries = json.loads(manifest.read_text())
    return [Photo(entry["filename"], entry["content_type"], (root / entry["filename"]).read_bytes(),
                  entry["width"], entry["height"]) for entry in entries]


def _generate_into(root: Path, specs: tuple[PhotoSpec, ...]) -> None:
    """Render into a scratch folder renamed into place, so concurrent runs never see half a pool."""
    root.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(dir=root.parent, prefix=f".{root.name}-"))
    try:
        entries = []
        for spec in specs:
            photo = render_photo(spec)
            (scratch / photo.filename).write_bytes(photo.data)
            entries.append({"filename": photo.filename, "content_type": photo.content_type,
                            "width": photo.width, "height": photo.height,
                            "bytes": len(photo.data)})
        (scratch / "manifest.json").write_text(json.dumps(entries, indent=1))
        try:
            scratch.rename(root)
        except OSError:  # another process finished first: its pool is identical
            if not (root / "manifest.json").exists():
                raise
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def describe_pool(photos: list[Photo]) -> str:
    """One line per photo, for the run's log and the summary."""
    return "\n".join(f"{p.filename:32} {p.width}x{p.height:<5} {len(p.data) / 1e6:6.2f} MB"
                     for p in photos)


if __name__ == "__main__":
    print(describe_pool(load_pool()))
