"""Flat Pillow drawings turned into shaded, anti-aliased sprites on the float canvas.

Seals, people, boats and rocks are drawn as plain polygons because that is quick to write and
to run; what keeps them from looking like clip-art is the shading applied afterwards: a light
gradient from the sun's side and darkening towards the silhouette, computed from a blurred
copy of the alpha mask as a stand-in for surface curvature.
"""

from __future__ import annotations

import math

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from .noise import fbm_small
from .raster import Box, Light, blend, clip_box

SUPERSAMPLE = 2


def _rgb8(color) -> tuple[int, int, int]:
    c = np.clip(np.asarray(color, np.float32), 0.0, 1.0)
    return tuple(int(v * 255 + 0.5) for v in c)


class Pen:
    """Draws in canvas coordinates onto a supersampled RGBA layer covering one box."""

    def __init__(self, box: Box):
        self.box = box
        x0, y0, x1, y1 = box
        x1, y1 = max(x1, x0 + 1), max(y1, y0 + 1)
        self.box = (x0, y0, x1, y1)
        size = ((x1 - x0) * SUPERSAMPLE, (y1 - y0) * SUPERSAMPLE)
        self.layer = Image.new("RGBA", size, (0, 0, 0, 0))
        self.draw = ImageDraw.Draw(self.layer)

    def _map(self, pts) -> list[tuple[float, float]]:
        x0, y0 = self.box[0], self.box[1]
        return [((x - x0) * SUPERSAMPLE, (y - y0) * SUPERSAMPLE) for x, y in pts]

    def polygon(self, pts, color) -> None:
        if len(pts) >= 3:
            self.draw.polygon(self._map(pts), fill=_rgb8(color) + (255,))

    def ellipse(self, cx, cy, rx, ry, color, angle: float = 0.0, n: int = 28) -> None:
        t = np.linspace(0, 2 * math.pi, n, endpoint=False)
        ex, ey = rx * np.cos(t), ry * np.sin(t)
        c, s = math.cos(angle), math.sin(angle)
        self.polygon(list(zip(cx + c * ex - s * ey, cy + s * ex + c * ey, strict=True)), color)

    def line(self, pts, color, width: float) -> None:
        w = max(1, int(round(width * SUPERSAMPLE)))
        self.draw.line(self._map(pts), fill=_rgb8(color) + (255,), width=w, joint="curve")


def stamp(
    canvas: np.ndarray,
    pen: Pen,
    light: Light,
    volume: float = 0.45,
    opacity: float = 1.0,
    texture: float = 0.0,
    rng=None,
) -> Box | None:
    """Shade the pen's layer and composite it; returns the drawn box clipped to the canvas."""
    h, w = canvas.shape[:2]
    x0, y0, x1, y1 = pen.box
    small = pen.layer.reduce(SUPERSAMPLE)
    arr = np.asarray(small, np.float32) / 255.0
    alpha = arr[..., 3]
    if not np.any(alpha > 0):
        return None
    bw, bh = x1 - x0, y1 - y0
    radius = max(1.0, 0.08 * min(bw, bh))
    inner = (
        np.asarray(small.getchannel("A").filter(ImageFilter.GaussianBlur(radius)), np.float32)
        / 255.0
    )
    lx, ly, _ = light.direction
    gx = np.arange(bw, dtype=np.float32)[None, :] / max(bw, 1) - 0.5
    gy = np.arange(bh, dtype=np.float32)[:, None] / max(bh, 1) - 0.5
    side = 1.0 + (1.0 - light.softness * 0.6) * 0.35 * (gx * lx * 2 + gy * ly * 1.2 - 0.1)
    sky = np.asarray(light.ambient, np.float32) * 1.1 + np.asarray(light.sun, np.float32) * 0.55
    body = (1.0 - volume) + volume * np.clip(inner * 1.6, 0.0, 1.0)
    shading = side * body
    if texture > 0 and rng is not None:  # surface grain so large areas are not flat colour
        shading = shading * (1.0 + texture * fbm_small(rng, bh, bw, factor=3, cells=(6, 6)))
    color = arr[..., :3] * shading[..., None] * sky
    box = clip_box(pen.box, w, h)
    if box is None:
        return None
    cx0, cy0, cx1, cy1 = box
    sl = (slice(cy0 - y0, cy1 - y0), slice(cx0 - x0, cx1 - x0))
    blend(canvas, box, color[sl], alpha[sl] * opacity)
    return box
