# SPDX-License-Identifier: LGPL-2.1-or-later
"""Tests of the ReDi lever (train/redi.py, train_dit.py --redi, the DiT's
dit.extra_channels): the code of the world's structure, a model carried
onto the extra channels predicting the latent's velocity exactly as before,
its optimiser state carried, the loss split, the config check, and a
sitting of train_dit.py on a tiny cache that resumes a checkpoint without
the channels, with them. Seconds.

    /usr/bin/python3 -m train.test_redi        (or train/test_redi.py)
"""
import argparse
import copy
import itertools
import os
import sys
import tempfile

if __package__ in (None, ""):      # run as train/test_redi.py: the repository root on the path
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import torch  # noqa: E402

from train import loop, redi, testing  # noqa: E402
from train.st2v.config import derived, tiny_config  # noqa: E402
from train.st2v.model import St2vModel, init_random  # noqa: E402

torch.set_num_threads(1)


def redi_config(r=redi.CHANNELS):
    cfg = tiny_config()
    cfg["dit"]["extra_channels"] = r
    return cfg


def the_shape_code_is_a_regular_simplex_and_motion_unit_directions():
    v = redi.SHAPE_CODE[1:].double()                                # the 5 shapes
    assert torch.allclose(v.norm(dim=1), torch.ones(5, dtype=torch.float64), atol=1e-6)
    d = [float((v[i] - v[j]).norm()) for i, j in itertools.combinations(range(5), 2)]
    assert max(d) - min(d) < 1e-6, d                                # pairwise equidistant
    assert float(v.sum(0).abs().max()) < 1e-6                       # centred on background's 0
    assert torch.equal(redi.SHAPE_CODE[0], torch.zeros(4))
    m = redi.MOTION_CODE
    assert torch.equal(m[:2], torch.zeros(2, 2))                    # background, still
    assert m[2].tolist() == [-1, 0] and m[3].tolist() == [1, 0]     # left, right
    assert m[4].tolist() == [0, -1] and m[5].tolist() == [0, 1]     # up, down (y down)
    p = redi.SHAPE_CODE_2D[1:].double()                             # compact: a pentagon
    assert torch.allclose(p.norm(dim=1), torch.ones(5, dtype=torch.float64), atol=1e-6)
    near = [float((p[i] - p[(i + 1) % 5]).norm()) for i in range(5)]
    assert max(near) - min(near) < 1e-6 and min(near) > 1.17, near
    assert torch.equal(redi.SHAPE_CODE_2D[0], torch.zeros(2))


def targets_repeat_each_tokens_standardised_code_over_its_latent_cells():
    g = torch.Generator().manual_seed(1)
    shape = torch.randint(0, 6, (2, 3, 2, 4), generator=g)          # (B, T, Hp, Wp)
    motion = torch.randint(0, 6, (2, 3, 2, 4), generator=g) * (shape > 0)
    b, t, i, j = 1, 2, 1, 3                                         # one token: 2 x 3 cells
    sh, mo = shape[b, t, i, j], motion[b, t, i, j]
    for R, raw in ((redi.CHANNELS, torch.cat([torch.tensor([float(sh > 0)]), redi.SHAPE_CODE[sh],
                                              redi.MOTION_CODE[mo]])),
                   (redi.COMPACT, torch.cat([redi.SHAPE_CODE_2D[sh], redi.MOTION_CODE[mo]]))):
        st = redi.stats([{"shape": s, "motion": m} for s, m in zip(shape, motion)], R)
        assert st["channels"] == R and len(st["mean"]) == R and len(st["names"]) == R
        a = redi.targets(shape, motion, st, [1, 2, 3])
        assert a.shape == (2, R, 3, 4, 12), a.shape
        flat = a.permute(1, 0, 2, 3, 4).reshape(R, -1)
        assert float(flat.mean(1).abs().max()) < 1e-5               # standardised over the batch
        assert float((flat.std(1, unbiased=False) - 1).abs().max()) < 1e-4
        s, mu = torch.tensor(st["std"]), torch.tensor(st["mean"])
        cells = a[b, :, t, 2 * i:2 * i + 2, 3 * j:3 * j + 3].reshape(R, -1)
        assert torch.allclose(cells, ((raw - mu) / s)[:, None].expand(-1, 6), atol=1e-6), R
    try:
        redi.raw_code(shape, motion, 5)
    except ValueError as e:
        assert "no code of 5 channels" in str(e), e
    else:
        raise AssertionError("a code of 5 channels was made")


def a_carried_model_predicts_the_same_latent_velocity_as_before():
    """widen_state: zero new input columns and output rows, so the latent's
    velocity is the old model's whatever the extra channels hold, and theirs
    is 0."""
    old = St2vModel(tiny_config()).double().eval()
    init_random(old, 3)
    new = St2vModel(redi_config()).double().eval()
    init_random(new, 4)                                             # other weights everywhere
    new.load_state_dict(redi.widen_state(old.state_dict(), new.state_dict()))
    g = torch.Generator().manual_seed(2)
    z = torch.randn(2, 4, 2, 4, 6, generator=g, dtype=torch.float64)
    extra = 3 * torch.randn(2, redi.CHANNELS, 2, 4, 6, generator=g, dtype=torch.float64)
    t = torch.tensor([[0.0, 0.4], [0.9, 0.9]], dtype=torch.float64)
    c = torch.randn(2, 5, 32, generator=g, dtype=torch.float64)
    with torch.no_grad():
        want = old.dit(z, t, c, None, 1)
        got = new.dit(torch.cat([z, extra], 1), t, c, None, 1)
    assert got.shape == (2, 4 + redi.CHANNELS, 2, 4, 6), got.shape
    assert torch.equal(got[:, :4], want), float((got[:, :4] - want).abs().max())
    assert torch.equal(got[:, 4:], torch.zeros_like(got[:, 4:]))
    # and the carried rows are not zero: training moves them
    w = new.state_dict()["dit.patch_embed.weight"]
    assert w.shape == (48, (4 + redi.CHANNELS) * 4) and float(w[:, :16].abs().sum()) > 0
    assert float(w[:, 16:].abs().sum()) == 0


def widen_refuses_a_tensor_that_does_not_fit():
    try:
        redi.widen(torch.zeros(3, 5), (2, 6))
    except ValueError as e:
        assert "does not fit" in str(e), e
    else:
        raise AssertionError("a narrowing was taken")


def the_config_takes_extra_channels_0_to_64_and_widens_the_token():
    assert derived(tiny_config())["P"] == 16 and derived(tiny_config())["R"] == 0
    d = derived(redi_config(3))
    assert (d["R"], d["Cd"], d["P"]) == (3, 7, 28), d
    for bad in (-1, 65, 1.5, True, "3"):
        try:
            derived(redi_config(bad))
        except ValueError as e:
            assert "dit.extra_channels" in str(e), e
        else:
            raise AssertionError("extra_channels %r taken" % (bad,))


def tiny_cache(directory, clips=6, seed=0):
    """A latent cache of the tiny model's geometry (Cz 4, patch [1,2,2]):
    random latents with token labels of an object or two."""
    g = torch.Generator().manual_seed(seed)
    items = []
    for i in range(clips):
        shape = torch.zeros(6, 2, 3, dtype=torch.uint8)             # (T_lat, Hp, Wp)
        motion = torch.zeros(6, 2, 3, dtype=torch.uint8)
        shape[:, i % 2, i % 3] = 1 + i % 5
        motion[:, i % 2, i % 3] = 1 + i % 5
        items.append({"seed": i, "z": torch.randn(4, 6, 4, 6, generator=g).half(),
                      "captions": ["a red ball", "a blue cube", "red", "blue"],
                      "colour": (shape > 0).to(torch.uint8) * 2, "shape": shape,
                      "motion": motion})
    os.makedirs(directory)
    torch.save(items, os.path.join(directory, "shard_00000.pt"))
    vae = copy.deepcopy(tiny_config()["vae"])
    torch.save({"mean": torch.zeros(4), "std": torch.ones(4), "vae_config": vae},
               os.path.join(directory, "stats.pt"))


def sitting(directory, cache, redi_n, until_step, redi_weight=1.0, lr=1e-3):
    from train import train_dit
    args = argparse.Namespace(minutes=10.0, until_step=until_step, lr=lr, cooldown=0,
                              cooldown_minutes=0.0, batch=2, aux_steps=None, aux_weight=0.5,
                              single_frames=0.0, threads=1, dir=directory, cache=cache,
                              init_from=None, pairs=None, redi=redi_n, redi_weight=redi_weight,
                              log_every=1)
    os.makedirs(directory, exist_ok=True)
    train_dit.sitting(args, torch.device("cpu"))
    return loop.load_checkpoint(directory)


def tiny_recipe(fn):
    """Run fn with train_dit's recipe shrunk to the tiny model (its config
    from tiny_config, window 2, context 1) and no warm-up."""
    from train import train_dit

    def make_config(cache):
        cfg = tiny_config()
        cfg["vae"] = cache.vae_section()
        cfg["sampler"]["window"], cfg["sampler"]["context"] = 2, 1
        return cfg
    saved = train_dit.make_config, train_dit.WARMUP
    train_dit.make_config, train_dit.WARMUP = make_config, 1
    try:
        return fn()
    finally:
        train_dit.make_config, train_dit.WARMUP = saved


def a_checkpoint_without_the_channels_resumes_with_them():
    """train_dit.py --redi 7 on a run's checkpoint without them: the model,
    EMA and optimiser state widen (zeros where new), the step goes on, the
    log has the extra channels' loss; a later sitting without --redi keeps
    them; a run without --redi stays as it was (no key, same shapes)."""
    def body():
        with tempfile.TemporaryDirectory() as d:
            cache = os.path.join(d, "cache")
            tiny_cache(cache)
            run = os.path.join(d, "run")
            ck0 = sitting(run, cache, None, 3)
            assert "extra_channels" not in ck0["config"]["dit"]
            assert ck0["model"]["dit.patch_embed.weight"].shape == (48, 16)
            plain = os.path.join(d, "plain")
            os.makedirs(plain)
            torch.save(ck0, loop.checkpoint_path(plain))
            ck = sitting(run, cache, redi.CHANNELS, 5)
            assert ck["step"] == 5 and ck["config"]["dit"]["extra_channels"] == redi.CHANNELS
            st = ck["config"]["provenance"]["redi"]
            assert len(st["mean"]) == redi.CHANNELS and min(st["std"]) > 0
            P = (4 + redi.CHANNELS) * 4
            for part in ("model", "ema"):
                assert ck[part]["dit.patch_embed.weight"].shape == (48, P), part
                assert ck[part]["dit.final.linear.bias"].shape == (P,), part
                # the old columns went on from the old weights
                assert not torch.equal(ck[part]["dit.patch_embed.weight"][:, :16],
                                       torch.zeros(48, 16))
            moments = [v["exp_avg"] for v in ck["opt"]["state"].values()]
            assert any(m.shape == (48, P) for m in moments)
            log = open(os.path.join(run, "log.txt")).read().splitlines()
            assert log[-1].startswith("step 5 ") and " redi " in log[-1], log[-1]
            assert " redi " not in log[0], log[0]               # steps 1..3: no channels
            ck = sitting(run, cache, None, 6)                   # as the checkpoint says
            assert ck["config"]["dit"]["extra_channels"] == redi.CHANNELS and ck["step"] == 6
            try:
                sitting(run, cache, 0, 7)
            except SystemExit as e:
                assert "7 extra (ReDi) channels, --redi says 0" in str(e), e
            else:
                raise AssertionError("--redi 0 on a ReDi run was taken")
            ck = sitting(plain, cache, None, 4)                 # the run without: unchanged
            assert "extra_channels" not in ck["config"]["dit"] and "redi" not in \
                ck["config"]["provenance"]
            assert ck["model"]["dit.patch_embed.weight"].shape == (48, 16)
    tiny_recipe(body)


def the_extra_channels_loss_falls_when_trained():
    """80 steps of the tiny model with --redi 4 (the compact code) on one clip: the loss
    of the extra channels falls (the code is learnable), the latent's loss
    is reported apart."""
    def body():
        with tempfile.TemporaryDirectory() as d:
            cache = os.path.join(d, "cache")
            tiny_cache(cache, clips=1)
            run = os.path.join(d, "run")
            sitting(run, cache, redi.COMPACT, 80, lr=3e-3)
            lines = open(os.path.join(run, "log.txt")).read().splitlines()
            r = [float(ln.split(" redi ")[1].split()[0]) for ln in lines]   # running means
            assert len(r) == 80 and r[-1] < 0.85 * r[0], (r[:5], r[-5:])   # measured 0.77
    tiny_recipe(body)


def the_proxy_scores_a_carried_model_like_its_source():
    """proxy.measure on a model with ReDi channels feeds them beside the
    latent and reads the latent's velocity: a model carried onto them
    (zero weights there) scores as its source, whatever --redi-input."""
    from train import proxy
    cfg0 = tiny_config()
    old = St2vModel(cfg0).eval()
    init_random(old, 5)
    g = torch.Generator().manual_seed(6)
    clips = []
    for i in range(3):
        shape = torch.zeros(4, 2, 3, dtype=torch.uint8)                 # (T_lat, Hp, Wp)
        shape[:, i % 2, i % 3] = 1 + i
        labels = {"colour": shape * 2, "shape": shape, "motion": shape.clone()}
        clips.append({"seed": i, "z": torch.randn(4, 4, 4, 6, generator=g),
                      "captions": ("a red ball", "červený míč"), "labels": labels})
    torch.manual_seed(0)
    probes = {k: torch.nn.Linear(16, n) for k, n in (("colour", 10), ("shape", 6), ("motion", 6))}
    cfg = redi_config()
    cfg["provenance"]["redi"] = redi.stats([c["labels"] for c in clips])
    new = St2vModel(cfg).eval()
    new.load_state_dict(redi.widen_state(old.state_dict(), new.state_dict()))
    want = proxy.measure(old, cfg0, clips, probes)
    assert len(want) == 3
    for how in ("truth", "noise"):
        got = proxy.measure(new, cfg, clips, probes, redi_input=how)
        for a, b in zip(got, want):
            assert a.keys() == b.keys()
            for sec in a:
                for k in a[sec]:
                    assert abs(a[sec][k] - b[sec][k]) <= 1e-4 * max(1.0, abs(b[sec][k])), \
                        (how, sec, k, a[sec][k], b[sec][k])


TESTS = [
    the_shape_code_is_a_regular_simplex_and_motion_unit_directions,
    targets_repeat_each_tokens_standardised_code_over_its_latent_cells,
    a_carried_model_predicts_the_same_latent_velocity_as_before,
    widen_refuses_a_tensor_that_does_not_fit,
    the_config_takes_extra_channels_0_to_64_and_widens_the_token,
    a_checkpoint_without_the_channels_resumes_with_them,
    the_extra_channels_loss_falls_when_trained,
    the_proxy_scores_a_carried_model_like_its_source,
]

if __name__ == "__main__":
    sys.exit(testing.run(TESTS))
