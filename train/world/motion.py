# SPDX-License-Identifier: LGPL-2.1-or-later
"""Camera and object trajectories: from a Scene's parameters to per-frame tracks.

Camera: the view centre C(t) (world) and zoom z(t); a world point P appears
at screen (P - C(t)) * z(t) + (W/2, H/2).  pan_left moves C to the left (the
picture content slides right), pan_right the reverse; zoom_in grows z from 1
to `amount` geometrically.

Group paths.  Travel motions (left, right, up, down, bounce, falls, rises)
are laid out in screen space, so what the caption says is what the frame
shows whatever the camera does; the other motions (still, spins, grows,
shrinks) keep the group at a fixed world anchor, so it moves with the
background under a moving camera.  Path parameters (Group.path):
  left/right/up/down  p0, p1: anchor at the first and last frame (linear)
  bounce              lo, hi: anchor box; a0: unfolded start; v: px/s (x, y)
  falls               x, y0, y1, t_land: y = y0 + (y1-y0) (t/t_land)^2, then rests
  rises               x, y0, y1: y = y0 + (y1-y0) (0.4 u + 0.6 u^2), u = t/T
  spins               omega: rad/s, positive = clockwise on screen
  grows/shrinks       s1: final scale (linear in time from 1)
A member's screen centre is anchor(t) + offset * z(t); its screen size is
size_px * scale(t) * z(t).
"""
import math

import numpy as np

from .palette import COLOURS


def camera_track(camera, width, height, n_frames):
    """(cx, zoom): the view centre x in world pixels and the zoom, each (T,)."""
    u = np.linspace(0.0, 1.0, n_frames)
    cx = np.full(n_frames, width / 2.0)
    zoom = np.ones(n_frames)
    if camera.kind == 'pan_left':
        cx = cx - camera.amount * u
    elif camera.kind == 'pan_right':
        cx = cx + camera.amount * u
    elif camera.kind == 'zoom_in':
        zoom = camera.amount ** u
    return cx, zoom


def _fold(a, lo, hi):
    """Reflect unfolded coordinates a into [lo, hi] (a ball bouncing between walls)."""
    span = hi - lo
    if span <= 0:
        return np.full_like(a, lo)
    m = np.mod(a - lo, 2.0 * span)
    return lo + np.where(m <= span, m, 2.0 * span - m)


def group_track(group, width, height, n_frames, fps, cam):
    """(anchor (T,2) screen, angle (T,), scale (T,)) of a group; cam = camera_track()."""
    cx, zoom = cam
    t = np.arange(n_frames) / float(fps)
    u = np.linspace(0.0, 1.0, n_frames)
    p = group.path
    angle = np.zeros(n_frames)
    scale = np.ones(n_frames)
    m = group.motion
    if m in ('left', 'right', 'up', 'down'):
        p0, p1 = np.asarray(p['p0']), np.asarray(p['p1'])
        anchor = p0[None, :] + (p1 - p0)[None, :] * u[:, None]
    elif m == 'bounce':
        lo, hi, a0, v = (np.asarray(p[k], dtype=np.float64) for k in ('lo', 'hi', 'a0', 'v'))
        anchor = np.stack([_fold(a0[i] + v[i] * t, lo[i], hi[i]) for i in range(2)], axis=1)
    elif m == 'falls':
        k = np.clip(t / p['t_land'], 0.0, 1.0) ** 2
        anchor = np.stack([np.full(n_frames, p['x']), p['y0'] + (p['y1'] - p['y0']) * k], axis=1)
    elif m == 'rises':
        k = 0.4 * u + 0.6 * u * u
        anchor = np.stack([np.full(n_frames, p['x']), p['y0'] + (p['y1'] - p['y0']) * k], axis=1)
    else:
        P = np.asarray(group.anchor, dtype=np.float64)
        anchor = np.stack([(P[0] - cx) * zoom + width / 2.0,
                           (P[1] - height / 2.0) * zoom + height / 2.0], axis=1)
        if m == 'spins':
            angle = p['omega'] * t
        elif m in ('grows', 'shrinks'):
            scale = 1.0 + (p['s1'] - 1.0) * u
    return anchor, angle, scale


def colour_track(obj, group, n_frames):
    """(T, 3) float sRGB colour of an object over the clip."""
    c0 = np.asarray(COLOURS[obj.colour], dtype=np.float64)
    if obj.colour_end is None or group.colour_change is None:
        return np.repeat(c0[None, :], n_frames, axis=0)
    c1 = np.asarray(COLOURS[obj.colour_end], dtype=np.float64)
    ua, ub = group.colour_change
    u = np.linspace(0.0, 1.0, n_frames)
    w = np.clip((u - ua) / max(ub - ua, 1e-6), 0.0, 1.0)
    w = w * w * (3.0 - 2.0 * w)
    return c0[None, :] * (1.0 - w[:, None]) + c1[None, :] * w[:, None]


def object_tracks(scene):
    """Per object, in scene.objects order: dict with centre (T,2) screen pixels,
    angle (T,) radians, size (T,) screen pixels, colour (T,3) float, group
    index."""
    w, h = scene.size
    T = scene.n_frames
    cam = camera_track(scene.camera, w, h, T)
    zoom = cam[1]
    out = []
    for gi, g in enumerate(scene.groups):
        anchor, angle, scale = group_track(g, w, h, T, scene.fps, cam)
        for o in g.members:
            off = np.asarray(o.offset, dtype=np.float64)
            out.append({
                'centre': anchor + off[None, :] * zoom[:, None],
                'angle': angle,
                'size': o.size_px * scale * zoom,
                'colour': colour_track(o, g, T),
                'group': gi,
            })
    return out


def spin_omega(rev_per_s, clockwise):
    return (1.0 if clockwise else -1.0) * 2.0 * math.pi * rev_per_s
