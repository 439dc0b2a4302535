# SPDX-License-Identifier: LGPL-2.1-or-later
"""Small building blocks shared by the text encoder and the DiT."""

import math

import torch
import torch.nn as nn
import torch.nn.functional as F


def f32(x):
    """Half-precision activations (under CPU autocast) back to float32, for
    norms and the residual stream; float32 and float64 pass unchanged."""
    return x.float() if x.dtype in (torch.bfloat16, torch.float16) else x


class RMSNorm(nn.Module):
    """x * w / sqrt(mean(x^2) + eps) over the last dimension."""

    def __init__(self, dim, eps=1e-6):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))
        self.eps = eps

    def forward(self, x):
        x = f32(x)  # bf16 element-wise ops are slow on the CPU
        # one reciprocal per row, not a division per element
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


def attention_probs(q, k, key_mask=None):
    """q (B,H,Nq,hd), k (B,H,Nk,hd), key_mask (B,Nk) bool (True = real) or
    None -> the attention probabilities (B,H,Nq,Nk), each query's over the
    keys (0 on masked keys)."""
    # scaling q (Nq x hd) costs less than scaling the scores (Nq x Nk)
    s = torch.matmul(q * (1.0 / math.sqrt(q.shape[-1])), k.transpose(-1, -2))
    if key_mask is not None:
        s = s.masked_fill(~key_mask[:, None, None, :], float("-inf"))
    return torch.softmax(s, dim=-1)


def attention(q, k, v, key_mask=None):
    """q (B,H,Nq,hd), k, v (B,H,Nk,hd), key_mask (B,Nk) bool (True = real) or None."""
    return torch.matmul(attention_probs(q, k, key_mask), v)


def split_heads(x, heads):
    """(B, N, H*hd) -> (B, H, N, hd): head j takes columns j*hd .. (j+1)*hd-1."""
    B, N, C = x.shape
    return x.view(B, N, heads, C // heads).transpose(1, 2)


def merge_heads(x):
    """(B, H, N, hd) -> (B, N, H*hd), heads concatenated in order."""
    B, H, N, hd = x.shape
    return x.transpose(1, 2).reshape(B, N, H * hd)


class Mlp(nn.Module):
    def __init__(self, dim, hidden):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x):
        return self.fc2(F.gelu(self.fc1(x)))  # exact (erf) GELU
