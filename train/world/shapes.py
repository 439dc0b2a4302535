# SPDX-License-Identifier: LGPL-2.1-or-later
"""Signed-distance shapes and their anti-aliased rasteriser.

Every shape is defined at unit size (its nominal diameter is 1) in local
coordinates with x to the right and y DOWN (screen convention), centred at
the origin.  `sdf(shape, x, y)` returns the signed distance (negative inside)
in the same units.  Drawing scales, rotates and translates the shape, and
turns the distance into pixel coverage analytically: coverage =
clamp(0.5 - distance_in_pixels, 0, 1), i.e. the area of a pixel cut by the
locally straight edge.  Only the bounding box of the shape is evaluated.

Orientation at angle 0: triangle apex up, star with one point up, heart
upright.  A positive angle turns the shape clockwise on screen.
"""
import math

import numpy as np

_SQ_HALF = 0.41                      # square half side
_TRI_R = 0.55 * math.sqrt(3.0) / 2   # equilateral triangle: half side (circumradius 0.55)
_STAR_R, _STAR_RF = 0.55, 0.45       # star outer radius, inner-ratio parameter
_HEART_K = 1.0 / 1.2071              # unit heart of width 1.2071 scaled to width 1
_HEART_CY = 0.5518                   # vertical centre of the unit heart


def _sd_circle(x, y):
    return np.sqrt(x * x + y * y) - 0.5


def _sd_square(x, y):
    dx = np.abs(x) - _SQ_HALF
    dy = np.abs(y) - _SQ_HALF
    ox = np.maximum(dx, 0.0)
    oy = np.maximum(dy, 0.0)
    return np.sqrt(ox * ox + oy * oy) + np.minimum(np.maximum(dx, dy), 0.0)


def _sd_triangle(x, y):
    # Inigo Quilez's exact equilateral triangle, y up, apex up.
    k = math.sqrt(3.0)
    r = _TRI_R
    px = np.abs(x) - r
    py = -y + r / k
    swap = px + k * py > 0.0
    qx = np.where(swap, (px - k * py) * 0.5, px)
    qy = np.where(swap, (-k * px - py) * 0.5, py)
    qx = qx - np.clip(qx, -2.0 * r, 0.0)
    return -np.sqrt(qx * qx + qy * qy) * np.sign(qy)


def _sd_star(x, y):
    # Inigo Quilez's exact five-pointed star, y up, one point up.
    k1x, k1y = 0.809016994375, -0.587785252292
    k2x, k2y = -k1x, k1y
    px = np.abs(x)
    py = -y
    d = np.maximum(k1x * px + k1y * py, 0.0) * 2.0
    px, py = px - d * k1x, py - d * k1y
    d = np.maximum(k2x * px + k2y * py, 0.0) * 2.0
    px, py = px - d * k2x, py - d * k2y
    px = np.abs(px)
    py = py - _STAR_R
    bax, bay = _STAR_RF * -k1y, _STAR_RF * k1x - 1.0
    h = np.clip((px * bax + py * bay) / (bax * bax + bay * bay), 0.0, _STAR_R)
    ex, ey = px - bax * h, py - bay * h
    return np.sqrt(ex * ex + ey * ey) * np.sign(py * bax - px * bay)


def _sd_heart(x, y):
    # Inigo Quilez's exact heart (tip at the origin, y up), recentred.
    px = np.abs(x) / _HEART_K
    py = -y / _HEART_K + _HEART_CY
    upper = py + px > 1.0
    a = np.sqrt((px - 0.25) ** 2 + (py - 0.75) ** 2) - math.sqrt(2.0) / 4.0
    t = 0.5 * np.maximum(px + py, 0.0)
    b = np.sqrt(np.minimum(px * px + (py - 1.0) ** 2, (px - t) ** 2 + (py - t) ** 2)) * np.sign(px - py)
    return np.where(upper, a, b) * _HEART_K


_SDF = {'circle': _sd_circle, 'square': _sd_square, 'triangle': _sd_triangle,
        'star': _sd_star, 'heart': _sd_heart}


def sdf(shape, x, y):
    """Signed distance of unit-size `shape` at local points (x, y), y down."""
    return _SDF[shape](np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64))


def _measure(shape):
    n = 481
    g = np.linspace(-0.8, 0.8, n)
    x, y = np.meshgrid(g, g)
    inside = sdf(shape, x, y) <= 0.0
    xs, ys = x[inside], y[inside]
    step = g[1] - g[0]
    return (float(xs.min() - step), float(ys.min() - step), float(xs.max() + step),
            float(ys.max() + step), float(np.sqrt(xs * xs + ys * ys).max() + step))


# EXTENTS[shape] = (xmin, ymin, xmax, ymax, radius) at unit size and angle 0;
# radius bounds the shape at any angle.
EXTENTS = {s: _measure(s) for s in _SDF}


def extent_box(shape, rotating):
    """(xmin, ymin, xmax, ymax) of the unit shape; a rotating shape gets its radius box."""
    x0, y0, x1, y1, r = EXTENTS[shape]
    if rotating and shape != 'circle':
        return (-r, -r, r, r)
    return (x0, y0, x1, y1)


def coverage(shape, cx, cy, size_px, angle, height, width):
    """Anti-aliased coverage of one shape in its clipped bounding box.

    Returns (y0, x0, cov) with cov (h, w) float32 in [0, 1] covering rows
    y0..y0+h and columns x0..x0+w of a (height, width) frame, or None when the
    shape is entirely outside.  Pixel (i, j) has its centre at (j+0.5, i+0.5).
    """
    r = EXTENTS[shape][4] * size_px + 1.5
    x0 = max(int(math.floor(cx - r)), 0)
    x1 = min(int(math.ceil(cx + r)), width)
    y0 = max(int(math.floor(cy - r)), 0)
    y1 = min(int(math.ceil(cy + r)), height)
    if x1 <= x0 or y1 <= y0 or size_px <= 0:
        return None
    px = (np.arange(x0, x1, dtype=np.float64) + 0.5 - cx)[None, :]
    py = (np.arange(y0, y1, dtype=np.float64) + 0.5 - cy)[:, None]
    if angle != 0.0 and shape != 'circle':
        c, s = math.cos(angle), math.sin(angle)
        # rotate points by -angle into the shape's frame
        lx = (c * px + s * py) / size_px
        ly = (-s * px + c * py) / size_px
    else:
        lx = np.broadcast_to(px / size_px, (y1 - y0, x1 - x0))
        ly = np.broadcast_to(py / size_px, (y1 - y0, x1 - x0))
    d = sdf(shape, lx, ly) * size_px
    cov = np.clip(0.5 - d, 0.0, 1.0).astype(np.float32)
    return y0, x0, cov
