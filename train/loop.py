# SPDX-License-Identifier: LGPL-2.1-or-later
"""The training loop of train_dit.py and train_vae.py: what a sitting does
around each trainer's batch and loss.

- a time budget (--minutes) and an optional last step (--until-step);
- the learning rate: a linear warm-up over `warmup` steps from `warm_from`,
  then flat, then, with --cooldown N (and --until-step), linear to zero
  over the last N steps, whichever sitting makes them, or, with
  --cooldown-minutes M, over the sitting's last M minutes (recipe.lr_scale);
- AdamW's step with the gradient norm clipped to 1, and an EMA of the
  weights where the trainer keeps one (Ema);
- a stop, before the step, where the loss is not finite: the checkpoint on
  disk is the last good one;
- a log line every `log_every` steps (printed and appended to log.txt),
  written by the trainer from the step's values, their running averages and
  samples/s (Stats);
- a checkpoint every 5 minutes, at the end of the sitting and at
  --until-step, written whole or not at all (a temporary file renamed over
  checkpoint.pt), from which the next sitting resumes (load_checkpoint);
  after it the allocator gives back the pages it kept
  (cpu_runtime.release_memory);

What it is not: the model, the batches, the losses and what a checkpoint
holds are the trainer's (train(..., batch_loss, checkpoint, log_line)).
"""
import math
import os
import time

import torch

from train import cpu_runtime, recipe

SAVE_EVERY = 300            # seconds between checkpoints
CLIP_NORM = 1.0             # gradient norm clipped to this


# ------------------------------------------------------------------ flags

def add_arguments(ap, lr):
    """The schedule's flags, shared by the trainers (lr: --lr's default)."""
    ap.add_argument("--minutes", type=float, default=30)
    ap.add_argument("--until-step", type=int, default=None,
                    help="stop at this step (the minutes still bound the sitting)")
    ap.add_argument("--lr", type=float, default=lr)
    ap.add_argument("--cooldown", type=int, default=0,
                    help="with --until-step: the learning rate falls linearly to zero over "
                         "this many last steps, whichever sitting makes them (a warm-up, "
                         "stable, decay schedule; train/campaign.sh)")
    ap.add_argument("--cooldown-minutes", type=float, default=0,
                    help="the learning rate falls linearly to zero over the sitting's last this "
                         "many minutes (where the steps a sitting makes are not known ahead, "
                         "e.g. on a GPU)")


def check_arguments(ap, args):
    """Refuse (ap.error) a schedule that add_arguments' flags do not make."""
    if args.cooldown and args.until_step is None:
        ap.error("--cooldown needs --until-step")
    if args.cooldown and args.cooldown_minutes:
        ap.error("--cooldown and --cooldown-minutes are two schedules: give one")
    if not 0 <= args.cooldown_minutes <= args.minutes:
        ap.error("--cooldown-minutes must be 0..--minutes")


# ------------------------------------------------------------- checkpoints

def checkpoint_path(directory):
    return os.path.join(directory, "checkpoint.pt")


def load_checkpoint(directory):
    """The run's checkpoint on the CPU (whatever device wrote it), or None
    where there is none yet."""
    path = checkpoint_path(directory)
    return torch.load(path, map_location="cpu") if os.path.exists(path) else None


def save_checkpoint(directory, state):
    """Write `state` to the run's checkpoint.pt whole or not at all."""
    path = checkpoint_path(directory)
    torch.save(state, path + ".tmp")
    os.replace(path + ".tmp", path)


# ---------------------------------------------------------------- helpers

class Log:
    """Messages printed (unless echo is False) and appended to
    DIRECTORY/log.txt."""

    def __init__(self, directory, echo=True):
        self.file, self.echo = open(os.path.join(directory, "log.txt"), "a"), echo

    def __call__(self, msg):
        if self.echo:
            print(msg, flush=True)
        self.file.write(msg + "\n")
        self.file.flush()


class Ema:
    """An exponential moving average of a module's state: `state` (a dict
    of tensors like module.state_dict(), updated in place), its decay
    rising to 0.999 with the step."""

    def __init__(self, module, state):
        self.module, self.state = module, state

    def update(self, step):
        decay = min(0.999, (1 + step) / (10 + step))
        with torch.no_grad():
            for k, p in self.module.state_dict().items():
                self.state[k].mul_(decay).add_(p.detach(), alpha=1 - decay)


class Stats:
    """What a log line reports: `last`, the step's values; `avg`, their
    running averages (weight 0.02 on each new step); `lr`, the step's
    learning rate; `samples_per_s` since the last line."""

    def __init__(self):
        self.last, self.avg, self.lr, self.samples_per_s = {}, {}, 0.0, 0.0

    def add(self, values):
        self.last = values
        for k, v in values.items():
            self.avg[k] = 0.98 * self.avg.get(k, v) + 0.02 * v


# ------------------------------------------------------------------- loop

def train(args, opt, params, step, *, warm_from, warmup, batch_loss, checkpoint, log_line,
          log_every, directory, log, ema=None, after_step=None, after_save=None,
          clock=time.time, save_every=SAVE_EVERY):
    """Train from `step` until args.minutes have passed or args.until_step
    is reached; returns the step reached.

    args: add_arguments' flags (minutes, until_step, lr, cooldown,
        cooldown_minutes). opt: the optimiser of `params` (a list, whose
        gradient norm is clipped).
    warm_from, warmup: the learning rate warms up linearly over `warmup`
        steps from step `warm_from`.
    batch_loss(step) -> (loss, values, samples): one batch's loss to
        backpropagate, the floats to log ({name: value}), its sample count.
    checkpoint(step) -> the dict to save (save_checkpoint).
    log_line(step, Stats) -> the line logged every `log_every` steps.
    log: a Log. ema: an Ema, updated after every step.
    after_step(step), after_save(): the trainer's own work after each step
        and after each checkpoint."""
    t_end, t_save = clock() + args.minutes * 60, clock()
    t_log, samples, stats = clock(), 0, Stats()
    while clock() < t_end and (args.until_step is None or step < args.until_step):
        left, cooldown = ((args.until_step - step, args.cooldown) if args.cooldown else
                          (t_end - clock(), args.cooldown_minutes * 60))
        stats.lr = args.lr * recipe.lr_scale(step, warm_from, warmup, left, cooldown)
        for g in opt.param_groups:
            g["lr"] = stats.lr
        loss, values, n = batch_loss(step)
        if not math.isfinite(loss.item()):
            raise SystemExit(f"step {step}: loss is not finite; last checkpoint kept")
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, CLIP_NORM)
        opt.step()
        step += 1
        if ema is not None:
            ema.update(step)
        if after_step is not None:
            after_step(step)
        stats.add(values)
        samples += n
        if step % log_every == 0:
            now = clock()
            stats.samples_per_s = samples / max(now - t_log, 1e-9)
            t_log, samples = now, 0
            log(log_line(step, stats))
        if clock() - t_save > save_every or clock() >= t_end or step == args.until_step:
            save_checkpoint(directory, checkpoint(step))
            cpu_runtime.release_memory()    # what jemalloc kept since the last one
            t_save = clock()
            if after_save is not None:
                after_save()
    return step
