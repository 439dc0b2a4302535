# SPDX-License-Identifier: LGPL-2.1-or-later
"""Diffusion transformer over spacetime patches (docs/model-format.md,
section 5): per-temporal-patch timesteps, adaLN-Zero modulation, self
attention with QK RMSNorm and interleaved 3D RoPE, cross attention to the
text features.

Batch first: z (B, Cz + R, T, Hl, Wl) (R = dit.extra_channels, 0 by
default: ReDi channels after the latent's), t (B, T/pt), text (B, n, Dt)
with an optional key mask (B, n), t0 the RoPE offset of the first temporal
patch."""

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from .layers import Mlp, RMSNorm, attention, attention_probs, f32, merge_heads, split_heads


def patchify(z, pt, ph, pw):
    """z (B, Cz, T, Hl, Wl) -> tokens (B, N, P), element ((ch*pt+i)*ph+j)*pw+k."""
    B, C, T, H, W = z.shape
    x = z.reshape(B, C, T // pt, pt, H // ph, ph, W // pw, pw)
    x = x.permute(0, 2, 4, 6, 1, 3, 5, 7)
    return x.reshape(B, (T // pt) * (H // ph) * (W // pw), C * pt * ph * pw)


def unpatchify(x, C, grid, pt, ph, pw):
    """Inverse of patchify: x (B, N, P) -> (B, C, T, Hl, Wl)."""
    Tp, Hp, Wp = grid
    B = x.shape[0]
    x = x.reshape(B, Tp, Hp, Wp, C, pt, ph, pw).permute(0, 4, 1, 5, 2, 6, 3, 7)
    return x.reshape(B, C, Tp * pt, Hp * ph, Wp * pw)


def timestep_embedding(t, dim):
    """t (...) in [0, 1] -> (..., dim): [cos(1000 t f_k), sin(1000 t f_k)]."""
    half = dim // 2
    k = torch.arange(half, dtype=torch.float64, device=t.device)
    freq = torch.exp(-math.log(10000.0) * k / half)
    arg = 1000.0 * t.to(torch.float64)[..., None] * freq
    return torch.cat([torch.cos(arg), torch.sin(arg)], dim=-1).to(t.dtype)


def rope_tables(grid, t0, rope_dims, theta, dtype, device=None):
    """cos, sin (N, hd/2) for tokens in raster order; pair j of an axis part of
    size d rotates by pos * theta^(-2j/d). Angles are computed in float64."""
    Tp, Hp, Wp = grid
    a = torch.arange(Tp, dtype=torch.float64) + t0
    b = torch.arange(Hp, dtype=torch.float64)
    c = torch.arange(Wp, dtype=torch.float64)
    pa, pb, pc = torch.meshgrid(a, b, c, indexing="ij")
    angles = []
    for pos, d in zip((pa, pb, pc), rope_dims):
        j = torch.arange(d // 2, dtype=torch.float64)
        inv = theta ** (-2.0 * j / d)
        angles.append(pos.reshape(-1, 1) * inv)
    ang = torch.cat(angles, dim=1)
    return torch.cos(ang).to(dtype=dtype, device=device), torch.sin(ang).to(dtype=dtype, device=device)


def apply_rope(x, cos, sin):
    """x (B, H, N, hd), rotate interleaved pairs (x[2j], x[2j+1])."""
    # (y0, y1) = x * (cos, cos) + (x1, x0) * (-sin, sin): two products of
    # whole tensors instead of four of strided halves and a stack
    shp = x.shape
    cos2 = cos.repeat_interleave(2, dim=-1)                         # (N, hd)
    sin2 = torch.stack([-sin, sin], dim=-1).reshape(cos2.shape)     # (N, hd)
    swapped = x.reshape(*shp[:-1], shp[-1] // 2, 2).flip(-1).reshape(shp)
    return x * cos2 + swapped * sin2


class TimestepEmbed(nn.Module):
    def __init__(self, freq_dim, dim):
        super().__init__()
        self.freq_dim = freq_dim
        self.fc1 = nn.Linear(freq_dim, dim)
        self.fc2 = nn.Linear(dim, dim)

    def forward(self, t):
        return self.fc2(F.silu(self.fc1(timestep_embedding(t, self.freq_dim))))


class SelfAttention(nn.Module):
    def __init__(self, dim, heads):
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.q_norm = RMSNorm(dim // heads)
        self.k_norm = RMSNorm(dim // heads)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x, cos, sin):
        q, k, v = self.qkv(x).chunk(3, dim=-1)
        h = self.heads
        q = apply_rope(self.q_norm(split_heads(q, h)), cos, sin)
        k = apply_rope(self.k_norm(split_heads(k, h)), cos, sin)
        return self.proj(merge_heads(attention(q, k, split_heads(v, h))))


class CrossAttention(nn.Module):
    """Image tokens attend to the text features. With keep_probs set (the
    TokenCompose loss, train/token_compose.py, sets it on the blocks it
    reads) the forward keeps its attention probabilities in `probs`
    (B, H, N, n), the same tensor the output is computed from (the same
    operations: the output is bit-identical either way); the reader clears
    it."""

    def __init__(self, dim, text_dim, heads):
        super().__init__()
        self.heads = heads
        self.keep_probs, self.probs = False, None
        self.q = nn.Linear(dim, dim)
        self.kv = nn.Linear(text_dim, 2 * dim)
        self.q_norm = RMSNorm(dim // heads)
        self.k_norm = RMSNorm(dim // heads)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x, c, mask):
        h = self.heads
        q = self.q_norm(split_heads(self.q(x), h))
        k, v = self.kv(c).chunk(2, dim=-1)
        k = self.k_norm(split_heads(k, h))
        if not self.keep_probs:
            return self.proj(merge_heads(attention(q, k, split_heads(v, h), mask)))
        self.probs = attention_probs(q, k, mask)                   # (B, H, N, n)
        return self.proj(merge_heads(torch.matmul(self.probs, split_heads(v, h))))


def layer_norm(x, eps=1e-6):
    return F.layer_norm(f32(x), x.shape[-1:], eps=eps)


class DiTBlock(nn.Module):
    def __init__(self, dim, text_dim, heads, mlp_dim):
        super().__init__()
        self.ada = nn.Linear(dim, 6 * dim)
        self.attn = SelfAttention(dim, heads)
        self.norm_cross = nn.LayerNorm(dim, eps=1e-6)
        self.cross = CrossAttention(dim, text_dim, heads)
        self.mlp = Mlp(dim, mlp_dim)

    def forward(self, x, y, c, mask, cos, sin):
        """x (B, Tp, S, D) with S = Hp*Wp tokens per temporal patch, y (B, Tp, D)."""
        B, Tp, S, D = x.shape
        m = self.ada(F.silu(y))[:, :, None, :]                     # (B, Tp, 1, 6D)
        sh1, sc1, g1, sh2, sc2, g2 = m.chunk(6, dim=-1)
        h = layer_norm(x) * (1 + sc1) + sh1
        x = x + g1 * self.attn(h.reshape(B, Tp * S, D), cos, sin).reshape(B, Tp, S, D)
        h = self.norm_cross(f32(x)).reshape(B, Tp * S, D)
        x = x + self.cross(h, c, mask).reshape(B, Tp, S, D)
        h = layer_norm(x) * (1 + sc2) + sh2
        return x + g2 * self.mlp(h)


class FinalLayer(nn.Module):
    def __init__(self, dim, out_dim):
        super().__init__()
        self.ada = nn.Linear(dim, 2 * dim)
        self.linear = nn.Linear(dim, out_dim)

    def forward(self, x, y):
        shift, scale = self.ada(F.silu(y))[:, :, None, :].chunk(2, dim=-1)
        return self.linear(layer_norm(x) * (1 + scale) + shift)


class DiT(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        d, tx = cfg["dit"], cfg["text"]
        # the latent's channels and dit.extra_channels (ReDi: the world's
        # structure denoised beside it, dropped before the decoder)
        self.cz = cfg["vae"]["z_channels"] + d.get("extra_channels", 0)
        self.patch = tuple(d["patch"])
        self.rope_dims = tuple(d["rope_dims"])
        self.theta = float(d["rope_theta"])
        pt, ph, pw = self.patch
        P = self.cz * pt * ph * pw
        D = d["dim"]
        self.patch_embed = nn.Linear(P, D)
        self.t_embed = TimestepEmbed(d["freq_dim"], D)
        self.text_pool = nn.Linear(tx["dim"], D) if d.get("text_pool", False) else None
        self.blocks = nn.ModuleList(DiTBlock(D, tx["dim"], d["heads"], d["mlp_dim"])
                                    for _ in range(d["layers"]))
        self.final = FinalLayer(D, P)

    def forward(self, z, t, text, text_mask=None, t0=0):
        """z (B,Cz+R,T,Hl,Wl), t (B,T/pt), text (B,n,Dt), text_mask (B,n) bool -> v like z."""
        B, C, T, H, W = z.shape
        pt, ph, pw = self.patch
        grid = (T // pt, H // ph, W // pw)
        Tp, S = grid[0], grid[1] * grid[2]
        x = f32(self.patch_embed(patchify(z, pt, ph, pw))).reshape(B, Tp, S, -1)
        y = self.t_embed(t.to(z.dtype))                             # (B, Tp, D)
        if self.text_pool is not None:
            if text_mask is None:
                pooled = text.mean(dim=1)                           # (B, Dt)
            else:
                m = text_mask.to(text.dtype)[..., None]             # (B, n, 1)
                pooled = (text * m).sum(dim=1) / m.sum(dim=1)
            y = y + self.text_pool(pooled)[:, None, :]
        cos, sin = rope_tables(grid, t0, self.rope_dims, self.theta, z.dtype, z.device)
        for blk in self.blocks:
            x = blk(x, y, text, text_mask, cos, sin)
        out = self.final(x, y).reshape(B, Tp * S, -1)
        return unpatchify(out, C, grid, pt, ph, pw)
