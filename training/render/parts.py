"""The thin parts of a penguin: flippers, bill, feet, tail and crest plumes.

Each is a flat shape placed in 3-D around the body model and projected for the bird's yaw,
returned as local-space polygons plus what the drawing code needs (which side of the body it
is on, which edge trails). Keeping the geometry here leaves `penguin.py` with the pixels.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from .pose import FOOT_Y, Pose

if TYPE_CHECKING:
    from .penguin import Penguin

SHOULDER_Y = 0.29
CAMERA_ELEVATION = 0.3  # how much ground-plane depth shows as image height (feet, tail)


def lateral(yaw: float, side: int) -> np.ndarray:
    """Camera-space unit vector out of the bird's flank on `side` (-1 or +1)."""
    return np.array([side * math.cos(yaw), 0.0, -side * math.sin(yaw)])


def flipper(bird: Penguin, pose: Pose, tab, side: int) -> dict:
    """A flipper hinged at the shoulder, raised and swung in 3-D, then projected.

    The trailing edge is worked out from the projection so that the pale edge of the outer
    surface ends up at the back of the flipper whatever the yaw.
    """
    yaw = pose.yaw
    k = 0 if side < 0 else 1
    fwd = np.array([math.sin(yaw), 0.0, math.cos(yaw)])
    lat = lateral(yaw, side)
    rho, beta = pose.raise_[k], pose.swing[k]
    d3 = math.cos(rho) * np.array([0.0, 1.0, 0.0]) + math.sin(rho) * lat
    d3 = math.cos(beta) * d3 + math.sin(beta) * fwd
    d2 = d3[:2]
    n2 = float(np.hypot(*d2)) or 1e-6
    sx, sy, sz = bird.surface_point(tab, SHOULDER_Y, side * 1.45)
    axis = bird.axis_x(tab, SHOULDER_Y)
    sx = axis + 0.85 * (sx - axis)
    length = bird.sp.flipper_len * max(0.45, n2)
    face = abs(lat[2]) * math.cos(rho) + 0.6 * math.sin(rho)
    width = 0.052 * float(np.clip(0.45 + face, 0.45, 1.0))
    d = d2 / n2
    perp = np.array([-d[1], d[0]])
    back2 = -fwd[:2]
    trail = 1.0 if float(back2 @ perp) >= 0 else -1.0
    if abs(float(back2 @ perp)) < 0.2:
        trail = 1.0 if float(perp[0] * side) > 0 else -1.0
    base = np.array([sx, sy])
    poly = [
        base + perp * width * 1.2,
        base - perp * width * 1.2,
        base + d * length - perp * width * 0.6,
        base + d * length + perp * width * 0.6,
    ]
    return {
        "kind": "flipper",
        "base": base,
        "dir": d,
        "perp": perp,
        "len": length,
        "width": width,
        "trail": trail,
        "inner": pose.inner[k],
        "front": sz > -0.05,
        "poly": [tuple(q) for q in poly],
    }


def bill_polys(bird: Penguin, pose: Pose, tab):
    """Bill outline and its accent (ridge, mandible stripe or base) as local polygons."""
    sp = bird.sp
    yaw = pose.yaw
    bx, by, _ = bird.surface_point(tab, bird.bill_y, 0.0)
    cx = bird.axis_x(tab, bird.bill_y)
    bx = cx + 0.9 * (bx - cx)
    drop = sp.bill_drop
    tip = np.array(
        [bx + sp.bill_len * math.sin(yaw) * math.cos(drop), by + sp.bill_len * math.sin(drop)]
    )
    lat = sp.bill_w * abs(math.cos(yaw))
    angles = np.linspace(0, 2 * math.pi, 16, endpoint=False)
    base = np.stack([bx + lat * np.cos(angles), by + sp.bill_h * np.sin(angles)], -1)
    outline = hull(np.vstack([base, tip[None]]))
    accents = []
    b = np.array([bx, by])
    if sp.accent_part == "ridge":
        accents.append([tuple(b + (0, -sp.bill_h)), tuple(tip), tuple(b + (0, -sp.bill_h * 0.35))])
        accents.append(hull(np.vstack([b + 0.8 * (base - b) * 0.3 + 0.75 * (tip - b), tip[None]])))
    elif sp.accent_part == "lower":
        accents.append(
            [
                tuple(b + (0, sp.bill_h * 0.15)),
                tuple(b + (0, sp.bill_h)),
                tuple(b + 0.85 * (tip - b) + (0, sp.bill_h * 0.05)),
            ]
        )
    elif sp.accent_part == "base":
        accents.append(hull(np.vstack([base, (b + 0.3 * (tip - b))[None]])))
    mouth = [tuple(b + (0, sp.bill_h * 0.05)), tuple(tip), tuple(b + (0, sp.bill_h * 0.2))]
    return [outline], accents, mouth


def feet(bird: Penguin, pose: Pose, tab) -> list[dict]:
    """Two webbed feet lying on the ground plane, toes turned slightly out."""
    yaw = pose.yaw
    c, s = math.cos(yaw), math.sin(yaw)
    shape = np.array(
        [
            (-0.02, 0),
            (-0.036, 0.066),
            (-0.024, 0.058),
            (-0.012, 0.074),
            (0.0, 0.062),
            (0.012, 0.074),
            (0.024, 0.058),
            (0.036, 0.066),
            (0.02, 0),
        ],
        np.float32,
    )
    cx = bird.axis_x(tab, 0.9)
    parts = []
    for side in (-1, 1):
        turn = side * 0.3
        ct, st = math.cos(turn), math.sin(turn)
        lat = shape[:, 0] * ct + shape[:, 1] * st + side * 0.048
        fwd = -shape[:, 0] * st + shape[:, 1] * ct + 0.01
        x = cx + lat * c + fwd * s
        z = -lat * s + fwd * c
        y = FOOT_Y - 0.012 + z * CAMERA_ELEVATION
        depth = side * -s
        parts.append(
            {
                "kind": "foot",
                "poly": list(zip(x.tolist(), y.tolist(), strict=True)),
                "depth": depth,
            }
        )
    return parts


def tail(bird: Penguin, pose: Pose, tab) -> dict:
    """The stiff tail wedge that props the bird up behind; hidden in a front view."""
    x0, y0, _ = bird.surface_point(tab, 0.8, math.pi)
    x1, y1, _ = bird.surface_point(tab, 0.93, math.pi)
    back = -math.sin(pose.yaw)
    tip = (x1 + back * 0.075, 1.0)
    return {"kind": "tail", "poly": [(x0, y0), (x1 + back * 0.02, y1), tip]}


def crest(bird: Penguin, pose: Pose, tab, side: int) -> dict | None:
    """Yellow plumes behind the eye of crested species (rockhopper, macaroni)."""
    if bird.sp.crest is None:
        return None
    start_t = bird.p.get("brow_start", 0.5)
    t0 = side * (bird.sp.eye_t + 0.35)
    x0, y0, z0 = bird.surface_point(tab, bird.sp.eye_y - 0.018, t0)
    fwd = np.array([math.sin(pose.yaw), 0.0, math.cos(pose.yaw)])
    lat = lateral(pose.yaw, side)
    polys = []
    for k in range(5):
        d3 = -fwd * (0.8 + 0.1 * k) + lat * (0.5 + 0.12 * k) + np.array([0, -0.35 + 0.18 * k, 0])
        d2 = d3[:2] / (np.linalg.norm(d3) or 1.0)
        length = 0.05 + 0.008 * k + (0.02 if start_t < 0.3 else 0.0)
        base = np.array([x0, y0 + 0.004 * k])
        perp = np.array([-d2[1], d2[0]]) * 0.004
        polys.append([tuple(base + perp), tuple(base - perp), tuple(base + d2 * length)])
    flat = [q for poly in polys for q in poly]
    return {"kind": "crest", "polys": polys, "poly": flat, "front": z0 > -0.1}


def all_parts(bird: Penguin, pose: Pose, tab) -> list[dict]:
    """Every thin part the pose shows; a swimming bird's flippers and feet are under water."""
    parts: list[dict] = []
    if pose.waterline is None:
        parts += [flipper(bird, pose, tab, -1), flipper(bird, pose, tab, 1)]
    if pose.feet and pose.waterline is None:
        parts += feet(bird, pose, tab)
        parts.append(tail(bird, pose, tab))
    for side in (-1, 1):
        plume = crest(bird, pose, tab, side)
        if plume is not None:
            parts.append(plume)
    outline, _, _ = bill_polys(bird, pose, tab)
    parts.append({"kind": "bill", "poly": outline[0]})
    return parts


def hull(points: np.ndarray) -> list[tuple[float, float]]:
    """Convex hull (monotone chain); the bill outline seen from any angle."""
    pts = sorted({(round(float(x), 6), round(float(y), 6)) for x, y in points})
    if len(pts) < 3:
        return pts

    def cross(o, a, b):
        return (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0])

    lower: list = []
    for p in pts:
        while len(lower) >= 2 and cross(lower[-2], lower[-1], p) <= 0:
            lower.pop()
        lower.append(p)
    upper: list = []
    for p in reversed(pts):
        while len(upper) >= 2 and cross(upper[-2], upper[-1], p) <= 0:
            upper.pop()
        upper.append(p)
    return lower[:-1] + upper[:-1]
