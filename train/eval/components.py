# SPDX-License-Identifier: LGPL-2.1-or-later
"""Connected components of a binary mask and the shape features of one component.

numpy only (no scipy): components are found on horizontal runs joined by a
small union-find, 4-connected.  A component is described by its pixels
(ys, xs) and by rotation-invariant shape features:

  m[k]      |sum z^k| / sum |z|^k over the pixels, z = (x - cx) + i (y - cy),
            k = 1..6: zero unless the shape's rotational symmetry order
            divides k, so square m4, triangle m3 and m6, star m5 stand out
            and a disc has none; phase[k] / k is the shape's orientation
  solidity  area / area of the convex hull of the pixel squares
  fill      area / area of the bounding box
  elong     ratio of the principal second moments (1 for a disc or square)
  gyr       radius of gyration relative to the equal-area disc
"""
import math

import numpy as np


def runs(mask):
    """Horizontal runs of a bool (H, W) mask: rows, starts, ends (exclusive), row-major."""
    m = np.zeros((mask.shape[0], mask.shape[1] + 2), dtype=np.int8)
    m[:, 1:-1] = mask
    d = np.diff(m, axis=1)
    s = np.argwhere(d == 1)
    e = np.argwhere(d == -1)
    return s[:, 0], s[:, 1], e[:, 1]


def label(mask):
    """4-connected components of a bool (H, W) mask: list of (ys, xs) int arrays."""
    rows, starts, ends = runs(mask)
    n = len(rows)
    if n == 0:
        return []
    parent = list(range(n))

    def find(a):
        while parent[a] != a:
            parent[a] = parent[parent[a]]
            a = parent[a]
        return a

    rl, sl, el = rows.tolist(), starts.tolist(), ends.tolist()
    i = 0
    prev_row = -2
    prev_lo = prev_hi = 0      # run index range [lo, hi) of the row above
    while i < n:
        r = rl[i]
        k = i
        while k < n and rl[k] == r:
            k += 1
        if prev_row == r - 1:
            a = prev_lo
            for b in range(i, k):
                while a < prev_hi and el[a] <= sl[b]:
                    a += 1
                c = a
                while c < prev_hi and sl[c] < el[b]:
                    ra, rb = find(c), find(b)
                    if ra != rb:
                        parent[rb] = ra
                    c += 1
        prev_row, prev_lo, prev_hi = r, i, k
        i = k
    roots = np.array([find(a) for a in range(n)])
    order = np.argsort(roots, kind='stable')
    roots_sorted = roots[order]
    cuts = np.flatnonzero(np.diff(roots_sorted)) + 1
    out = []
    for grp in np.split(order, cuts):
        lens = ends[grp] - starts[grp]
        ys = np.repeat(rows[grp], lens)
        offs = np.arange(lens.sum()) - np.repeat(np.cumsum(lens) - lens, lens)
        xs = np.repeat(starts[grp], lens) + offs
        out.append((ys, xs))
    return out


def _hull_area(px, py):
    """Area of the convex hull of points (monotone chain)."""
    pts = sorted(set(zip(px.tolist(), py.tolist())))
    if len(pts) < 3:
        return 0.0

    def cross(o, a, b):
        return (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0])

    lower, upper = [], []
    for p in pts:
        while len(lower) >= 2 and cross(lower[-2], lower[-1], p) <= 0:
            lower.pop()
        lower.append(p)
    for p in reversed(pts):
        while len(upper) >= 2 and cross(upper[-2], upper[-1], p) <= 0:
            upper.pop()
        upper.append(p)
    h = lower[:-1] + upper[:-1]
    a = 0.0
    for k in range(len(h)):
        x0, y0 = h[k]
        x1, y1 = h[(k + 1) % len(h)]
        a += x0 * y1 - x1 * y0
    return abs(a) / 2.0


def hull_area(ys, xs):
    """Convex hull area of the union of the pixel squares of a component."""
    # only the extreme pixels of each row matter
    order = np.lexsort((xs, ys))
    y, x = ys[order], xs[order]
    first = np.r_[True, y[1:] != y[:-1]]
    last = np.r_[y[1:] != y[:-1], True]
    yy = np.concatenate([y[first], y[first], y[last], y[last]])
    xx = np.concatenate([x[first], x[first], x[last] + 1, x[last] + 1])
    yy = yy + np.concatenate([np.zeros(first.sum(), int), np.ones(first.sum(), int),
                              np.zeros(last.sum(), int), np.ones(last.sum(), int)])
    return _hull_area(xx, yy)


KS = (1, 2, 3, 4, 5, 6)


def features(ys, xs):
    """Shape features of one component (see the module docstring)."""
    area = float(len(ys))
    cx = xs.mean() + 0.5
    cy = ys.mean() + 0.5
    z = (xs + 0.5 - cx) + 1j * (ys + 0.5 - cy)
    r = np.abs(z)
    m = {}
    phase = {}
    for k in KS:
        zk = z ** k
        s = zk.sum()
        norm = (r ** k).sum()
        m[k] = float(abs(s) / norm) if norm > 0 else 0.0
        phase[k] = float(np.angle(s)) if norm > 0 else 0.0
    x0, x1, y0, y1 = xs.min(), xs.max() + 1, ys.min(), ys.max() + 1
    fill = area / float((x1 - x0) * (y1 - y0))
    ha = hull_area(ys, xs)
    solidity = area / ha if ha > 0 else 1.0
    # second moments: elongation
    mu20 = float(((xs + 0.5 - cx) ** 2).mean())
    mu02 = float(((ys + 0.5 - cy) ** 2).mean())
    mu11 = float(((xs + 0.5 - cx) * (ys + 0.5 - cy)).mean())
    tr = mu20 + mu02
    det = math.sqrt(max((mu20 - mu02) ** 2 + 4 * mu11 * mu11, 0.0))
    elong = (tr + det) / max(tr - det, 1e-9)
    # radius of gyration relative to the equal-area disc: 1 for a disc
    gyr = math.sqrt(tr) / math.sqrt(area / (2.0 * math.pi)) if area > 0 else 1.0
    return {'area': area, 'cx': cx, 'cy': cy, 'bbox': (int(x0), int(y0), int(x1), int(y1)),
            'm': m, 'phase': phase, 'fill': fill, 'solidity': solidity, 'elong': elong,
            'gyr': gyr}
