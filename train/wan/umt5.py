# SPDX-License-Identifier: LGPL-2.1-or-later
"""The umT5-XXL text encoder of Wan2.1, a PyTorch reference written from the
architecture, and the golden fixtures of the C encoder (core/wan/umt5.c).

What it computes (the encoder half of umT5; Wan never runs the decoder):

    x = token_embedding[ids]                        # not scaled
    for each of `layers` blocks:
        x = x + attn(norm1(x))                      # own relative-position bias
        x = x + ffn(norm2(x))
    out = norm(x)

- norm*: T5 RMS norm, w * x / sqrt(mean(x^2) + 1e-6): no mean, no bias,
  computed in float32 (float64 here when the module is float64).
- attn: q, k, v (heads*head_dim, dim), o (dim, heads*head_dim), no biases;
  logits = q.k + bias[head, bucket(key - query)], NO 1/sqrt(head_dim);
  padded keys masked (their bias replaced by the dtype's lowest value).
- bias: each block has its own pos_embedding.embedding (buckets, heads)
  (umT5: shared_pos=False). Buckets are bidirectional: half for key after
  query, |rel| < half/2 exact, then log-spaced up to max_dist, clamped.
- ffn: fc2(fc1(x) * gelu_tanh(gate.0(x))), no biases.

Call path of Wan (T5EncoderModel.__call__): ids padded to 512 with 0 and a
mask, the encoder runs on the whole padded batch, and each prompt keeps the
rows of its real tokens (EOS included); WanModel then zero-pads those rows to
512 for its cross-attention. Rows of real tokens never see padded keys, and
their bias depends only on relative positions, so running the real tokens
alone gives the same rows: the C engine does that.

Tensor names are those of the official `models_t5_umt5-xxl-enc-bf16.pth`
(wan/modules/t5.py): token_embedding.weight, blocks.N.norm1.weight,
blocks.N.attn.{q,k,v,o}.weight, blocks.N.norm2.weight,
blocks.N.ffn.{gate.0,fc1,fc2}.weight, blocks.N.pos_embedding.embedding.weight,
norm.weight.

    /usr/bin/python3 train/wan/umt5.py OUTDIR     # write the fixtures
    /usr/bin/python3 train/wan/umt5.py --full FILE.safetensors
        # random BF16 weights of the real size (11.4 GB), to time the C encoder
    /usr/bin/python3 train/wan/umt5.py --full-width DIR [LAYERS]
        # LAYERS (default 1) real-size blocks (2.5 GB; 11.4 GB for all 24)
        # and their float64 golden, for ST2V_UMT5_FULL=DIR build/tests/test_umt5
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

# The real encoder (wan/modules/t5.py umt5_xxl, encoder_only=True).
UMT5_XXL = dict(vocab=256384, dim=4096, heads=64, head_dim=64, ffn=10240,
                layers=24, buckets=32, max_dist=128)
EPS = 1e-6
TEXT_LEN = 512          # Wan pads every prompt to this many tokens
PAD_ID = 0


# ============================================================== layers

def relative_bucket(rel, buckets, max_dist):
    """Bucket of each relative position rel = key - query (int64 tensor),
    bidirectional: [0, buckets/2) for key <= query, [buckets/2, buckets) for
    key > query. Within a half, |rel| < buckets/4 is its own bucket; larger
    distances are log-spaced, the logarithm taken in float32 exactly as the
    official code (and HF T5) does, then truncated and clamped."""
    half = buckets // 2
    exact = half // 2
    side = (rel > 0).long() * half
    r = rel.abs()
    # clamp(min=1) only avoids log(0); those positions take the exact branch
    rf = r.clamp(min=1).to(torch.float32)
    large = exact + (torch.log(rf / exact) / math.log(max_dist / exact) *
                     (half - exact)).long()
    large = large.clamp(max=half - 1)
    return side + torch.where(r < exact, r, large)


class RMSNorm(nn.Module):
    """T5LayerNorm: w * x / sqrt(mean(x^2) + eps), at least float32."""

    def __init__(self, dim):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x):
        xf = x.float() if x.dtype != torch.float64 else x
        return self.weight * (xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + EPS))


def gelu_tanh(x):
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x.pow(3))))


class GeluTanh(nn.Module):
    def forward(self, x):
        return gelu_tanh(x)


class PosBias(nn.Module):
    """Relative-position bias of one block: embedding (buckets, heads)."""

    def __init__(self, buckets, heads, max_dist):
        super().__init__()
        self.buckets, self.max_dist = buckets, max_dist
        self.embedding = nn.Embedding(buckets, heads)

    def forward(self, n):
        pos = torch.arange(n)
        b = relative_bucket(pos[None, :] - pos[:, None], self.buckets, self.max_dist)
        return self.embedding(b).permute(2, 0, 1)        # (heads, n_q, n_k)


class Attention(nn.Module):
    def __init__(self, dim, heads, head_dim):
        super().__init__()
        self.heads, self.head_dim = heads, head_dim
        inner = heads * head_dim
        self.q = nn.Linear(dim, inner, bias=False)
        self.k = nn.Linear(dim, inner, bias=False)
        self.v = nn.Linear(dim, inner, bias=False)
        self.o = nn.Linear(inner, dim, bias=False)

    def forward(self, x, bias, mask):
        """x (B, L, dim); bias (heads, L, L); mask (B, L) of 0/1 or None."""
        B, L, _ = x.shape
        h, d = self.heads, self.head_dim
        q = self.q(x).view(B, L, h, d)
        k = self.k(x).view(B, L, h, d)
        v = self.v(x).view(B, L, h, d)
        ab = bias[None].expand(B, h, L, L).clone()
        if mask is not None:
            ab.masked_fill_(mask.view(B, 1, 1, L) == 0, torch.finfo(x.dtype).min)
        att = torch.einsum("bihd,bjhd->bhij", q, k) + ab      # no 1/sqrt(d)
        att = torch.softmax(att.float() if x.dtype != torch.float64 else att, -1).to(x.dtype)
        out = torch.einsum("bhij,bjhd->bihd", att, v).reshape(B, L, h * d)
        return self.o(out)


class FeedForward(nn.Module):
    def __init__(self, dim, ffn):
        super().__init__()
        self.gate = nn.Sequential(nn.Linear(dim, ffn, bias=False), GeluTanh())
        self.fc1 = nn.Linear(dim, ffn, bias=False)
        self.fc2 = nn.Linear(ffn, dim, bias=False)

    def forward(self, x):
        return self.fc2(self.fc1(x) * self.gate(x))


class Block(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.norm1 = RMSNorm(cfg["dim"])
        self.attn = Attention(cfg["dim"], cfg["heads"], cfg["head_dim"])
        self.norm2 = RMSNorm(cfg["dim"])
        self.ffn = FeedForward(cfg["dim"], cfg["ffn"])
        self.pos_embedding = PosBias(cfg["buckets"], cfg["heads"], cfg["max_dist"])

    def forward(self, x, mask):
        x = x + self.attn(self.norm1(x), self.pos_embedding(x.shape[1]), mask)
        return x + self.ffn(self.norm2(x))


class UMT5Encoder(nn.Module):
    def __init__(self, cfg=None):
        super().__init__()
        self.cfg = dict(UMT5_XXL if cfg is None else cfg)
        self.token_embedding = nn.Embedding(self.cfg["vocab"], self.cfg["dim"])
        self.blocks = nn.ModuleList(Block(self.cfg) for _ in range(self.cfg["layers"]))
        self.norm = RMSNorm(self.cfg["dim"])

    def forward(self, ids, mask=None):
        """ids (B, L) int64, mask (B, L) 0/1 or None -> (B, L, dim)."""
        x = self.token_embedding(ids)
        for b in self.blocks:
            x = b(x, mask)
        return self.norm(x)


def tensor_shapes(cfg):
    """{official name: shape} of an encoder of config cfg."""
    d, inner = cfg["dim"], cfg["heads"] * cfg["head_dim"]
    out = {"token_embedding.weight": (cfg["vocab"], d), "norm.weight": (d,)}
    for i in range(cfg["layers"]):
        p = "blocks.%d." % i
        out.update({p + "norm1.weight": (d,), p + "norm2.weight": (d,),
                    p + "attn.q.weight": (inner, d), p + "attn.k.weight": (inner, d),
                    p + "attn.v.weight": (inner, d), p + "attn.o.weight": (d, inner),
                    p + "ffn.gate.0.weight": (cfg["ffn"], d),
                    p + "ffn.fc1.weight": (cfg["ffn"], d),
                    p + "ffn.fc2.weight": (d, cfg["ffn"]),
                    p + "pos_embedding.embedding.weight": (cfg["buckets"], cfg["heads"])})
    return out


# ============================================================ call path

def encode(model, prompts_ids, text_len=TEXT_LEN):
    """Wan's T5EncoderModel.__call__ on lists of token ids (EOS included):
    pad to text_len with PAD_ID, mask, run the batch, keep each prompt's
    real rows. -> list of (n_i, dim) tensors."""
    B = len(prompts_ids)
    ids = torch.full((B, text_len), PAD_ID, dtype=torch.long)
    mask = torch.zeros(B, text_len, dtype=torch.long)
    for i, p in enumerate(prompts_ids):
        p = list(p)[:text_len]
        ids[i, :len(p)] = torch.tensor(p, dtype=torch.long)
        mask[i, :len(p)] = 1
    out = model(ids, mask)
    return [out[i, :int(mask[i].sum())] for i in range(B)]


def dit_context(rows, text_len=TEXT_LEN):
    """What WanModel.forward makes of encode()'s rows: each zero-padded to
    text_len rows. -> (B, text_len, dim)."""
    return torch.stack([torch.cat([u, u.new_zeros(text_len - u.shape[0], u.shape[1])])
                        for u in rows])


# ======================================================== weights, I/O

def init_random(model, seed):
    """Random weights that make every part of the encoder matter: the
    official init's scales, except a larger q (sharp attention) and
    position bias, and norm weights away from 1."""
    g = torch.Generator().manual_seed(seed)
    cfg = model.cfg
    d, inner = cfg["dim"], cfg["heads"] * cfg["head_dim"]
    std = {"token_embedding.weight": 1.0, "attn.q.weight": d ** -0.5,
           "attn.k.weight": d ** -0.5, "attn.v.weight": d ** -0.5,
           "attn.o.weight": inner ** -0.5, "ffn.gate.0.weight": d ** -0.5,
           "ffn.fc1.weight": d ** -0.5, "ffn.fc2.weight": cfg["ffn"] ** -0.5,
           "pos_embedding.embedding.weight": 1.0}
    with torch.no_grad():
        for name, p in sorted(model.named_parameters()):
            r = torch.randn(p.shape, generator=g, dtype=torch.float64)
            if name.endswith("norm1.weight") or name.endswith("norm2.weight") or name == "norm.weight":
                p.copy_(1.0 + 0.25 * r)
            else:
                key = name if name == "token_embedding.weight" else name.split(".", 2)[2]
                p.copy_(std[key] * r)


def save(model, path, dtypes="F32"):
    """Official names; dtypes: one of F32/F16/BF16 or {name: dtype}."""
    sd = model.state_dict()
    dt = {n: dtypes for n in sd} if isinstance(dtypes, str) else dtypes
    meta = {"generator": "train/wan/umt5.py", "config": json.dumps(model.cfg, sort_keys=True)}
    safetensors_io.save(path, {n: v.to(torch.float32) for n, v in sd.items()}, meta, dt)


def load(path, cfg=None, dtype=torch.float64):
    """An encoder with exactly the stored weights, in dtype."""
    t, meta, _ = safetensors_io.load(path)
    cfg = cfg or json.loads(meta["config"])
    m = UMT5Encoder(cfg)
    m.load_state_dict(t)
    return m.to(dtype).eval()


# ================================================ ComfyUI's scaled fp8

# Hugging Face's UMT5 names (Comfy's umt5_xxl_*.safetensors) of the official
# per-block names; wi_0 is the GELU gate, wi_1 fc1, wo fc2.
HF_BLOCK_NAMES = {
    "norm1.weight": "layer.0.layer_norm.weight",
    "attn.q.weight": "layer.0.SelfAttention.q.weight",
    "attn.k.weight": "layer.0.SelfAttention.k.weight",
    "attn.v.weight": "layer.0.SelfAttention.v.weight",
    "attn.o.weight": "layer.0.SelfAttention.o.weight",
    "pos_embedding.embedding.weight": "layer.0.SelfAttention.relative_attention_bias.weight",
    "norm2.weight": "layer.1.layer_norm.weight",
    "ffn.gate.0.weight": "layer.1.DenseReluDense.wi_0.weight",
    "ffn.fc1.weight": "layer.1.DenseReluDense.wi_1.weight",
    "ffn.fc2.weight": "layer.1.DenseReluDense.wo.weight",
}


def hf_name(name):
    if name == "token_embedding.weight":
        return "shared.weight"
    if name == "norm.weight":
        return "encoder.final_layer_norm.weight"
    _, layer, rest = name.split(".", 2)
    return "encoder.block.%s.%s" % (layer, HF_BLOCK_NAMES[rest])


def e4m3_table():
    """float32 value of each of the 256 E4M3FN bytes (torch's float8_e4m3fn:
    1 sign, 4 exponent bits of bias 7, 3 mantissa bits; exponent 0 is
    subnormal; 0x7F and 0xFF are NaN; no infinities), from the definition."""
    b = np.arange(256)
    sign = np.where(b & 0x80, -1.0, 1.0)
    e, m = (b >> 3) & 0xF, b & 0x7
    v = np.where(e == 0, m / 8.0 * 2.0 ** -6, (1.0 + m / 8.0) * np.exp2(e - 7.0))
    v = sign * v
    v[(e == 0xF) & (m == 0x7)] = np.nan
    return v.astype(np.float32)


def f32_to_e4m3(a):
    """Bytes of float array a rounded to the nearest E4M3FN value, ties to
    the even code, |a| <= 448 (what torch's .to(float8_e4m3fn) does there)."""
    a = np.asarray(a, dtype=np.float64)
    assert np.all(np.abs(a) <= 448.0)
    pos = e4m3_table()[:0x7F].astype(np.float64)           # codes 0..126, increasing
    ax = np.abs(a)
    hi = np.clip(np.searchsorted(pos, ax), 0, 0x7E)
    lo = np.clip(hi - 1, 0, 0x7E)
    dlo, dhi = ax - pos[lo], pos[hi] - ax
    code = np.where(dlo < dhi, lo, np.where(dhi < dlo, hi, np.where(lo % 2 == 0, lo, hi)))
    return (code | np.where(np.signbit(a), 0x80, 0)).astype(np.uint8)


def save_raw(path, entries, metadata=None):
    """A safetensors file of {name: (dtype, shape, bytes)}, sorted, the
    header padded to 8 bytes (any dtype: F8_E4M3, U8, 0-d scalars)."""
    header = {"__metadata__": dict(metadata)} if metadata else {}
    off, blobs = 0, []
    for name in sorted(entries):
        dt, shape, data = entries[name]
        header[name] = {"dtype": dt, "shape": list(shape), "data_offsets": [off, off + len(data)]}
        blobs.append(data)
        off += len(data)
    hb = json.dumps(header, separators=(",", ":")).encode("utf-8")
    hb += b" " * ((-len(hb)) % 8)
    with open(path, "wb") as f:
        f.write(len(hb).to_bytes(8, "little") + hb + b"".join(blobs))


def save_scaled_fp8(model, path):
    """model as ComfyUI's umt5_xxl_fp8_e4m3fn_scaled.safetensors lays it out:
    Hugging Face names; each attention and feed-forward matrix X.weight in
    F8_E4M3 beside a 0-d F32 X.scale_weight = max|W| / 448 (and an unused
    X.scale_input); the embedding in F16; norms and position biases F32; a
    `scaled_fp8` marker (F8_E4M3, shape [0]). Sets the model's weights to
    what the file holds: float32(fp8) * scale, rounded once to float32 as
    the C engine widens them. Returns nothing."""
    table = e4m3_table()
    entries = {"scaled_fp8": ("F8_E4M3", (0,), b"")}
    sd = model.state_dict()
    with torch.no_grad():
        for name in sorted(sd):
            w = sd[name].to(torch.float64).numpy()
            hn = hf_name(name)
            if w.ndim == 2 and name.startswith("blocks.") and "pos_embedding" not in name:
                scale = np.float32(np.abs(w).max() / 448.0)
                q = f32_to_e4m3(np.clip(w / np.float64(scale), -448.0, 448.0))
                base = hn[:-len(".weight")]
                entries[hn] = ("F8_E4M3", w.shape, q.tobytes())
                entries[base + ".scale_weight"] = ("F32", (), scale.astype("<f4").tobytes())
                entries[base + ".scale_input"] = ("F32", (), np.float32(1.0).astype("<f4").tobytes())
                eff = table[q] * scale                  # float32 * float32
            elif name == "token_embedding.weight":
                h = w.astype("<f2")
                entries[hn] = ("F16", w.shape, h.tobytes())
                eff = h.astype(np.float32)
            else:
                f = w.astype("<f4")
                entries[hn] = ("F32", w.shape, f.tobytes())
                eff = f
            sd[name].copy_(torch.from_numpy(eff.astype(np.float64)))
    save_raw(path, entries, {"generator": "train/wan/umt5.py save_scaled_fp8",
                             "config": json.dumps(model.cfg, sort_keys=True)})


# ============================================================ fixtures

# Two tiny configs with asymmetric sizes: heads*head_dim != dim in "a", and
# max_dist 20 in "b" so that short prompts reach the log-spaced and clamped
# buckets. text_len plays the role of Wan's 512.
FIXTURE_CONFIGS = {
    "a": dict(vocab=300, dim=48, heads=4, head_dim=10, ffn=120, layers=2,
              buckets=32, max_dist=128),
    "b": dict(vocab=97, dim=40, heads=5, head_dim=8, ffn=72, layers=3,
              buckets=16, max_dist=20),
}
FIXTURE_TEXT_LEN = {"a": 40, "b": 30}
FIXTURE_LENS = {"a": [37, 1, 40, 9], "b": [30, 12, 3]}
# weight files: config, dtypes (F32, BF16, or every third tensor F16/BF16/F32)
# "fp8": ComfyUI's scaled-fp8 layout (save_scaled_fp8)
FIXTURE_FILES = {"a_f32": ("a", "F32"), "a_bf16": ("a", "BF16"),
                 "b_f32": ("b", "F32"), "b_mixed": ("b", "mixed"),
                 "a_fp8": ("a", "fp8")}
BUCKET_RANGE = 600      # bucket tables for rel in [-600, 600]
SEED = 2024


# One block of the real width (dim 4096, 64 heads x 64, ffn 10240, 32
# buckets) with a 64-piece vocabulary, for `make check`: its 142M weights
# (285 MB in BF16) are never stored; the C test and this reference compute
# them from a counter hash (train/wan/hashed.py, tests/hashed.h), and only
# the golden is a fixture.
HASHED_WIDTH = dict(UMT5_XXL, vocab=64, layers=1)
HASHED_IDS = [5, 17, 33, 2, 63, 40, 9, 12, 1]         # EOS last
# weight = q * 2^-shift, q an integer in [-128, 127] (exact in BF16)
HASHED_SHIFT = {"token_embedding.weight": 6, "norm.weight": 7,
                "norm1.weight": 7, "norm2.weight": 7,
                "attn.q.weight": 12, "attn.k.weight": 12, "attn.v.weight": 12,
                "attn.o.weight": 12, "ffn.gate.0.weight": 12,
                "ffn.fc1.weight": 12, "ffn.fc2.weight": 13,
                "pos_embedding.embedding.weight": 5}


def hashed_golden():
    """(ids, out (len(HASHED_IDS), 4096)): the hashed block's rows, float64."""
    cfg = HASHED_WIDTH
    m = UMT5Encoder(cfg).to(torch.float64).eval()
    sd = m.state_dict()
    with torch.no_grad():
        for k, name in enumerate(sorted(tensor_shapes(cfg))):
            key = name.split(".", 2)[2] if name.startswith("blocks.") else name
            sd[name].copy_(torch.from_numpy(hashed.tensor(k, sd[name].shape, HASHED_SHIFT[key])))
        out = m(torch.tensor([HASHED_IDS]))[0]
    return torch.tensor(HASHED_IDS, dtype=torch.float32), out.to(torch.float32)


def write_fixtures(out):
    """tests/fixtures/wan/umt5/: the weight files of FIXTURE_FILES and
    golden.safetensors with, per weight file F:
      F.ids   (B, text_len)        token ids (F32), PAD_ID after F.lens
      F.lens  (B)                  real tokens of each prompt
      F.out   (B, text_len, dim)   dit_context(encode(...)): each prompt's
                                   rows, zero-padded, float64 -> F32
    computed from the weights exactly as stored (rounded to BF16/F16; for
    the scaled fp8 file, float32(fp8) * scale), e4m3 (256): the value of
    each E4M3FN byte (e4m3_table), and
    bucket.<buckets>_<max_dist> (2*600+1): relative_bucket of rel = -600..600
    for each config and for the real one."""
    os.makedirs(out, exist_ok=True)
    torch.set_num_threads(1)
    golden = {}
    for name, (ck, dts) in sorted(FIXTURE_FILES.items()):
        cfg = FIXTURE_CONFIGS[ck]
        m = UMT5Encoder(cfg)
        init_random(m, SEED + ord(ck))
        names = sorted(m.state_dict())
        if dts == "mixed":
            dts = {n: ("F16", "BF16", "F32")[i % 3] for i, n in enumerate(names)}
        path = os.path.join(out, name + ".safetensors")
        if dts == "fp8":
            save_scaled_fp8(m, path)
            m64 = m.to(torch.float64).eval()
        else:
            save(m, path, dts)
            m64 = load(path)
        g = torch.Generator().manual_seed(SEED + 7 * ord(ck))
        L = FIXTURE_TEXT_LEN[ck]
        prompts = []
        for n in FIXTURE_LENS[ck]:
            ids = torch.randint(2, cfg["vocab"], (n,), generator=g).tolist()
            ids[-1] = 1                                  # EOS, as the tokenizer ends
            prompts.append(ids)
        with torch.no_grad():
            ctx = dit_context(encode(m64, prompts, L), L)
        ids = torch.full((len(prompts), L), PAD_ID, dtype=torch.float32)
        for i, p in enumerate(prompts):
            ids[i, :len(p)] = torch.tensor(p, dtype=torch.float32)
        golden[name + ".ids"] = ids
        golden[name + ".lens"] = torch.tensor([len(p) for p in prompts], dtype=torch.float32)
        golden[name + ".out"] = ctx.to(torch.float32)
    golden["hashed_width.ids"], golden["hashed_width.out"] = hashed_golden()
    golden["e4m3"] = torch.from_numpy(e4m3_table())
    rel = torch.arange(-BUCKET_RANGE, BUCKET_RANGE + 1)
    for cfg in list(FIXTURE_CONFIGS.values()) + [UMT5_XXL]:
        key = "bucket.%d_%d" % (cfg["buckets"], cfg["max_dist"])
        golden[key] = relative_bucket(rel, cfg["buckets"], cfg["max_dist"]).to(torch.float32)
    meta = {"generator": "train/wan/umt5.py",
            "precision": "float64 computation from the weights as stored, stored as F32",
            "configs": json.dumps(FIXTURE_CONFIGS, sort_keys=True),
            "files": json.dumps(FIXTURE_FILES, sort_keys=True)}
    safetensors_io.save(os.path.join(out, "golden.safetensors"), golden, meta)


# ===================================================== full-size files

def full_std(cfg, name):
    """Scale of the random weights of write_full: init_random's, but q
    scaled by 1/sqrt(head_dim) (attention logits of unit variance, the
    regime of a trained T5, which folds the missing scale into q). With
    init_random's sharper q (logits of std 8 at head_dim 64), 24 blocks
    amplify rounding: PyTorch's own float32 then ends 5e-4 away from
    float64, as the C engine does."""
    d, inner = cfg["dim"], cfg["heads"] * cfg["head_dim"]
    if name.endswith("norm1.weight") or name.endswith("norm2.weight") or name == "norm.weight":
        return None                                          # 1 + 0.25 N(0, 1)
    key = name if name == "token_embedding.weight" else name.split(".", 2)[2]
    return {"token_embedding.weight": 1.0, "attn.q.weight": (d * cfg["head_dim"]) ** -0.5,
            "attn.k.weight": d ** -0.5, "attn.v.weight": d ** -0.5,
            "attn.o.weight": inner ** -0.5, "ffn.gate.0.weight": d ** -0.5,
            "ffn.fc1.weight": d ** -0.5, "ffn.fc2.weight": cfg["ffn"] ** -0.5,
            "pos_embedding.embedding.weight": 1.0}[key]


def write_full(path, cfg=None, seed=SEED):
    """Random BF16 weights of config cfg (default: the real umT5-XXL, an
    11.4 GB file) under the official names, written a tensor and a block
    of rows at a time so that memory stays small: for timing the C encoder
    and measuring its memory without the real weights."""
    cfg = dict(UMT5_XXL if cfg is None else cfg)
    shapes = tensor_shapes(cfg)
    names = sorted(shapes)
    header, off = {"__metadata__": {"generator": "train/wan/umt5.py write_full",
                                    "config": json.dumps(cfg, sort_keys=True)}}, 0
    for n in names:
        nb = 2 * math.prod(shapes[n])
        header[n] = {"dtype": "BF16", "shape": list(shapes[n]), "data_offsets": [off, off + nb]}
        off += nb
    hb = json.dumps(header, separators=(",", ":")).encode()
    hb += b" " * ((-len(hb)) % 8)
    with open(path, "wb") as f:
        f.write(len(hb).to_bytes(8, "little") + hb)
        for i, n in enumerate(names):
            g = np.random.Generator(np.random.PCG64([seed, i]))
            shape = shapes[n]
            rows = shape[0] if len(shape) == 2 else 1
            cols = shape[-1]
            step = max(1, (1 << 24) // cols)
            std = full_std(cfg, n)
            for r in range(0, rows, step):
                a = g.standard_normal((min(step, rows - r), cols), dtype=np.float32)
                a = 1.0 + 0.25 * a if std is None else a * np.float32(std)
                f.write(safetensors_io.f32_to_bf16_bits(a).astype("<u2").tobytes())


class MappedFile:
    """A .safetensors file mapped read-only, tensors widened on demand."""

    def __init__(self, path):
        with open(path, "rb") as f:
            n = int.from_bytes(f.read(8), "little")
            self.header = json.loads(f.read(n))
        self.meta = self.header.pop("__metadata__", {})
        self.map = np.memmap(path, dtype=np.uint8, mode="r", offset=8 + n)

    def _widen(self, raw, dt):
        if dt == "BF16":
            return safetensors_io.bf16_bits_to_f32(raw.view("<u2"))
        return raw.view("<f2" if dt == "F16" else "<f4").astype(np.float32)

    def get(self, name, rows=None):
        """The tensor as float32, or only the given rows of a matrix."""
        info = self.header[name]
        b, _ = info["data_offsets"]
        shape, dt = info["shape"], info["dtype"]
        size = 4 if dt == "F32" else 2
        if rows is None:
            raw = self.map[b:b + size * math.prod(shape)]
            return self._widen(raw, dt).reshape(shape)
        row = size * shape[1]
        return np.stack([self._widen(self.map[b + r * row:b + (r + 1) * row], dt) for r in rows])


def full_golden(path, ids, layers=None):
    """The reference's rows (float64) for the real tokens ids of the encoder
    in file path (write_full's, or real weights), running its first `layers`
    blocks when given. Streams: the embedding rows of ids, then one block
    at a time (1.5 GB in float64 at full size)."""
    f = MappedFile(path)
    cfg = json.loads(f.meta["config"])
    layers = layers or cfg["layers"]
    with torch.no_grad():
        x = torch.from_numpy(f.get("token_embedding.weight", ids)).double()[None]
        block = Block(cfg).double().eval()
        for i in range(layers):
            for name, p in block.state_dict().items():
                p.copy_(torch.from_numpy(f.get("blocks.%d.%s" % (i, name))))
            x = block(x, None)
        norm = RMSNorm(cfg["dim"]).double()
        norm.weight.copy_(torch.from_numpy(f.get("norm.weight")))
        return norm(x)[0]


def write_full_width(out, layers=1, n_tokens=23, golden_only=False):
    """OUT/full.safetensors: the real umT5-XXL's shapes with `layers`
    blocks (2.5 GB for 1, 11.4 GB for 24), and OUT/full_golden.safetensors:
    ids (n_tokens, spread over the whole vocabulary) and out (n_tokens,
    4096) from full_golden. For the opt-in full-width check of
    tests/test_umt5.c (ST2V_UMT5_FULL=OUT). golden_only: keep the weights
    file already there."""
    os.makedirs(out, exist_ok=True)
    torch.set_num_threads(1)
    path = os.path.join(out, "full.safetensors")
    if not golden_only:
        write_full(path, dict(UMT5_XXL, layers=layers))
    g = np.random.Generator(np.random.PCG64(SEED))
    ids = [int(i) for i in g.integers(2, UMT5_XXL["vocab"] - 1, n_tokens - 2)]
    ids = [UMT5_XXL["vocab"] - 1] + ids + [1]                # the last row, ..., EOS
    out64 = full_golden(path, ids)
    safetensors_io.save(os.path.join(out, "full_golden.safetensors"),
                        {"ids": torch.tensor(ids, dtype=torch.float32),
                         "out": out64.to(torch.float32)},
                        {"generator": "train/wan/umt5.py write_full_width"})


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--full":
        write_full(sys.argv[2])
    elif len(sys.argv) in (3, 4) and sys.argv[1] == "--full-width":
        write_full_width(sys.argv[2], int(sys.argv[3]) if len(sys.argv) == 4 else 1)
    elif len(sys.argv) == 2:
        write_fixtures(sys.argv[1])
    else:
        sys.exit("usage: umt5.py OUTDIR | --full FILE.safetensors | --full-width OUTDIR [LAYERS]")
