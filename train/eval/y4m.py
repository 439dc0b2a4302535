# SPDX-License-Identifier: LGPL-2.1-or-later
"""YUV4MPEG2 clips as the st2v CLI writes them: 4:2:0 (C420jpeg), full range.

read_y4m(path) -> (uint8 (T, H, W, 3) RGB, header dict)
write_y4m(path, video, fps=16)       the inverse (used by the tests)
Conversion: BT.601 full-range (JPEG) equations; chroma is sited between the
luma samples (C420jpeg) and upsampled here by repeating each sample 2x2.
"""
import numpy as np


def _parse_header(line):
    parts = line.split()
    if not parts or parts[0] != b'YUV4MPEG2':
        raise ValueError('not a YUV4MPEG2 file')
    h = {'W': None, 'H': None, 'F': (16, 1), 'C': '420jpeg', 'X': []}
    for p in parts[1:]:
        tag, val = chr(p[0]), p[1:].decode('ascii', 'replace')
        if tag == 'W':
            h['W'] = int(val)
        elif tag == 'H':
            h['H'] = int(val)
        elif tag == 'F':
            n, d = val.split(':')
            h['F'] = (int(n), int(d))
        elif tag == 'C':
            h['C'] = val
        elif tag == 'X':
            h['X'].append(val)
    if not h['W'] or not h['H']:
        raise ValueError('YUV4MPEG2 header without size')
    if not h['C'].startswith('420'):
        raise ValueError('only 4:2:0 is supported, got C%s' % h['C'])
    return h


def yuv420_to_rgb(y, u, v):
    """Full-range BT.601: uint8 planes (H, W), (H/2, W/2) x2 -> uint8 (H, W, 3)."""
    H, W = y.shape
    cb = np.repeat(np.repeat(u.astype(np.float32), 2, axis=0), 2, axis=1)[:H, :W] - 128.0
    cr = np.repeat(np.repeat(v.astype(np.float32), 2, axis=0), 2, axis=1)[:H, :W] - 128.0
    yy = y.astype(np.float32)
    r = yy + 1.402 * cr
    g = yy - 0.344136 * cb - 0.714136 * cr
    b = yy + 1.772 * cb
    return np.clip(np.stack([r, g, b], axis=-1) + 0.5, 0, 255).astype(np.uint8)


def rgb_to_yuv420(rgb):
    """uint8 (H, W, 3) -> Y (H, W), Cb, Cr (H/2, W/2) full-range BT.601, 2x2 mean chroma."""
    f = rgb.astype(np.float32)
    r, g, b = f[..., 0], f[..., 1], f[..., 2]
    y = 0.299 * r + 0.587 * g + 0.114 * b
    cb = -0.168736 * r - 0.331264 * g + 0.5 * b + 128.0
    cr = 0.5 * r - 0.418688 * g - 0.081312 * b + 128.0
    H, W = y.shape
    h2, w2 = (H + 1) // 2, (W + 1) // 2

    def sub(c):
        c = np.pad(c, ((0, 2 * h2 - H), (0, 2 * w2 - W)), mode='edge')
        return c.reshape(h2, 2, w2, 2).mean(axis=(1, 3))

    q = lambda a: np.clip(a + 0.5, 0, 255).astype(np.uint8)
    return q(y), q(sub(cb)), q(sub(cr))


def read_y4m(path):
    with open(path, 'rb') as fh:
        data = fh.read()
    nl = data.index(b'\n')
    h = _parse_header(data[:nl])
    W, H = h['W'], h['H']
    cw, ch = (W + 1) // 2, (H + 1) // 2
    fsize = W * H + 2 * cw * ch
    pos = nl + 1
    frames = []
    while pos < len(data):
        end = data.index(b'\n', pos)
        if not data[pos:end].startswith(b'FRAME'):
            raise ValueError('bad frame header at byte %d' % pos)
        pos = end + 1
        if pos + fsize > len(data):
            raise ValueError('truncated frame')
        buf = np.frombuffer(data, dtype=np.uint8, count=fsize, offset=pos)
        y = buf[:W * H].reshape(H, W)
        u = buf[W * H:W * H + cw * ch].reshape(ch, cw)
        v = buf[W * H + cw * ch:].reshape(ch, cw)
        frames.append(yuv420_to_rgb(y, u, v))
        pos += fsize
    if not frames:
        return np.zeros((0, H, W, 3), np.uint8), h
    return np.stack(frames), h


def write_y4m(path, video, fps=16):
    T, H, W, _ = video.shape
    with open(path, 'wb') as fh:
        fh.write(b'YUV4MPEG2 W%d H%d F%d:1 Ip A1:1 C420jpeg XYSCSS=420JPEG XCOLORRANGE=FULL\n'
                 % (W, H, fps))
        for t in range(T):
            y, u, v = rgb_to_yuv420(video[t])
            fh.write(b'FRAME\n')
            fh.write(y.tobytes())
            fh.write(u.tobytes())
            fh.write(v.tobytes())


def roundtrip(video):
    """The clip as it comes back from a 4:2:0 full-range file (no file written)."""
    out = np.empty_like(video)
    for t in range(video.shape[0]):
        out[t] = yuv420_to_rgb(*rgb_to_yuv420(video[t]))
    return out
