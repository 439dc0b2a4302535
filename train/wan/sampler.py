#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Wan2.1's sampling schedules and samplers, a float64 numpy reference for
core/sampler.c (docs/wan.md, "Sampling"), written from the mathematics of
flow matching and of the two solver papers, and cross-checked against the
official wan/utils/fm_solvers_unipc.py and fm_solvers.py (numbers in
docs/wan.md).

Flow matching: x_s = (1 - s) x0 + s e; the model predicts v = e - x0 at
model time 1000 s; the data prediction is x0 = x - s v. A "schedule" is
sigmas (N + 1), float32 values ending in 0 (the solvers step between
them), and the model times (N + 1): what each model call is given.

  unipc_schedule  Wan's UniPC (the official default): s = linspace(
                  float32(0.999), 0, N + 1)[:N], shifted by
                  shift s / (1 + (shift - 1) s), then 0. The DiT gets the
                  int64-truncated 1000 s of the float64 s; the solver uses
                  float32(s).
  fm_schedule     Wan's flow DPM++ (fm_solvers.get_sampling_sigmas):
                  s = linspace(1, 0, N + 1)[:N], shifted, then 0; the same
                  truncation. Euler and Heun use it too (not official
                  samplers of Wan).
  world_schedule  the world model's (core/sampler.c st2v_schedule): float32
                  t from 1 to 0, shifted; the model gets t itself.

Samplers, each sample(model, x, sched) -> list of the N + 1 states, where
model(x, t_model, i) returns v for call i at model time t_model (0..1):

  euler      x <- x + (s_{i+1} - s_i) v
  heun       Euler, then the trapezoid with v at s_{i+1} (not at s = 0)
  dpmpp_2m   DPM-Solver++(2M), midpoint form, first order at the first
             step, where the previous lambda is infinite, and at the last
  unipc      UniPC, B(h) = e^{-h} - 1 (bh2), order 2, on the data
             prediction, the UniC corrector before every step but the
             first, the last step of order 1 (lower_order_final)

    /usr/bin/python3 train/wan/sampler.py     # prints a few schedules
"""

import json
import math
import os

import numpy as np

# The official UniPC scheduler is built with num_train_timesteps = 1000 and
# shift 1: its first training sigma, float32(1 - 1/1000), is the top of the
# sampling linspace; its last is 0.
UNIPC_SIGMA_MAX = float(np.float32(0.999))
NUM_TRAIN_TIMESTEPS = 1000


# ------------------------------------------------------------- schedules

def shifted(s, shift):
    """The time shift, in float64 as numpy evaluates it."""
    return shift * s / (1 + (shift - 1) * s)


def _wan(s, shift):
    """Shifted float64 sigmas (N) -> (sigma float32 (N + 1), model times
    (N + 1), timesteps int64 (N))."""
    s = shifted(np.asarray(s, dtype=np.float64), float(shift))
    ts = (s * NUM_TRAIN_TIMESTEPS).astype(np.int64)
    sig = np.concatenate([s, [0.0]]).astype(np.float32).astype(np.float64)
    tm = np.concatenate([ts, [0]]).astype(np.float64) / NUM_TRAIN_TIMESTEPS
    return sig, tm, ts


def unipc_schedule(steps, shift):
    return _wan(np.linspace(UNIPC_SIGMA_MAX, 0.0, steps + 1)[:-1], shift)


def fm_schedule(steps, shift):
    return _wan(np.linspace(1.0, 0.0, steps + 1)[:steps], shift)


def world_schedule(steps, shift):
    t = np.zeros(steps + 1, dtype=np.float32)
    for i in range(steps + 1):
        u = 1.0 - i / steps
        t[i] = np.float32(shift * u / (1.0 + (shift - 1.0) * u))
    t[0], t[steps] = 1.0, 0.0
    t = t.astype(np.float64)
    return t, t.copy(), None


def schedule(kind, sampler, steps, shift):
    """The schedule a sampler uses under a schedule kind ("wan", "world")."""
    if kind == "world":
        return world_schedule(steps, shift)
    if sampler == "unipc":
        return unipc_schedule(steps, shift)
    return fm_schedule(steps, shift)


# ---------------------------------------------------------------- helpers

def lam(s):
    """lambda = log(alpha / sigma), alpha = 1 - s: -inf at s = 1, inf at 0."""
    if s <= 0.0:
        return math.inf
    if s >= 1.0:
        return -math.inf
    return math.log((1.0 - s) / s)


# ---------------------------------------------------------------- samplers

def euler(model, x, sched):
    sig, tm, _ = sched
    xs = [x.copy()]
    for i in range(len(sig) - 1):
        x = x + (sig[i + 1] - sig[i]) * model(x, tm[i], i)
        xs.append(x.copy())
    return xs


def heun(model, x, sched):
    sig, tm, _ = sched
    xs, calls = [x.copy()], 0
    for i in range(len(sig) - 1):
        dt = sig[i + 1] - sig[i]
        v = model(x, tm[i], calls)
        calls += 1
        if sig[i + 1] > 0:
            v2 = model(x + dt * v, tm[i + 1], calls)
            calls += 1
            x = x + dt * (v + v2) / 2
        else:
            x = x + dt * v
        xs.append(x.copy())
    return xs


def dpm_step(x, m0, m1, s_prev, s0, t):
    """One DPM-Solver++(2M) step from s0 to t on the data predictions m0
    (at s0) and m1 (at s_prev; None: first order). Midpoint form:
    x_t = (t / s0) x - alpha_t (e^{-h} - 1) (m0 + (m0 - m1) / (2 r))."""
    h = lam(t) - lam(s0)
    a = t / s0
    b = (1.0 - t) * math.expm1(-h)
    if m1 is None or t <= 0.0:
        return a * x - b * m0
    h0 = lam(s0) - lam(s_prev)
    if not math.isfinite(h0):            # s_prev = 1: D1 = 0
        return a * x - b * m0
    r = h0 / h
    return a * x - b * (m0 + (m0 - m1) / (2 * r))


def dpmpp_2m(model, x, sched):
    sig, tm, _ = sched
    n = len(sig) - 1
    xs, m_prev = [x.copy()], None
    for i in range(n):
        m = x - sig[i] * model(x, tm[i], i)
        first = i == 0 or i == n - 1         # warm-up, lower_order_final
        x = dpm_step(x, m, None if first else m_prev,
                     sig[i - 1] if i else None, sig[i], sig[i + 1])
        m_prev = m
        xs.append(x.copy())
    return xs


def unip(x, m0, m1, s_prev, s0, t):
    """UniP-bh2 from s0 to t: order 2 when m1 (at s_prev) is given, with
    rho_p = 1/2 as for bh2 at order 2."""
    h = lam(t) - lam(s0)
    phi1 = math.expm1(-h)                 # h phi_1 at hh = -h; also B(h)
    x_t = (t / s0) * x - (1.0 - t) * phi1 * m0
    if m1 is None:
        return x_t
    rk = (lam(s_prev) - lam(s0)) / h
    if not math.isfinite(rk):             # s_prev = 1: D1 = 0
        return x_t
    d1 = (m1 - m0) / rk
    return x_t - (1.0 - t) * phi1 * 0.5 * d1


def unic(x_last, m_new, m0, m1, s_prev, s0, t):
    """UniC-bh2: correct the step from s0 (x_last, data prediction m0) to
    t, given the data prediction m_new at the predicted point and, at order
    2, m1 at s_prev. rho solves [[1, 1], [rk, 1]] rho = (b1, b2) with
    b_k = k! phi_k(hh) / B(h), hh = -h."""
    h = lam(t) - lam(s0)
    hh = -h
    phi1 = math.expm1(hh)
    bh = phi1
    phik1 = phi1 / hh - 1.0
    phik2 = phik1 / hh - 0.5
    b1 = phik1 / bh
    b2 = 2.0 * phik2 / bh
    x_t = (t / s0) * x_last - (1.0 - t) * phi1 * m0
    if m1 is None:
        return x_t - (1.0 - t) * bh * 0.5 * (m_new - m0)
    rk = (lam(s_prev) - lam(s0)) / h
    if not math.isfinite(rk):             # s_prev = 1: rho = (0, b1)
        return x_t - (1.0 - t) * bh * b1 * (m_new - m0)
    rho0 = (b1 - b2) / (1.0 - rk)
    rho1 = b1 - rho0
    d1 = (m1 - m0) / rk
    return x_t - (1.0 - t) * bh * (rho0 * d1 + rho1 * (m_new - m0))


def unipc(model, x, sched, stop=None):
    """The states of UniPC over sched; with stop, of its first stop steps
    only."""
    sig, tm, _ = sched
    n = len(sig) - 1
    xs = [x.copy()]
    m1 = m2 = None          # data predictions of the last two steps
    x_last, order = None, 0
    for i in range(n if stop is None else stop):
        m = x - sig[i] * model(x, tm[i], i)
        if i > 0:
            x = unic(x_last, m, m1, m2 if order == 2 else None,
                     sig[i - 2] if order == 2 else None, sig[i - 1], sig[i])
        order = min(2, n - i, i + 1)
        x_last = x
        x = unip(x, m, m1 if order == 2 else None,
                 sig[i - 1] if order == 2 else None, sig[i], sig[i + 1])
        m2, m1 = m1, m
        xs.append(x.copy())
    return xs


SAMPLERS = {"euler": euler, "heun": heun, "dpm++2m": dpmpp_2m,
            "unipc": unipc}


def sample(name, model, x, kind, steps, shift):
    return SAMPLERS[name](model, x, schedule(kind, name, steps, shift))


# -------------------------------------------------------- fixed models

def fake_model(c):
    """A fixed affine velocity field: v = 0.5 x - 0.8 t + c (t the model
    time), the same in tests/test_wan_sampler.c."""
    return lambda x, t, i: 0.5 * x - 0.8 * t + c


def fixed_outputs(vs):
    """A model that returns vs[i] at call i whatever x and t."""
    return lambda x, t, i: vs[i]


# ---------------------------------------------------------------- fixtures

SCHEDULE_CASES = [(1, 5.0), (2, 1.0), (3, 8.0), (10, 5.0), (20, 3.0),
                  (30, 12.0), (50, 5.0)]
SHAPE = (2, 3, 4, 5)              # (Cz, T, Hl, Wl) of the fixture window
TRAJ_STEPS, TRAJ_SHIFT = 10, 5.0
SEED = 2201


def write_fixtures(out):
    """tests/fixtures/wan/sampler/golden.safetensors (all F32):
      sched.<unipc|fm>.<N>_<shift>.sigma (N + 1) and .timestep (N)
      unipc3.<N>.x (1 + 3, Cz, T, Hl, Wl): the start and the states after
          three UniPC updates (shift 5) on the fixed model outputs
      unipc3.<N>.v (3, Cz, T, Hl, Wl)
      traj.<sampler>.<wan|world>.x (TRAJ_STEPS + 1, Cz, T, Hl, Wl): the
          states of 10 steps at shift 5 with fake_model(traj.c)
      traj.c (Cz, T, Hl, Wl)"""
    from st2v import safetensors_io
    import torch
    os.makedirs(out, exist_ok=True)
    g = np.random.default_rng(SEED)
    f32 = lambda a: torch.from_numpy(np.asarray(a, dtype=np.float32))  # noqa: E731
    gold = {}
    for steps, shift in SCHEDULE_CASES:
        for kind, fn in (("unipc", unipc_schedule), ("fm", fm_schedule)):
            sig, _, ts = fn(steps, shift)
            key = "sched.%s.%d_%g" % (kind, steps, shift)
            gold[key + ".sigma"] = f32(sig)
            gold[key + ".timestep"] = f32(ts)
    for steps in (3, 10):
        x = r32(g.standard_normal(SHAPE))
        vs = [r32(g.standard_normal(SHAPE)) for _ in range(3)]
        xs = unipc(fixed_outputs(vs), x, unipc_schedule(steps, 5.0), 3)
        gold["unipc3.%d.x" % steps] = f32(np.stack(xs))
        gold["unipc3.%d.v" % steps] = f32(np.stack(vs))
    c = r32(g.standard_normal(SHAPE))
    x = r32(g.standard_normal(SHAPE))
    gold["traj.c"] = f32(c)
    gold["traj.x0"] = f32(x)
    for kind in ("wan", "world"):
        for name in SAMPLERS:
            xs = sample(name, fake_model(c), x, kind, TRAJ_STEPS,
                        TRAJ_SHIFT)
            gold["traj.%s.%s.x" % (name, kind)] = f32(np.stack(xs))
    meta = {"generator": "train/wan/sampler.py",
            "precision": "float64 from float32 inputs, stored as F32",
            "shape": json.dumps(list(SHAPE))}
    safetensors_io.save(os.path.join(out, "golden.safetensors"), gold, meta)


def r32(a):
    """a rounded to float32, kept in float64: the inputs as stored."""
    return np.asarray(a, dtype=np.float32).astype(np.float64)


if __name__ == "__main__":
    for steps, shift in ((10, 5.0), (4, 1.0)):
        for name, fn in (("unipc", unipc_schedule), ("fm", fm_schedule)):
            sig, tm, ts = fn(steps, shift)
            print(name, steps, shift, "timesteps", ts.tolist())
            print("   sigmas", [round(float(s), 6) for s in sig])
