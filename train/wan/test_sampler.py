#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Self-tests of train/wan/sampler.py: the schedules' published values and
shapes, exactness on a point mass, convergence with the order each solver
claims on a Gaussian flow whose solution is known, the first-order last
UniPC step, and the fixtures' determinism.

    /usr/bin/python3 train/wan/test_sampler.py     # prints "N passed, N failed"
"""

import hashlib
import os
import sys
import tempfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

from wan import sampler  # noqa: E402

MU, S = 2.0, 0.5


def gaussian(x, t, i):
    """The exact velocity of data N(MU, S^2): noise e flows to MU + S e."""
    t = max(t, 1e-12)
    var = (1 - t) ** 2 * S * S + t * t
    return -MU + (t - (1 - t) * S * S) / var * (x - (1 - t) * MU)


def err(name, steps, shift=1.0, kind="world"):
    e = np.linspace(-2.5, 2.5, 101)
    xs = sampler.sample(name, gaussian, e.copy(), kind, steps, shift)
    return np.abs(xs[-1] - (MU + S * e)).max()


def wan_schedules_have_the_published_values():
    sig, tm, ts = sampler.unipc_schedule(10, 5.0)
    assert ts.tolist()[:2] == [999, 978] and ts[-1] == 356, ts
    assert len(sig) == 11 and sig[-1] == 0 and np.all(np.diff(sig) < 0)
    assert sig[0] == np.float32(0.999 * 5 / (1 + 4 * 0.999)), sig[0]
    sig, tm, ts = sampler.fm_schedule(4, 1.0)
    assert ts.tolist() == [1000, 750, 500, 250] and sig.tolist() == [1, .75, .5, .25, 0]
    assert np.array_equal(tm[:-1] * 1000, ts), tm
    sig, _, ts = sampler.unipc_schedule(1, 5.0)
    assert len(sig) == 2 and ts.tolist() == [999], ts


def every_sampler_lands_on_a_point_mass_in_one_step():
    x = np.linspace(-3, 3, 13)
    for kind in ("world", "wan"):
        for name in sampler.SAMPLERS:
            model = (lambda xx, t, i: (xx - 0.75) / t)
            xs = sampler.sample(name, model, x.copy(), kind, 1, 1.0)
            # (UniPC on Wan: the model time 0.999 is not float32(0.999))
            assert np.abs(xs[-1] - 0.75).max() < 1e-6, (kind, name, xs[-1])


def solvers_converge_with_their_order():
    for name, order in (("euler", 1), ("heun", 2), ("dpm++2m", 2), ("unipc", 2)):
        e1, e2 = err(name, 64), err(name, 128)
        assert e2 < e1, (name, e1, e2)
        rate = np.log2(e1 / e2)
        assert rate > order - 0.35, (name, rate)


def unipc_beats_dpmpp_2m_and_euler():
    for steps in (8, 16):
        u, d, e = err("unipc", steps), err("dpm++2m", steps), err("euler", steps)
        assert u < d < e, (steps, u, d, e)


def unipc_last_step_is_the_data_prediction():
    rng = np.random.default_rng(3)
    c = rng.standard_normal(20)
    seen = []

    def model(x, t, i):
        v = 0.5 * x - 0.8 * t + c
        seen.append((x.copy(), v))
        return v
    sched = sampler.unipc_schedule(5, 5.0)
    xs = sampler.unipc(model, rng.standard_normal(20), sched)
    x, v = seen[-1]
    assert np.abs(xs[-1] - (x - sched[0][4] * v)).max() < 1e-12
    part = sampler.unipc(model, xs[0], sched, 3)
    assert all(np.array_equal(a, b) for a, b in zip(part, xs[:4]))


def wan_sampler_fixtures_are_deterministic_and_up_to_date():
    def digest(d):
        return {f: hashlib.sha256(open(os.path.join(d, f), "rb").read()).hexdigest()
                for f in sorted(os.listdir(d))}

    with tempfile.TemporaryDirectory() as d1, tempfile.TemporaryDirectory() as d2:
        sampler.write_fixtures(d1)
        sampler.write_fixtures(d2)
        a, b = digest(d1), digest(d2)
        assert a == b, "two runs differ"
        fx = os.path.join(HERE, "..", "..", "tests", "fixtures", "wan", "sampler")
        have = digest(fx) if os.path.isdir(fx) else {}
        stale = [f for f in a if have.get(f) != a[f]]
        assert not stale, "tests/fixtures/wan/sampler out of date (make fixtures): %s" % stale


TESTS = [
    wan_schedules_have_the_published_values,
    every_sampler_lands_on_a_point_mass_in_one_step,
    solvers_converge_with_their_order,
    unipc_beats_dpmpp_2m_and_euler,
    unipc_last_step_is_the_data_prediction,
    wan_sampler_fixtures_are_deterministic_and_up_to_date,
]


if __name__ == "__main__":
    import testing  # train/testing.py: one runner for every Python test
    sys.exit(testing.run(TESTS))
