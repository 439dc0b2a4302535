# SPDX-License-Identifier: LGPL-2.1-or-later
"""`make pictures`: the README's pictures of real output.

    /usr/bin/python3 -m train.eval.pictures --st2v build/bin/st2v [--model M] [--out docs/images]

Renders each prompt below with the st2v CLI at the default settings (the
seed fixed, so the pictures are reproducible) and writes one PNG strip per
prompt: six frames across the clip, at native size. The strips are what
the CLI wrote, read back from its 4:2:0 output; nothing is retouched.
"""
import argparse
import os
import subprocess
import sys
import tempfile

import numpy as np

from .sheet import write_png
from .y4m import read_y4m

# (file name, prompt, size, seconds)
PICTURES = [
    ('red-ball-black', 'a red ball on a black background', '128x128', 2),
    ('yellow-star-right', 'a yellow star moves right on a blue screen', '224x128', 3),
    ('cs-green-squares', 'dva zelené čtverce na bílém pozadí', '128x128', 2),
    ('white-heart-night', 'a white heart falls under a starry night sky', '224x128', 3),
    ('cs-orange-ball-sunset', 'oranžový míč poskakuje při západu slunce nad mořem', '224x128', 3),
    ('blue-box-green-screen', 'a blue box spins on a green screen', '128x128', 2),
]
FRAMES = 6
SEED = 1


def strip(video, n=FRAMES, pad=2, bg=24):
    """n frames spread over the clip, side by side: (H, n*(W+pad)-pad, 3)."""
    T, H, W, _ = video.shape
    idx = np.linspace(0, T - 1, n).round().astype(int)
    out = np.full((H, n * (W + pad) - pad, 3), bg, np.uint8)
    for k, t in enumerate(idx):
        out[:, k * (W + pad):k * (W + pad) + W] = video[t]
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--st2v', default=os.path.join('build', 'bin', 'st2v'))
    ap.add_argument('--model', default=None, help='model file (default: the default model)')
    ap.add_argument('--out', default=os.path.join('docs', 'images'))
    a = ap.parse_args(argv)
    os.makedirs(a.out, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        for name, prompt, size, seconds in PICTURES:
            clip = os.path.join(tmp, name + '.y4m')
            cmd = [a.st2v, '-q', '-p', prompt, '-s', str(SEED), '-d', str(seconds),
                   '--size', size, '-o', clip]
            if a.model:
                cmd += ['-m', a.model]
            subprocess.run(cmd, check=True)
            video, _ = read_y4m(clip)
            path = os.path.join(a.out, name + '.png')
            write_png(path, strip(video))
            print('%s  <- st2v -p "%s" -s %d -d %d --size %s' % (path, prompt, SEED, seconds, size))
    return 0


if __name__ == '__main__':
    sys.exit(main())
