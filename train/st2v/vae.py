# SPDX-License-Identifier: LGPL-2.1-or-later
"""Causal video autoencoder (docs/model-format.md, section 6), whole-sequence
form: every convolution is causal in time (zero frames before the first),
3x3 in space with zero padding. Batch first: (B, C, T, H, W)."""

import torch
import torch.nn as nn
import torch.nn.functional as F


class CausalConv(nn.Module):
    """Conv(kt): output frame f sees input frames f-kt+1 .. f."""

    def __init__(self, cin, cout, kt):
        super().__init__()
        self.kt = kt
        self.weight = nn.Parameter(torch.zeros(cout, cin, kt, 3, 3))
        self.bias = nn.Parameter(torch.zeros(cout))

    def forward(self, x):
        x = F.pad(x, (1, 1, 1, 1, self.kt - 1, 0))
        return F.conv3d(x, self.weight, self.bias)


class ChannelRMSNorm(nn.Module):
    """RMS over channels at each pixel: x * w / sqrt(mean_c(x^2) + 1e-6)."""

    def __init__(self, ch):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(ch))

    def forward(self, x):
        # in float32 even under bf16 autocast: the CPU's bf16 element-wise
        # kernels are slow, and the statistics want the precision
        x = x.float() if x.dtype == torch.bfloat16 else x
        r = torch.sqrt(x.pow(2).mean(1, keepdim=True) + 1e-6)
        return x * self.weight[None, :, None, None, None] / r


class ResBlock(nn.Module):
    def __init__(self, ch, kt):
        super().__init__()
        self.norm1 = ChannelRMSNorm(ch)
        self.conv1 = CausalConv(ch, ch, kt)
        self.norm2 = ChannelRMSNorm(ch)
        self.conv2 = CausalConv(ch, ch, kt)

    def forward(self, x):
        h = self.conv1(F.silu(self.norm1(x)))
        return x + self.conv2(F.silu(self.norm2(h)))


def depth_to_space(x, a, b):
    """(B, C*a*b*b, T, H, W) -> (B, C, T*a, H*b, W*b); input channel
    ((c*a+dt)*b+dy)*b+dx at (f, y, x) goes to channel c at (f*a+dt, y*b+dy, x*b+dx)."""
    B, Cab, T, H, W = x.shape
    C = Cab // (a * b * b)
    x = x.reshape(B, C, a, b, b, T, H, W).permute(0, 1, 5, 2, 6, 3, 7, 4)
    return x.reshape(B, C, T * a, H * b, W * b)


def space_to_depth(x, a, b):
    """Exact inverse of depth_to_space."""
    B, C, Ta, Hb, Wb = x.shape
    T, H, W = Ta // a, Hb // b, Wb // b
    x = x.reshape(B, C, T, a, H, b, W, b).permute(0, 1, 3, 5, 7, 2, 4, 6)
    return x.reshape(B, C * a * b * b, T, H, W)


class DecLevel(nn.Module):
    def __init__(self, ch, kt, res_blocks, up_out=None):
        super().__init__()
        self.res = nn.ModuleList(ResBlock(ch, kt) for _ in range(res_blocks))
        if up_out is not None:
            self.up = CausalConv(ch, up_out, kt)


class EncLevel(nn.Module):
    def __init__(self, ch, kt, res_blocks, down=None):
        super().__init__()
        self.res = nn.ModuleList(ResBlock(ch, kt) for _ in range(res_blocks))
        if down is not None:
            cin, cout, kt_down = down
            self.down = CausalConv(cin, cout, kt_down)


def decoder_channels(v):
    """The decoder's channels per level of a "vae" config section: its
    dec_channels where given (a decoder wider than the encoder), else the
    encoder's channels."""
    return v.get("dec_channels", v["channels"])


def level_factors(v, i):
    return 1 + v["time_up"][i], 1 + v["space_up"][i]


class Decoder(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        v = cfg["vae"]
        ch, kt = decoder_channels(v), v["kt"]
        self.v = v
        Lv = len(ch)
        self.conv_in = CausalConv(v["z_channels"], ch[0], kt[0])
        levels = []
        for i in range(Lv):
            up_out = None
            if i < Lv - 1:
                a, b = level_factors(v, i)
                up_out = ch[i + 1] * a * b * b
            levels.append(DecLevel(ch[i], kt[i], v["res_blocks"], up_out))
        self.levels = nn.ModuleList(levels)
        self.norm_out = ChannelRMSNorm(ch[-1])
        self.conv_out = CausalConv(ch[-1], 3, 1)

    def forward(self, z):
        """z (B, Cz, T, Hl, Wl), not normalised -> rgb (B, 3, T*ft, Hl*s, Wl*s)."""
        x = self.conv_in(z)
        for i, lvl in enumerate(self.levels):
            for r in lvl.res:
                x = r(x)
            if i < len(self.levels) - 1:
                a, b = level_factors(self.v, i)
                x = depth_to_space(lvl.up(x), a, b)
        return self.conv_out(F.silu(self.norm_out(x)))


class Encoder(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        v = cfg["vae"]
        ch, kt = v["channels"], v["kt"]
        self.v = v
        Lv = len(ch)
        self.conv_in = CausalConv(3, ch[-1], kt[-1])
        levels = []
        for i in range(Lv):
            down = None
            if i > 0:
                a, b = level_factors(v, i - 1)
                down = (ch[i] * a * b * b, ch[i - 1], kt[i - 1])
            levels.append(EncLevel(ch[i], kt[i], v["res_blocks"], down))
        self.levels = nn.ModuleList(levels)
        self.norm_out = ChannelRMSNorm(ch[0])
        self.conv_out = CausalConv(ch[0], v["z_channels"], 1)

    def forward(self, rgb):
        """rgb (B, 3, T*ft, H, W) in [-1, 1] -> z (B, Cz, T, H/s, W/s), not normalised."""
        x = self.conv_in(rgb)
        for i in range(len(self.levels) - 1, -1, -1):
            lvl = self.levels[i]
            for r in lvl.res:
                x = r(x)
            if i > 0:
                a, b = level_factors(self.v, i - 1)
                x = lvl.down(space_to_depth(x, a, b))
        return self.conv_out(F.silu(self.norm_out(x)))


class VAE(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.dec = Decoder(cfg)
        self.enc = Encoder(cfg)
