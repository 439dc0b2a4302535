# SPDX-License-Identifier: LGPL-2.1-or-later
"""Stage 1 of the default model: the causal video autoencoder.

Trains the encoder and decoder of train/st2v/vae.py on clips of the
procedural world (train split only), on random spacetime crops, on the CPU
(bfloat16 autocast where the CPU computes it: recipe.autocast). It
checkpoints every few minutes into RUN_DIR/vae/ and resumes from there, so
training continues over several sittings. Reports reconstruction PSNR on
full held-out clips.

    /usr/bin/python3 train/train_vae.py --minutes 60        # train (resumes)
    /usr/bin/python3 train/train_vae.py --eval-only          # PSNR only

Losses: L1 + MSE on pixels, a small L2 pull on the latent (keeps it
bounded, so per-channel normalisation for the DiT is well conditioned), and
latent noise during training (the decoder learns to forgive the DiT's small
errors). With --edge-weight, the pixel losses weigh each pixel by 1 + w times
the target's gradient magnitude (normalised per clip): the outlines of small
objects, which decide their shape, would otherwise be a rounding error
beside the flat background.

    /usr/bin/python3 train/train_vae.py --decoder-only --edge-weight 4 \
        --init-from-checkpoint RUN_DIR/vae/checkpoint.pt --dir RUN_DIR/vae_dec --minutes 60

A decoder-only run can also continue a model file's decoder and be written
back into a copy of it (the DiT and text encoder unchanged, since the
encoder, hence the latent space, is the file's own). Where the recipe's
vae.dec_channels are wider than the file's decoder, the run starts from the
file's decoder widened to them (widen_decoder: the same function at step
0), and the export writes the wider decoder with its dec_channels:

    /usr/bin/python3 train/train_vae.py --decoder-only --edge-weight 4 \
        --init-from models/st2v-world-v1.safetensors --dir RUN_DIR/vae_dec2 --minutes 60
    /usr/bin/python3 train/train_vae.py --dir RUN_DIR/vae_dec2 \
        --export-into models/st2v-world-v1.safetensors --export OUT.safetensors

--arch v2 trains the recipe's next autoencoder from scratch, and --slim
writes a run's autoencoder alone in float16 (6.0 MB for v2; cache_latents.py
--vae and device_run.sh VAE= take it):

    /usr/bin/python3 train/train_vae.py --arch v2 --edge-weight 4 --dir RUN_DIR/vae_v2 \
        --minutes 100 --cooldown-minutes 30
    /usr/bin/python3 train/train_vae.py --dir RUN_DIR/vae_v2 --slim RUN_DIR/vae-v2.pt

--vf-weight and --scale-equiv fine-tune toward a latent aligned with the
world's per-cell truth (VA-VAE's VF loss) and equivariant to 2x spatial
down-sampling (train/vf_align.py; docs/training.md, "Lever: truth
alignment of the latent"); off by default, and then the step is the
plain one:

    /usr/bin/python3 train/train_vae.py --init-from-checkpoint RUN_DIR/vae_v3/checkpoint.pt \
        --dir RUN_DIR/vf-only --minutes 20 --lr 2e-4 --warmup 20 --vf-weight 0.1
"""
import argparse
import os
import sys

if __package__ in (None, ""):      # run as train/train_vae.py: the repository root on the path
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
if __name__ == "__main__":
    from train import cpu_runtime
    cpu_runtime.tune("vae")        # before torch: OpenMP's wait policy, jemalloc

import numpy as np  # noqa: E402
import torch  # noqa: E402

from train import loop, recipe, vf_align  # noqa: E402
from train.st2v.config import clone  # noqa: E402
from train.st2v.model import St2vModel, load_model, save_model  # noqa: E402
from train.st2v.vae import VAE, level_factors, decoder_channels  # noqa: E402
from train.world import render, sample_scene  # noqa: E402

WARMUP = 200        # steps of linear learning-rate warm-up, also after a resume
POOL_SIZE = 48      # clips a ClipPool holds


def init_for_training(vae):
    """The reference modules start at zero; convolutions get N(0, 1/fan_in)
    (scaled down on each residual branch's last conv), norms 1, biases 0."""
    with torch.no_grad():
        for name, p in vae.named_parameters():
            if name.endswith("bias"):
                p.zero_()
            elif "norm" in name:
                p.fill_(1.0)
            else:
                fan_in = p[0].numel()
                p.normal_(0.0, fan_in ** -0.5 * (0.3 if name.endswith("conv2.weight") else 1.0))


def encoder_arch(v):
    """What fixes an autoencoder's encoder (and latent) in its "vae" config
    section: everything but the decoder's widths and the latent statistics."""
    return {k: x for k, x in v.items() if k not in ("dec_channels", "latent_mean", "latent_std")}


def widen_decoder(src, dst, noise=0.01, seed=0):
    """Copy the decoder src into the wider decoder dst (train/st2v/vae.py,
    same levels, each of dst's widths a multiple of src's) so that dst
    computes the same function: channel j of a level copies channel j mod C
    of src's, and a convolution's input weights are divided by how many
    copies each input channel has (the channel RMS norms see the same mean
    square, since every channel is copied equally often). Relative noise
    on the weights lets the copies part ways in training."""
    cs, cd = decoder_channels(src.v), decoder_channels(dst.v)
    if len(cs) != len(cd) or any(d % c for c, d in zip(cs, cd)):
        raise SystemExit(f"cannot widen a decoder of channels {cs} to {cd}")
    g = torch.Generator().manual_seed(seed)
    maps = [torch.arange(d) % c for c, d in zip(cs, cd)]     # new channel -> old
    copies = [d // c for c, d in zip(cs, cd)]

    def conv(s, d, out_map, in_map, k_in):
        w = s.weight.detach()
        if out_map is not None:
            w = w[out_map]
        if in_map is not None:
            w = w[:, in_map] / k_in
        w = w + noise * w.std() * torch.randn(w.shape, generator=g)
        d.weight.copy_(w)
        d.bias.copy_(s.bias.detach() if out_map is None else s.bias.detach()[out_map])

    def up_map(i, a, b):
        """Output channels ((c*a+dt)*b+dy)*b+dx of level i's up conv."""
        r = a * b * b
        return (maps[i + 1][:, None] * r + torch.arange(r)[None]).reshape(-1)

    with torch.no_grad():
        conv(src.conv_in, dst.conv_in, maps[0], None, 1)       # in: z, no map
        for i, (ls, ld) in enumerate(zip(src.levels, dst.levels)):
            m, k = maps[i], copies[i]
            for rs, rd in zip(ls.res, ld.res):
                rd.norm1.weight.copy_(rs.norm1.weight[m])
                rd.norm2.weight.copy_(rs.norm2.weight[m])
                conv(rs.conv1, rd.conv1, m, m, k)
                conv(rs.conv2, rd.conv2, m, m, k)
            if i < len(cs) - 1:
                a, b = level_factors(src.v, i)
                conv(ls.up, ld.up, up_map(i, a, b), m, k)
        dst.norm_out.weight.copy_(src.norm_out.weight[maps[-1]])
        conv(src.conv_out, dst.conv_out, None, maps[-1], copies[-1])


class ClipPool:
    """A pool of rendered training clips, refreshed a few at a time, so that
    rendering (one clip of 32-64 frames) is shared by many crops. With
    masks (a cell size in pixels), the pool keeps each clip's objects'
    coverage of the cells (vf_align.clip_labels) and batch() returns their
    crops beside the pixels."""

    def __init__(self, seed, size=None, refresh=2, masks=0):
        size = POOL_SIZE if size is None else size
        self.rng = np.random.default_rng(seed)
        self.next_seed = int(self.rng.integers(1 << 40))
        self.size, self.refresh, self.masks = size, refresh, masks
        self.labels = [None] * size
        self.clips = []
        for i in range(size):
            self.clips.append(self._new(i))

    def _new(self, i):
        self.next_seed += 1
        scene = sample_scene(self.next_seed, split="train")
        video, labels = render(scene, masks=bool(self.masks))
        if self.masks:
            self.labels[i] = vf_align.clip_labels(labels, self.masks)
        return video  # (T, H, W, 3) uint8

    def step(self):
        for _ in range(self.refresh):
            i = int(self.rng.integers(self.size))
            self.clips[i] = self._new(i)

    def batch(self, n, frames, crop):
        """(n, 3, frames, crop, crop) float in [-1, 1]; crops on the 8-pixel
        grid so that latents align with the native frame. With masks: and
        the crops' labels (vf_align.crop_labels), one list a clip."""
        out = np.empty((n, 3, frames, crop, crop), np.float32)
        crops = []
        for i in range(n):
            j = int(self.rng.integers(self.size))
            v = self.clips[j]
            T, H, W, _ = v.shape
            t0 = int(self.rng.integers(0, T - frames + 1))
            y0 = 8 * int(self.rng.integers(0, (H - crop) // 8 + 1))
            x0 = 8 * int(self.rng.integers(0, (W - crop) // 8 + 1))
            c = v[t0:t0 + frames, y0:y0 + crop, x0:x0 + crop]
            out[i] = c.transpose(3, 0, 1, 2) / 127.5 - 1.0
            if self.masks:
                crops.append(vf_align.crop_labels(self.labels[j], t0, frames, y0, x0, crop,
                                                  self.masks))
        x = torch.from_numpy(out)
        return (x, crops) if self.masks else x


def edge_weights(x, w):
    """(B, 1, T, H, W): 1 + w * |grad x| / mean |grad x| per clip, from the
    target clip x (B, 3, T, H, W); 1 everywhere when w is 0."""
    gx = torch.zeros_like(x[:, :1])
    gy = torch.zeros_like(x[:, :1])
    gx[..., :, 1:] = (x[..., :, 1:] - x[..., :, :-1]).abs().amax(dim=1, keepdim=True)
    gy[..., 1:, :] = (x[..., 1:, :] - x[..., :-1, :]).abs().amax(dim=1, keepdim=True)
    g = torch.maximum(gx, gy)
    g = g / g.mean(dim=(2, 3, 4), keepdim=True).clamp_min(1e-3)
    return 1.0 + w * g.clamp(max=8.0) / 8.0


def eval_psnr(vae, n=8, seed=900000):
    """Mean PSNR (dB) of whole held-out clips through encoder and decoder."""
    vae.eval()
    scores = []
    with torch.no_grad():
        for k in range(n):
            scene = sample_scene(seed + k, split="heldout")
            video, _ = render(scene, masks=False)
            T = video.shape[0] // 4 * 4
            x = torch.from_numpy(video[:T].transpose(3, 0, 1, 2)[None] / 127.5 - 1.0).float()
            with recipe.autocast():
                y = vae.dec(vae.enc(x)).float()
            rec = ((y.clamp(-1, 1) + 1) * 127.5).round()[0].permute(1, 2, 3, 0).numpy()
            scores.append(recipe.psnr(rec, video[:T]))
    vae.train()
    return float(np.mean(scores)), scores


def export_into(ckpt_path, model_path, out_path):
    """Write out_path: the model file model_path with the decoder of the
    checkpoint, whose encoder must be the file's own (a --decoder-only run
    from it), or the file's DiT would denoise a latent space it never saw."""
    ck = torch.load(ckpt_path)
    model = load_model(model_path)
    enc = {k[len("enc."):]: v for k, v in ck["vae"].items() if k.startswith("enc.")}
    for name, v in model.vae.enc.state_dict().items():
        if name not in enc or not torch.equal(enc[name].float(), v.float()):
            raise SystemExit(f"{ckpt_path}: its encoder is not the one of {model_path} "
                             f"(first difference: enc.{name}); only a --decoder-only run "
                             "from that file can be exported into it")
    dec = {k[len("dec."):]: v for k, v in ck["vae"].items() if k.startswith("dec.")}
    vc = model.config["vae"]
    widths = [int(dec["conv_in.weight"].shape[0])]            # the decoder's own
    for i in range(len(vc["channels"]) - 1):
        a, b = level_factors(vc, i)
        widths.append(int(dec["levels.%d.up.weight" % i].shape[0]) // (a * b * b))
    if widths != decoder_channels(vc):                        # a widened decoder
        cfg = clone(model.config)
        cfg["vae"]["dec_channels"] = widths
        wide = St2vModel(cfg)
        wide.load_state_dict({k: t for k, t in model.state_dict().items()
                              if not k.startswith("vae.dec.")}, strict=False)
        model = wide
    model.vae.dec.load_state_dict(dec)
    model.config.setdefault("provenance", {})["vae_steps"] = ck["step"]
    save_model(out_path, model, dtype="F16")
    print(f"wrote {out_path} ({model_path} with the decoder of step {ck['step']})")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    loop.add_arguments(ap, lr=1e-3)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--frames", type=int, default=8)
    ap.add_argument("--crop", type=int, default=64)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--eval-only", action="store_true")
    ap.add_argument("--decoder-only", action="store_true",
                    help="freeze the encoder: the latent space (and a DiT trained on it) "
                         "stays valid while the decoder improves")
    ap.add_argument("--init-from", help="start from the autoencoder of a model file and "
                                        "its step count (when no checkpoint exists)")
    ap.add_argument("--init-from-checkpoint", help="start from another run's checkpoint "
                                                   "(when no checkpoint exists)")
    ap.add_argument("--edge-weight", type=float, default=0.0,
                    help="extra pixel-loss weight on the target's edges (0: plain)")
    ap.add_argument("--anchor-to", metavar="MODEL",
                    help="pull the encoder's latents toward those of this autoencoder (a "
                         "model file or checkpoint), so that a DiT trained on its latent "
                         "space stays nearly valid while the encoder improves")
    ap.add_argument("--anchor", type=float, default=1.0,
                    help="with --anchor-to: weight of the latent MSE to it")
    ap.add_argument("--vf-weight", type=float, default=0.0,
                    help="truth alignment of the latent (vf_align.py): VA-VAE's VF loss "
                         "against the world's per-cell truth, at this multiple of its adaptive "
                         "weight (0: off)")
    ap.add_argument("--scale-equiv", type=float, default=0.0,
                    help="weight of the scale-equivariance loss (vf_align.py; 0: off)")
    ap.add_argument("--warmup", type=int, default=WARMUP,
                    help="steps of learning-rate warm-up (also after a resume)")
    ap.add_argument("--arch", choices=sorted(recipe.AUTOENCODERS),
                    help="the recipe's autoencoder (default v1): trained from scratch, or with "
                         "--init-from the one to widen the source's decoder to (a resumed run "
                         "keeps its own)")
    ap.add_argument("--dir", default=os.path.join(recipe.RUN_DIR, "vae"))
    ap.add_argument("--export-into", metavar="MODEL",
                    help="with --export: the model file whose decoder this run's replaces")
    ap.add_argument("--export", metavar="OUT", help="write MODEL with this run's decoder and exit")
    ap.add_argument("--slim", metavar="OUT", help="write this run's autoencoder alone in float16 "
                    "(a checkpoint without the optimiser, for --vae and --init-from) and exit")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    ckpt_path = loop.checkpoint_path(args.dir)
    if args.slim:
        if not os.path.exists(ckpt_path):
            ap.error(f"{ckpt_path}: no checkpoint to write")
        vae, step = recipe.load_vae(ckpt_path)
        torch.save({"vae": {k: v.half() for k, v in vae.state_dict().items()}, "step": step,
                    "vae_config": vae.dec.v}, args.slim)
        return
    if args.export or args.export_into:
        if not (args.export and args.export_into):
            ap.error("--export and --export-into go together")
        if not os.path.exists(ckpt_path):
            ap.error(f"{ckpt_path}: no checkpoint to export")
        return export_into(ckpt_path, args.export_into, args.export)
    if args.anchor_to and args.decoder_only:
        ap.error("--anchor-to needs the encoder trained (not --decoder-only)")
    if args.vf_weight and args.decoder_only:
        ap.error("--vf-weight needs the encoder trained (not --decoder-only)")
    loop.check_arguments(ap, args)
    os.makedirs(args.dir, exist_ok=True)
    sitting(args)


def sitting(args):
    """One sitting of training: resume or start, train, checkpoint, PSNR."""
    torch.manual_seed(0)
    torch.set_flush_denormal(True)
    ck = loop.load_checkpoint(args.dir)
    src = None
    if ck:
        vcfg = ck.get("vae_config") or recipe.vae_architecture("v1")
    elif args.init_from or args.init_from_checkpoint:   # a model file or checkpoint: its step goes on
        src, step = recipe.load_vae(args.init_from or args.init_from_checkpoint)
        vcfg = recipe.vae_architecture(args.arch) if args.arch else src.dec.v
        if encoder_arch(vcfg) != encoder_arch(src.dec.v):
            raise SystemExit(f"train_vae.py: --arch {args.arch} has another encoder than "
                             f"{args.init_from or args.init_from_checkpoint}")
    else:
        vcfg = recipe.vae_architecture(args.arch or "v1")
    vae = VAE({"vae": vcfg})
    init_for_training(vae)
    if args.decoder_only:
        vae.enc.requires_grad_(False)
    trained = vae.dec if args.decoder_only else vae
    params = list(trained.parameters())
    vf = None
    if getattr(args, "vf_weight", 0.0):
        vf = vf_align.VF(vcfg["z_channels"])
        params += list(vf.parameters())
    opt = torch.optim.AdamW(params, lr=args.lr, weight_decay=0.0)
    step = 0 if src is None else step
    if ck:
        vae.load_state_dict(ck["vae"])
        if vf is not None and "vf" in ck:
            vf.load_state_dict(ck["vf"])
        if (ck.get("decoder_only", False) == args.decoder_only and
                ("vf" in ck) == (vf is not None)):
            opt.load_state_dict(ck["opt"])     # same parameter set
        step = ck["step"]
        print(f"resumed at step {step}", flush=True)
    elif src is not None:
        if decoder_channels(src.dec.v) != decoder_channels(vae.dec.v):
            vae.enc.load_state_dict(src.enc.state_dict())
            widen_decoder(src.dec, vae.dec)
            print(f"decoder widened from {decoder_channels(src.dec.v)} to "
                  f"{decoder_channels(vae.dec.v)}", flush=True)
        else:
            vae.load_state_dict(src.state_dict())
        print(f"initialised from {args.init_from or args.init_from_checkpoint} (step {step})",
              flush=True)
    if args.eval_only:
        mean, scores = eval_psnr(vae)
        print(f"held-out PSNR {mean:.2f} dB ({', '.join(f'{s:.1f}' for s in scores)})")
        return

    anchor = None
    if args.anchor_to:
        anchor = recipe.load_vae(args.anchor_to)[0].enc.requires_grad_(False)
    equiv = getattr(args, "scale_equiv", 0.0)
    ft, cell = recipe.compression(vcfg)
    pool = ClipPool(seed=step + 1, masks=cell if vf is not None else 0)
    adapt = {"w": None}

    def batch_loss(step):
        if vf is not None:
            x, crops = pool.batch(args.batch, args.frames, args.crop)
        else:
            x = pool.batch(args.batch, args.frames, args.crop)
        with recipe.autocast():
            with torch.set_grad_enabled(not args.decoder_only):
                z = vae.enc(x)
            zn = z.float() + 0.05 * torch.randn_like(z, dtype=torch.float32)
            y = vae.dec(zn).float()
        wpx = edge_weights(x, args.edge_weight)                 # (B, 1, T, H, W)
        wpx = wpx / wpx.mean()
        l1 = ((y - x).abs() * wpx).mean()
        l2 = (((y - x) ** 2) * wpx).mean()
        lz = (z.float() ** 2).mean()
        loss = l1 + l2 + 1e-3 * lz
        values = {"l1": l1.item(), "z_rms": lz.item() ** 0.5}
        if equiv:
            with recipe.autocast():
                le = vf_align.scale_equivariance(vae.dec, zn, x)
            loss = loss + equiv * le
            values["equiv"] = le.item()
        if vf is not None:
            f = vf_align.truth_batch(crops, ft, args.frames, args.crop // cell, args.crop // cell)
            mcos, mdms = vf.loss(z, f)
            lvf = mcos + mdms
            if adapt["w"] is None or step % vf_align.ADAPT_EVERY == 0:
                adapt["w"] = vf_align.adaptive_weight(l1 + l2, lvf, vae.enc.conv_out.weight)
            loss = loss + args.vf_weight * adapt["w"] * lvf
            values.update(mcos=mcos.item(), mdms=mdms.item(), vf_w=adapt["w"])
        if anchor is not None:
            with torch.no_grad(), recipe.autocast():
                z_ref = anchor(x).float()
            la = ((z.float() - z_ref) ** 2).mean() / (z_ref ** 2).mean()
            loss = loss + args.anchor * la
            values["anchor"] = la.item()
        values["loss"] = loss.item()
        return loss, values, x.shape[0]

    def log_line(step, s):
        v = s.last
        return (f"step {step} loss {v['loss']:.4f} l1 {v['l1']:.4f} z_rms {v['z_rms']:.3f}" +
                (f" anchor {v['anchor']:.4f}" if anchor is not None else "") +
                (f" equiv {v['equiv']:.4f}" if equiv else "") +
                (f" mcos {v['mcos']:.4f} mdms {v['mdms']:.4f} vf_w {v['vf_w']:.3g}"
                 if vf is not None else ""))

    def checkpoint(step):
        state = {"vae": vae.state_dict(), "opt": opt.state_dict(), "step": step,
                 "decoder_only": args.decoder_only, "vae_config": vae.dec.v}
        if vf is not None:
            state["vf"] = vf.state_dict()
        return state

    log = loop.Log(args.dir)
    step = loop.train(args, opt, params, step, warm_from=step,
                      warmup=getattr(args, "warmup", WARMUP), batch_loss=batch_loss,
                      checkpoint=checkpoint, log_line=log_line, log_every=25, directory=args.dir, log=log,
                      after_step=lambda step: pool.step())
    mean, scores = eval_psnr(vae)
    log(f"step {step}: held-out PSNR {mean:.2f} dB")


if __name__ == "__main__":
    main()
