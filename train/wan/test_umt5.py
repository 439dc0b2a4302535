#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Self-tests of train/wan/umt5.py: the reference against a deliberately
naive numpy float64 implementation written from the architecture (explicit
loops over heads and positions, buckets from the exact formula), the
properties the C engine relies on (running only the real tokens gives the
rows of the padded batch), the official key names and shapes, and the
fixtures' determinism.

    /usr/bin/python3 train/wan/test_umt5.py        # prints "N passed, N failed"

train/test_reference.py runs these too (its TESTS list takes ours).
"""

import hashlib
import math
import os
import sys
import tempfile

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

from wan import umt5  # noqa: E402

torch.set_num_threads(1)


# ------------------------------------------------------ naive reference

def n_bucket(rel, buckets, max_dist):
    """Bidirectional T5 bucket of one relative position, from the formula:
    half = buckets/2 per side (key after query: the upper half), exact =
    half/2; |rel| < exact is its own bucket, else exact + floor(log(|rel| /
    exact) / log(max_dist / exact) * (half - exact)), at most half - 1."""
    half = buckets // 2
    exact = half // 2
    side = half if rel > 0 else 0
    r = abs(rel)
    if r < exact:
        return side + r
    v = exact + int(math.floor(math.log(r / exact) / math.log(max_dist / exact) * (half - exact)))
    return side + min(v, half - 1)


def n_rms(x, w):
    return np.array([w * row / math.sqrt(np.mean(row * row) + 1e-6) for row in x])


def n_gelu_tanh(x):
    return 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3)))


def n_encode(sd, cfg, ids):
    """The encoder on the real tokens ids (list) alone -> (n, dim)."""
    W = {k: v.double().numpy() for k, v in sd.items()}
    n, H, hd = len(ids), cfg["heads"], cfg["head_dim"]
    x = np.array([W["token_embedding.weight"][i] for i in ids])
    for layer in range(cfg["layers"]):
        p = "blocks.%d." % layer
        h = n_rms(x, W[p + "norm1.weight"])
        q, k, v = (h @ W[p + "attn.%s.weight" % s].T for s in "qkv")
        emb = W[p + "pos_embedding.embedding.weight"]            # (buckets, heads)
        att = np.zeros((n, H * hd))
        for head in range(H):
            c = slice(head * hd, (head + 1) * hd)
            for i in range(n):
                logits = np.array([q[i, c] @ k[j, c] +
                                   emb[n_bucket(j - i, cfg["buckets"], cfg["max_dist"]), head]
                                   for j in range(n)])
                e = np.exp(logits - logits.max())
                att[i, c] = (e / e.sum()) @ v[:, c]
        x = x + att @ W[p + "attn.o.weight"].T
        h = n_rms(x, W[p + "norm2.weight"])
        g = n_gelu_tanh(h @ W[p + "ffn.gate.0.weight"].T)
        x = x + ((h @ W[p + "ffn.fc1.weight"].T) * g) @ W[p + "ffn.fc2.weight"].T
    return n_rms(x, W["norm.weight"])


def close(got, want, tol, what):
    got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
    assert got.shape == want.shape, "%s: shape %s != %s" % (what, got.shape, want.shape)
    err = np.max(np.abs(got - want)) / max(np.max(np.abs(want)), 1e-30)
    assert err <= tol, "%s: max rel err %.3g > %.3g" % (what, err, tol)


def tiny(ck):
    m = umt5.UMT5Encoder(umt5.FIXTURE_CONFIGS[ck])
    umt5.init_random(m, 5)
    return m.double().eval()


# ----------------------------------------------------------------- tests

def umt5_buckets_follow_the_formula_and_saturate():
    for buckets, max_dist in ((32, 128), (16, 20), (8, 9)):
        rel = torch.arange(-1000, 1001)
        got = umt5.relative_bucket(rel, buckets, max_dist).tolist()
        want = [n_bucket(r, buckets, max_dist) for r in rel.tolist()]
        assert got == want, (buckets, max_dist)
    b = umt5.relative_bucket(torch.tensor([0, -1, 1, -7, 7, -8, 8, -15, 16, -128, 128, 5000]), 32, 128)
    assert b.tolist() == [0, 1, 17, 7, 23, 8, 24, 9, 26, 15, 31, 31], b.tolist()


def umt5_matches_naive_implementation():
    for ck, lens in (("a", (11, 1)), ("b", (26, 5))):
        m = tiny(ck)
        cfg = m.cfg
        g = torch.Generator().manual_seed(3)
        prompts = [torch.randint(0, cfg["vocab"], (n,), generator=g).tolist() for n in lens]
        with torch.no_grad():
            rows = umt5.encode(m, prompts, 30)
        for p, r in zip(prompts, rows):
            close(r.numpy(), n_encode(m.state_dict(), cfg, p), 1e-10, "config %s, %d tokens" % (ck, len(p)))


def umt5_real_tokens_alone_give_the_rows_of_the_padded_batch():
    m = tiny("b")
    g = torch.Generator().manual_seed(4)
    prompts = [torch.randint(0, 97, (n,), generator=g).tolist() for n in (30, 7, 1)]
    with torch.no_grad():
        rows = umt5.encode(m, prompts, 30)
        ctx = umt5.dit_context(rows, 30)
        for p, r, c in zip(prompts, rows, ctx):
            alone = m(torch.tensor([p]))[0]
            close(r.numpy(), alone.numpy(), 1e-12, "%d tokens" % len(p))
            assert r.shape[0] == len(p) and torch.all(c[len(p):] == 0)


def umt5_float32_module_stays_within_the_golden_tolerance():
    """Computing in float32 (as the C engine does) against float64."""
    m = tiny("a")
    ids = torch.randint(0, 300, (1, 40), generator=torch.Generator().manual_seed(6))
    with torch.no_grad():
        want = m(ids)
        got = m.float()(ids)
    close(got.numpy(), want.numpy(), 1e-5, "float32")


def umt5_tensor_names_and_shapes_are_the_official_ones():
    for ck in ("a", "b"):
        m = umt5.UMT5Encoder(umt5.FIXTURE_CONFIGS[ck])
        got = {k: tuple(v.shape) for k, v in m.state_dict().items()}
        assert got == umt5.tensor_shapes(m.cfg), ck
    shapes = umt5.tensor_shapes(umt5.UMT5_XXL)
    assert len(shapes) == 242                                  # the official .pth holds 242
    assert shapes["blocks.23.ffn.gate.0.weight"] == (10240, 4096)
    assert shapes["blocks.0.pos_embedding.embedding.weight"] == (32, 64)
    assert shapes["token_embedding.weight"] == (256384, 4096)
    n = sum(math.prod(s) for s in shapes.values())
    assert n == 5680910336, n                                  # WAN-NOTES: 5,680,910,336


def umt5_fixtures_are_deterministic_and_up_to_date():
    def digest(d):
        return {f: hashlib.sha256(open(os.path.join(d, f), "rb").read()).hexdigest()
                for f in sorted(os.listdir(d))}

    with tempfile.TemporaryDirectory() as d1, tempfile.TemporaryDirectory() as d2:
        umt5.write_fixtures(d1)
        umt5.write_fixtures(d2)
        a, b = digest(d1), digest(d2)
        assert a == b, "two runs differ"
        fx = os.path.join(HERE, "..", "..", "tests", "fixtures", "wan", "umt5")
        have = digest(fx) if os.path.isdir(fx) else {}
        stale = [f for f in a if have.get(f) != a[f]]
        assert not stale, "tests/fixtures/wan/umt5 out of date (make fixtures): %s" % stale


def umt5_full_size_writer_streams_the_reference_weights():
    """write_full (the timing file, a tensor and rows at a time) on a tiny
    config, and full_golden (embedding cut to the rows used) against the
    module on the whole file."""
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "full.safetensors")
        umt5.write_full(path, umt5.FIXTURE_CONFIGS["b"])
        ids = [96, 5, 17, 5, 1]
        m = umt5.load(path)
        assert m.cfg == umt5.FIXTURE_CONFIGS["b"]
        with torch.no_grad():
            want = m(torch.tensor([ids]))[0]
        close(umt5.full_golden(path, ids).numpy(), want.numpy(), 0, "full_golden")
        assert m.blocks[0].norm1.weight.std() > 0.1                 # not all ones


TESTS = [
    umt5_buckets_follow_the_formula_and_saturate,
    umt5_matches_naive_implementation,
    umt5_real_tokens_alone_give_the_rows_of_the_padded_batch,
    umt5_float32_module_stays_within_the_golden_tolerance,
    umt5_tensor_names_and_shapes_are_the_official_ones,
    umt5_fixtures_are_deterministic_and_up_to_date,
    umt5_full_size_writer_streams_the_reference_weights,
]


if __name__ == "__main__":
    import testing  # train/testing.py: one runner for every Python test
    sys.exit(testing.run(TESTS))
