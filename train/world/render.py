# SPDX-License-Identifier: LGPL-2.1-or-later
"""Render a Scene to frames, with per-frame ground-truth labels.

render(scene) -> (video, labels)
  video  uint8 (T, H, W, 3) sRGB.
  labels dict:
    'objects': one dict per object (scene.objects order):
        mask     bool (T, H, W): the object's own silhouette (coverage >= 0.5)
        bbox     int (T, 4): x0, y0, x1, y1 (exclusive) of the mask, -1 when empty
        centre   float (T, 2): analytic centre (x, y) in pixels
        velocity float (T, 2): centre velocity in pixels per frame
        colour   uint8 (T, 3): its fill colour at each frame
        angle    float (T,): rotation, radians, clockwise
        size     float (T,): nominal diameter on screen, pixels
        shape, group, motion
    'camera': {'kind', 'cx' (T,), 'zoom' (T,)}
Objects are composited in order over the background with their analytic
anti-aliased coverage (shapes.coverage); only each shape's bounding box is
evaluated, so a 64-frame 224x128 clip renders in a fraction of a second.
"""
import numpy as np

from .backgrounds import Background
from .motion import camera_track, object_tracks
from .shapes import coverage


def render(scene, masks=True):
    """Frames and labels of a scene (masks=False skips the (T,H,W) masks)."""
    W, H = scene.size
    T = scene.n_frames
    bg = Background(scene.background, W, H, scene.camera, T, scene.fps, scene.bg_seed)
    tracks = object_tracks(scene)
    objs = scene.objects
    video = np.empty((T, H, W, 3), dtype=np.uint8)
    n = len(objs)
    mask = np.zeros((n, T, H, W), dtype=bool) if masks else None
    bbox = np.full((n, T, 4), -1, dtype=np.int32)
    for t in range(T):
        img = bg.frame(t)
        for i, (o, tr) in enumerate(zip(objs, tracks)):
            cx, cy = tr['centre'][t]
            r = coverage(o.shape, float(cx), float(cy), float(tr['size'][t]), float(tr['angle'][t]), H, W)
            if r is None:
                continue
            y0, x0, cov = r
            h, w = cov.shape
            col = tr['colour'][t].astype(np.float32)
            region = img[y0:y0 + h, x0:x0 + w]
            a = cov[..., None]
            region *= 1.0 - a
            region += a * col
            inside = cov >= 0.5
            if masks:
                mask[i, t, y0:y0 + h, x0:x0 + w] = inside
            rows = np.flatnonzero(inside.any(axis=1))
            if rows.size:
                cols = np.flatnonzero(inside.any(axis=0))
                bbox[i, t] = (x0 + cols[0], y0 + rows[0], x0 + cols[-1] + 1, y0 + rows[-1] + 1)
        np.clip(img + 0.5, 0, 255, out=img)
        video[t] = img.astype(np.uint8)
    labels_objects = []
    for i, (o, tr) in enumerate(zip(objs, tracks)):
        c = tr['centre']
        vel = np.gradient(c, axis=0) if T > 1 else np.zeros_like(c)
        labels_objects.append({
            'mask': mask[i] if masks else None,
            'bbox': bbox[i],
            'centre': c,
            'velocity': vel,
            'colour': np.clip(np.rint(tr['colour']), 0, 255).astype(np.uint8),
            'angle': tr['angle'],
            'size': tr['size'],
            'shape': o.shape,
            'group': tr['group'],
            'motion': scene.groups[tr['group']].motion,
        })
    cx, zoom = camera_track(scene.camera, W, H, T)
    return video, {'objects': labels_objects, 'camera': {'kind': scene.camera.kind, 'cx': cx, 'zoom': zoom}}
