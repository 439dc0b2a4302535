# SPDX-License-Identifier: LGPL-2.1-or-later
"""The Wan2.1 text-to-video DiT (WanModel, model_type 't2v'), a PyTorch
reference written from the architecture (../shared/WAN-NOTES.md section 2.1),
and the golden fixtures of the C DiT (core/wan/dit.c).

Dimension key: C in/out latent channels, (F, H, W) latent grid, patch
(pt, ph, pw) = (1, 2, 2), grid (f, h, w) = (F/pt, H/ph, W/pw), L = f*h*w
tokens, D = dim, N heads of d = D/N, n real text rows, T = text_len.

    tokens (L, D) = patch_embedding(x): Conv3d, kernel = stride = patch,
                    flattened row-major over (f, h, w)
    e (D)    = time_embedding(sinusoid(t)): Linear(freq_dim, D), SiLU, Linear;
               sinusoid in float64, cat[cos, sin], freq 10000^(-i/(freq_dim/2))
    e0 (6,D) = time_projection(e): SiLU, Linear(D, 6D)
    ctx (T, D) = text_embedding(context zero-padded from n to T rows):
               Linear(text_dim, D), GELU(tanh), Linear(D, D)
    per block, m = modulation (1, 6, D) + e0 -> shift0, scale0, gate0,
                                                shift1, scale1, gate1:
      x += gate0 * self_attn(LN(x) * (1 + scale0) + shift0)
      x += cross_attn(norm3(x), ctx)              norm3: LayerNorm with affine
      x += gate1 * ffn(LN(x) * (1 + scale1) + shift1)
                                                  ffn: Linear, GELU(tanh), Linear
    head: m = head.modulation (1, 2, D) + e -> shift, scale;
          y (L, pt*ph*pw*C_out) = head.head(LN(x) * (1 + scale) + shift)
    unpatchify: y's columns are (pt, ph, pw, c), c last ('fhwpqrc->cfphqwr')

Attention (both): q, k, v, o Linear with bias; q and k pass an RMS norm
over the FULL width D (weight (D), eps, in float32 or better) before the
split into heads; logits q.k / sqrt(d); no mask. Self-attention rotates q
and k (interleaved pairs (x[2i], x[2i+1]), float64) by 3D RoPE: the d/2
pairs of a head split d - 4*(d//6), 2*(d//6), 2*(d//6) real dims over the
(t, h, w) axes; pair j of an axis of size da turns by pos * 10000^(-2j/da),
pos the integer patch index from 0. LN: LayerNorm without affine, eps.

Cross-attention sees T context rows; the T - n padded ones are the same
row, text_embedding(0), so they act as one key whose logit gains ln(T - n)
(pad_shortcut=True computes it that way: n + 1 keys; equal to the padded
form, test_dit.py checks it).

Tensor names are the official ones (825 for the 1.3B config, the list of
core/wan/names.c).

    /usr/bin/python3 train/wan/dit.py OUTDIR          # write the fixtures
    /usr/bin/python3 train/wan/dit.py --full FILE     # random BF16 weights of
        the 1.3B size (2.8 GB), to time the C DiT
"""

import json
import math
import os
import sys

import numpy as np
import torch
import torch.nn as nn

HERE = os.path.dirname(os.path.abspath(__file__))
if os.path.dirname(HERE) not in sys.path:
    sys.path.insert(0, os.path.dirname(HERE))

from st2v import safetensors_io  # noqa: E402
from wan import hashed  # noqa: E402

# Wan2.1-T2V-1.3B (wan/configs/wan_t2v_1_3B.py)
WAN_1_3B = dict(dim=1536, ffn_dim=8960, num_heads=12, num_layers=30, in_dim=16,
                out_dim=16, text_dim=4096, freq_dim=256, text_len=512,
                patch=[1, 2, 2], eps=1e-6)
THETA = 10000.0


# ============================================================== pieces

def sinusoid(freq_dim, t):
    """(B) timesteps -> (B, freq_dim) float64: cat[cos, sin] of
    t * 10000^(-i / half), i < half."""
    half = freq_dim // 2
    t = torch.as_tensor(t, dtype=torch.float64).reshape(-1)
    f = torch.pow(torch.tensor(10000.0, dtype=torch.float64),
                  -torch.arange(half, dtype=torch.float64) / half)
    a = torch.outer(t, f)
    return torch.cat([torch.cos(a), torch.sin(a)], dim=1)


def rope_dims(d):
    """Real dims of a head of d per axis (t, h, w)."""
    return [d - 4 * (d // 6), 2 * (d // 6), 2 * (d // 6)]


def rope_angles(grid, d):
    """(f*h*w, d/2) float64 angles of every pair of a head, tokens in
    raster order over (f, h, w)."""
    dims = rope_dims(d)
    f, h, w = grid
    pos = torch.stack(torch.meshgrid(torch.arange(f), torch.arange(h),
                                     torch.arange(w), indexing="ij"), -1).reshape(-1, 3)
    cols = []
    for ax, da in enumerate(dims):
        fr = torch.pow(torch.tensor(THETA, dtype=torch.float64),
                       -torch.arange(0, da, 2, dtype=torch.float64) / da)
        cols.append(pos[:, ax:ax + 1].to(torch.float64) * fr[None])
    return torch.cat(cols, 1)


def rope(x, ang):
    """x (L, N, d) rotated pairwise by ang (L, d/2), in float64."""
    L, N, d = x.shape
    x64 = x.to(torch.float64).reshape(L, N, d // 2, 2)
    c, s = torch.cos(ang)[:, None], torch.sin(ang)[:, None]
    a, b = x64[..., 0], x64[..., 1]
    out = torch.stack([a * c - b * s, a * s + b * c], -1).reshape(L, N, d)
    return out.to(x.dtype)


def gelu_tanh(x):
    return 0.5 * x * (1 + torch.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3)))


def layernorm(x, eps):
    """LayerNorm without affine over the last dim, at least float32."""
    dt = x.dtype
    y = x.to(torch.float64 if dt == torch.float64 else torch.float32)
    mu = y.mean(-1, keepdim=True)
    var = ((y - mu) ** 2).mean(-1, keepdim=True)
    return ((y - mu) / torch.sqrt(var + eps)).to(dt)


def attend(q, k, v, key_bias=None):
    """q (Lq, N, d), k, v (Lk, N, d) -> (Lq, N*d); logits / sqrt(d) plus
    key_bias (Lk) when given."""
    d = q.shape[-1]
    s = torch.einsum("qnd,knd->nqk", q, k) / math.sqrt(d)
    if key_bias is not None:
        s = s + key_bias[None, None, :]
    p = torch.softmax(s, -1)
    return torch.einsum("nqk,knd->qnd", p, v).reshape(q.shape[0], -1)


# ============================================================== modules

class RMSNorm(nn.Module):
    def __init__(self, dim, eps):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x):
        dt = x.dtype
        y = x.to(torch.float64 if dt == torch.float64 else torch.float32)
        y = y * torch.rsqrt(y.pow(2).mean(-1, keepdim=True) + self.eps)
        return y.to(dt) * self.weight


class Attention(nn.Module):
    """q, k, v, o with biases and full-width RMS norms on q and k."""

    def __init__(self, dim, heads, eps):
        super().__init__()
        self.heads = heads
        self.q, self.k = nn.Linear(dim, dim), nn.Linear(dim, dim)
        self.v, self.o = nn.Linear(dim, dim), nn.Linear(dim, dim)
        self.norm_q, self.norm_k = RMSNorm(dim, eps), RMSNorm(dim, eps)

    def split(self, x):
        return x.reshape(x.shape[0], self.heads, -1)

    def self_attn(self, x, ang):
        """x (L, D), ang (L, d/2) -> (L, D)."""
        q = rope(self.split(self.norm_q(self.q(x))), ang)
        k = rope(self.split(self.norm_k(self.k(x))), ang)
        return self.o(attend(q, k, self.split(self.v(x))))

    def cross_attn(self, x, ctx, key_bias=None):
        """x (L, D), ctx (Lk, D) -> (L, D)."""
        q = self.split(self.norm_q(self.q(x)))
        k = self.split(self.norm_k(self.k(ctx)))
        return self.o(attend(q, k, self.split(self.v(ctx)), key_bias))


class Block(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        D, eps = cfg["dim"], cfg["eps"]
        self.eps = eps
        self.self_attn = Attention(D, cfg["num_heads"], eps)
        self.norm3 = nn.LayerNorm(D, eps=eps, elementwise_affine=True)
        self.cross_attn = Attention(D, cfg["num_heads"], eps)
        self.ffn = nn.Sequential(nn.Linear(D, cfg["ffn_dim"]), nn.GELU(),
                                 nn.Linear(cfg["ffn_dim"], D))
        self.modulation = nn.Parameter(torch.zeros(1, 6, D))

    def forward(self, x, e0, ang, ctx, key_bias=None):
        """x (L, D), e0 (6, D), ctx (Lk, D) -> (L, D)."""
        m = (self.modulation[0] + e0)
        h = layernorm(x, self.eps) * (1 + m[1]) + m[0]
        x = x + self.self_attn.self_attn(h, ang) * m[2]
        h = layernorm(x, self.eps) * self.norm3.weight + self.norm3.bias
        x = x + self.cross_attn.cross_attn(h, ctx, key_bias)
        h = layernorm(x, self.eps) * (1 + m[4]) + m[3]
        f = self.ffn[2](gelu_tanh(self.ffn[0](h)))
        return x + f * m[5]


class Head(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        D = cfg["dim"]
        self.eps = cfg["eps"]
        self.head = nn.Linear(D, math.prod(cfg["patch"]) * cfg["out_dim"])
        self.modulation = nn.Parameter(torch.zeros(1, 2, D))

    def forward(self, x, e):
        m = self.modulation[0] + e[None]
        return self.head(layernorm(x, self.eps) * (1 + m[1]) + m[0])


class WanDiT(nn.Module):
    """WanModel (t2v) with the official parameter names."""

    def __init__(self, cfg=None):
        super().__init__()
        self.cfg = cfg = dict(cfg or WAN_1_3B)
        D, p = cfg["dim"], cfg["patch"]
        self.patch_embedding = nn.Conv3d(cfg["in_dim"], D, kernel_size=p, stride=p)
        self.text_embedding = nn.Sequential(nn.Linear(cfg["text_dim"], D), nn.GELU(),
                                            nn.Linear(D, D))
        self.time_embedding = nn.Sequential(nn.Linear(cfg["freq_dim"], D), nn.SiLU(),
                                            nn.Linear(D, D))
        self.time_projection = nn.Sequential(nn.SiLU(), nn.Linear(D, 6 * D))
        self.blocks = nn.ModuleList([Block(cfg) for _ in range(cfg["num_layers"])])
        self.head = Head(cfg)

    # ---------------------------------------------------------- parts

    def time_embed(self, t):
        """t scalar -> e (D), e0 (6, D)."""
        dt = self.patch_embedding.weight.dtype
        s = sinusoid(self.cfg["freq_dim"], t).to(dt)[0]
        te = self.time_embedding
        e = te[2](torch.nn.functional.silu(te[0](s)))
        e0 = self.time_projection[1](torch.nn.functional.silu(e))
        return e, e0.reshape(6, -1)

    def text_embed(self, context):
        """context (n, text_dim) real rows -> (T, D): zero-padded to T rows,
        then text_embedding."""
        T = self.cfg["text_len"]
        n = context.shape[0]
        assert n <= T
        padded = torch.cat([context, context.new_zeros(T - n, context.shape[1])])
        te = self.text_embedding
        return te[2](gelu_tanh(te[0](padded)))

    def text_embed_short(self, context):
        """The shortcut: (n + 1, D) rows (the n real ones, then the pad row
        when n < T) and the key bias (n + 1): 0, and ln(T - n) on the pad."""
        T = self.cfg["text_len"]
        n = context.shape[0]
        rows = context if n == T else torch.cat([context, context.new_zeros(1, context.shape[1])])
        te = self.text_embedding
        ctx = te[2](gelu_tanh(te[0](rows)))
        bias = ctx.new_zeros(ctx.shape[0])
        if n < T:
            bias[n] = math.log(T - n)
        return ctx, bias

    def patchify(self, x):
        """x (C, F, H, W) -> tokens (L, D), grid (f, h, w)."""
        y = self.patch_embedding(x[None])[0]
        grid = list(y.shape[1:])
        return y.flatten(1).transpose(0, 1), grid

    def unpatchify(self, y, grid):
        """y (L, pt*ph*pw*C) -> (C, F, H, W)."""
        pt, ph, pw = self.cfg["patch"]
        c = self.cfg["out_dim"]
        f, h, w = grid
        u = y.reshape(f, h, w, pt, ph, pw, c)
        u = torch.einsum("fhwpqrc->cfphqwr", u)
        return u.reshape(c, f * pt, h * ph, w * pw)

    def forward(self, x, t, context, pad_shortcut=False, trace=None):
        """x (C_in, F, H, W), t scalar in [0, 1000], context (n, text_dim)
        real rows -> velocity (C_out, F, H, W). trace: a dict that receives
        the intermediates e, e0, ctx (the embedded context, as used),
        tokens (after the patch embedding), block.I (after block I),
        head (before unpatchify)."""
        tr = trace if trace is not None else {}
        e, e0 = self.time_embed(t)
        if pad_shortcut:
            ctx, bias = self.text_embed_short(context)
        else:
            ctx, bias = self.text_embed(context), None
        tok, grid = self.patchify(x)
        d = self.cfg["dim"] // self.cfg["num_heads"]
        ang = rope_angles(grid, d)
        tr.update(e=e, e0=e0, ctx=ctx, tokens=tok)
        for i, b in enumerate(self.blocks):
            tok = b(tok, e0, ang, ctx, bias)
            tr["block.%d" % i] = tok
        y = self.head(tok, e)
        tr["head"] = y
        return self.unpatchify(y, grid)


# ======================================================== weights, I/O

def init_random(model, seed):
    """Every parameter random (the zero-initialised head and biases too):
    linear weights of std 1/sqrt(in), biases and modulations of std 0.1 to
    0.3, norm weights around 1."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in sorted(model.named_parameters()):
            r = torch.randn(p.shape, generator=g, dtype=torch.float64)
            if name.endswith("norm_q.weight") or name.endswith("norm_k.weight") or \
                    name.endswith("norm3.weight"):
                p.copy_(1.0 + 0.25 * r)
            elif name.endswith("modulation"):
                p.copy_(0.3 * r)
            elif name.endswith("bias"):
                p.copy_(0.1 * r)
            elif name == "patch_embedding.weight":
                p.copy_(r / math.sqrt(p[0].numel()))
            else:
                p.copy_(r / math.sqrt(p.shape[1]))


def tensor_shapes(cfg):
    m = WanDiT(cfg)
    return {n: tuple(v.shape) for n, v in m.state_dict().items()}


def save(model, path, dtype="F32"):
    sd = model.state_dict()
    # the official config.json keys (patch_size) too: wan_dit_config_parse
    meta = {"generator": "train/wan/dit.py",
            "config": json.dumps(dict(model.cfg, patch_size=model.cfg["patch"],
                                      model_type="t2v"), sort_keys=True)}
    safetensors_io.save(path, {n: v.to(torch.float32) for n, v in sd.items()}, meta,
                        {n: dtype for n in sd})


def load(path, cfg=None, dtype=torch.float64):
    """A DiT with exactly the stored weights, in dtype."""
    t, meta, _ = safetensors_io.load(path)
    cfg = cfg or json.loads(meta["config"])
    m = WanDiT(cfg)
    m.load_state_dict(t)
    return m.to(dtype).eval()


# ============================================================ fixtures

# Tiny asymmetric configs: head_dim 20 (RoPE 8/6/6), in_dim != out_dim,
# freq_dim and text_dim unlike dim, 2 layers; "b" has heads of 22 (RoPE
# 10/6/6).
FIXTURE_CONFIGS = {
    "a": dict(dim=40, ffn_dim=56, num_heads=2, num_layers=2, in_dim=6, out_dim=5,
              text_dim=24, freq_dim=32, text_len=16, patch=[1, 2, 2], eps=1e-6),
    "b": dict(dim=44, ffn_dim=40, num_heads=2, num_layers=2, in_dim=4, out_dim=4,
              text_dim=12, freq_dim=16, text_len=10, patch=[1, 2, 2], eps=1e-6),
}
# per case: config, weight dtype, latent (F, H, W), t, real context rows
FIXTURE_CASES = {
    "a_f32": ("a", "F32", (3, 8, 12), 937.25, 7),
    "a_bf16": ("a", "BF16", (3, 8, 12), 412.0, 7),
    "b_f32": ("b", "F32", (5, 6, 4), 3.0, 10),     # no padding: n == text_len
    "b_cfg": ("b", "F32", (5, 6, 4), 3.0, 2),      # the CFG pair's second context
}
# full-width attention: the 1.3B's width and heads at a (2, 2, 2) grid
FULL_WIDTH = dict(dim=1536, heads=12, grid=(2, 2, 2), eps=1e-6)
SEED = 2031


def bf16_round(x):
    b = safetensors_io.f32_to_bf16_bits(x.to(torch.float32).numpy())
    return torch.from_numpy(safetensors_io.bf16_bits_to_f32(b).astype(np.float64))


def full_width_golden(g):
    """q, k, v projections (L, 1536) and the RMS-normed, rotated attention
    output (L, 1536) of a 1536-wide self-attention (12 heads of 128, RoPE
    44/42/42), float64."""
    D, N = FULL_WIDTH["dim"], FULL_WIDTH["heads"]
    L = math.prod(FULL_WIDTH["grid"])
    # q, k, v rounded to BF16 (stored so, half the bytes)
    q, k, v = (bf16_round(torch.randn(L, D, generator=g, dtype=torch.float64) * 0.5 + 0.1)
               for _ in range(3))
    wq, wk = (1 + 0.25 * torch.randn(D, generator=g, dtype=torch.float64) for _ in range(2))
    nq = RMSNorm(D, FULL_WIDTH["eps"]).double()
    nk = RMSNorm(D, FULL_WIDTH["eps"]).double()
    with torch.no_grad():
        nq.weight.copy_(wq)
        nk.weight.copy_(wk)
        ang = rope_angles(FULL_WIDTH["grid"], D // N)
        qq = rope(nq(q).reshape(L, N, -1), ang)
        kk = rope(nk(k).reshape(L, N, -1), ang)
        out = attend(qq, kk, v.reshape(L, N, -1))
    return {"full.q": q, "full.k": k, "full.v": v, "full.norm_q": wq,
            "full.norm_k": wk, "full.out": out}


# One whole block of the real width (1536, 12 heads of 128, ffn 8960) with
# the real time embedding and head, a narrow text side (text_dim 64), on 12
# tokens: its 65M weights (130 MB in BF16) are never stored; the C test
# and this reference compute them from a counter hash (train/wan/hashed.py,
# tests/hashed.h; tensor k of the sorted names, shift by fan-in), and only
# the inputs and the golden are fixtures.
HASHED_BLOCK = dict(WAN_1_3B, num_layers=1, text_dim=64)
HASHED_GRID = (2, 4, 6)               # F, H, W latent: 2 x 2 x 3 tokens
HASHED_T, HASHED_N = 700.0, 5         # timestep, real context rows


def hashed_block_golden():
    """{hashed.x (16, 2, 4, 6), hashed.t (1), hashed.context (5, 64),
    hashed.out (16, 2, 4, 6)}: the hashed block's velocity in float64, with
    the context zero-padded to 512 rows as Wan does (not the shortcut)."""
    m = WanDiT(HASHED_BLOCK).to(torch.float64).eval()
    sd = m.state_dict()
    names = sorted(sd)
    with torch.no_grad():
        for k, name in enumerate(names):
            shape = tuple(sd[name].shape)
            sd[name].copy_(torch.from_numpy(hashed.tensor(k, shape, hashed.fan_in_shift(shape))))
        k = len(names)
        x = torch.from_numpy(hashed.tensor(k, (HASHED_BLOCK["in_dim"],) + HASHED_GRID, 7))
        ctx = torch.from_numpy(hashed.tensor(k + 1, (HASHED_N, HASHED_BLOCK["text_dim"]), 7))
        v = m(x, HASHED_T, ctx, pad_shortcut=False)
    return {"hashed.x": x, "hashed.t": torch.tensor([HASHED_T]), "hashed.context": ctx,
            "hashed.out": v}


def write_fixtures(out):
    """tests/fixtures/wan/dit/: weights a_f32, a_bf16, b_f32 (official
    names) and golden.safetensors with, per case C of FIXTURE_CASES:
      C.x (C_in, F, H, W), C.t (1), C.context (n, text_dim)   inputs
      C.e (D), C.e0 (6, D), C.ctx (n+1 or T, D)  time and text embeddings
                                                  (the shortcut's rows)
      C.tokens (L, D), C.block0 (L, D)           patch embedding, block 0
      C.out (C_out, F, H, W)                     the velocity
    computed in float64 from the weights as stored (BF16-rounded for
    a_bf16), stored as F32; and full.* (full_width_golden)."""
    os.makedirs(out, exist_ok=True)
    torch.set_num_threads(1)
    golden = {}
    models = {}
    for ck, cfg in sorted(FIXTURE_CONFIGS.items()):
        m = WanDiT(cfg)
        init_random(m, SEED + ord(ck))
        models[ck] = m
    written = set()
    for case, (ck, dt, (F, H, W), t, n) in sorted(FIXTURE_CASES.items()):
        cfg = FIXTURE_CONFIGS[ck]
        wname = "%s_%s" % (ck, dt.lower())
        path = os.path.join(out, wname + ".safetensors")
        if wname not in written:
            save(models[ck], path, dt)
            written.add(wname)
        m64 = load(path)
        # x from the config alone (the CFG pair b_f32, b_cfg shares it)
        g = torch.Generator().manual_seed(SEED + ord(ck))
        x = torch.randn(cfg["in_dim"], F, H, W, generator=g, dtype=torch.float64)
        g = torch.Generator().manual_seed(SEED + sum(map(ord, case)))
        ctx = torch.randn(n, cfg["text_dim"], generator=g, dtype=torch.float64)
        tr = {}
        with torch.no_grad():
            v = m64(x, t, ctx, pad_shortcut=True, trace=tr)
        golden.update({case + ".x": x, case + ".t": torch.tensor([t]),
                       case + ".context": ctx, case + ".e": tr["e"],
                       case + ".e0": tr["e0"], case + ".ctx": tr["ctx"],
                       case + ".tokens": tr["tokens"], case + ".block0": tr["block.0"],
                       case + ".out": v})
    golden.update(full_width_golden(torch.Generator().manual_seed(SEED)))
    golden.update(hashed_block_golden())
    meta = {"generator": "train/wan/dit.py",
            "precision": "float64 computation from the weights as stored, stored as F32",
            "configs": json.dumps(FIXTURE_CONFIGS, sort_keys=True),
            "cases": json.dumps(FIXTURE_CASES, sort_keys=True),
            "full_width": json.dumps(FULL_WIDTH, sort_keys=True)}
    safetensors_io.save(os.path.join(out, "golden.safetensors"),
                        {k: v.to(torch.float32) for k, v in golden.items()}, meta,
                        {"full.q": "BF16", "full.k": "BF16", "full.v": "BF16"})


# ===================================================== full-size file

def write_full(path, cfg=None, seed=SEED):
    """Random BF16 weights of cfg (default 1.3B), official names, written
    tensor by tensor (never the whole model in memory): linear weights of
    std 1/sqrt(in), biases 0.02, norms around 1, modulations 0.1."""
    cfg = dict(cfg or WAN_1_3B)
    shapes = tensor_shapes_fast(cfg)
    header, off = {"__metadata__": {"generator": "train/wan/dit.py --full",
                                    "config": json.dumps(cfg, sort_keys=True)}}, 0
    for name in sorted(shapes):
        nb = 2 * math.prod(shapes[name])
        header[name] = {"dtype": "BF16", "shape": list(shapes[name]),
                        "data_offsets": [off, off + nb]}
        off += nb
    hb = json.dumps(header, separators=(",", ":")).encode("utf-8")
    hb += b" " * ((-len(hb)) % 8)
    rng = np.random.default_rng(seed)
    with open(path, "wb") as f:
        f.write(len(hb).to_bytes(8, "little") + hb)
        for name in sorted(shapes):
            sh = shapes[name]
            a = rng.standard_normal(math.prod(sh), dtype=np.float32)
            if name.endswith("norm_q.weight") or name.endswith("norm_k.weight") or \
                    name.endswith("norm3.weight"):
                a = 1 + 0.1 * a
            elif name.endswith("modulation"):
                a *= 0.1
            elif name.endswith("bias"):
                a *= 0.02
            elif name == "patch_embedding.weight":
                a /= math.sqrt(math.prod(sh[1:]))
            else:
                a /= math.sqrt(sh[1])
            f.write(safetensors_io.f32_to_bf16_bits(a).astype("<u2").tobytes())


def tensor_shapes_fast(cfg):
    """tensor_shapes without building the model (the 1.3B in float32 is
    5.7 GB)."""
    D, F, p = cfg["dim"], cfg["ffn_dim"], cfg["patch"]
    s = {"patch_embedding.weight": (D, cfg["in_dim"], *p), "patch_embedding.bias": (D,),
         "text_embedding.0.weight": (D, cfg["text_dim"]), "text_embedding.0.bias": (D,),
         "text_embedding.2.weight": (D, D), "text_embedding.2.bias": (D,),
         "time_embedding.0.weight": (D, cfg["freq_dim"]), "time_embedding.0.bias": (D,),
         "time_embedding.2.weight": (D, D), "time_embedding.2.bias": (D,),
         "time_projection.1.weight": (6 * D, D), "time_projection.1.bias": (6 * D,),
         "head.head.weight": (math.prod(p) * cfg["out_dim"], D),
         "head.head.bias": (math.prod(p) * cfg["out_dim"],), "head.modulation": (1, 2, D)}
    for i in range(cfg["num_layers"]):
        b = "blocks.%d." % i
        for a in ("self_attn", "cross_attn"):
            for l in "qkvo":
                s[b + a + "." + l + ".weight"] = (D, D)
                s[b + a + "." + l + ".bias"] = (D,)
            s[b + a + ".norm_q.weight"] = (D,)
            s[b + a + ".norm_k.weight"] = (D,)
        s[b + "norm3.weight"] = (D,)
        s[b + "norm3.bias"] = (D,)
        s[b + "ffn.0.weight"] = (F, D)
        s[b + "ffn.0.bias"] = (F,)
        s[b + "ffn.2.weight"] = (D, F)
        s[b + "ffn.2.bias"] = (D,)
        s[b + "modulation"] = (1, 6, D)
    return s


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--full":
        write_full(sys.argv[2])
    elif len(sys.argv) == 2:
        write_fixtures(sys.argv[1])
    else:
        sys.exit(__doc__)
