# SPDX-License-Identifier: LGPL-2.1-or-later
"""Truth alignment of the autoencoder's latent (the lever "VA-VAE-GT",
docs/training.md): the VF loss of VA-VAE (arXiv 2501.01423) with the
world's ground truth as the teacher instead of a vision foundation model,
and the scale-equivariance loss of EQ-VAE (arXiv 2502.14831).

- truth_cells: per latent cell (ft frames x s x s pixels) an embedding f of
  what the world put there (the render's masks): background share,
  occupancy, the shape (one-hot) of the object covering most of the cell
  times its coverage, an instance code (a fixed random unit vector per
  object index, times each object's coverage, summed), and the dominant
  object's velocity (pixels per frame / VEL_SCALE, clipped to [-1, 1])
  times its coverage. Never the zero vector (background + occupancy >= 1).
- VF.loss: a learnt linear projection of the latent (Cz -> dim f) and
  VA-VAE's two margins: mean relu(1 - M1 - cos(Wz_i, f_i)) over the cells,
  plus mean relu(|cos(Wz_i, Wz_j) - cos(f_i, f_j)| - M2) over pairs of
  cells of one clip (SUBSAMPLE cells a clip, drawn with its own generator).
- VF.adaptive: VA-VAE's weight, the ratio of the reconstruction loss's and
  the VF loss's gradient norms at the encoder's last layer (train_vae.py
  measures it every ADAPT_EVERY steps and keeps it in between).
- scale_equivariance: the decoder on the 2x spatially average-pooled
  latent against the 2x average-pooled RGB (L1 + MSE, as the
  reconstruction).
- Pool labels: ClipPool(masks=True) keeps per clip the objects' coverage of
  each s x s pixel square per frame (float16), shape index and velocity,
  and crops them with the clip (cell_coverage).
"""
import os

import numpy as np
import torch
import torch.nn.functional as F

from train.world import SHAPES

M1, M2 = 0.5, 0.25          # VA-VAE's margins (cosine, distance matrix)
INSTANCE_DIM = 8
MAX_OBJECTS = 16
VEL_SCALE = 2.0             # pixels per frame that map to 1
SUBSAMPLE = 256             # cells a clip in the distance-matrix term
ADAPT_EVERY = 25            # steps between measurements of the adaptive weight
TRUTH_DIM = 2 + len(SHAPES) + INSTANCE_DIM + 2


def instance_codes():
    """(MAX_OBJECTS, INSTANCE_DIM) fixed random unit vectors, one per object index."""
    g = torch.Generator().manual_seed(1234)
    v = torch.randn(MAX_OBJECTS, INSTANCE_DIM, generator=g)
    return (v / v.norm(dim=1, keepdim=True)).numpy()


INSTANCE = instance_codes()


def clip_labels(labels, s):
    """A render's labels -> what a pool keeps: [(coverage (T, H/s, W/s)
    float16, shape index, velocity (T, 2) float32)] per object."""
    out = []
    for o in labels["objects"]:
        m = o["mask"]
        T, H, W = m.shape
        cov = m.reshape(T, H // s, s, W // s, s).mean(axis=(2, 4), dtype=np.float32)
        out.append((cov.astype(np.float16), SHAPES.index(o["shape"]),
                    np.asarray(o["velocity"], np.float32)))
    return out


def crop_labels(objs, t0, frames, y0, x0, crop, s):
    """The pool's per-object labels cut to a crop (pixels y0, x0 on the
    s grid)."""
    return [(cov[t0:t0 + frames, y0 // s:(y0 + crop) // s, x0 // s:(x0 + crop) // s],
             k, vel[t0:t0 + frames]) for cov, k, vel in objs]


def truth_cells(objs, ft):
    """Per-object labels of a crop (crop_labels) -> f (T/ft, Hl, Wl,
    TRUTH_DIM) float32, the module's embedding."""
    if not objs:
        raise ValueError("truth_cells needs the crop's shape; use truth_cells_empty")
    T, Hl, Wl = objs[0][0].shape
    return _truth(objs, ft, T, Hl, Wl)


def truth_cells_empty(T, Hl, Wl, ft):
    return _truth([], ft, T, Hl, Wl)


def _truth(objs, ft, T, Hl, Wl):
    Tl = T // ft
    f = np.zeros((Tl, Hl, Wl, TRUTH_DIM), np.float32)
    occ = np.zeros((Tl, Hl, Wl), np.float32)
    best = np.zeros((Tl, Hl, Wl), np.float32)
    S = len(SHAPES)
    for i, (cov, k, vel) in enumerate(objs):
        c = cov[:Tl * ft].astype(np.float32).reshape(Tl, ft, Hl, Wl).mean(axis=1)
        v = np.clip(vel[:Tl * ft].reshape(Tl, ft, 2).mean(axis=1) / VEL_SCALE, -1, 1)
        occ += c
        f[..., 2 + S:2 + S + INSTANCE_DIM] += c[..., None] * INSTANCE[i % MAX_OBJECTS]
        win = c > best
        best = np.maximum(best, c)
        onehot = np.zeros(S, np.float32)
        onehot[k] = 1.0
        f[..., 2:2 + S] = np.where(win[..., None], c[..., None] * onehot, f[..., 2:2 + S])
        f[..., -2:] = np.where(win[..., None], c[..., None] * v[:, None, None, :], f[..., -2:])
    occ = np.minimum(occ, 1.0)
    f[..., 0] = 1.0 - occ
    f[..., 1] = occ
    return f


def truth_batch(crops, ft, T, Hl, Wl):
    """(B, Tl, Hl, Wl, TRUTH_DIM) of a batch's cropped labels."""
    return torch.from_numpy(np.stack([truth_cells(o, ft) if o else truth_cells_empty(T, Hl, Wl, ft)
                                      for o in crops]))


class VF(torch.nn.Module):
    """The learnt projection of the latent and the VF loss."""

    def __init__(self, z_channels, dim=TRUTH_DIM, seed=0):
        super().__init__()
        self.proj = torch.nn.Linear(z_channels, dim)
        g = torch.Generator().manual_seed(seed)         # not the trainer's RNG stream
        with torch.no_grad():
            self.proj.weight.copy_(torch.randn(dim, z_channels, generator=g) * z_channels ** -0.5)
            self.proj.bias.zero_()
        self.gen = torch.Generator().manual_seed(seed + 1)

    def loss(self, z, f):
        """z (B, Cz, Tl, Hl, Wl) latent, f (B, Tl, Hl, Wl, D) truth -> (mcos, mdms)."""
        p = self.proj(z.float().permute(0, 2, 3, 4, 1))            # (B, Tl, Hl, Wl, D)
        return vf_loss(p.reshape(p.shape[0], -1, p.shape[-1]),
                       f.reshape(f.shape[0], -1, f.shape[-1]), self.gen)


def vf_loss(p, f, gen=None, n=SUBSAMPLE):
    """p, f (B, N, D): VA-VAE's margin cosine and margin distance-matrix
    terms; n cells a clip (drawn by gen) in the second."""
    cos = F.cosine_similarity(p, f, dim=-1, eps=1e-6)
    mcos = F.relu(1.0 - M1 - cos).mean()
    N = p.shape[1]
    if N > n:
        idx = torch.randperm(N, generator=gen)[:n]
        p, f = p[:, idx], f[:, idx]
    pn = F.normalize(p, dim=-1, eps=1e-6)
    fn = F.normalize(f, dim=-1, eps=1e-6)
    dp = pn @ pn.transpose(1, 2)
    df = fn @ fn.transpose(1, 2)
    mdms = F.relu((dp - df).abs() - M2).mean()
    return mcos, mdms


def adaptive_weight(rec, vf, layer, cap=1e4):
    """VA-VAE's: |d rec / d layer| / |d vf / d layer| (no gradient)."""
    g_rec = torch.autograd.grad(rec, layer, retain_graph=True)[0]
    g_vf = torch.autograd.grad(vf, layer, retain_graph=True)[0]
    return float(min(cap, g_rec.norm() / (g_vf.norm() + 1e-8)))


def scale_equivariance(dec, zn, x):
    """L1 + MSE between the decoder on the 2x spatially pooled latent
    (B, Cz, Tl, Hl, Wl) and the 2x pooled RGB x (B, 3, T, H, W)."""
    zd = F.avg_pool3d(zn, (1, 2, 2))
    yd = dec(zd).float()
    xd = F.avg_pool3d(x, (1, 2, 2))
    return (yd - xd).abs().mean() + ((yd - xd) ** 2).mean()


# ----------------------------------------------------------- measurement

def dct_matrix(n):
    """(n, n) orthonormal DCT-II."""
    k = torch.arange(n, dtype=torch.float64)[:, None]
    i = torch.arange(n, dtype=torch.float64)[None]
    m = torch.cos(torch.pi * (i + 0.5) * k / n) * (2.0 / n) ** 0.5
    m[0] /= 2 ** 0.5
    return m


def dct_high_share(z):
    """z (Cz, T, H, W) latent -> (Cz,) share of the spatial DCT energy (per
    latent frame, the DC term left out) at frequencies in the upper half of
    either axis (u >= H/2 or v >= W/2)."""
    _, _, H, W = z.shape
    a, b = dct_matrix(H), dct_matrix(W)
    c = a @ z.double() @ b.T                 # (Cz, T, H, W)
    e = c ** 2
    e[..., 0, 0] = 0
    hi = torch.ones(H, W, dtype=torch.bool)
    hi[:H // 2, :W // 2] = False
    return (e[..., hi].sum(dim=(1, 2)) / e.sum(dim=(1, 2, 3)).clamp_min(1e-12)).float()


# ------------------------------------------------- the A/B's measurement
#
#   /usr/bin/python3 -m train.vf_align encode --part 0/2 --out DIR CKPT...   (two of these)
#   /usr/bin/python3 -m train.vf_align report --out DIR [--more DIR2] CKPT...
#
# encode: the first MEASURE_FRAMES frames of --train-clips training scenes
# (cache_latents' seeds) and --test-clips held-out ones (the proxy's scenes,
# proxy.PROXY_SEED), each rendered once and encoded by every autoencoder
# CKPT; with their DiT-token labels (cache_latents.token_labels).
# report: per autoencoder, the per-token probe (proxy.train_probe on the
# training clips, normalised by their per-channel statistics; read on the
# held-out clips' object tokens: mean over clips with its standard error),
# the latent DCT high-frequency share (dct_high_share, mean over channels,
# then over clips) and the held-out PSNR (train_vae.eval_psnr's 8 clips;
# --no-psnr leaves it out); each also as the difference to the first CKPT
# reported (--select's first), paired by clip, with its SE.

MEASURE_FRAMES = 16


def _encode(args):
    from train import proxy, recipe
    from train.cache_latents import BASE_SEED, token_labels
    from train.eval import prompts
    from train.world import render, sample_scene
    i, n = (int(x) for x in args.part.split("/"))
    vaes = [recipe.load_vae(p)[0] for p in args.ckpts]
    ft, tok = recipe.token_geometry(vaes[0].dec.v)
    scenes = [("train", BASE_SEED + k, None) for k in range(args.train_clips)]
    scenes += [("test", s, sc) for s, sc in prompts.draw(args.test_clips, proxy.PROXY_SEED, "en")]
    out = []
    for j, (split, seed, scene) in enumerate(scenes):
        if j % n != i:
            continue
        scene = scene or sample_scene(seed, split="train")
        video, labels = render(scene)
        T = min(MEASURE_FRAMES, video.shape[0] // ft * ft)
        H, W = video.shape[1:3]
        x = torch.from_numpy(video[:T].transpose(3, 0, 1, 2)[None] / 127.5 - 1.0).float()
        zs = []
        with torch.no_grad():
            for vae in vaes:
                with recipe.autocast():
                    zs.append(vae.enc(x).float()[0].half())
        colour, shape, motion = token_labels(labels, T // ft, H, W, ft, tok)
        out.append({"split": split, "seed": seed, "z": zs, "colour": torch.from_numpy(colour),
                    "shape": torch.from_numpy(shape), "motion": torch.from_numpy(motion)})
        print(f"{split} {seed}: {len(out)} clips", flush=True)
    os.makedirs(args.out, exist_ok=True)
    torch.save(out, os.path.join(args.out, f"part_{i}_of_{n}.pt"))


def _mean_se(xs):
    xs = np.asarray(xs, np.float64)
    return float(xs.mean()), float(xs.std(ddof=1) / len(xs) ** 0.5) if len(xs) > 1 else 0.0


def _report(args):
    import glob
    from train import proxy, recipe, train_vae
    def load(d):
        return [it for p in sorted(glob.glob(os.path.join(d, "part_*_of_*.pt")))
                for it in torch.load(p)]
    items = load(args.out)
    for d in args.more:             # more autoencoders' latents of the same clips
        more = {(it["split"], it["seed"]): it["z"] for it in load(d)}
        for it in items:
            it["z"] = it["z"] + more[(it["split"], it["seed"])]
    train = [it for it in items if it["split"] == "train"]
    test = [it for it in items if it["split"] == "test"]
    print(f"{len(train)} training clips, {len(test)} held-out clips, "
          f"first {MEASURE_FRAMES} frames", flush=True)
    rows, psnr0 = [], None
    select = [int(i) for i in args.select.split(",")] if args.select else range(len(args.ckpts))
    for m in select:
        path = args.ckpts[m]
        vae = recipe.load_vae(path)[0]
        zs = torch.cat([it["z"][m].float().reshape(4, -1) for it in train], dim=1)
        mean, std = zs.mean(dim=1), zs.std(dim=1)
        cfg = {"vae": dict(vae.dec.v, latent_mean=mean.tolist(), latent_std=std.tolist()),
               "dit": {"patch": recipe.dit_geometry(vae.dec.v)[0]}}
        cache = os.path.join(args.out, f"cache_{m}")
        os.makedirs(cache, exist_ok=True)
        torch.save([{"z": it["z"][m], **{k: it[k] for k in proxy.LABELS}} for it in train],
                   os.path.join(cache, "shard_00000.pt"))
        key = f"{proxy.vae_key(vae)}_{len(train)}x{MEASURE_FRAMES}"
        os.makedirs(os.path.join(args.out, "proxy"), exist_ok=True)
        probes = proxy.train_probe(cache, cfg, key, os.path.join(args.out, "proxy"))
        mu, sd = proxy.latent_norm(cfg)
        acc = {k: [] for k in proxy.LABELS}
        hits = {k: [0, 0] for k in proxy.LABELS}
        dct = []
        pt = cfg["dit"]["patch"][0]
        for it in test:
            z = it["z"][m].float()
            dct.append(float(dct_high_share(z).mean()))
            T = z.shape[1] // pt * pt
            lab = {k: it[k][:T:pt] for k in proxy.LABELS}
            if not (lab["shape"] > 0).any():
                continue
            h = proxy.probe_hits(probes, (z[:, :T] - mu) / sd, lab, cfg)
            for k in proxy.LABELS:
                acc[k].append(h[k][0] / h[k][1])
                hits[k][0] += h[k][0]
                hits[k][1] += h[k][1]
        psnr, scores = train_vae.eval_psnr(vae) if args.psnr else (float("nan"), [])
        if psnr0 is None:
            psnr0 = scores
        d = _mean_se(np.subtract(scores, psnr0)) if scores else (float("nan"), 0.0)
        if not rows:
            acc0, dct0 = acc, dct
        paired = {k + "_d": _mean_se(np.subtract(acc[k], acc0[k])) for k in proxy.LABELS}
        paired["dct_d"] = _mean_se(np.subtract(dct, dct0))
        row = {"ckpt": path, "psnr": psnr, "psnr_d": d, "psnr_clips": scores, **paired,
               "dct": _mean_se(dct), "clips_probe": len(acc["shape"]),
               **{k: _mean_se(acc[k]) for k in proxy.LABELS},
               **{k + "_tokens": hits[k] for k in proxy.LABELS}}
        rows.append(row)
        print(row, flush=True)
    print("| autoencoder | held-out PSNR | vs first (paired) | probe shape | probe colour | "
          "probe motion | DCT high share |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        d, e = r["psnr_d"]
        print(f"| {r['ckpt']} | {r['psnr']:.2f} dB | {d:+.2f} +- {e:.2f} | " +
              " | ".join(f"{r[k][0]:.3f} +- {r[k][1]:.3f}" for k in proxy.LABELS) +
              f" | {r['dct'][0]:.3f} +- {r['dct'][1]:.3f} |")
    torch.save(rows, os.path.join(args.out, f"report{args.select.replace(',', '-')}.pt"))


def main():
    import argparse
    ap = argparse.ArgumentParser(description="the VA-VAE-GT A/B's measurement")
    ap.add_argument("what", choices=("encode", "report"))
    ap.add_argument("ckpts", nargs="+")
    ap.add_argument("--out", required=True)
    ap.add_argument("--part", default="0/1")
    ap.add_argument("--more", action="append", default=[],
                    help="report: the --out of another encode of the same clips, whose "
                         "autoencoders follow (in CKPT's order)")
    ap.add_argument("--train-clips", type=int, default=200)
    ap.add_argument("--test-clips", type=int, default=64)
    ap.add_argument("--no-psnr", dest="psnr", action="store_false")
    ap.add_argument("--select", default="",
                    help="report: only these CKPTs (indices, comma-separated; the first is the "
                         "paired PSNR's reference)")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    (_encode if args.what == "encode" else _report)(args)


if __name__ == "__main__":
    main()
