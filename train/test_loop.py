# SPDX-License-Identifier: LGPL-2.1-or-later
"""Tests of the training loop (train/loop.py) on a tiny linear model: a
resumed run is the run that never stopped (step, weights, EMA, optimiser
state), the two cooldown schedules, and a loss that is not finite stops the
run with the last checkpoint kept. A clock that moves one second a step
stands in for the time. A second or two.

    /usr/bin/python3 -m train.test_loop        (or train/test_loop.py)
"""
import argparse
import copy
import os
import sys
import tempfile

if __package__ in (None, ""):      # run as train/test_loop.py: the repository root on the path
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import torch  # noqa: E402
import torch.nn as nn  # noqa: E402

from train import loop, testing  # noqa: E402

torch.set_num_threads(1)
LR, WARMUP = 1e-2, 5


class Clock:
    """time.time for the loop: one second a batch."""

    def __init__(self):
        self.t = 1000.0

    def __call__(self):
        return self.t


def sitting(directory, until_step=None, minutes=60.0, cooldown=0, cooldown_minutes=0.0,
            warmup=WARMUP, nan_at=None, save_every=300):
    """One sitting of a tiny trainer built like train_dit.py's (resumes from
    the directory's checkpoint, EMA, warm-up kept across sittings) ->
    (step, model, EMA, optimiser, learning rate of each step)."""
    args = argparse.Namespace(minutes=minutes, until_step=until_step, lr=LR, cooldown=cooldown,
                              cooldown_minutes=cooldown_minutes)
    torch.manual_seed(0)
    model = nn.Linear(4, 2)
    opt = torch.optim.AdamW(model.parameters(), lr=LR, weight_decay=0.01)
    ema = loop.Ema(model, copy.deepcopy(model.state_dict()))
    step = warm_from = 0
    ck = loop.load_checkpoint(directory)
    if ck:
        model.load_state_dict(ck["model"])
        opt.load_state_dict(ck["opt"])
        ema.state, step, warm_from = ck["ema"], ck["step"], ck["warm_from"]
    clock, lrs = Clock(), []
    target = torch.tensor([[1.0, -2.0], [0.5, 0.0], [0.0, 3.0], [-1.0, 1.0]])

    def batch_loss(step):
        x = torch.randn(8, 4, generator=torch.Generator().manual_seed(step))
        loss = ((model(x) - x @ target) ** 2).mean()
        if step == nan_at:
            loss = loss * float("nan")
        lrs.append(opt.param_groups[0]["lr"])
        clock.t += 1.0
        return loss, {"loss": loss.item()}, x.shape[0]

    def checkpoint(step):
        return {"model": model.state_dict(), "ema": ema.state, "opt": opt.state_dict(),
                "step": step, "warm_from": warm_from}

    step = loop.train(args, opt, list(model.parameters()), step, warm_from=warm_from,
                      warmup=warmup, batch_loss=batch_loss, checkpoint=checkpoint,
                      log_line=lambda step, s: f"step {step} loss {s.avg['loss']:.4f} "
                                               f"{s.samples_per_s:.1f} samples/s",
                      log_every=5, directory=directory, log=loop.Log(directory, echo=False), ema=ema,
                      clock=clock, save_every=save_every)
    return step, model, ema, opt, lrs


def same(a, b, what):
    """Two nested structures of tensors and numbers are equal bit for bit."""
    if isinstance(a, dict):
        assert a.keys() == b.keys(), what
        for k in a:
            same(a[k], b[k], f"{what}.{k}")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), what
        for i, (x, y) in enumerate(zip(a, b)):
            same(x, y, f"{what}[{i}]")
    elif isinstance(a, torch.Tensor):
        assert torch.equal(a, b), what
    else:
        assert a == b, (what, a, b)


def a_resumed_run_is_the_run_that_never_stopped():
    with tempfile.TemporaryDirectory() as once, tempfile.TemporaryDirectory() as twice:
        step, model, ema, opt, _ = sitting(once, until_step=12, cooldown=4)
        assert sitting(twice, until_step=12, cooldown=4, minutes=0.125)[0] == 8    # 7.5 s
        step2, model2, ema2, opt2, _ = sitting(twice, until_step=12, cooldown=4)
        assert step == step2 == 12, (step, step2)
        same(model.state_dict(), model2.state_dict(), "model")
        same(ema.state, ema2.state, "ema")
        same(opt.state_dict(), opt2.state_dict(), "optimiser")
        same(torch.load(loop.checkpoint_path(once)), torch.load(loop.checkpoint_path(twice)),
             "checkpoint")
        ema_differs = any(not torch.equal(ema.state[k], v) for k, v in model.state_dict().items())
        assert ema_differs, "the EMA is the model itself"
        # a finished run makes no step and leaves its checkpoint as it was
        mtime = os.path.getmtime(loop.checkpoint_path(once))
        assert sitting(once, until_step=12, cooldown=4)[0] == 12
        assert os.path.getmtime(loop.checkpoint_path(once)) == mtime


def the_step_cooldown_falls_to_zero_over_the_last_steps_across_sittings():
    with tempfile.TemporaryDirectory() as d:
        lrs = (sitting(d, until_step=12, cooldown=8, minutes=0.125)[4] +     # 7.5 s: 8 steps
               sitting(d, until_step=12, cooldown=8)[4])
        want = [LR * min(1, (k + 1) / WARMUP) * min(1, (12 - k) / 8) for k in range(12)]
        assert len(lrs) == 12 and max(abs(a - b) for a, b in zip(lrs, want)) < 1e-12, lrs
        # steps 12 - 8 = 4 .. 11 fall, the last at 1/8 of the rate
        assert lrs[11] == LR / 8 and lrs[3] == LR * 4 / WARMUP, lrs


def the_minute_cooldown_falls_to_zero_over_the_last_minutes_of_the_sitting():
    with tempfile.TemporaryDirectory() as d:
        step, *_, lrs = sitting(d, minutes=0.5, cooldown_minutes=0.25, warmup=1)
        assert step == 30, step                       # one second a step, 30 s
        want = [LR * min(1, (30 - k) / 15) for k in range(30)]
        assert max(abs(a - b) for a, b in zip(lrs, want)) < 1e-12, lrs
        assert torch.load(loop.checkpoint_path(d))["step"] == 30      # saved at the end


def a_loss_that_is_not_finite_stops_the_run_and_keeps_the_last_checkpoint():
    with tempfile.TemporaryDirectory() as d, tempfile.TemporaryDirectory() as clean:
        try:
            sitting(d, nan_at=10, save_every=3)
        except SystemExit as e:
            assert str(e) == "step 10: loss is not finite; last checkpoint kept", e
        else:
            raise AssertionError("a NaN loss did not stop the run")
        ck = torch.load(loop.checkpoint_path(d))
        assert ck["step"] == 8, ck["step"]              # saved every 4 s: steps 4 and 8
        assert not os.path.exists(loop.checkpoint_path(d) + ".tmp")
        _, model, ema, _, _ = sitting(clean, until_step=8)
        same(ck["model"], model.state_dict(), "model")
        same(ck["ema"], ema.state, "ema")


def the_log_has_a_line_every_log_every_steps():
    with tempfile.TemporaryDirectory() as d:
        sitting(d, until_step=12)
        lines = open(os.path.join(d, "log.txt")).read().splitlines()
        assert [ln.split()[:2] for ln in lines] == [["step", "5"], ["step", "10"]], lines
        assert all(ln.endswith(" 8.0 samples/s") for ln in lines), lines    # 8 a second


TESTS = [
    a_resumed_run_is_the_run_that_never_stopped,
    the_step_cooldown_falls_to_zero_over_the_last_steps_across_sittings,
    the_minute_cooldown_falls_to_zero_over_the_last_minutes_of_the_sitting,
    a_loss_that_is_not_finite_stops_the_run_and_keeps_the_last_checkpoint,
    the_log_has_a_line_every_log_every_steps,
]

if __name__ == "__main__":
    sys.exit(testing.run(TESTS))
