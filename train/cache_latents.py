# SPDX-License-Identifier: LGPL-2.1-or-later
"""Stage 2 of the default model: encode world clips into a latent cache.

Renders training-split scenes at their native sizes, encodes each whole clip
with the stage-1 autoencoder, and appends to shards in RUN_DIR/latents/:
per clip the latent (Cz, T, Hl, Wl) in float16, four captions (two English,
two Czech, training templates only), and token-level labels from the
world's ground truth (the palette colour, the shape and the motion
direction of the object that covers most of each DiT token), which the
DiT's auxiliary heads learn from. Shards are independent and resumable:
clip k always comes from scene seed BASE + k, shard i holds clips
i*SHARD .. i*SHARD + SHARD-1, and a run writes only the shards missing.

    /usr/bin/python3 train/cache_latents.py --clips 4000 --jobs 2
"""
import argparse
import glob
import multiprocessing
import os
import signal
import sys
import time

if __package__ in (None, ""):      # run as train/cache_latents.py: the repository root on the path
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
if __name__ == "__main__":
    from train import cpu_runtime
    cpu_runtime.tune("vae")        # before torch: OpenMP's wait policy, jemalloc

import numpy as np  # noqa: E402
import torch  # noqa: E402

from train import recipe  # noqa: E402
from train.world import COLOURS, SHAPES, caption, render, sample_scene  # noqa: E402

BASE_SEED = 10_000_000
SHARD = int(os.environ.get("ST2V_SHARD", 250))  # clips per shard file
COLOUR_INDEX = {tuple(v): i + 1 for i, v in enumerate(COLOURS.values())}


# motion classes of a token (token_labels): 0 background, then these
MOTION_CLASSES = ("still", "left", "right", "up", "down")
STILL_SPEED = 0.25      # pixels per frame on screen, below which a token is "still"


def motion_class(velocity):
    """(T_lat, 2) mean screen velocity (x, y) in pixels per frame ->
    (T_lat,) 1 + index into MOTION_CLASSES, by the dominant axis."""
    vx, vy = velocity[:, 0], velocity[:, 1]
    horiz = np.where(vx < 0, 2, 3)
    vert = np.where(vy < 0, 4, 5)
    cls = np.where(np.abs(vx) >= np.abs(vy), horiz, vert)
    return np.where(np.hypot(vx, vy) < STILL_SPEED, 1, cls).astype(np.uint8)


def token_labels(labels, T_lat, H, W, ft, tok):
    """Per DiT token (T_lat, H/tok, W/tok), each ft video frames deep and
    tok pixels wide (recipe.token_geometry): 1 + palette index of the
    colour, 1 + shape index and the motion class (motion_class) of the
    object covering most of it (0: background, when no object covers a
    quarter of the token)."""
    Hp, Wp = H // tok, W // tok
    best = np.zeros((T_lat, Hp, Wp), np.float32)
    colour = np.zeros((T_lat, Hp, Wp), np.uint8)
    shape = np.zeros((T_lat, Hp, Wp), np.uint8)
    motion = np.zeros((T_lat, Hp, Wp), np.uint8)
    for o in labels["objects"]:
        m = o["mask"][:T_lat * ft].astype(np.float32)          # (T, H, W)
        cov = m.reshape(T_lat, ft, Hp, tok, Wp, tok).mean(axis=(1, 3, 5))
        mid = o["colour"][np.arange(T_lat) * ft + ft // 2]     # (T_lat, 3)
        cidx = np.array([COLOUR_INDEX.get(tuple(int(x) for x in c), 0) for c in mid], np.uint8)
        vel = o["velocity"][:T_lat * ft].reshape(T_lat, ft, 2).mean(axis=1)   # (T_lat, 2)
        win = (cov > best) & (cov >= 0.25)
        best = np.maximum(best, cov)
        colour = np.where(win, cidx[:, None, None], colour)
        shape = np.where(win, np.uint8(1 + SHAPES.index(o["shape"])), shape)
        motion = np.where(win, motion_class(vel)[:, None, None], motion)
    return colour, shape, motion


def encode_shard(vae, index, dev=torch.device("cpu")):
    """Clips index*SHARD .. +SHARD-1: scene seed BASE + clip number; the
    autoencoder on `dev`, the world rendered on the CPU."""
    ft, tok = recipe.token_geometry(vae.dec.v)
    items = []
    for j in range(SHARD):
        seed = BASE_SEED + index * SHARD + j
        scene = sample_scene(seed, split="train")
        video, labels = render(scene)
        T = video.shape[0] // ft * ft
        x = torch.from_numpy(video[:T].transpose(3, 0, 1, 2)[None] / 127.5 - 1.0).float()
        with torch.no_grad(), recipe.autocast(dev):
            z = vae.enc(x.to(dev)).float()[0].cpu()             # (Cz, T/ft, Hl, Wl)
        rng = np.random.default_rng(seed)
        caps = [caption(scene, lang, rng) for lang in ("en", "en", "cs", "cs")]
        H, W = video.shape[1:3]
        colour, shape, motion = token_labels(labels, T // ft, H, W, ft, tok)
        items.append({"seed": seed, "z": z.half(), "captions": caps,
                      "colour": torch.from_numpy(colour), "shape": torch.from_numpy(shape),
                      "motion": torch.from_numpy(motion)})
    return items


_worker = {}


def _init_worker(vae_path, threads, dev):
    torch.set_num_threads(threads)
    _worker["dev"] = recipe.device(dev)
    _worker["vae"], _ = recipe.load_vae(vae_path)
    _worker["vae"].to(_worker["dev"])


def _write_shard(args):
    directory, index, t_end = args
    if time.time() >= t_end:
        return None, 0.0
    t0 = time.time()
    items = encode_shard(_worker["vae"], index, _worker["dev"])
    path = shard_path(directory, index)
    torch.save(items, path + ".tmp")
    os.replace(path + ".tmp", path)
    return path, time.time() - t0


def shard_path(directory, index):
    return os.path.join(directory, "shard_%05d.pt" % index)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--clips", type=int, default=4000, help="total clips wanted in the cache")
    ap.add_argument("--minutes", type=float, default=1e9,
                    help="start no new shard after this long")
    ap.add_argument("--threads", type=int, default=1, help="torch threads per job")
    ap.add_argument("--jobs", type=int, default=2,
                    help="shards encoded at once, each in its own process")
    ap.add_argument("--device", default="cpu",
                    help="where the jobs encode: cpu, or cuda where a GPU is at hand")
    ap.add_argument("--dir", default=os.path.join(recipe.RUN_DIR, "latents"))
    ap.add_argument("--vae", default=os.path.join(recipe.RUN_DIR, "vae", "checkpoint.pt"),
                    help="a stage-1 checkpoint, or a model file whose encoder to use")
    args = ap.parse_args()
    if args.jobs < 1 or args.threads < 1:
        raise SystemExit("cache_latents.py: --jobs and --threads must be at least 1")
    recipe.device(args.device)          # a bad --device fails here, not in every job
    os.makedirs(args.dir, exist_ok=True)
    todo = [i for i in range(-(-args.clips // SHARD))
            if not os.path.exists(shard_path(args.dir, i))]
    t_end = time.time() + args.minutes * 60
    # a SIGTERM leaves through the pool's with-block, which stops the workers
    signal.signal(signal.SIGTERM, lambda *_: sys.exit("cache_latents.py: terminated"))
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(args.jobs, _init_worker, (args.vae, args.threads, args.device)) as pool:
        for path, secs in pool.imap_unordered(_write_shard, [(args.dir, i, t_end) for i in todo]):
            if path:
                done = len(glob.glob(os.path.join(args.dir, "shard_*.pt")))
                print(f"{path}: {SHARD} clips in {secs:.0f} s ({done * SHARD} cached)", flush=True)
    stats(args.dir, recipe.load_vae(args.vae)[0].dec.v)


def stats(directory, vae_config):
    """Per-channel mean and std of the cached latents (section 7), and the
    "vae" config section of the autoencoder that encoded them, which a DiT
    trained from scratch on them takes (train_dit.py make_config)."""
    s1 = s2 = n = 0
    for path in sorted(glob.glob(os.path.join(directory, "shard_*.pt"))):
        for it in torch.load(path):
            z = it["z"].float()
            s1 = s1 + z.sum(dim=(1, 2, 3))
            s2 = s2 + (z ** 2).sum(dim=(1, 2, 3))
            n += z[0].numel()
    mean = s1 / n
    std = (s2 / n - mean ** 2).clamp_min(1e-8).sqrt()
    torch.save({"mean": mean, "std": std, "vae_config": vae_config},
               os.path.join(directory, "stats.pt"))
    print("latent mean", [round(float(v), 3) for v in mean])
    print("latent std ", [round(float(v), 3) for v in std])


if __name__ == "__main__":
    main()
