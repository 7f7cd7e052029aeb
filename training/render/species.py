"""What each penguin species looks like: colours, proportions and field marks.

Marks are painted in surface coordinates of the bird (height Y from crown 0 to feet 1, azimuth
T around the body with 0 at the bill), so one definition serves every pose: a front view, a
profile and a three-quarter view all show the same Gentoo bonnet from different angles.
The non-target species live here too because the reject class must contain birds that share
the body plan and differ only by their marks.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from .noise import hash_noise

RGB = tuple[float, float, float]


@dataclass(frozen=True)
class Surface:
    """Per-pixel surface coordinates of a penguin body, plus the bird's head geometry."""

    Y: np.ndarray
    T: np.ndarray  # azimuth in radians, 0 = front (bill side), +-pi = back
    px: float  # local units per pixel: sets how soft an edge must be to be anti-aliased
    eye_y: float
    eye_t: float
    head_r: float

    @property
    def aT(self) -> np.ndarray:
        return np.abs(self.T)

    def edge(self, signed: np.ndarray, feather: float = 0.0) -> np.ndarray:
        """Coverage from a signed distance in local units (positive inside)."""
        width = max(self.px * 1.2, feather)
        return np.clip(signed / width + 0.5, 0.0, 1.0)

    def polyline_dist(self, points: list[tuple[float, float]]) -> np.ndarray:
        """Distance from each pixel to a polyline given as (|T|, Y) points on the head.

        Azimuth is turned into arc length with the head radius so that widths are isotropic.
        """
        ax = self.aT * self.head_r
        ay = self.Y
        best = None
        for (t0, y0), (t1, y1) in zip(points[:-1], points[1:], strict=True):
            x0, x1 = t0 * self.head_r, t1 * self.head_r
            dx, dy = x1 - x0, y1 - y0
            seg = dx * dx + dy * dy or 1e-9
            h = np.clip(((ax - x0) * dx + (ay - y0) * dy) / seg, 0.0, 1.0)
            d = np.hypot(ax - x0 - h * dx, ay - y0 - h * dy)
            best = d if best is None else np.minimum(best, d)
        return best

    def eye_dist(self) -> np.ndarray:
        """Distance to the nearer eye, in local units."""
        return np.hypot((self.aT - self.eye_t) * self.head_r, self.Y - self.eye_y)


@dataclass(frozen=True)
class Species:
    """Appearance of one species; `marks` paints its field marks onto albedo."""

    name: str
    back: RGB
    belly: RGB
    bill: RGB
    bill_accent: RGB | None  # culmen ridge, mandible stripe or base colour
    accent_part: str  # "ridge", "lower", "base" or "none"
    feet: RGB
    iris: RGB
    marks: Callable[[Surface, dict, np.ndarray], None]
    head_r: float = 0.092
    body_r: float = 0.18
    bill_len: float = 0.05
    bill_h: float = 0.016
    bill_w: float = 0.013
    bill_drop: float = 0.25
    flipper_len: float = 0.33
    throat_y: float = 0.225
    eye_y: float = 0.085
    eye_t: float = 0.92
    eye_r: float = 0.0085
    crest: RGB | None = None
    body_marks: Callable[[Surface, dict, np.ndarray], None] | None = None  # below the head
    params: dict = field(default_factory=dict)


def _paint(albedo: np.ndarray, mask: np.ndarray, color: RGB) -> None:
    m = mask[..., None]
    albedo *= 1.0 - m
    albedo += m * np.asarray(color, np.float32)


def belly_white(s: Surface, throat_y: float, dip: float = 0.02) -> np.ndarray:
    """White front of the body below a throat line; the back stays dark.

    The white wraps less far round at the shoulders, which is why a front view still shows
    thin dark edges above the flippers.
    """
    beta = np.interp(s.Y, [0.15, 0.3, 0.45, 0.6, 0.8, 0.95], [1.45, 1.2, 1.35, 1.55, 1.75, 1.75])
    # The dark throat reaches lower towards the sides, so the white bib has rounded corners.
    side = np.clip(s.aT - 0.6, 0.0, None)
    line = throat_y + dip * (1.0 - np.clip(s.aT / 1.3, 0.0, 1.0) ** 2) + 0.25 * side * side
    front = s.edge(beta - s.aT, 0.015)
    below = s.edge(s.Y - line, 0.006)
    return front * below


def body_marks(s: Surface, p: dict, albedo: np.ndarray) -> None:
    """Below the head every species is dark above and white in front."""
    _paint(albedo, belly_white(s, 0.2, dip=0.0), p["belly"])


def _eye(s: Surface, sp: Species, albedo: np.ndarray, ring: float = 0.0, ring_rgb=(1, 1, 1)):
    """Eye with optional ring; returns the glint mask added after shading."""
    d = s.eye_dist()
    if ring > 0:
        _paint(albedo, s.edge(sp.eye_r + ring - d), ring_rgb)
    _paint(albedo, s.edge(sp.eye_r - d), sp.iris)
    _paint(albedo, s.edge(sp.eye_r * 0.55 - d), (0.02, 0.02, 0.02))
    gd = np.hypot((s.aT - s.eye_t) * s.head_r + sp.eye_r * 0.3, s.Y - s.eye_y + sp.eye_r * 0.35)
    return s.edge(sp.eye_r * 0.28 - gd) * 0.8


# --- the three target species ---------------------------------------------------------------


def adelie_marks(s: Surface, p: dict, albedo: np.ndarray) -> np.ndarray:
    """All-black head and throat, bold white eye ring."""
    sp = p["species"]
    white = belly_white(s, p["throat_y"], dip=0.025)
    _paint(albedo, white, p["belly"])
    return _eye(s, sp, albedo, ring=p["ring"], ring_rgb=(0.97, 0.97, 0.96))


def chinstrap_marks(s: Surface, p: dict, albedo: np.ndarray) -> np.ndarray:
    """Black cap down to the eye, white face and throat, thin black strap under the chin."""
    sp = p["species"]
    cap_y = s.eye_y - 0.004 + p["cap"] + 0.32 * np.clip(s.aT - (s.eye_t + 0.35), 0.0, None)
    face_t = np.interp(s.Y, [0.1, 0.2, 0.3], [1.55, 1.45, 1.2])
    face = s.edge(s.Y - cap_y, 0.004) * s.edge(face_t - s.aT, 0.01) * (s.Y < 0.32)
    white = np.maximum(belly_white(s, 0.2, dip=0.0), face)
    _paint(albedo, white, p["belly"])
    t_ear = s.eye_t + 0.5
    low = s.eye_y + p["strap_drop"]
    pts = [
        (t, s.eye_y + 0.012 + (low - s.eye_y - 0.012) * (1 - (t / t_ear) ** 2))
        for t in np.linspace(0.0, t_ear, 7)
    ]
    strap = s.edge(p["strap_w"] * 0.5 - s.polyline_dist(pts), 0.0)
    _paint(albedo, strap, p["back"])
    return _eye(s, sp, albedo)


def gentoo_marks(s: Surface, p: dict, albedo: np.ndarray) -> np.ndarray:
    """Dark head with a white bonnet over and behind each eye, meeting across the crown."""
    sp = p["species"]
    white = belly_white(s, p["throat_y"], dip=0.015)
    _paint(albedo, white, p["belly"])
    et = s.eye_t
    t = s.aT
    inner = np.clip(t / et, 0.0, 1.0)
    centre = np.where(
        t < et,
        s.eye_y - 0.026 - 0.022 * (1.0 - inner**2),
        s.eye_y - 0.026 - 0.016 * np.clip((t - et) / 0.7, 0.0, 1.0),
    )
    peak = p["patch"]
    half = np.where(
        t < et,
        p["crown"] + (peak - p["crown"]) * inner**1.5,
        peak * np.clip(1.0 - (t - et) / 0.8, 0.0, 1.0) ** 0.7,
    )
    bonnet = s.edge(half - np.abs(s.Y - centre), 0.002)
    _paint(albedo, bonnet, (0.96, 0.96, 0.95))
    glint = _eye(s, sp, albedo, ring=0.004, ring_rgb=(0.9, 0.9, 0.9))
    if p["speckle"] > 0:
        head = (p["throat_y"] > s.Y) * (1 - bonnet)
        cells = hash_noise(np.floor(s.T * 60.0), np.floor(s.Y * 420.0))
        dots = (cells < p["speckle"]) * head
        _paint(albedo, dots.astype(np.float32) * 0.6, (0.8, 0.8, 0.8))
    return glint


# --- other species: the reject class ---------------------------------------------------------


def great_marks(s: Surface, p: dict, albedo: np.ndarray) -> np.ndarray:
    """Emperor/King: yellow-orange ear patch and a golden wash on the upper breast."""
    sp = p["species"]
    white = belly_white(s, p["throat_y"], dip=0.03)
    _paint(albedo, white, p["belly"])
    wash = white * np.clip(1.0 - (s.Y - p["throat_y"]) / 0.12, 0.0, 1.0)
    _paint(albedo, wash * p["wash"], p["patch"])
    ear = [
        (s.eye_t + 0.3, s.eye_y + 0.03),
        (s.eye_t + 0.35, s.eye_y + 0.08),
        (s.eye_t + 0.1, p["throat_y"] + 0.01),
    ]
    _paint(albedo, s.edge(p["ear_w"] - s.polyline_dist(ear), 0.006), p["patch"])
    return _eye(s, sp, albedo)


def crested_marks(s: Surface, p: dict, albedo: np.ndarray) -> np.ndarray:
    """Rockhopper/Macaroni: dark head and throat, yellow brow line (plumes drawn separately)."""
    sp = p["species"]
    white = belly_white(s, p["throat_y"], dip=0.02)
    _paint(albedo, white, p["belly"])
    brow = [
        (p["brow_start"], s.eye_y - 0.03),
        (s.eye_t, s.eye_y - 0.02),
        (s.eye_t + 0.5, s.eye_y - 0.012),
    ]
    _paint(albedo, s.edge(p["brow_w"] - s.polyline_dist(brow), 0.002), sp.crest)
    return _eye(s, sp, albedo, ring=0.002, ring_rgb=(0.6, 0.3, 0.3))


def banded_marks(s: Surface, p: dict, albedo: np.ndarray) -> np.ndarray:
    """Magellanic/Humboldt/African: white C around a dark face and black breast band(s)."""
    sp = p["species"]
    white = belly_white(s, p["throat_y"], dip=0.0)
    _paint(albedo, white, p["belly"])
    c_line = [
        (0.35, s.eye_y - 0.03),
        (s.eye_t, s.eye_y - 0.028),
        (s.eye_t + 0.5, s.eye_y + 0.02),
        (s.eye_t + 0.35, p["throat_y"] - 0.01),
        (s.eye_t - 0.1, p["throat_y"] + 0.02),
    ]
    _paint(albedo, s.edge(p["c_w"] - s.polyline_dist(c_line), 0.003), p["belly"])
    if p["pink"] > 0:
        _paint(
            albedo,
            s.edge(0.02 - s.polyline_dist([(0.25, s.eye_y + 0.01), (s.eye_t, s.eye_y)]), 0.004)
            * p["pink"],
            (0.85, 0.5, 0.5),
        )
    for k in range(int(p["bands"])):
        y0 = p["band_y"] + k * 0.055
        side = 0.35 * np.clip(s.aT - 0.7, 0.0, None)
        band = s.edge(p["band_w"] - np.abs(s.Y - y0 - side), 0.003) * (s.Y < 0.75)
        _paint(albedo, band, p["back"])
    if p["spots"] > 0:
        cells = hash_noise(np.floor(s.T * 14.0), np.floor(s.Y * 45.0))
        dots = (cells < 0.12) * (p["band_y"] + 0.05 < s.Y)
        _paint(albedo, dots * white * 0.9, p["back"])
    return _eye(s, sp, albedo)


def yellow_eyed_marks(s: Surface, p: dict, albedo: np.ndarray) -> np.ndarray:
    """Yellow-eyed: pale straw head, yellow band from the eye round the back of the head."""
    sp = p["species"]
    head = s.edge(p["throat_y"] - s.Y, 0.01)
    _paint(albedo, head, (0.5, 0.45, 0.3))
    white = belly_white(s, p["throat_y"], dip=0.02)
    _paint(albedo, white, p["belly"])
    band = [(s.eye_t - 0.15, s.eye_y), (s.eye_t + 0.6, s.eye_y - 0.01), (np.pi, s.eye_y - 0.015)]
    _paint(albedo, s.edge(0.011 - s.polyline_dist(band), 0.004), (0.95, 0.85, 0.35))
    return _eye(s, sp, albedo, ring=0.003, ring_rgb=(0.95, 0.88, 0.4))


def plain_marks(s: Surface, p: dict, albedo: np.ndarray) -> np.ndarray:
    """Little blue penguin: slate-blue above, white below, no head marks."""
    _paint(albedo, belly_white(s, p["throat_y"], dip=0.0), p["belly"])
    return _eye(s, p["species"], albedo)


BLACK: RGB = (0.045, 0.05, 0.06)
WHITE: RGB = (0.9, 0.9, 0.89)

TARGETS: dict[str, Species] = {
    "Adelie": Species(
        "Adelie",
        BLACK,
        WHITE,
        bill=(0.06, 0.05, 0.05),
        bill_accent=None,
        accent_part="none",
        feet=(0.95, 0.78, 0.76),
        iris=(0.12, 0.08, 0.06),
        marks=adelie_marks,
        bill_len=0.05,
        bill_h=0.02,
        bill_w=0.016,
        eye_r=0.0085,
        params={"throat_y": (0.2, 0.25), "ring": (0.008, 0.012)},
    ),
    "Chinstrap": Species(
        "Chinstrap",
        BLACK,
        WHITE,
        bill=(0.05, 0.05, 0.05),
        bill_accent=None,
        accent_part="none",
        feet=(0.93, 0.66, 0.66),
        iris=(0.3, 0.12, 0.08),
        marks=chinstrap_marks,
        bill_len=0.062,
        bill_h=0.017,
        bill_w=0.013,
        eye_r=0.007,
        head_r=0.088,
        params={"cap": (-0.006, 0.006), "strap_drop": (0.065, 0.085), "strap_w": (0.005, 0.008)},
    ),
    "Gentoo": Species(
        "Gentoo",
        (0.06, 0.065, 0.075),
        WHITE,
        bill=(1.0, 0.36, 0.08),
        bill_accent=(0.05, 0.04, 0.04),
        accent_part="ridge",
        feet=(0.98, 0.48, 0.18),
        iris=(0.15, 0.1, 0.07),
        marks=gentoo_marks,
        bill_len=0.09,
        bill_h=0.022,
        bill_w=0.016,
        body_r=0.185,
        flipper_len=0.35,
        params={
            "throat_y": (0.2, 0.24),
            "crown": (0.004, 0.009),
            "speckle": (0.0, 0.012),
            "patch": (0.019, 0.026),
        },
    ),
}

OTHERS: dict[str, Species] = {
    "emperor": Species(
        "emperor",
        BLACK,
        WHITE,
        bill=(0.05, 0.05, 0.05),
        bill_accent=(0.95, 0.55, 0.3),
        accent_part="lower",
        feet=(0.15, 0.14, 0.13),
        iris=(0.1, 0.07, 0.05),
        marks=great_marks,
        head_r=0.075,
        body_r=0.17,
        bill_len=0.095,
        bill_h=0.012,
        bill_w=0.009,
        bill_drop=0.35,
        throat_y=0.2,
        flipper_len=0.3,
        eye_y=0.075,
        params={
            "throat_y": (0.18, 0.22),
            "ear_w": (0.014, 0.02),
            "wash": (0.4, 0.8),
            "patch": ((0.98, 0.8, 0.35), (0.98, 0.85, 0.5)),
        },
    ),
    "king": Species(
        "king",
        BLACK,
        WHITE,
        bill=(0.05, 0.05, 0.05),
        bill_accent=(0.98, 0.45, 0.15),
        accent_part="lower",
        feet=(0.15, 0.14, 0.13),
        iris=(0.1, 0.07, 0.05),
        marks=great_marks,
        head_r=0.075,
        body_r=0.165,
        bill_len=0.1,
        bill_h=0.012,
        bill_w=0.009,
        bill_drop=0.3,
        flipper_len=0.32,
        eye_y=0.075,
        params={
            "throat_y": (0.17, 0.21),
            "ear_w": (0.012, 0.018),
            "wash": (0.7, 1.0),
            "patch": ((1.0, 0.55, 0.12), (1.0, 0.7, 0.25)),
        },
    ),
    "rockhopper": Species(
        "rockhopper",
        BLACK,
        WHITE,
        bill=(0.85, 0.28, 0.15),
        bill_accent=None,
        accent_part="none",
        feet=(0.95, 0.7, 0.7),
        iris=(0.75, 0.1, 0.08),
        marks=crested_marks,
        bill_len=0.05,
        bill_h=0.022,
        bill_w=0.016,
        crest=(0.98, 0.86, 0.2),
        params={"throat_y": (0.2, 0.24), "brow_start": (0.6, 0.8), "brow_w": (0.003, 0.005)},
    ),
    "macaroni": Species(
        "macaroni",
        BLACK,
        WHITE,
        bill=(0.75, 0.3, 0.12),
        bill_accent=(0.9, 0.6, 0.55),
        accent_part="base",
        feet=(0.95, 0.7, 0.7),
        iris=(0.6, 0.12, 0.1),
        marks=crested_marks,
        bill_len=0.062,
        bill_h=0.024,
        bill_w=0.017,
        crest=(1.0, 0.65, 0.1),
        params={"throat_y": (0.19, 0.23), "brow_start": (0.05, 0.25), "brow_w": (0.005, 0.008)},
    ),
    "magellanic": Species(
        "magellanic",
        BLACK,
        WHITE,
        bill=(0.08, 0.07, 0.07),
        bill_accent=None,
        accent_part="none",
        feet=(0.3, 0.25, 0.25),
        iris=(0.2, 0.12, 0.08),
        marks=banded_marks,
        body_marks=banded_marks,
        bill_len=0.055,
        params={
            "throat_y": (0.19, 0.22),
            "c_w": (0.006, 0.009),
            "bands": (2, 2),
            "band_y": (0.245, 0.26),
            "band_w": (0.012, 0.018),
            "pink": (0.0, 0.3),
            "spots": (0, 0),
        },
    ),
    "humboldt": Species(
        "humboldt",
        BLACK,
        WHITE,
        bill=(0.1, 0.09, 0.09),
        bill_accent=(0.85, 0.55, 0.55),
        accent_part="base",
        feet=(0.2, 0.18, 0.18),
        iris=(0.3, 0.15, 0.1),
        marks=banded_marks,
        body_marks=banded_marks,
        bill_len=0.058,
        bill_h=0.019,
        params={
            "throat_y": (0.19, 0.22),
            "c_w": (0.004, 0.007),
            "bands": (1, 1),
            "band_y": (0.25, 0.28),
            "band_w": (0.014, 0.02),
            "pink": (0.6, 1.0),
            "spots": (0, 1),
        },
    ),
    "african": Species(
        "african",
        BLACK,
        WHITE,
        bill=(0.08, 0.07, 0.07),
        bill_accent=None,
        accent_part="none",
        feet=(0.15, 0.13, 0.13),
        iris=(0.25, 0.15, 0.1),
        marks=banded_marks,
        body_marks=banded_marks,
        bill_len=0.055,
        params={
            "throat_y": (0.18, 0.21),
            "c_w": (0.007, 0.011),
            "bands": (1, 1),
            "band_y": (0.25, 0.27),
            "band_w": (0.007, 0.011),
            "pink": (0.5, 1.0),
            "spots": (1, 1),
        },
    ),
    "yellow_eyed": Species(
        "yellow_eyed",
        (0.2, 0.24, 0.3),
        WHITE,
        bill=(0.8, 0.55, 0.5),
        bill_accent=(0.4, 0.3, 0.3),
        accent_part="ridge",
        feet=(0.9, 0.65, 0.65),
        iris=(0.95, 0.85, 0.4),
        marks=yellow_eyed_marks,
        bill_len=0.06,
        eye_r=0.009,
        params={"throat_y": (0.19, 0.23)},
    ),
    "little_blue": Species(
        "little_blue",
        (0.22, 0.3, 0.42),
        (0.88, 0.88, 0.88),
        bill=(0.12, 0.12, 0.12),
        bill_accent=None,
        accent_part="none",
        feet=(0.9, 0.75, 0.75),
        iris=(0.6, 0.6, 0.6),
        marks=plain_marks,
        head_r=0.095,
        body_r=0.19,
        params={"throat_y": (0.2, 0.24)},
    ),
}


def individual(species: Species, rng: np.random.Generator) -> dict:
    """Draw one bird's parameters: mark geometry and plumage tint vary between individuals."""
    p: dict = {"species": species}
    for key, (lo, hi) in species.params.items():
        if isinstance(lo, tuple):
            p[key] = tuple(float(a + (b - a) * rng.random()) for a, b in zip(lo, hi, strict=True))
        elif isinstance(lo, int) and isinstance(hi, int):
            p[key] = int(rng.integers(lo, hi + 1))
        else:
            p[key] = float(lo + (hi - lo) * rng.random())
    p.setdefault("throat_y", species.throat_y)
    tint = rng.choice(3)  # neutral, blue-black, brown-black (worn plumage)
    back = np.asarray(species.back, np.float32)
    if species.back == BLACK:
        back = back + [(0.0, 0.0, 0.0), (-0.005, 0.01, 0.035), (0.03, 0.015, 0.0)][tint]
    p["back"] = tuple(np.clip(back * rng.uniform(0.8, 1.5), 0, 1).tolist())
    belly = np.asarray(species.belly, np.float32) * rng.uniform(0.93, 1.04)
    belly = belly + rng.uniform(-0.015, 0.015, 3) + [0.0, 0.0, rng.uniform(-0.04, 0.01)]
    p["belly"] = tuple(np.clip(belly, 0, 1).tolist())
    p["dirt"] = float(rng.uniform(0, 0.5) if rng.random() < 0.35 else 0.0)
    p["fat"] = float(rng.uniform(0.92, 1.1))
    p["head"] = float(rng.uniform(0.93, 1.07))
    p["shoulder"] = float(rng.uniform(0.0, 0.05))
    return p
