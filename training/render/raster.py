"""Drawing primitives on a float RGB canvas (H x W x 3, values about 0..1).

The scene is kept in float32 until the camera stage so that layered shading, light and
exposure changes do not band the way repeated uint8 rounding would.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw

Box = tuple[int, int, int, int]  # x0, y0, x1, y1 (x1, y1 exclusive)


@dataclass(frozen=True)
class Light:
    """One scene-wide light so that penguins, objects and shadows agree on where the sun is."""

    direction: tuple[float, float, float]  # unit vector towards the light; y points down
    sun: tuple[float, float, float]  # direct light colour and strength
    ambient: tuple[float, float, float]  # sky fill light
    softness: float  # 0 = hard sun, 1 = overcast

    @property
    def shadow_offset(self) -> tuple[float, float]:
        """Horizontal direction in which cast shadows fall, away from the light."""
        lx, _, lz = self.direction
        return (-lx, 0.35 * (1.0 - abs(lz)))


def clip_box(box: Box, width: int, height: int) -> Box | None:
    x0, y0, x1, y1 = box
    x0, y0 = max(0, x0), max(0, y0)
    x1, y1 = min(width, x1), min(height, y1)
    if x1 <= x0 or y1 <= y0:
        return None
    return (x0, y0, x1, y1)


def pixel_grid(box: Box) -> tuple[np.ndarray, np.ndarray]:
    """Pixel-centre coordinates of a box as broadcastable (column, row) arrays."""
    x0, y0, x1, y1 = box
    xs = np.arange(x0, x1, dtype=np.float32)[None, :] + 0.5
    ys = np.arange(y0, y1, dtype=np.float32)[:, None] + 0.5
    return xs, ys


def blend(canvas: np.ndarray, box: Box, color: np.ndarray, alpha: np.ndarray) -> None:
    """Alpha-composite `color` (h x w x 3 or 3) with coverage `alpha` (h x w) into canvas."""
    x0, y0, x1, y1 = box
    region = canvas[y0:y1, x0:x1]
    a = alpha[..., None]
    region *= 1.0 - a
    region += a * color


def coverage(
    polygons: list[list[tuple[float, float]]], box: Box, supersample: int = 3
) -> np.ndarray:
    """Anti-aliased coverage (0..1) of polygons in canvas coordinates, restricted to box.

    Pillow polygons are aliased, so they are drawn `supersample` times larger and box-filtered
    down: the cheapest way to get smooth outlines for small shapes such as bills and feet.
    """
    x0, y0, x1, y1 = box
    w, h = (x1 - x0) * supersample, (y1 - y0) * supersample
    mask = Image.new("L", (w, h), 0)
    draw = ImageDraw.Draw(mask)
    for poly in polygons:
        if len(poly) < 3:
            continue
        pts = [((px - x0) * supersample, (py - y0) * supersample) for px, py in poly]
        draw.polygon(pts, fill=255)
    small = mask.reduce(supersample) if supersample > 1 else mask
    return np.asarray(small, np.float32) / 255.0


def points_box(points: np.ndarray, pad: float = 2.0) -> Box:
    """Integer bounding box of an (n, 2) point array, padded for anti-aliasing."""
    x0 = int(np.floor(points[:, 0].min() - pad))
    y0 = int(np.floor(points[:, 1].min() - pad))
    x1 = int(np.ceil(points[:, 0].max() + pad))
    y1 = int(np.ceil(points[:, 1].max() + pad))
    return (x0, y0, x1, y1)


def soft(dist_px: np.ndarray, width: float = 1.0) -> np.ndarray:
    """Coverage from a signed distance in pixels (positive inside): a ~1 px anti-aliased edge."""
    return np.clip(dist_px / width + 0.5, 0.0, 1.0)


def smoothstep(e0: float, e1: float, x: np.ndarray) -> np.ndarray:
    t = np.clip((x - e0) / (e1 - e0), 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


def soft_ellipse(
    canvas: np.ndarray,
    cx: float,
    cy: float,
    rx: float,
    ry: float,
    color,
    opacity: float,
    feather: float = 0.5,
) -> None:
    """Blurry dark/light blob: used for contact shadows and glows.

    `feather` is the fraction of the radius over which the blob fades to nothing.
    """
    h, w = canvas.shape[:2]
    box = clip_box((int(cx - rx) - 1, int(cy - ry) - 1, int(cx + rx) + 2, int(cy + ry) + 2), w, h)
    if box is None or rx < 0.5 or ry < 0.5:
        return
    xs, ys = pixel_grid(box)
    d = np.sqrt(((xs - cx) / rx) ** 2 + ((ys - cy) / ry) ** 2)
    alpha = opacity * smoothstep(1.0, 1.0 - max(feather, 1e-3), d)
    blend(canvas, box, np.asarray(color, np.float32), alpha.astype(np.float32))


def rotate(points: np.ndarray, angle: float) -> np.ndarray:
    c, s = np.cos(angle), np.sin(angle)
    return points @ np.array([[c, s], [-s, c]], np.float32)
