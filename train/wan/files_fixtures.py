#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Tiny fake Wan2.1 folders for tests/test_wan_files.c (core/wan/files.c):
each layout users download, at sizes small enough for git, plus broken
files. Deterministic: the same bytes on every run.

    /usr/bin/python3 -c 'import sys; sys.path.insert(0, "train"); \\
        from wan.files_fixtures import write_fixtures; \\
        write_fixtures("tests/fixtures/wan/files")'

The tensor names come from the official architecture written out again
here (wan/modules/model.py, vae.py, t5.py) and, for the other layouts,
from the renames of diffusers' convert_wan_to_diffusers.py and of
Hugging Face's UMT5: independent of core/wan/names.c, which the test
checks against them. Values are random; only names, dtypes and shapes
matter.

  official/   config.json, diffusion_pytorch_model.safetensors (F32),
              Wan2.1_VAE.safetensors (F32), models_t5_umt5-xxl-enc-bf16.
              safetensors (BF16), google/umt5-xxl/spiece.model
  comfy/      split_files/diffusion_models/*_bf16 (model.diffusion_model.
              prefix, no config), split_files/vae (F16), split_files/
              text_encoders/umt5_xxl_fp16 (HF names, spiece_model inside)
  diffusers/  transformer/ (config.json, two BF16 shards and their index),
              vae/ (config.json with num_res_blocks 1 and dim_mult 1,1,2,2;
              F16), text_encoder/model.safetensors (HF names, BF16),
              tokenizer/spiece.model
  broken/     dit_missing_tensor, dit_wrong_shape, dit_wrong_dtype (I32),
              t5_truncated, t5_overlap (lying offsets), t5_past_end,
              t5_fp8 (Comfy's scaled F8_E4M3: valid, umt5.c reads it),
              t5_width12 (valid, but 12 wide where the DiT reads 8)
"""

import json
import os
import struct
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from wan.convert import tensor_bytes, write_safetensors  # noqa: E402
from wan.spm_fixtures import train as train_spm  # noqa: E402

SEED = 2026

# The tiny configs (test_wan_files.c repeats them).
DIT = dict(dim=8, ffn_dim=16, num_heads=2, num_layers=2, in_dim=4, out_dim=4,
           text_dim=8, freq_dim=8, text_len=8, patch=(1, 2, 2))
VAE = dict(dim=1, z_dim=4, dim_mult=[1, 2, 4, 4], num_res_blocks=2,
           temporal_down=[False, True, True])
VAE_DIFFUSERS = dict(VAE, dim=2, dim_mult=[1, 1, 2, 2], num_res_blocks=1)
T5 = dict(vocab=200, dim=8, heads=2, head_dim=4, ffn=12, layers=2, buckets=8)


# ----------------------------------------------------------------- DiT

def dit_official(c):
    """[(name, shape)] of WanModel (t2v, qk_norm, cross_attn_norm)."""
    D, F = c["dim"], c["ffn_dim"]
    pt, ph, pw = c["patch"]

    def lin(n, o, i):
        return [(n + ".weight", (o, i)), (n + ".bias", (o,))]
    out = [("patch_embedding.weight", (D, c["in_dim"], pt, ph, pw)),
           ("patch_embedding.bias", (D,))]
    out += lin("text_embedding.0", D, c["text_dim"]) + lin("text_embedding.2", D, D)
    out += lin("time_embedding.0", D, c["freq_dim"]) + lin("time_embedding.2", D, D)
    out += lin("time_projection.1", 6 * D, D)
    for b in range(c["num_layers"]):
        p = "blocks.%d." % b
        for a in ("self_attn", "cross_attn"):
            for x in "qkvo":
                out += lin(p + a + "." + x, D, D)
            out += [(p + a + ".norm_q.weight", (D,)), (p + a + ".norm_k.weight", (D,))]
        out += [(p + "norm3.weight", (D,)), (p + "norm3.bias", (D,))]
        out += lin(p + "ffn.0", F, D) + lin(p + "ffn.2", D, F)
        out += [(p + "modulation", (1, 6, D))]
    out += lin("head.head", pt * ph * pw * c["out_dim"], D)
    out += [("head.modulation", (1, 2, D))]
    return out


# diffusers' TRANSFORMER_KEYS_RENAME_DICT, applied in order as it does
DIT_RENAMES = [
    ("time_embedding.0", "condition_embedder.time_embedder.linear_1"),
    ("time_embedding.2", "condition_embedder.time_embedder.linear_2"),
    ("text_embedding.0", "condition_embedder.text_embedder.linear_1"),
    ("text_embedding.2", "condition_embedder.text_embedder.linear_2"),
    ("time_projection.1", "condition_embedder.time_proj"),
    ("head.modulation", "scale_shift_table"), ("head.head", "proj_out"),
    ("modulation", "scale_shift_table"),
    ("ffn.0", "ffn.net.0.proj"), ("ffn.2", "ffn.net.2"),
    ("norm2", "norm__placeholder"), ("norm3", "norm2"),
    ("norm__placeholder", "norm3"),
    ("self_attn.q", "attn1.to_q"), ("self_attn.k", "attn1.to_k"),
    ("self_attn.v", "attn1.to_v"), ("self_attn.o", "attn1.to_out.0"),
    ("self_attn.norm_q", "attn1.norm_q"), ("self_attn.norm_k", "attn1.norm_k"),
    ("cross_attn.q", "attn2.to_q"), ("cross_attn.k", "attn2.to_k"),
    ("cross_attn.v", "attn2.to_v"), ("cross_attn.o", "attn2.to_out.0"),
    ("cross_attn.norm_q", "attn2.norm_q"), ("cross_attn.norm_k", "attn2.norm_k"),
]


def dit_diffusers(name):
    for a, b in DIT_RENAMES:
        name = name.replace(a, b)
    return name


# ----------------------------------------------------------------- VAE

def vae_official(c):
    """[(name, shape)] of WanVAE_ with attn_scales = []."""
    dim, z, mult, nrb = c["dim"], c["z_dim"], c["dim_mult"], c["num_res_blocks"]

    def conv(n, o, i, k):
        return [(n + ".weight", (o, i) + k), (n + ".bias", (o,))]

    def gamma(n, ch, video=True):
        return [(n + ".gamma", (ch, 1, 1, 1) if video else (ch, 1, 1))]

    def res(p, i, o):
        r = gamma(p + ".residual.0", i) + conv(p + ".residual.2", o, i, (3, 3, 3))
        r += gamma(p + ".residual.3", o) + conv(p + ".residual.6", o, o, (3, 3, 3))
        return r + (conv(p + ".shortcut", o, i, (1, 1, 1)) if i != o else [])

    def middle(side, ch):
        return (res(side + ".middle.0", ch, ch) + gamma(side + ".middle.1.norm", ch, False)
                + conv(side + ".middle.1.to_qkv", 3 * ch, ch, (1, 1))
                + conv(side + ".middle.1.proj", ch, ch, (1, 1))
                + res(side + ".middle.2", ch, ch))

    out = conv("conv1", 2 * z, 2 * z, (1, 1, 1)) + conv("conv2", z, z, (1, 1, 1))
    dims = [dim * u for u in [1] + mult]
    out += conv("encoder.conv1", dims[0], 3, (3, 3, 3))
    k = 0
    for i, (a, b) in enumerate(zip(dims[:-1], dims[1:])):
        for _ in range(nrb):
            out += res("encoder.downsamples.%d" % k, a, b)
            a, k = b, k + 1
        if i != len(mult) - 1:
            out += conv("encoder.downsamples.%d.resample.1" % k, b, b, (3, 3))
            if c["temporal_down"][i]:
                out += conv("encoder.downsamples.%d.time_conv" % k, b, b, (3, 1, 1))
            k += 1
    out += middle("encoder", dims[-1]) + gamma("encoder.head.0", dims[-1])
    out += conv("encoder.head.2", 2 * z, dims[-1], (3, 3, 3))
    dims = [dim * u for u in [mult[-1]] + mult[::-1]]
    out += conv("decoder.conv1", dims[0], z, (3, 3, 3)) + middle("decoder", dims[0])
    k, up = 0, c["temporal_down"][::-1]
    for i, (a, b) in enumerate(zip(dims[:-1], dims[1:])):
        if i in (1, 2, 3):
            a //= 2
        for _ in range(nrb + 1):
            out += res("decoder.upsamples.%d" % k, a, b)
            a, k = b, k + 1
        if i != len(mult) - 1:
            out += conv("decoder.upsamples.%d.resample.1" % k, b // 2, b, (3, 3))
            if up[i]:
                out += conv("decoder.upsamples.%d.time_conv" % k, 2 * b, b, (3, 1, 1))
            k += 1
    out += gamma("decoder.head.0", dims[-1]) + conv("decoder.head.2", 3, dims[-1], (3, 3, 3))
    return out


RES = {"residual.0": "norm1", "residual.2": "conv1", "residual.3": "norm2",
       "residual.6": "conv2", "shortcut": "conv_shortcut"}


def vae_diffusers(name, c):
    """The Diffusers name of an official VAE name (diffusers' convert_vae)."""
    p = name.split(".")
    if p[0] in ("conv1", "conv2"):
        return {"conv1": "quant_conv", "conv2": "post_quant_conv"}[p[0]] + "." + p[1]
    side, rest = p[0], p[1:]
    if rest[0] == "conv1":
        return "%s.conv_in.%s" % (side, rest[1])
    if rest[0] == "head":
        return "%s.%s.%s" % (side, {"0": "norm_out", "2": "conv_out"}[rest[1]], rest[2])

    def block(r):  # residual.N.x / shortcut.x / other
        if r[0] == "residual":
            return RES["residual." + r[1]] + "." + r[2]
        if r[0] == "shortcut":
            return "conv_shortcut." + r[1]
        return ".".join(r)
    if rest[0] == "middle":
        if rest[1] == "1":
            return "%s.mid_block.attentions.0.%s" % (side, ".".join(rest[2:]))
        return "%s.mid_block.resnets.%d.%s" % (side, int(rest[1]) // 2, block(rest[2:]))
    k = int(rest[1])
    if side == "encoder":
        return "encoder.down_blocks.%d.%s" % (k, block(rest[2:]))
    per = c["num_res_blocks"] + 2  # residual blocks + the upsampler
    i, j = divmod(k, per)
    if j <= c["num_res_blocks"]:
        return "decoder.up_blocks.%d.resnets.%d.%s" % (i, j, block(rest[2:]))
    return "decoder.up_blocks.%d.upsamplers.0.%s" % (i, ".".join(rest[2:]))


# ------------------------------------------------------------------ umT5

def t5_official(c):
    D, A, F = c["dim"], c["heads"] * c["head_dim"], c["ffn"]
    out = [("token_embedding.weight", (c["vocab"], D))]
    for b in range(c["layers"]):
        p = "blocks.%d." % b
        out += [(p + "norm1.weight", (D,))]
        out += [(p + "attn.%s.weight" % x, (A, D)) for x in "qkv"]
        out += [(p + "attn.o.weight", (D, A)), (p + "norm2.weight", (D,)),
                (p + "ffn.gate.0.weight", (F, D)), (p + "ffn.fc1.weight", (F, D)),
                (p + "ffn.fc2.weight", (D, F)),
                (p + "pos_embedding.embedding.weight", (c["buckets"], c["heads"]))]
    return out + [("norm.weight", (D,))]


T5_HF = [("norm1", "layer.0.layer_norm"), ("attn.q", "layer.0.SelfAttention.q"),
         ("attn.k", "layer.0.SelfAttention.k"), ("attn.v", "layer.0.SelfAttention.v"),
         ("attn.o", "layer.0.SelfAttention.o"),
         ("pos_embedding.embedding", "layer.0.SelfAttention.relative_attention_bias"),
         ("norm2", "layer.1.layer_norm"), ("ffn.gate.0", "layer.1.DenseReluDense.wi_0"),
         ("ffn.fc1", "layer.1.DenseReluDense.wi_1"), ("ffn.fc2", "layer.1.DenseReluDense.wo")]


def t5_hf(name):
    if name == "token_embedding.weight":
        return "shared.weight"
    if name == "norm.weight":
        return "encoder.final_layer_norm.weight"
    p = name.split(".", 2)
    for a, b in T5_HF:
        if p[2].startswith(a + "."):
            return "encoder.block.%s.%s%s" % (p[1], b, p[2][len(a):])
    raise KeyError(name)


# --------------------------------------------------------------- writing

TORCH = {"F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16}


def tensors(specs, dtype, rng, rename=lambda n: n, prefix=""):
    """[(name, dtype, shape, bytes)] of random values."""
    out = []
    for name, shape in specs:
        a = torch.from_numpy(rng.standard_normal(shape).astype(np.float32))
        dt, data = tensor_bytes(a.to(TORCH[dtype]))
        out.append((prefix + rename(name), dt, shape, data))
    return out


def write_json(path, obj):
    with open(path, "w") as f:
        json.dump(obj, f, indent=1, sort_keys=True)
        f.write("\n")


def write_bytes(path, data):
    with open(path, "wb") as f:
        f.write(data)


def spiece():
    """A small unigram spiece.model with umT5's special ids."""
    return train_spm(180, normalization_rule_name="identity", pad_id=0, eos_id=1,
                     unk_id=2, bos_id=-1)


def write_official(out, rng, sp):
    d = os.path.join(out, "official")
    os.makedirs(os.path.join(d, "google", "umt5-xxl"), exist_ok=True)
    c = DIT
    write_json(os.path.join(d, "config.json"), {
        "_class_name": "WanModel", "dim": c["dim"], "eps": 1e-06,
        "ffn_dim": c["ffn_dim"], "freq_dim": c["freq_dim"], "in_dim": c["in_dim"],
        "model_type": "t2v", "num_heads": c["num_heads"],
        "num_layers": c["num_layers"], "out_dim": c["out_dim"],
        "text_len": c["text_len"], "text_dim": c["text_dim"]})
    write_safetensors(os.path.join(d, "diffusion_pytorch_model.safetensors"),
                      tensors(dit_official(DIT), "F32", rng))
    write_safetensors(os.path.join(d, "Wan2.1_VAE.safetensors"),
                      tensors(vae_official(VAE), "F32", rng))
    write_safetensors(os.path.join(d, "models_t5_umt5-xxl-enc-bf16.safetensors"),
                      tensors(t5_official(T5), "BF16", rng))
    write_bytes(os.path.join(d, "google", "umt5-xxl", "spiece.model"), sp)


def write_comfy(out, rng, sp):
    d = os.path.join(out, "comfy", "split_files")
    for sub in ("diffusion_models", "vae", "text_encoders"):
        os.makedirs(os.path.join(d, sub), exist_ok=True)
    write_safetensors(
        os.path.join(d, "diffusion_models", "wan2.1_t2v_tiny_bf16.safetensors"),
        tensors(dit_official(DIT), "BF16", rng, prefix="model.diffusion_model."))
    write_safetensors(os.path.join(d, "vae", "wan_2.1_vae.safetensors"),
                      tensors(vae_official(VAE), "F16", rng))
    t5 = tensors(t5_official(T5), "F16", rng, rename=t5_hf)
    t5.append(("spiece_model", "U8", (len(sp),), sp))
    write_safetensors(os.path.join(d, "text_encoders", "umt5_xxl_fp16.safetensors"), t5)


def write_diffusers(out, rng, sp):
    d = os.path.join(out, "diffusers")
    for sub in ("transformer", "vae", "text_encoder", "tokenizer"):
        os.makedirs(os.path.join(d, sub), exist_ok=True)
    c = DIT
    write_json(os.path.join(d, "transformer", "config.json"), {
        "_class_name": "WanTransformer3DModel", "added_kv_proj_dim": None,
        "attention_head_dim": c["dim"] // c["num_heads"], "cross_attn_norm": True,
        "eps": 1e-06, "ffn_dim": c["ffn_dim"], "freq_dim": c["freq_dim"],
        "image_dim": None, "in_channels": c["in_dim"],
        "num_attention_heads": c["num_heads"], "num_layers": c["num_layers"],
        "out_channels": c["out_dim"], "patch_size": list(c["patch"]),
        "qk_norm": "rms_norm_across_heads", "rope_max_seq_len": 1024,
        "text_dim": c["text_dim"]})
    dit = tensors(dit_official(DIT), "BF16", rng, rename=dit_diffusers)
    half = len(dit) // 2
    shards = {"diffusion_pytorch_model-00001-of-00002.safetensors": dit[:half],
              "diffusion_pytorch_model-00002-of-00002.safetensors": dit[half:]}
    weight_map = {}
    for fname, part in shards.items():
        write_safetensors(os.path.join(d, "transformer", fname), part)
        weight_map.update({t[0]: fname for t in part})
    write_json(os.path.join(d, "transformer",
                            "diffusion_pytorch_model.safetensors.index.json"),
               {"metadata": {"total_size": sum(len(t[3]) for t in dit)},
                "weight_map": weight_map})
    v = VAE_DIFFUSERS
    write_json(os.path.join(d, "vae", "config.json"), {
        "_class_name": "AutoencoderKLWan", "attn_scales": [],
        "base_dim": v["dim"], "dim_mult": v["dim_mult"], "dropout": 0.0,
        "num_res_blocks": v["num_res_blocks"],
        "temperal_downsample": v["temporal_down"], "z_dim": v["z_dim"]})
    write_safetensors(os.path.join(d, "vae", "diffusion_pytorch_model.safetensors"),
                      tensors(vae_official(v), "F16", rng,
                              rename=lambda n: vae_diffusers(n, v)))
    write_safetensors(os.path.join(d, "text_encoder", "model.safetensors"),
                      tensors(t5_official(T5), "BF16", rng, rename=t5_hf))
    write_bytes(os.path.join(d, "tokenizer", "spiece.model"), sp)


def rewrite_header(path, fn):
    """Rewrite a safetensors header through fn(header) -> header, keeping
    the data (the header is padded back to its old length)."""
    with open(path, "rb") as f:
        buf = f.read()
    (n,) = struct.unpack("<Q", buf[:8])
    h = fn(json.loads(buf[8:8 + n]))
    hb = json.dumps(h, separators=(",", ":")).encode()
    assert len(hb) <= n
    write_bytes(path, buf[:8] + hb + b" " * (n - len(hb)) + buf[8 + n:])


def write_broken(out, rng):
    d = os.path.join(out, "broken")
    os.makedirs(d, exist_ok=True)
    dit = [t for t in dit_official(DIT) if t[0] != "blocks.1.ffn.2.bias"]
    write_safetensors(os.path.join(d, "dit_missing_tensor.safetensors"),
                      tensors(dit, "BF16", rng))
    dit = [(n, (s[0], s[1] + 1) if n == "blocks.1.cross_attn.k.weight" else s)
           for n, s in dit_official(DIT)]
    write_safetensors(os.path.join(d, "dit_wrong_shape.safetensors"),
                      tensors(dit, "BF16", rng))
    dit = [(n, "I32", s, np.arange(s[0], dtype="<i4").tobytes())
           if n == "head.head.bias" else (n, dt, s, b)
           for n, dt, s, b in tensors(dit_official(DIT), "BF16", rng)]
    write_safetensors(os.path.join(d, "dit_wrong_dtype.safetensors"), dit)

    t5 = tensors(t5_official(T5), "BF16", rng)
    good = os.path.join(d, "t5_truncated.safetensors")
    write_safetensors(good, t5)
    with open(good, "rb") as f:
        buf = f.read()
    write_bytes(good, buf[:-10])
    for name, lie in (("t5_overlap", lambda b, e: (b - 8, e - 8)),
                      ("t5_past_end", lambda b, e: (b + 16, e + 16))):
        path = os.path.join(d, name + ".safetensors")
        write_safetensors(path, t5)

        def fn(h, lie=lie):
            last = max((k for k in h if k != "__metadata__"),
                       key=lambda k: h[k]["data_offsets"][0])
            h[last]["data_offsets"] = list(lie(*h[last]["data_offsets"]))
            return h
        rewrite_header(path, fn)

    # Comfy's legacy scaled fp8: F8_E4M3 weights, an F32 scale_weight per
    # layer, the scaled_fp8 marker; norms and biases stay 16-bit
    fp8 = []
    for name, shape in t5_official(T5):
        hf = t5_hf(name)
        if len(shape) == 2 and name != "token_embedding.weight" and "pos_" not in name:
            n = int(np.prod(shape))
            fp8.append((hf, "F8_E4M3", shape, rng.bytes(n)))
            fp8.append((hf[:-len("weight")] + "scale_weight", "F32", (),
                        np.float32(0.01).tobytes()))
        else:
            fp8 += tensors([(name, shape)], "F16", rng, rename=t5_hf)
    fp8.append(("scaled_fp8", "F8_E4M3", (0,), b""))
    write_safetensors(os.path.join(d, "t5_fp8.safetensors"), fp8)
    # a valid umT5 of another width than the DiT reads
    write_safetensors(os.path.join(d, "t5_width12.safetensors"),
                      tensors(t5_official(dict(T5, dim=12)), "BF16", rng))


def write_fixtures(outdir):
    rng = np.random.default_rng(SEED)
    sp = spiece()
    write_official(outdir, rng, sp)
    write_comfy(outdir, rng, sp)
    write_diffusers(outdir, rng, sp)
    write_broken(outdir, rng)


if __name__ == "__main__":
    write_fixtures(sys.argv[1] if len(sys.argv) > 1 else "tests/fixtures/wan/files")
