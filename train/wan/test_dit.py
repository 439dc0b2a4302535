#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Self-tests of train/wan/dit.py: the pad shortcut equals the padded
context, the official names and shapes (825 tensors at 1.3B), RoPE's split
and interleaving against a loop written from the formula, the unpatchify
order, and the fixtures' determinism.

    /usr/bin/python3 train/wan/test_dit.py        # prints "N passed, N failed"
"""

import hashlib
import math
import os
import sys
import tempfile

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

from wan import dit  # noqa: E402

torch.set_num_threads(1)


def tiny(ck="a", seed=5):
    m = dit.WanDiT(dit.FIXTURE_CONFIGS[ck])
    dit.init_random(m, seed)
    return m.double().eval()


def test_pad_shortcut_equals_padded():
    m = tiny()
    g = torch.Generator().manual_seed(1)
    x = torch.randn(6, 3, 8, 12, generator=g, dtype=torch.float64)
    for n in (1, 7, 15, 16):
        ctx = torch.randn(n, 24, generator=g, dtype=torch.float64)
        with torch.no_grad():
            a = m(x, 500.0, ctx, pad_shortcut=False)
            b = m(x, 500.0, ctx, pad_shortcut=True)
        err = (a - b).abs().max().item()
        assert err < 1e-12 * max(1.0, a.abs().max().item()), (n, err)


def test_names_1_3b():
    s = dit.tensor_shapes_fast(dit.WAN_1_3B)
    assert len(s) == 825, len(s)
    assert sum(math.prod(v) for v in s.values()) == 1418996800
    for ck, cfg in dit.FIXTURE_CONFIGS.items():
        assert dit.tensor_shapes(cfg) == dit.tensor_shapes_fast(cfg), ck


def test_rope_loop():
    d, grid = 20, (3, 4, 6)
    assert dit.rope_dims(d) == [8, 6, 6]
    assert dit.rope_dims(128) == [44, 42, 42]
    ang = dit.rope_angles(grid, d)
    g = torch.Generator().manual_seed(2)
    x = torch.randn(72, 2, d, generator=g, dtype=torch.float64)
    y = dit.rope(x, ang)
    dims = dit.rope_dims(d)
    tok = 0
    for f in range(3):
        for h in range(4):
            for w in range(6):
                pos, j = (f, h, w), 0
                for ax in range(3):
                    for i in range(dims[ax] // 2):
                        a = pos[ax] * 10000.0 ** (-2.0 * i / dims[ax])
                        for n in range(2):
                            x0, x1 = x[tok, n, 2 * j].item(), x[tok, n, 2 * j + 1].item()
                            assert abs(y[tok, n, 2 * j].item() - (x0 * math.cos(a) - x1 * math.sin(a))) < 1e-12
                            assert abs(y[tok, n, 2 * j + 1].item() - (x0 * math.sin(a) + x1 * math.cos(a))) < 1e-12
                        j += 1
                tok += 1


def test_unpatchify_order():
    m = tiny()
    f, h, w = 2, 3, 4
    c = m.cfg["out_dim"]
    y = torch.arange(f * h * w * 4 * c, dtype=torch.float64).reshape(f * h * w, 4 * c)
    out = m.unpatchify(y, (f, h, w))
    for ci in range(c):
        for fi in range(f):
            for hy in range(2 * h):
                for wx in range(2 * w):
                    tok = (fi * h + hy // 2) * w + wx // 2
                    col = ((hy % 2) * 2 + wx % 2) * c + ci
                    assert out[ci, fi, hy, wx] == y[tok, col]


def test_fixtures_deterministic():
    with tempfile.TemporaryDirectory() as a, tempfile.TemporaryDirectory() as b:
        dit.write_fixtures(a)
        dit.write_fixtures(b)
        for name in sorted(os.listdir(a)):
            ha = hashlib.sha256(open(os.path.join(a, name), "rb").read()).hexdigest()
            hb = hashlib.sha256(open(os.path.join(b, name), "rb").read()).hexdigest()
            assert ha == hb, name


TESTS = [test_pad_shortcut_equals_padded, test_names_1_3b, test_rope_loop,
         test_unpatchify_order, test_fixtures_deterministic]

if __name__ == "__main__":
    import testing  # train/testing.py: one runner for every Python test
    sys.exit(testing.run(TESTS))
