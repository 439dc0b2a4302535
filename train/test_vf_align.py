# SPDX-License-Identifier: LGPL-2.1-or-later
"""Tests of the truth alignment of the latent (train/vf_align.py,
train_vae.py --vf-weight / --scale-equiv): the per-cell truth embedding of
a rendered clip (shapes, background + occupancy = 1, the shape and instance
of the object under a cell), the VF loss is 0 for a projection aligned
with the truth and positive otherwise, its gradient reaches the encoder,
a sitting with the options off is bit-identical to the autoencoder's plain
step written out here, and a 2-step sitting with them on runs and
checkpoints the projection. A minute or so.

    /usr/bin/python3 -m train.test_vf_align    (or train/test_vf_align.py)
"""
import argparse
import os
import sys
import tempfile

if __package__ in (None, ""):      # run as train/test_vf_align.py: the repository root on the path
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from train import loop, recipe, testing, train_vae, vf_align  # noqa: E402
from train.st2v.vae import VAE  # noqa: E402
from train.world import SHAPES, render, sample_scene  # noqa: E402

torch.set_num_threads(1)
S = len(SHAPES)


def a_clip_with_objects():
    for seed in range(100, 200):
        scene = sample_scene(seed, split="train")
        if scene.objects:
            return render(scene)
    raise AssertionError("no scene with objects")


def the_truth_embedding_of_a_rendered_clip():
    video, labels = a_clip_with_objects()
    T, H, W, _ = video.shape
    objs = vf_align.clip_labels(labels, 4)
    assert len(objs) == len(labels["objects"])
    assert objs[0][0].shape == (T, H // 4, W // 4) and objs[0][0].dtype == np.float16
    f = vf_align.truth_cells(vf_align.crop_labels(objs, 0, 8, 0, 0, H // 8 * 8, 4), 2)
    hl = H // 8 * 8 // 4
    assert f.shape == (4, hl, hl, vf_align.TRUTH_DIM), f.shape
    assert np.allclose(f[..., 0] + f[..., 1], 1.0)            # background + occupancy
    assert f[..., 1].min() >= 0 and f[..., 1].max() <= 1
    f = vf_align.truth_cells(objs, 2)                           # the whole clip
    cov0 = objs[0][0][:T // 2 * 2].astype(np.float32).reshape(T // 2, 2, H // 4, W // 4).mean(1)
    full = cov0 >= 0.999
    if full.any():                                              # a cell inside object 0
        c = f[full][0]
        k = SHAPES.index(labels["objects"][0]["shape"])
        assert abs(c[1] - 1.0) < 1e-6 and abs(c[0]) < 1e-6
        assert abs(c[2 + k] - 1.0) < 1e-3 and abs(c[2:2 + S].sum() - 1.0) < 1e-3
        if len(objs) == 1:
            assert np.allclose(c[2 + S:2 + S + vf_align.INSTANCE_DIM], vf_align.INSTANCE[0],
                               atol=1e-3)
    empty = sum(o[0][:T // 2 * 2].astype(np.float32).reshape(T // 2, 2, H // 4, W // 4).mean(1)
                for o in objs) == 0
    assert empty.any()
    e = f[empty]
    assert np.all(e[:, 0] == 1) and np.all(e[:, 1:] == 0)        # background: e0
    z = vf_align.truth_cells_empty(8, 4, 4, 2)
    assert z.shape == (4, 4, 4, vf_align.TRUTH_DIM) and np.all(z[..., 0] == 1)


def instances_differ():
    c = vf_align.INSTANCE
    assert np.allclose(np.linalg.norm(c, axis=1), 1.0)
    g = c @ c.T
    assert np.all(np.abs(g[~np.eye(len(c), dtype=bool)]) < 0.999)


def the_vf_loss_is_zero_when_aligned_and_positive_otherwise():
    g = torch.Generator().manual_seed(0)
    f = torch.rand(2, 300, vf_align.TRUTH_DIM, generator=g)
    mcos, mdms = vf_align.vf_loss(f * 3.0, f, torch.Generator().manual_seed(1))
    assert mcos.item() == 0 and mdms.item() == 0, (mcos, mdms)
    p = torch.randn(2, 300, vf_align.TRUTH_DIM, generator=g)
    mcos, mdms = vf_align.vf_loss(p, f, torch.Generator().manual_seed(1))
    assert mcos.item() > 0.3 and mdms.item() > 0, (mcos, mdms)
    # through the projection: the latent z = the truth's first Cz dims,
    # a projection that maps them back onto f (f zero elsewhere)
    vf = vf_align.VF(4)
    f = torch.zeros(1, 2, 3, 3, vf_align.TRUTH_DIM)
    f[..., :4] = torch.rand(1, 2, 3, 3, 4, generator=g) + 0.1
    with torch.no_grad():
        vf.proj.weight.zero_()
        vf.proj.weight[:4] = torch.eye(4)
    z = f[..., :4].permute(0, 4, 1, 2, 3)
    assert all(t.item() == 0 for t in vf.loss(z, f))


def the_vf_gradient_reaches_the_encoder():
    vae = VAE({"vae": recipe.vae_architecture("v3")})
    train_vae.init_for_training(vae)
    x = torch.rand(1, 3, 4, 16, 16) * 2 - 1
    z = vae.enc(x)
    f = torch.zeros(1, 2, 4, 4, vf_align.TRUTH_DIM)
    f[..., 0] = 1
    f[0, :, :2, :2, 0], f[0, :, :2, :2, 1] = 0, 1
    vf = vf_align.VF(4)
    mcos, mdms = vf.loss(z, f)
    rec = (vae.dec(z) - x).abs().mean()
    w = vf_align.adaptive_weight(rec, mcos + mdms, vae.enc.conv_out.weight)
    assert 0 < w < 1e4
    (mcos + mdms).backward()
    assert vae.enc.conv_out.weight.grad.abs().sum() > 0
    assert vf.proj.weight.grad.abs().sum() > 0
    le = vf_align.scale_equivariance(vae.dec, z, x)
    assert le.item() > 0 and torch.isfinite(le)


def the_dct_share():
    def basis(k):               # DCT-II basis k along the width, constant down the height
        return torch.cos(torch.pi * (torch.arange(8) + 0.5) * k / 8)[None, None, None].repeat(
            2, 1, 8, 1)
    assert torch.allclose(vf_align.dct_high_share(basis(7)), torch.ones(2))
    assert torch.allclose(vf_align.dct_high_share(basis(1)), torch.zeros(2), atol=1e-6)
    assert torch.allclose(vf_align.dct_high_share(basis(1) + basis(6)), torch.full((2,), 0.5))


def sitting_args(directory, **kw):
    a = dict(minutes=10.0, until_step=1, lr=1e-3, cooldown=0, cooldown_minutes=0.0, batch=2,
             frames=4, crop=16, threads=1, eval_only=False, decoder_only=False, init_from=None,
             init_from_checkpoint=None, edge_weight=0.0, anchor_to=None, anchor=1.0, arch="v3",
             dir=directory, vf_weight=0.0, scale_equiv=0.0, warmup=train_vae.WARMUP)
    a.update(kw)
    return argparse.Namespace(**a)


class SmallPool:
    """train_vae's pool of 2 clips and no held-out PSNR, for seconds-long sittings."""

    def __enter__(self):
        self.saved = train_vae.POOL_SIZE, train_vae.eval_psnr
        train_vae.POOL_SIZE = 2
        train_vae.eval_psnr = lambda vae: (0.0, [])
        return self

    def __exit__(self, *exc):
        train_vae.POOL_SIZE, train_vae.eval_psnr = self.saved


def off_is_the_plain_step():
    """One step of a sitting with --vf-weight 0 --scale-equiv 0 against the
    autoencoder's step before the options existed, written out."""
    with tempfile.TemporaryDirectory() as d, SmallPool():
        args = sitting_args(d)
        train_vae.sitting(args)
        got = torch.load(loop.checkpoint_path(d))["vae"]
        assert "vf" not in torch.load(loop.checkpoint_path(d))

        torch.manual_seed(0)
        vae = VAE({"vae": recipe.vae_architecture("v3")})
        train_vae.init_for_training(vae)
        opt = torch.optim.AdamW(vae.parameters(), lr=args.lr, weight_decay=0.0)
        pool = train_vae.ClipPool(seed=1)
        x = pool.batch(args.batch, args.frames, args.crop)
        with recipe.autocast():
            z = vae.enc(x)
            zn = z.float() + 0.05 * torch.randn_like(z, dtype=torch.float32)
            y = vae.dec(zn).float()
        wpx = train_vae.edge_weights(x, 0.0)
        wpx = wpx / wpx.mean()
        loss = ((y - x).abs() * wpx).mean() + (((y - x) ** 2) * wpx).mean() + \
            1e-3 * (z.float() ** 2).mean()
        for g in opt.param_groups:
            g["lr"] = args.lr * recipe.lr_scale(0, 0, train_vae.WARMUP, 1e9, 0)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(list(vae.parameters()), loop.CLIP_NORM)
        opt.step()
        for k, v in vae.state_dict().items():
            assert torch.equal(v, got[k]), k


def the_pool_with_masks_draws_the_same_batches():
    with SmallPool():
        a = train_vae.ClipPool(seed=5)
        b = train_vae.ClipPool(seed=5, masks=4)
        for _ in range(3):
            xa = a.batch(2, 8, 32)
            xb, crops = b.batch(2, 8, 32)
            assert torch.equal(xa, xb)
            assert len(crops) == 2
            for objs in crops:
                for cov, k, vel in objs:
                    assert cov.shape == (8, 8, 8) and vel.shape == (8, 2) and 0 <= k < S
            a.step()
            b.step()


def a_two_step_sitting_with_alignment_and_equivariance():
    with tempfile.TemporaryDirectory() as d, SmallPool():
        train_vae.sitting(sitting_args(d, until_step=2, vf_weight=1.0, scale_equiv=0.5,
                                       frames=8, crop=32))
        ck = torch.load(loop.checkpoint_path(d))
        assert ck["step"] == 2 and "vf" in ck
        assert ck["vf"]["proj.weight"].shape == (vf_align.TRUTH_DIM, 4)
        train_vae.sitting(sitting_args(d, until_step=3, vf_weight=1.0, scale_equiv=0.5,
                                       frames=8, crop=32))          # resumes with it
        assert torch.load(loop.checkpoint_path(d))["step"] == 3


TESTS = [the_truth_embedding_of_a_rendered_clip, instances_differ,
         the_vf_loss_is_zero_when_aligned_and_positive_otherwise,
         the_vf_gradient_reaches_the_encoder, the_dct_share, off_is_the_plain_step,
         the_pool_with_masks_draws_the_same_batches,
         a_two_step_sitting_with_alignment_and_equivariance]

if __name__ == "__main__":
    sys.exit(testing.run(TESTS))
