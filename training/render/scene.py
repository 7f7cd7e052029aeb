"""Backgrounds: the places penguins (and everything else) are photographed in.

Every class draws its backgrounds from this one module with the same probabilities, so the
classifier cannot learn "snow means Adelie"; only the birds differ between classes.
Textures are computed at reduced resolution and upsampled, with full-resolution grain on top,
which keeps a 1000-pixel scene to a few milliseconds.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from .noise import fbm, fbm_small, grain, upsample
from .raster import Light

BG_FACTOR = 2
GROUNDS = ("snow", "ice", "rock", "pebbles", "sand", "grass")


@dataclass
class Scene:
    """A background plus what later stages need to know about it."""

    image: np.ndarray  # H x W x 3 float32
    horizon: int  # first row of the foreground surface (0 = it fills the frame)
    ground: str  # foreground surface: one of GROUNDS, or "sea"
    name: str  # composition, for the manifest
    light: Light


def random_light(rng: np.random.Generator) -> Light:
    """Sun or overcast, at a random azimuth and colour temperature."""
    overcast = rng.random() < 0.4
    az = rng.uniform(-math.pi, math.pi) * 0.8
    elev = rng.uniform(0.25, 1.1)
    d = np.array(
        [
            math.sin(az) * math.cos(elev),
            -math.sin(elev),
            0.35 + 0.65 * abs(math.cos(az)) * math.cos(elev),
        ]
    )
    d /= np.linalg.norm(d)
    warm = rng.uniform(-0.06, 0.1)
    if overcast:
        sun = np.array([0.45, 0.45, 0.46]) * rng.uniform(0.9, 1.15)
        amb = np.array([0.6, 0.62, 0.66]) * rng.uniform(0.9, 1.1)
        softness = float(rng.uniform(0.7, 1.0))
    else:
        sun = np.array([0.95 + warm, 0.92, 0.88 - warm]) * rng.uniform(0.85, 1.1)
        amb = np.array([0.38, 0.42, 0.5]) * rng.uniform(0.85, 1.15)
        softness = float(rng.uniform(0.0, 0.4))
    return Light(tuple(d.tolist()), tuple(sun.tolist()), tuple(amb.tolist()), softness)


# --- textures --------------------------------------------------------------------------------


def _rows_toward_horizon(tex: np.ndarray, out_h: int, strength: float) -> np.ndarray:
    """Compress texture rows near the top of a ground band, a cheap stand-in for perspective."""
    v = (np.arange(out_h, dtype=np.float32) + 0.5) / max(out_h, 1)
    depth = 1.0 / (v * strength + 1.0)
    pos = (1.0 - depth) / (1.0 - 1.0 / (strength + 1.0))
    idx = np.clip((pos * (tex.shape[0] - 1)).astype(np.int32), 0, tex.shape[0] - 1)
    return tex[idx]


def _mix(a, b, t: np.ndarray) -> np.ndarray:
    a = np.asarray(a, np.float32)
    out = np.empty(t.shape + (3,), np.float32)
    out[:] = np.asarray(b, np.float32) - a
    out *= t[..., None]
    out += a
    return out


def sky(rng: np.random.Generator, h: int, w: int, light: Light) -> np.ndarray:
    """Gradient sky, clear or overcast, with clouds of random cover."""
    v = np.linspace(0, 1, h, dtype=np.float32)[:, None] * np.ones((1, w), np.float32)
    if light.softness > 0.65:
        top = np.array([0.62, 0.66, 0.72]) * rng.uniform(0.85, 1.1)
        bottom = np.array([0.85, 0.87, 0.9]) * rng.uniform(0.9, 1.05)
    else:
        top = np.array([0.22, 0.42, 0.78]) * rng.uniform(0.7, 1.15)
        bottom = np.array([0.72, 0.82, 0.93]) * rng.uniform(0.9, 1.05)
        if rng.random() < 0.12:  # low sun: warm horizon
            bottom = np.array([0.95, 0.78, 0.6])
    img = _mix(top, bottom, v**0.8)
    cover = rng.uniform(0.0, 1.0)
    clouds = fbm_small(rng, h, w, factor=4, cells=(2, 5), octaves=5)
    c = np.clip((clouds - 1.4 + 2.4 * cover) * 0.45, 0.0, 1.0) * (1 - 0.4 * v)
    shade = 0.78 + 0.22 * np.clip(fbm_small(rng, h, w, factor=6, cells=(3, 6), octaves=3), -1, 1)
    cloud_rgb = np.array([0.96, 0.96, 0.97]) * shade[..., None]
    return img + (cloud_rgb - img) * c[..., None]


def sea(rng: np.random.Generator, h: int, w: int, light: Light) -> np.ndarray:
    """Blue-grey water with wave streaks that shrink towards the horizon."""
    deep = np.array([0.12, 0.24, 0.36]) * rng.uniform(0.7, 1.3)
    far = np.array([0.45, 0.55, 0.66]) * rng.uniform(0.8, 1.15)
    if light.softness > 0.65:
        deep = deep * 0.7 + 0.12
    v = np.linspace(0, 1, h, dtype=np.float32)[:, None] * np.ones((1, w), np.float32)
    base = _mix(far, deep, np.clip(v * 1.5, 0, 1) ** 0.6)
    tex = fbm_small(rng, h * 2, w, factor=2, cells=(28, 3), octaves=4, persistence=0.6)
    waves = _rows_toward_horizon(tex, h, strength=rng.uniform(3, 8))
    img = base * (1.0 + 0.18 * waves[..., None])
    glints = np.clip((waves - 2.0) * 1.0, 0, 1) * rng.uniform(0.1, 0.5)
    return img + glints[..., None] * 0.5


def snow(rng, h, w, light) -> np.ndarray:
    tex = fbm_small(rng, h * 2, w, factor=4, cells=(4, 2), octaves=4)
    drifts = _rows_toward_horizon(tex, h, strength=rng.uniform(2, 6))
    base = np.array([0.9, 0.93, 0.97]) * rng.uniform(0.9, 1.03)
    blue = np.array([0.7, 0.78, 0.9])
    img = _mix(base, blue, np.clip(-drifts * 0.25 + 0.1, 0, 0.6))
    fine = fbm_small(rng, h, w, factor=1, cells=(h / 6, w / 8), octaves=2)
    img *= (1.0 + 0.025 * fine)[..., None]
    if rng.random() < 0.25:  # trampled: footprints and dents read as small blue shadows
        dents = np.clip(
            fbm_small(rng, h, w, factor=2, cells=(h / 30, w / 30), octaves=1) - 1.3, 0, 1
        )
        img = _mix(img, (0.68, 0.74, 0.86), dents * 0.5)
    if rng.random() < 0.2:  # guano- or dirt-stained snow near colonies
        stain = np.clip(fbm_small(rng, h, w, factor=4, cells=(3, 5)) - 0.6, 0, 1)
        img = _mix(img, (0.7, 0.55, 0.5), stain * 0.6)
    return img * (1.0 + 0.05 * drifts[..., None])


def ice(rng, h, w, light) -> np.ndarray:
    tex = fbm_small(rng, h * 2, w, factor=3, cells=(6, 2), octaves=5, persistence=0.65)
    t = _rows_toward_horizon(tex, h, strength=4)
    img = _mix((0.85, 0.92, 0.97), (0.55, 0.75, 0.88), np.clip(t * 0.3 + 0.35, 0, 1))
    cracks = np.abs(fbm_small(rng, h, w, factor=2, cells=(5, 5), octaves=3))
    img *= (1.0 - 0.12 * np.clip(1.0 - cracks * 25.0, 0, 1))[..., None]
    img += grain(rng, h, w)[..., None] * 0.025
    return img


def _stones(
    rng, h: int, w: int, n: int, size0: float, size1: float, base, angular: bool, light: Light
) -> np.ndarray:
    """Stones drawn far to near, each with a cast shadow, a body and a lit top.

    All random numbers and outlines are made in one vectorised pass; the Python loop only
    hands finished coordinate lists to Pillow, which is what keeps hundreds of stones cheap.
    """
    base = np.clip(np.asarray(base, np.float32), 0, 1)
    layer = Image.new("RGB", (w, h), tuple(int(c * 255) for c in base * 0.6))
    draw = ImageDraw.Draw(layer)
    sx, _ = light.shadow_offset
    k = 7
    ys = np.sort(rng.random(n) ** 0.8) * h * 1.05
    xs = rng.random(n) * w
    size = (size0 + (size1 - size0) * ys / h) * rng.uniform(0.3, 0.7, n)
    tone = base[None, :] * rng.uniform(0.6, 1.35, (n, 1)) + rng.uniform(-0.008, 0.008, (n, 3))
    if angular:
        ang = np.sort(rng.uniform(0, 2 * math.pi, (n, k)), axis=1)
        rad = size[:, None] * rng.uniform(0.6, 1.0, (n, k))
    else:
        ang = np.broadcast_to(np.linspace(0, 2 * math.pi, k, endpoint=False), (n, k))
        wobble = rng.uniform(-0.3, 0.3, (n, 1)) * np.cos(2 * ang + rng.uniform(0, 6, (n, 1)))
        rad = size[:, None] * (1.0 + wobble)
    px = xs[:, None] + rad * np.cos(ang)
    py = ys[:, None] + 0.6 * rad * np.sin(ang)
    body = np.stack([px, py], -1)
    shadow = body + np.stack([sx * size * 0.35, size * 0.25], -1)[:, None, :]
    centre = np.stack([xs - sx * size * 0.1, ys - size * 0.15], -1)[:, None, :]
    top = (body - np.stack([xs, ys], -1)[:, None, :]) * 0.7 + centre
    c_shadow = (np.clip(tone * 0.3, 0, 1) * 255).astype(int)
    c_body = (np.clip(tone * 0.75, 0, 1) * 255).astype(int)
    c_top = (np.clip(tone, 0, 1) * 255).astype(int)
    for i in range(n):
        draw.polygon(shadow[i].ravel().tolist(), fill=tuple(c_shadow[i].tolist()))
        draw.polygon(body[i].ravel().tolist(), fill=tuple(c_body[i].tolist()))
        draw.polygon(top[i].ravel().tolist(), fill=tuple(c_top[i].tolist()))
    img = np.asarray(layer, np.float32) / 255.0
    return img * (1.0 + 0.1 * fbm_small(rng, h, w, factor=2, cells=(8, 8))[..., None])


def upsample_rgb(layer: Image.Image, h: int, w: int) -> np.ndarray:
    return np.asarray(layer.resize((w, h), Image.BILINEAR), np.float32) / 255.0


def rock(rng, h, w, light) -> np.ndarray:
    """Either a scree of angular boulders or a cracked bedrock slab."""
    tone = np.array([0.45, 0.44, 0.43]) * rng.uniform(0.55, 1.25) + rng.uniform(-0.04, 0.04, 3)
    if rng.random() < 0.6:
        n = int(min(220, h * w / 300))
        img = _stones(rng, h, w, n, 6, 0.18 * h, tone, True, light)
    else:
        tex = fbm_small(rng, h, w, factor=2, cells=(5, 7), octaves=5, persistence=0.6)
        ridges = np.abs(fbm_small(rng, h, w, factor=2, cells=(3, 4), octaves=4))
        img = tone * (1.0 + 0.22 * tex[..., None])
        img *= (1.0 - 0.5 * np.clip(1.0 - ridges * 20.0, 0, 1))[..., None]
    if rng.random() < 0.35:  # lichen
        lich = np.clip(fbm_small(rng, h, w, factor=3, cells=(8, 8)) - 1.2, 0, 1)
        color = [(0.75, 0.5, 0.2), (0.5, 0.55, 0.3), (0.8, 0.78, 0.6)][rng.integers(3)]
        img = _mix(img, color, lich * 0.6)
    if rng.random() < 0.35:  # snow lying in the hollows
        patches = np.clip(fbm_small(rng, h, w, factor=2, cells=(6, 9)) - 1.2, 0, 1) * 1.5
        img = _mix(img, (0.86, 0.88, 0.92), np.clip(patches, 0, 0.9))
    return img


def pebbles(rng, h, w, light) -> np.ndarray:
    """Beach of rounded stones, larger towards the camera."""
    base = np.array([0.42, 0.4, 0.38]) * rng.uniform(0.6, 1.3)
    n = int(min(450, h * w / 120))
    return _stones(rng, h, w, n, 2, 0.05 * h, base, False, light)


def sand(rng, h, w, light) -> np.ndarray:
    """Dark volcanic sand, as on the beaches of the South Shetlands."""
    tone = np.array([0.2, 0.19, 0.18]) * rng.uniform(0.6, 1.4)
    tex = fbm_small(rng, h * 2, w, factor=3, cells=(10, 3), octaves=4)
    t = _rows_toward_horizon(tex, h, strength=5)
    img = tone * (1.0 + 0.2 * t[..., None])
    if rng.random() < 0.5:
        img = 0.6 * img + 0.4 * _stones(
            rng, h, w, int(min(250, h * w / 300)), 1, 0.03 * h, tone * 1.3, False, light
        )
    return img * (1.0 + 0.12 * grain(rng, h, w)[..., None])


def grass(rng, h, w, light) -> np.ndarray:
    """Tussock grass: vertical blade streaks in clumps, plus a few drawn blades."""
    base = np.array([0.3, 0.36, 0.18]) * rng.uniform(0.6, 1.1) + [rng.uniform(0, 0.08), 0.0, 0.0]
    clumps = fbm_small(rng, h, w, factor=3, cells=(4, 7), octaves=3)
    blades = fbm_small(rng, h, w, factor=1, cells=(max(2, h / 40), w / 3), octaves=2)
    t = np.clip(0.5 + 0.25 * clumps + 0.3 * blades, 0, 1)
    img = _mix(base * 0.4, base * 1.25 + [0.08, 0.06, 0.03], t)
    hh, ww = h, w
    layer = Image.fromarray((np.clip(img, 0, 1) * 255).astype(np.uint8))
    draw = ImageDraw.Draw(layer)
    n = int(min(250, h * w / 1200))
    y = rng.random(n) ** 0.7 * hh * 1.05
    x = rng.random(n) * ww
    ang = rng.normal(0, 0.45, n)
    ln = (3 + 0.12 * y) * rng.uniform(0.6, 1.3, n)
    cols = np.clip(base[None] * rng.uniform(0.8, 1.5, (n, 1)) + [0.08, 0.06, 0.02], 0, 1) * 255
    ends = np.stack([x, y, x + ln * np.sin(ang), y - ln * np.cos(ang)], -1).tolist()
    for seg, col in zip(ends, cols.astype(int).tolist(), strict=True):
        draw.line(seg, fill=tuple(col), width=1)
    return np.asarray(layer, np.float32) / 255.0


SURFACES = {
    "snow": snow,
    "ice": ice,
    "rock": rock,
    "pebbles": pebbles,
    "sand": sand,
    "grass": grass,
    "sea": sea,
}


def mountains(rng, img: np.ndarray, horizon: int, light: Light) -> None:
    """Snowy ridge line sitting on the horizon, hazed towards the sky colour."""
    h, w = img.shape[:2]
    if horizon < 8:
        return
    height = rng.uniform(0.05, 0.35) * horizon
    prof = fbm(rng, 1, 64, cells=(1, 3), octaves=5, persistence=0.55)[0]
    prof = upsample(prof[None, :], 1, w)[0]
    tops = horizon - height * (0.55 + 0.35 * prof.clip(-1.5, 1.5))
    rows = np.arange(h, dtype=np.float32)[:, None]
    mask = np.clip(rows - tops[None, :], 0, 1) * (rows < horizon)
    snowline = fbm_small(rng, h, w, factor=4, cells=(6, 10), octaves=3)
    rockc = np.array([0.25, 0.25, 0.27]) * rng.uniform(0.7, 1.3)
    mount = _mix(rockc, (0.88, 0.9, 0.95), np.clip(snowline * 0.8 + 0.4, 0, 1))
    haze = rng.uniform(0.25, 0.7)
    skyc = img[max(0, horizon - 2) : horizon].mean(axis=(0, 1)) if horizon > 2 else mount[0, 0]
    mount = mount * (1 - haze) + skyc * haze
    img[:] = img * (1 - mask[..., None]) + mount * mask[..., None]


def compose_background(
    rng: np.random.Generator,
    h: int,
    w: int,
    ground: str | None = None,
    light: Light | None = None,
    blur: float = 0.0,
) -> Scene:
    """A random composition: ground only, or ground with sea, mountains and sky behind.

    Drawn at half size and upsampled: backgrounds are out of focus in most wildlife photos,
    and this quarters the cost of the textures.
    """
    light = light or random_light(rng)
    ground = ground or str(rng.choice(GROUNDS, p=[0.32, 0.13, 0.23, 0.14, 0.11, 0.07]))
    layout = rng.random()
    if ground == "sea":
        fraction = rng.uniform(0.0, 0.45) if layout < 0.7 else 0.0
    elif layout < 0.3:
        fraction = 0.0  # looking down: ground fills the frame
    else:
        fraction = rng.uniform(0.15, 0.6)
    hs, ws = max(16, h // BG_FACTOR), max(16, w // BG_FACTOR)
    horizon = int(hs * fraction)
    img = np.zeros((hs, ws, 3), np.float32)
    parts = [ground]
    if horizon > 0:
        img[:horizon] = sky(rng, horizon, ws, light)
        parts.append("sky")
        if ground != "sea" and rng.random() < 0.45:
            sea_top = int(horizon * rng.uniform(0.55, 0.9))
            img[sea_top:horizon] = sea(rng, horizon - sea_top, ws, light)
            horizon_line = sea_top
            parts.insert(1, "sea")
        else:
            horizon_line = horizon
        if rng.random() < 0.45:
            mountains(rng, img, horizon_line, light)
            parts.insert(-1, "mountains")
    band = SURFACES[ground](rng, hs - max(0, horizon - 4), ws, light)
    _lay_ground(rng, img, horizon, band, rough=ground != "sea")
    small = Image.fromarray((np.clip(img, 0, 1) * 255 + 0.5).astype(np.uint8))
    if blur > 0:  # shallow depth of field behind a close subject
        small = small.filter(ImageFilter.GaussianBlur(blur / BG_FACTOR))
    full = upsample_rgb(small, h, w)
    return Scene(full, round(horizon * h / hs), ground, "+".join(parts), light)


def _lay_ground(rng, img: np.ndarray, horizon: int, ground: np.ndarray, rough: bool) -> None:
    """Paint the ground below a slightly irregular edge instead of a ruler-straight seam."""
    h, w = img.shape[:2]
    lo = h - ground.shape[0]
    if horizon <= 0:
        img[:] = ground
        return
    prof = upsample(rng.standard_normal((1, 16)).astype(np.float32), 1, w)[0]
    edge = horizon - np.abs(prof) * min(6.0, 0.01 * h) * float(rough)
    rows = np.arange(lo, h, dtype=np.float32)[:, None]
    t = np.clip(rows - edge[None, :] + 0.5, 0, 1)[..., None]
    img[lo:] = img[lo:] * (1 - t) + ground * t
