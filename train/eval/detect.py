# SPDX-License-Identifier: LGPL-2.1-or-later
"""Detector: what an st2v clip shows, read from its RGB frames alone (no labels).

    from train.eval.detect import detect
    d = detect(video)          # uint8 (T, H, W, 3) sRGB
    d['background']            # black, gray, white, green_screen, blue_screen,
                               # day_sky, sunset_sea, night_sky, snowfall, rain, meadow
    d['tracks']                # one dict per object followed through the clip
    d['counts']                # {colour: median number of components per frame}

Steps:
  1. Background: plain when >= 70 % of the border pixels lie within 14 of a
     plain colour; otherwise the nearest textured prototype by the median
     colours of the top 30 % and bottom 25 % of the frame and the fraction of
     clear-sky blue pixels (prototypes measured on world renders: blue over
     light blue = day sky, magenta over dark blue = sunset sea, near black =
     night sky, grey over white = snowfall, dark grey = rain, blue over green
     = meadow).
  2. Objects: a pixel belongs to an object when it lies within PALETTE_TOL of
     one of the nine palette colours (the ones the world may draw on that
     background, palette.colour_ok_on) and is nearer to that colour than to
     every tone of the background; 4-connected components of those pixels,
     each coloured by the majority of its pixels.
  3. Tracks: components linked frame to frame by predicted position (gaps of
     up to a quarter of the clip are bridged).  Where a track's colour differs
     across a gap (mid colour change, the blend is no palette colour) the gap
     is filled with components of pixels on the colour segment between the
     two colours, near the interpolated place, of similar area and shape.
  4. Per track: start / end colour (majority over the first / last 20 % of
     its frames), shape (area-weighted vote of a nearest-prototype classifier
     on rotation-invariant complex moments, components.py), motion (from the
     centroid, area and orientation over time: spins, bounce, left/right/up/
     down, falls/rises, grows/shrinks, still), temporal consistency (seen in
     >= 90 % of the frames, the running-median path never moving more than
     7 % of the frame diagonal in a frame, at most 2 gaps, size spikes or
     one-frame position glitches).
"""
import math

import numpy as np

from train.world.palette import (BACKGROUND_TONES, COLOUR_NAMES, COLOURS, PLAIN_BACKGROUNDS,
                                 colour_ok_on)

from .components import features, label

PALETTE = np.array([COLOURS[c] for c in COLOUR_NAMES], dtype=np.float32)      # (9, 3)
PALETTE_TOL = 60.0          # max distance of an object pixel to its palette colour
MIN_AREA = 8                # smaller components are noise (star specks, fragments)
MIN_EXTENT = 3              # ... and so are thinner ones (a 4:2:0 rim along the horizon)
BLEND_TOL = 30.0            # colour-change blends: distance to the segment between two colours,
BLEND_AREA_RATIO = 1.6      # area ratio to the object before / after the gap,
BLEND_SHAPE = 0.25          # distance of the shape moments to theirs
PLAIN_TOL, PLAIN_FRAC = 14.0, 0.7

# Median colour of the top 30 % and the bottom 25 % of the frame, and the
# fraction of clear-sky blue pixels (b - r > 60, b > 150; weighted by
# BLUE_WEIGHT), measured on renders of the training split.
TEXTURE_PROTOTYPES = {
    'day_sky': [((80, 138, 221), (175, 208, 243), 0.75)],
    'sunset_sea': [((140, 64, 100), (34, 36, 75), 0.0)],
    'night_sky': [((7, 10, 33), (9, 11, 18), 0.0), ((8, 11, 34), (17, 25, 64), 0.0)],
    'snowfall': [((130, 140, 158), (230, 233, 238), 0.0)],
    'rain': [((70, 75, 85), (66, 68, 74), 0.0)],
    'meadow': [((122, 168, 231), (51, 118, 42), 0.34), ((190, 212, 242), (51, 118, 42), 0.34)],
}
BLUE_WEIGHT = 150.0

# Shape prototypes: (m2, m3, m4, m5, m6), see components.features; measured on
# world shapes at every angle (square m4 .43, triangle m3 .66 / m6 .69, star m5
# .82, heart m2 .16 / m3 .33; a disc has none).
SHAPE_PROTOTYPES = {
    'circle': (0.0, 0.0, 0.0, 0.0, 0.0),
    'square': (0.0, 0.0, 0.43, 0.0, 0.0),
    'triangle': (0.0, 0.66, 0.0, 0.0, 0.69),
    'star': (0.0, 0.0, 0.0, 0.82, 0.0),
    'heart': (0.16, 0.33, 0.10, 0.0, 0.11),
}
SHAPE_NAMES = tuple(SHAPE_PROTOTYPES)
_SHAPE_P = np.array([SHAPE_PROTOTYPES[s] for s in SHAPE_NAMES])
OTHER_MIN_AREA, OTHER_DIST = 400, 0.35  # world shapes of >= 400 px lie within 0.15 (0.25 after 4:2:0)
CIRCLE_SOLIDITY = 0.85                  # a rasterised disc has >= 0.91
SYMMETRY = {'square': 4, 'triangle': 3, 'star': 5, 'heart': 3}   # harmonic used for orientation

# Motion thresholds (fractions of the frame dimension along the axis).
TRAVEL_MIN = 0.28           # travel motions cross >= 40 % of the frame; a pan moves <= 22 %
REVERSAL_MIN = 0.035        # a bounce turns back by at least this much (and >= 4 px)
ACCEL_RATIO = 0.65          # falls / rises: first-quarter speed < this x the fastest quarter
GROW_MIN, SHRINK_MAX = 1.45, 0.82   # size ratio end / start (a zoom-in gives 1.2 - 1.4)
SPIN_MIN_DEG = 90.0         # total rotation of a spinning shape (at least 180 in the world)

# Temporal consistency.
PRESENCE_MIN = 0.9
JUMP_MAX = 0.07             # of the frame diagonal, per frame (the world's fastest: 0.045)
AREA_JUMP = 2.0             # area ratio of a frame to its neighbours' median
FLICKER_MAX = 2             # gaps + size spikes + position glitches tolerated along a track
LINK_AREA_RATIO = 3.0       # components this different in area are never linked


# ---------------------------------------------------------------- background

def _region_medians(video):
    T, H, W, _ = video.shape
    f = video[::max(1, T // 8)].astype(np.float32)
    top = np.median(f[:, :max(1, int(H * 0.3))].reshape(-1, 3), axis=0)
    bot = np.median(f[:, int(H * 0.75):].reshape(-1, 3), axis=0)
    return f, top, bot


def classify_background(video):
    """(name, info) of the background of a (T, H, W, 3) clip."""
    f, top, bot = _region_medians(video)
    border = np.concatenate([f[:, 0].reshape(-1, 3), f[:, -1].reshape(-1, 3),
                             f[:, :, 0].reshape(-1, 3), f[:, :, -1].reshape(-1, 3)])
    best, best_frac = None, 0.0
    for name, rgb in PLAIN_BACKGROUNDS.items():
        d = np.sqrt(((border - np.array(rgb, dtype=np.float32)) ** 2).sum(axis=1))
        frac = float((d < PLAIN_TOL).mean())
        if frac > best_frac:
            best, best_frac = name, frac
    info = {'top': top.round(1).tolist(), 'bottom': bot.round(1).tolist(), 'plain_frac': best_frac}
    if best_frac >= PLAIN_FRAC:
        return best, info
    blue = float(((f[..., 2] - f[..., 0] > 60) & (f[..., 2] > 150)).mean())
    info['blue'] = round(blue, 3)
    feat = np.concatenate([top, bot, [BLUE_WEIGHT * blue]])
    dist = {}
    for name, protos in TEXTURE_PROTOTYPES.items():
        dist[name] = min(float(np.sqrt(((feat - np.array(a + b + (BLUE_WEIGHT * c,),
                                                          dtype=np.float32)) ** 2).sum()))
                         for a, b, c in protos)
    name = min(dist, key=dist.get)
    info['distance'] = round(dist[name], 1)
    return name, info


def allowed_colours(background):
    """Palette indices the world may draw on this background."""
    return [i for i, c in enumerate(COLOUR_NAMES) if colour_ok_on(c, background)]


# ---------------------------------------------------------------- segmentation

def segment(frame, background, allowed=None):
    """Object components of one (H, W, 3) frame: list of dicts with colour index,
    colour histogram, features (components.features)."""
    if allowed is None:
        allowed = allowed_colours(background)
    if not allowed:
        return []
    H, W, _ = frame.shape
    px = frame.reshape(-1, 3).astype(np.float32)                  # (N, 3)
    pal = PALETTE[allowed]                                        # (k, 3)
    tones = np.array(BACKGROUND_TONES[background], dtype=np.float32)
    sq = (px * px).sum(axis=1, keepdims=True)                     # (N, 1)
    d2 = sq - 2.0 * (px @ pal.T) + (pal * pal).sum(axis=1)[None]  # (N, k) squared distances
    b2 = (sq - 2.0 * (px @ tones.T) + (tones * tones).sum(axis=1)[None]).min(axis=1)   # (N,)
    near = d2.argmin(axis=1)
    dmin = d2[np.arange(len(near)), near]
    mask = ((dmin < PALETTE_TOL ** 2) & (dmin < b2)).reshape(H, W)
    near = near.reshape(H, W)
    out = []
    for ys, xs in label(mask):
        if len(ys) < MIN_AREA or ys.max() - ys.min() < MIN_EXTENT - 1 \
                or xs.max() - xs.min() < MIN_EXTENT - 1:
            continue
        hist = np.bincount(near[ys, xs], minlength=len(allowed))
        f = features(ys, xs)
        f['colour'] = int(allowed[int(hist.argmax())])
        f['purity'] = float(hist.max() / hist.sum())
        out.append(f)
    return out


def segment_blend(frame, background, c0, c1, box):
    """Components of pixels on the colour segment between palette colours c0
    and c1 (an object in the middle of a colour change) inside box = (x0, y0,
    x1, y1); each gets the colour of the nearer end."""
    x0, y0, x1, y1 = box
    crop = frame[y0:y1, x0:x1].reshape(-1, 3).astype(np.float32)
    if crop.size == 0:
        return []
    a, b = PALETTE[c0], PALETTE[c1]
    ab = b - a
    u = np.clip(((crop - a) @ ab) / float(ab @ ab), 0.0, 1.0)              # (N,)
    d2 = ((crop - (a[None] + u[:, None] * ab[None])) ** 2).sum(axis=1)
    tones = np.array(BACKGROUND_TONES[background], dtype=np.float32)
    b2 = ((crop[:, None, :] - tones[None]) ** 2).sum(-1).min(axis=1)
    h, w = y1 - y0, x1 - x0
    mask = ((d2 < BLEND_TOL ** 2) & (d2 < b2)).reshape(h, w)
    uu = u.reshape(h, w)
    out = []
    for ys, xs in label(mask):
        if len(ys) < MIN_AREA:
            continue
        f = features(ys + y0, xs + x0)
        f['colour'] = c0 if float(uu[ys, xs].mean()) < 0.5 else c1
        f['purity'] = 0.0
        f['blend'] = True
        out.append(f)
    return out


def fill_colour_gaps(video, background, tr):
    """Fill the frames missing from a track between two different colours with
    the blended object, where it can be found near the interpolated place."""
    T, H, W, _ = video.shape
    diag = math.hypot(W, H)
    ts = sorted(tr)
    for a, b in zip(ts[:-1], ts[1:]):
        ca, cb = tr[a], tr[b]
        if b - a < 2 or ca['colour'] == cb['colour']:
            continue
        ref = 0.5 * (ca['area'] + cb['area'])
        for t in range(a + 1, b):
            u = (t - a) / float(b - a)
            px = ca['cx'] + u * (cb['cx'] - ca['cx'])
            py = ca['cy'] + u * (cb['cy'] - ca['cy'])
            reach = 0.6 * math.sqrt(ref) + 0.1 * diag * min(t - a, b - t)
            r = int(reach + 2.0 * math.sqrt(ref)) + 2
            box = (max(0, int(px) - r), max(0, int(py) - r), min(W, int(px) + r + 1),
                   min(H, int(py) + r + 1))
            ref_shape = shape_vector(ca) + u * (shape_vector(cb) - shape_vector(ca))
            best = None
            for c in segment_blend(video[t], background, ca['colour'], cb['colour'], box):
                d = math.hypot(c['cx'] - px, c['cy'] - py)
                ratio = max(c['area'], ref) / max(min(c['area'], ref), 1.0)
                similar = float(np.sqrt(((shape_vector(c) - ref_shape) ** 2).sum())) <= BLEND_SHAPE
                if d <= reach and ratio <= BLEND_AREA_RATIO and similar and (best is None or d < best[0]):
                    best = (d, c)
            if best is not None:
                tr[t] = best[1]
    return tr


# ---------------------------------------------------------------- shape

def shape_vector(f):
    return np.array([f['m'][2], f['m'][3], f['m'][4], f['m'][5], f['m'][6]])


def classify_shape(f):
    """Nearest shape prototype of one component's features: (name, distance).

    A component of at least OTHER_MIN_AREA pixels far from every prototype
    (an ellipse, a bar, a blob) or a "circle" with holes or dents is 'other',
    which matches no shape; smaller ones are too pixelated to judge that way."""
    d = np.sqrt(((_SHAPE_P - shape_vector(f)[None]) ** 2).sum(axis=1))
    i = int(d.argmin())
    name = SHAPE_NAMES[i]
    if f['area'] >= OTHER_MIN_AREA and (d[i] > OTHER_DIST or
                                        (name == 'circle' and f['solidity'] < CIRCLE_SOLIDITY)):
        name = 'other'
    return name, float(d[i])


# ---------------------------------------------------------------- tracking

def link(frames, width, height):
    """Link per-frame components into tracks: list of {t: component}."""
    T = len(frames)
    diag = math.hypot(width, height)
    max_gap = max(2, T // 4)
    tracks = []           # each: dict(t -> comp)
    active = []
    for t, comps in enumerate(frames):
        pairs = []
        for ti, tr in enumerate(active):
            ts = sorted(tr)
            t1 = ts[-1]
            g = t - t1
            if g > max_gap:
                continue
            c1 = tr[t1]
            p = np.array([c1['cx'], c1['cy']])
            if len(ts) >= 2:
                # median velocity of the last few steps: one odd detection (two
                # objects merged for a frame) does not throw the prediction
                rec = ts[-5:]
                vs = [(np.array([tr[b]['cx'], tr[b]['cy']]) - np.array([tr[a]['cx'], tr[a]['cy']])) / (b - a)
                      for a, b in zip(rec[:-1], rec[1:]) if b - a <= 3]
                if vs:
                    p = p + np.median(np.array(vs), axis=0) * g
            gate = 0.08 * diag * g + 0.6 * math.sqrt(c1['area'])
            for ci, c in enumerate(comps):
                dist = math.hypot(c['cx'] - p[0], c['cy'] - p[1])
                if dist > gate:
                    continue
                ratio = max(c['area'], c1['area']) / max(min(c['area'], c1['area']), 1.0)
                if ratio > LINK_AREA_RATIO:
                    continue        # a fragment (e.g. the rim of a colour blend), not this object
                cost = dist / gate + 0.3 * (c['colour'] != c1['colour']) + 0.2 * min(ratio - 1.0, 2.0)
                pairs.append((cost, ti, ci))
        pairs.sort()
        used_t, used_c = set(), set()
        for cost, ti, ci in pairs:
            if ti in used_t or ci in used_c:
                continue
            used_t.add(ti)
            used_c.add(ci)
            active[ti][t] = comps[ci]
        for ci, c in enumerate(comps):
            if ci not in used_c:
                tr = {t: c}
                tracks.append(tr)
                active.append(tr)
        active = [tr for tr in active if t - max(tr) <= max_gap]
    return tracks


# ---------------------------------------------------------------- per-track analysis

def _mode(values):
    vals, counts = np.unique(np.asarray(values), return_counts=True)
    return int(vals[counts.argmax()])


def _reversals(x, h):
    """Direction reversals of a 1-D path with hysteresis h (zigzag)."""
    if len(x) < 3:
        return 0
    direction = 0
    ext = x[0]
    start = x[0]
    n = 0
    for v in x[1:]:
        if direction == 0:
            if v - start >= h:
                direction, ext = 1, v
            elif start - v >= h:
                direction, ext = -1, v
        elif direction > 0:
            if v > ext:
                ext = v
            elif ext - v >= h:
                n += 1
                direction, ext = -1, v
        else:
            if v < ext:
                ext = v
            elif v - ext >= h:
                n += 1
                direction, ext = 1, v
    return n


def _median5(x):
    """Running median over 5 samples (2 at the ends): one or two odd frames (two
    objects merged into one component) do not make a reversal."""
    n = len(x)
    if n < 3:
        return x
    return np.array([np.median(x[max(0, i - 2):i + 3]) for i in range(n)])


def _rotation(ts, comps, k):
    """Total signed rotation (degrees, clockwise positive) from the k-th harmonic phase."""
    total = 0.0
    n = 0
    for a, b in zip(ts[:-1], ts[1:]):
        ca, cb = comps[a], comps[b]
        if b - a > 2 or ca['m'][k] < 0.08 or cb['m'][k] < 0.08:
            continue
        d = cb['phase'][k] - ca['phase'][k]
        d = (d + math.pi) % (2 * math.pi) - math.pi
        total += d / k
        n += 1
    return math.degrees(total), n


def classify_motion(ts, centre, size, rotation_deg, width, height):
    """Motion label of a track from its present frames ts, centres (n, 2) and sizes (n,)."""
    n = len(ts)
    if n < 3:
        return 'still', {}
    x = _median5(centre[:, 0])
    y = _median5(centre[:, 1])
    info = {'rotation_deg': round(rotation_deg, 1)}
    k = max(1, min(3, n // 8))
    dx = float(np.median(x[-k:]) - np.median(x[:k]))
    dy = float(np.median(y[-k:]) - np.median(y[:k]))
    info['dx'], info['dy'] = round(dx / width, 3), round(dy / height, 3)
    if abs(rotation_deg) >= SPIN_MIN_DEG:
        return 'spins', info
    rx = _reversals(x, max(4.0, REVERSAL_MIN * width))
    ry = _reversals(y, max(4.0, REVERSAL_MIN * height))
    info['reversals'] = (rx, ry)
    if rx + ry >= 1:
        return 'bounce', info
    fx, fy = abs(dx) / width, abs(dy) / height
    if max(fx, fy) >= TRAVEL_MIN:
        if fx >= fy:
            return ('right' if dx > 0 else 'left'), info
        # vertical: constant speed or accelerating?
        tt = np.asarray(ts, dtype=np.float64)
        span = tt[-1] - tt[0]
        sign = 1.0 if dy > 0 else -1.0
        speeds = []
        for q in range(4):
            lo, hi = tt[0] + span * q / 4.0, tt[0] + span * (q + 1) / 4.0
            ya = np.interp(lo, tt, y)
            yb = np.interp(hi, tt, y)
            speeds.append(sign * (yb - ya))
        ratio = speeds[0] / max(max(speeds), 1e-6)
        info['accel_ratio'] = round(ratio, 3)
        if dy > 0:
            return ('falls' if ratio < ACCEL_RATIO else 'down'), info
        return ('rises' if ratio < ACCEL_RATIO else 'up'), info
    k2 = max(1, n // 6)
    s0 = float(np.median(size[:k2]))
    s1 = float(np.median(size[-k2:]))
    ratio = s1 / max(s0, 1e-6)
    info['size_ratio'] = round(ratio, 3)
    if ratio >= GROW_MIN:
        return 'grows', info
    if ratio <= SHRINK_MAX:
        return 'shrinks', info
    return 'still', info


def analyse_track(tr, T, width, height):
    """Everything the scorer needs about one track."""
    ts = sorted(tr)
    comps = [tr[t] for t in ts]
    n = len(ts)
    centre = np.array([[c['cx'], c['cy']] for c in comps])
    area = np.array([c['area'] for c in comps], dtype=np.float64)
    size = np.sqrt(area)
    colours = [c['colour'] for c in comps]
    k = max(1, int(round(0.2 * n)))
    c_start = _mode(colours[:k])
    c_end = _mode(colours[-k:])
    # shape: area-weighted vote
    votes = {}
    for c in comps:
        s, _ = classify_shape(c)
        votes[s] = votes.get(s, 0.0) + c['area']
    shape = max(votes, key=votes.get)
    # rotation from the harmonic of the shape's symmetry (else the strongest one)
    k = SYMMETRY.get(shape)
    if k is None:
        med = {j: float(np.median([c['m'][j] for c in comps])) for j in (2, 3, 4, 5)}
        k = max(med, key=med.get)
        if med[k] < 0.15:
            k = None            # a disc (pixelation noise stays below): no orientation to follow
    rot = _rotation(ts, tr, k)[0] if k else 0.0
    motion, minfo = classify_motion(ts, centre, size, rot, width, height)
    # temporal consistency
    diag = math.hypot(width, height)
    present = np.zeros(T, dtype=bool)
    present[ts] = True
    speed = np.zeros(n)          # px per frame around each detection
    if n > 1:
        step = np.hypot(*np.diff(centre, axis=0).T) / np.diff(ts)
        speed[1:] = step
        speed[0] = step[0]
    gaps = 0
    max_jump = 0.0
    # jumps are measured on the running median of the path; a lone odd frame
    # (two objects merged into one component for a frame) is a glitch instead
    smooth = np.stack([_median5(centre[:, 0]), _median5(centre[:, 1])], axis=1)
    glitches = int((np.hypot(*(centre - smooth).T) > JUMP_MAX * diag).sum())
    for i, ((a, ca), (b, cb)) in enumerate(zip(zip(ts[:-1], comps[:-1]), zip(ts[1:], comps[1:]))):
        g = b - a
        max_jump = max(max_jump, float(np.hypot(*(smooth[i + 1] - smooth[i]))) / g / diag)
        disp = math.hypot(cb['cx'] - ca['cx'], cb['cy'] - ca['cy'])
        if g > 1:
            v = max(speed[max(0, i - 3):i + 1].max(), speed[i + 1:i + 5].max() if i + 1 < n else 0.0)
            if ca['colour'] != cb['colour'] and disp <= v * g * 1.5 + 0.03 * diag:
                present[a:b] = True      # mid colour change, the blend not seen: bridged
            else:
                gaps += 1
    # size spikes: a frame whose area is off by > AREA_JUMP from its neighbours'
    spikes = 0
    for i in range(n):
        nb = [area[j] for j in range(max(0, i - 3), min(n, i + 4))
              if j != i and colours[j] == colours[i]]
        if len(nb) >= 2:
            med = float(np.median(nb))
            if max(area[i], med) / max(min(area[i], med), 1.0) > AREA_JUMP:
                spikes += 1
    presence = float(present.mean())
    flicker = gaps + spikes + glitches
    consistent = presence >= PRESENCE_MIN and max_jump <= JUMP_MAX and flicker <= FLICKER_MAX
    return {
        'frames': ts, 'n_frames': n, 'presence': round(presence, 3),
        'colour': COLOUR_NAMES[c_start], 'colour_end': COLOUR_NAMES[c_end],
        'shape': shape, 'shape_votes': {s: round(v / area.sum(), 3) for s, v in votes.items()},
        'motion': motion, 'motion_info': minfo,
        'centre': centre, 'area': area,
        'start': centre[0].round(1).tolist(), 'end': centre[-1].round(1).tolist(),
        'mean_area': float(area.mean()),
        'consistent': bool(consistent),
        'consistency': {'presence': round(presence, 3), 'max_jump': round(max_jump, 3),
                        'gaps': gaps, 'size_spikes': spikes, 'glitches': glitches},
    }


# ---------------------------------------------------------------- the whole clip

def detect(video, min_presence=0.2):
    """Read a (T, H, W, 3) uint8 clip: background, object tracks, per-colour counts.

    Tracks seen in fewer than min_presence of the frames are dropped as noise.
    """
    video = np.asarray(video)
    if video.ndim != 4 or video.shape[-1] != 3:
        raise ValueError('video must be (T, H, W, 3)')
    T, H, W, _ = video.shape
    bg, bginfo = classify_background(video)
    allowed = allowed_colours(bg)
    frames = [segment(video[t], bg, allowed) for t in range(T)]
    counts = {}
    for ci in allowed:
        per = [sum(1 for c in comps if c['colour'] == ci) for comps in frames]
        m = int(round(float(np.median(per))))
        if m:
            counts[COLOUR_NAMES[ci]] = m
    total = int(round(float(np.median([len(c) for c in frames])))) if T else 0
    tracks = [analyse_track(fill_colour_gaps(video, bg, tr), T, W, H) for tr in link(frames, W, H)]
    tracks = [tr for tr in tracks if tr['n_frames'] >= max(2, min_presence * T)]
    tracks.sort(key=lambda tr: -tr['n_frames'] * tr['mean_area'])
    return {'background': bg, 'background_info': bginfo, 'size': (W, H), 'n_frames': T,
            'tracks': tracks, 'counts': counts, 'n_components': total}
