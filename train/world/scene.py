# SPDX-License-Identifier: LGPL-2.1-or-later
"""Sample a scene from a seed: objects, motions, background, camera, caption.

sample_scene() draws a Scene (spec.py) with a numpy Generator(PCG64(seed)),
lays out every group so that what the caption will say is visibly true
(travel motions cross at least 40 % of the frame, bounces hit an edge,
relations hold in every frame, counted objects never touch, nothing leaves
the frame), checks the whole clip analytically (validate()), and captions
it.  The held-out combinations (holdout.py) never appear in split="train";
split="heldout" yields only scenes that contain one of them or use a
held-out caption template.
"""
import math

import numpy as np

from . import holdout
from .motion import camera_track, object_tracks, spin_omega
from .palette import (BACKGROUNDS, CAMERAS, COLOUR_NAMES, FPS, FRAME_CHOICES, MAX_FRAMES,
                      MIN_FRAMES, MOTIONS, NATIVE_SIZES, SHAPES, SIZES, TRAVEL_MOTIONS,
                      colour_ok_on)
from .shapes import extent_box
from .spec import Camera, Group, Obj, Scene

MARGIN = 1.0            # pixels kept free at the frame border
MIN_CROSS = 0.42        # travel distance sampled, fraction of the frame (checked: >= 0.40)
CHECK_CROSS = 0.40
SLOW_MAX, QUICK_MIN = 0.18, 0.30      # linear moves, frames per second
BOUNCE_SPEED = {'slow': (0.28, 0.40), 'quick': (0.60, 0.90), None: (0.28, 0.90)}   # x H per s
SPIN_SPEED = {'slow': (0.25, 0.45), 'quick': (0.80, 1.10), None: (0.25, 1.10)}     # rev/s
GROW_RANGE, SHRINK_RANGE = (1.6, 2.1), (0.40, 0.55)

MOTION_WEIGHTS = {'left': 8, 'right': 8, 'up': 8, 'down': 8, 'bounce': 10, 'falls': 8,
                  'rises': 8, 'spins': 12, 'grows': 8, 'shrinks': 8, 'still': 14}
COMPLEXITY_WEIGHTS = (0.06, 0.44, 0.32, 0.18)
CAMERA_WEIGHTS = {'still': 0.55, 'pan_left': 0.15, 'pan_right': 0.15, 'zoom_in': 0.15}
ROW_MOTIONS = ('left', 'right', 'bounce', 'still', 'spins', 'grows', 'shrinks')
COL_MOTIONS = ('up', 'down', 'falls', 'rises', 'bounce', 'still', 'spins', 'grows', 'shrinks')
CHANGE_MOTIONS = {'still': 30, 'spins': 10, 'left': 8, 'right': 8, 'up': 6, 'down': 6,
                  'bounce': 8, 'grows': 6, 'shrinks': 6}


class _Fail(Exception):
    pass


def make_rng(rng_or_seed):
    """(Generator, seed or None) from a seed, a Generator or None."""
    if isinstance(rng_or_seed, np.random.Generator):
        return rng_or_seed, None
    if rng_or_seed is None:
        return np.random.Generator(np.random.PCG64()), None
    seed = int(rng_or_seed)
    return np.random.Generator(np.random.PCG64(seed)), seed


def _pick(rng, items, weights=None):
    items = list(items)
    if not items:
        raise _Fail('nothing to pick')
    if weights is None:
        return items[int(rng.integers(len(items)))]
    w = np.asarray(weights, dtype=np.float64)
    return items[int(rng.choice(len(items), p=w / w.sum()))]


def _uniform(rng, lo, hi):
    if hi < lo:
        raise _Fail('empty interval')
    return float(lo + (hi - lo) * rng.random())


# ---------------------------------------------------------------- rules

class _Rules:
    """What a split may draw.  `force` plants one held-out combination."""

    def __init__(self, split, force=None):
        self.train = split == 'train' or (split == 'heldout' and force is None)
        self.force = force          # dict(shape=, colour=, motion=) or None
        self.force_used = False

    def object_ok(self, shape, colours, background):
        if not all(colour_ok_on(c, background) for c in colours):
            return False
        if self.train:
            return not any((c, shape) in holdout.HELDOUT_COLOUR_SHAPE for c in colours)
        return True

    def motion_ok(self, shapes, motion):
        if motion == 'spins' and 'circle' in shapes:
            return False                    # a spinning circle shows nothing
        if self.train:
            return not any((s, motion) in holdout.HELDOUT_SHAPE_MOTION for s in shapes)
        return True


def _draw_object(rng, rules, background, size_weights=(1, 1, 1), shape=None, colour=None,
                 exclude=()):
    """One Obj (offset 0) obeying the rules; shape/colour may be imposed."""
    for _ in range(60):
        s = shape or _pick(rng, SHAPES)
        c = colour or _pick(rng, COLOUR_NAMES)
        if (s, c) in exclude or not rules.object_ok(s, (c,), background):
            if shape and colour:
                raise _Fail('imposed object not allowed')
            continue
        size = _pick(rng, SIZES, size_weights)
        return Obj(shape=s, colour=c, size=size, size_px=0.0)
    raise _Fail('no object')


def _draw_motion(rng, rules, shapes, allowed=None, weights=None):
    weights = weights or MOTION_WEIGHTS
    names = [m for m in (allowed or MOTIONS) if m in weights and rules.motion_ok(shapes, m)]
    return _pick(rng, names, [weights[m] for m in names])


# ---------------------------------------------------------------- geometry

def _member_box(obj, motion, smax):
    x0, y0, x1, y1 = extent_box(obj.shape, motion == 'spins')
    k = obj.size_px * smax
    return x0 * k, y0 * k, x1 * k, y1 * k


def _group_box(g):
    smax = g.path.get('s1', 1.0) if g.motion == 'grows' else 1.0
    boxes = []
    for o in g.members:
        x0, y0, x1, y1 = _member_box(o, g.motion, smax)
        boxes.append((x0 + o.offset[0], y0 + o.offset[1], x1 + o.offset[0], y1 + o.offset[1]))
    b = np.asarray(boxes)
    return b[:, 0].min(), b[:, 1].min(), b[:, 2].max(), b[:, 3].max()


def _set_motion_params(rng, g, duration):
    """Speed label and the scale / spin parameters that layout depends on."""
    m = g.motion
    if m == 'spins':
        g.speed = _pick(rng, (None, 'slow', 'quick'), (0.4, 0.3, 0.3))
        cw = bool(rng.random() < 0.5)
        g.direction = 'cw' if cw else 'ccw'
        g.path = {'omega': spin_omega(_uniform(rng, *SPIN_SPEED[g.speed]), cw)}
    elif m == 'grows':
        g.path = {'s1': _uniform(rng, *GROW_RANGE)}
    elif m == 'shrinks':
        g.path = {'s1': _uniform(rng, *SHRINK_RANGE)}
    elif m in ('left', 'right', 'up', 'down'):
        g.direction = m
    elif m == 'falls':
        g.direction = 'down'
    elif m == 'rises':
        g.direction = 'up'


def _layout_count(rng, g, axis_hint):
    """Offsets of n identical members: a row, a column or a diagonal."""
    n = len(g.members)
    smax = g.path.get('s1', 1.0) if g.motion == 'grows' else 1.0
    x0, y0, x1, y1 = _member_box(g.members[0], g.motion, smax)
    gap = 3.0 + g.members[0].size_px * _uniform(rng, 0.15, 0.6)
    choices = {'x': ('col', 'diag'), 'y': ('row', 'diag'), None: ('row', 'col', 'diag')}[axis_hint]
    g.layout = _pick(rng, choices)
    px, py = (x1 - x0) + gap, (y1 - y0) + gap
    sgn = 1.0 if rng.random() < 0.5 else -1.0
    for i, o in enumerate(g.members):
        k = i - (n - 1) / 2.0
        if g.layout == 'row':
            o.offset = (k * px, 0.0)
        elif g.layout == 'col':
            o.offset = (0.0, k * py)
        else:
            o.offset = (k * px, sgn * k * py)


def _layout_relation(rng, g):
    a, b = g.members
    smax = g.path.get('s1', 1.0) if g.motion == 'grows' else 1.0
    ab, bb = _member_box(a, g.motion, smax), _member_box(b, g.motion, smax)
    gap = 3.0 + min(a.size_px, b.size_px) * _uniform(rng, 0.1, 0.7)
    jit = min(a.size_px, b.size_px) * _uniform(rng, -0.12, 0.12)
    if g.relation == 'left_of':
        a.offset = (-(gap / 2.0 + ab[2]), jit)
        b.offset = (gap / 2.0 - bb[0], -jit)
    else:
        a.offset = (jit, -(gap / 2.0 + ab[3]))
        b.offset = (-jit, gap / 2.0 - bb[1])
    # recentre the pair on its bounding box
    x0, y0, x1, y1 = _group_box(g)
    cx, cy = (x0 + x1) / 2.0, (y0 + y1) / 2.0
    for o in g.members:
        o.offset = (o.offset[0] - cx, o.offset[1] - cy)


def _place(rng, g, W, H, n_frames, cam, lane=None, bounce_axis='xy'):
    """Fill g.path / g.anchor so the group stays inside the frame (and lane)."""
    cx, zoom = cam
    zmax = float(zoom.max())
    gx0, gy0, gx1, gy1 = _group_box(g)
    dur = n_frames / float(FPS)
    lane = lane or ((0.0, 0.0), (float(W), float(H)))     # ((x0, y0), (x1, y1)) screen
    (lx0, ly0), (lx1, ly1) = lane
    m = g.motion
    if m in TRAVEL_MOTIONS:
        xlo, xhi = lx0 + MARGIN - gx0 * zmax, lx1 - MARGIN - gx1 * zmax
        ylo, yhi = ly0 + MARGIN - gy0 * zmax, ly1 - MARGIN - gy1 * zmax
        if m in ('left', 'right', 'up', 'down'):
            horizontal = m in ('left', 'right')
            L = float(W if horizontal else H)
            lo, hi = (xlo, xhi) if horizontal else (ylo, yhi)
            plo, phi = (ylo, yhi) if horizontal else (xlo, xhi)
            span = hi - lo
            r_lo, r_hi = MIN_CROSS / dur, span / L / dur
            if r_hi < r_lo or phi < plo:
                raise _Fail('no room to travel')
            options = {None: (r_lo, r_hi)}
            if min(SLOW_MAX, r_hi) >= r_lo:
                options['slow'] = (r_lo, min(SLOW_MAX, r_hi))
            if r_hi >= max(QUICK_MIN, r_lo):
                options['quick'] = (max(QUICK_MIN, r_lo), r_hi)
            labels = list(options)
            g.speed = _pick(rng, labels, [{None: 0.4, 'slow': 0.3, 'quick': 0.3}[k] for k in labels])
            D = _uniform(rng, *options[g.speed]) * dur * L
            D = min(D, span)
            sign = 1.0 if m in ('right', 'down') else -1.0
            a0 = _uniform(rng, lo, hi - D) if sign > 0 else _uniform(rng, lo + D, hi)
            a1 = a0 + sign * D
            p = _uniform(rng, plo, phi)
            g.path = {'p0': (a0, p), 'p1': (a1, p)} if horizontal else {'p0': (p, a0), 'p1': (p, a1)}
        elif m == 'bounce':
            g.speed = _pick(rng, (None, 'slow', 'quick'), (0.4, 0.3, 0.3))
            speed = _uniform(rng, *BOUNCE_SPEED[g.speed]) * H
            g.direction = bounce_axis
            lo, hi = np.array([xlo, ylo]), np.array([xhi, yhi])
            if np.any(hi - lo < 0):
                raise _Fail('no room')
            if bounce_axis == 'xy':
                if np.any(hi - lo < 0.25 * np.array([W, H])):
                    raise _Fail('no room to bounce')
                th = math.radians(_uniform(rng, 25.0, 65.0))
                v = np.array([math.cos(th), math.sin(th)]) * speed
                v *= np.where(rng.random(2) < 0.5, -1.0, 1.0)
                hit = int(rng.integers(2))
            else:
                hit = 0 if bounce_axis == 'x' else 1
                if hi[hit] - lo[hit] < 0.3 * (W, H)[hit]:
                    raise _Fail('no room to bounce')
                v = np.zeros(2)
                v[hit] = speed * (1.0 if rng.random() < 0.5 else -1.0)
            tb = _uniform(rng, 0.2, 0.6) * dur
            at = np.array([_uniform(rng, lo[0], hi[0]), _uniform(rng, lo[1], hi[1])])
            at[hit] = hi[hit] if v[hit] > 0 else lo[hit]
            a0 = at - v * tb
            g.path = {'lo': tuple(lo), 'hi': tuple(hi), 'a0': tuple(a0), 'v': tuple(v)}
        elif m == 'falls':
            x = _uniform(rng, xlo, xhi)
            y0 = ylo + _uniform(rng, 0.0, 0.12) * H
            if yhi - y0 < MIN_CROSS * H:
                raise _Fail('no room to fall')
            g.path = {'x': x, 'y0': y0, 'y1': yhi, 't_land': dur * _uniform(rng, 0.8, 1.0)}
        else:   # rises
            x = _uniform(rng, xlo, xhi)
            y0 = yhi - _uniform(rng, 0.0, 0.12) * H
            y1 = ylo + _uniform(rng, 0.0, 0.08) * H
            if y0 - y1 < MIN_CROSS * H:
                raise _Fail('no room to rise')
            g.path = {'x': x, 'y0': y0, 'y1': y1}
    else:
        # world anchor P: (P + box - C(t)) z(t) + centre stays inside the lane
        ends = (0, n_frames - 1)
        xl = max(cx[t] + (lx0 + MARGIN - W / 2.0) / zoom[t] - gx0 for t in ends)
        xh = min(cx[t] + (lx1 - MARGIN - W / 2.0) / zoom[t] - gx1 for t in ends)
        yl = max(H / 2.0 + (ly0 + MARGIN - H / 2.0) / zoom[t] - gy0 for t in ends)
        yh = min(H / 2.0 + (ly1 - MARGIN - H / 2.0) / zoom[t] - gy1 for t in ends)
        g.anchor = (_uniform(rng, xl, xh), _uniform(rng, yl, yh))


# ---------------------------------------------------------------- validation

def validate(scene):
    """Empty list when the scene is visibly true to its description, else the problems.

    Checks every frame analytically (no rendering): objects inside the frame,
    no two objects' boxes touching, relations strict, travel distances,
    bounces reflected, colours visible on the background.
    """
    W, H = scene.size
    T = scene.n_frames
    problems = []
    if not (MIN_FRAMES <= T <= MAX_FRAMES):
        problems.append('length')
    tracks = object_tracks(scene)
    objs = scene.objects
    boxes = []
    for o, tr in zip(objs, tracks):
        g = scene.groups[tr['group']]
        x0, y0, x1, y1 = extent_box(o.shape, g.motion == 'spins')
        s, c = tr['size'], tr['centre']
        b = np.stack([c[:, 0] + x0 * s, c[:, 1] + y0 * s, c[:, 0] + x1 * s, c[:, 1] + y1 * s], axis=1)
        boxes.append(b)
        if b[:, 0].min() < -0.01 or b[:, 1].min() < -0.01 or b[:, 2].max() > W + 0.01 \
                or b[:, 3].max() > H + 0.01:
            problems.append('object leaves the frame')
        for col in o.colours():
            if not colour_ok_on(col, scene.background):
                problems.append('colour %s invisible on %s' % (col, scene.background))
        if s.min() < 5.0:
            problems.append('object too small')
    for i in range(len(boxes)):
        for j in range(i + 1, len(boxes)):
            a, b = boxes[i], boxes[j]
            apart = (a[:, 2] + 1.0 <= b[:, 0]) | (b[:, 2] + 1.0 <= a[:, 0]) | \
                    (a[:, 3] + 1.0 <= b[:, 1]) | (b[:, 3] + 1.0 <= a[:, 1])
            if not apart.all():
                problems.append('objects %d and %d touch' % (i, j))
    k = 0
    for g in scene.groups:
        n = len(g.members)
        c = tracks[k]['centre']
        if g.relation is not None:
            a, b = boxes[k], boxes[k + 1]
            ok = (a[:, 2] + 1.0 <= b[:, 0]) if g.relation == 'left_of' else (a[:, 3] + 1.0 <= b[:, 1])
            if not ok.all():
                problems.append('relation broken')
        m = g.motion
        if m in ('left', 'right', 'up', 'down', 'falls', 'rises'):
            axis = 0 if m in ('left', 'right') else 1
            sign = 1.0 if m in ('right', 'down', 'falls') else -1.0
            d = np.diff(c[:, axis]) * sign
            if (c[-1, axis] - c[0, axis]) * sign < CHECK_CROSS * scene.size[axis] or d.min() < -1e-6:
                problems.append('travel too short or not monotonic')
        elif m in ('grows', 'shrinks'):
            ratio = tracks[k]['size'][-1] / tracks[k]['size'][0]
            if (m == 'grows' and ratio < 1.5) or (m == 'shrinks' and ratio > 0.7):
                problems.append('size change not visible')
        elif m == 'bounce':
            v = np.diff(c, axis=0)
            flips = (np.sign(v[1:]) * np.sign(v[:-1]) < 0).sum()
            if flips < 1:
                problems.append('no bounce')
        k += n
    return problems


# ---------------------------------------------------------------- kinds

def _camera(rng, W):
    kind = _pick(rng, CAMERAS, [CAMERA_WEIGHTS[c] for c in CAMERAS])
    if kind in ('pan_left', 'pan_right'):
        return Camera(kind, _uniform(rng, 0.12, 0.22) * W)
    if kind == 'zoom_in':
        return Camera(kind, _uniform(rng, 1.2, 1.4))
    return Camera('still', 0.0)


def _size_objects(objs, H):
    for o in objs:
        o.size_px = SIZES[o.size] * H


def _build_single(rng, rules, ctx, role='single'):
    W, H, T, bg, cam = ctx
    f = rules.force or {}
    change = role == 'colour_change'
    o = _draw_object(rng, rules, bg, shape=f.get('shape'),
                     colour=f.get('colour') if not (change and rng.random() < 0.5) else None)
    if change:
        forced_end = f.get('colour') is not None and o.colour != f.get('colour')
        for _ in range(60):
            c1 = f['colour'] if forced_end else _pick(rng, COLOUR_NAMES)
            if c1 != o.colour and rules.object_ok(o.shape, (o.colour, c1), bg):
                o.colour_end = c1
                break
            if forced_end:
                raise _Fail('forced end colour')
        else:
            raise _Fail('no end colour')
    _size_objects([o], H)
    if f.get('motion'):
        motion = f['motion']
    elif change:
        names = [m for m in CHANGE_MOTIONS if rules.motion_ok([o.shape], m)]
        motion = _pick(rng, names, [CHANGE_MOTIONS[m] for m in names])
    else:
        motion = _draw_motion(rng, rules, [o.shape])
    g = Group(role=role, members=[o], motion=motion)
    _set_motion_params(rng, g, T / FPS)
    if change:
        c = _uniform(rng, 0.35, 0.65)
        w = _uniform(rng, 0.15, 0.3)
        g.colour_change = (c - w / 2.0, c + w / 2.0)
    _place(rng, g, W, H, T, cam)
    return [g]


def _build_count(rng, rules, ctx, n):
    W, H, T, bg, cam = ctx
    f = rules.force or {}
    proto = _draw_object(rng, rules, bg, size_weights=(3, 2, 1) if n == 3 else (2, 2, 1),
                         shape=f.get('shape'), colour=f.get('colour'))
    members = [Obj(proto.shape, proto.colour, proto.size, 0.0) for _ in range(n)]
    _size_objects(members, H)
    motion = f.get('motion') or _draw_motion(rng, rules, [proto.shape])
    g = Group(role='count', members=members, motion=motion)
    _set_motion_params(rng, g, T / FPS)
    axis = {'left': 'x', 'right': 'x', 'up': 'y', 'down': 'y', 'falls': 'y', 'rises': 'y'}.get(motion)
    if motion == 'bounce':
        axis = _pick(rng, ('x', 'y'))
    _layout_count(rng, g, axis)
    _place(rng, g, W, H, T, cam, bounce_axis=axis or 'xy')
    return [g]


def _build_relation(rng, rules, ctx):
    W, H, T, bg, cam = ctx
    f = rules.force or {}
    first = rng.random() < 0.5            # which member carries a forced combination
    fa = f if first else {}
    fb = {} if first else f
    a = _draw_object(rng, rules, bg, (2, 2, 1), shape=fa.get('shape'), colour=fa.get('colour'))
    b = _draw_object(rng, rules, bg, (2, 2, 1), shape=fb.get('shape'), colour=fb.get('colour'),
                     exclude={(a.shape, a.colour)})
    _size_objects([a, b], H)
    motion = f.get('motion') or _draw_motion(rng, rules, [a.shape, b.shape])
    if not rules.motion_ok([a.shape, b.shape], motion) and not f.get('motion'):
        raise _Fail('motion')
    g = Group(role='relation', members=[a, b], motion=motion,
              relation=_pick(rng, ('left_of', 'above')))
    _set_motion_params(rng, g, T / FPS)
    if motion == 'spins' and 'circle' in (a.shape, b.shape):
        raise _Fail('circle spin')
    _layout_relation(rng, g)
    axis = {'left_of': 'y', 'above': 'x'}[g.relation] if motion == 'bounce' else 'xy'
    _place(rng, g, W, H, T, cam, bounce_axis=axis)
    return [g]


def _build_mixed(rng, rules, ctx, n):
    W, H, T, bg, cam = ctx
    f = rules.force or {}
    rows = rng.random() < (0.5 if W == H else 0.35)
    allowed = ROW_MOTIONS if rows else COL_MOTIONS
    if f.get('motion') and f['motion'] not in allowed:
        rows = not rows
        allowed = ROW_MOTIONS if rows else COL_MOTIONS
    groups, seen = [], set()
    order = list(range(n))
    lanes = []
    for i in range(n):
        if rows:
            lanes.append(((0.0, H * i / n), (float(W), H * (i + 1) / n)))
        else:
            lanes.append(((W * i / n, 0.0), (W * (i + 1) / n, float(H))))
    rng.shuffle(order)
    for k, li in enumerate(order):
        fk = f if k == 0 else {}
        o = _draw_object(rng, rules, bg, (3, 2, 0) if n == 3 else (3, 3, 1),
                         shape=fk.get('shape'), colour=fk.get('colour'), exclude=seen)
        seen.add((o.shape, o.colour))
        _size_objects([o], H)
        motion = fk.get('motion') or _draw_motion(rng, rules, [o.shape], allowed)
        g = Group(role='mixed', members=[o], motion=motion)
        _set_motion_params(rng, g, T / FPS)
        _place(rng, g, W, H, T, cam, lane=lanes[li], bounce_axis='x' if rows else 'y')
        groups.append(g)
    return groups


def _kind_for(rng, complexity):
    if complexity == 0:
        return 'empty', 0
    if complexity == 1:
        return _pick(rng, ('single', 'colour_change'), (0.7, 0.3)), 1
    if complexity == 2:
        return _pick(rng, ('count', 'relation', 'mixed'), (0.35, 0.4, 0.25)), 2
    return _pick(rng, ('count', 'mixed'), (0.55, 0.45)), 3


def _forced_combination(rng):
    if rng.random() < 0.6:
        colour, shape = _pick(rng, sorted(holdout.HELDOUT_COLOUR_SHAPE))
        return {'shape': shape, 'colour': colour}
    shape, motion = _pick(rng, sorted(holdout.HELDOUT_SHAPE_MOTION))
    return {'shape': shape, 'motion': motion}


def _try_scene(rng, split, rules, size, n_frames, complexity):
    W, H = size if size is not None else NATIVE_SIZES[int(rng.integers(len(NATIVE_SIZES)))]
    T = n_frames if n_frames is not None else int(_pick(rng, FRAME_CHOICES))
    if complexity is None:
        complexity = int(rng.choice(4, p=np.asarray(COMPLEXITY_WEIGHTS)))
    kind, n = _kind_for(rng, complexity)
    bg = _pick(rng, BACKGROUNDS)
    camera = _camera(rng, W)
    if rules.train and camera.kind == 'pan_right':
        # content slides left under a right pan: keep squares out so that no
        # square is ever seen moving left in training
        rules_cam_no_square = True
    else:
        rules_cam_no_square = False
    cam = camera_track(camera, W, H, T)
    ctx = (W, H, T, bg, cam)
    if kind == 'empty':
        groups = []
    elif kind in ('single', 'colour_change'):
        groups = _build_single(rng, rules, ctx, role=kind)
    elif kind == 'count':
        groups = _build_count(rng, rules, ctx, n)
    elif kind == 'relation':
        groups = _build_relation(rng, rules, ctx)
    else:
        groups = _build_mixed(rng, rules, ctx, n)
    if rules_cam_no_square and any(o.shape == 'square' for g in groups for o in g.members
                                   if g.motion not in TRAVEL_MOTIONS):
        raise _Fail('square under a right pan')
    scene = Scene(seed=None, split=split, kind=kind, size=(int(W), int(H)), fps=FPS,
                  n_frames=int(T), background=bg, bg_seed=int(rng.integers(2 ** 31 - 1)),
                  camera=camera, groups=groups)
    violations = holdout.scene_violations(scene)
    if rules.train and violations:
        raise _Fail('held-out combination in train')
    if rules.force is not None and not violations:
        raise _Fail('forced combination missing')
    if validate(scene):
        raise _Fail('invalid')
    return scene


def sample_scene(rng_or_seed=None, split='train', lang=None, size=None, duration_s=None,
                 complexity=None):
    """Draw a captioned Scene.

    rng_or_seed: int seed (Generator(PCG64(seed))), a numpy Generator, or None.
    split: "train" (no held-out combination or template) or "heldout" (at
    least one of them).  lang: "en", "cs" or None (either).  size: (w, h),
    one of the native sizes, or None.  duration_s: 2..4 s or None (one of
    2, 2.5, 3, 3.5, 4).  complexity: number of objects 0..3, or None.
    """
    from .captions import caption_and_template
    if split not in ('train', 'heldout'):
        raise ValueError('split must be "train" or "heldout"')
    if lang not in (None, 'en', 'cs'):
        raise ValueError('lang must be "en", "cs" or None')
    if size is not None and tuple(size) not in NATIVE_SIZES:
        raise ValueError('size must be one of %s' % (NATIVE_SIZES,))
    n_frames = None
    if duration_s is not None:
        if not 2.0 <= float(duration_s) <= 4.0:
            raise ValueError('duration_s must be within 2..4 s')
        n_frames = int(round(float(duration_s) * FPS))
    if complexity is not None and complexity not in (0, 1, 2, 3):
        raise ValueError('complexity must be 0..3 or None')
    rng, seed = make_rng(rng_or_seed)
    language = lang or _pick(rng, ('en', 'cs'))
    force, heldout_template = None, False
    if split == 'heldout':
        if complexity != 0 and rng.random() < 0.55:
            force = _forced_combination(rng)
            heldout_template = bool(rng.random() < 0.3)
        else:
            heldout_template = True
    scene = None
    for _ in range(500):
        try:
            scene = _try_scene(rng, split, _Rules(split, force), size and tuple(size), n_frames,
                               complexity)
            break
        except _Fail:
            continue
    if scene is None:
        raise RuntimeError('could not sample a valid scene')
    scene.seed = seed
    scene.language = language
    scene.caption, scene.template_id = caption_and_template(scene, language, rng, heldout_template)
    return scene


# ---------------------------------------------------------------- describe

def describe(scene):
    """Structured ground truth of a scene, for an evaluation scorer."""
    objects, groups, relations, changes = [], [], [], []
    counts = {}
    k = 0
    for gi, g in enumerate(scene.groups):
        idx = list(range(k, k + len(g.members)))
        groups.append({'role': g.role, 'motion': g.motion, 'speed': g.speed,
                       'direction': g.direction, 'count': len(g.members), 'members': idx,
                       'relation': g.relation, 'layout': g.layout})
        for j, o in zip(idx, g.members):
            objects.append({'index': j, 'group': gi, 'shape': o.shape, 'colour': o.colour,
                            'colour_end': o.colour_end, 'colour_change': o.colour_end is not None,
                            'size': o.size, 'motion': g.motion, 'direction': g.direction,
                            'speed': g.speed, 'count': len(g.members) if g.role == 'count' else 1})
            if o.colour_end is not None:
                changes.append({'object': j, 'from': o.colour, 'to': o.colour_end})
            key = (o.colour, o.shape)
            counts[key] = counts.get(key, 0) + 1
        if g.relation is not None:
            relations.append({'a': idx[0], 'relation': g.relation, 'b': idx[1]})
        k += len(g.members)
    return {
        'kind': scene.kind, 'split': scene.split, 'size': tuple(scene.size), 'fps': scene.fps,
        'n_frames': scene.n_frames, 'duration_s': scene.duration_s,
        'background': scene.background, 'camera': scene.camera.kind,
        'language': scene.language, 'caption': scene.caption, 'template_id': scene.template_id,
        'n_objects': len(objects), 'objects': objects, 'groups': groups,
        'relations': relations, 'colour_changes': changes,
        'counts': [{'colour': c, 'shape': s, 'count': n} for (c, s), n in sorted(counts.items())],
        'heldout': holdout.heldout_reasons(scene),
    }
