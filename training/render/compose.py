"""One photograph per (label, seed, index): what is in it, where, and how it was taken.

The layouts follow what real penguin photos look like: a bird standing on snow or rock, a few
birds at different distances, a head-and-shoulders portrait, a bird lying on the ice, birds
swimming with only head and back above water. The reject class uses the same layouts with
penguins of other species, and the same backgrounds with other subjects or none.
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
from PIL import Image

from . import objects
from .camera import develop
from .penguin import Penguin
from .pose import FOOT_Y, Frame, Pose, random_pose
from .raster import Box, clip_box, soft_ellipse
from .scene import Scene, compose_background
from .species import OTHERS, TARGETS, Species

CLASSES = ("Adelie", "Chinstrap", "Gentoo", "no_penguin")
GENERATOR_VERSION = "penguin-render 1.0"
MIN_FRACTION = 0.15  # smallest joint bounding box of the birds, as a share of the frame
WORK_MAX = 600  # longest side the scene is drawn at; larger photos are upsampled by the camera
ASPECTS = ((4, 3), (3, 2), (16, 9), (1, 1), (3, 4), (2, 3), (9, 16), (5, 4))
ASPECT_P = (0.26, 0.2, 0.12, 0.12, 0.12, 0.08, 0.04, 0.06)
LAYOUTS = ("single", "group", "portrait", "lying", "swimming")
LAYOUT_P = (0.46, 0.2, 0.2, 0.06, 0.08)
REJECTS = (
    "other_penguin",
    "empty",
    "seal",
    "person",
    "iceberg",
    "flying_birds",
    "standing_bird",
    "boat",
    "rocks",
    "flowers",
    "animal",
    "shapes",
)
REJECT_P = (0.2, 0.12, 0.1, 0.1, 0.08, 0.05, 0.09, 0.06, 0.05, 0.04, 0.06, 0.05)


def photo_size(rng: np.random.Generator) -> tuple[int, int]:
    """Final (width, height): 320..1600 px per side, common camera and phone aspect ratios."""
    aw, ah = ASPECTS[rng.choice(len(ASPECTS), p=ASPECT_P)]
    ratio = max(aw, ah) / min(aw, ah)
    long_side = math.exp(rng.uniform(math.log(420), math.log(1600)))
    long_side = min(1600, max(long_side, 320 * ratio))
    short_side = max(320, round(long_side / ratio))
    long_side = round(long_side)
    return (long_side, short_side) if aw >= ah else (short_side, long_side)


class Shot:
    """The canvas being composed plus the record of what went into it."""

    def __init__(self, rng: np.random.Generator, size: tuple[int, int]):
        self.rng = rng
        self.size = size
        k = min(1.0, WORK_MAX / max(size))
        self.w, self.h = max(64, round(size[0] * k)), max(64, round(size[1] * k))
        self.scene: Scene | None = None
        self.birds: list[dict] = []
        self.info: dict = {"occluded": False, "cropped": False}

    @property
    def canvas(self) -> np.ndarray:
        return self.scene.image

    def background(self, ground: str | None = None, blur: float = 0.0) -> Scene:
        self.scene = compose_background(self.rng, self.h, self.w, ground=ground, blur=blur)
        return self.scene

    def record(self, bird: Penguin, pose: Pose, frame: Frame, drawn: dict) -> None:
        self.birds.append(
            {
                "species": bird.sp.name,
                "pose": pose.facing,
                "box": drawn["box"],
                "head_box": drawn["head_box"],
                "scale": frame.scale,
            }
        )


# --- placing birds ---------------------------------------------------------------------------


def _extent(bird: Penguin, pose: Pose, scale: float, angle: float, anchor) -> np.ndarray:
    """Canvas-space bounds (left, up, right, down) of the bird around its anchor point."""
    pts = Frame(0.0, 0.0, scale, angle, anchor).to_canvas(bird.outline(pose))
    return np.array([-pts[:, 0].min(), -pts[:, 1].min(), pts[:, 0].max(), pts[:, 1].max()])


def _scale_for_fraction(bird: Penguin, pose: Pose, fraction: float, w: int, h: int) -> float:
    """Pixels per body height so that the bird's bounding box covers `fraction` of the frame."""
    left, up, right, down = _extent(bird, pose, 1.0, pose.angle, (0.0, FOOT_Y))
    area = (left + right) * (up + down)
    scale = math.sqrt(fraction * w * h / max(area, 1e-6))
    return min(scale, 0.95 * h / (up + down), 0.98 * w / (left + right))


def _pick(rng, lo: float, hi: float) -> float:
    return float(rng.uniform(lo, hi)) if hi > lo else float((lo + hi) / 2)


def place_standing(shot: Shot, bird: Penguin, pose: Pose, scale: float, crop: bool) -> Frame:
    """Feet on the ground below the horizon, whole bird in frame unless a crop is wanted."""
    rng, w, h = shot.rng, shot.w, shot.h
    left, up, right, down = _extent(bird, pose, scale, pose.angle, (0.0, FOOT_Y))
    horizon = shot.scene.horizon
    x = _pick(rng, left, w - right)
    lower, upper = max(up, horizon + 0.04 * h), h - down
    y = _pick(rng, lower, upper) if lower <= upper else upper
    if crop:
        # Cut off by a frame edge, but keep most of the bird (and so its head) in the picture:
        # a label is only fair if the field marks can still be seen.
        side = rng.integers(3)
        cut = (left + right) * rng.uniform(0.1, 0.4)
        if side == 0:
            x = left - cut
        elif side == 1:
            x = w - right + cut
        else:
            y = h - down + (up + down) * rng.uniform(0.1, 0.35)
        shot.info["cropped"] = True
    return Frame(x, y, scale, pose.angle)


def draw_bird(shot: Shot, bird: Penguin, pose: Pose, frame: Frame) -> dict:
    bird.contact_shadow(shot.canvas, pose, frame, shot.scene.light)
    drawn = bird.draw(shot.canvas, pose, frame, shot.scene.light)
    shot.record(bird, pose, frame, drawn)
    return drawn


def layout_single(shot: Shot, species: Species) -> None:
    rng = shot.rng
    shot.background()
    bird = Penguin(species, rng)
    pose = random_pose(rng)
    scale = _scale_for_fraction(bird, pose, float(rng.uniform(0.18, 0.9)), shot.w, shot.h)
    frame = place_standing(shot, bird, pose, scale, crop=rng.random() < 0.15)
    background_clutter(shot)
    drawn = draw_bird(shot, bird, pose, frame)
    if rng.random() < 0.2:
        occlude(shot, drawn["box"])


def layout_group(shot: Shot, species: Species) -> None:
    """2-6 birds at different distances: farther ones smaller and higher in the frame."""
    rng = shot.rng
    shot.background(
        ground=str(
            rng.choice(
                ["snow", "rock", "pebbles", "ice", "sand", "grass"],
                p=[0.35, 0.2, 0.15, 0.12, 0.1, 0.08],
            )
        )
    )
    background_clutter(shot)
    n = int(rng.integers(2, 7))
    horizon = shot.scene.horizon
    near = shot.h * rng.uniform(0.35, 0.8)
    birds = []
    for _ in range(n):
        depth = rng.uniform(0.25, 1.0)
        feet = horizon + (shot.h - horizon) * depth * rng.uniform(0.85, 1.05)
        size = near * (depth if horizon > 0 else rng.uniform(0.55, 1.0))
        birds.append((feet, size))
    frames = []
    for feet, size in sorted(birds):
        bird = Penguin(species, rng)
        pose = random_pose(rng)
        x = float(rng.uniform(-0.05, 1.05) * shot.w)
        frames.append((bird, pose, Frame(x, float(feet), float(size), pose.angle)))
    for bird, pose, frame in enlarge_to_minimum(shot, frames):
        draw_bird(shot, bird, pose, frame)
    if rng.random() < 0.15:
        occlude(shot, shot.birds[-1]["box"])


def layout_portrait(shot: Shot, species: Species) -> None:
    """Head and shoulders filling the frame: the field marks are the subject."""
    rng = shot.rng
    shot.background(blur=float(rng.uniform(1.5, 6.0)))
    bird = Penguin(species, rng)
    pose = random_pose(rng, "portrait")
    scale = shot.h * float(rng.uniform(1.4, 3.2))
    head = (0.0, 0.1)
    frame = Frame(
        float(shot.w * rng.uniform(0.3, 0.7)),
        float(shot.h * rng.uniform(0.2, 0.42)),
        scale,
        pose.angle,
        head,
    )
    drawn = bird.draw(shot.canvas, pose, frame, shot.scene.light)
    shot.record(bird, pose, frame, drawn)
    shot.info["cropped"] = True


def layout_lying(shot: Shot, species: Species) -> None:
    rng = shot.rng
    shot.background(ground=str(rng.choice(["snow", "ice", "snow", "pebbles"])))
    bird = Penguin(species, rng)
    pose = random_pose(rng, "lying")
    scale = _scale_for_fraction(bird, pose, float(rng.uniform(0.15, 0.6)), shot.w, shot.h)
    frame = place_standing(shot, bird, pose, scale, crop=False)
    background_clutter(shot)
    draw_bird(shot, bird, pose, frame)


def layout_swimming(shot: Shot, species: Species) -> None:
    """Birds on the water: head and back above the surface, ripples around them."""
    rng = shot.rng
    shot.background(ground="sea")
    n = int(rng.choice([1, 1, 2, 3, 4, 6]))
    horizon = shot.scene.horizon
    near = shot.h * rng.uniform(0.9, 2.2) / (1 if n == 1 else 1.6)
    spots = sorted(horizon + (shot.h - horizon) * rng.uniform(0.3, 1.0, n))
    frames = []
    for y in spots:
        bird = Penguin(species, rng)
        pose = random_pose(rng, "swimming")
        depth = (y - horizon) / max(1, shot.h - horizon)
        scale = near * (depth if horizon > 0 else rng.uniform(0.6, 1.0))
        x = float(rng.uniform(0.05, 0.95) * shot.w)
        frames.append(
            (bird, pose, Frame(x, float(y), float(scale), pose.angle, (0.0, pose.waterline)))
        )
    for bird, pose, frame in enlarge_to_minimum(shot, frames):
        scale, y = frame.scale, frame.y
        back = -math.copysign(1.0, pose.yaw) * 0.22 * scale
        lit = np.asarray(bird.p["back"], np.float32) * 1.6 + 0.02
        soft_ellipse(shot.canvas, frame.x + back, y, 0.3 * scale, 0.045 * scale, lit, 0.95, 0.3)
        drawn = bird.draw(shot.canvas, pose, frame, shot.scene.light)
        objects.water_ripples(shot.canvas, frame.x, y, 0.25 * scale, shot.scene.light)
        shot.record(bird, pose, frame, drawn)


def enlarge_to_minimum(shot: Shot, frames: list[tuple[Penguin, Pose, Frame]]):
    """Scale a planned group up until the birds' joint box covers MIN_FRACTION of the frame.

    A handful of distant specks is not a photo of penguins that anyone would label.
    """
    for _ in range(4):
        boxes = []
        for bird, pose, frame in frames:
            left, up, right, down = _extent(bird, pose, frame.scale, frame.angle, frame.anchor)
            box = clip_box(
                (
                    int(frame.x - left),
                    int(frame.y - up),
                    int(frame.x + right) + 1,
                    int(frame.y + down) + 1,
                ),
                shot.w,
                shot.h,
            )
            if box:
                boxes.append(list(box))
        fraction = _union_fraction(boxes, (shot.w, shot.h))
        if fraction >= MIN_FRACTION:
            break
        k = min(2.0, math.sqrt(MIN_FRACTION * 1.15 / max(fraction, 0.01)))
        frames = [(b, p, replace(f, scale=f.scale * k)) for b, p, f in frames]
    return frames


LAYOUT_FUNCS = {
    "single": layout_single,
    "group": layout_group,
    "portrait": layout_portrait,
    "lying": layout_lying,
    "swimming": layout_swimming,
}


# --- things in front of and behind the subject ----------------------------------------------


def occlude(shot: Shot, box: Box) -> None:
    """Hide the lower or side part of a subject behind a rock, ice block or snow bank."""
    rng = shot.rng
    x0, y0, x1, y1 = box
    bw, bh = x1 - x0, y1 - y0
    kind = rng.choice(["boulder", "ice", "bank"])
    base = min(shot.h + 2, y1 + bh * 0.1)
    if kind == "bank":
        objects.snow_bank(shot.canvas, rng, shot.scene.light, y1 - bh * rng.uniform(0.15, 0.4))
    else:
        cx = rng.uniform(x0, x1)
        width = bw * rng.uniform(0.6, 1.4)
        draw = objects.ice_chunk if kind == "ice" else objects.boulder
        draw(shot.canvas, rng, shot.scene.light, cx, base, width)
    shot.info["occluded"] = True
    shot.info["occluder"] = str(kind)


def background_clutter(shot: Shot) -> None:
    """Distant bergs, birds in the sky, rocks: the same odds for every class."""
    rng, scene = shot.rng, shot.scene
    if scene.horizon > 0.12 * shot.h and rng.random() < 0.3:
        objects.iceberg(
            shot.canvas,
            rng,
            scene.light,
            rng.uniform(0, shot.w),
            scene.horizon + 1,
            shot.w * rng.uniform(0.1, 0.4),
        )
    if scene.horizon > 0.2 * shot.h and rng.random() < 0.12:
        top = int(scene.horizon * 0.6)
        objects.flying_birds(shot.canvas, rng, scene.light, (0, 0, shot.w, max(8, top)))
    if rng.random() < 0.15:
        y = rng.uniform(max(scene.horizon, 1), shot.h)
        objects.boulder(
            shot.canvas,
            rng,
            scene.light,
            rng.uniform(0, shot.w),
            y,
            shot.w * rng.uniform(0.05, 0.2),
        )


# --- the reject class ------------------------------------------------------------------------


def _ground_point(shot: Shot, size_frac: float) -> tuple[float, float]:
    rng = shot.rng
    y = rng.uniform(max(shot.scene.horizon + 0.1 * shot.h, 0.4 * shot.h), shot.h * 0.98)
    return float(rng.uniform(0.2, 0.8) * shot.w), float(y)


def reject_content(shot: Shot, kind: str) -> None:
    rng = shot.rng
    if kind == "other_penguin":
        species = OTHERS[str(rng.choice(list(OTHERS)))]
        layout = str(rng.choice(LAYOUTS, p=LAYOUT_P))
        shot.info["layout"] = layout
        LAYOUT_FUNCS[layout](shot, species)
        return
    ground = {
        "seal": rng.choice(["ice", "snow", "pebbles", "sand"]),
        "iceberg": "sea",
        "boat": "sea",
    }.get(kind)
    shot.background(ground=None if ground is None else str(ground))
    background_clutter(shot)
    scene, light = shot.scene, shot.scene.light
    w, h = shot.w, shot.h
    size = float(rng.uniform(0.3, 0.9))
    x, y = _ground_point(shot, size)
    if kind == "seal":
        objects.seal(shot.canvas, rng, light, x, y, w * size)
    elif kind == "person":
        objects.person(shot.canvas, rng, light, x, y, min(h * size * 1.1, y))
    elif kind == "iceberg":
        objects.iceberg(shot.canvas, rng, light, x, max(scene.horizon + 2, y * 0.8), w * size)
    elif kind == "flying_birds":
        objects.flying_birds(shot.canvas, rng, light, (0, 0, w, h))
    elif kind == "standing_bird":
        objects.standing_bird(shot.canvas, rng, light, x, y, min(h * size, y))
    elif kind == "boat":
        objects.boat(shot.canvas, rng, light, x, max(scene.horizon + 4, y * 0.85), w * size)
    elif kind == "rocks":
        for _ in range(int(rng.integers(1, 4))):
            objects.boulder(
                shot.canvas,
                rng,
                light,
                rng.uniform(0.1, 0.9) * w,
                rng.uniform(0.6, 1.0) * h,
                w * rng.uniform(0.2, 0.6),
            )
    elif kind == "flowers":
        objects.flowers(shot.canvas, rng, light)
    elif kind == "animal":
        objects.animal(shot.canvas, rng, light, x, y, w * size * 0.8)
    elif kind == "shapes":
        objects.shapes(shot.canvas, rng, light)


# --- entry point -----------------------------------------------------------------------------


def _final_box(box: Box, shot: Shot) -> list[int] | None:
    """A work-canvas box in final-image pixels, clipped to the frame."""
    kx, ky = shot.size[0] / shot.w, shot.size[1] / shot.h
    x0, y0, x1, y1 = box
    clipped = clip_box(
        (int(x0 * kx), int(y0 * ky), int(math.ceil(x1 * kx)), int(math.ceil(y1 * ky))), *shot.size
    )
    return list(clipped) if clipped else None


def _union_fraction(boxes: list[list[int]], size: tuple[int, int]) -> float:
    if not boxes:
        return 0.0
    arr = np.array(boxes)
    x0, y0 = arr[:, 0].min(), arr[:, 1].min()
    x1, y1 = arr[:, 2].max(), arr[:, 3].max()
    return float((x1 - x0) * (y1 - y0) / (size[0] * size[1]))


def _visible_head(box: Box, shot: Shot) -> list[int] | None:
    """Head box if at least 60% of it is inside the frame (else the marks may be cut off)."""
    clipped = clip_box(box, shot.w, shot.h)
    if clipped is None:
        return None
    area = (box[2] - box[0]) * (box[3] - box[1])
    inside = (clipped[2] - clipped[0]) * (clipped[3] - clipped[1])
    return _final_box(box, shot) if area > 0 and inside / area >= 0.6 else None


def render_image(label: str, seed: int, index: int) -> tuple[Image.Image, dict]:
    """Render photo `index` of class `label`; identical output for identical arguments."""
    if label not in CLASSES:
        raise ValueError(f"unknown label {label!r}; expected one of {', '.join(CLASSES)}")
    rng = np.random.default_rng([seed, CLASSES.index(label), index])
    shot = Shot(rng, photo_size(rng))
    if label in TARGETS:
        layout = str(rng.choice(LAYOUTS, p=LAYOUT_P))
        shot.info["layout"] = layout
        content = "penguin"
        LAYOUT_FUNCS[layout](shot, TARGETS[label])
    else:
        content = str(rng.choice(REJECTS, p=REJECT_P))
        shot.info.setdefault("layout", "scene")
        reject_content(shot, content)
    image, camera = develop(shot.canvas, rng, shot.size)
    boxes = [b for b in (_final_box(bird["box"], shot) for bird in shot.birds) if b]
    heads = [b for b in (_visible_head(bird["head_box"], shot) for bird in shot.birds) if b]
    info = {
        "label": label,
        "seed": seed,
        "index": index,
        "width": shot.size[0],
        "height": shot.size[1],
        "content": content,
        "species": shot.birds[0]["species"] if shot.birds else None,
        "layout": shot.info["layout"],
        "n_penguins": len(shot.birds),
        "pose": shot.birds[-1]["pose"] if shot.birds else None,
        "background": shot.scene.name,
        "light": "overcast" if shot.scene.light.softness > 0.65 else "sun",
        "penguin_area_fraction": round(_union_fraction(boxes, shot.size), 4),
        "penguin_boxes": boxes,
        "head_boxes": heads,
        "occluded": shot.info["occluded"],
        "cropped": shot.info["cropped"],
        **camera,
    }
    return image, info
