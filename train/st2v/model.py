# SPDX-License-Identifier: LGPL-2.1-or-later
"""The whole st2v model: St2vModel(config) with submodules text, dit, vae,
so that state_dict() keys are exactly the tensor names of the file format.
Also: the reference random initialisation, latent normalisation (section 7)
and loading / saving model files."""

import json

import torch
import torch.nn as nn

from . import safetensors_io
from .config import derived, to_json
from .dit import DiT
from .textenc import TextEncoder
from .vae import VAE


class St2vModel(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.d = derived(config)
        self.config = config
        self.text = TextEncoder(config)
        self.dit = DiT(config)
        self.vae = VAE(config)
        v = config["vae"]
        self.register_buffer("latent_mean", torch.tensor(v["latent_mean"], dtype=torch.float32),
                             persistent=False)
        self.register_buffer("latent_std", torch.tensor(v["latent_std"], dtype=torch.float32),
                             persistent=False)

    # section 7; z (B, Cz, T, H, W)
    def normalize(self, z):
        m, s = self.latent_mean.to(z.dtype), self.latent_std.to(z.dtype)
        return (z - m[:, None, None, None]) / s[:, None, None, None]

    def denormalize(self, zn):
        m, s = self.latent_mean.to(zn.dtype), self.latent_std.to(zn.dtype)
        return zn * s[:, None, None, None] + m[:, None, None, None]


def init_random(model, seed):
    """The reference random initialisation, independent of module order:
    parameters in sorted name order from one generator; linear and conv
    weights N(0, 1/fan_in), biases N(0, 0.1^2), norm weights 1 + N(0, 0.1^2),
    embeddings N(0, 1)."""
    g = torch.Generator().manual_seed(seed)
    params = dict(model.named_parameters())
    with torch.no_grad():
        for name in sorted(params):
            p = params[name]
            r = torch.randn(p.shape, generator=g, dtype=torch.float32)
            leaf = name.rsplit(".", 1)[-1]
            if leaf in ("tok_emb", "pos_emb"):
                p.copy_(r)
            elif leaf == "bias":
                p.copy_(0.1 * r)
            elif "norm" in name:
                p.copy_(1.0 + 0.1 * r)
            else:
                fan_in = 1
                for s in p.shape[1:]:
                    fan_in *= s
                p.copy_(r / fan_in ** 0.5)


def metadata(config):
    return {"format": "st2v", "st2v_config": to_json(config)}


def save_model(path, model, dtype="F32"):
    """dtype: "F32", "F16", "BF16" for every tensor, or a dict {name: dtype}."""
    sd = model.state_dict()
    dts = dtype if isinstance(dtype, dict) else {k: dtype for k in sd}
    safetensors_io.save(path, sd, metadata(model.config), dts)


def load_model(path):
    tensors, meta, _ = safetensors_io.load(path)
    if meta.get("format") != "st2v":
        raise ValueError("not an st2v file")
    config = json.loads(meta["st2v_config"])
    model = St2vModel(config)
    model.load_state_dict(tensors, strict=True)
    return model
