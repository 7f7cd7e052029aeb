"""Things that are not our three penguins: the content of the reject class, plus occluders.

These are what people really point the service at by mistake (seals, other birds, people in
parkas, boats, icebergs, flowers, pets) or what stands between the camera and a bird (rocks,
ice, snow banks). They share the sprite shading so that "drawn object" is not itself a cue
that separates them from the penguins.
"""

from __future__ import annotations

import math

import numpy as np

from .noise import fbm_small
from .raster import Box, Light, blend, clip_box, pixel_grid, soft_ellipse
from .sprite import Pen, stamp


def _box(cx: float, cy: float, half_w: float, half_h: float) -> Box:
    return (int(cx - half_w) - 2, int(cy - half_h) - 2, int(cx + half_w) + 3, int(cy + half_h) + 3)


def _jitter(rng, color, amount: float = 0.08):
    return np.clip(np.asarray(color) * rng.uniform(1 - amount, 1 + amount, 3), 0, 1)


def seal(canvas, rng, light: Light, cx: float, base_y: float, length: float) -> Box | None:
    """A seal lying on ice or a beach: long spindle body, small head, fore-flippers."""
    kind = rng.choice(["weddell", "crabeater", "elephant", "leopard", "fur"])
    colors = {
        "weddell": (0.3, 0.31, 0.33),
        "crabeater": (0.72, 0.66, 0.58),
        "elephant": (0.42, 0.35, 0.28),
        "leopard": (0.45, 0.47, 0.5),
        "fur": (0.35, 0.28, 0.22),
    }
    col = _jitter(rng, colors[kind])
    facing = rng.choice([-1, 1])
    thick = length * rng.uniform(0.18, 0.26)
    pen = Pen(_box(cx, base_y - thick, length * 0.62, thick * 1.4))
    t = np.linspace(0, 1, 24)
    top = base_y - thick * (0.2 + 0.8 * np.sin(np.pi * np.clip(t * 1.05, 0, 1)) ** 0.7)
    xs = cx + facing * (t - 0.5) * length
    body = list(zip(xs, top, strict=True)) + [
        (cx + facing * 0.5 * length, base_y),
        (cx - facing * 0.5 * length, base_y),
    ]
    pen.polygon(body, col)
    head_x = cx + facing * 0.5 * length
    head_r = thick * (0.55 if kind != "leopard" else 0.7)
    pen.ellipse(head_x, base_y - head_r * 0.9, head_r * 1.2, head_r * 0.85, col)
    pen.ellipse(
        head_x + facing * head_r * 0.9,
        base_y - head_r * 0.7,
        head_r * 0.45,
        head_r * 0.35,
        col * 0.8,
    )
    pen.ellipse(
        head_x + facing * head_r * 0.5,
        base_y - head_r * 1.2,
        head_r * 0.1,
        head_r * 0.1,
        (0.03, 0.03, 0.03),
    )
    tail_x = cx - facing * 0.5 * length
    pen.polygon(
        [
            (tail_x, base_y - thick * 0.3),
            (tail_x - facing * thick * 0.9, base_y - thick * 0.5),
            (tail_x - facing * thick * 0.8, base_y),
        ],
        col * 0.8,
    )
    fx = cx + facing * length * 0.22
    pen.polygon(
        [
            (fx, base_y - thick * 0.4),
            (fx + facing * thick * 0.6, base_y),
            (fx - facing * thick * 0.1, base_y),
        ],
        col * 0.75,
    )
    if kind in ("weddell", "leopard", "crabeater"):
        for _ in range(int(rng.integers(15, 45))):
            u = rng.uniform(0.1, 0.9)
            sx = cx + facing * (u - 0.5) * length
            sy = base_y - rng.uniform(0.1, 0.8) * thick
            r = thick * rng.uniform(0.04, 0.12)
            shade = rng.uniform(0.5, 1.6)
            pen.ellipse(sx, sy, r * 1.5, r, np.clip(col * shade, 0, 1), rng.uniform(0, 3))
    soft_ellipse(canvas, cx, base_y, length * 0.55, thick * 0.25, (0, 0, 0), 0.35, 0.7)
    return stamp(canvas, pen, light, volume=0.55, texture=0.08, rng=rng)


def person(canvas, rng, light: Light, cx: float, base_y: float, height: float) -> Box | None:
    """Someone in a parka: the commonest non-penguin subject of an Antarctic photo."""
    parka = _jitter(
        rng,
        [
            (0.85, 0.12, 0.1),
            (0.95, 0.45, 0.05),
            (0.95, 0.8, 0.1),
            (0.1, 0.25, 0.65),
            (0.15, 0.45, 0.2),
            (0.12, 0.12, 0.14),
            (0.9, 0.9, 0.9),
        ][rng.integers(7)],
    )
    trousers = _jitter(
        rng, [(0.08, 0.08, 0.1), (0.15, 0.15, 0.2), (0.3, 0.25, 0.2)][rng.integers(3)]
    )
    wd = height * rng.uniform(0.2, 0.28)
    pen = Pen(_box(cx, base_y - height / 2, wd * 1.4, height * 0.55))
    hip = base_y - height * 0.45
    sh = base_y - height * 0.8
    for side in (-1, 1):  # legs and boots
        pen.polygon(
            [
                (cx + side * wd * 0.05, hip),
                (cx + side * wd * 0.45, hip),
                (cx + side * wd * 0.4, base_y - height * 0.04),
                (cx + side * wd * 0.08, base_y - height * 0.04),
            ],
            trousers,
        )
        pen.ellipse(
            cx + side * wd * 0.27,
            base_y - height * 0.025,
            wd * 0.22,
            height * 0.03,
            (0.05, 0.05, 0.05),
        )
    pen.polygon(
        [
            (cx - wd * 0.5, sh),
            (cx + wd * 0.5, sh),
            (cx + wd * 0.58, hip + height * 0.08),
            (cx - wd * 0.58, hip + height * 0.08),
        ],
        parka,
    )
    for side in (-1, 1):  # arms
        pen.polygon(
            [
                (cx + side * wd * 0.42, sh),
                (cx + side * wd * 0.62, sh + height * 0.03),
                (cx + side * wd * 0.68, hip + height * 0.02),
                (cx + side * wd * 0.5, hip + height * 0.03),
            ],
            parka * 0.9,
        )
        pen.ellipse(
            cx + side * wd * 0.6, hip + height * 0.04, wd * 0.1, wd * 0.1, (0.08, 0.08, 0.08)
        )
    head_r = height * 0.075
    hy = sh - head_r * 0.9
    pen.ellipse(cx, hy, head_r * 1.35, head_r * 1.4, parka * 0.95)  # hood
    fur = rng.random() < 0.5
    pen.ellipse(
        cx,
        hy + head_r * 0.1,
        head_r * 0.95,
        head_r * 1.05,
        (0.75, 0.7, 0.6) if fur else parka * 0.7,
    )
    skin = _jitter(rng, [(0.9, 0.72, 0.6), (0.7, 0.5, 0.38), (0.45, 0.32, 0.24)][rng.integers(3)])
    pen.ellipse(cx, hy + head_r * 0.15, head_r * 0.7, head_r * 0.8, skin)
    if rng.random() < 0.6:  # sunglasses
        pen.ellipse(cx, hy, head_r * 0.6, head_r * 0.18, (0.05, 0.05, 0.06))
    if rng.random() < 0.4:  # backpack strap / camera
        pen.polygon(
            [
                (cx - wd * 0.15, sh + height * 0.1),
                (cx + wd * 0.15, sh + height * 0.1),
                (cx + wd * 0.15, sh + height * 0.18),
                (cx - wd * 0.15, sh + height * 0.18),
            ],
            (0.06, 0.06, 0.06),
        )
    soft_ellipse(canvas, cx, base_y, wd * 0.9, height * 0.03, (0, 0, 0), 0.35, 0.7)
    return stamp(canvas, pen, light, volume=0.4)


def iceberg(canvas, rng, light: Light, cx: float, base_y: float, width: float) -> Box | None:
    """Tabular or pinnacled berg with a lit and a shaded face, standing in water."""
    height = width * rng.uniform(0.2, 0.9)
    pen = Pen(_box(cx, base_y - height / 2, width * 0.55, height * 0.6 + 4))
    n = 9
    xs = np.linspace(cx - width / 2, cx + width / 2, n)
    tabular = rng.random() < 0.4
    prof = rng.uniform(0.55, 1.0, n) if not tabular else np.full(n, rng.uniform(0.85, 1.0))
    prof[0], prof[-1] = rng.uniform(0.0, 0.4), rng.uniform(0.0, 0.4)
    tops = base_y - height * prof
    poly = [(xs[0], base_y)] + list(zip(xs, tops, strict=True)) + [(xs[-1], base_y)]
    white = np.array([0.93, 0.96, 1.0])
    pen.polygon(poly, white)
    k = int(rng.integers(2, n - 2))
    lit_left = light.direction[0] < 0
    shade_pts = (
        [(xs[k], tops[k])]
        + list(zip(xs[k:], tops[k:], strict=True))
        + [(xs[-1], base_y), (xs[k], base_y)]
        if lit_left
        else list(zip(xs[: k + 1], tops[: k + 1], strict=True)) + [(xs[k], base_y), (xs[0], base_y)]
    )
    pen.polygon(shade_pts, np.array([0.55, 0.72, 0.88]) * rng.uniform(0.8, 1.05))
    pen.polygon(
        [
            (xs[0], base_y - 1),
            (xs[-1], base_y - 1),
            (xs[-1], base_y + height * 0.05),
            (xs[0], base_y + height * 0.05),
        ],
        (0.35, 0.6, 0.75),
    )
    return stamp(canvas, pen, light, volume=0.2, texture=0.1, rng=rng)


def _gull_polygon(x: float, y: float, span: float, flap: float, facing: int):
    """Flying bird seen from below/side: an M of two bent wings around a small body."""
    s = span / 2
    return [
        (x - s, y - flap * s * 0.5),
        (x - s * 0.45, y - flap * s * 0.1 - s * 0.12),
        (x, y),
        (x + s * 0.45, y - flap * s * 0.1 - s * 0.12),
        (x + s, y - flap * s * 0.5),
        (x + s * 0.5, y + s * 0.02),
        (x + facing * s * 0.18, y + s * 0.12),
        (x - s * 0.5, y + s * 0.02),
    ]


def flying_birds(canvas, rng, light: Light, region: Box) -> Box | None:
    """Gulls, skuas or petrels in flight; a flock or a single bird filling the frame."""
    x0, y0, x1, y1 = region
    count = int(rng.choice([1, 1, 2, 3, 5, 9]))
    span_max = (x1 - x0) * (0.7 if count == 1 else 0.25)
    col = _jitter(
        rng,
        [(0.95, 0.95, 0.95), (0.35, 0.28, 0.22), (0.2, 0.2, 0.22), (0.7, 0.72, 0.75)][
            rng.integers(4)
        ],
    )
    pen = Pen((x0, y0, x1, y1))
    for _ in range(count):
        span = span_max * rng.uniform(0.4, 1.0)
        x = rng.uniform(x0 + span / 2, max(x0 + span / 2 + 1, x1 - span / 2))
        y = rng.uniform(y0 + span / 3, max(y0 + span / 3 + 1, y1 - span / 3))
        facing = int(rng.choice([-1, 1]))
        pen.polygon(_gull_polygon(x, y, span, rng.uniform(-0.5, 1.0), facing), col)
        tips = col * 0.25 if rng.random() < 0.6 else col
        for side in (-1, 1):
            pen.ellipse(x + side * span * 0.46, y - span * 0.08, span * 0.06, span * 0.03, tips)
        pen.ellipse(x + facing * span * 0.1, y + span * 0.04, span * 0.07, span * 0.045, col)
    return stamp(canvas, pen, light, volume=0.3)


def standing_bird(canvas, rng, light: Light, cx: float, base_y: float, height: float) -> Box | None:
    """Gull, skua, sheathbill or shag on the ground.

    The shag (black back, white front, upright) is the hardest non-penguin and is kept common.
    """
    kind = rng.choice(["gull", "skua", "sheathbill", "shag", "shag"])
    facing = int(rng.choice([-1, 1]))
    body_c = {
        "gull": (0.95, 0.95, 0.95),
        "skua": (0.35, 0.27, 0.2),
        "sheathbill": (0.96, 0.96, 0.94),
        "shag": (0.95, 0.95, 0.93),
    }[kind]
    back_c = {
        "gull": (0.25, 0.25, 0.28),
        "skua": (0.28, 0.22, 0.17),
        "sheathbill": (0.9, 0.9, 0.88),
        "shag": (0.05, 0.06, 0.08),
    }[kind]
    upright = kind == "shag"
    w = height * (0.35 if upright else 0.55)
    pen = Pen(_box(cx, base_y - height / 2, w * 1.3, height * 0.6))
    by = base_y - height * (0.55 if upright else 0.45)
    pen.line(
        [(cx - w * 0.1, by), (cx - w * 0.12, base_y)],
        (0.8, 0.6, 0.3) if kind == "gull" else (0.15, 0.15, 0.15),
        max(1.0, height * 0.02),
    )
    pen.line(
        [(cx + w * 0.1, by), (cx + w * 0.12, base_y)],
        (0.8, 0.6, 0.3) if kind == "gull" else (0.15, 0.15, 0.15),
        max(1.0, height * 0.02),
    )
    angle = -facing * (1.2 if upright else 0.25)
    pen.ellipse(
        cx,
        by - height * 0.1,
        w * 0.55 if upright else w * 0.5,
        height * (0.3 if upright else 0.2),
        body_c,
        angle=angle * 0.2,
    )
    pen.ellipse(
        cx - facing * w * 0.15,
        by - height * 0.14,
        w * 0.35,
        height * 0.2 if upright else height * 0.13,
        back_c,
        angle=angle * 0.3,
    )
    head_y = base_y - height * (0.93 if upright else 0.8)
    head_x = cx + facing * w * (0.15 if upright else 0.35)
    neck_c = back_c if upright else body_c
    pen.line(
        [(cx + facing * w * 0.05, by - height * 0.25), (head_x, head_y)],
        neck_c,
        max(1.0, height * 0.07),
    )
    pen.ellipse(
        head_x, head_y, height * 0.07, height * 0.06, back_c if kind in ("shag", "skua") else body_c
    )
    bill_c = {
        "gull": (0.9, 0.8, 0.2),
        "skua": (0.1, 0.1, 0.1),
        "sheathbill": (0.8, 0.7, 0.5),
        "shag": (0.35, 0.3, 0.25),
    }[kind]
    pen.polygon(
        [
            (head_x + facing * height * 0.05, head_y - height * 0.015),
            (head_x + facing * height * 0.16, head_y + height * 0.01),
            (head_x + facing * height * 0.05, head_y + height * 0.025),
        ],
        bill_c,
    )
    if kind == "shag":
        pen.ellipse(
            head_x + facing * height * 0.03,
            head_y - height * 0.01,
            height * 0.015,
            height * 0.015,
            (0.2, 0.45, 0.9),
        )
    soft_ellipse(canvas, cx, base_y, w * 0.6, height * 0.03, (0, 0, 0), 0.35, 0.7)
    return stamp(canvas, pen, light, volume=0.45)


def boat(canvas, rng, light: Light, cx: float, base_y: float, width: float) -> Box | None:
    """Expedition ship, zodiac or yacht on the water."""
    kind = rng.choice(["ship", "zodiac", "yacht"])
    facing = int(rng.choice([-1, 1]))
    hull_c = _jitter(
        rng,
        [(0.75, 0.1, 0.1), (0.1, 0.1, 0.12), (0.92, 0.92, 0.92), (0.15, 0.2, 0.4)][rng.integers(4)],
    )
    hh = width * (0.12 if kind == "ship" else 0.16)
    pen = Pen(_box(cx, base_y - width * 0.35, width * 0.55, width * 0.42))
    bow = cx + facing * width / 2
    stern = cx - facing * width / 2
    pen.polygon(
        [
            (stern, base_y - hh),
            (bow + facing * width * 0.05, base_y - hh * 1.3),
            (bow - facing * width * 0.05, base_y),
            (stern, base_y),
        ],
        hull_c,
    )
    if kind == "ship":
        sup = width * rng.uniform(0.12, 0.22)
        pen.polygon(
            [
                (cx - width * 0.3, base_y - hh),
                (cx + width * 0.15, base_y - hh),
                (cx + width * 0.1, base_y - hh - sup),
                (cx - width * 0.28, base_y - hh - sup),
            ],
            (0.95, 0.95, 0.95),
        )
        for k in range(6):
            wx = cx - width * 0.26 + k * width * 0.065
            pen.ellipse(
                wx, base_y - hh - sup * 0.5, width * 0.012, width * 0.012, (0.1, 0.12, 0.15)
            )
        pen.polygon(
            [
                (cx - width * 0.12, base_y - hh - sup),
                (cx - width * 0.05, base_y - hh - sup),
                (cx - width * 0.06, base_y - hh - sup * 1.6),
                (cx - width * 0.11, base_y - hh - sup * 1.6),
            ],
            (0.8, 0.55, 0.1),
        )
    elif kind == "zodiac":
        pen.ellipse(cx, base_y - hh * 0.6, width * 0.5, hh * 0.6, (0.2, 0.2, 0.22))
        for k in range(int(rng.integers(1, 5))):
            px = cx - width * 0.3 + k * width * 0.15
            pen.ellipse(
                px, base_y - hh * 1.6, width * 0.05, hh * 0.9, _jitter(rng, (0.85, 0.2, 0.1), 0.3)
            )
            pen.ellipse(px, base_y - hh * 2.7, width * 0.03, width * 0.03, (0.1, 0.1, 0.1))
    else:
        pen.line(
            [(cx, base_y - hh), (cx, base_y - width * 0.75)], (0.8, 0.8, 0.8), max(1, width * 0.01)
        )
        pen.polygon(
            [
                (cx + facing * width * 0.02, base_y - width * 0.72),
                (cx + facing * width * 0.35, base_y - hh * 1.4),
                (cx + facing * width * 0.02, base_y - hh * 1.4),
            ],
            (0.95, 0.95, 0.93),
        )
    return stamp(canvas, pen, light, volume=0.2)


def boulder(
    canvas, rng, light: Light, cx: float, base_y: float, width: float, tone=None
) -> Box | None:
    """A rock with a lit top and a shaded side; also used to hide part of a bird."""
    height = width * rng.uniform(0.35, 0.8)
    tone = np.asarray(tone if tone is not None else (0.42, 0.41, 0.4), np.float32)
    tone = tone * rng.uniform(0.6, 1.3)
    pen = Pen(_box(cx, base_y - height / 2, width * 0.6, height * 0.6))
    k = int(rng.integers(6, 10))
    ang = np.sort(rng.uniform(math.pi, 2 * math.pi, k))
    rad = rng.uniform(0.75, 1.0, k)
    pts = (
        [(cx - width / 2, base_y)]
        + [
            (cx + width / 2 * r * math.cos(a), base_y + height * r * math.sin(a))
            for a, r in zip(ang, rad, strict=True)
        ]
        + [(cx + width / 2, base_y)]
    )
    pen.polygon(pts, tone)
    top = [(cx + (x - cx) * 0.7, base_y - height + (y - base_y + height) * 0.45) for x, y in pts]
    pen.polygon(top, np.clip(tone * 1.25, 0, 1))
    if rng.random() < 0.4:
        pen.polygon([(x, min(y, base_y - height * 0.75)) for x, y in top], (0.9, 0.92, 0.96))
    return stamp(canvas, pen, light, volume=0.5, texture=0.15, rng=rng)


def ice_chunk(canvas, rng, light: Light, cx: float, base_y: float, width: float) -> Box | None:
    return boulder(canvas, rng, light, cx, base_y, width, tone=(0.78, 0.88, 0.96))


def snow_bank(canvas, rng, light: Light, top_y: float, tone=(0.9, 0.93, 0.97)) -> Box | None:
    """A mound across the bottom of the frame, in front of everything else."""
    h, w = canvas.shape[:2]
    top_y = float(np.clip(top_y, 0.3 * h, h - 4))
    pen = Pen((0, int(top_y) - 2, w, h))
    xs = np.linspace(-5, w + 5, 12)
    ys = top_y + (h - top_y) * rng.uniform(0.0, 0.5, 12)
    pts = list(zip(xs, ys, strict=True)) + [(w + 5, h + 5), (-5, h + 5)]
    pen.polygon(pts, np.asarray(tone) * rng.uniform(0.9, 1.05))
    box = stamp(canvas, pen, light, volume=0.25)
    if box is not None:  # texture so the bank is not a flat colour
        x0, y0, x1, y1 = box
        tex = fbm_small(rng, y1 - y0, x1 - x0, factor=3, cells=(4, 8))
        canvas[y0:y1, x0:x1] *= (1.0 + 0.04 * tex)[..., None]
    return box


def flowers(canvas, rng, light: Light) -> Box | None:
    """Garden flowers on blurred leaves: close-ups people photograph and upload by mistake."""
    h, w = canvas.shape[:2]
    leaves = fbm_small(rng, h, w, factor=8, cells=(3, 4), octaves=3)
    green = np.array([0.12, 0.3, 0.12]) * rng.uniform(0.6, 1.4)
    canvas[:] = green * (1.0 + 0.4 * leaves[..., None])
    petal = _jitter(
        rng,
        [
            (0.98, 0.55, 0.2),
            (0.95, 0.3, 0.5),
            (0.98, 0.9, 0.2),
            (0.6, 0.3, 0.8),
            (0.95, 0.95, 0.95),
            (0.9, 0.1, 0.15),
        ][rng.integers(6)],
        0.1,
    )
    pen = Pen((0, 0, w, h))
    for _ in range(int(rng.integers(1, 5))):
        r = min(h, w) * rng.uniform(0.12, 0.4)
        x, y = rng.uniform(0.15, 0.85) * w, rng.uniform(0.15, 0.85) * h
        rings = int(rng.integers(1, 5))
        for ring in range(rings):
            rr = r * (1 - ring / (rings + 1))
            n = int(rng.integers(8, 18))
            for k in range(n):
                a = 2 * math.pi * k / n + ring * 0.3
                px, py = x + math.cos(a) * rr * 0.6, y + math.sin(a) * rr * 0.6
                pen.ellipse(px, py, rr * 0.42, rr * 0.16, petal * (0.8 + 0.1 * ring), angle=a)
        pen.ellipse(
            x, y, r * 0.18, r * 0.18, (0.6, 0.45, 0.1) if rng.random() < 0.6 else petal * 0.7
        )
    return stamp(canvas, pen, light, volume=0.35)


def animal(canvas, rng, light: Light, cx: float, base_y: float, width: float) -> Box | None:
    """A four-legged mammal (big cat, dog, sheep, fox): blobby but clearly not a bird."""
    kind = rng.choice(["cat", "dog", "sheep", "fox"])
    col = _jitter(
        rng,
        {
            "cat": (0.72, 0.7, 0.66),
            "dog": (0.5, 0.38, 0.26),
            "sheep": (0.88, 0.86, 0.8),
            "fox": (0.7, 0.42, 0.2),
        }[kind],
    )
    facing = int(rng.choice([-1, 1]))
    body_h = width * rng.uniform(0.26, 0.36)
    leg = width * rng.uniform(0.18, 0.3)
    pen = Pen(
        _box(
            cx,
            base_y - (body_h + leg) / 2 - width * 0.1,
            width * 0.75,
            (body_h + leg) * 0.8 + width * 0.15,
        )
    )
    top = base_y - leg - body_h
    for fx in (-0.32, -0.2, 0.22, 0.34):
        x = cx + fx * width
        pen.polygon(
            [
                (x - width * 0.045, top + body_h * 0.6),
                (x + width * 0.045, top + body_h * 0.6),
                (x + width * 0.03, base_y),
                (x - width * 0.03, base_y),
            ],
            col * 0.8,
        )
    pen.ellipse(cx, top + body_h / 2, width * 0.42, body_h / 2, col)
    neck_x = cx + facing * width * 0.36
    hx = cx + facing * width * 0.5
    hy = top - body_h * 0.1
    pen.line([(neck_x, top + body_h * 0.4), (hx, hy)], col, width * 0.14)
    pen.ellipse(hx, hy, width * 0.1, width * 0.085, col)
    pen.ellipse(
        hx + facing * width * 0.09,
        hy + width * 0.03,
        width * 0.07,
        width * 0.045,
        np.clip(col * 1.1, 0, 1),
    )
    pen.ellipse(
        hx + facing * width * 0.155,
        hy + width * 0.02,
        width * 0.018,
        width * 0.015,
        (0.05, 0.05, 0.05),
    )
    for e in (-0.5, 0.5):
        ex = hx + e * width * 0.08
        pen.polygon(
            [
                (ex - width * 0.03, hy - width * 0.05),
                (ex + width * 0.03, hy - width * 0.05),
                (ex, hy - width * 0.13),
            ],
            col * 0.75,
        )
    pen.ellipse(
        hx + facing * width * 0.04,
        hy - width * 0.015,
        width * 0.014,
        width * 0.014,
        (0.05, 0.05, 0.05),
    )
    pen.line(
        [
            (cx - facing * width * 0.4, top + body_h * 0.3),
            (cx - facing * width * 0.62, top + body_h * rng.uniform(-0.3, 1.2)),
        ],
        col * 0.85,
        max(1, width * 0.05),
    )
    if kind == "cat":
        for _ in range(40):
            pen.ellipse(
                cx + rng.uniform(-0.38, 0.38) * width,
                top + rng.uniform(0.1, 0.9) * body_h,
                width * 0.02,
                width * 0.015,
                (0.2, 0.2, 0.2),
            )
    soft_ellipse(canvas, cx, base_y, width * 0.5, width * 0.04, (0, 0, 0), 0.35, 0.7)
    return stamp(canvas, pen, light, volume=0.5, texture=0.12, rng=rng)


def shapes(canvas, rng, light: Light) -> Box | None:
    """Abstract shapes and stripes: anything-goes content the service must also reject."""
    h, w = canvas.shape[:2]
    pen = Pen((0, 0, w, h))
    for _ in range(int(rng.integers(2, 9))):
        col = rng.random(3)
        x, y = rng.random() * w, rng.random() * h
        r = min(h, w) * rng.uniform(0.05, 0.3)
        k = rng.integers(3)
        if k == 0:
            pen.ellipse(x, y, r, r * rng.uniform(0.4, 1.0), col, angle=rng.uniform(0, 3))
        elif k == 1:
            pen.polygon(
                [
                    (x, y),
                    (x + r * 2, y),
                    (x + r * 2, y + r * rng.uniform(0.3, 2)),
                    (x, y + r * rng.uniform(0.3, 2)),
                ],
                col,
            )
        else:
            pen.line(
                [(x, y), (x + rng.uniform(-2, 2) * r, y + rng.uniform(-2, 2) * r)],
                col,
                r * rng.uniform(0.05, 0.3),
            )
    return stamp(canvas, pen, light, volume=0.2)


def water_ripples(canvas: np.ndarray, cx: float, cy: float, rx: float, light: Light) -> None:
    """Bright and dark rings where a swimming bird breaks the surface."""
    h, w = canvas.shape[:2]
    box = clip_box(_box(cx, cy, rx * 1.3, rx * 0.35), w, h)
    if box is None:
        return
    xs, ys = pixel_grid(box)
    d = np.sqrt(((xs - cx) / rx) ** 2 + ((ys - cy) / (rx * 0.22)) ** 2)
    ring = np.clip(1.0 - np.abs(d - 1.0) * 4, 0, 1) * 0.35 + np.clip(1 - d, 0, 1) * 0.15
    blend(canvas, box, np.array([0.8, 0.85, 0.9], np.float32), ring.astype(np.float32))
