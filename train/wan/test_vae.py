#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Self-tests of train/wan/vae.py: the streaming decode against the
whole-sequence formulation without caches (decode_whole), the frame counts
per chunk, the uint8 mapping, the official names and shapes of the real
config, and the fixtures' determinism. (The cross-check against the official
wan/modules/vae.py ran from a scratch script outside the repository; its
result is in docs/wan.md.)

    /usr/bin/python3 train/wan/test_vae.py        # prints "N passed, N failed"
"""

import hashlib
import os
import sys
import tempfile

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

from wan import vae  # noqa: E402

torch.set_num_threads(1)


def tiny(seed=5):
    m = vae.WanVAE(vae.FIXTURE_CONFIG).double().eval()
    vae.init_random(m, seed)
    return m


def vae_streaming_equals_the_whole_sequence_without_caches():
    m = tiny()
    z = torch.randn(1, 16, 5, 3, 2, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    with torch.no_grad():
        a = m.decode(z, clamp=False)
        b = m.decode_whole(z)
    assert a.shape == (1, 3, 17, 24, 16), a.shape
    err = (a - b).abs().max().item()
    assert err < 1e-12, err


def vae_first_latent_frame_gives_one_frame_then_four():
    m = tiny()
    st = m.new_state()
    z = torch.randn(2, 16, 3, 2, 3, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    with torch.no_grad():
        n = [m.decode_frame(st, z[:, :, t]).shape[2] for t in range(3)]
        # a new state restarts: the same first frame again
        again = m.decode_frame(m.new_state(), z[:, :, 0])
        first = m.decode_frame(m.new_state(), z[:, :, 0])
    assert n == [1, 4, 4], n
    assert torch.equal(again, first)


def vae_uint8_mapping_is_cache_videos():
    x = torch.tensor([-2.0, -1.0, -0.5, 0.0, 0.999, 1.0, 3.0])
    assert vae.to_uint8(x).tolist() == [0, 0, 63, 127, 254, 255, 255]


def vae_names_and_shapes_are_the_official_ones():
    m = vae.WanVAE()
    sd = m.state_dict()
    assert len(sd) == 194, len(sd)
    assert tuple(sd["decoder.upsamples.4.shortcut.weight"].shape) == (384, 192, 1, 1, 1)
    assert tuple(sd["decoder.upsamples.3.time_conv.weight"].shape) == (768, 384, 3, 1, 1)
    assert tuple(sd["decoder.middle.1.norm.gamma"].shape) == (384, 1, 1)
    assert tuple(sd["decoder.head.0.gamma"].shape) == (96, 1, 1, 1)
    convs = [mod for mod in m.decoder.modules()
             if isinstance(mod, vae.CausalConv3d)]
    assert len(convs) == 33, len(convs)             # vae.py's feat_cache slots


def vae_fixtures_are_deterministic_and_up_to_date():
    here = os.path.join(os.path.dirname(os.path.dirname(HERE)), "tests", "fixtures", "wan", "vae")
    with tempfile.TemporaryDirectory() as d:
        vae.write_fixtures(d)
        for name in sorted(os.listdir(d)):
            with open(os.path.join(d, name), "rb") as f:
                a = hashlib.sha256(f.read()).hexdigest()
            with open(os.path.join(here, name), "rb") as f:
                b = hashlib.sha256(f.read()).hexdigest()
            assert a == b, name


TESTS = [
    vae_streaming_equals_the_whole_sequence_without_caches,
    vae_first_latent_frame_gives_one_frame_then_four,
    vae_uint8_mapping_is_cache_videos,
    vae_names_and_shapes_are_the_official_ones,
    vae_fixtures_are_deterministic_and_up_to_date,
]


if __name__ == "__main__":
    import testing  # train/testing.py: one runner for every Python test
    sys.exit(testing.run(TESTS))
