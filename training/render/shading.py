"""Turning albedo plus surface normals into lit colour.

A plain Lambert term makes black plumage read as a flat cut-out; the sky-fill, sheen and rim
terms are what make a dark back look like feathers in daylight.
"""

from __future__ import annotations

import numpy as np

from .raster import Light


def shade(
    albedo: np.ndarray,
    nx: np.ndarray,
    ny: np.ndarray,
    nz: np.ndarray,
    light: Light,
    gloss: np.ndarray | float = 0.0,
    rim: float = 0.0,
) -> np.ndarray:
    """Lit colour for a surface with unit normals (camera space, y down, z towards the viewer).

    `gloss` (0..1) adds a broad sheen as on wet or oily feathers; `rim` adds the bright
    silhouette edge of back- or side-lit subjects.
    """
    lx, ly, lz = light.direction
    lambert = np.clip(nx * lx + ny * ly + nz * lz, 0.0, 1.0)
    # Soft light wraps further around the body than the sun does.
    wrap = light.softness
    diffuse = (lambert + wrap * 0.5) / (1.0 + wrap * 0.5)
    sky = 0.62 + 0.38 * np.clip(-ny, -1.0, 1.0)
    sun = np.asarray(light.sun, np.float32)
    amb = np.asarray(light.ambient, np.float32)
    lit = albedo * (sky[..., None] * amb + diffuse[..., None] * sun)
    # Half-vector sheen towards a camera on +z.
    hx, hy, hz = lx, ly, lz + 1.0
    hn = np.sqrt(hx * hx + hy * hy + hz * hz) or 1.0
    spec = np.clip((nx * hx + ny * hy + nz * hz) / hn, 0.0, 1.0) ** 12
    if np.any(gloss):
        lit += (0.22 * (1.0 - 0.6 * wrap) * gloss * spec)[..., None] * sun
    if rim > 0:
        edge = np.clip(1.0 - nz, 0.0, 1.0) ** 3
        lit += (rim * edge)[..., None] * (sun * 0.5 + amb * 0.5)
    return lit
