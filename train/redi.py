# SPDX-License-Identifier: LGPL-2.1-or-later
"""The ReDi lever (issue 19, section 3): the DiT denoises an explicit code of
the world's structure beside the latent, R = dit.extra_channels more
channels per latent cell (docs/model-format.md; the decoder reads only the
first vae.z_channels).

The code of a latent cell, from the latent cache's per-token labels
(cache_latents.token_labels, one per latent frame at the token grid,
repeated over the ph x pw latent cells of each token), one of CODES by its
channel count:
- 7 (CHANNELS, the full code): occupancy, 1 where an object covers the
  token, 0 on background; the shape, 4 dims, the 5 shapes as the vertices
  of a regular simplex (unit vectors, pairwise equidistant), 0 on
  background; the motion direction, 2 dims, the unit vector of left,
  right, up, down (screen x right, y down), 0 for still and background;
- 4 (COMPACT): the shape as 2 dims, the 5 shapes on the unit circle (a
  regular pentagon; the norm tells occupancy), and the motion direction
  as above: 0.96 % of the default DiT's FLOPs at 128x128 where the full
  code costs 1.68 % (docs/training.md, "Lever: ReDi channels");
each channel then standardised by a mean and std over the cache (stats),
kept in the config's provenance so a resumed run codes as before.

A model carried onto the extra channels (widen_state) gets zero input
columns in the patch embedding and zero output rows in the final linear:
it predicts the latent's velocity exactly as before."""

import math

import torch

CHANNELS, COMPACT = 7, 4
NAMES = {7: ("occupancy", "shape", "shape", "shape", "shape", "motion_x", "motion_y"),
         4: ("shape", "shape", "motion_x", "motion_y")}


def _simplex(n):
    """(n, n-1) unit vectors, pairwise equidistant, summing to zero."""
    e = torch.eye(n, dtype=torch.float64) - 1.0 / n               # centred basis of R^n
    q, _ = torch.linalg.qr(e[:, :n - 1])                           # a basis of their span
    v = e @ q
    return (v / v.norm(dim=1, keepdim=True)).float()


def _pentagon():
    a = torch.arange(5, dtype=torch.float64) * 2 * math.pi / 5
    return torch.stack([torch.cos(a), torch.sin(a)], 1).float()


# rows: label value (0 background, 1 + index); cache_latents.MOTION_CLASSES
SHAPE_CODE = torch.cat([torch.zeros(1, 4), _simplex(5)])           # (6, 4)
SHAPE_CODE_2D = torch.cat([torch.zeros(1, 2), _pentagon()])        # (6, 2)
MOTION_CODE = torch.tensor([[0.0, 0.0],                            # background
                            [0.0, 0.0],                            # still
                            [-1.0, 0.0], [1.0, 0.0],               # left, right
                            [0.0, -1.0], [0.0, 1.0]])              # up, down


def raw_code(shape, motion, channels=CHANNELS):
    """shape, motion (..., Hp, Wp) label tensors -> (..., channels, Hp, Wp)
    float, not standardised (the code of that many channels); the channel
    axis before the last two."""
    if channels == CHANNELS:
        occ = (shape > 0).float()[..., None]
        parts = [occ, SHAPE_CODE[shape.long()]]
    elif channels == COMPACT:
        parts = [SHAPE_CODE_2D[shape.long()]]
    else:
        raise ValueError(f"redi: no code of {channels} channels (the codes: {sorted(NAMES)})")
    code = torch.cat(parts + [MOTION_CODE[motion.long()]], dim=-1)
    return code.movedim(-1, -3)


def stats(items, channels=CHANNELS):
    """{"channels", "names", "mean", "std"} of the raw code of that many
    channels over cache items (dicts with "shape", "motion" (T, Hp, Wp));
    std floored at 0.05."""
    s = torch.zeros(channels, dtype=torch.float64)
    s2 = torch.zeros(channels, dtype=torch.float64)
    n = 0
    for it in items:
        c = raw_code(it["shape"], it["motion"], channels).double()   # (T, R, Hp, Wp)
        s += c.sum(dim=(0, 2, 3))
        s2 += (c * c).sum(dim=(0, 2, 3))
        n += c.shape[0] * c.shape[2] * c.shape[3]
    if n == 0:
        raise ValueError("redi.stats: no labels")
    mean = s / n
    std = (s2 / n - mean * mean).clamp_min(0).sqrt().clamp_min(0.05)
    return {"channels": channels, "names": list(NAMES[channels]),
            "mean": [round(float(v), 6) for v in mean], "std": [round(float(v), 6) for v in std]}


def targets(shape, motion, st, patch):
    """The clean extra channels of a batch: shape, motion (B, T, Hp, Wp)
    labels per latent frame at the token grid -> (B, R, T, Hp*ph, Wp*pw),
    the code of st["channels"] = R channels standardised by st (stats),
    each token's code over its ph x pw latent cells."""
    c = raw_code(shape, motion, st["channels"])                    # (B, T, R, Hp, Wp)
    m = torch.tensor(st["mean"])[None, None, :, None, None]
    s = torch.tensor(st["std"])[None, None, :, None, None]
    c = ((c - m) / s).movedim(2, 1)                                # (B, R, T, Hp, Wp)
    return c.repeat_interleave(patch[1], dim=3).repeat_interleave(patch[2], dim=4)


def widen(t, shape):
    """t zero-padded at the end of each axis to shape (t's own where equal)."""
    if tuple(t.shape) == tuple(shape):
        return t
    if t.dim() != len(shape) or any(a > b for a, b in zip(t.shape, shape)):
        raise ValueError(f"redi.widen: {tuple(t.shape)} does not fit in {tuple(shape)}")
    out = torch.zeros(shape, dtype=t.dtype, device=t.device)
    out[tuple(slice(0, n) for n in t.shape)] = t
    return out


# the DiT's tensors whose width is the token's: they widen with extra channels
WIDE = ("dit.patch_embed.weight", "dit.final.linear.weight", "dit.final.linear.bias")


def widen_state(state, like):
    """A state dict of a DiT without (or with fewer) extra channels, its
    token-wide tensors (WIDE) zero-padded to the shapes of `like` (a state
    dict or {name: shape}): the patch embedding's new input columns and the
    final linear's new output rows start at zero. The patch order is
    channel-major (dit.patchify), so the extra channels are the last
    columns / rows. Other tensors as they are."""
    out = dict(state)
    for k in WIDE:
        if k in out and k in like:
            shp = like[k] if isinstance(like[k], (tuple, list, torch.Size)) else like[k].shape
            out[k] = widen(out[k], shp)
    return out


def widen_optimizer(opt_state, params, names):
    """An optimiser state_dict (AdamW's) loaded onto `params` (named `names`)
    some of which were widened: each per-parameter tensor of the same rank
    as a widened WIDE parameter is zero-padded to it (moments of the new
    columns / rows start at zero)."""
    for i, (p, name) in enumerate(zip(params, names)):
        st = opt_state["state"].get(i)
        if st is None or name not in WIDE:
            continue
        for k, v in st.items():
            if torch.is_tensor(v) and v.dim() == p.dim() and v.shape != p.shape:
                st[k] = widen(v, p.shape)
    return opt_state
