#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Wan2.1 text to video end to end, the PyTorch reference of what
st2v_model_load + st2v_generator_* do with a Wan folder (core/wan/
family.c, core/generator.c, core/guidance.c, core/sampler.c), built from
the part references of this folder:

    ids      = sentencepiece(clean(prompt))[:text_len - 1] + [EOS], clean
               = spm_fixtures.clean: Wan's clean='whitespace' as spm.c
               implements it
    ctx      = umT5(ids)                 (n, text_dim), real rows (umt5.py)
    x        = normals 0.. of Philox (seed, stream 0) in (Cz, T, Hl, Wl)
               order (st2v/rng.py; the generator's first chunk; later
               chunks: see WanPipeline.latents)
    sample   = Wan's UniPC (sampler.py, schedule "wan"), each model call
               v = v_neg + cfg (v_pos - v_neg), v_* = DiT(x, timestep,
               ctx_*) (dit.py; the timestep is the schedule's int64 one)
               and ctx_neg from the negative prompt, Wan's Chinese default
               when none is given (or a blank one)
    frames   = the VAE decoder streamed one latent frame at a time (vae.py;
               1 frame, then 4), then Wan's byte mapping (cache_video,
               which the generator follows for this family): clamp to
               [-1, 1], (v + 1) / 2 * 255 in float32, truncated

Everything runs in float64 from the weights as stored. Past 81 frames (21
latent frames) the video continues chunk by chunk as the generator and
family.c make it (WanPipeline.latents, context_model).

    /usr/bin/python3 train/wan/pipeline.py FOLDER "prompt" [W H FRAMES STEPS]
        # writes nothing; prints the frames' statistics
"""

import json
import os
import sys

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
if os.path.dirname(HERE) not in sys.path:
    sys.path.insert(0, os.path.dirname(HERE))

from st2v import rng, safetensors_io  # noqa: E402
from wan import dit as wdit  # noqa: E402
from wan import sampler as wsampler  # noqa: E402
from wan import umt5 as wumt5  # noqa: E402
from wan import vae as wvae  # noqa: E402
from wan.spm_fixtures import clean  # noqa: E402

# wan/configs/shared_config.py sample_neg_prompt (family.c's copy).
DEFAULT_NEGATIVE = (
    "色调艳丽，过曝，静态，细节模糊不清，字幕，风格，作品，画作，画面，静止，"
    "整体发灰，最差质量，低质量，JPEG压缩残留，丑陋的，残缺的，多余的手指，"
    "画得不好的手部，画得不好的脸部，畸形的，毁容的，形态畸形的肢体，手指融合，"
    "静止不动的画面，杂乱的背景，三条腿，背景人很多，倒着走")

# The official file names of a Wan2.1-T2V folder.
DIT_FILE = "diffusion_pytorch_model.safetensors"
DIT_CONFIG = "config.json"
VAE_FILE = "Wan2.1_VAE.safetensors"
T5_FILE = "models_t5_umt5-xxl-enc-bf16.safetensors"
SPIECE = os.path.join("google", "umt5-xxl", "spiece.model")

MAX_TOKENS = 512        # umT5's window: 511 pieces and EOS
EOS = 1
WINDOW = 21             # latent frames a chunk samples at once (family.c)
CONTEXT = 2             # latent frames carried into the next chunk
CONTEXT_SEED = 0x57414E  # the noise of the context frames ("WAN")
SPATIAL = 8             # pixels per latent cell


def umt5_config(t):
    """The encoder's config from its tensors, as umt5.c reads it."""
    heads = t["blocks.0.pos_embedding.embedding.weight"].shape[1]
    inner, dim = t["blocks.0.attn.q.weight"].shape
    layers = 1 + max(int(n.split(".")[1]) for n in t if n.startswith("blocks."))
    return dict(vocab=t["token_embedding.weight"].shape[0], dim=dim, heads=heads,
                head_dim=inner // heads, ffn=t["blocks.0.ffn.fc1.weight"].shape[0],
                layers=layers, buckets=t["blocks.0.pos_embedding.embedding.weight"].shape[0],
                max_dist=128)


def dit_config(c):
    """WanModel's config.json -> dit.py's config."""
    return dict(dim=c["dim"], ffn_dim=c["ffn_dim"], num_heads=c["num_heads"],
                num_layers=c["num_layers"], in_dim=c["in_dim"], out_dim=c["out_dim"],
                text_dim=c["text_dim"], freq_dim=c["freq_dim"], text_len=c["text_len"],
                patch=list(c.get("patch_size", [1, 2, 2])), eps=c.get("eps", 1e-6))


def vae_config(t):
    """_video_vae's config with z_dim and dim from the tensors (what
    files.c does with an official Wan2.1_VAE file)."""
    return dict(wvae.WAN21_VAE, z_dim=t["conv2.weight"].shape[0],
                dim=t["decoder.head.2.weight"].shape[1])


class WanPipeline:
    """A Wan2.1 folder in the official layout, every part in float64."""

    def __init__(self, folder):
        import sentencepiece as spm
        self.sp = spm.SentencePieceProcessor(model_file=os.path.join(folder, SPIECE))
        t, _, _ = safetensors_io.load(os.path.join(folder, T5_FILE))
        self.t5 = wumt5.UMT5Encoder(umt5_config(t))
        self.t5.load_state_dict(t)
        self.t5 = self.t5.double().eval()
        with open(os.path.join(folder, DIT_CONFIG)) as f:
            self.dit = wdit.load(os.path.join(folder, DIT_FILE), dit_config(json.load(f)))
        t, _, _ = safetensors_io.load(os.path.join(folder, VAE_FILE))
        self.vae = wvae.load(os.path.join(folder, VAE_FILE), vae_config(t))

    # --------------------------------------------------------- text

    def tokenize(self, text):
        """Wan's cleaning, the pieces cut to text_len - 1 (511), EOS: the
        tokenizer pads and truncates to the config's text_len, which the
        DiT pads its context to as well."""
        n = min(MAX_TOKENS, self.dit.cfg["text_len"])
        return self.sp.encode(clean(text))[:n - 1] + [EOS]

    def encode(self, text):
        """-> (n, text_dim) float64: umT5 on the real tokens only (the rows
        Wan keeps of its padded, masked run; umt5.py shows they are equal)."""
        with torch.no_grad():
            return self.t5(torch.tensor([self.tokenize(text)], dtype=torch.long))[0]

    # ------------------------------------------------------ sampling

    def velocity(self, pos, neg, cfg):
        """The sampler's model: x (Cz, T, Hl, Wl) float64 numpy, model time
        tm (timestep / 1000) -> the guided velocity (numpy)."""
        def model(x, tm, i):
            ts = float(round(tm * 1000.0))          # the int64 timestep
            xt = torch.from_numpy(np.asarray(x, dtype=np.float64))
            with torch.no_grad():
                vp = self.dit(xt, ts, pos)
                if cfg == 1.0:
                    return vp.numpy()
                vn = self.dit(xt, ts, neg)
            return (vn + cfg * (vp - vn)).numpy()
        return model

    def context_model(self, model, ctx):
        """The model of a later chunk's new frames: the window is the n
        clean context frames ctx (Cz, n, Hl, Wl), noised to the current
        noise level s = model time with noise of their own (context frame
        j: normals 0.. of Philox (CONTEXT_SEED, stream j), fixed per
        window; family.c wan_velocity), then the new frames; the velocity
        of the new frames only (the sampler holds the context)."""
        Cz, n, Hl, Wl = ctx.shape
        e = np.stack([rng.normals(Cz * Hl * Wl, CONTEXT_SEED, j).reshape(Cz, Hl, Wl)
                      for j in range(n)], 1).astype(np.float64)

        def m(x, tm, i):
            window = np.concatenate([(1.0 - tm) * ctx + tm * e, x], 1)
            return model(window, tm, i)[:, n:]
        return m

    def latents(self, prompt, negative, width, height, frames, steps, cfg, shift,
                seed, sampler="unipc"):
        """The sampled (normalised) latents (Cz, T, Hl, Wl) of the whole
        video, float64 numpy, chunk by chunk as the generator makes them:
        chunk 0 the first WINDOW latent frames; each later chunk starts
        with the last CONTEXT latent frames of the one before and adds
        WINDOW - CONTEXT new ones (fewer at the end). The new frames of
        chunk c start as the normals 0.. of Philox (seed, stream c) in
        (Cz, new, Hl, Wl) order."""
        total = 1 + (frames - 1 + 3) // 4
        Hl, Wl = height // SPATIAL, width // SPATIAL
        Cz = self.dit.cfg["in_dim"]
        if not negative or not negative.strip():
            negative = DEFAULT_NEGATIVE
        pos, neg = self.encode(prompt), self.encode(negative)
        model = self.velocity(pos, neg, cfg)
        done, chunk, ctx, out = 0, 0, None, []
        while done < total:
            n_new = min(WINDOW if chunk == 0 else WINDOW - CONTEXT, total - done)
            x0 = rng.normals(Cz * n_new * Hl * Wl, seed, chunk).reshape(Cz, n_new, Hl, Wl)
            m = model if ctx is None else self.context_model(model, ctx)
            new = wsampler.sample(sampler, m, x0.astype(np.float64), "wan", steps, shift)[-1]
            window = new if ctx is None else np.concatenate([ctx, new], 1)
            ctx = window[:, -CONTEXT:]
            out.append(new)
            done, chunk = done + n_new, chunk + 1
        return np.concatenate(out, 1)

    # ------------------------------------------------------ decoding

    def decode(self, lat):
        """(Cz, T, Hl, Wl) normalised -> (frames, 3, H, W) float64, not
        clamped, streamed one latent frame at a time."""
        st = self.vae.new_state()
        out = []
        with torch.no_grad():
            z = torch.from_numpy(np.asarray(lat, dtype=np.float64))
            for t in range(z.shape[1]):
                f = self.vae.decode_frame(st, z[None, :, t])[0]     # (3, n, H, W)
                out.append(f.permute(1, 0, 2, 3))
        return torch.cat(out).numpy()

    def generate(self, prompt, negative="", width=48, height=32, frames=9, steps=4,
                 cfg=5.0, shift=5.0, seed=0, sampler="unipc"):
        """-> (frames (N, H, W, 3) uint8, latent, float frames (N, 3, H, W))."""
        lat = self.latents(prompt, negative, width, height, frames, steps, cfg, shift,
                           seed, sampler)
        rgb = self.decode(lat)[:frames]
        return to_u8(rgb).transpose(0, 2, 3, 1).copy(), lat, rgb


def to_u8(v):
    """Wan's cache_video mapping, as generator.c's rgb_to_u8_truncated:
    clamp, (v + 1) / 2 * 255 in float32, truncated; NaN black."""
    x = np.asarray(v, dtype=np.float64).astype(np.float32)
    x = np.where(np.isnan(x), np.float32(-1), np.clip(x, -1, 1)).astype(np.float32)
    return ((x + np.float32(1)) / np.float32(2) * np.float32(255)).astype(np.uint8)


if __name__ == "__main__":
    if len(sys.argv) not in (3, 7):
        sys.exit(__doc__.split("\n\n")[-1])
    torch.set_num_threads(1)
    pipe = WanPipeline(sys.argv[1])
    a = [int(v) for v in sys.argv[3:]] if len(sys.argv) == 7 else [48, 32, 9, 4]
    u8, lat, rgb = pipe.generate(sys.argv[2], width=a[0], height=a[1], frames=a[2],
                                 steps=a[3])
    print("latent std %.3f, rgb mean %.3f std %.3f, saturated %.1f %%, bytes mean %.1f"
          % (lat.std(), rgb.mean(), rgb.std(), 100 * np.mean(np.abs(rgb) >= 1),
             u8.mean()))
