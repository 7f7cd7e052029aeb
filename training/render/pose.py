"""How a bird stands and where it is placed on the canvas.

Kept apart from the drawing code so that layouts can reason about poses and placements
(bounding boxes, crops, groups) without touching pixels.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

FOOT_Y = 0.972  # local height of the soles: the default anchor that stands on the ground


@dataclass(frozen=True)
class Pose:
    """How the bird stands: yaw 0 faces the camera, +pi/2 is a profile facing image-right."""

    yaw: float
    angle: float = 0.0  # in-plane rotation: lean, or ~pi/2 for a bird lying on its belly
    raise_: tuple[float, float] = (0.15, 0.15)  # flipper abduction for sides (-1, +1)
    swing: tuple[float, float] = (0.0, 0.0)  # flipper swing forward (+) / back (-)
    inner: tuple[bool, bool] = (False, False)  # flipper shows its pale underside
    waterline: float | None = None  # local height below which the bird is under water
    feet: bool = True

    @property
    def facing(self) -> str:
        a = abs(self.yaw)
        if a < 0.35:
            return "front"
        side = "right" if self.yaw > 0 else "left"
        return side if a > 1.15 else f"three_quarter_{side}"


@dataclass(frozen=True)
class Frame:
    """Placement of the bird's local frame (height 1, y down) on the canvas."""

    x: float
    y: float
    scale: float  # pixels per body height
    angle: float
    anchor: tuple[float, float] = (0.0, FOOT_Y)

    def to_canvas(self, pts: np.ndarray) -> np.ndarray:
        c, s = math.cos(self.angle), math.sin(self.angle)
        lx = pts[..., 0] - self.anchor[0]
        ly = pts[..., 1] - self.anchor[1]
        return np.stack(
            [self.x + self.scale * (c * lx - s * ly), self.y + self.scale * (s * lx + c * ly)], -1
        )

    def to_local(self, xs: np.ndarray, ys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        c, s = math.cos(self.angle), math.sin(self.angle)
        dx = (xs - self.x) / self.scale
        dy = (ys - self.y) / self.scale
        return c * dx + s * dy + self.anchor[0], -s * dx + c * dy + self.anchor[1]

    def rotate_normal(self, nx: np.ndarray, ny: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        c, s = math.cos(self.angle), math.sin(self.angle)
        return c * nx - s * ny, s * nx + c * ny


def random_pose(rng: np.random.Generator, kind: str = "standing") -> Pose:
    """A plausible posture; the mix follows what photographers usually catch."""
    r = rng.random()
    if kind in ("lying", "swimming"):
        yaw = float(rng.choice([-1, 1]) * rng.uniform(0.9, 1.57))
    elif r < 0.35:
        yaw = float(rng.normal(0, 0.15))
    elif r < 0.7:
        yaw = float(rng.choice([-1, 1]) * rng.uniform(1.2, 1.57))
    else:
        yaw = float(rng.choice([-1, 1]) * rng.uniform(0.4, 1.15))
    raised = rng.random() < 0.25

    def flip() -> float:
        return float(rng.uniform(0.6, 1.5) if raised else rng.uniform(0.05, 0.35))

    raise_ = (flip(), flip())
    swing = (float(rng.uniform(-0.5, 0.25)), float(rng.uniform(-0.5, 0.25)))
    inner = (bool(rng.random() < 0.2), bool(rng.random() < 0.2))
    angle = float(rng.normal(0, 0.06))
    waterline = None
    if kind == "lying":
        angle = math.copysign(float(rng.uniform(1.2, 1.5)), yaw)
        raise_ = (float(rng.uniform(0.1, 0.4)), float(rng.uniform(0.1, 0.4)))
        swing = (float(rng.uniform(-0.2, 0.2)), float(rng.uniform(-0.2, 0.2)))
        inner = (False, False)
    elif kind == "swimming":
        angle = float(rng.normal(0, 0.1))
        waterline = float(rng.uniform(0.24, 0.42))
    elif kind == "portrait":
        angle = float(rng.normal(0, 0.08))
        raise_ = (float(rng.uniform(0.05, 0.25)), float(rng.uniform(0.05, 0.25)))
        inner = (False, False)
    return Pose(yaw=yaw, angle=angle, raise_=raise_, swing=swing, inner=inner, waterline=waterline)
