# SPDX-License-Identifier: LGPL-2.1-or-later
"""Contact sheet PNG: one row per clip, a few frames across, row numbers drawn.

contact_sheet(videos, labels, columns=6) -> uint8 (H, W, 3)
write_png(path, img) uses PIL when present, else the world's zlib writer.
Row labels are drawn with a 3x5 bitmap font (digits, a few letters, '.', '-'),
so a row can be matched with the caption listed in docs/eval.md.
"""
import struct

import numpy as np

_FONT = {   # 3x5, rows top to bottom, bits left to right
    '0': ('111', '101', '101', '101', '111'), '1': ('010', '110', '010', '010', '111'),
    '2': ('111', '001', '111', '100', '111'), '3': ('111', '001', '111', '001', '111'),
    '4': ('101', '101', '111', '001', '001'), '5': ('111', '100', '111', '001', '111'),
    '6': ('111', '100', '111', '101', '111'), '7': ('111', '001', '010', '010', '010'),
    '8': ('111', '101', '111', '101', '111'), '9': ('111', '101', '111', '001', '111'),
    'e': ('111', '100', '111', '100', '111'), 'n': ('000', '110', '101', '101', '101'),
    'c': ('000', '111', '100', '100', '111'), 's': ('111', '100', '111', '001', '111'),
    '.': ('000', '000', '000', '000', '010'), '-': ('000', '000', '111', '000', '000'),
    ' ': ('000', '000', '000', '000', '000'),
}


def draw_text(img, x, y, text, scale=2, colour=(235, 235, 235)):
    """Draw `text` (font characters only; others are skipped) into img at (x, y)."""
    for ch in text:
        glyph = _FONT.get(ch)
        if glyph is None:
            continue
        for r, row in enumerate(glyph):
            for c, bit in enumerate(row):
                if bit == '1':
                    y0, x0 = y + r * scale, x + c * scale
                    img[y0:y0 + scale, x0:x0 + scale] = colour
        x += 4 * scale
    return x


def contact_sheet(videos, labels=None, columns=6, pad=4, margin=24, bg=32):
    """Rows of `columns` evenly spaced frames per clip, each clip centred in a
    cell as wide as the widest clip; labels drawn in the left margin."""
    if not videos:
        return np.full((pad * 2, pad * 2, 3), bg, np.uint8)
    cw = max(v.shape[2] for v in videos)
    ch = max(v.shape[1] for v in videos)
    H = len(videos) * (ch + pad) + pad
    W = margin + columns * (cw + pad) + pad
    sheet = np.full((H, W, 3), bg, np.uint8)
    for r, v in enumerate(videos):
        y = pad + r * (ch + pad)
        if labels is not None:
            draw_text(sheet, 4, y + 4, str(labels[r]))
        T, h, w = v.shape[:3]
        if T == 0:
            continue
        for c, t in enumerate(np.linspace(0, T - 1, columns).round().astype(int)):
            x = margin + c * (cw + pad) + (cw - w) // 2
            sheet[y:y + h, x:x + w] = v[t]
    return sheet


def _resize_axis(a, n, axis):
    """Area-average resample of axis `axis` of float array a to n samples."""
    m = a.shape[axis]
    if n == m:
        return a
    edges = np.linspace(0.0, m, n + 1)
    # weight of source sample j in target sample i = overlap of [j, j+1) with [e_i, e_i+1)
    j = np.arange(m)
    lo = np.maximum(edges[:-1, None], j[None, :])
    hi = np.minimum(edges[1:, None], j[None, :] + 1)
    w = np.clip(hi - lo, 0.0, None)
    w /= w.sum(axis=1, keepdims=True)                       # (n, m)
    return np.moveaxis(np.tensordot(w, np.moveaxis(a, axis, 0), axes=(1, 0)), 0, axis)


def fit_width(img, max_width):
    """Scale an (H, W, 3) uint8 image down (area average) to at most max_width wide."""
    H, W = img.shape[:2]
    if W <= max_width:
        return img
    n_w = int(max_width)
    n_h = max(1, int(round(H * max_width / float(W))))
    a = _resize_axis(_resize_axis(img.astype(np.float32), n_h, 0), n_w, 1)
    return np.clip(a + 0.5, 0, 255).astype(np.uint8)


def write_png(path, img):
    """Write uint8 (H, W, 3) RGB as a PNG (PIL if available, else the
    world's zlib writer)."""
    img = np.ascontiguousarray(img, dtype=np.uint8)
    try:
        from PIL import Image
        Image.fromarray(img, 'RGB').save(path, optimize=True)
    except ImportError:
        from train.world.preview import write_png as write_png_zlib
        write_png_zlib(path, img)


def read_png_size(path):
    """(width, height) from a PNG's IHDR (for tests)."""
    with open(path, 'rb') as f:
        head = f.read(24)
    if head[:8] != b'\x89PNG\r\n\x1a\n':
        raise ValueError('not a PNG')
    return struct.unpack('>II', head[16:24])
