# SPDX-License-Identifier: LGPL-2.1-or-later
"""The DiT's flow-matching loss of model files on fixed batches of cached
clips: the same clips, windows, captions, timesteps and noise for every
model, so that two models (or seen and unseen clips) compare without the
noise of random batches. No caption dropout, context frames or auxiliary
loss: the plain velocity error, averaged over the batches.

    /usr/bin/python3 train/dit_loss.py models/st2v-world-v1.safetensors \\
        other.safetensors --shards 0 10
"""
import argparse
import os
import sys

if __package__ in (None, ""):      # run as train/dit_loss.py: the repository root on the path
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
if __name__ == "__main__":
    from train import cpu_runtime
    cpu_runtime.tune("dit")        # before torch: OpenMP's wait policy, jemalloc

import numpy as np  # noqa: E402
import torch  # noqa: E402

from train import recipe  # noqa: E402
from train.st2v.model import load_model  # noqa: E402
from train.st2v.textenc import pad_batch  # noqa: E402
from train.st2v.tokenizer import Tokenizer  # noqa: E402
from train.train_dit import LatentCache, flow_loss, latent_norm, sample_t  # noqa: E402


def fixed_batch_loss(model, cache, batches, batch, seed=7, at_t=None):
    """The mean loss over `batches` fixed batches; at_t: every sample at this
    timestep instead of the training's distribution (same clips and noise)."""
    cfg = model.config
    tok = Tokenizer.from_config(cfg)
    mean, std = latent_norm(cfg)
    window, shift = cfg["sampler"]["window"], cfg["sampler"]["shift"]
    rng, rng_t = np.random.default_rng(seed), torch.Generator().manual_seed(seed)
    losses = []
    with torch.no_grad():
        for _ in range(batches):
            z, caps, _ = cache.batch(rng, batch, window)
            ids, mask = pad_batch([tok.encode(c) for c in caps])
            Tp = window // cfg["dit"]["patch"][0]
            tt = sample_t(rng_t, batch, shift)[:, None].repeat(1, Tp)       # (B, window/pt)
            if at_t is not None:
                tt.fill_(at_t)
            losses.append(flow_loss(model, (z - mean) / std, tt, ids, mask, rng_t).item())
    return float(np.mean(losses))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("models", nargs="+", help="model files")
    ap.add_argument("--cache", default=os.path.join(recipe.RUN_DIR, "latents"))
    ap.add_argument("--shards", type=int, nargs="+", default=[0], help="one loss per shard")
    ap.add_argument("--batches", type=int, default=30)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--at-t", type=float, nargs="+", default=None,
                    help="also the loss with every sample at each of these timesteps (0 < t <= 1)")
    args = ap.parse_args()
    if args.at_t and not all(0 < t <= 1 for t in args.at_t):
        ap.error("--at-t: timesteps must be in (0, 1]")
    torch.set_num_threads(args.threads)
    caches = {}
    for i in args.shards:
        caches[i] = LatentCache(args.cache, "shard_%05d.pt" % i)
        if not caches[i].n:
            raise SystemExit(f"dit_loss.py: no shard {i} in {args.cache}")
    for path in args.models:
        model = load_model(path)
        model.eval()
        print(path, " ".join(f"shard {i}: {fixed_batch_loss(model, c, args.batches, args.batch):.4f}"
                             for i, c in caches.items()), flush=True)
        for t in args.at_t or ():
            print(f"  t = {t:g}:", " ".join(
                f"shard {i}: {fixed_batch_loss(model, c, args.batches, args.batch, at_t=t):.4f}"
                for i, c in caches.items()), flush=True)


if __name__ == "__main__":
    main()
