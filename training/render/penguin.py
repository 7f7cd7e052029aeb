"""One penguin, drawn onto the float canvas from a small 3-D body model.

The body is a solid of revolution (an egg for the body, a sphere for the head, blended at the
neck) seen from any yaw. Every pixel is mapped back to a height and an azimuth on that body, so
shading comes from a real normal and the field marks wrap round the body the way they do on a
bird: the same model gives front views, profiles and three-quarter views. The thin parts
(flippers, bill, feet, tail, crest plumes) come from `parts.py`; this module draws them all.
"""

from __future__ import annotations

import math

import numpy as np

from .noise import periodic_noise, upsample
from .parts import all_parts, bill_polys
from .pose import FOOT_Y, Frame, Pose
from .raster import (
    Light,
    blend,
    clip_box,
    coverage,
    pixel_grid,
    points_box,
    soft,
    soft_ellipse,
)
from .shading import shade
from .species import Species, Surface, body_marks, individual

YS = np.linspace(-0.02, 1.02, 600).astype(np.float32)
HEAD_LIMIT = 0.34  # below this height no species has head marks
BODY_FULL_RES_PIXELS = 40_000


def _smooth_max(a: np.ndarray, b: np.ndarray, power: float = 6.0) -> np.ndarray:
    """p-norm blend: fills the neck where head and body meet, exact where one of them is 0."""
    return (a**power + b**power) ** (1.0 / power)


def _body_curve(y: np.ndarray, radius: float, shoulder: float) -> np.ndarray:
    """Bowling-pin body: long tapering top into the neck, heavy rounded lower belly."""
    centre, bottom = 0.6, 0.962
    top = 0.06 + shoulder
    z_up = np.clip((centre - y) / (centre - top), 0.0, None)
    z_dn = np.clip((y - centre) / (bottom - centre), 0.0, None)
    up = np.clip(1.0 - z_up**2.1, 0.0, None) ** (1 / 2.1)
    dn = np.clip(1.0 - z_dn**2.6, 0.0, None) ** (1 / 2.6)
    return radius * np.where(y < centre, up, dn)


def _half_ellipse(y: np.ndarray, centre: float, up: float, down: float, radius: float):
    z = np.where(y < centre, (y - centre) / up, (y - centre) / down)
    return radius * np.sqrt(np.clip(1.0 - z * z, 0.0, None))


class Penguin:
    """A drawable individual: species marks plus this bird's proportions and plumage."""

    def __init__(self, species: Species, rng: np.random.Generator):
        self.sp = species
        self.p = individual(species, rng)
        self.head_r = species.head_r * self.p["head"]
        head = _half_ellipse(YS, self.head_r, self.head_r, self.head_r * 1.15, self.head_r)
        body = _body_curve(YS, species.body_r * self.p["fat"], self.p["shoulder"])
        self.radius = _smooth_max(head, body)
        # The belly bulges forward and the back is flatter: a profile is not a symmetric egg.
        self.bulge = np.interp(YS, [0.25, 0.45, 0.65, 0.85, 0.95], [0, 0.02, 0.032, 0.022, 0])
        self.forward = np.interp(
            YS, [0, 0.15, 0.3, 0.5, 0.75, 0.9, 1], [0.055, 0.05, 0.035, 0.02, 0.0, -0.025, -0.04]
        )
        self.depth = np.interp(YS, [0, 0.2, 0.3, 0.6, 1], [1.15, 1.0, 1.05, 1.12, 1.0])
        self.tile = periodic_noise(rng, 64)
        self.rim = float(rng.uniform(0.0, 0.35))
        self.bill_y = species.eye_y + 0.014

    # --- geometry ------------------------------------------------------------------------

    def _tables(self, yaw: float) -> dict[str, np.ndarray]:
        c, s = math.cos(yaw), math.sin(yaw)
        w = self.radius * np.sqrt(c * c + (self.depth * s) ** 2)
        dw = np.clip(np.gradient(w, YS), -40.0, 40.0)
        bulge = (self.bulge * s).astype(np.float32)
        return {
            "w": w,
            "cx": self.forward * s,
            "th": np.arctan2(self.depth * s, c),
            "dw": dw,
            "wr": w + bulge,
            "wl": w - bulge,
        }

    def axis_x(self, tab, y: float) -> float:
        """Projected x of the body's centre line at height y."""
        return float(np.interp(y, YS, tab["cx"]))

    def surface_point(self, tab, y: float, t: float) -> tuple[float, float, float]:
        """Projected (x, y) and depth (+ towards camera) of a body point at height y, azimuth t."""
        cx = float(np.interp(y, YS, tab["cx"]))
        th = float(np.interp(y, YS, tab["th"]))
        u = math.sin(t + th)
        w = float(np.interp(y, YS, tab["wr"] if u > 0 else tab["wl"]))
        return cx + w * u, y, math.cos(t + th)

    def outline(self, pose: Pose) -> np.ndarray:
        """Local points enclosing everything drawn: used to place and crop the bird."""
        tab = self._tables(pose.yaw)
        ys = YS[::10]
        pts = [
            np.stack([tab["cx"][::10] - tab["wl"][::10], ys], -1),
            np.stack([tab["cx"][::10] + tab["wr"][::10], ys], -1),
        ]
        for part in all_parts(self, pose, tab):
            pts.append(np.asarray(part["poly"], np.float32))
        out = np.concatenate(pts, 0)
        if pose.waterline is not None:
            out = out[out[:, 1] <= pose.waterline + 0.01]
        return out

    def head_outline(self, pose: Pose) -> np.ndarray:
        """Local points around the head and bill: the region that carries the field marks."""
        tab = self._tables(pose.yaw)
        sel = self.sp.eye_y + 0.1 >= YS
        ys = YS[sel]
        pts = [
            np.stack([tab["cx"][sel] - tab["wl"][sel], ys], -1),
            np.stack([tab["cx"][sel] + tab["wr"][sel], ys], -1),
            np.asarray(bill_polys(self, pose, tab)[0][0], np.float32),
        ]
        return np.concatenate(pts, 0)

    # --- thin parts ----------------------------------------------------------------------

    # --- drawing -------------------------------------------------------------------------

    def draw(self, canvas: np.ndarray, pose: Pose, frame: Frame, light: Light) -> dict:
        """Draw the bird; returns its canvas bounding box and head box (unclipped)."""
        h, w = canvas.shape[:2]
        tab = self._tables(pose.yaw)
        parts = all_parts(self, pose, tab)
        behind = [
            p
            for p in parts
            if p["kind"] in ("foot", "tail")
            or (p["kind"] in ("flipper", "crest") and not p["front"])
        ]
        front = [p for p in parts if p["kind"] in ("flipper", "crest") and p["front"]]
        for part in sorted(behind, key=lambda p: p.get("depth", -1.0)):
            self._draw_part(canvas, part, pose, frame, light)
        self._draw_body(canvas, pose, frame, light, tab)
        for part in front:
            self._draw_part(canvas, part, pose, frame, light)
        self._draw_bill(canvas, pose, frame, light, tab)
        box = points_box(frame.to_canvas(self.outline(pose)), pad=0)
        head = points_box(frame.to_canvas(self.head_outline(pose)), pad=0)
        return {"box": box, "head_box": head, "visible": clip_box(box, w, h) is not None}

    def _water(self, pose: Pose, Y: np.ndarray, scale: float) -> np.ndarray | float:
        if pose.waterline is None:
            return 1.0
        return soft((pose.waterline - Y) * scale, 1.5)

    def _draw_body(self, canvas, pose: Pose, frame: Frame, light: Light, tab) -> None:
        h, w = canvas.shape[:2]
        ys = YS[::4]
        sil = np.concatenate(
            [
                np.stack([tab["cx"][::4] - tab["wl"][::4], ys], -1),
                np.stack([tab["cx"][::4] + tab["wr"][::4], ys], -1),
            ]
        )
        box = clip_box(points_box(frame.to_canvas(sil), pad=2), w, h)
        if box is None:
            return
        x0, y0, x1, y1 = box
        # Big birds are shaded at half resolution and upsampled: the body is smooth, and the
        # per-pixel model is the most expensive part of a photo.
        r = 2 if (x1 - x0) * (y1 - y0) > BODY_FULL_RES_PIXELS else 1
        nw, nh = -(-(x1 - x0) // r), -(-(y1 - y0) // r)
        xs = x0 + (np.arange(nw, dtype=np.float32)[None, :] + 0.5) * r
        ys_ = y0 + (np.arange(nh, dtype=np.float32)[:, None] + 0.5) * r
        color, alpha = self._shade_body(xs, ys_, pose, frame, light, tab, frame.scale / r)
        if color is None:
            return
        if r > 1:
            color = np.stack([upsample(color[..., c], nh * r, nw * r) for c in range(3)], -1)
            alpha = np.clip(upsample(alpha, nh * r, nw * r), 0.0, 1.0)
        blend(canvas, box, color[: y1 - y0, : x1 - x0], alpha[: y1 - y0, : x1 - x0])

    def _shade_body(self, xs, ys, pose: Pose, frame: Frame, light: Light, tab, scale: float):
        """Colour and coverage of the body on a pixel grid (`scale` = grid pixels per height)."""
        X, Y = frame.to_local(xs, ys)
        X, Y = np.broadcast_arrays(X, Y)
        # Work only on pixels near or inside the silhouette: 1-D arrays from here on.
        lut = _Lookup(Y)
        cx = lut(tab["cx"])
        reach = np.maximum(lut(tab["wr"]), lut(tab["wl"])) + 2.0 / scale
        sel = np.abs(X - cx) < reach
        if pose.waterline is not None:
            sel &= pose.waterline + 2.0 / scale > Y
        if not np.any(sel):
            return None, None
        X, Y, cx = X[sel], Y[sel], cx[sel]
        lut = _Lookup(Y)
        dx = X - cx
        wp = np.where(dx > 0, lut(tab["wr"]), lut(tab["wl"]))
        th, dw = lut(tab["th"]), lut(tab["dw"])
        slope = np.sqrt(1.0 + dw * dw)
        inside = np.where(wp > 1e-4, (wp - np.abs(dx)) / slope, -1.0)
        alpha = soft(inside * scale) * self._water(pose, Y, scale)
        u = np.clip(dx / np.maximum(wp, 1e-5), -1.0, 1.0)
        T = np.arcsin(u) - th
        T = (T + np.pi) % (2 * np.pi) - np.pi
        albedo, glint = self._albedo(Y, T, scale)
        self._texture(albedo, Y, T, scale)
        nz = np.sqrt(np.clip(1.0 - u * u, 0.0, 1.0)) / slope
        nx, ny = frame.rotate_normal(u / slope, -dw / slope)
        lum = albedo.mean(axis=-1)
        gloss = np.clip(1.0 - lum * 5.0, 0.0, 1.0)
        lit = shade(albedo, nx, ny, nz, light, gloss=gloss, rim=self.rim)
        lit += (glint * 0.9)[..., None]
        patch_a = np.zeros(sel.shape, np.float32)
        patch_c = np.zeros(sel.shape + (3,), np.float32)
        patch_a[sel] = alpha
        patch_c[sel] = lit
        return patch_c, patch_a

    def _albedo(self, Y: np.ndarray, T: np.ndarray, scale: float):
        """Plumage colour: head marks are evaluated only on head pixels, which is most of the
        per-pixel work saved on a large bird."""
        albedo = np.empty(Y.shape + (3,), np.float32)
        albedo[:] = np.asarray(self.p["back"], np.float32)
        glint = np.zeros(Y.shape, np.float32)
        head = Y < HEAD_LIMIT
        for part, fn in ((head, self.sp.marks), (~head, self.sp.body_marks or body_marks)):
            if not np.any(part):
                continue
            surf = Surface(
                Y=Y[part],
                T=T[part],
                px=1.0 / scale,
                eye_y=self.sp.eye_y,
                eye_t=self.sp.eye_t,
                head_r=self.head_r,
            )
            sub = albedo[part]
            g = fn(surf, self.p, sub)
            albedo[part] = sub
            if g is not None:
                glint[part] = g
        return albedo, glint

    def _texture(self, albedo: np.ndarray, Y: np.ndarray, T: np.ndarray, scale: float) -> None:
        """Feather grain and dirt, fixed to the body so they turn with it."""
        n = self.tile.shape[0]
        fy = max(scale / 2.0, 1.0)
        iy = (Y * fy).astype(np.int32) % n
        ix = ((T + np.pi) * fy * self.head_r * 1.5).astype(np.int32) % n
        g = self.tile[iy, ix]
        albedo *= (1.0 + 0.035 * g)[..., None]
        if self.p["dirt"] > 0:
            stain = self.p["dirt"] * np.clip((Y - 0.62) / 0.3, 0.0, 1.0) * (0.6 + 0.3 * g)
            tint = np.asarray((0.72, 0.62, 0.48), np.float32)
            albedo *= 1.0 - stain[..., None] * (1.0 - tint)

    def _draw_part(self, canvas, part: dict, pose: Pose, frame: Frame, light: Light) -> None:
        if part["kind"] == "flipper":
            self._draw_flipper(canvas, part, pose, frame, light)
            return
        colors = {"foot": self.sp.feet, "tail": self.p["back"], "crest": self.sp.crest}
        polys = part.get("polys", [part["poly"]])
        normal = (0.0, -0.7, 0.7) if part["kind"] == "foot" else (0.0, -0.2, 0.98)
        self._flat_polys(canvas, polys, colors[part["kind"]], normal, pose, frame, light)

    def _flat_polys(self, canvas, polys, color, normal, pose: Pose, frame: Frame, light: Light):
        h, w = canvas.shape[:2]
        cpolys = [frame.to_canvas(np.asarray(p, np.float32)) for p in polys]
        box = clip_box(points_box(np.concatenate(cpolys, 0), pad=2), w, h)
        if box is None:
            return
        cov = coverage([[tuple(q) for q in p] for p in cpolys], box)
        if pose.waterline is not None:
            xs, ys = pixel_grid(box)
            _, Y = frame.to_local(xs, ys)
            cov = cov * self._water(pose, Y, frame.scale)
        nx, ny = frame.rotate_normal(np.float32(normal[0]), np.float32(normal[1]))
        lit = shade(
            np.asarray(color, np.float32)[None, None],
            np.float32(nx),
            np.float32(ny),
            np.float32(normal[2]),
            light,
        )
        blend(canvas, box, lit.reshape(1, 1, 3), cov)

    @staticmethod
    def _flipper_shape(part: dict, X: np.ndarray, Y: np.ndarray, scale: float):
        """Coverage, along-blade position q and signed across-blade position e of a flipper."""
        d, perp, length, width = part["dir"], part["perp"], part["len"], part["width"]
        rx, ry = X - part["base"][0], Y - part["base"][1]
        s = rx * d[0] + ry * d[1]
        v = rx * perp[0] + ry * perp[1]
        q = np.clip(s / length, 0.0, 1.2)
        v = v - part["trail"] * 0.1 * length * q * q
        # Narrow where it leaves the body, broadest at a quarter, tapering to a rounded tip.
        tip = np.sqrt(np.clip(1.0 - ((q - 0.7) / 0.3).clip(0) ** 2, 0, 1))
        root = 0.75 + 0.25 * np.clip(q / 0.25, 0, 1)
        half = width * root * (1.0 - 0.45 * np.clip(q - 0.25, 0, None)) * tip
        dist = np.minimum(half - np.abs(v), s + width * 0.5)
        e = np.clip(v / np.maximum(half, 1e-5), -1.0, 1.0) * part["trail"]
        return soft(dist * scale), q, e

    def _draw_flipper(self, canvas, part: dict, pose: Pose, frame: Frame, light: Light) -> None:
        h, w = canvas.shape[:2]
        box = clip_box(points_box(frame.to_canvas(np.asarray(part["poly"], np.float32)), 4), w, h)
        if box is None:
            return
        xs, ys = pixel_grid(box)
        X, Y = frame.to_local(xs, ys)
        water = self._water(pose, Y, frame.scale)
        if part["front"] and abs(pose.yaw) > 0.5:
            # A flipper lying on the flank casts a thin shadow that separates it from the body.
            sx, sy = light.shadow_offset
            off = 0.012
            shadow, _, _ = self._flipper_shape(
                part, X - sx * off, Y - (sy + 0.5) * off, frame.scale
            )
            blend(
                canvas,
                box,
                np.zeros(3, np.float32),
                np.asarray(shadow * water * 0.35 * (1 - 0.5 * light.softness), np.float32),
            )
        alpha, q, e = self._flipper_shape(part, X, Y, frame.scale)
        alpha = alpha * water
        sel = alpha > 0
        if not np.any(sel):
            return
        q, e = q[sel], e[sel]
        back = np.asarray(self.p["back"], np.float32)
        pale = np.asarray(self.p["belly"], np.float32)
        if part["inner"]:
            dark = np.maximum(soft((-e - 0.55) * 8.0), soft((q - 0.82) * 30.0))
            base_rgb = pale * np.asarray((1.0, 0.93, 0.92), np.float32)
        else:
            dark = 1.0 - 0.85 * soft((e - 0.8) * 12.0)
            base_rgb = pale
        albedo = base_rgb + (back - base_rgb) * dark[..., None]
        perp = part["perp"]
        n_side = 0.5 * e * part["trail"]
        nx, ny = frame.rotate_normal(n_side * perp[0], n_side * perp[1] - 0.15)
        nz = np.sqrt(np.clip(1.0 - nx * nx - ny * ny, 0.05, 1.0))
        lit = shade(albedo, nx, ny, nz, light, gloss=dark * 0.8, rim=self.rim * 0.5)
        color = np.zeros(sel.shape + (3,), np.float32)
        color[sel] = lit
        blend(canvas, box, color, np.asarray(alpha, np.float32))

    def _draw_bill(self, canvas, pose: Pose, frame: Frame, light: Light, tab) -> None:
        h, w = canvas.shape[:2]
        outline, accents, mouth = bill_polys(self, pose, tab)
        cpoly = frame.to_canvas(np.asarray(outline[0], np.float32))
        box = clip_box(points_box(cpoly, pad=2), w, h)
        if box is None:
            return
        cov = coverage([[tuple(q) for q in cpoly]], box)
        xs, ys = pixel_grid(box)
        X, Y = frame.to_local(xs, ys)
        X, Y = np.broadcast_arrays(X, Y)
        cov = cov * self._water(pose, Y, frame.scale)
        rgb = np.empty(cov.shape + (3,), np.float32)
        rgb[:] = np.asarray(self.sp.bill, np.float32)
        if accents and self.sp.bill_accent is not None:
            acc = coverage(
                [[tuple(q) for q in frame.to_canvas(np.asarray(a, np.float32))] for a in accents],
                box,
            )
            rgb += (np.asarray(self.sp.bill_accent, np.float32) - rgb) * acc[..., None]
        line = coverage([[tuple(q) for q in frame.to_canvas(np.asarray(mouth, np.float32))]], box)
        rgb *= (1.0 - 0.6 * line)[..., None]
        # Upper surface catches the sky, the underside is in shade.
        rel = np.clip((Y - self.bill_y) / self.sp.bill_h, -1.0, 1.0)
        ny0 = -0.8 * (1.0 - (rel + 1.0) / 2.0) + 0.4 * (rel + 1.0) / 2.0
        nx, ny = frame.rotate_normal(np.full_like(ny0, 0.2 * math.sin(pose.yaw)), ny0)
        nz = np.sqrt(np.clip(1.0 - nx * nx - ny * ny, 0.05, 1.0))
        lit = shade(rgb, nx, ny, nz, light, gloss=0.6, rim=0.0)
        # Bare bill and skin read brighter than feathers in the same light.
        lit = lit * 1.15 + rgb * 0.08
        blend(canvas, box, lit, cov)

    def contact_shadow(self, canvas, pose: Pose, frame: Frame, light: Light) -> None:
        """Soft shadow on the ground under the feet (or the belly of a lying bird)."""
        pts = frame.to_canvas(self.outline(pose))
        if pose.waterline is not None:
            return
        foot = frame.to_canvas(np.array([[0.0, FOOT_Y]], np.float32))[0]
        span = pts[:, 0].max() - pts[:, 0].min()
        bottom = pts[:, 1].max()
        cx = foot[0] if abs(frame.angle) < 0.6 else (pts[:, 0].max() + pts[:, 0].min()) / 2
        cy = min(foot[1], bottom) if abs(frame.angle) < 0.6 else bottom - 0.1 * frame.scale * 0.3
        sx, sy = light.shadow_offset
        strength = 0.45 * (1.0 - 0.55 * light.softness)
        rx = 0.5 * span if abs(frame.angle) > 0.6 else 0.28 * frame.scale
        soft_ellipse(
            canvas,
            cx + sx * 0.15 * frame.scale,
            cy + 0.01 * frame.scale,
            rx,
            rx * 0.22,
            (0.0, 0.0, 0.0),
            strength,
            feather=0.8,
        )
        soft_ellipse(canvas, cx, cy, rx * 0.55, rx * 0.12, (0.0, 0.0, 0.0), strength * 0.8, 0.6)


class _Lookup:
    """Linear interpolation into the YS tables, sharing index work across several tables.

    np.interp binary-searches for every pixel; the tables are evenly spaced, so the index is
    a multiply, and several tables are read with the same index and weight.
    """

    def __init__(self, y: np.ndarray):
        f = (np.asarray(y, np.float32) - YS[0]) * ((len(YS) - 1) / (YS[-1] - YS[0]))
        f = np.clip(f, 0.0, len(YS) - 1.001)
        self.i = f.astype(np.int32)
        self.t = (f - self.i).astype(np.float32)

    def __call__(self, table: np.ndarray) -> np.ndarray:
        table = table.astype(np.float32, copy=False)
        lo = table[self.i]
        return lo + (table[self.i + 1] - lo) * self.t
