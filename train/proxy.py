# SPDX-License-Identifier: LGPL-2.1-or-later
"""The proxy: what a DiT checkpoint has learnt, in minutes (issue 19, §2).

    /usr/bin/python3 train/proxy.py MODEL [MODEL2] [--vae V] [--cache DIR] [--clips 64]

MODEL is a model file (.safetensors) or a train_dit.py checkpoint (its EMA
weights; --vae then names the autoencoder its latents came from, a
train_vae.py checkpoint or a model file). With MODEL2 (on the same
autoencoder) it also prints the paired difference of the two, with its
standard error: the same clips, captions and noise go through both, so the
clip-to-clip spread cancels out of the difference.

What it measures, on `--clips` held-out scenes (the evaluation's held-out
combinations and templates, scene seeds PROXY_SEED*1000 + i, apart from
the eval's), each with an English and a Czech caption:
- the one-step clean prediction x0^ = x_t - t v^ of the first sampling
  window, all of it noised at t = 0.5, 0.7 and 0.9 with fixed noise, the
  velocity guided as the sampler guides it (the model's CFG scale);
- a per-token probe (a one-hidden-layer MLP (256 wide) on a token's latent
  patch, one per label: colour, shape, motion direction; trained on the
  object tokens of clean latents of the training cache, `--cache`) read on
  x0^: the share of the object tokens whose label it names, against the
  same probe on the clean latent (the ceiling this autoencoder and probe
  leave);
- the flow-matching loss at each t, over all tokens and over object tokens
  alone.
Each number is a mean over clips, with its standard error over clips.
A model with ReDi channels (dit.extra_channels, train/redi.py) gets them
beside the latent: the world's code of the clip noised at the same t with
noise of their own (--redi-input truth, the training distribution; the
structure it gives at t = 0.5 is more than the sampler's own estimate
would, so the numbers are an upper bound) or pure noise (--redi-input
noise, a lower bound); everything is measured on the latent's channels.
The held-out clips and the probe are cached in RUN_DIR/proxy/ by the
autoencoder's weights."""
import argparse
import hashlib
import os
import sys
import time

if __package__ in (None, ""):      # run as train/proxy.py: the repository root on the path
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
if __name__ == "__main__":
    from train import cpu_runtime
    cpu_runtime.tune("dit")     # before torch: OpenMP's wait policy, jemalloc

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from train import recipe, redi  # noqa: E402
from train.cache_latents import token_labels  # noqa: E402
from train.st2v.model import St2vModel, load_model  # noqa: E402
from train.st2v.textenc import pad_batch  # noqa: E402
from train.st2v.tokenizer import Tokenizer  # noqa: E402
from train.eval import prompts  # noqa: E402
from train.world import caption, render  # noqa: E402

PROXY_SEED = 77             # scene seeds 77000.. (the eval draws 0.. and 1000..)
TS = (0.5, 0.7, 0.9)
LABELS = ("colour", "shape", "motion")


def load_dit(path):
    """(St2vModel without a usable autoencoder, config) of a model file or a
    train_dit.py checkpoint (EMA weights), in eval mode."""
    if path.endswith(".safetensors"):
        m = load_model(path)
    else:
        ck = torch.load(path, map_location="cpu")
        m = St2vModel(ck["config"])
        missing = m.load_state_dict(ck["ema"], strict=False).missing_keys
        if any(not k.startswith("vae.") for k in missing):
            raise SystemExit(f"proxy.py: {path}: the checkpoint lacks {missing[0]}")
    return m.eval(), m.config


def vae_key(vae):
    h = hashlib.sha1()
    for k, v in sorted(vae.state_dict().items()):
        h.update(k.encode())
        h.update(v.detach().float().numpy().tobytes())
    return h.hexdigest()[:12]


def patches(x, patch):
    """x (B, C, T, H, W) -> (B, T/pt, H/ph, W/pw, C*pt*ph*pw): a token's values."""
    B, C, T, H, W = x.shape
    pt, ph, pw = patch
    x = x.reshape(B, C, T // pt, pt, H // ph, ph, W // pw, pw)
    return x.permute(0, 2, 4, 6, 1, 3, 5, 7).reshape(B, T // pt, H // ph, W // pw, -1)


def heldout_clips(vae, n, cfg, out_dir):
    """n held-out scenes encoded: [{z (Cz,T,Hl,Wl), captions (en, cs),
    labels {k: (T_lat, Hp, Wp)}}], cached by the autoencoder's weights."""
    path = os.path.join(out_dir, f"heldout_{vae_key(vae)}_{n}.pt")
    if os.path.exists(path):
        return torch.load(path)
    ft, tok = recipe.token_geometry(cfg["vae"])
    clips = []
    for (seed, scene), (_, scene_cs) in zip(prompts.draw(n, PROXY_SEED, "en"),
                                            prompts.draw(n, PROXY_SEED, "cs")):
        video, labels = render(scene)
        T = video.shape[0] // ft * ft
        x = torch.from_numpy(video[:T].transpose(3, 0, 1, 2)[None] / 127.5 - 1.0).float()
        with torch.no_grad():
            z = vae.enc(x).float()[0]
        H, W = video.shape[1:3]
        lab = dict(zip(LABELS, (torch.from_numpy(a) for a in
                                token_labels(labels, T // ft, H, W, ft, tok))))
        clips.append({"seed": seed, "z": z, "captions": (scene.caption, scene_cs.caption),
                      "labels": lab})
    os.makedirs(out_dir, exist_ok=True)
    torch.save(clips, path)
    return clips


def train_probe(cache_dir, cfg, key, out_dir, steps=500):
    """{label: Linear(P, classes)} on clean normalised latent patches of the
    training cache's first shard; cached by the autoencoder."""
    path = os.path.join(out_dir, f"probe_{key}.pt")
    if os.path.exists(path):
        return torch.load(path)
    items = torch.load(os.path.join(cache_dir, "shard_00000.pt"))
    if items[0]["z"].shape[0] != cfg["vae"]["z_channels"]:
        raise SystemExit(f"proxy.py: the cache {cache_dir} holds latents of another autoencoder")
    mean, std = latent_norm(cfg)
    patch, pt = cfg["dit"]["patch"], cfg["dit"]["patch"][0]
    X, Y = [], {k: [] for k in LABELS}
    for it in items:
        z = it["z"].float()
        T = z.shape[1] // pt * pt
        X.append(patches(((z[None, :, :T] - mean) / std), patch)[0].reshape(-1, patches_dim(cfg)))
        for k in LABELS:
            Y[k].append(it[k][:T:pt].reshape(-1).long())
    X = torch.cat(X)
    obj = torch.cat(Y["shape"]) > 0                 # the probes name what an object token holds
    X = X[obj]
    probes = {}
    torch.manual_seed(0)
    for k, n in (("colour", 10), ("shape", 6), ("motion", 6)):
        y = torch.cat(Y[k])[obj]
        lin = torch.nn.Sequential(torch.nn.Linear(X.shape[1], 256), torch.nn.GELU(),
                                  torch.nn.Linear(256, n))
        opt = torch.optim.Adam(lin.parameters(), lr=3e-3)
        for _ in range(steps):
            opt.zero_grad()
            F.cross_entropy(lin(X), y).backward()
            opt.step()
        probes[k] = lin.eval()
    torch.save(probes, path)
    return probes


def patches_dim(cfg):
    pt, ph, pw = cfg["dit"]["patch"]
    return cfg["vae"]["z_channels"] * pt * ph * pw


def latent_norm(cfg):
    v = cfg["vae"]
    return (torch.tensor(v["latent_mean"])[:, None, None, None],
            torch.tensor(v["latent_std"])[:, None, None, None])


def probe_hits(probes, x, labels, cfg):
    """x (Cz, W, Hl, Wl) normalised latent window, labels {k: (W/pt, Hp, Wp)}
    -> {k: (hits on object tokens, object tokens)}."""
    p = patches(x[None], cfg["dit"]["patch"])[0]
    out = {}
    with torch.no_grad():
        for k in LABELS:
            y = labels[k]
            obj = labels["shape"] > 0
            pred = probes[k](p.float()).argmax(-1)
            out[k] = (int(((pred == y) & obj).sum()), int(obj.sum()))
    return out


def measure(model, cfg, clips, probes, seed=0, redi_input="truth"):
    """Per clip: {"t=..": {label: accuracy on x0^, "fm": loss, "fm_obj": loss},
    "clean": {label: accuracy}} for the clips that have object tokens. A
    model with extra (ReDi) channels gets them as redi_input says (the
    module's doc); the velocity of its latent channels is measured."""
    tok = Tokenizer.from_config(cfg)
    mean, std = latent_norm(cfg)
    window, pt = cfg["sampler"]["window"], cfg["dit"]["patch"][0]
    g = cfg["sampler"]["cfg"]
    rows = []
    for i, c in enumerate(clips):
        x0 = ((c["z"][:, :window] - mean) / std).float()                # (Cz, W, Hl, Wl)
        if x0.shape[1] < window:
            continue
        labels = {k: v[:window:pt] for k, v in c["labels"].items()}
        if int((labels["shape"] > 0).sum()) == 0:
            continue
        gen = torch.Generator().manual_seed(seed * 100003 + c["seed"])
        e = torch.randn(x0.shape, generator=gen)
        caps = list(c["captions"]) + [""]                               # en, cs, unconditional
        ids, mask = pad_batch([tok.encode(s) for s in caps])
        n = len(TS)
        xt = torch.stack([(1 - t) * x0 + t * e for t in TS for _ in caps])       # (3n, Cz, W, ..)
        if cfg["dit"].get("extra_channels", 0):
            xt = torch.cat([xt, extra_input(c, cfg, window, len(caps), gen, redi_input)],
                           dim=1)
        tt = torch.tensor([t for t in TS for _ in caps])[:, None].repeat(1, window // pt)
        with torch.no_grad(), recipe.autocast():
            text = model.text(ids, mask)
            v = model.dit(xt, tt, text.repeat(n, 1, 1), mask.repeat(n, 1)).float()
        v = v[:, :x0.shape[0]].reshape(n, len(caps), *x0.shape)       # the latent's channels
        row = {"clean": {k: a / b for k, (a, b) in probe_hits(probes, x0, labels, cfg).items()}}
        obj = (labels["shape"] > 0).float()                             # (W/pt, Hp, Wp)
        for j, t in enumerate(TS):
            target = e - x0
            accs = {k: 0.0 for k in LABELS}
            fm = fm_obj = 0.0
            for li in range(2):                                         # the two languages
                vc, vu = v[j, li], v[j, 2]
                vg = vu + g * (vc - vu)
                xh = (1 - t) * x0 + t * e - t * vg
                for k, (a, b) in probe_hits(probes, xh, labels, cfg).items():
                    accs[k] += a / b / 2
                err = patches(((vc - target) ** 2)[None], cfg["dit"]["patch"])[0].mean(-1)
                fm += float(err.mean()) / 2
                fm_obj += float((err * obj).sum() / obj.sum()) / 2
            row[f"t={t}"] = dict(accs, fm=fm, fm_obj=fm_obj)
        rows.append(row)
    return rows


def extra_input(clip, cfg, window, n_caps, gen, how):
    """The ReDi channels given beside the noised latents of measure:
    (len(TS) * n_caps, R, window, Hl, Wl), for each t of TS (n_caps
    captions each) the clip's code (redi.targets) noised at t, or pure noise; the
    noise drawn from gen after the latent's."""
    lab = clip["labels"]
    a0 = redi.targets(lab["shape"][None, :window], lab["motion"][None, :window],
                      cfg["provenance"]["redi"], cfg["dit"]["patch"])[0]   # (R, W, Hl, Wl)
    ea = torch.randn(a0.shape, generator=gen)
    return torch.stack([((1 - t) * a0 + t * ea) if how == "truth" else ea
                        for t in TS for _ in range(n_caps)])


def summarise(rows):
    """{(section, metric): (mean, standard error over clips)}."""
    out = {}
    for sec in rows[0]:
        for k in rows[0][sec]:
            a = np.array([r[sec][k] for r in rows])
            out[(sec, k)] = (a.mean(), a.std(ddof=1) / np.sqrt(len(a)))
    return out


def table(summaries, names):
    keys = list(summaries[0])
    print("| measure | " + " | ".join(names) + " |")
    print("|---|" + "---|" * len(names))
    for key in keys:
        print(f"| {key[0]} {key[1]} | " +
              " | ".join(f"{s[key][0]:.4f} ± {s[key][1]:.4f}" for s in summaries) + " |")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("models", nargs="+", help="model files or train_dit.py checkpoints (1 or 2)")
    ap.add_argument("--vae", help="the autoencoder of a checkpoint's latents (a train_vae.py "
                                  "checkpoint or a model file; default: the first model file's)")
    ap.add_argument("--cache", default=os.path.join(recipe.RUN_DIR, "latents"),
                    help="a training latent cache of that autoencoder (the probe learns on it)")
    ap.add_argument("--clips", type=int, default=64)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--redi-input", choices=("truth", "noise"), default="truth",
                    help="a model with ReDi channels gets the clip's code noised at t "
                         "(truth) or pure noise there (default truth; see above)")
    args = ap.parse_args()
    if len(args.models) > 2:
        ap.error("one or two models")
    torch.set_num_threads(args.threads)
    t0 = time.time()
    vae_path = args.vae or next((m for m in args.models if m.endswith(".safetensors")), None)
    if vae_path is None:
        ap.error("--vae is needed with checkpoints alone")
    vae, _ = recipe.load_vae(vae_path)
    loaded = [load_dit(m) for m in args.models]
    cfg = loaded[0][1]
    if any(c["dit"]["patch"] != cfg["dit"]["patch"] or c["vae"]["z_channels"] !=
           vae.dec.v["z_channels"] for _, c in loaded):
        raise SystemExit("proxy.py: the models are not all on the autoencoder " + vae_path)
    out_dir = os.path.join(recipe.RUN_DIR, "proxy")
    key = vae_key(vae)
    clips = heldout_clips(vae, args.clips, cfg, out_dir)
    probes = train_probe(args.cache, cfg, key, out_dir)
    results = [measure(m, c, clips, probes, redi_input=args.redi_input) for m, c in loaded]
    sums = [summarise(r) for r in results]
    names = [os.path.basename(m) for m in args.models]
    if len(results) == 2:
        diff = [{s: {k: b[s][k] - a[s][k] for k in a[s]} for s in a}
                for a, b in zip(*results)]
        sums.append(summarise(diff))
        names.append("second - first")
    print(f"{len(results[0])} held-out clips with objects, {time.time() - t0:.0f} s")
    table(sums, names)


if __name__ == "__main__":
    main()
