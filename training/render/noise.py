"""Smooth random fields: the raw material of every texture in the renderer.

Fields are built from small random grids upsampled by Pillow, because a bicubic resize in C is
far cheaper than any per-pixel Python noise, and a few octaves of it are enough to read as
snow drifts, rock grain or cloud.
"""

from __future__ import annotations

import numpy as np
from PIL import Image


def upsample(grid: np.ndarray, height: int, width: int) -> np.ndarray:
    """Resize a 2-D float grid with bicubic interpolation (Pillow's 'F' mode keeps floats)."""
    img = Image.fromarray(np.ascontiguousarray(grid, dtype=np.float32), mode="F")
    return np.asarray(img.resize((width, height), Image.BICUBIC), dtype=np.float32)


def fbm(
    rng: np.random.Generator,
    height: int,
    width: int,
    cells: tuple[float, float] = (4, 4),
    octaves: int = 4,
    persistence: float = 0.5,
) -> np.ndarray:
    """Fractal noise with roughly zero mean and unit spread.

    `cells` is the number of grid cells of the coarsest octave along (y, x); unequal cells give
    anisotropic texture such as wave streaks or wind-blown snow. Octaves are summed on a small
    pyramid and only the finished field is resized to full size, so the cost is one resize.
    """
    cy, cx = cells
    gy = max(2, int(round(cy)) + 2)
    gx = max(2, int(round(cx)) + 2)
    field = rng.standard_normal((gy, gx), dtype=np.float32)
    amp = 1.0
    for _ in range(octaves - 1):
        if gy * 2 > height * 2 or gx * 2 > width * 2:
            break
        gy, gx = gy * 2, gx * 2
        amp *= persistence
        field = upsample(field, gy, gx) + amp * rng.standard_normal((gy, gx), dtype=np.float32)
    total = upsample(field, height, width)
    std = float(total.std()) or 1.0
    return (total - float(total.mean())) / std


def grain(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """Cheap per-pixel noise in [-1, 1] with a triangular distribution.

    Two uniforms are much cheaper to draw than a Gaussian and look the same at pixel scale.
    """
    a = rng.random((height, width), dtype=np.float32)
    b = rng.random((height, width), dtype=np.float32)
    return a - b


def fbm_small(
    rng: np.random.Generator, height: int, width: int, factor: int = 4, **kw
) -> np.ndarray:
    """fbm computed at 1/factor resolution and upsampled: for fields with no fine detail."""
    h = max(4, height // factor)
    w = max(4, width // factor)
    return upsample(fbm(rng, h, w, **kw), height, width)


def periodic_noise(rng: np.random.Generator, size: int, falloff: float = 1.0) -> np.ndarray:
    """Tileable noise (unit spread) made by shaping white noise in the Fourier domain.

    Textures fixed to a body are looked up modulo the tile size, so the tile must wrap
    without a seam.
    """
    white = rng.standard_normal((size, size))
    f = np.fft.fftfreq(size)
    radius = np.sqrt(f[:, None] ** 2 + f[None, :] ** 2)
    radius[0, 0] = 1.0
    field = np.real(np.fft.ifft2(np.fft.fft2(white) / radius**falloff))
    field -= field.mean()
    return (field / (field.std() or 1.0)).astype(np.float32)


def hash_noise(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Deterministic pseudo-random value in [0, 1) for each integer lattice cell (a, b).

    Used for speckles and spots, which need per-cell randomness that stays attached to the
    surface coordinates rather than to pixels.
    """
    v = np.sin(a * 12.9898 + b * 78.233) * 43758.5453
    return v - np.floor(v)
