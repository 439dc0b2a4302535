# SPDX-License-Identifier: LGPL-2.1-or-later
"""Tests of the proxy's detector score (train/proxy.py): x0^ of the first
window decoded and read by the eval's detector (train/eval/detect.py,
score.py). On an autoencoder that loses nothing (a latent cell holds the
pixels it covers), the ceiling is the eval's own verdict on the world's
renders cut to the window, and a model that predicts the true velocity
scores the ceiling at every t. Seconds.

    /usr/bin/python3 -m train.test_proxy        (or train/test_proxy.py)
"""
import math
import os
import sys
import tempfile

if __package__ in (None, ""):      # run as train/test_proxy.py: the repository root on the path
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from train import proxy, testing  # noqa: E402
from train.eval import prompts  # noqa: E402
from train.eval.detect import detect  # noqa: E402
from train.eval.score import claims_from, score  # noqa: E402
from train.st2v.config import tiny_config  # noqa: E402
from train.st2v.vae import depth_to_space, space_to_depth  # noqa: E402
from train.world import render, sample_scene  # noqa: E402

torch.set_num_threads(1)
CLIPS = 5           # scenes 77000..77004: one object, a colour change, three objects, a relation
FT, S = 2, 4        # v3's compression: 2 frames, 4 x 4 pixels a latent cell


class Lossless(torch.nn.Module):
    """An autoencoder that loses nothing: a latent cell is the FT x S x S
    pixels it covers (3 FT S S channels)."""

    def enc(self, x):
        return space_to_depth(x, FT, S)

    def dec(self, z):
        return depth_to_space(z, FT, S)


class Oracle(torch.nn.Module):
    """A DiT stand-in that knows the clean window x0: its velocity is
    (x_t - x0) / t, so its one-step prediction is x0 itself (zero: x0^ = x_t)."""

    def __init__(self, x0=None):
        super().__init__()
        self.x0 = x0

    def text(self, ids, mask):
        return torch.zeros(ids.shape[0], ids.shape[1], 8)

    def dit(self, xt, tt, text, mask):
        if self.x0 is None:
            return torch.zeros_like(xt)
        t = tt[:, 0].float()[:, None, None, None, None]
        return (xt - self.x0[None]) / t


def config():
    cfg = tiny_config()
    cz = 3 * FT * S * S
    cfg["vae"].update(z_channels=cz, time_up=[1], space_up=[1, 1],
                      latent_mean=[0.0] * cz, latent_std=[1.0] * cz)
    cfg["dit"]["patch"] = [2, 4, 4]
    cfg["sampler"].update(window=8, cfg=4.0)
    return cfg


def clips_and_config():
    cfg = config()
    with tempfile.TemporaryDirectory() as d:
        clips = proxy.heldout_clips(Lossless(), CLIPS, cfg, d)
    return clips, cfg


def the_ceiling_on_a_lossless_autoencoder_is_the_evals_verdict_on_the_render():
    """clean_passes decodes each clip's first window to exactly the world's
    render of its 16 frames, and scores them as the eval does (detect,
    claims of the scene in the clip's detector language); on the render
    every window category that applies passes (why motion and colour
    change are left out: they do not, proxy.WINDOW_CATEGORIES)."""
    clips, cfg = clips_and_config()
    ceiling = proxy.clean_passes(Lossless(), clips, cfg)
    assert len(ceiling) == CLIPS
    judged = {k: 0 for k in proxy.WINDOW_CATEGORIES}
    for i, (c, got) in enumerate(zip(clips, ceiling)):
        lang = proxy.detect_language(c)
        scene = sample_scene(c["seed"], split="heldout", lang=lang)
        video = render(scene, masks=False)[0][:8 * FT]
        frames = proxy.decode_frames(Lossless(), c["z"][:, :8], cfg)
        assert np.array_equal(frames, video), (c["seed"], np.abs(frames.astype(int) - video).max())
        want = score(claims_from(prompts.ground_truth(scene)), detect(video))["pass"]
        for k in proxy.WINDOW_CATEGORIES:
            if want[k] is None:
                assert math.isnan(got[k]), (c["seed"], k, got[k])
            else:
                assert got[k] == float(want[k]) == 1.0, (c["seed"], k, got[k], want[k])
                judged[k] += 1
        assert got["all"] == 1.0
    assert judged["colour"] == judged["shape"] == judged["temporal"] == CLIPS, judged
    assert judged["relation"] >= 1 and judged["background"] >= 1, judged


def a_model_that_predicts_the_truth_scores_the_ceiling():
    """measure with a detector: the oracle's x0^ decodes to the clean window
    at every t, so every "detect t=.." equals "detect clean"; a model that
    predicts no velocity (x0^ = x_t, mostly noise at t = 0.9) does not:
    noise holds every palette colour, so colour can pass, but no object
    is followed through the window and no clip passes all its categories."""
    clips, cfg = clips_and_config()
    vae = Lossless()
    ceiling = proxy.clean_passes(vae, clips, cfg)
    zero = []
    for i, c in enumerate(clips):
        x0 = c["z"][:, :8].float()
        rows = proxy.measure(Oracle(x0), cfg, [c], None, vae=vae, detect_ts=proxy.TS,
                             ceiling=[ceiling[i]])
        assert len(rows) == 1
        r = rows[0]
        assert r["detect clean"] == ceiling[i]
        for t in proxy.TS:
            got, want = r[f"detect t={t}"], ceiling[i]
            assert got.keys() == want.keys()
            assert all(got[k] == want[k] or math.isnan(got[k]) and math.isnan(want[k])
                       for k in want), (c["seed"], t, got, want)
            assert set(r[f"t={t}"]) == {"fm", "fm_obj"}               # no probe given
        zero.append(proxy.measure(Oracle(), cfg, [c], None, vae=vae, detect_ts=(0.9,))[0])
    s = proxy.summarise(zero)
    assert s[("detect t=0.9", "temporal")][0] == s[("detect t=0.9", "all")][0] == 0.0, s


TESTS = [
    the_ceiling_on_a_lossless_autoencoder_is_the_evals_verdict_on_the_render,
    a_model_that_predicts_the_truth_scores_the_ceiling,
]

if __name__ == "__main__":
    sys.exit(testing.run(TESTS))
