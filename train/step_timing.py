# SPDX-License-Identifier: LGPL-2.1-or-later
"""Time one real training step of each trainer in every runtime combination
(bfloat16 autocast or float32, cpu_runtime.tune() or not, 1 or 2 threads),
interleaved, on this CPU: the table behind cpu_runtime.PRECISION and
docs/training.md ("Which runtime trains fastest").

    /usr/bin/python3 train/step_timing.py [--rounds 3] [--steps 4]

Each combination runs in its own process (the tuned runtime has to be set
before torch is imported) and times `--steps` steps after two warm-up
steps; the rounds go through the combinations in turn, so a slower minute
of this shared machine falls on all of them. Prints the best and median
seconds a step, and samples/s. `--child` is the per-process part.

The DiT step is train_dit.py's (flow loss on a batch of 16 v1 windows at
224x128, auxiliary heads, AdamW, EMA); the autoencoder step is
train_vae.py's (8 clips of 8x64x64, v3 by default)."""
import argparse
import itertools
import json
import os
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
if __package__ in (None, ""):      # run as train/step_timing.py: the repository root on the path
    sys.path.insert(0, os.path.dirname(HERE))


def child(part, steps, threads, arch):
    from train import cpu_runtime
    cpu_runtime.tune(part)          # honours ST2V_CPU_TUNE and the ST2V_BF16 given
    import torch
    import torch.nn.functional as F

    from train import recipe
    torch.set_num_threads(threads)
    torch.set_flush_denormal(True)
    torch.manual_seed(0)
    if part == "dit":
        from train import train_dit as td
        from train.st2v.model import St2vModel
        from train.st2v.textenc import pad_batch
        from train.st2v.tokenizer import Tokenizer
        cfg = recipe.architecture("v1")
        caps = ["a red ball moves right on a green screen", "dva modré čtverce na bílém pozadí",
                "a yellow star spins under a starry night sky", ""] * 4
        cfg["tokenizer"] = {"max_length": 48, "pieces": recipe.build_pieces(caps, min_count=1)}
        model = St2vModel(cfg)
        td.init_for_training(model)
        del model.vae
        aux = td.AuxHeads(cfg["dit"]["dim"])
        params = list(model.parameters()) + list(aux.parameters())
        opt = torch.optim.AdamW(params, lr=1e-4)
        ema = {k: v.clone() for k, v in model.state_dict().items()}
        feats = {}
        model.dit.blocks[3].register_forward_hook(lambda m, i, o: feats.__setitem__("x", o))
        tok = Tokenizer.from_config(cfg)
        ids, mask = pad_batch([tok.encode(c) for c in caps])
        B, W = 16, cfg["sampler"]["window"]
        x0 = torch.randn(B, cfg["vae"]["z_channels"], W, 16, 28)            # 224x128 in v1
        labels = {k: torch.randint(0, n, (B, W, 8, 14)) for k, n in td.AUX_CLASSES.items()}
        rng_t = torch.Generator().manual_seed(0)

        def step():
            tt = td.sample_t(rng_t, B, 3.0)[:, None].repeat(1, W)
            loss = td.flow_loss(model, x0, tt, ids, mask, rng_t)
            with recipe.autocast():
                logits = aux(feats["x"])
            loss = loss + 0.5 * sum(F.cross_entropy(logits[k].float().reshape(-1, n),
                                                    labels[k].reshape(-1))
                                    for k, n in td.AUX_CLASSES.items())
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            opt.step()
            with torch.no_grad():
                for k, p in model.state_dict().items():
                    ema[k].mul_(0.999).add_(p.detach(), alpha=0.001)
        batch = B
    else:
        from train.st2v.vae import VAE
        from train import train_vae as tv
        vae = VAE({"vae": recipe.vae_architecture(arch)})
        tv.init_for_training(vae)
        opt = torch.optim.AdamW(vae.parameters(), lr=1e-4, weight_decay=0.0)
        x = torch.rand(8, 3, 8, 64, 64) * 2 - 1

        def step():
            with recipe.autocast():
                z = vae.enc(x)
                y = vae.dec(z.float() + 0.05 * torch.randn_like(z, dtype=torch.float32)).float()
            loss = (y - x).abs().mean() + ((y - x) ** 2).mean() + 1e-3 * (z.float() ** 2).mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(vae.parameters(), 1.0)
            opt.step()
        batch = 8
    for _ in range(2):
        step()
    times = []
    for _ in range(steps):
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
    print(json.dumps({"times": times, "batch": batch, "bf16": recipe.BF16}))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--part", choices=["dit", "vae", "both"], default="both")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--steps", type=int, default=4)
    ap.add_argument("--arch", default="v3", help="the autoencoder timed (recipe.AUTOENCODERS)")
    ap.add_argument("--child", action="store_true")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", help="also write the results here")
    args = ap.parse_args()
    if args.child:
        return child(args.part, args.steps, args.threads, args.arch)
    parts = ["dit", "vae"] if args.part == "both" else [args.part]
    combos = list(itertools.product(parts, ("1", "0"), ("1", "0"), (1, 2)))
    res = {c: [] for c in combos}
    for r in range(args.rounds):
        for c in combos:
            part, bf16, tune, threads = c
            env = dict(os.environ, ST2V_BF16=bf16, ST2V_CPU_TUNE=tune)
            for k in ("OMP_WAIT_POLICY", "LD_PRELOAD", "MALLOC_CONF"):
                env.pop(k, None)
            out = subprocess.run([sys.executable, __file__, "--child", "--part", part,
                                  "--steps", str(args.steps), "--threads", str(threads),
                                  "--arch", args.arch],
                                 env=env, capture_output=True, text=True)
            if out.returncode:
                raise SystemExit(f"step_timing: {c} failed: {out.stderr.strip().splitlines()[-1]}")
            d = json.loads(out.stdout.strip().splitlines()[-1])
            res[c] += d["times"]
            res[c + ("batch",)] = d["batch"]
            print(f"round {r} {part} bf16={bf16} tuned={tune} threads={threads}: "
                  f"{statistics.median(d['times']):.3f} s", flush=True)
    rows = []
    print("| step | bf16 | tuned | threads | best s | median s | samples/s (median) |")
    print("|---|---|---|---|---|---|---|")
    for c in combos:
        t = res[c]
        med = statistics.median(t)
        rows.append({"part": c[0], "bf16": c[1] == "1", "tuned": c[2] == "1", "threads": c[3],
                     "best_s": min(t), "median_s": med, "samples_per_s": res[c + ("batch",)] / med})
        print(f"| {c[0]} | {'yes' if c[1] == '1' else 'no'} | {'yes' if c[2] == '1' else 'no'} "
              f"| {c[3]} | {min(t):.3f} | {med:.3f} | {res[c + ('batch',)] / med:.1f} |")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
