# SPDX-License-Identifier: LGPL-2.1-or-later
"""Procedural backgrounds, seen through the scene camera.

Plain backgrounds are one colour.  Textured ones are built from static
layers (sky gradients, clouds, grass, hills: drawn once per clip in world
coordinates, periodic along x) and moving elements (waves, twinkling stars,
snow flakes, rain streaks: computed per frame).  Each frame samples the
world at the camera's view: world x = (screen x - W/2) / zoom + C(t), world
y = (screen y - H/2) / zoom + H/2, so a pan slides the whole background and
a zoom magnifies it about the frame centre.

Background(kind, W, H, camera, n_frames, fps, seed).frame(t) -> (H, W, 3)
float32 sRGB 0..255.
"""
import math

import numpy as np

from .motion import camera_track
from .palette import PLAIN_BACKGROUNDS


def _gradient(yw, H, stops):
    """Vertical colour ramp: stops = [(y fraction, (r, g, b)), ...] -> (len(yw), 3)."""
    ys = np.array([s[0] for s in stops]) * H
    cols = np.array([s[1] for s in stops], dtype=np.float64)
    return np.stack([np.interp(yw, ys, cols[:, k]) for k in range(3)], axis=1)


def _value_noise(rng, h, w, cell, periodic=True):
    """Smooth noise in [0, 1] of shape (h, w), periodic along x, feature size ~cell."""
    gh = int(math.ceil(h / cell)) + 2
    gw = max(int(round(w / cell)), 1)
    grid = rng.random((gh, gw))
    y = np.arange(h) / cell
    x = np.arange(w) / cell * (gw * cell / w)   # exactly gw cells across the period
    y0 = np.floor(y).astype(int)
    x0 = np.floor(x).astype(int)
    fy = y - y0
    fx = x - x0
    fy = fy * fy * (3 - 2 * fy)
    fx = fx * fx * (3 - 2 * fx)
    x1 = (x0 + 1) % gw
    x0 = x0 % gw
    a = grid[y0][:, x0] * (1 - fx) + grid[y0][:, x1] * fx
    b = grid[y0 + 1][:, x0] * (1 - fx) + grid[y0 + 1][:, x1] * fx
    return a * (1 - fy)[:, None] + b * fy[:, None]


def _fbm(rng, h, w, cell, octaves=3):
    out = np.zeros((h, w))
    amp, tot = 1.0, 0.0
    for _ in range(octaves):
        out += amp * _value_noise(rng, h, w, max(cell, 2))
        tot += amp
        amp *= 0.5
        cell /= 2.0
    return out / tot


def _smoothstep(a, b, x):
    t = np.clip((x - a) / (b - a), 0.0, 1.0)
    return t * t * (3 - 2 * t)


class Background:
    def __init__(self, kind, width, height, camera, n_frames, fps, seed):
        self.kind = kind
        self.W, self.H = width, height
        self.T = n_frames
        self.fps = fps
        self.cx, self.zoom = camera_track(camera, width, height, n_frames)
        self.rng = np.random.Generator(np.random.PCG64(seed))
        # world x range visible over the clip, with margin; textures repeat with this period
        self.x_lo = math.floor(self.cx.min() - width / 2.0) - 4
        span = math.ceil(self.cx.max() + width / 2.0) + 4 - self.x_lo
        self.period = int(span + 32)
        xs = np.arange(width) + 0.5
        ys = np.arange(height) + 0.5
        self._xs, self._ys = xs, ys
        if kind in PLAIN_BACKGROUNDS:
            self.plain = np.array(PLAIN_BACKGROUNDS[kind], dtype=np.float32)
        else:
            self.plain = None
            getattr(self, '_init_' + kind)()

    # ------------------------------------------------------------ helpers
    def world(self, t):
        """World coordinates (xw (W,), yw (H,)) of the pixel centres at frame t."""
        z = self.zoom[t]
        xw = (self._xs - self.W / 2.0) / z + self.cx[t]
        yw = (self._ys - self.H / 2.0) / z + self.H / 2.0
        return xw, yw

    def to_screen(self, x, y, t):
        z = self.zoom[t]
        return (x - self.cx[t]) * z + self.W / 2.0, (y - self.H / 2.0) * z + self.H / 2.0

    def _sample(self, tex, xw, yw):
        """Bilinear lookup of a (Ht, P, C) texture whose column 0 is world x = x_lo; x wraps."""
        Ht, P = tex.shape[0], tex.shape[1]
        x = xw - self.x_lo - 0.5
        x0 = np.floor(x).astype(np.int64)
        fx = (x - x0)[None, :, None]
        x1 = (x0 + 1) % P
        x0 = x0 % P
        y = np.clip(yw - 0.5, 0.0, Ht - 1.0)
        y0 = np.minimum(np.floor(y).astype(np.int64), Ht - 2)
        fy = (y - y0)[:, None, None]
        r0, r1 = tex[y0], tex[y0 + 1]
        top = r0[:, x0] * (1 - fx) + r0[:, x1] * fx
        bot = r1[:, x0] * (1 - fx) + r1[:, x1] * fx
        return top * (1 - fy) + bot * fy

    def _splat(self, acc, sx, sy, w):
        """Add weights w at float screen points (sx, sy) bilinearly into acc (H, W)."""
        x = sx - 0.5
        y = sy - 0.5
        x0 = np.floor(x).astype(np.int64)
        y0 = np.floor(y).astype(np.int64)
        fx, fy = x - x0, y - y0
        H, W = acc.shape
        for dx, dy, ww in ((0, 0, (1 - fx) * (1 - fy)), (1, 0, fx * (1 - fy)),
                           (0, 1, (1 - fx) * fy), (1, 1, fx * fy)):
            xi, yi = x0 + dx, y0 + dy
            ok = (xi >= 0) & (xi < W) & (yi >= 0) & (yi < H)
            acc += np.bincount(yi[ok] * W + xi[ok], weights=(w * ww)[ok],
                               minlength=H * W).reshape(H, W)

    @staticmethod
    def _blur(a):
        """Separable [1 2 1]/4 blur, edges clamped."""
        b = a.copy()
        b[:, 1:-1] = (a[:, :-2] + 2 * a[:, 1:-1] + a[:, 2:]) * 0.25
        c = b.copy()
        c[1:-1] = (b[:-2] + 2 * b[1:-1] + b[2:]) * 0.25
        return c

    def _cloud_layer(self, top, bottom, cover):
        """(H, P, 1) cloud alpha between rows top..bottom (fractions of H); cover = sky fraction."""
        H, P = self.H, self.period
        n = _fbm(self.rng, H, P, 30.0, 4)
        yf = (np.arange(H) + 0.5) / H
        band = _smoothstep(top, top + 0.12, yf) * (1 - _smoothstep(bottom - 0.12, bottom, yf))
        n = n * (0.6 + 0.4 * band[:, None])
        q = np.quantile(n, 1.0 - cover)
        a = _smoothstep(q, q + 0.12, n) * band[:, None]
        return (a * 0.92)[:, :, None]

    # ------------------------------------------------------------ day sky
    def _init_day_sky(self):
        H = self.H
        self.sky_stops = [(0, (60, 120, 215)), (0.6, (120, 175, 235)), (1.0, (185, 215, 245))]
        self.clouds = self._cloud_layer(0.0, 1.0, _uniform_c(self.rng, 0.3, 0.45))
        self.drift = _uniform_c(self.rng, 2.0, 6.0) * (1 if self.rng.random() < 0.5 else -1)

    def _frame_day_sky(self, t):
        xw, yw = self.world(t)
        sky = _gradient(yw, self.H, self.sky_stops)
        a = self._sample(self.clouds, xw - self.drift * t / self.fps, yw)
        return sky[:, None, :] * (1 - a) + np.array([250.0, 250.0, 252.0]) * a

    # ------------------------------------------------------------ sunset over the sea
    def _init_sunset_sea(self):
        self.horizon = self.H * _uniform_c(self.rng, 0.5, 0.62)
        self.sun_x = self.x_lo + self.period * _uniform_c(self.rng, 0.25, 0.75)
        self.sun_r = self.H * _uniform_c(self.rng, 0.09, 0.13)
        self.wave_phase = self.rng.random() * 10

    def _frame_sunset_sea(self, t):
        H = self.H
        xw, yw = self.world(t)
        s = t / self.fps
        hz = self.horizon
        sky = _gradient(yw, hz, [(0, (70, 40, 110)), (0.55, (200, 80, 90)), (0.9, (250, 130, 60)),
                                 (1.0, (255, 175, 90))])
        img = np.repeat(sky[:, None, :], self.W, axis=1)
        dx = xw[None, :] - self.sun_x
        dy = yw[:, None] - hz
        d = np.sqrt(dx * dx + dy * dy)
        glow = np.exp(-np.maximum(d - self.sun_r, 0) / (self.sun_r * 1.2)) * 0.55
        disc = np.clip(self.sun_r - d + 0.5, 0, 1)
        sunc = np.array([255.0, 225.0, 130.0])
        img = img * (1 - glow[..., None]) + np.array([255.0, 190.0, 110.0]) * glow[..., None]
        img = img * (1 - disc[..., None]) + sunc * disc[..., None]
        # the sea
        sea = yw > hz
        if sea.any():
            ys = yw[sea]
            depth = (ys - hz) / max(H - hz, 1.0)                     # 0 at the horizon, 1 at the bottom
            base = _gradient(depth, 1.0, [(0, (90, 60, 100)), (0.3, (45, 45, 95)), (1.0, (25, 30, 70))])
            persp = 0.15 + depth                                    # waves get bigger towards us
            phase = (np.log(ys - hz + 1.0) * 9.0)[:, None] - s * 1.6 + self.wave_phase
            crest = np.sin(2 * np.pi * phase + 0.9 * np.sin(xw[None, :] / (18.0 * persp[:, None]) + s * 0.8))
            light = _smoothstep(0.55, 0.95, crest)
            col = np.exp(-((xw[None, :] - self.sun_x) / (self.sun_r * (1.5 + 3 * depth[:, None]))) ** 2)
            glitter = light * (0.25 + 0.75 * col)
            seaimg = base[:, None, :] + glitter[..., None] * (np.array([255.0, 170.0, 90.0]) - base[:, None, :]) * 0.8
            # soft line at the horizon
            seaimg = seaimg * 0.85 + 0.15 * base[:, None, :] * (1 - col[..., None])
            img[sea] = seaimg
        return img

    # ------------------------------------------------------------ night sky with twinkling stars
    def _init_night_sky(self):
        H, P = self.H, self.period
        n = int(P * H / 160)
        r = self.rng
        self.star_x = self.x_lo + r.random(n) * P
        self.star_y = r.random(n) * H * 0.85
        self.star_b = 60 + 195 * r.random(n) ** 2
        self.star_f = 0.6 + 2.0 * r.random(n)
        self.star_p = r.random(n) * 2 * np.pi
        self.star_tw = 0.25 + 0.6 * r.random(n)
        xs = np.arange(P)
        k = r.random(3) * 2 * np.pi
        prof = (0.86 + 0.04 * np.sin(2 * np.pi * xs / P * 2 + k[0]) + 0.03 * np.sin(2 * np.pi * xs / P * 5 + k[1])
                + 0.015 * np.sin(2 * np.pi * xs / P * 11 + k[2]))
        ys = np.arange(H)[:, None] + 0.5
        hill = np.clip(ys - prof[None, :] * H + 0.5, 0, 1)
        sky = _gradient(ys[:, 0], H, [(0, (5, 7, 25)), (0.7, (15, 22, 60)), (1.0, (30, 40, 85))])
        self.tex = sky[:, None, :] * (1 - hill[..., None]) + np.array([8.0, 10.0, 16.0]) * hill[..., None]
        self.hill = prof

    def _frame_night_sky(self, t):
        xw, yw = self.world(t)
        img = self._sample(self.tex, xw, yw)
        s = t / self.fps
        tw = 1.0 - self.star_tw * (0.5 + 0.5 * np.sin(2 * np.pi * self.star_f * s + self.star_p))
        x = self.star_x
        sx, sy = self.to_screen(x, self.star_y, t)
        # stars behind the hills stay hidden
        col = np.floor(x - self.x_lo).astype(np.int64) % self.period
        vis = self.star_y < self.hill[col] * self.H - 1
        acc = np.zeros((self.H, self.W))
        self._splat(acc, sx[vis], sy[vis], (self.star_b * tw)[vis])
        glow = self._blur(acc) * 0.6 + acc * 0.6
        return np.minimum(img + glow[..., None] * np.array([0.95, 0.97, 1.0]), 255.0)

    # ------------------------------------------------------------ snowfall
    def _init_snowfall(self):
        H, P = self.H, self.period
        r = self.rng
        xs = np.arange(P)
        k = r.random(2) * 2 * np.pi
        prof = 0.86 + 0.025 * np.sin(2 * np.pi * xs / P * 3 + k[0]) + 0.015 * np.sin(2 * np.pi * xs / P * 7 + k[1])
        ys = np.arange(H)[:, None] + 0.5
        ground = np.clip(ys - prof[None, :] * H + 0.5, 0, 1)
        sky = _gradient(ys[:, 0], H, [(0, (120, 130, 150)), (1.0, (185, 190, 200))])
        shade = 225 + 20 * _value_noise(r, H, P, 10.0)
        gcol = np.stack([shade, shade + 3, shade + 8], axis=-1).clip(0, 252)
        self.tex = sky[:, None, :] * (1 - ground[..., None]) + gcol * ground[..., None]
        n = int(P * H / 70)
        self.fx = self.x_lo + r.random(n) * P
        self.fy = r.random(n) * (H + 8)
        self.fv = 12 + 30 * r.random(n)
        self.fa = 2 + 5 * r.random(n)
        self.ff = 0.3 + 0.7 * r.random(n)
        self.fp = r.random(n) * 2 * np.pi
        self.fb = 0.5 + 0.5 * r.random(n)
        self.big = r.random(n) < 0.35

    def _frame_snowfall(self, t):
        xw, yw = self.world(t)
        img = self._sample(self.tex, xw, yw)
        s = t / self.fps
        y = np.mod(self.fy + self.fv * s, self.H + 8) - 4
        x = self.fx + self.fa * np.sin(2 * np.pi * self.ff * s + self.fp)
        sx, sy = self.to_screen(x, y, t)
        small = np.zeros((self.H, self.W))
        big = np.zeros((self.H, self.W))
        self._splat(small, sx[~self.big], sy[~self.big], self.fb[~self.big])
        self._splat(big, sx[self.big], sy[self.big], self.fb[self.big] * 2.2)
        a = np.clip(small + self._blur(big) * 1.6, 0, 1)
        return img * (1 - a[..., None]) + 250.0 * a[..., None]

    # ------------------------------------------------------------ rain
    def _init_rain(self):
        H, P = self.H, self.period
        r = self.rng
        ys = np.arange(H)[:, None] + 0.5
        sky = _gradient(ys[:, 0], H, [(0, (60, 65, 75)), (0.75, (100, 105, 115)), (0.82, (70, 72, 78)),
                                      (1.0, (50, 52, 58))])
        n = _fbm(r, H, P, 24.0, 3)
        cloud = (n - 0.5) * 30 * (1 - _smoothstep(0.5, 0.8, ys / H))
        self.tex = sky[:, None, :] + cloud[..., None]
        m = int(P * H / 90)
        self.rx = self.x_lo + r.random(m) * P
        self.ry = r.random(m) * (H + 30)
        self.rv = 180 + 120 * r.random(m)
        self.rl = 6 + 8 * r.random(m)
        self.ra = 0.35 + 0.4 * r.random(m)
        self.slant = _uniform_c(r, -0.25, 0.25)

    def _frame_rain(self, t):
        xw, yw = self.world(t)
        img = self._sample(self.tex, xw, yw)
        s = t / self.fps
        y = np.mod(self.ry + self.rv * s, self.H + 30) - 15
        x = self.rx + self.slant * y
        acc = np.zeros((self.H, self.W))
        for k in np.linspace(0.0, 1.0, 7):
            yy = y - k * self.rl
            sx, sy = self.to_screen(x - self.slant * k * self.rl, yy, t)
            self._splat(acc, sx, sy, self.ra * 0.45)
        a = np.clip(acc, 0, 0.8)
        return img * (1 - a[..., None]) + np.array([200.0, 205.0, 215.0]) * a[..., None]

    # ------------------------------------------------------------ meadow under the sky
    def _init_meadow(self):
        H, P = self.H, self.period
        r = self.rng
        hz = H * _uniform_c(r, 0.5, 0.62)
        xs = np.arange(P)
        blades = r.random(P) * 3.0 * (r.random(P) < 0.6)
        k = r.random(2) * 2 * np.pi
        prof = hz + 3 * np.sin(2 * np.pi * xs / P * 2 + k[0]) - blades
        ys = np.arange(H)[:, None] + 0.5
        grass = np.clip(ys - prof[None, :] + 0.5, 0, 1)
        sky = _gradient(ys[:, 0], H, [(0, (70, 130, 220)), (hz / H, (180, 215, 245)), (1.0, (180, 215, 245))])
        depth = np.clip((ys - hz) / (H - hz), 0, 1)
        g = _gradient(depth[:, 0], 1.0, [(0, (95, 160, 70)), (1.0, (40, 115, 35))])
        # vertical grass streaks: noise stretched along y
        streak = _value_noise(r, H, P, 3.0)
        streak = (streak + _value_noise(r, H, P, 2.0)) / 2.0
        lo = np.repeat(_value_noise(r, H // 6 + 2, P, 1.5), 6, axis=0)[:H]
        tex_g = g[:, None, :] * (0.78 + 0.3 * (0.6 * lo + 0.4 * streak))[..., None]
        flowers = (r.random((H, P)) < 0.004) & (ys > hz + 4)
        tex_g[flowers] = np.array([235.0, 235.0, 210.0])
        self.tex = sky[:, None, :] * (1 - grass[..., None]) + tex_g * grass[..., None]
        self.clouds = self._cloud_layer(0.0, hz / H, 0.3)
        self.drift = _uniform_c(r, 2.0, 5.0)

    def _frame_meadow(self, t):
        xw, yw = self.world(t)
        img = self._sample(self.tex, xw, yw)
        a = self._sample(self.clouds, xw - self.drift * t / self.fps, yw)
        return img * (1 - a) + np.array([250.0, 250.0, 252.0]) * a

    # ------------------------------------------------------------
    def frame(self, t):
        if self.plain is not None:
            return np.broadcast_to(self.plain, (self.H, self.W, 3)).copy()
        img = getattr(self, '_frame_' + self.kind)(t)
        return np.clip(img, 0.0, 255.0).astype(np.float32)


def _uniform_c(rng, lo, hi):
    return float(lo + (hi - lo) * rng.random())
