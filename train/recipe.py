# SPDX-License-Identifier: LGPL-2.1-or-later
"""The recipe of the shipped default model: its architecture (sized for the
real-time budget: at most 100 GFLOP per second of video at default settings,
see core/st2v/cost.c and `make bench`), where training runs keep their state, and
the vocabulary built from the world's captions.

Everything the training scripts share lives here, so a change of recipe is
one edit."""

import os

import numpy as np
import torch

from train.st2v.config import compression
from train.st2v.model import load_model
from train.st2v.tokenizer import lowercase_bytes, split_words
from train.st2v.vae import VAE

# Training state (checkpoints, latent caches) lives outside the repository:
# it is large and rebuilt by the scripts; only the exported model is shipped.
RUN_DIR = os.environ.get("ST2V_RUN_DIR", "/var/tmp/st2v-train")

MODEL_NAME = "st2v-world-v1"


def _cpu_computes_bf16():
    """True where the CPU has bfloat16 arithmetic (AVX512-BF16 or AMX)."""
    try:
        with open("/proc/cpuinfo") as f:
            flags = f.read()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


# bfloat16 autocast only where the CPU computes it: on an AVX512-BF16 CPU it
# made a DiT step about 5.8x faster than float32, but on a CPU without it
# (AVX2 only) torch emulates it and encoding a clip took 7.0 s against 1.8 s
# in float32. ST2V_BF16=1 or 0 overrides the detection.
_BF16_ENV = os.environ.get("ST2V_BF16", "")
if _BF16_ENV not in ("", "0", "1"):
    raise SystemExit(f"ST2V_BF16 must be 0 or 1, got {_BF16_ENV!r}")
BF16 = _cpu_computes_bf16() if _BF16_ENV == "" else _BF16_ENV == "1"


def autocast(device="cpu"):
    """The training scripts' mixed precision: bfloat16 autocast on a GPU and
    where the CPU computes bfloat16, float32 elsewhere (BF16)."""
    if torch.device(device).type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return torch.autocast("cpu", dtype=torch.bfloat16, enabled=BF16)


def device(name):
    """The torch device a training script's --device names: "cpu" or
    "cuda" (a GPU, where one is at hand; the CPU path is what CI tests)."""
    if name not in ("cpu", "cuda"):
        raise SystemExit(f"--device must be cpu or cuda, got {name!r}")
    if name == "cuda" and not torch.cuda.is_available():
        raise SystemExit("--device cuda: this torch sees no GPU")
    return torch.device(name)


# The autoencoders, by name. v1 is the shipped model's. v2 is the next one's
# (trained, no DiT yet): the shapes and motion that v1 loses (docs/training.md,
# "The autoencoder is the ceiling") need more than v1's 8 latent channels and
# its 16-channel encoder. The encoder costs nothing at inference, so v2's is 4
# times wider (2.3M parameters, 128/64/32/32) and its decoder only 2 times
# at half resolution; 16 latent channels, the common choice of image and
# video latents at 8x8 pixels.
AUTOENCODERS = {
    "v1": {"z_channels": 8, "channels": [64, 32, 16, 16], "res_blocks": 1,
           "time_up": [1, 1, 0], "space_up": [1, 1, 1], "kt": [2, 2, 1, 1]},
    "v2": {"z_channels": 16, "channels": [128, 64, 32, 32], "dec_channels": [64, 32, 32, 16],
           "res_blocks": 1, "time_up": [1, 1, 0], "space_up": [1, 1, 1], "kt": [2, 2, 1, 1]},
    # v3 compresses less: 4x4 pixels and 2 frames per latent cell (not 8x8
    # and 4), 4 channels, so 24x against v1's 96x; a DiT with 2x4x4 patches
    # on it has v1's token count (and cost), its patch embedding 128 values.
    "v3": {"z_channels": 4, "channels": [64, 32, 16],
           "res_blocks": 1, "time_up": [1, 0], "space_up": [1, 1], "kt": [2, 2, 1]},
}


def vae_architecture(name="v1"):
    """The "vae" config section of autoencoder `name` (AUTOENCODERS), with
    neutral latent statistics (a DiT's training writes the real ones)."""
    if name not in AUTOENCODERS:
        raise SystemExit(f"no autoencoder {name!r} in the recipe (have {', '.join(AUTOENCODERS)})")
    v = dict(AUTOENCODERS[name])
    v["latent_mean"], v["latent_std"] = [0.0] * v["z_channels"], [1.0] * v["z_channels"]
    return v


# What one DiT token covers, whatever the autoencoder: 4 video frames and
# 16x16 pixels. The patch is what makes up the rest of the autoencoder's
# compression, so the token count (and the DiT's cost) stays that of v1.
TOKEN_FRAMES, TOKEN_PIXELS = 4, 16
WINDOW_FRAMES, CONTEXT_FRAMES = 16, 4   # video frames of a sampling window (1 s), of its context


def vae_section(vae):
    """An autoencoder's "vae" config section, from its name in AUTOENCODERS
    or as given (a section)."""
    return vae_architecture(vae) if isinstance(vae, str) else dict(vae)


def dit_geometry(vae="v1", frames=TOKEN_FRAMES, pixels=TOKEN_PIXELS,
                 window=WINDOW_FRAMES, context=CONTEXT_FRAMES):
    """(dit.patch, sampler.window, sampler.context) of the DiT on autoencoder
    `vae` (a name or a "vae" section) whose tokens are `frames` video frames
    x `pixels` squared, windows `window` frames and context `context` frames
    (the recipe's by default)."""
    ft, s = compression(vae_section(vae))
    if any(f % ft for f in (frames, window, context)) or pixels % s:
        raise SystemExit(f"an autoencoder of {ft} frames and {s} pixels per latent cell does not "
                         f"tile tokens of {frames} frames and {pixels} pixels, windows of {window} "
                         f"and context of {context} frames")
    return [frames // ft, pixels // s, pixels // s], window // ft, context // ft


def architecture(vae="v1"):
    """Every config key but the tokenizer pieces and latent statistics, for
    the DiT on autoencoder `vae` (a name in AUTOENCODERS or a "vae" section)."""
    patch, window, context = dit_geometry(vae)
    return {
        "format_version": 1,
        "text": {"dim": 128, "layers": 3, "heads": 4, "mlp_dim": 512},
        "dit": {"dim": 192, "layers": 8, "heads": 4, "mlp_dim": 768,
                "patch": patch, "rope_dims": [16, 16, 16],
                "rope_theta": 10000.0, "freq_dim": 256, "text_pool": True},
        "vae": vae_section(vae),
        "video": {"fps": 16, "sizes": [[128, 128], [224, 128]]},
        # the defaults of inference; train_dit.py --export writes these
        "sampler": {"steps": 8, "cfg": 4.0, "sampler": "dpm++2m", "shift": 3.0,
                    "window": window, "context": context},
    }


def token_geometry(vae="v1"):
    """(video frames per latent frame, pixels per side of a DiT token) on
    autoencoder `vae`: what one label of the latent cache covers (a label
    per latent frame; a DiT whose patch spans pt latent frames takes every
    pt-th)."""
    return compression(vae_section(vae))[0], TOKEN_PIXELS


def load_vae(path):
    """(autoencoder in eval mode, its training step) from a train_vae.py
    checkpoint or from a model file (.safetensors, step from its
    provenance). The shipped model's encoder is stage 1's, since the decoder
    fine-tune froze it, so its latents continue the shipped DiT."""
    if path.endswith(".safetensors"):
        m = load_model(path)
        vae, step = m.vae, m.config.get("provenance", {}).get("vae_steps", 0)
    else:
        ck = torch.load(path)
        vae = VAE({"vae": ck.get("vae_config") or vae_architecture("v1")})
        vae.load_state_dict(ck["vae"])
        step = ck["step"]
    return vae.eval(), step


def build_pieces(captions, min_count=2):
    """Tokenizer pieces: every word seen at least min_count times, with the
    word-start mark, most frequent first (ties by text, so the result is
    deterministic). Rare words fall back to bytes."""
    counts = {}
    for c in captions:
        for w in split_words(lowercase_bytes(c.encode("utf-8"))):
            w = w.decode("utf-8", "replace")
            counts[w] = counts.get(w, 0) + 1
    keep = [w for w, n in counts.items() if n >= min_count]
    keep.sort(key=lambda w: (-counts[w], w))
    return ["\u2581" + w for w in keep]


def lr_scale(step, warm_from, warmup, left=0, cooldown=0):
    """Warm-up, stable, decay: linear from 0 over `warmup` steps after
    warm_from (a resume warms up again: fresh optimiser moments), then 1,
    then linear down to 0 over the last `cooldown` of the run while `left`
    of it remain (steps, or seconds where the steps a sitting makes are not
    known ahead)."""
    scale = min(1.0, (step - warm_from + 1) / warmup)
    if cooldown:
        scale *= min(1.0, max(0.0, left) / cooldown)
    return scale


def psnr(a, b):
    """PSNR in dB of two uint8 (or 0..255 float) arrays."""
    mse = np.mean((np.asarray(a, np.float64) - np.asarray(b, np.float64)) ** 2)
    return 99.0 if mse == 0 else 10 * np.log10(255.0 ** 2 / mse)
