# SPDX-License-Identifier: LGPL-2.1-or-later
"""Stage 3 of the default model: text encoder + DiT, rectified flow.

Trains on the latent cache of stage 2 (train/cache_latents.py):
- windows of `sampler.window` latent frames cut at random from each clip,
  both native sizes (one size per batch);
- timesteps logit-normal, shifted toward noise (SD3), one per sample; in
  30% of samples the first `sampler.context` frames are given clean (t = 0,
  no loss), which is what continuation, streaming and image conditioning
  use at inference;
- the caption dropped (empty prompt) 10% of the time, for guidance;
- with --single-frames FRAC, that fraction of the batches are clips of one
  temporal patch, window/pt times as many (the same tokens a batch);
- auxiliary heads on a middle block predict, per token, the palette colour,
  the shape and the motion direction of what the world drew there (the
  world as the teacher, REPA-style), for every step unless --aux-steps
  says otherwise;
- with --redi N (off by default), the DiT denoises N = 7 (or 4, a compact
  code) more channels per latent cell beside the latent: occupancy, shape and motion
  of what the world drew there (train/redi.py; ReDi), in the flow loss with
  --redi-weight; a checkpoint or model file without them is carried with
  zero weights on them (it predicts the latent as before);
- with --token-compose W (off by default), W times the TokenCompose
  grounding loss (train/token_compose.py): the cross-attention of the
  caption's shape and colour words at an early block
  (--token-compose-blocks) pulled inside the tokens the world labels with
  that shape or colour, until step --token-compose-until;
- bfloat16 autocast on a GPU (--device cuda) and where the CPU computes
  it (recipe.autocast), AdamW with warm-up, an EMA of the weights for
  export.

Checkpoints every few minutes to RUN_DIR/dit/ and resumes from there.
--slim writes the EMA weights alone (float16), which --export --from
turns into a model file: how a GPU machine's run comes back
(train/device_run.sh).

--init-from starts from a model file's text encoder and DiT. Where the
cache is another autoencoder's, --pairs names a cache of the model file's
own autoencoder with the same scene seeds: the DiT keeps its token grid
(tokens of the same frames and pixels, retarget_config) and every weight
but the two token-wide layers, which are carried by least squares between
the two latent spaces (carry_dit).

    /usr/bin/python3 train/train_dit.py --minutes 60
    /usr/bin/python3 train/train_dit.py --export models/st2v-world-v1.safetensors
    /usr/bin/python3 train/train_dit.py --init-from models/st2v-world-v1.safetensors \
        --cache RUN_DIR/latents_v3 --pairs RUN_DIR/latents --dir RUN_DIR/dit_v3
"""
import argparse
import copy
import functools
import glob
import json
import os
import sys

if __package__ in (None, ""):      # run as train/train_dit.py: the repository root on the path
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
if __name__ == "__main__":
    from train import cpu_runtime
    cpu_runtime.tune("dit")        # before torch: OpenMP's wait policy, jemalloc

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from train import loop, recipe, redi, token_compose  # noqa: E402
import train.st2v.dit as dit_module  # noqa: E402
from train.st2v.model import St2vModel, load_model, save_model  # noqa: E402
from train.st2v.textenc import pad_batch  # noqa: E402
from train.st2v.tokenizer import Tokenizer  # noqa: E402

# The per-token labels of the latent cache (cache_latents.token_labels) and
# their class counts: background + 9 palette colours; background + 5 shapes;
# background + cache_latents.MOTION_CLASSES (still, left, right, up, down).
AUX_CLASSES = {"colour": 10, "shape": 6, "motion": 6}
WARMUP = 500        # steps of linear learning-rate warm-up


# ------------------------------------------------------------------- data

class LatentCache:
    """All cached clips in memory (or those of the shard files matching
    `pattern`), grouped by latent size."""

    def __init__(self, directory, pattern="shard_*.pt"):
        self.directory, self.pattern, self.loaded, self.by_size = directory, pattern, set(), {}
        self.refresh()

    def vae_section(self):
        """The "vae" config section of the autoencoder that encoded the
        cache (the recipe's v1 in a cache written before it was recorded),
        with the per-channel latent mean and std written when caching ends."""
        st = torch.load(os.path.join(self.directory, "stats.pt"))
        vae = recipe.vae_section(st.get("vae_config") or "v1")
        vae["latent_mean"] = [round(float(v), 6) for v in st["mean"]]
        vae["latent_std"] = [round(float(v), 6) for v in st["std"]]
        return vae

    def refresh(self):
        """Load the shards written since the last call (cache_latents.py may
        run beside training); returns how many clips were added."""
        added = 0
        for path in sorted(glob.glob(os.path.join(self.directory, self.pattern))):
            if path in self.loaded:
                continue
            for it in torch.load(path):
                key = tuple(it["z"].shape[2:])
                self.by_size.setdefault(key, []).append(it)
                added += 1
            self.loaded.add(path)
        self.sizes = sorted(self.by_size)
        self.n = sum(len(v) for v in self.by_size.values())
        return added

    def captions(self):
        return [c for items in self.by_size.values() for it in items for c in it["captions"]]

    def batch(self, rng, B, window, pt=1, cells=False):
        """z (B,Cz,window,Hl,Wl) float, captions, {label: (B,window/pt,Hp,Wp)}
        for each of AUX_CLASSES: the labels of the first latent frame of each
        temporal patch of pt frames (the cache holds one per latent frame);
        with cells, also {label: (B,window,Hp,Wp)}, those of every latent
        frame (the same draws either way)."""
        weights = np.array([len(self.by_size[s]) for s in self.sizes], np.float64)
        size = self.sizes[rng.choice(len(self.sizes), p=weights / weights.sum())]
        items = self.by_size[size]
        zs, caps, labels = [], [], {k: [] for k in AUX_CLASSES}
        every = {k: [] for k in AUX_CLASSES}
        for _ in range(B):
            it = items[int(rng.integers(len(items)))]
            T = it["z"].shape[1]
            s = int(rng.integers(0, T - window + 1))
            zs.append(it["z"][:, s:s + window].float())
            for k in AUX_CLASSES:
                labels[k].append(it[k][s:s + window:pt].long())
                if cells:
                    every[k].append(it[k][s:s + window].long())
            caps.append(it["captions"][int(rng.integers(len(it["captions"])))])
        out = torch.stack(zs), caps, {k: torch.stack(v) for k, v in labels.items()}
        return out + ({k: torch.stack(v) for k, v in every.items()},) if cells else out


# ------------------------------------------------------------------ model

def make_config(cache):
    cfg = recipe.architecture(cache.vae_section())
    cfg["name"] = recipe.MODEL_NAME
    cfg["description"] = ("st2v default model, trained on the procedural st2v world "
                          "(train/world) with English and Czech captions")
    cfg["tokenizer"] = {"max_length": 48,
                        "pieces": recipe.build_pieces(cache.captions(), min_count=1)}
    cfg["provenance"] = {"recipe": "train/recipe.py, train/train_vae.py, "
                                   "train/cache_latents.py, train/train_dit.py",
                         "data": "train/world, split=train"}
    return cfg


def init_for_training(model):
    """adaLN-Zero: blocks start as the identity, the output at zero."""
    for name, p in model.named_parameters():
        if name.startswith("vae."):
            continue
        with torch.no_grad():
            leaf = name.rsplit(".", 1)[-1]
            if leaf in ("tok_emb", "pos_emb"):
                nn.init.normal_(p, std=0.02)
            elif leaf == "bias":
                p.zero_()
            elif "norm" in name:
                p.fill_(1.0)
            elif p.dim() == 2:
                nn.init.xavier_uniform_(p)
    with torch.no_grad():
        if model.dit.text_pool is not None:     # starts as "no pooled text"
            model.dit.text_pool.weight.zero_()
        for blk in model.dit.blocks:
            blk.ada.weight.zero_()
        model.dit.final.ada.weight.zero_()
        model.dit.final.linear.weight.zero_()


class AuxHeads(nn.Module):
    """Per-token classifiers of AUX_CLASSES (colour, shape, motion
    direction) on a middle DiT block."""

    def __init__(self, dim):
        super().__init__()
        self.head = nn.Sequential(nn.Linear(dim, dim), nn.SiLU(),
                                  nn.Linear(dim, sum(AUX_CLASSES.values())))

    def forward(self, x):
        """x (B, Tp, S, D) -> {label: logits (B, Tp, S, classes)}."""
        return dict(zip(AUX_CLASSES, self.head(x).split(list(AUX_CLASSES.values()), dim=-1)))


def sample_t(rng_t, B, shift):
    u = torch.sigmoid(torch.randn(B, generator=rng_t))
    return shift * u / (1 + (shift - 1) * u)


# ------------------------------------------------------------------- main

def latent_norm(cfg):
    """The latent normalisation of a config: mean, std (1, Cz, 1, 1, 1)."""
    return (torch.tensor(cfg["vae"]["latent_mean"])[None, :, None, None, None],
            torch.tensor(cfg["vae"]["latent_std"])[None, :, None, None, None])


def flow_loss(model, x0, tt, ids, mask, rng_t, cz=None):
    """Rectified-flow loss of one batch: x0 (B, C, T, Hl, Wl) normalised
    latents, tt (B, T/pt) timesteps per temporal patch of pt latent frames
    (0 marks clean context, left out of the loss). Draws the noise from
    rng_t (a CPU generator, so a GPU run draws the same noise). With cz
    (< C: the latent's channels, ReDi's extra ones after them) the pair
    (loss of the first cz channels, loss of the others), each a mean over
    its own channels."""
    e = torch.randn(x0.shape, generator=rng_t).to(x0.device)
    tf = tt.repeat_interleave(x0.shape[2] // tt.shape[1], dim=1)      # (B, T) per latent frame
    tb = tf[:, None, :, None, None]
    xt = (1 - tb) * x0 + tb * e
    with recipe.autocast(x0.device):
        v = model.dit(xt, tt, model.text(ids, mask), mask).float()
    w = (tf > 0).float()[:, None, :, None, None]
    err = ((v - (e - x0)) ** 2) * w
    if cz is None:                      # the expression of every run before ReDi, bit for bit
        return err.sum() / (w.sum() * x0.shape[1] * x0.shape[3] * x0.shape[4])
    cells = w.sum() * x0.shape[3] * x0.shape[4]
    return err[:, :cz].sum() / (cells * cz), err[:, cz:].sum() / (cells * (x0.shape[1] - cz))


def retarget_config(start_cfg, cache):
    """The config of a model file's text encoder and DiT moved onto the
    autoencoder that encoded `cache` (its "vae" section and latent
    statistics), with the DiT patch and sampler window/context that cover
    the same video frames and pixels as before (so the token grid, and every
    weight but the token-wide layers, carry over); tokenizer, widths and
    depths stay the model file's."""
    cfg = copy.deepcopy(start_cfg)
    cfg["vae"] = cache.vae_section()
    ft, s = recipe.compression(start_cfg["vae"])
    pt, ps, _ = start_cfg["dit"]["patch"]
    sam = cfg["sampler"]
    cfg["dit"]["patch"], sam["window"], sam["context"] = recipe.dit_geometry(
        cfg["vae"], pt * ft, ps * s, sam["window"] * ft, sam["context"] * ft)
    return cfg


def paired_tokens(cache, cfg, pairs, pairs_cfg):
    """Normalised DiT tokens of the clips both caches hold (matched by
    scene seed): (new (N, P), old (N, P_old)), token n of both covering the
    same frames and pixels. `pairs` is a LatentCache of the autoencoder of
    `pairs_cfg`."""
    old = {it["seed"]: it for items in pairs.by_size.values() for it in items}
    norms = latent_norm(cfg), latent_norm(pairs_cfg)
    patches = cfg["dit"]["patch"], pairs_cfg["dit"]["patch"]
    new_tok, old_tok = [], []
    for items in cache.by_size.values():
        for it in items:
            if it["seed"] not in old:
                continue
            zs = [it["z"], old[it["seed"]]["z"]]                    # (Cz, T, Hl, Wl) each
            n = min(z.shape[1] // p[0] for z, p in zip(zs, patches))   # temporal patches in both
            toks = [dit_module.patchify(((z.float()[None] - m) / s)[:, :, :n * p[0]], *p)[0]
                    for z, (m, s), p in zip(zs, norms, patches)]       # (N, P) each
            if toks[0].shape[0] != toks[1].shape[0]:
                raise SystemExit(f"train_dit.py: seed {it['seed']}: the two caches' token "
                                 "grids differ (tokens of other sizes)")
            new_tok.append(toks[0])
            old_tok.append(toks[1])
    if not new_tok:
        raise SystemExit("train_dit.py: --pairs holds none of the cache's clips (no common seed)")
    return torch.cat(new_tok), torch.cat(old_tok)


def least_squares(x, y, ridge=1e-3):
    """(W (Px, Py), b (Py,), R^2) of y ~ x @ W + b, ridge-regularised."""
    xa = torch.cat([x, torch.ones(len(x), 1)], 1).double()
    a = xa.T @ xa
    a += ridge * len(x) * torch.eye(len(a), dtype=a.dtype)
    wb = torch.linalg.solve(a, xa.T @ y.double())
    res = y.double() - xa @ wb
    r2 = 1 - res.pow(2).sum() / (y.double() - y.double().mean(0)).pow(2).sum()
    return wb[:-1].float(), wb[-1].float(), float(r2)


def carry_dit(model, start, cache, pairs):
    """Load model file `start`'s text encoder and DiT into `model`, a DiT on
    another autoencoder (retarget_config). The two layers whose width is the
    token's (patch embedding in, final linear out) are carried by least
    squares between the two latent spaces on paired clips: the embedding of
    a new token x is the old one's of its best linear estimate old ~ x A + a,
    and the output maps the old prediction to the new space by new ~ old B
    (velocities are differences, so without B's offset). Every other weight
    is the model file's. Returns the two fits' R^2."""
    state = {k: v for k, v in start.state_dict().items() if not k.startswith("vae.")}
    new_tok, old_tok = paired_tokens(cache, model.config, pairs, start.config)
    a, a_off, r2_in = least_squares(new_tok, old_tok)               # (P, P_old), (P_old,)
    b, _, r2_out = least_squares(old_tok, new_tok)                  # (P_old, P)
    w, bias = state.pop("dit.patch_embed.weight"), state.pop("dit.patch_embed.bias")   # (D, P_old)
    state["dit.patch_embed.weight"] = w @ a.T                       # (D, P)
    state["dit.patch_embed.bias"] = bias + w @ a_off
    w, bias = state.pop("dit.final.linear.weight"), state.pop("dit.final.linear.bias")  # (P_old, D)
    state["dit.final.linear.weight"] = b.T @ w                      # (P, D)
    state["dit.final.linear.bias"] = b.T @ bias
    missing, unexpected = model.load_state_dict(state, strict=False)
    if unexpected or any(not k.startswith("vae.") for k in missing):
        raise SystemExit(f"train_dit.py: {start.config.get('name')} does not fit the new DiT "
                         f"(missing {missing[:3]}, unexpected {unexpected[:3]})")
    return r2_in, r2_out


def same_autoencoder(a, b):
    """Whether two "vae" config sections describe the same network (the
    latent statistics aside)."""
    def arch(v):
        return {k: x for k, x in v.items() if k not in ("latent_mean", "latent_std")}
    return arch(a) == arch(b)


def with_redi(cfg, n, cache):
    """(cfg, R): the config with dit.extra_channels R (ReDi): as cfg says
    where n is None, else n; when R > 0 and the config has no code
    statistics yet (provenance.redi), they are computed over the cache."""
    have = cfg["dit"].get("extra_channels", 0)
    if n is None or n == have:
        n = have
    elif have:
        raise SystemExit(f"train_dit.py: the run has {have} extra (ReDi) channels, --redi says {n}")
    cfg = copy.deepcopy(cfg)
    if n:
        cfg["dit"]["extra_channels"] = n
        prov = cfg.setdefault("provenance", {})
        if "redi" not in prov:
            prov["redi"] = redi.stats((it for items in cache.by_size.values() for it in items), n)
            print(f"ReDi: {n} extra channels, code mean {prov['redi']['mean']} "
                  f"std {prov['redi']['std']}", flush=True)
    return cfg, n


def checkpoint_path(args):
    return loop.checkpoint_path(args.dir)


def load_checkpoint(path):
    """A checkpoint (or --slim file) on the CPU, whatever device wrote it."""
    if not os.path.exists(path):
        raise SystemExit(f"train_dit.py: no checkpoint {path}")
    return torch.load(path, map_location="cpu")


def export(args):
    ck = load_checkpoint(args.from_file or checkpoint_path(args))
    cfg = ck["config"]
    model = St2vModel(cfg)
    model.load_state_dict(ck["ema"], strict=False)
    vae, vae_step = recipe.load_vae(args.vae)
    if not same_autoencoder(vae.dec.v, cfg["vae"]):
        raise SystemExit(f"train_dit.py: {args.vae} is not the autoencoder this DiT was trained "
                         "for (its vae config differs)")
    model.vae.load_state_dict(vae.state_dict())
    cfg = copy.deepcopy(cfg)
    cfg["sampler"] = recipe.architecture(cfg["vae"])["sampler"]   # inference defaults: the recipe's now
    cfg["provenance"]["dit_steps"] = ck["step"]
    cfg["provenance"]["vae_steps"] = vae_step
    if args.name:
        cfg["name"] = args.name
    model.config = cfg
    save_model(args.export, model, dtype="F16")
    print(f"wrote {args.export} (DiT step {ck['step']}, VAE step {vae_step})")


def slim(args):
    """The checkpoint's EMA weights in float16, its step and config: what
    --export needs (with --from), small enough to bring back from a GPU
    machine, where the full checkpoint (optimiser state, float32) is not."""
    ck = load_checkpoint(checkpoint_path(args))
    torch.save({"ema": {k: v.half() for k, v in ck["ema"].items()},
                "step": ck["step"], "config": ck["config"]}, args.slim + ".tmp")
    os.replace(args.slim + ".tmp", args.slim)
    print(f"wrote {args.slim} (DiT step {ck['step']}, "
          f"{os.path.getsize(args.slim) / 2**20:.1f} MiB)")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    loop.add_arguments(ap, lr=3e-4)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--aux-steps", type=int, default=None,
                    help="switch the auxiliary heads off from this step on (default: never)")
    ap.add_argument("--aux-weight", type=float, default=0.5)
    ap.add_argument("--single-frames", type=float, default=0.0, metavar="FRAC",
                    help="this fraction of the batches are clips of one temporal patch (no "
                         "motion, no context), as many more of them as keeps the tokens of a "
                         "batch: cheap samples of shape and colour (default 0)")
    ap.add_argument("--redi", type=int, default=None, metavar="N",
                    help=f"the DiT denoises N = {redi.CHANNELS} (or {redi.COMPACT}, a compact "
                         "code) extra channels per latent cell, the world's occupancy, shape and "
                         "motion (train/redi.py), beside the "
                         "latent; a checkpoint or --init-from model without them is carried with "
                         "zero weights on them (default: as the checkpoint; 0 when starting)")
    ap.add_argument("--redi-weight", type=float, default=1.0,
                    help="weight of the extra channels' flow loss (default 1)")
    ap.add_argument("--token-compose", type=float, default=0.0, metavar="W",
                    help="weight of the TokenCompose grounding loss: the object words' "
                         "cross-attention pulled inside the tokens of their shape or colour "
                         "(train/token_compose.py; default 0, off)")
    ap.add_argument("--token-compose-blocks", default="1", metavar="I[,J...]",
                    help="the DiT blocks (from 0) whose cross-attention it reads; the loss is "
                         "their mean (default 1, the second block)")
    ap.add_argument("--token-compose-until", type=int, default=None, metavar="STEP",
                    help="switch it off from this step on (the issue: about halfway through "
                         "the run; default: never)")
    ap.add_argument("--log-every", type=int, default=50, help="steps between log lines (50)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--device", default="cpu", help="cpu, or cuda where a GPU is at hand")
    ap.add_argument("--dir", default=os.path.join(recipe.RUN_DIR, "dit"))
    ap.add_argument("--cache", default=os.path.join(recipe.RUN_DIR, "latents"))
    ap.add_argument("--export", help="write the EMA model as a .safetensors file and exit")
    ap.add_argument("--name", help="with --export: the model's name (default: the one the run "
                                   "started with, which a carried run takes from its --init-from "
                                   "file)")
    ap.add_argument("--from", dest="from_file",
                    help="with --export: a --slim file instead of the run's checkpoint")
    ap.add_argument("--slim", help="write the checkpoint's EMA weights (float16), step and "
                                   "config to this file and exit")
    ap.add_argument("--vae", default=os.path.join(recipe.RUN_DIR, "vae", "checkpoint.pt"),
                    help="with --export: the autoencoder checkpoint (a decoder-only fine-tune "
                         "of the one the latents came from), or a model file whose autoencoder "
                         "to take")
    ap.add_argument("--init-from", help="with no checkpoint: start from the text encoder and "
                                        "DiT (and the config) of a model file, continuing its "
                                        "step count (provenance dit_steps) with a new warm-up")
    ap.add_argument("--pairs", help="with --init-from a model file on another autoencoder than "
                                    "the cache's: a latent cache of the model file's autoencoder "
                                    "holding clips of the same scene seeds, on which its DiT's "
                                    "input and output layers are carried to the new latents")
    args = ap.parse_args()
    loop.check_arguments(ap, args)
    if args.from_file and not args.export:
        ap.error("--from goes with --export")
    if args.name is not None and not (args.export and args.name.strip()):
        ap.error("--name goes with --export and is not empty")
    if args.redi not in (None, 0, redi.CHANNELS, redi.COMPACT):
        ap.error(f"--redi is 0, {redi.CHANNELS} or {redi.COMPACT} (train/redi.py's codes)")
    if args.log_every < 1:
        ap.error("--log-every must be >= 1")
    if args.redi_weight < 0:
        ap.error("--redi-weight must be >= 0")
    if args.token_compose < 0:
        ap.error("--token-compose must be >= 0")
    try:
        args.token_compose_blocks = [int(b) for b in args.token_compose_blocks.split(",")]
    except ValueError:
        ap.error("--token-compose-blocks is a comma-separated list of block numbers")
    dev = recipe.device(args.device)
    torch.set_num_threads(args.threads)
    torch.set_flush_denormal(True)
    os.makedirs(args.dir, exist_ok=True)
    if args.export:
        return export(args)
    if args.slim:
        return slim(args)
    sitting(args, dev)


def sitting(args, dev):
    """One sitting of training: resume or start, train, checkpoint."""
    cache = LatentCache(args.cache)
    ck = loop.load_checkpoint(args.dir)
    start = load_model(args.init_from) if args.init_from and not ck else None
    carry = start is not None and not same_autoencoder(start.config["vae"], cache.vae_section())
    if carry and not args.pairs:
        raise SystemExit(f"train_dit.py: {args.init_from} is on another autoencoder than the "
                         f"cache {args.cache}: give --pairs, a cache of its own autoencoder")
    cfg = (ck["config"] if ck else retarget_config(start.config, cache) if carry else
           start.config if start else make_config(cache))
    cfg, n_extra = with_redi(cfg, args.redi, cache)
    torch.manual_seed(0)
    cz = next(iter(cache.by_size.values()))[0]["z"].shape[0] if cache.n else None
    if cz is not None and cz != cfg["vae"]["z_channels"]:
        raise SystemExit(f"train_dit.py: the latent cache {args.cache} has {cz} channels, the "
                         f"model {cfg['vae']['z_channels']} (latents of another autoencoder)")
    model = St2vModel(cfg)
    init_for_training(model)
    if carry:
        r2 = carry_dit(model, start, cache, LatentCache(args.pairs))
        print(f"initialised from {args.init_from}, carried onto the cache's autoencoder "
              f"(R^2 of the input map {r2[0]:.3f}, of the output map {r2[1]:.3f})", flush=True)
    elif start:
        model.load_state_dict(redi.widen_state(start.state_dict(), model.state_dict()))
        print(f"initialised from {args.init_from}", flush=True)
    del model.vae                       # trained in stage 1, not here
    aux = AuxHeads(cfg["dit"]["dim"])
    if ck:
        model.load_state_dict(redi.widen_state(ck["model"], model.state_dict()))
        aux.load_state_dict(ck["aux"])
    model.to(dev)
    aux.to(dev)
    params = list(model.parameters()) + list(aux.parameters())
    opt = torch.optim.AdamW(params, lr=args.lr, betas=(0.9, 0.99), weight_decay=0.01)
    ema = loop.Ema(model, copy.deepcopy(model.state_dict()))
    step = start.config.get("provenance", {}).get("dit_steps", 0) if start else 0
    warm_from = step                    # the learning rate warms up from here
    if ck:
        names = [n for n, _ in model.named_parameters()] + [None] * len(list(aux.parameters()))
        opt.load_state_dict(redi.widen_optimizer(ck["opt"], params, names))  # to the params' device
        ema.state = {k: v.to(dev) for k, v in
                     redi.widen_state(ck["ema"], model.state_dict()).items()}
        step = ck["step"]
        warm_from = ck.get("warm_from", 0)
        print(f"resumed at step {step}", flush=True)
    tok = Tokenizer.from_config(cfg)
    encode = functools.lru_cache(maxsize=None)(tok.encode)    # the captions are a fixed set
    mean, std = (v.to(dev) for v in latent_norm(cfg))
    window, context = cfg["sampler"]["window"], cfg["sampler"]["context"]
    pt = cfg["dit"]["patch"][0]                 # latent frames per temporal patch
    cz = cfg["vae"]["z_channels"]
    redi_stats = cfg["provenance"]["redi"] if n_extra else None
    shift = cfg["sampler"]["shift"]
    mid = len(model.dit.blocks) // 2
    feats = {}
    model.dit.blocks[mid - 1].register_forward_hook(lambda m, i, o: feats.__setitem__("x", o))
    # TokenCompose (off unless --token-compose W > 0; arguments built by hand may leave it out)
    tc_weight = getattr(args, "token_compose", 0.0)
    tc_until = getattr(args, "token_compose_until", None)
    tc = None
    if tc_weight > 0:
        blocks = getattr(args, "token_compose_blocks", [1])
        if not blocks or any(not 0 <= b < len(model.dit.blocks) for b in blocks):
            raise SystemExit(f"train_dit.py: --token-compose-blocks {blocks}: the DiT has "
                             f"blocks 0..{len(model.dit.blocks) - 1}")
        tc = token_compose.Reader(model.dit, blocks, tok)
        print(f"TokenCompose: weight {tc_weight} at block(s) {blocks}"
              + (f" until step {tc_until}" if tc_until is not None else ""), flush=True)

    rng = np.random.default_rng(step + 12345)
    rng_t = torch.Generator().manual_seed(step + 999)
    print(f"{cache.n} clips, sizes {cache.sizes}; vocabulary {len(cfg['tokenizer']['pieces'])} "
          f"pieces; {sum(p.numel() for p in model.parameters()) / 1e6:.2f}M parameters", flush=True)
    json.dump(cfg, open(os.path.join(args.dir, "config.json"), "w"), ensure_ascii=False)

    def batch_loss(step):
        single = args.single_frames > 0 and rng.random() < args.single_frames
        w = pt if single else window            # one temporal patch: window/pt times the clips
        z, caps, labels, *every = cache.batch(rng, args.batch * (window // w), w, pt,
                                              cells=bool(n_extra))
        B = z.shape[0]
        x0 = (z.to(dev) - mean) / std
        if n_extra:
            a0 = redi.targets(every[0]["shape"], every[0]["motion"], redi_stats,
                              cfg["dit"]["patch"])
            x0 = torch.cat([x0, a0.to(dev)], dim=1)
        labels = {k: v.to(dev) for k, v in labels.items()}
        caps = ["" if rng.random() < 0.1 else c for c in caps]
        ids, mask = (v.to(dev) for v in pad_batch([encode(c) for c in caps]))
        t = sample_t(rng_t, B, shift)
        tt = t[:, None].repeat(1, w // pt)                          # (B, T/pt)
        clean = torch.from_numpy(rng.random(B) < (0.0 if single else 0.3))
        tt[clean, :context // pt] = 0.0
        tt = tt.to(dev)
        stats = {}
        tc_on = tc is not None and (tc_until is None or step < tc_until)
        if tc is not None:
            tc.enable(tc_on)
        if n_extra:
            loss_fm, loss_redi = flow_loss(model, x0, tt, ids, mask, rng_t, cz)
            stats["redi"] = loss_redi.item()
            loss, loss_aux = loss_fm + args.redi_weight * loss_redi, 0.0
        else:
            loss_fm = flow_loss(model, x0, tt, ids, mask, rng_t)
            loss, loss_aux = loss_fm, 0.0
        if (args.aux_steps is None or step < args.aux_steps) and args.aux_weight > 0:
            with recipe.autocast(dev):
                logits = aux(feats["x"])                            # {k: (B, Tp, S, C_k)}
            loss_aux = sum(F.cross_entropy(logits[k].float().reshape(-1, n), labels[k].reshape(-1))
                           for k, n in AUX_CLASSES.items())
            loss = loss + args.aux_weight * loss_aux
        if tc_on:
            loss_tc, _ = tc.loss(caps, labels)
            if loss_tc is not None:
                stats["tc"] = loss_tc.item()
                loss = loss + tc_weight * loss_tc
        return loss, dict(stats, fm=loss_fm.item(), aux=float(loss_aux)), B

    def log_line(step, s):
        extra = f" redi {s.avg['redi']:.4f}" if n_extra else ""
        if tc is not None and (tc_until is None or step <= tc_until) and "tc" in s.avg:
            extra += f" tc {s.avg['tc']:.4f}"
        return (f"step {step} fm {s.avg['fm']:.4f}{extra} aux {s.avg['aux']:.3f} "
                f"lr {s.lr:.2e} {s.samples_per_s:.1f} samples/s")

    def checkpoint(step):
        return {"model": model.state_dict(), "aux": aux.state_dict(), "ema": ema.state,
                "opt": opt.state_dict(), "step": step, "warm_from": warm_from, "config": cfg}

    def refresh():
        if cache.refresh():
            print(f"latent cache now {cache.n} clips", flush=True)

    loop.train(args, opt, params, step, warm_from=warm_from, warmup=WARMUP,
               batch_loss=batch_loss, checkpoint=checkpoint, log_line=log_line,
               log_every=args.log_every,
               directory=args.dir, log=loop.Log(args.dir), ema=ema, after_save=refresh)


if __name__ == "__main__":
    main()
