# SPDX-License-Identifier: LGPL-2.1-or-later
"""The proxy: what a DiT checkpoint has learnt, in minutes (issue 19, §2).

    /usr/bin/python3 train/proxy.py MODEL [MODEL2] [--vae V] [--cache DIR] [--clips 64]
                                    [--detect [0.5,0.7,0.9]] [--threads 2]

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
- the detector ("detect t=.."): x0^ decoded by the autoencoder's decoder
  to RGB frames, read by the eval's detector (train/eval/detect.py, from
  the frames alone) and scored against the scene's ground truth by the
  eval's scorer (train/eval/score.py), per category, 1 or 0 a clip;
  "detect clean" is the same on the clip's clean latent, the ceiling the
  autoencoder leaves (cached). The window is 16 frames of the clip's
  32-64, and the ground truth is the whole clip's: on the world's own
  renders cut to the window, colour, shape, count, relation, background
  and temporal consistency pass on every clip they apply to, motion on
  29 % (a travel crosses 40 % of the frame in a whole clip, a quarter to
  a half of that in the window: nearly all of it reads "still") and a
  colour change on none, so those two are left out (WINDOW_CATEGORIES;
  decoding the whole clip would take x0^ of every window, 2-4 times the
  DiT and the decoder). One decode per clip and t, of the English or the
  Czech caption's x0^ in turn by scene seed; "all": every one of these
  categories that applies passed. A category is averaged over the clips
  it applies to (count: count and empty scenes; relation: relation
  scenes; background: captions that name it), and the table says how
  many where fewer than all;
- a per-token probe (a one-hidden-layer MLP (256 wide) on a token's latent
  patch, one per label: colour, shape, motion direction; trained on the
  object tokens of clean latents of the training cache, `--cache`) read on
  x0^: the share of the object tokens whose label it names, against the
  same probe on the clean latent (the ceiling this autoencoder and probe
  leave; a token is 16 x 16 pixels, inside a large object it cannot see
  the shape: 0.32 on clean v3 latents, chance 0.20, where the detector
  reads 0.75);
- the flow-matching loss at each t, over all tokens and over object tokens
  alone.
The probe and the flow losses are over the clips with object tokens in the
window (without --detect, only those clips go through the model). Each
number is a mean over clips, with its standard error over clips.
A model with ReDi channels (dit.extra_channels, train/redi.py) gets them
beside the latent: the world's code of the clip noised at the same t with
noise of their own (--redi-input truth, the training distribution; the
structure it gives at t = 0.5 is more than the sampler's own estimate
would, so the numbers are an upper bound) or pure noise (--redi-input
noise, a lower bound); everything is measured on the latent's channels.
The held-out clips, the probe and the detector's ceiling are cached in
RUN_DIR/proxy/ by the autoencoder's weights."""
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
from train.eval.detect import detect  # noqa: E402
from train.eval.score import claims_from, score  # noqa: E402
from train.world import render, sample_scene  # noqa: E402

PROXY_SEED = 77             # scene seeds 77000.. (the eval draws 0.. and 1000..)
TS = (0.5, 0.7, 0.9)
LABELS = ("colour", "shape", "motion")
# The eval's categories (score.py) that the first window can show: on the
# world's own renders cut to it (16 frames of 32-64) all of them pass on
# every applicable clip, while motion passes on 29 % (what moves a whole
# clip moves a quarter to a half of that in the window, so nearly all reads
# "still") and a colour change on none (it happens later).
WINDOW_CATEGORIES = ("colour", "shape", "count", "relation", "background", "temporal")


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
    larger = cached_larger(out_dir, f"heldout_{vae_key(vae)}_", ".pt", n)
    if larger:
        return torch.load(larger)[:n]
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


def cached_larger(out_dir, prefix, suffix, n):
    """The path of a cache out_dir/PREFIX{m}SUFFIX of m > n clips (the
    smallest; its first n are those of n), or None."""
    if not os.path.isdir(out_dir):
        return None
    found = []
    for name in os.listdir(out_dir):
        mid = name[len(prefix):-len(suffix)]
        if name.startswith(prefix) and name.endswith(suffix) and mid.isdigit() and int(mid) > n:
            found.append((int(mid), os.path.join(out_dir, name)))
    return min(found)[1] if found else None


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


def measure(model, cfg, clips, probes, seed=0, redi_input="truth", vae=None, detect_ts=(),
            ceiling=None):
    """Per clip with a whole first window: {"t=..": {label: probe accuracy
    on x0^, "fm": loss, "fm_obj": loss}, "clean": {label: accuracy}} (for
    clips with object tokens in the window; without a detector only those
    clips have a row), and with an autoencoder `vae` and times `detect_ts`
    "detect t=..": window_passes of x0^ decoded (for every clip, in its
    detector language, detect_language), plus "detect clean": ceiling[i]
    (the clean window's, clean_passes) where given. Probes None leaves the
    probe out. A model with extra (ReDi) channels gets them as redi_input
    says (the module's doc); the velocity of its latent channels is
    measured."""
    tok = Tokenizer.from_config(cfg)
    mean, std = latent_norm(cfg)
    window, pt = cfg["sampler"]["window"], cfg["dit"]["patch"][0]
    g = cfg["sampler"]["cfg"]
    detecting = vae is not None and len(detect_ts) > 0
    rows = []
    for i, c in enumerate(clips):
        x0 = ((c["z"][:, :window] - mean) / std).float()                # (Cz, W, Hl, Wl)
        if x0.shape[1] < window:
            continue
        labels = {k: v[:window:pt] for k, v in c["labels"].items()}
        objects = int((labels["shape"] > 0).sum()) > 0
        if not objects and not detecting:
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
        row = {}
        if objects and probes is not None:
            row["clean"] = {k: a / b for k, (a, b) in probe_hits(probes, x0, labels, cfg).items()}
        if detecting and ceiling is not None:
            row["detect clean"] = ceiling[i]
        obj = (labels["shape"] > 0).float()                             # (W/pt, Hp, Wp)
        for j, t in enumerate(TS):
            target = e - x0
            accs = {k: 0.0 for k in LABELS}
            fm = fm_obj = 0.0
            xh = []
            for li in range(2):                                         # the two languages
                vc, vu = v[j, li], v[j, 2]
                vg = vu + g * (vc - vu)
                xh.append((1 - t) * x0 + t * e - t * vg)
                if objects and probes is not None:
                    for k, (a, b) in probe_hits(probes, xh[li], labels, cfg).items():
                        accs[k] += a / b / 2
                err = patches(((vc - target) ** 2)[None], cfg["dit"]["patch"])[0].mean(-1)
                fm += float(err.mean()) / 2
                fm_obj += float((err * obj).sum() / obj.sum()) / 2 if objects else 0.0
            if objects:
                row[f"t={t}"] = dict(accs, fm=fm, fm_obj=fm_obj) if probes is not None \
                    else dict(fm=fm, fm_obj=fm_obj)
            if detecting and t in detect_ts:
                lang = detect_language(c)
                frames = decode_frames(vae, xh[prompts.LANGS.index(lang)], cfg)
                row[f"detect t={t}"] = window_passes(frames, window_claims(c, lang))
        rows.append(row)
    return rows


# ---------------------------------------------------------------- the detector on the window

def detect_language(clip):
    """The caption whose x0^ the detector reads on a clip: English and Czech
    in turn by scene seed (one decode per clip and t)."""
    return prompts.LANGS[clip["seed"] % 2]


def window_claims(clip, lang):
    """score.py's claims of a held-out clip's scene, captioned in lang."""
    scene = sample_scene(clip["seed"], split="heldout", lang=lang)
    if scene.caption != clip["captions"][prompts.LANGS.index(lang)]:
        raise SystemExit(f"proxy.py: scene {clip['seed']} is not the cached clip's (other world?)")
    return claims_from(prompts.ground_truth(scene))


def decode_frames(vae, x, cfg):
    """A normalised latent window x (Cz, W, Hl, Wl) -> uint8 RGB frames
    (W * ft, H, W, 3), as eval's autoencoder path (run.autoencoder) makes them."""
    mean, std = latent_norm(cfg)
    with torch.no_grad():
        y = vae.dec((x.float() * std + mean)[None])[0]                # (3, T, H, W)
    y = ((y.clamp(-1, 1) + 1) * 127.5).round().byte().numpy()
    return np.ascontiguousarray(y.transpose(1, 2, 3, 0))


def window_passes(frames, claims):
    """{category: 1.0 / 0.0, NaN where the claims say nothing of it} for
    WINDOW_CATEGORIES and "all" (every one of them that applies passed):
    score.score on detect.detect of the frames, the eval's definitions."""
    p = score(claims, detect(frames))["pass"]
    out = {k: float("nan") if p[k] is None else float(p[k]) for k in WINDOW_CATEGORIES}
    judged = [p[k] for k in WINDOW_CATEGORIES if p[k] is not None]
    out["all"] = float(all(judged)) if judged else float("nan")
    return out


def clean_passes(vae, clips, cfg, out_dir=None):
    """The ceiling: window_passes of each clip's clean first window decoded
    by the autoencoder (None for a clip shorter than a window), in its
    detector language; cached in out_dir by the autoencoder's weights."""
    window = cfg["sampler"]["window"]
    key, n = vae_key(vae), len(clips)
    path = out_dir and os.path.join(out_dir, f"detect_clean_{key}_w{window}_{n}.pt")
    if path and os.path.exists(path):
        return torch.load(path)
    larger = out_dir and cached_larger(out_dir, f"detect_clean_{key}_w{window}_", ".pt", n)
    if larger:
        return torch.load(larger)[:n]
    mean, std = latent_norm(cfg)
    out = []
    for c in clips:
        if c["z"].shape[1] < window:
            out.append(None)
            continue
        x0 = (c["z"][:, :window] - mean) / std
        out.append(window_passes(decode_frames(vae, x0, cfg), window_claims(c, detect_language(c))))
    if path:
        os.makedirs(out_dir, exist_ok=True)
        torch.save(out, path)
    return out


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
    """{(section, metric): (mean, standard error over clips, clips)}, over
    the clips that have the value (not NaN)."""
    out = {}
    for sec in dict.fromkeys(k for r in rows for k in r):
        for k in dict.fromkeys(k for r in rows if sec in r for k in r[sec]):
            a = np.array([r[sec][k] for r in rows if sec in r], np.float64)
            a = a[~np.isnan(a)]
            se = a.std(ddof=1) / np.sqrt(len(a)) if len(a) > 1 else float("nan")
            out[(sec, k)] = (a.mean() if len(a) else float("nan"), se, len(a))
    return out


def table(summaries, names, clips):
    """The markdown table; a measure on fewer than `clips` clips says on how many."""
    keys = list(summaries[0])
    print("| measure | " + " | ".join(names) + " |")
    print("|---|" + "---|" * len(names))
    for key in keys:
        n = summaries[0][key][2]
        if n == 0:
            continue
        label = f"{key[0]} {key[1]}" + (f" ({n} clip{'s' * (n > 1)})" if n != clips else "")
        print(f"| {label} | " +
              " | ".join(f"{s[key][0]:.4f} ± {s[key][1]:.4f}" for s in summaries) + " |")


def detect_times(text):
    """--detect's value: t's of TS, comma separated."""
    ts = tuple(float(t) for t in text.split(","))
    if any(t not in TS for t in ts):
        raise argparse.ArgumentTypeError(f"the detector reads x0^ at t of {TS}")
    return ts


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
    ap.add_argument("--detect", type=detect_times, nargs="?", const=TS, default=(),
                    metavar="T,..",
                    help="also decode x0^ at these t (all three when none given) and score "
                         "it with the eval's detector, against its ceiling on the clean "
                         "latent; about 10 times the time of the rest")
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
    if any(c["sampler"]["window"] != cfg["sampler"]["window"] for _, c in loaded):
        raise SystemExit("proxy.py: the models sample windows of different lengths")
    out_dir = os.path.join(recipe.RUN_DIR, "proxy")
    key = vae_key(vae)
    clips = heldout_clips(vae, args.clips, cfg, out_dir)
    probes = train_probe(args.cache, cfg, key, out_dir)
    ceiling = None
    if args.detect:
        t1 = time.time()
        ceiling = clean_passes(vae, clips, cfg, out_dir)
        print(f"the detector's ceiling (clean windows decoded): {time.time() - t1:.0f} s")
    results = []
    for m, c in loaded:
        t1 = time.time()
        results.append(measure(m, c, clips, probes, redi_input=args.redi_input, vae=vae,
                               detect_ts=args.detect, ceiling=ceiling))
        print(f"{os.path.basename(args.models[len(results) - 1])}: {time.time() - t1:.0f} s")
    sums = [summarise(r) for r in results]
    names = [os.path.basename(m) for m in args.models]
    if len(results) == 2:
        diff = [{s: {k: b[s][k] - a[s][k] for k in a[s]} for s in a}
                for a, b in zip(*results)]
        sums.append(summarise(diff))
        names.append("second - first")
    n = len(results[0])
    with_objects = sum(1 for r in results[0] if "t=0.5" in r)
    print(f"{n} held-out clips, {with_objects} with objects in the window, "
          f"{time.time() - t0:.0f} s")
    table(sums, names, n)


if __name__ == "__main__":
    main()
