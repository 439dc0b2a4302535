#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Self-tests of the PyTorch reference: each part of docs/model-format.md is
checked against a second, deliberately naive implementation written from the
spec text (explicit index loops in numpy float64), plus the properties the
C engine relies on (causal streaming decode, padded batches, determinism).

    /usr/bin/python3 train/test_reference.py      # prints "N passed, N failed"
"""

import hashlib
import json
import math
import os
import random
import struct
import subprocess
import sys
import tempfile

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
if __package__ in (None, ""):      # run as train/test_reference.py: the repository root on the path
    sys.path.insert(0, ROOT)

from train import testing  # noqa: E402
from train.st2v import rng, safetensors_io  # noqa: E402
from train.st2v.config import derived, tiny_config  # noqa: E402
from train.st2v.model import St2vModel, init_random, load_model, save_model  # noqa: E402
from train.st2v.sampling import Velocity, sample, schedule, start_latent  # noqa: E402
from train.st2v.textenc import pad_batch  # noqa: E402
from train.st2v.tokenizer import Tokenizer, lowercase_bytes  # noqa: E402
from train.st2v.vae import VAE, depth_to_space, space_to_depth  # noqa: E402

torch.set_num_threads(1)


def close(got, want, tol, what):
    got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
    assert got.shape == want.shape, "%s: shape %s != %s" % (what, got.shape, want.shape)
    err = np.max(np.abs(got - want)) / max(np.max(np.abs(want)), 1e-30)
    assert err <= tol, "%s: max rel err %.3g > %.3g" % (what, err, tol)


_MODEL = {}


def tiny():
    if "m" not in _MODEL:
        m = St2vModel(tiny_config())
        init_random(m, 7)
        _MODEL["m"] = m.double().eval()
        _MODEL["sd"] = {k: v.numpy() for k, v in _MODEL["m"].state_dict().items()}
    return _MODEL["m"], _MODEL["sd"]


# ------------------------------------------------------------- naive parts

def n_lin(sd, name, x):
    return x @ sd[name + ".weight"].T + sd[name + ".bias"]


def n_layernorm(x, w=None, b=None, eps=1e-5):
    mu = x.mean(-1, keepdims=True)
    var = ((x - mu) ** 2).mean(-1, keepdims=True)
    y = (x - mu) / np.sqrt(var + eps)
    return y * w + b if w is not None else y


def n_rms(x, w, eps=1e-6):
    return x * w / np.sqrt((x ** 2).mean(-1, keepdims=True) + eps)


def n_softmax_attn(q, k, v):
    s = q @ k.T / math.sqrt(q.shape[1])
    s = np.exp(s - s.max(1, keepdims=True))
    return (s / s.sum(1, keepdims=True)) @ v


def n_gelu(x):
    return 0.5 * x * (1 + np.vectorize(math.erf)(x / math.sqrt(2)))


def n_silu(x):
    return x / (1 + np.exp(-x))


def n_text(sd, cfg, ids):
    Dt, Ht = cfg["text"]["dim"], cfg["text"]["heads"]
    hd = Dt // Ht
    n = len(ids)
    x = sd["text.tok_emb"][ids] + sd["text.pos_emb"][:n]
    for i in range(cfg["text"]["layers"]):
        p = "text.blocks.%d." % i
        h = n_layernorm(x, sd[p + "norm1.weight"], sd[p + "norm1.bias"])
        qkv = n_lin(sd, p + "attn.qkv", h)
        q, k, v = qkv[:, :Dt], qkv[:, Dt:2 * Dt], qkv[:, 2 * Dt:]
        o = np.concatenate([n_softmax_attn(q[:, j * hd:(j + 1) * hd], k[:, j * hd:(j + 1) * hd],
                                           v[:, j * hd:(j + 1) * hd]) for j in range(Ht)], 1)
        x = x + n_lin(sd, p + "attn.proj", o)
        h = n_layernorm(x, sd[p + "norm2.weight"], sd[p + "norm2.bias"])
        x = x + n_lin(sd, p + "mlp.fc2", n_gelu(n_lin(sd, p + "mlp.fc1", h)))
    return n_layernorm(x, sd["text.norm.weight"], sd["text.norm.bias"])


def n_rope(x, pos, rope_dims, theta):
    """x (hd) of one head of one token."""
    out = x.copy()
    o = 0
    for p, d in zip(pos, rope_dims):
        for j in range(d // 2):
            ang = p * theta ** (-2.0 * j / d)
            c, s = math.cos(ang), math.sin(ang)
            out[o + 2 * j] = x[o + 2 * j] * c - x[o + 2 * j + 1] * s
            out[o + 2 * j + 1] = x[o + 2 * j] * s + x[o + 2 * j + 1] * c
        o += d
    return out


def n_dit(sd, cfg, z, t, c, t0):
    d = cfg["dit"]
    D, H = d["dim"], d["heads"]
    hd = D // H
    pt, ph, pw = d["patch"]
    Cz, T, Hl, Wl = z.shape
    Tp, Hp, Wp = T // pt, Hl // ph, Wl // pw
    N, P = Tp * Hp * Wp, Cz * pt * ph * pw
    tokens = np.zeros((N, P))
    grid = []
    for a in range(Tp):
        for b in range(Hp):
            for cc in range(Wp):
                n = (a * Hp + b) * Wp + cc
                grid.append((a, b, cc))
                for ch in range(Cz):
                    for i in range(pt):
                        for j in range(ph):
                            for k in range(pw):
                                tokens[n, ((ch * pt + i) * ph + j) * pw + k] = \
                                    z[ch, a * pt + i, b * ph + j, cc * pw + k]
    x = n_lin(sd, "dit.patch_embed", tokens)
    half = d["freq_dim"] // 2
    freq = np.array([math.exp(-math.log(10000) * k / half) for k in range(half)])
    temb = []
    for a in range(Tp):
        arg = 1000 * t[a] * freq
        e = np.concatenate([np.cos(arg), np.sin(arg)])
        temb.append(n_lin(sd, "dit.t_embed.fc2", n_silu(n_lin(sd, "dit.t_embed.fc1", e))))
        if d.get("text_pool", False):
            temb[-1] = temb[-1] + n_lin(sd, "dit.text_pool", np.mean(c, axis=0))
    y = np.stack([temb[a] for (a, b, cc) in grid])                 # (N, D)
    for li in range(d["layers"]):
        p = "dit.blocks.%d." % li
        m = n_lin(sd, p + "ada", n_silu(y))
        sh1, sc1, g1, sh2, sc2, g2 = [m[:, r * D:(r + 1) * D] for r in range(6)]
        h = n_layernorm(x, eps=1e-6) * (1 + sc1) + sh1
        qkv = n_lin(sd, p + "attn.qkv", h)
        heads = []
        for j in range(H):
            q = qkv[:, j * hd:(j + 1) * hd]
            k = qkv[:, D + j * hd:D + (j + 1) * hd]
            v = qkv[:, 2 * D + j * hd:2 * D + (j + 1) * hd]
            q = n_rms(q, sd[p + "attn.q_norm.weight"])
            k = n_rms(k, sd[p + "attn.k_norm.weight"])
            q = np.stack([n_rope(q[n], (a + t0, b, cc), d["rope_dims"], d["rope_theta"])
                          for n, (a, b, cc) in enumerate(grid)])
            k = np.stack([n_rope(k[n], (a + t0, b, cc), d["rope_dims"], d["rope_theta"])
                          for n, (a, b, cc) in enumerate(grid)])
            heads.append(n_softmax_attn(q, k, v))
        x = x + g1 * n_lin(sd, p + "attn.proj", np.concatenate(heads, 1))
        h = n_layernorm(x, sd[p + "norm_cross.weight"], sd[p + "norm_cross.bias"], eps=1e-6)
        q = n_lin(sd, p + "cross.q", h)
        kv = n_lin(sd, p + "cross.kv", c)
        heads = []
        for j in range(H):
            qj = n_rms(q[:, j * hd:(j + 1) * hd], sd[p + "cross.q_norm.weight"])
            kj = n_rms(kv[:, j * hd:(j + 1) * hd], sd[p + "cross.k_norm.weight"])
            vj = kv[:, D + j * hd:D + (j + 1) * hd]
            heads.append(n_softmax_attn(qj, kj, vj))
        x = x + n_lin(sd, p + "cross.proj", np.concatenate(heads, 1))
        h = n_layernorm(x, eps=1e-6) * (1 + sc2) + sh2
        x = x + g2 * n_lin(sd, p + "mlp.fc2", n_gelu(n_lin(sd, p + "mlp.fc1", h)))
    m = n_lin(sd, "dit.final.ada", n_silu(y))
    shift, scale = m[:, :D], m[:, D:]
    out = n_lin(sd, "dit.final.linear", n_layernorm(x, eps=1e-6) * (1 + scale) + shift)
    v = np.zeros_like(z)
    for n, (a, b, cc) in enumerate(grid):
        for ch in range(Cz):
            for i in range(pt):
                for j in range(ph):
                    for k in range(pw):
                        v[ch, a * pt + i, b * ph + j, cc * pw + k] = \
                            out[n, ((ch * pt + i) * ph + j) * pw + k]
    return v


def n_conv(sd, name, x):
    """Causal conv, x (Cin, T, H, W) -> (Cout, T, H, W)."""
    w, b = sd[name + ".weight"], sd[name + ".bias"]
    cout, cin, kt = w.shape[:3]
    Cin, T, H, W = x.shape
    xp = np.zeros((Cin, T, H + 2, W + 2))
    xp[:, :, 1:-1, 1:-1] = x
    out = np.zeros((cout, T, H, W)) + b[:, None, None, None]
    for f in range(T):
        for dk in range(kt):
            src = f - kt + 1 + dk                 # frames before the first are zeros
            if src < 0:
                continue
            for dy in range(3):
                for dx in range(3):
                    out[:, f] += np.einsum("oi,ihw->ohw", w[:, :, dk, dy, dx],
                                           xp[:, src, dy:dy + H, dx:dx + W])
    return out


def n_chnorm(sd, name, x):
    return x * sd[name + ".weight"][:, None, None, None] / np.sqrt((x ** 2).mean(0) + 1e-6)


def n_res(sd, p, x):
    h = n_conv(sd, p + "conv1", n_silu(n_chnorm(sd, p + "norm1", x)))
    return x + n_conv(sd, p + "conv2", n_silu(n_chnorm(sd, p + "norm2", h)))


def n_d2s(x, a, b):
    Cab, T, H, W = x.shape
    C = Cab // (a * b * b)
    out = np.zeros((C, T * a, H * b, W * b))
    for c in range(C):
        for dt in range(a):
            for dy in range(b):
                for dx in range(b):
                    out[c, dt::a, dy::b, dx::b] = x[((c * a + dt) * b + dy) * b + dx]
    return out


def n_s2d(x, a, b):
    C, Ta, Hb, Wb = x.shape
    out = np.zeros((C * a * b * b, Ta // a, Hb // b, Wb // b))
    for c in range(C):
        for dt in range(a):
            for dy in range(b):
                for dx in range(b):
                    out[((c * a + dt) * b + dy) * b + dx] = x[c, dt::a, dy::b, dx::b]
    return out


def n_decode(sd, cfg, z):
    v = cfg["vae"]
    Lv = len(v["channels"])
    x = n_conv(sd, "vae.dec.conv_in", z)
    for i in range(Lv):
        for j in range(v["res_blocks"]):
            x = n_res(sd, "vae.dec.levels.%d.res.%d." % (i, j), x)
        if i < Lv - 1:
            x = n_d2s(n_conv(sd, "vae.dec.levels.%d.up" % i, x), 1 + v["time_up"][i],
                      1 + v["space_up"][i])
    return n_conv(sd, "vae.dec.conv_out", n_silu(n_chnorm(sd, "vae.dec.norm_out", x)))


def n_encode(sd, cfg, rgb):
    v = cfg["vae"]
    Lv = len(v["channels"])
    x = n_conv(sd, "vae.enc.conv_in", rgb)
    for i in range(Lv - 1, -1, -1):
        for j in range(v["res_blocks"]):
            x = n_res(sd, "vae.enc.levels.%d.res.%d." % (i, j), x)
        if i > 0:
            x = n_conv(sd, "vae.enc.levels.%d.down" % i,
                       n_s2d(x, 1 + v["time_up"][i - 1], 1 + v["space_up"][i - 1]))
    return n_conv(sd, "vae.enc.conv_out", n_silu(n_chnorm(sd, "vae.enc.norm_out", x)))


def spec_tensor_shapes(cfg):
    """The tensor tables of sections 4-6, written out by hand."""
    dd = derived(cfg)
    V, L, Dt, Mt = dd["V"], dd["L"], dd["Dt"], dd["Mt"]
    D, M, hd, P, F = dd["D"], dd["M"], dd["hd"], dd["P"], dd["F"]
    s = {"text.tok_emb": (V, Dt), "text.pos_emb": (L, Dt),
         "text.norm.weight": (Dt,), "text.norm.bias": (Dt,)}
    for i in range(cfg["text"]["layers"]):
        p = "text.blocks.%d." % i
        s.update({p + "norm1.weight": (Dt,), p + "norm1.bias": (Dt,),
                  p + "attn.qkv.weight": (3 * Dt, Dt), p + "attn.qkv.bias": (3 * Dt,),
                  p + "attn.proj.weight": (Dt, Dt), p + "attn.proj.bias": (Dt,),
                  p + "norm2.weight": (Dt,), p + "norm2.bias": (Dt,),
                  p + "mlp.fc1.weight": (Mt, Dt), p + "mlp.fc1.bias": (Mt,),
                  p + "mlp.fc2.weight": (Dt, Mt), p + "mlp.fc2.bias": (Dt,)})
    s.update({"dit.patch_embed.weight": (D, P), "dit.patch_embed.bias": (D,),
              "dit.t_embed.fc1.weight": (D, F), "dit.t_embed.fc1.bias": (D,),
              "dit.t_embed.fc2.weight": (D, D), "dit.t_embed.fc2.bias": (D,),
              "dit.final.ada.weight": (2 * D, D), "dit.final.ada.bias": (2 * D,),
              "dit.final.linear.weight": (P, D), "dit.final.linear.bias": (P,)})
    if cfg["dit"].get("text_pool", False):
        s.update({"dit.text_pool.weight": (D, Dt), "dit.text_pool.bias": (D,)})
    for i in range(cfg["dit"]["layers"]):
        p = "dit.blocks.%d." % i
        s.update({p + "ada.weight": (6 * D, D), p + "ada.bias": (6 * D,),
                  p + "attn.qkv.weight": (3 * D, D), p + "attn.qkv.bias": (3 * D,),
                  p + "attn.q_norm.weight": (hd,), p + "attn.k_norm.weight": (hd,),
                  p + "attn.proj.weight": (D, D), p + "attn.proj.bias": (D,),
                  p + "norm_cross.weight": (D,), p + "norm_cross.bias": (D,),
                  p + "cross.q.weight": (D, D), p + "cross.q.bias": (D,),
                  p + "cross.kv.weight": (2 * D, Dt), p + "cross.kv.bias": (2 * D,),
                  p + "cross.q_norm.weight": (hd,), p + "cross.k_norm.weight": (hd,),
                  p + "cross.proj.weight": (D, D), p + "cross.proj.bias": (D,),
                  p + "mlp.fc1.weight": (M, D), p + "mlp.fc1.bias": (M,),
                  p + "mlp.fc2.weight": (D, M), p + "mlp.fc2.bias": (D,)})
    v = cfg["vae"]
    C, kt, Cz, Lv = v["channels"], v["kt"], v["z_channels"], len(v["channels"])
    Cd = v.get("dec_channels", C)

    def conv(name, co, ci, k):
        s[name + ".weight"] = (co, ci, k, 3, 3)
        s[name + ".bias"] = (co,)

    for side, W in (("dec", Cd), ("enc", C)):
        for i in range(Lv):
            for j in range(v["res_blocks"]):
                p = "vae.%s.levels.%d.res.%d." % (side, i, j)
                s[p + "norm1.weight"] = (W[i],)
                s[p + "norm2.weight"] = (W[i],)
                conv(p + "conv1", W[i], W[i], kt[i])
                conv(p + "conv2", W[i], W[i], kt[i])
    conv("vae.dec.conv_in", Cd[0], Cz, kt[0])
    for i in range(Lv - 1):
        a, b = 1 + v["time_up"][i], 1 + v["space_up"][i]
        conv("vae.dec.levels.%d.up" % i, Cd[i + 1] * a * b * b, Cd[i], kt[i])
    s["vae.dec.norm_out.weight"] = (Cd[Lv - 1],)
    conv("vae.dec.conv_out", 3, Cd[Lv - 1], 1)
    conv("vae.enc.conv_in", C[Lv - 1], 3, kt[Lv - 1])
    for i in range(1, Lv):
        a, b = 1 + v["time_up"][i - 1], 1 + v["space_up"][i - 1]
        conv("vae.enc.levels.%d.down" % i, C[i - 1], C[i] * a * b * b, kt[i - 1])
    s["vae.enc.norm_out.weight"] = (C[0],)
    conv("vae.enc.conv_out", Cz, C[0], 1)
    return s


# ------------------------------------------------------------------ tests

def philox_matches_random123_known_answers():
    rng.check_known_answers()


def normals_match_a_scalar_python_philox_and_box_muller():
    def philox(c, k):
        for r in range(10):
            if r:
                k = [(k[0] + 0x9E3779B9) & 0xFFFFFFFF, (k[1] + 0xBB67AE85) & 0xFFFFFFFF]
            p0, p1 = 0xD2511F53 * c[0], 0xCD9E8D57 * c[2]
            c = [(p1 >> 32) ^ c[1] ^ k[0], p1 & 0xFFFFFFFF, (p0 >> 32) ^ c[3] ^ k[1], p0 & 0xFFFFFFFF]
        return c

    for seed, stream, first in ((0, 0, 0), (12345678901234567, 7, 0), (42, 3, 2 ** 33 + 1)):
        got = rng.normals(40, seed, stream, first)
        for i in range(40):
            kk = first + i
            p = kk // 2
            w = philox([p & 0xFFFFFFFF, p >> 32, stream, 0x53543256],
                       [seed & 0xFFFFFFFF, seed >> 32])
            u1 = ((w[0] >> 8) + 1) * 2.0 ** -24
            u2 = (w[1] >> 8) * 2.0 ** -24
            r = math.sqrt(-2 * math.log(u1))
            want = r * (math.sin if kk % 2 else math.cos)(2 * math.pi * u2)
            assert got[i] == np.float32(want), (seed, stream, kk, got[i], want)


def normals_have_unit_variance():
    a = rng.normals(200000, 5, 1).astype(np.float64)
    assert abs(a.mean()) < 0.01 and abs(a.std() - 1) < 0.01, (a.mean(), a.std())


def lowercasing_agrees_with_unicode_for_latin_letters():
    for cp in list(range(0x41, 0x5B)) + list(range(0xC0, 0x17F)):
        ch = chr(cp)
        want = ch.lower()
        if cp in (0x130,) or len(want) != 1:      # İ: Unicode lower is two code points
            continue
        got = lowercase_bytes(ch.encode()).decode()
        assert got == want, (hex(cp), got, want)
    assert lowercase_bytes("ŘÍŠE ŽLUŤOUČKÝ KŮŇ ĎÁBELSKÉ ÓDY Ě".encode()) == \
        "říše žluťoučký kůň ďábelské ódy ě".encode()
    assert lowercase_bytes("Ÿ×ß".encode()) == "ÿ×ß".encode()


def tokenizer_never_fails_on_random_bytes():
    tok = Tokenizer.from_config(tiny_config())
    V = derived(tiny_config())["V"]
    r = random.Random(3)
    alphabet = list(range(256)) + list(b"aer ,.\t") * 8 + list("čř▁".encode()) * 4
    for _ in range(3000):
        b = bytes(r.choice(alphabet) for _ in range(r.randrange(0, 60)))
        ids = tok.encode(b)
        assert 2 <= len(ids) <= 16 and ids[0] == 1 and ids[-1] == 2, (b, ids)
        assert all(3 <= i < V for i in ids[1:-1]), (b, ids)


def tokenizer_byte_fallback_round_trips_when_nothing_is_truncated():
    cfg = tiny_config()
    pieces = cfg["tokenizer"]["pieces"]
    tok = Tokenizer(pieces, 1024)
    r = random.Random(4)
    for _ in range(500):
        b = bytes(r.randrange(256) for _ in range(r.randrange(0, 30)))
        ids = tok.encode(b)
        back = b"".join(bytes([i - 3]) if i < 259 else pieces[i - 259].encode() for i in ids[1:-1])
        want = b"".join(b"\xe2\x96\x81" + w for w in __import__("st2v.tokenizer").tokenizer
                        .split_words(lowercase_bytes(b)))
        assert back == want, (b, ids)


def tokenizer_truncates_to_l_minus_one_then_eos():
    tok = Tokenizer.from_config(tiny_config())
    assert len(tok.encode("a " * 14)) == 16 and tok.encode("a " * 14)[-2] == 259
    ids = tok.encode("a " * 30)
    assert ids == [1] + [259] * 14 + [2], ids
    assert tok.encode("") == [1, 2]


def recipe_config():
    """The shipped model's architecture (train/recipe.py) with a few pieces."""
    from train import recipe
    cfg = recipe.architecture()
    cfg["tokenizer"] = {"max_length": 48, "pieces": ["\u2581a", "\u2581red", "\u2581ball"]}
    return cfg


def model_tensor_names_and_shapes_are_the_spec_tables():
    for cfg in (tiny_config(), recipe_config()):
        want = spec_tensor_shapes(cfg)
        got = {k: tuple(v.shape) for k, v in St2vModel(cfg).state_dict().items()}
        assert set(got) == set(want), (sorted(set(got) ^ set(want)))[:10]
        bad = [(k, got[k], want[k]) for k in want if got[k] != want[k]]
        assert not bad, bad[:5]


def text_encoder_matches_naive_implementation():
    m, sd = tiny()
    tok = Tokenizer.from_config(tiny_config())
    for s in ("a red ball", "Žluťoučký kůň", ""):
        ids = tok.encode(s)
        with torch.no_grad():
            got = m.text(torch.tensor([ids]))[0].numpy()
        close(got, n_text(sd, tiny_config(), ids), 1e-12, s)


def padded_text_batch_equals_single_prompts():
    m, _ = tiny()
    tok = Tokenizer.from_config(tiny_config())
    prompts = ["a red ball", "", "červená kostka na moři a two blue cubes", "sky"]
    lists = [tok.encode(p) for p in prompts]
    ids, mask = pad_batch(lists)
    with torch.no_grad():
        batch = m.text(ids, mask)
        m32 = St2vModel(tiny_config())
        m32.load_state_dict({k: v.float() for k, v in m.state_dict().items()})
        b32 = m32.text(ids, mask)
        for i, l in enumerate(lists):
            single = m.text(torch.tensor([l]))[0]
            close(batch[i, :len(l)].numpy(), single.numpy(), 1e-12, "f64 %d" % i)
            s32 = m32.text(torch.tensor([l]))[0]
            close(b32[i, :len(l)].numpy(), s32.numpy(), 1e-5, "f32 %d" % i)


def dit_matches_naive_implementation():
    m, sd = tiny()
    g = torch.Generator().manual_seed(5)
    for (T, Hl, Wl, t, t0) in ((2, 4, 6, [0.0, 0.7], 3), (3, 2, 4, [1.0, 0.25, 0.5], 0)):
        z = torch.randn(4, T, Hl, Wl, generator=g, dtype=torch.float64)
        c = torch.randn(5, 32, generator=g, dtype=torch.float64)
        with torch.no_grad():
            got = m.dit(z[None], torch.tensor([t], dtype=torch.float64), c[None], None, t0)[0]
        close(got.numpy(), n_dit(sd, tiny_config(), z.numpy(), t, c.numpy(), t0), 1e-11, "dit")


def dit_with_extra_channels_matches_naive_implementation():
    """dit.extra_channels (ReDi): the token holds the latent's channels then
    the extra ones, channel-major, in and out (the naive DiT takes the
    channel count from z)."""
    cfg = tiny_config()
    cfg["dit"]["extra_channels"] = 3
    m = St2vModel(cfg)
    init_random(m, 8)
    m = m.double().eval()
    sd = {k: v.numpy() for k, v in m.state_dict().items()}
    assert sd["dit.patch_embed.weight"].shape == (48, 28)
    g = torch.Generator().manual_seed(9)
    z = torch.randn(7, 2, 4, 6, generator=g, dtype=torch.float64)
    c = torch.randn(5, 32, generator=g, dtype=torch.float64)
    with torch.no_grad():
        got = m.dit(z[None], torch.tensor([[0.2, 0.9]], dtype=torch.float64), c[None], None, 1)[0]
    close(got.numpy(), n_dit(sd, cfg, z.numpy(), [0.2, 0.9], c.numpy(), 1), 1e-11, "dit R=3")


def dit_batch_with_masked_text_equals_single_samples():
    m, _ = tiny()
    g = torch.Generator().manual_seed(6)
    z = torch.randn(2, 4, 2, 4, 4, generator=g, dtype=torch.float64)
    t = torch.tensor([[0.0, 0.5], [0.9, 0.9]], dtype=torch.float64)
    c = torch.randn(2, 6, 32, generator=g, dtype=torch.float64)
    mask = torch.tensor([[True] * 6, [True] * 3 + [False] * 3])
    with torch.no_grad():
        vb = m.dit(z, t, c, mask, 1)
        v0 = m.dit(z[:1], t[:1], c[:1, :6], None, 1)
        v1 = m.dit(z[1:], t[1:], c[1:, :3], None, 1)
    close(vb[0].numpy(), v0[0].numpy(), 1e-12, "b0")
    close(vb[1].numpy(), v1[0].numpy(), 1e-12, "b1")


def rope_offset_t0_leaves_the_dit_output_unchanged():
    """RoPE is relative: shifting every temporal position by t0 rotates q and k
    alike, so q.k and the output do not change (up to rounding), while a
    shift of one axis part alone does."""
    m, _ = tiny()
    g = torch.Generator().manual_seed(14)
    z = torch.randn(1, 4, 3, 4, 4, generator=g, dtype=torch.float64)
    t = torch.tensor([[0.0, 0.4, 0.8]], dtype=torch.float64)
    c = torch.randn(1, 4, 32, generator=g, dtype=torch.float64)
    with torch.no_grad():
        v0 = m.dit(z, t, c, None, 0)
        v5 = m.dit(z, t, c, None, 5)
        zf = z.flip(2)          # a different temporal order does change it
        vf = m.dit(zf, t.flip(1), c, None, 0).flip(2)
    close(v5.numpy(), v0.numpy(), 1e-12, "t0")
    err = (vf - v0).abs().max() / v0.abs().max()
    assert err > 1e-3, err


def depth_to_space_matches_spec_index_map_and_space_to_depth_inverts_it():
    x = torch.randn(2 * 2 * 4 * 3, 3, 2, 5, dtype=torch.float64)
    for a, b in ((1, 1), (2, 1), (1, 2), (2, 2)):
        xx = x[:3 * a * b * b]
        y = depth_to_space(xx[None], a, b)[0]
        close(y.numpy(), n_d2s(xx.numpy(), a, b), 0, "d2s")
        close(space_to_depth(y[None], a, b)[0].numpy(), xx.numpy(), 0, "s2d")
        close(n_s2d(y.numpy(), a, b), xx.numpy(), 0, "naive s2d")


def vae_decoder_and_encoder_match_naive_implementation():
    m, sd = tiny()
    g = torch.Generator().manual_seed(8)
    z = torch.randn(4, 3, 2, 3, generator=g, dtype=torch.float64)
    rgb = torch.rand(3, 8, 8, 12, generator=g, dtype=torch.float64) * 2 - 1
    with torch.no_grad():
        dec = m.vae.dec(z[None])[0]
        enc = m.vae.enc(rgb[None])[0]
    assert dec.shape == (3, 12, 8, 12) and enc.shape == (4, 2, 2, 3)
    close(dec.numpy(), n_decode(sd, tiny_config(), z.numpy()), 1e-12, "dec")
    close(enc.numpy(), n_encode(sd, tiny_config(), rgb.numpy()), 1e-12, "enc")


def decoding_the_first_k_latent_frames_gives_the_first_k_ft_frames():
    m, _ = tiny()
    ft = derived(tiny_config())["ft"]
    z = torch.randn(4, 5, 3, 4, generator=torch.Generator().manual_seed(9), dtype=torch.float64)
    with torch.no_grad():
        full = m.vae.dec(z[None])[0]
        for k in range(1, 5):
            part = m.vae.dec(z[None, :, :k])[0]
            close(part.numpy(), full[:, :k * ft].numpy(), 1e-13, "k=%d" % k)


def encoder_is_causal_in_time():
    m, _ = tiny()
    ft = derived(tiny_config())["ft"]
    x = torch.rand(3, 3 * ft, 8, 8, generator=torch.Generator().manual_seed(10), dtype=torch.float64)
    with torch.no_grad():
        full = m.vae.enc(x[None])[0]
        part = m.vae.enc(x[None, :, :2 * ft])[0]
    close(part.numpy(), full[:, :2].numpy(), 1e-13, "enc")


def schedule_is_shifted_and_ends_at_zero():
    ts = schedule(4, 2.0)
    want = [2 * u / (1 + u) for u in (1, 0.75, 0.5, 0.25, 0)]
    assert all(abs(a - b) < 1e-15 for a, b in zip(ts, want)) and ts[0] == 1 and ts[-1] == 0, ts


class StraightFlow:
    """v(x, t) = (x - x0) / t: the exact velocity of x_t = (1-t) x0 + t e."""

    def __init__(self, x0, n_context):
        self.x0, self.n_context, self.calls, self.ts = x0, n_context, 0, []

    def __call__(self, x, t):
        self.calls += 1
        self.ts.append(t)
        return (x - self.x0) / t


def every_sampler_is_exact_on_a_straight_flow_and_keeps_context():
    g = torch.Generator().manual_seed(11)
    x0 = torch.randn(2, 3, 2, 2, generator=g, dtype=torch.float64)
    e = torch.randn(2, 3, 2, 2, generator=g, dtype=torch.float64)
    ctx = torch.randn(2, 1, 2, 2, generator=g, dtype=torch.float64)
    for name, calls in (("euler", 5), ("heun", 9), ("dpm++2m", 5)):
        x = e.clone()
        x[:, :1] = ctx
        vel = StraightFlow(x0, 1)
        out = sample(vel, x, name, 5, 3.0)
        close(out[:, 1:].numpy(), x0[:, 1:].numpy(), 1e-12, name)
        assert torch.equal(out[:, :1], ctx), name
        assert vel.calls == calls, (name, vel.calls)


def dpm_solver_follows_the_spec_formulas():
    """A hand-unrolled DPM-Solver++(2M) of section 8 on a nonlinear velocity."""
    def velf(x, t):
        return torch.sin(3 * x) * (1 + t) + 0.5 * x

    class V:
        n_context = 0

        def __call__(self, x, t):
            return velf(x, t)

    x = torch.linspace(-2, 2, 7, dtype=torch.float64).reshape(1, 7, 1, 1)
    steps, shift = 5, 2.5
    got = sample(V(), x, "dpm++2m", steps, shift)
    ts = schedule(steps, shift)
    lam = [math.log((1 - t) / t) if 0 < t < 1 else (-math.inf if t == 1 else math.inf) for t in ts]
    y = x.clone()
    x0s, hs = [], []
    for i in range(steps):
        v = velf(y, ts[i])
        x0 = y - ts[i] * v
        h = lam[i + 1] - lam[i]
        if i == 0 or ts[i + 1] == 0 or not math.isfinite(hs[-1]):
            if ts[i + 1] == 0:
                y = x0
            else:
                y = (ts[i + 1] / ts[i]) * y - (1 - ts[i + 1]) * (math.exp(-h) - 1) * x0
        else:
            r = hs[-1] / h
            Dv = (1 + 1 / (2 * r)) * x0 - (1 / (2 * r)) * x0s[-1]
            y = (ts[i + 1] / ts[i]) * y - (1 - ts[i + 1]) * (math.exp(-h) - 1) * Dv
        x0s.append(x0)
        hs.append(h)
    close(got.numpy(), y.numpy(), 1e-14, "dpm")
    # the first step from t = 1 is t_1 x + (1 - t_1) x0
    one = sample(V(), x, "dpm++2m", 1, shift)
    close(one.numpy(), (x - velf(x, 1.0)).numpy(), 1e-14, "one step")


def heun_and_euler_follow_the_spec_formulas():
    def velf(x, t):
        return torch.cos(2 * x) * t - x

    class V:
        n_context = 0

        def __call__(self, x, t):
            return velf(x, t)

    x = torch.linspace(-1, 1, 5, dtype=torch.float64).reshape(1, 5, 1, 1)
    ts = schedule(3, 2.0)
    ye, yh = x.clone(), x.clone()
    for i in range(3):
        dt = ts[i + 1] - ts[i]
        ye = ye + dt * velf(ye, ts[i])
        v = velf(yh, ts[i])
        xp = yh + dt * v
        yh = yh + dt * (v + velf(xp, ts[i + 1])) / 2 if ts[i + 1] > 0 else xp
    close(sample(V(), x, "euler", 3, 2.0).numpy(), ye.numpy(), 1e-14, "euler")
    close(sample(V(), x, "heun", 3, 2.0).numpy(), yh.numpy(), 1e-14, "heun")


def guidance_combines_conditional_and_negative_passes():
    m, _ = tiny()
    g = torch.Generator().manual_seed(12)
    x = torch.randn(4, 2, 4, 4, generator=g, dtype=torch.float64)
    c = torch.randn(5, 32, generator=g, dtype=torch.float64)
    n = torch.randn(2, 32, generator=g, dtype=torch.float64)
    with torch.no_grad():
        v = Velocity(m, c, n, 3.0, 1)(x, 0.6)
        tt = torch.tensor([[0.0, 0.6]], dtype=torch.float64)
        vc = m.dit(x[None], tt, c[None])[0]
        vn = m.dit(x[None], tt, n[None])[0]
    close(v.numpy(), (vn + 3.0 * (vc - vn)).numpy(), 1e-13, "cfg")


def start_latent_is_philox_noise_after_the_context():
    ctx = torch.ones(4, 1, 2, 3)
    x = start_latent(4, 3, 2, 3, 1, 42, 0, ctx)
    assert torch.equal(x[:, :1], ctx)
    assert np.array_equal(x[:, 1:].numpy().ravel(), rng.normals(4 * 2 * 2 * 3, 42, 0))


def safetensors_round_trips_and_aligns_the_data_section():
    g = torch.Generator().manual_seed(13)
    t = {"b": torch.randn(3, 5, generator=g), "a": torch.randn(7, generator=g),
         "c": torch.tensor([1.00390625, 1.01171875, -1.01171875, 65504.0, 3e-8])}
    with tempfile.TemporaryDirectory() as d:
        p = os.path.join(d, "x.safetensors")
        safetensors_io.save(p, t, {"k": "v"}, {"b": "F16", "c": "BF16"})
        raw = open(p, "rb").read()
        (n,) = struct.unpack("<Q", raw[:8])
        assert (8 + n) % 8 == 0
        hdr = json.loads(raw[8:8 + n])
        names = [k for k in hdr if k != "__metadata__"]
        offs = [hdr[k]["data_offsets"] for k in names]
        assert sorted(names) == ["a", "b", "c"] and offs == sorted(offs)
        assert offs[-1][1] == len(raw) - 8 - n
        back, meta, dts = safetensors_io.load(p)
        assert meta == {"k": "v"} and dts == {"a": "F32", "b": "F16", "c": "BF16"}
        assert torch.equal(back["a"], t["a"])
        assert torch.equal(back["b"], t["b"].half().float())
        # bf16: round to nearest, ties to even
        assert back["c"][:3].tolist() == [1.0, 1.015625, -1.015625], back["c"]
        assert torch.equal(back["c"], t["c"].bfloat16().float())


def model_files_reload_to_the_same_weights():
    m = St2vModel(tiny_config())
    init_random(m, 3)
    with tempfile.TemporaryDirectory() as d:
        p = os.path.join(d, "m.safetensors")
        save_model(p, m)
        r = load_model(p)
        assert r.config == tiny_config()
        for k, v in m.state_dict().items():
            assert torch.equal(v, r.state_dict()[k]), k


def decoder_export_replaces_only_the_decoder_and_refuses_another_encoder():
    from train import train_vae
    m = St2vModel(tiny_config())
    init_random(m, 5)
    with tempfile.TemporaryDirectory() as d:
        src, ck, out = (os.path.join(d, f) for f in ("m.safetensors", "c.pt", "o.safetensors"))
        save_model(src, m, dtype="F16")
        vae = {k: v.clone() for k, v in load_model(src).vae.state_dict().items()}
        for k in vae:
            if k.startswith("dec."):
                vae[k] += 0.5
        torch.save({"vae": vae, "step": 42}, ck)
        train_vae.export_into(ck, src, out)
        a, b = load_model(src), load_model(out)
        assert b.config["provenance"]["vae_steps"] == 42
        for k, v in b.state_dict().items():
            want = vae[k[len("vae."):]].half().float() if k.startswith("vae.dec.") else a.state_dict()[k]
            assert torch.equal(v, want), k
        vae["enc.conv_in.bias"] += 1.0
        torch.save({"vae": vae, "step": 43}, ck)
        try:
            train_vae.export_into(ck, src, out)
        except SystemExit as e:
            assert "enc.conv_in.bias" in str(e), e
        else:
            raise AssertionError("an autoencoder with another encoder was exported")
        assert load_model(out).config["provenance"]["vae_steps"] == 42, "out overwritten"


def widened_decoder_computes_the_same_and_exports_with_its_widths():
    """train_vae.widen_decoder without noise is the same function, and a
    checkpoint of the wider decoder exports with vae.dec_channels set."""
    from train import train_vae
    narrow = tiny_config()
    del narrow["vae"]["dec_channels"]                   # the encoder's widths
    wide = tiny_config()
    wide["vae"]["dec_channels"] = [32, 16, 16]
    a, b = St2vModel(narrow), St2vModel(wide)
    init_random(a, 6)
    train_vae.widen_decoder(a.vae.dec, b.vae.dec, noise=0.0)
    z = torch.randn(1, 4, 3, 4, 6, dtype=torch.float32)
    with torch.no_grad():
        close(b.vae.dec(z).numpy(), a.vae.dec(z).numpy(), 1e-5, "widened decoder")
    try:
        train_vae.widen_decoder(b.vae.dec, a.vae.dec)
    except SystemExit as e:
        assert "cannot widen" in str(e), e
    else:
        raise AssertionError("a decoder was narrowed")
    with tempfile.TemporaryDirectory() as d:
        src, ck, out = (os.path.join(d, f) for f in ("m.safetensors", "c.pt", "o.safetensors"))
        save_model(src, a, dtype="F16")
        a = load_model(src)
        vae = {"enc." + k: v for k, v in a.vae.enc.state_dict().items()}
        vae.update({"dec." + k: v for k, v in b.vae.dec.state_dict().items()})
        torch.save({"vae": vae, "step": 7}, ck)
        train_vae.export_into(ck, src, out)
        m = load_model(out)
        assert m.config["vae"]["dec_channels"] == [32, 16, 16], m.config["vae"]
        for k, v in m.state_dict().items():
            want = (vae[k[len("vae."):]].half().float() if k.startswith("vae.dec.")
                    else a.state_dict()[k])
            assert torch.equal(v, want), k


def device_run_on_the_cpu(d, out, **model_env):
    """Runs train/device_run.sh with DEVICE=cpu, two clips and a few
    seconds of training in scratch folder d; returns the slim file it left
    in out. model_env: MODEL, VAE, INIT."""
    env = dict(os.environ, OUT=out, DEVICE="cpu", PY=sys.executable,
               ST2V_RUN_DIR=os.path.join(d, "run"), ST2V_SHARD="2", ST2V_BF16="0",
               CLIPS="2", JOBS="1", MINUTES="0.1", COOL="0.05", BATCH="2", **model_env)
    r = subprocess.run(["bash", os.path.join(HERE, "device_run.sh")], env=env,
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-2000:] + r.stdout[-2000:]
    return torch.load(os.path.join(out, "dit-ema.pt"))


def device_run_trains_on_the_cpu_and_its_slim_file_exports():
    """train/device_run.sh (the GPU machine's one call) with DEVICE=cpu and
    a few clips: it caches, continues the shipped DiT, leaves a --slim file
    in $OUT, and that file exports to the model its EMA weights say."""
    from train import recipe
    root = os.path.dirname(HERE)
    shipped = os.path.join(root, "models", "st2v-world-v1.safetensors")
    with tempfile.TemporaryDirectory() as d:
        out = os.path.join(d, "out")
        slim = device_run_on_the_cpu(d, out, MODEL=shipped)
        base = load_model(shipped)
        assert slim["step"] > base.config["provenance"]["dit_steps"], slim["step"]
        assert all(v.dtype == torch.float16 for v in slim["ema"].values())
        model = os.path.join(d, "m.safetensors")
        subprocess.run([sys.executable, os.path.join(HERE, "train_dit.py"), "--export", model,
                        "--from", os.path.join(out, "dit-ema.pt"), "--vae", shipped],
                       check=True, capture_output=True)
        m = load_model(model)
        assert m.config["provenance"]["dit_steps"] == slim["step"]
        for k, v in m.state_dict().items():
            want = base.state_dict()[k] if k.startswith("vae.") else slim["ema"][k].float()
            assert torch.equal(v, want), k
    for bad in ("gpu", "cuda:0"):
        try:
            recipe.device(bad)
        except SystemExit as e:
            assert "cpu or cuda" in str(e), e
        else:
            raise AssertionError("--device %s was taken" % bad)


def device_run_trains_a_dit_from_scratch_on_a_new_autoencoder():
    """device_run.sh with VAE a train_vae.py --slim file of an autoencoder of
    another geometry (v3: 4 channels, 2 frames and 4x4 pixels per latent
    cell) and INIT empty: the cache holds its latents, the DiT starts from
    scratch with its config (patches of 2x4x4 cells, windows of 8 latent
    frames, 2 of context: tokens of v1's 4 frames and 16 pixels), and the
    export takes that autoencoder (the shipped one is refused) and the name
    --name gives."""
    from train import recipe
    from train import train_vae
    root = os.path.dirname(HERE)
    with tempfile.TemporaryDirectory() as d:
        vae = VAE({"vae": recipe.vae_architecture("v3")})
        train_vae.init_for_training(vae)
        os.mkdir(os.path.join(d, "vae"))
        torch.save({"vae": vae.state_dict(), "opt": {}, "step": 5, "vae_config": vae.dec.v},
                   os.path.join(d, "vae", "checkpoint.pt"))
        ck = os.path.join(d, "vae.pt")
        subprocess.run([sys.executable, os.path.join(HERE, "train_vae.py"), "--dir",
                        os.path.join(d, "vae"), "--slim", ck], check=True, capture_output=True)
        small = torch.load(ck)
        assert "opt" not in small and all(v.dtype == torch.float16 for v in small["vae"].values())
        out = os.path.join(d, "out")
        slim = device_run_on_the_cpu(d, out, VAE=ck, INIT="")
        assert 0 < slim["step"] < 1000 and slim["config"]["vae"]["z_channels"] == 4, slim["step"]
        assert slim["config"]["dit"]["patch"] == [2, 4, 4], slim["config"]["dit"]
        assert (slim["config"]["sampler"]["window"], slim["config"]["sampler"]["context"]) == (8, 2)
        model = os.path.join(d, "m.safetensors")
        export = [sys.executable, os.path.join(HERE, "train_dit.py"), "--export", model,
                  "--from", os.path.join(out, "dit-ema.pt"), "--vae"]
        r = subprocess.run(export + [os.path.join(root, "models", "st2v-world-v1.safetensors")],
                           capture_output=True, text=True)
        assert r.returncode != 0 and "not the autoencoder" in r.stderr, r.stderr[-500:]
        subprocess.run(export + [ck, "--name", "st2v-test-v9"], check=True, capture_output=True)
        m = load_model(model)
        assert m.config["provenance"]["vae_steps"] == 5
        assert m.config["name"] == "st2v-test-v9", m.config["name"]
        for k, v in vae.state_dict().items():
            assert torch.equal(m.vae.state_dict()[k], v.half().float()), k


def dit_carried_onto_another_autoencoder_predicts_the_same_flow():
    """train_dit.carry_dit: where the new autoencoder's tokens are an exact
    linear function of the old one's (new = old @ M + c, here the tiny
    model's patch [1,2,2] latents onto patch [2,2,2] ones of the same frames
    and pixels), the carried DiT's output is the old DiT's mapped by M, with
    both fits at R^2 ~ 1; retarget_config keeps the tokenizer and takes the
    cache's autoencoder, patch and sampler window/context."""
    from train import train_dit
    old_cfg, new_vae = tiny_config(1), tiny_config(2)["vae"]
    for c in (old_cfg["vae"], new_vae):
        c["latent_mean"], c["latent_std"] = [0.0] * 4, [1.0] * 4
    old = St2vModel(old_cfg)
    init_random(old, 11)
    g = torch.Generator().manual_seed(3)
    m = torch.randn(16, 32, generator=g) / 4                          # old token -> new token
    off = torch.randn(32, generator=g) / 4
    with tempfile.TemporaryDirectory() as d:
        dirs = {k: os.path.join(d, k) for k in ("old", "new")}
        shards = {"old": [], "new": []}
        for seed in range(6):
            z_old = torch.randn(4, 4, 4, 6, generator=g)                  # (Cz, T, Hl, Wl)
            tok = train_dit.dit_module.patchify(z_old[None], 1, 2, 2)[0]   # (24, 16)
            z_new = train_dit.dit_module.unpatchify((tok @ m + off)[None], 4, (4, 2, 3), 2, 2, 2)
            for k, z in (("old", z_old), ("new", z_new[0])):
                shards[k].append({"seed": seed, "z": z.half().float(), "captions": ["a"]})
        for k, vae in (("old", old_cfg["vae"]), ("new", new_vae)):
            os.mkdir(dirs[k])
            torch.save(shards[k], os.path.join(dirs[k], "shard_00000.pt"))
            torch.save({"mean": torch.zeros(4), "std": torch.ones(4), "vae_config": vae},
                       os.path.join(dirs[k], "stats.pt"))
        cache = train_dit.LatentCache(dirs["new"])
        cfg = train_dit.retarget_config(old_cfg, cache)
        assert cfg["dit"]["patch"] == [2, 2, 2] and cfg["vae"]["time_up"] == [1, 0], cfg["dit"]
        assert cfg["tokenizer"] == old_cfg["tokenizer"] and cfg["sampler"]["context"] == 2
        new = St2vModel(cfg)
        r2 = train_dit.carry_dit(new, old, cache, train_dit.LatentCache(dirs["old"]))
        assert min(r2) > 0.99, r2
        z_old, z_new = shards["old"][0]["z"][None], shards["new"][0]["z"][None]
        c = torch.randn(1, 5, 32, generator=g)
        t = torch.tensor([[0.0, 0.5, 0.8, 1.0]])
        with torch.no_grad():
            want = train_dit.dit_module.patchify(old.dit(z_old, t, c), 1, 2, 2) @ m
            got = train_dit.dit_module.patchify(new.dit(z_new, t, c), 2, 2, 2)
        close(got.numpy(), want.numpy(), 2e-2, "carried DiT")
        for k, v in old.state_dict().items():      # the rest is the old model's, unchanged
            if k.startswith(("text.", "dit.blocks.")):
                assert torch.equal(new.state_dict()[k], v), k


def release_memory_gives_jemallocs_kept_pages_back():
    """cpu_runtime.release_memory() (loop.train, after each checkpoint):
    with jemalloc preloaded and told to keep freed pages (decay -1), 300 MB
    freed stay resident until it is called, then leave; without jemalloc
    it does nothing and says so."""
    from train import cpu_runtime
    code = ("import sys; sys.path.insert(0, %r); from train import cpu_runtime\n"
            "def rss(): return int(open('/proc/self/status').read()"
            ".split('VmRSS:')[1].split()[0]) // 1024\n"
            "x = [bytearray(1 << 20) for _ in range(300)]; del x; kept = rss()\n"
            "ok = cpu_runtime.release_memory(); print(ok, kept, rss())" % ROOT)
    base = {k: v for k, v in os.environ.items() if k not in ("LD_PRELOAD", "MALLOC_CONF")}
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=base)
    assert r.returncode == 0 and r.stdout.split()[0] == "False", (r.stdout, r.stderr)
    if not os.path.exists(cpu_runtime.JEMALLOC):
        return
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       env=dict(base, LD_PRELOAD=cpu_runtime.JEMALLOC,
                                MALLOC_CONF=cpu_runtime.JEMALLOC_CONF))
    ok, kept, after = r.stdout.split()
    assert r.returncode == 0 and ok == "True", (r.stdout, r.stderr)
    assert int(kept) - int(after) > 250, (kept, after)     # MB: the 300 MB left


def cpu_runtime_sets_the_wait_policy_and_the_allocator():
    """cpu_runtime.tune() (the trainers, before torch): OMP_WAIT_POLICY=
    PASSIVE; for a part whose allocator is jemalloc (ALLOCATOR, or
    ST2V_MALLOC) the same command line run again once with it preloaded
    where it is installed, for one on glibc no re-exec; ST2V_CPU_TUNE=0
    leaves the environment alone, a bad ST2V_MALLOC is refused, and after
    torch it refuses."""
    from train import cpu_runtime
    code = ("import os, sys; sys.path.insert(0, %r); from train import cpu_runtime; "
            "print('start', flush=True); cpu_runtime.tune(sys.argv[1]); "
            "print(os.environ.get('OMP_WAIT_POLICY'), os.environ.get('LD_PRELOAD'), sys.argv[2:])"
            % ROOT)
    base = {k: v for k, v in os.environ.items()
            if k not in ("OMP_WAIT_POLICY", "LD_PRELOAD", "MALLOC_CONF", "ST2V_CPU_TUNE",
                         "ST2V_MALLOC")}
    assert cpu_runtime.ALLOCATOR == {"dit": "glibc", "vae": "jemalloc"}
    for part, tune, malloc, want in (("vae", "1", None, "PASSIVE"), ("vae", "0", None, "None"),
                                     ("dit", "1", None, "PASSIVE"),
                                     ("dit", "1", "jemalloc", "PASSIVE"),
                                     ("vae", "1", "glibc", "PASSIVE")):
        env = dict(base, ST2V_CPU_TUNE=tune, **({"ST2V_MALLOC": malloc} if malloc else {}))
        r = subprocess.run([sys.executable, "-c", code, part, "arg 1", "x"], capture_output=True,
                           text=True, env=env)
        assert r.returncode == 0, r.stderr[-2000:]
        lines = r.stdout.split("\n")
        policy, preload = lines[-2].split(" ")[:2]
        assert policy == want, r.stdout
        assert lines[-2].endswith("['arg 1', 'x']"), r.stdout       # the same command line
        jemalloc = (tune == "1" and (malloc or cpu_runtime.ALLOCATOR[part]) == "jemalloc"
                    and os.path.exists(cpu_runtime.JEMALLOC))
        assert preload == (cpu_runtime.JEMALLOC if jemalloc else "None"), (part, malloc, r.stdout)
        assert lines.count("start") == (2 if jemalloc else 1), r.stdout   # one re-exec
    r = subprocess.run([sys.executable, "-c", code, "dit"], capture_output=True, text=True,
                       env=dict(base, ST2V_MALLOC="tcmalloc"))
    assert r.returncode != 0 and "ST2V_MALLOC must be jemalloc or glibc" in r.stderr, r.stderr
    # the autoencoder trains in float32 unless the caller chose (PRECISION)
    prec = ("import os, sys; sys.path.insert(0, %r); from train import cpu_runtime; "
            "cpu_runtime.tune(sys.argv[1]); print(os.environ.get('ST2V_BF16'))" % ROOT)
    for part, given, want in (("vae", None, "0"), ("vae", "1", "1"), ("dit", None, "None")):
        env = {k: v for k, v in base.items() if k != "ST2V_BF16"}
        if given:
            env["ST2V_BF16"] = given
        r = subprocess.run([sys.executable, "-c", prec, part], capture_output=True, text=True,
                           env=dict(env, ST2V_CPU_TUNE="0"))
        assert r.returncode == 0 and r.stdout.split() == [want], (part, given, r.stdout, r.stderr)
    r = subprocess.run([sys.executable, "-c", prec, "gan"], capture_output=True, text=True,
                       env=dict(base, ST2V_CPU_TUNE="0"))
    assert r.returncode != 0 and "no part 'gan'" in r.stderr, r.stderr
    try:
        cpu_runtime.tune("dit")      # this process imported torch
    except RuntimeError:
        return
    raise AssertionError("tune() after torch did not refuse")


def fixtures_are_deterministic_and_up_to_date():
    def digest(d):
        return {os.path.relpath(os.path.join(r, f), d):
                hashlib.sha256(open(os.path.join(r, f), "rb").read()).hexdigest()
                for r, _, files in os.walk(d) for f in files if f != "README.md"}

    with tempfile.TemporaryDirectory() as d1, tempfile.TemporaryDirectory() as d2:
        for d in (d1, d2):
            subprocess.run([sys.executable, os.path.join(HERE, "make_fixtures.py"), d], check=True)
        a, b = digest(d1), digest(d2)
        assert a == b, "two runs differ"
        fx = os.path.join(HERE, "..", "tests", "fixtures")
        stale = [f for f in a if not os.path.exists(os.path.join(fx, f)) or
                 hashlib.sha256(open(os.path.join(fx, f), "rb").read()).hexdigest() != a[f]]
        assert not stale, "tests/fixtures out of date (run make fixtures): %s" % stale


def golden_sample_fixture_rebuilds_from_its_own_inputs():
    """The C test's view: tokenise the stored prompts, check the stored noise,
    and resample from the stored start latent with the F32 model."""
    fx = os.path.join(HERE, "..", "tests", "fixtures")
    gs, meta, _ = safetensors_io.load(os.path.join(fx, "golden_sample.safetensors"))
    m = load_model(os.path.join(fx, "tiny.safetensors")).eval()
    tok = Tokenizer.from_config(m.config)
    for c in json.loads(meta["cases"]):
        n = c["name"]
        ids = tok.encode(c["prompt"])
        assert ids == gs[n + ".ids"].long().tolist(), n
        assert tok.encode(c["negative_prompt"]) == gs[n + ".neg_ids"].long().tolist(), n
        nc = c["n_context"]
        noise = rng.normals(4 * (c["T"] - nc) * c["Hl"] * c["Wl"], c["seed"], c["stream"])
        assert np.array_equal(gs[n + ".x"][:, nc:].numpy().ravel(), noise), n
        with torch.no_grad():
            cond = m.text(torch.tensor([ids]))[0]
            neg = m.text(torch.tensor([tok.encode(c["negative_prompt"])]))[0]
            lat = sample(Velocity(m, cond, neg, c["cfg"], nc), gs[n + ".x"], c["sampler"],
                         c["steps"], c["shift"])
            rgb = m.vae.dec(m.denormalize(lat[None]))[0]
        # float32 against the float64 golden: the tolerance the C engine gets
        close(lat.numpy(), gs[n + ".latent"].numpy(), 1e-4, n + " latent")
        close(rgb.numpy(), gs[n + ".rgb"].numpy(), 1e-4, n + " rgb")


TESTS = [
    philox_matches_random123_known_answers,
    normals_match_a_scalar_python_philox_and_box_muller,
    normals_have_unit_variance,
    lowercasing_agrees_with_unicode_for_latin_letters,
    tokenizer_never_fails_on_random_bytes,
    tokenizer_byte_fallback_round_trips_when_nothing_is_truncated,
    tokenizer_truncates_to_l_minus_one_then_eos,
    model_tensor_names_and_shapes_are_the_spec_tables,
    text_encoder_matches_naive_implementation,
    padded_text_batch_equals_single_prompts,
    dit_matches_naive_implementation,
    dit_with_extra_channels_matches_naive_implementation,
    dit_batch_with_masked_text_equals_single_samples,
    rope_offset_t0_leaves_the_dit_output_unchanged,
    depth_to_space_matches_spec_index_map_and_space_to_depth_inverts_it,
    vae_decoder_and_encoder_match_naive_implementation,
    decoding_the_first_k_latent_frames_gives_the_first_k_ft_frames,
    encoder_is_causal_in_time,
    schedule_is_shifted_and_ends_at_zero,
    every_sampler_is_exact_on_a_straight_flow_and_keeps_context,
    dpm_solver_follows_the_spec_formulas,
    heun_and_euler_follow_the_spec_formulas,
    guidance_combines_conditional_and_negative_passes,
    start_latent_is_philox_noise_after_the_context,
    safetensors_round_trips_and_aligns_the_data_section,
    model_files_reload_to_the_same_weights,
    decoder_export_replaces_only_the_decoder_and_refuses_another_encoder,
    widened_decoder_computes_the_same_and_exports_with_its_widths,
    device_run_trains_on_the_cpu_and_its_slim_file_exports,
    device_run_trains_a_dit_from_scratch_on_a_new_autoencoder,
    dit_carried_onto_another_autoencoder_predicts_the_same_flow,
    cpu_runtime_sets_the_wait_policy_and_the_allocator,
    release_memory_gives_jemallocs_kept_pages_back,
    fixtures_are_deterministic_and_up_to_date,
    golden_sample_fixture_rebuilds_from_its_own_inputs,
]

# Wan's umT5 encoder (train/wan/umt5.py), self-tested in train/wan/test_umt5.py
from train.wan.test_umt5 import TESTS as WAN_UMT5_TESTS  # noqa: E402
TESTS += WAN_UMT5_TESTS

# Wan's DiT (train/wan/dit.py), self-tested in train/wan/test_dit.py
from train.wan.test_dit import TESTS as WAN_DIT_TESTS  # noqa: E402
TESTS += WAN_DIT_TESTS

# Wan's VAE decoder and samplers (train/wan/vae.py, sampler.py)
from train.wan.test_vae import TESTS as WAN_VAE_TESTS  # noqa: E402
from train.wan.test_sampler import TESTS as WAN_SAMPLER_TESTS  # noqa: E402
TESTS += WAN_VAE_TESTS + WAN_SAMPLER_TESTS


if __name__ == "__main__":
    sys.exit(testing.run(TESTS))
