# SPDX-License-Identifier: LGPL-2.1-or-later
"""Text encoder (docs/model-format.md, section 4): a small pre-norm
transformer over the prompt tokens with learned positions. Batched: padded
keys are masked, which gives the same features as one unpadded prompt."""

import torch
import torch.nn as nn
import torch.nn.functional as F

from .layers import Mlp, attention, f32, merge_heads, split_heads


class TextAttention(nn.Module):
    def __init__(self, dim, heads):
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x, mask):
        q, k, v = self.qkv(x).chunk(3, dim=-1)
        h = self.heads
        o = attention(split_heads(q, h), split_heads(k, h), split_heads(v, h), mask)
        return self.proj(merge_heads(o))


class TextBlock(nn.Module):
    def __init__(self, dim, heads, mlp_dim):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=1e-5)
        self.attn = TextAttention(dim, heads)
        self.norm2 = nn.LayerNorm(dim, eps=1e-5)
        self.mlp = Mlp(dim, mlp_dim)

    def forward(self, x, mask):
        x = x + self.attn(self.norm1(f32(x)), mask)
        return x + self.mlp(self.norm2(f32(x)))


class TextEncoder(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        t = cfg["text"]
        V = 259 + len(cfg["tokenizer"]["pieces"])
        L = cfg["tokenizer"]["max_length"]
        self.tok_emb = nn.Parameter(torch.zeros(V, t["dim"]))
        self.pos_emb = nn.Parameter(torch.zeros(L, t["dim"]))
        self.blocks = nn.ModuleList(TextBlock(t["dim"], t["heads"], t["mlp_dim"])
                                    for _ in range(t["layers"]))
        self.norm = nn.LayerNorm(t["dim"], eps=1e-5)

    def forward(self, ids, mask=None):
        """ids (B, n) long, mask (B, n) bool (True = real token) or None -> (B, n, Dt)."""
        n = ids.shape[1]
        x = F.embedding(ids, self.tok_emb) + self.pos_emb[:n]
        for blk in self.blocks:
            x = blk(x, mask)
        return self.norm(f32(x))


def pad_batch(id_lists):
    """List of id lists -> ids (B, n) padded with <pad>=0, mask (B, n) bool."""
    n = max(len(x) for x in id_lists)
    ids = torch.zeros(len(id_lists), n, dtype=torch.long)
    mask = torch.zeros(len(id_lists), n, dtype=torch.bool)
    for i, x in enumerate(id_lists):
        ids[i, :len(x)] = torch.tensor(x, dtype=torch.long)
        mask[i, :len(x)] = True
    return ids, mask
