# SPDX-License-Identifier: LGPL-2.1-or-later
"""The Wan2.1 VAE decoder, a PyTorch reference written from the architecture
(../shared/WAN-NOTES.md section 2.3), and the golden fixtures of the C
decoder (core/wan/vae.c). Decoder only: the encoder's modules exist so
that the state dict has all of Wan2.1_VAE's tensor names and shapes, but
nothing here runs them.

Dimension key: B batch, Z = z_dim (16), C a width, T frames, H x W pixels.
What WanVAE.decode computes for latents z (B, Z, T, Hl, Wl):

    x = z * std + mean                      # the 16 per-channel constants
    x = conv2(x)                            # 1x1x1, Z -> Z
    for each latent frame t (a "chunk"; frames leave as they are made):
        h = decoder.conv1(x_t)              # causal 3x3x3, Z -> C0
        h = middle: ResBlock, AttentionBlock (per frame, one head), ResBlock
        for each stage: num_res_blocks + 1 ResBlocks, then (but after the
            last) a Resample: upsample3d (time_conv, 2x in time) or
            upsample2d, then nearest 2x in space and a 3x3 conv C -> C/2
        h = head: RMS_norm, SiLU, causal 3x3x3 conv -> 3
        frames_t = clamp(h, -1, 1)          # 1 frame for t = 0, 4 after

- RMS_norm: F.normalize over channels (L2, eps 1e-12) * sqrt(C) * gamma.
- ResBlock(cin, cout): RMS_norm, SiLU, CausalConv3d 3^3, RMS_norm, SiLU,
  CausalConv3d 3^3, plus x (or a 1x1x1 conv of x when cin != cout).
- CausalConv3d: zero padding 1 in space; in time every conv sees the 2
  frames before its input (zeros before the first frame of the clip).
  Streaming, each 3-tap conv keeps the last 2 frames of its input: the
  "cache" (vae.py's feat_cache, 33 slots at the real config, the shortcut's
  never used). Those caches are the only state carried between chunks.
- AttentionBlock: per frame, RMS_norm, to_qkv (1x1 conv C -> 3C), softmax
  attention over the H*W pixels with scale 1/sqrt(C), proj (1x1), + x.
- upsample3d's time_conv: a causal (3,1,1) conv C -> 2C whose halves
  interleave in time (frame j gives frames 2j, 2j+1). On chunk 0 it does
  not run at all (vae.py marks its cache 'Rep'): the first latent frame
  stays one frame through both temporal upsamplings. From chunk 1 on it
  runs causally with zeros before chunk 1's first frame ('Rep' = zero
  padding, not the cached frame of chunk 0).

Names are the official ones (Wan2.1_VAE.pth; core/wan/names.c lists them):
conv2, decoder.conv1, decoder.middle.{0,1,2}, decoder.upsamples.K
(.residual.{0,2,3,6}, .shortcut, .resample.1, .time_conv),
decoder.head.{0,2}; norms are `.gamma`.

The mapping Wan saves video with (utils.cache_video): clamp to [-1, 1],
(x + 1) / 2 * 255 in float32, truncated to uint8.

    /usr/bin/python3 train/wan/vae.py OUTDIR          # write the fixtures
    /usr/bin/python3 train/wan/vae.py --full FILE     # random f32 weights
        # of the real size (all 194 tensors, 0.5 GB), to time the C decoder
"""

import json
import math
import os
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
if os.path.dirname(HERE) not in sys.path:
    sys.path.insert(0, os.path.dirname(HERE))

from st2v import safetensors_io  # noqa: E402

# WanVAE.__init__'s latent statistics (z_dim 16).
LATENT_MEAN = [-0.7571, -0.7089, -0.9113, 0.1075, -0.1745, 0.9653, -0.1517, 1.5508,
               0.4134, -0.0715, 0.5517, -0.3632, -0.1922, -0.9497, 0.2503, -0.2921]
LATENT_STD = [2.8184, 1.4541, 2.3275, 2.6558, 1.2196, 1.7708, 2.6052, 2.0743,
              3.2687, 2.1526, 2.8652, 1.5579, 1.6382, 1.1253, 2.8251, 1.9160]

# _video_vae's config (z_dim 16), as wan_vae_config_default() in names.c.
WAN21_VAE = dict(dim=96, z_dim=16, dim_mult=[1, 2, 4, 4], num_res_blocks=2,
                 temperal_downsample=[False, True, True])
CACHE_T = 2             # frames a 3-tap causal conv keeps


# ============================================================== layers

class RMSNorm(nn.Module):
    """F.normalize over channels * sqrt(C) * gamma; gamma (C,1,1,1) over
    video (images=False) or (C,1,1) over single frames."""

    def __init__(self, dim, images):
        super().__init__()
        self.scale = dim ** 0.5
        self.gamma = nn.Parameter(torch.ones((dim, 1, 1) if images else (dim, 1, 1, 1)))

    def forward(self, x):
        return F.normalize(x, dim=1) * self.scale * self.gamma


class CausalConv3d(nn.Conv3d):
    """kernel (kt, kh, kw), zero padding (kh-1)/2, (kw-1)/2 in space; in
    time the caller passes the kt-1 frames before x (prev)."""

    def __init__(self, cin, cout, k):
        super().__init__(cin, cout, k, padding=0)

    def forward(self, x, prev=None):
        kt, kh, kw = self.kernel_size
        if kt > 1:
            x = torch.cat([prev, x], dim=2)                     # (B, C, kt-1+T, H, W)
        return F.conv3d(x, self.weight, self.bias, padding=(0, kh // 2, kw // 2))


def causal(conv, x, cache, key):
    """conv over x (B, C, T, H, W) with the cache of slot key (its last
    CACHE_T input frames, zeros before the clip), which it then updates."""
    prev = cache.get(key)
    if prev is None:
        prev = x.new_zeros(x.shape[:2] + (CACHE_T,) + x.shape[3:])
    y = conv(x, prev)
    cache[key] = torch.cat([prev, x], dim=2)[:, :, -CACHE_T:].clone()
    return y


class ResidualBlock(nn.Module):
    def __init__(self, cin, cout):
        super().__init__()
        self.residual = nn.Sequential(
            RMSNorm(cin, images=False), nn.SiLU(), CausalConv3d(cin, cout, 3),
            RMSNorm(cout, images=False), nn.SiLU(), nn.Dropout(0.0),
            CausalConv3d(cout, cout, 3))
        self.shortcut = CausalConv3d(cin, cout, 1) if cin != cout else None

    def forward(self, x, cache):
        r = self.residual
        h = x if self.shortcut is None else self.shortcut(x)
        y = causal(r[2], F.silu(r[0](x)), cache, id(r[2]))
        y = causal(r[6], F.silu(r[3](y)), cache, id(r[6]))
        return y + h


class AttentionBlock(nn.Module):
    """One head over the pixels of each frame."""

    def __init__(self, dim):
        super().__init__()
        self.norm = RMSNorm(dim, images=True)
        self.to_qkv = nn.Conv2d(dim, dim * 3, 1)
        self.proj = nn.Conv2d(dim, dim, 1)

    def forward(self, x):
        b, c, t, h, w = x.shape
        f = x.permute(0, 2, 1, 3, 4).reshape(b * t, c, h, w)   # (B*T, C, H, W)
        qkv = self.to_qkv(self.norm(f)).reshape(b * t, 3 * c, h * w)
        q, k, v = qkv.transpose(1, 2).chunk(3, dim=-1)          # (B*T, HW, C)
        a = torch.softmax(q @ k.transpose(1, 2) / math.sqrt(c), dim=-1) @ v
        a = self.proj(a.transpose(1, 2).reshape(b * t, c, h, w))
        return x + a.reshape(b, t, c, h, w).permute(0, 2, 1, 3, 4)


class Resample(nn.Module):
    """upsample2d / upsample3d: (time_conv, interleave), then per frame
    nearest 2x and Conv2d(C, C/2, 3). downsample*: only the parameters
    (the encoder is not run here)."""

    def __init__(self, dim, mode):
        super().__init__()
        self.mode = mode
        if mode.startswith("upsample"):
            self.resample = nn.Sequential(nn.Upsample(scale_factor=2.0, mode="nearest"),
                                          nn.Conv2d(dim, dim // 2, 3, padding=1))
            if mode == "upsample3d":
                self.time_conv = CausalConv3d(dim, dim * 2, (3, 1, 1))
        else:
            self.resample = nn.Sequential(nn.ZeroPad2d((0, 1, 0, 1)),
                                          nn.Conv2d(dim, dim, 3, stride=2))
            if mode == "downsample3d":
                self.time_conv = CausalConv3d(dim, dim, (3, 1, 1))

    def forward(self, x, cache, chunk):
        b, c, t, h, w = x.shape
        if self.mode == "upsample3d" and chunk > 0:
            # chunk 0: vae.py marks the cache 'Rep' and skips the conv; the
            # cache stays zeros, which is its zero padding at chunk 1
            y = causal(self.time_conv, x, cache, id(self.time_conv))  # (B, 2C, T, H, W)
            x = y.reshape(b, 2, c, t, h, w).permute(0, 2, 3, 1, 4, 5).reshape(b, c, 2 * t, h, w)
            t = 2 * t
        f = x.permute(0, 2, 1, 3, 4).reshape(b * t, c, h, w)
        f = self.resample(f)                                    # (B*T, C/2, 2H, 2W)
        return f.reshape(b, t, c // 2, 2 * h, 2 * w).permute(0, 2, 1, 3, 4)


def stage_dims(cfg):
    """The decoder's widths: dims[0] after conv1, dims[i+1] of stage i."""
    m = cfg["dim_mult"]
    return [cfg["dim"] * u for u in [m[-1]] + m[::-1]]


class Decoder3d(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        dims = stage_dims(cfg)
        up = cfg["temperal_downsample"][::-1]
        self.conv1 = CausalConv3d(cfg["z_dim"], dims[0], 3)
        self.middle = nn.Sequential(ResidualBlock(dims[0], dims[0]), AttentionBlock(dims[0]),
                                    ResidualBlock(dims[0], dims[0]))
        ups = []
        for i, (cin, cout) in enumerate(zip(dims[:-1], dims[1:])):
            if i > 0:
                cin //= 2
            for _ in range(cfg["num_res_blocks"] + 1):
                ups.append(ResidualBlock(cin, cout))
                cin = cout
            if i != len(cfg["dim_mult"]) - 1:
                ups.append(Resample(cout, "upsample3d" if up[i] else "upsample2d"))
        self.upsamples = nn.Sequential(*ups)
        self.head = nn.Sequential(RMSNorm(dims[-1], images=False), nn.SiLU(),
                                  CausalConv3d(dims[-1], 3, 3))

    def forward(self, x, cache, chunk):
        """x (B, Z, 1, Hl, Wl), the conv2 output of one latent frame ->
        (B, 3, 1 or 4, 8 Hl, 8 Wl), not clamped."""
        x = causal(self.conv1, x, cache, id(self.conv1))
        x = self.middle[0](x, cache)
        x = self.middle[1](x)
        x = self.middle[2](x, cache)
        for layer in self.upsamples:
            x = layer(x, cache, chunk) if isinstance(layer, Resample) else layer(x, cache)
        return causal(self.head[2], F.silu(self.head[0](x)), cache, id(self.head[2]))


class Encoder3d(nn.Module):
    """The encoder's parameters under their official names; not run."""

    def __init__(self, cfg):
        super().__init__()
        dims = [cfg["dim"] * u for u in [1] + cfg["dim_mult"]]
        self.conv1 = CausalConv3d(3, dims[0], 3)
        downs = []
        for i, (cin, cout) in enumerate(zip(dims[:-1], dims[1:])):
            for _ in range(cfg["num_res_blocks"]):
                downs.append(ResidualBlock(cin, cout))
                cin = cout
            if i != len(cfg["dim_mult"]) - 1:
                downs.append(Resample(cout, "downsample3d" if cfg["temperal_downsample"][i]
                                      else "downsample2d"))
        self.downsamples = nn.Sequential(*downs)
        self.middle = nn.Sequential(ResidualBlock(dims[-1], dims[-1]), AttentionBlock(dims[-1]),
                                    ResidualBlock(dims[-1], dims[-1]))
        self.head = nn.Sequential(RMSNorm(dims[-1], images=False), nn.SiLU(),
                                  CausalConv3d(dims[-1], 2 * cfg["z_dim"], 3))


class WanVAE(nn.Module):
    """WanVAE_ with the official state dict; decode only."""

    def __init__(self, cfg=None):
        super().__init__()
        self.cfg = dict(WAN21_VAE if cfg is None else cfg)
        z = self.cfg["z_dim"]
        assert z == len(LATENT_MEAN), "the latent statistics are for z_dim 16"
        self.encoder = Encoder3d(self.cfg)
        self.conv1 = CausalConv3d(2 * z, 2 * z, 1)
        self.conv2 = CausalConv3d(z, z, 1)
        self.decoder = Decoder3d(self.cfg)

    # ---------------------------------------------------------- streaming

    def new_state(self):
        """A stream's state: the caches (zeros until written) and the
        number of latent frames decoded."""
        return {"cache": {}, "chunk": 0}

    def decode_frame(self, state, z_t):
        """One latent frame z_t (B, Z, Hl, Wl) -> its frames (B, 3, n, 8 Hl,
        8 Wl), n = 1 for the stream's first latent frame and 4 after, not
        clamped. Updates state."""
        mean = z_t.new_tensor(LATENT_MEAN).view(1, -1, 1, 1, 1)
        std = z_t.new_tensor(LATENT_STD).view(1, -1, 1, 1, 1)
        x = self.conv2(z_t[:, :, None] * std + mean)            # (B, Z, 1, Hl, Wl)
        out = self.decoder(x, state["cache"], state["chunk"])
        state["chunk"] += 1
        return out

    def decode(self, z, clamp=True):
        """The whole clip z (B, Z, T, Hl, Wl) -> (B, 3, 1 + 4 (T-1), 8 Hl,
        8 Wl), chunk by chunk as WanVAE_.decode does."""
        state = self.new_state()
        out = torch.cat([self.decode_frame(state, z[:, :, t]) for t in range(z.shape[2])], 2)
        return out.clamp(-1, 1) if clamp else out

    def decode_whole(self, z):
        """The same clip without chunks or caches: every layer over the
        whole sequence at once, each causal conv zero-padded in front, and
        each time_conv over all frames but the first latent frame's (which
        passes both temporal upsamplings as one frame). An independent
        check of the cache logic; not clamped."""
        mean = z.new_tensor(LATENT_MEAN).view(1, -1, 1, 1, 1)
        std = z.new_tensor(LATENT_STD).view(1, -1, 1, 1, 1)
        x = self.conv2(z * std + mean)
        d = self.decoder

        def cc(conv, x):
            return causal(conv, x, {}, 0)

        def res(blk, x):
            r = blk.residual
            h = x if blk.shortcut is None else blk.shortcut(x)
            y = cc(r[2], F.silu(r[0](x)))
            return cc(r[6], F.silu(r[3](y))) + h

        x = res(d.middle[2], d.middle[1](res(d.middle[0], cc(d.conv1, x))))
        for layer in d.upsamples:
            if not isinstance(layer, Resample):
                x = res(layer, x)
                continue
            b, c, t, h, w = x.shape
            if layer.mode == "upsample3d" and t > 1:
                y = cc(layer.time_conv, x[:, :, 1:])            # (B, 2C, T-1, H, W)
                y = y.reshape(b, 2, c, t - 1, h, w).permute(0, 2, 3, 1, 4, 5)
                x = torch.cat([x[:, :, :1], y.reshape(b, c, 2 * (t - 1), h, w)], 2)
                t = x.shape[2]
            f = layer.resample(x.permute(0, 2, 1, 3, 4).reshape(b * t, c, h, w))
            x = f.reshape(b, t, c // 2, 2 * h, 2 * w).permute(0, 2, 1, 3, 4)
        return cc(d.head[2], F.silu(d.head[0](x)))


def to_uint8(frames):
    """utils.cache_video's mapping: clamp, (x + 1) / 2 * 255 in float32,
    truncated."""
    x = frames.to(torch.float32).clamp(-1, 1)
    return ((x + 1) / 2 * 255).to(torch.uint8)


# ============================================================ weights

def init_random(model, seed):
    """Every parameter random (gammas 1 + 0.25 N, the zero-initialised
    proj too): convs N(0, 1/fan_in) so activations keep their scale, biases
    0.1 N."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in sorted(model.named_parameters()):
            r = torch.randn(p.shape, generator=g, dtype=torch.float64)
            if name.endswith(".gamma"):
                p.copy_(1.0 + 0.25 * r)
            elif name.endswith(".bias"):
                p.copy_(0.1 * r)
            else:
                p.copy_(r / math.sqrt(p[0].numel()))


def save(model, path, dtypes="F32", names=None):
    """Official names (all of them, or those in names); dtypes F32, F16,
    BF16 or {name: dtype}."""
    sd = {n: v for n, v in model.state_dict().items() if names is None or n in names}
    dt = {n: dtypes for n in sd} if isinstance(dtypes, str) else dtypes
    meta = {"generator": "train/wan/vae.py", "config": json.dumps(model.cfg, sort_keys=True)}
    safetensors_io.save(path, {n: v.to(torch.float32) for n, v in sd.items()}, meta, dt)


def load(path, cfg, dtype=torch.float64):
    """A VAE with exactly the stored weights (missing encoder tensors stay
    random: the decoder does not read them), in dtype."""
    t, _, _ = safetensors_io.load(path)
    m = WanVAE(cfg)
    missing = [n for n in m.state_dict() if n not in t]
    assert all(n.startswith("encoder.") or n.startswith("conv1.") for n in missing), missing
    m.load_state_dict(t, strict=False)
    return m.to(dtype).eval()


def decoder_names(model):
    return [n for n in model.state_dict() if not (n.startswith("encoder.") or n.startswith("conv1."))]


# ============================================================ fixtures

# Tiny and asymmetric: widths 8, 8, 8, 4, 4 (stages 1 and 3 start at half
# width, so two blocks have a shortcut), the real stage count and res-block
# count (33 cache slots), a non-square 2 x 3 latent, 4 latent frames (chunk
# 0, chunk 1 and two later chunks: 13 frames of 16 x 24).
FIXTURE_CONFIG = dict(dim=4, z_dim=16, dim_mult=[1, 1, 2, 2], num_res_blocks=2,
                      temperal_downsample=[False, True, True])
FIXTURE_LATENT = (4, 2, 3)          # T, Hl, Wl
SEED = 2122


def write_fixtures(out):
    """tests/fixtures/wan/vae/:
      f32.safetensors    the decoder's tensors (and conv2), F32
      bf16.safetensors   the same and conv1 and the encoder's conv1, BF16
                         (tensors the decoder must ignore)
      golden.safetensors
        z          (16, T, Hl, Wl)      the latents
        out        (3, 13, H, W)        f32 weights: frames before the clamp
        clamped    (3, 13, H, W)        ... after it
        u8         (3, 13, H, W)        ... as uint8 (cache_video), F32
        bf16.out   (3, 13, H, W)        bf16 weights, before the clamp
      chunk t is frames [0, 1) for t = 0 and [1 + 4 (t-1), 1 + 4 t) after;
      computed in float64 from the weights as stored, stored as F32."""
    os.makedirs(out, exist_ok=True)
    torch.set_num_threads(1)
    cfg = FIXTURE_CONFIG
    m = WanVAE(cfg)
    init_random(m, SEED)
    p32 = os.path.join(out, "f32.safetensors")
    pbf = os.path.join(out, "bf16.safetensors")
    save(m, p32, "F32", set(decoder_names(m)))
    save(m, pbf, "BF16", set(decoder_names(m)) | {n for n in m.state_dict()
                                                  if n.startswith(("conv1.", "encoder.conv1."))})
    T, hl, wl = FIXTURE_LATENT
    g = torch.Generator().manual_seed(SEED + 1)
    z = torch.randn((1, cfg["z_dim"], T, hl, wl), generator=g).to(torch.float32)
    golden = {"z": z[0]}
    with torch.no_grad():
        m64 = load(p32, cfg)
        o = m64.decode(z.double(), clamp=False)[0]
        golden["out"] = o.to(torch.float32)
        golden["clamped"] = o.clamp(-1, 1).to(torch.float32)
        golden["u8"] = to_uint8(o.to(torch.float32)).to(torch.float32)
        golden["bf16.out"] = load(pbf, cfg).decode(z.double(), clamp=False)[0].to(torch.float32)
    meta = {"generator": "train/wan/vae.py",
            "precision": "float64 computation from the weights as stored, stored as F32",
            "config": json.dumps(cfg, sort_keys=True)}
    safetensors_io.save(os.path.join(out, "golden.safetensors"), golden, meta)


def write_full(path, seed=SEED):
    """Random F32 weights of the real VAE (194 tensors, 0.5 GB) at path."""
    m = WanVAE()
    init_random(m, seed)
    save(m, path, "F32")


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--full":
        write_full(sys.argv[2])
    elif len(sys.argv) == 2:
        write_fixtures(sys.argv[1])
    else:
        sys.exit("usage: vae.py OUTDIR | --full FILE.safetensors")
