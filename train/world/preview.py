# SPDX-License-Identifier: LGPL-2.1-or-later
"""Contact sheet of sampled clips: one row per clip, 6 frames across.

    /usr/bin/python3 -m train.world.preview --seed 1 --n 16 --out /tmp/sheet.png
        [--split train|heldout] [--lang en|cs] [--complexity K] [--size 224x128]

Prints one line per clip (seed, kind, background, camera, caption) and
writes the PNG (written with zlib, no imaging library needed).
"""
import argparse
import struct
import sys
import zlib

import numpy as np

from .render import render
from .scene import sample_scene


def _paeth(a, b, c):
    """The PNG Paeth predictor of int arrays: left a, up b, up-left c."""
    p = a + b - c
    pa, pb, pc = np.abs(p - a), np.abs(p - b), np.abs(p - c)
    return np.where((pa <= pb) & (pa <= pc), a, np.where(pb <= pc, b, c))


def png_filter_rows(img, only=None):
    """uint8 (H, W, 3) -> uint8 (H, 1 + 3W): each row prefixed with the PNG
    filter type (0 none, 1 sub, 2 up, 3 average, 4 Paeth) that leaves it the
    smallest sum of absolute residuals, the usual heuristic (libpng's), or
    with type `only` for every row."""
    h, w, _ = img.shape
    x = img.reshape(h, w * 3).astype(np.int16)                  # (H, 3W)
    a = np.zeros_like(x)
    a[:, 3:] = x[:, :-3]                                        # left
    b = np.zeros_like(x)
    b[1:] = x[:-1]                                              # up
    c = np.zeros_like(x)
    c[1:, 3:] = x[:-1, :-3]                                     # up-left
    cand = np.stack([x, x - a, x - b, x - (a + b) // 2, x - _paeth(a, b, c)]) & 0xFF
    cost = np.minimum(cand, 256 - cand).sum(axis=2)             # (5, H)
    kind = cost.argmin(axis=0) if only is None else np.full(h, only)   # (H,)
    rows = cand[kind, np.arange(h)].astype(np.uint8)            # (H, 3W)
    return np.concatenate([kind.astype(np.uint8)[:, None], rows], axis=1)


def write_png(path, img):
    """Write uint8 (H, W, 3) RGB as a PNG, rows filtered (png_filter_rows)."""
    img = np.ascontiguousarray(img, dtype=np.uint8)
    h, w, _ = img.shape
    raw = png_filter_rows(img)

    def chunk(tag, data):
        return (struct.pack('>I', len(data)) + tag + data
                + struct.pack('>I', zlib.crc32(tag + data) & 0xffffffff))

    with open(path, 'wb') as f:
        f.write(b'\x89PNG\r\n\x1a\n')
        f.write(chunk(b'IHDR', struct.pack('>IIBBBBB', w, h, 8, 2, 0, 0, 0)))
        f.write(chunk(b'IDAT', zlib.compress(raw.tobytes(), 9)))
        f.write(chunk(b'IEND', b''))


def contact_sheet(videos, columns=6, pad=4):
    cw = max(v.shape[2] for v in videos)
    ch = max(v.shape[1] for v in videos)
    sheet = np.full((len(videos) * (ch + pad) + pad, columns * (cw + pad) + pad, 3), 40, np.uint8)
    for r, v in enumerate(videos):
        T = v.shape[0]
        for c, t in enumerate(np.linspace(0, T - 1, columns).round().astype(int)):
            y, x = pad + r * (ch + pad), pad + c * (cw + pad)
            sheet[y:y + v.shape[1], x:x + v.shape[2]] = v[t]
    return sheet


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--seed', type=int, default=1)
    ap.add_argument('--n', type=int, default=16)
    ap.add_argument('--out', default='/tmp/sheet.png')
    ap.add_argument('--split', default='train', choices=('train', 'heldout'))
    ap.add_argument('--lang', default=None, choices=('en', 'cs'))
    ap.add_argument('--complexity', type=int, default=None)
    ap.add_argument('--size', default=None, help='128x128 or 224x128')
    a = ap.parse_args(argv)
    size = tuple(int(v) for v in a.size.split('x')) if a.size else None
    videos = []
    for i in range(a.n):
        seed = a.seed + i
        sc = sample_scene(seed, split=a.split, lang=a.lang, size=size, complexity=a.complexity)
        v, _ = render(sc, masks=False)
        videos.append(v)
        print('%3d seed=%d %s %s %s %dx%d %.1fs | %s' % (i, seed, sc.kind, sc.background, sc.camera.kind,
                                                       sc.size[0], sc.size[1], sc.duration_s, sc.caption))
    write_png(a.out, contact_sheet(videos))
    print('wrote', a.out, file=sys.stderr)


if __name__ == '__main__':
    main()
