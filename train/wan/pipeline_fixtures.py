#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""The end-to-end golden of the Wan2.1 family (tests/test_wan_pipeline.c):
a complete, runnable, tiny Wan2.1-T2V folder in the official layout, and
what the reference pipeline (pipeline.py) makes of it through the
generator's path. Deterministic: the same bytes on every run.

    /usr/bin/python3 train/wan/pipeline_fixtures.py tests/fixtures/wan

writes
  tiny/       config.json, diffusion_pytorch_model.safetensors (F32, as the
              official file), Wan2.1_VAE.safetensors (BF16 as Comfy's VAE
              file, to stay small; z_dim 16, dim 3, encoder included: the
              loader checks every tensor),
              models_t5_umt5-xxl-enc-bf16.safetensors (BF16, umT5 as wide as
              the DiT's text_dim), google/umt5-xxl/spiece.model (an nmt_nfkc
              unigram model trained as spm_fixtures trains nfkc.model)
  pipeline/golden.safetensors
              per case NAME of CASES (the list, with every setting, in
              __metadata__.cases as JSON; __metadata__.default_negative is
              the reference's copy of Wan's official negative prompt):
                NAME.u8      (frames, H, W, 3) U8  the generator's bytes,
                             from frame first_frame (0 if not given) on
                NAME.latent  (16, T, Hl, Wl) F32   the sampled latent
                NAME.ids, NAME.neg_ids  F32        token ids (EOS included)
                NAME.margin  (1) F32  the smallest distance, in levels, of a
                             float pixel (v + 1) 127.5 to a rounding edge
                             n + 0.5 (a C pixel can only differ by 1 where
                             its float error exceeds this)

Weights are random (every tensor, the zero-initialised ones too) at the
part references' scales, except the VAE's output conv, scaled so that the
frames are mostly inside (-1, 1) rather than clamped.
"""

import json
import os
import sys

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
if os.path.dirname(HERE) not in sys.path:
    sys.path.insert(0, os.path.dirname(HERE))

from wan import dit as wdit  # noqa: E402
from wan import umt5 as wumt5  # noqa: E402
from wan import vae as wvae  # noqa: E402
from wan.convert import write_safetensors  # noqa: E402
from wan.pipeline import (DEFAULT_NEGATIVE, DIT_CONFIG, DIT_FILE, SPIECE,  # noqa: E402
                          T5_FILE, VAE_FILE, WanPipeline)
from wan.spm_fixtures import train as train_spm  # noqa: E402

SEED = 2210

# Tiny and asymmetric: DiT heads of 16 (RoPE 8/4/4), umT5 3 heads of 6
# (18 != 24 wide), text_dim = the umT5 width 24, Wan's text_len 512 (the
# pad rows of cross-attention as in the real model), VAE dim 3 (widths 12,
# 12, 12, 6, 3), the real stage and block counts. (dim 2, a last stage of 2
# channels, overflows vae.c's scratch: its head writes 3 channels into a
# buffer sized for the stages' widths.)
DIT = dict(dim=32, ffn_dim=48, num_heads=2, num_layers=2, in_dim=16, out_dim=16,
           text_dim=24, freq_dim=32, text_len=512, patch=[1, 2, 2], eps=1e-6)
T5 = dict(vocab=320, dim=24, heads=3, head_dim=6, ffn=40, layers=2, buckets=32,
          max_dist=128)
VAE = dict(wvae.WAN21_VAE, dim=3)
VAE_HEAD_SCALE = 0.6    # the last conv's weights: frames of std ~0.4

# The cases: width x height, frames (4n + 1), steps; the rest defaults of
# family.c (UniPC, cfg 5, shift 5) unless given.
CASES = [
    dict(name="cs_negative", prompt="Žluťoučký kůň běží po louce při západu slunce",
         negative_prompt="rozmazané, statické, tmavé", width=48, height=32, frames=9,
         steps=4, cfg=5.0, shift=5.0, sampler="unipc", seed=2101),
    dict(name="en_default_negative", prompt="a red ball moves right on a black background",
         negative_prompt="", width=48, height=32, frames=9, steps=4, cfg=5.0, shift=5.0,
         sampler="unipc", seed=77),
    # two chunks: 85 frames = 22 latent frames, a window of 21 and one of
    # 2 context frames + 1 new; the golden keeps frames 69.. (the last 3
    # latent frames of chunk 0 and chunk 1's)
    dict(name="two_chunks", prompt="dva zelené čtverce na bílém pozadí",
         negative_prompt="", width=32, height=16, frames=85, steps=3, cfg=4.0,
         shift=3.0, sampler="unipc", seed=5, first_frame=69),
]


def spiece():
    """nfkc.model of spm_fixtures: nmt_nfkc as umT5's, T5's special ids."""
    return train_spm(320, normalization_rule_name="nmt_nfkc", pad_id=0, eos_id=1,
                     unk_id=2, bos_id=-1)


def write_json(path, obj):
    with open(path, "w") as f:
        json.dump(obj, f, indent=1, sort_keys=True)
        f.write("\n")


def write_folder(d):
    os.makedirs(os.path.join(d, os.path.dirname(SPIECE)), exist_ok=True)
    c = DIT
    write_json(os.path.join(d, DIT_CONFIG), {
        "_class_name": "WanModel", "_diffusers_version": "0.30.0", "dim": c["dim"],
        "eps": c["eps"], "ffn_dim": c["ffn_dim"], "freq_dim": c["freq_dim"],
        "in_dim": c["in_dim"], "model_type": "t2v", "num_heads": c["num_heads"],
        "num_layers": c["num_layers"], "out_dim": c["out_dim"],
        "text_len": c["text_len"], "text_dim": c["text_dim"]})
    dit = wdit.WanDiT(DIT)
    wdit.init_random(dit, SEED)
    wdit.save(dit, os.path.join(d, DIT_FILE), "F32")
    vae = wvae.WanVAE(VAE)
    wvae.init_random(vae, SEED + 1)
    with torch.no_grad():
        vae.decoder.head[2].weight.mul_(VAE_HEAD_SCALE)
    wvae.save(vae, os.path.join(d, VAE_FILE), "BF16")
    t5 = wumt5.UMT5Encoder(T5)
    wumt5.init_random(t5, SEED + 2)
    wumt5.save(t5, os.path.join(d, T5_FILE), "BF16")
    with open(os.path.join(d, SPIECE), "wb") as f:
        f.write(spiece())


def f32(a):
    return ("F32", tuple(np.shape(a)),
            np.ascontiguousarray(a, dtype="<f4").tobytes())


def write_golden(folder, out):
    os.makedirs(out, exist_ok=True)
    pipe = WanPipeline(folder)
    tensors, meta_cases = [], []
    for c in CASES:
        u8, lat, rgb = pipe.generate(c["prompt"], c["negative_prompt"], c["width"],
                                     c["height"], c["frames"], c["steps"], c["cfg"],
                                     c["shift"], c["seed"], c["sampler"])
        p = (rgb + 1.0) * 127.5
        inside = (p > 0.5) & (p < 254.5)
        margin = np.min(np.abs(p[inside] - np.floor(p[inside]) - 0.5))
        u8 = u8[c.get("first_frame", 0):]
        n = c["name"]
        neg = c["negative_prompt"] if c["negative_prompt"].strip() else DEFAULT_NEGATIVE
        tensors += [(n + ".u8", "U8", u8.shape, u8.tobytes()),
                    (n + ".latent",) + f32(lat),
                    (n + ".ids",) + f32(pipe.tokenize(c["prompt"])),
                    (n + ".neg_ids",) + f32(pipe.tokenize(neg)),
                    (n + ".margin",) + f32([margin])]
        sat = float(np.mean((u8 == 0) | (u8 == 255)))
        meta_cases.append(dict(c, saturated=round(sat, 4)))
        print("  %s: latent std %.3f, frames mean %.3f std %.3f, %.1f %% at 0 or 255, "
              "margin %.2g" % (n, lat.std(), rgb.mean(), rgb.std(), 100 * sat, margin))
    meta = {"generator": "train/wan/pipeline_fixtures.py",
            "precision": "float64 from the weights as stored; frames as the generator's "
                         "bytes",
            "cases": json.dumps(meta_cases, ensure_ascii=False),
            "default_negative": DEFAULT_NEGATIVE}
    write_safetensors(os.path.join(out, "golden.safetensors"), tensors, meta)


def write_fixtures(outdir):
    """outdir/tiny (the folder) and outdir/pipeline (the golden)."""
    torch.set_num_threads(1)
    tiny = os.path.join(outdir, "tiny")
    write_folder(tiny)
    write_golden(tiny, os.path.join(outdir, "pipeline"))


if __name__ == "__main__":
    write_fixtures(sys.argv[1] if len(sys.argv) > 1 else "tests/fixtures/wan")
