# SPDX-License-Identifier: LGPL-2.1-or-later
"""Rectified-flow sampling (docs/model-format.md, section 8) for one sample:
shifted schedule, classifier-free guidance, clean context frames, and the
Euler, Heun and DPM-Solver++(2M) samplers. Schedule and solver coefficients
are computed in Python floats (double)."""

import math

import torch

from . import rng


def schedule(steps, shift):
    """t_0 = 1 .. t_N = 0, shifted."""
    ts = []
    for i in range(steps + 1):
        u = 1.0 - i / steps
        ts.append(shift * u / (1.0 + (shift - 1.0) * u))
    return ts


class Velocity:
    """v(x, t) for one latent window x (Cz, T, Hl, Wl) (normalised), with
    guidance and context frames held at t = 0."""

    def __init__(self, model, cond, neg, cfg, n_context, t0=0):
        self.model, self.cond, self.neg = model, cond, neg
        self.cfg, self.n_context, self.t0 = cfg, n_context, t0
        self.pt = model.dit.patch[0]
        self.calls = 0

    def __call__(self, x, t):
        Tp = x.shape[1] // self.pt
        tt = torch.full((1, Tp), t, dtype=x.dtype)
        tt[:, :self.n_context // self.pt] = 0.0
        dit = self.model.dit
        v = dit(x[None], tt, self.cond[None], None, self.t0)[0]
        self.calls += 1
        if self.cfg != 1.0:
            vn = dit(x[None], tt, self.neg[None], None, self.t0)[0]
            v = vn + self.cfg * (v - vn)
        return v


def sample(vel, x, sampler, steps, shift):
    """x (Cz, T, Hl, Wl): context in the first vel.n_context frames, noise after."""
    nc = vel.n_context
    x = x.clone()
    ts = schedule(steps, shift)
    x0_prev, h_prev = None, None
    for i in range(steps):
        ti, tn = ts[i], ts[i + 1]
        dt = tn - ti
        v = vel(x, ti)
        xs = x[:, nc:]
        vs = v[:, nc:]
        if sampler == "euler":
            new = xs + dt * vs
        elif sampler == "heun":
            new = xs + dt * vs
            if tn > 0:
                xp = x.clone()
                xp[:, nc:] = new
                v2 = vel(xp, tn)[:, nc:]
                new = xs + dt * (vs + v2) / 2
        elif sampler in ("dpm++2m", "dpmpp_2m"):
            x0 = xs - ti * vs
            lam = lambda t: math.log((1.0 - t) / t) if 0.0 < t < 1.0 else (
                float("-inf") if t >= 1.0 else float("inf"))
            h = lam(tn) - lam(ti)
            if tn == 0:
                new = x0
            else:
                ratio = tn / ti
                coef = (1.0 - tn) * (math.exp(-h) - 1.0)   # alpha_{i+1} (e^-h - 1)
                if i == 0 or h_prev is None or not math.isfinite(h_prev):
                    D = x0
                else:
                    r = h_prev / h
                    D = (1 + 1 / (2 * r)) * x0 - (1 / (2 * r)) * x0_prev
                new = ratio * xs - coef * D
            x0_prev, h_prev = x0, h
        else:
            raise ValueError("unknown sampler " + sampler)
        x[:, nc:] = new
    return x


def start_latent(Cz, T, Hl, Wl, n_context, seed, stream, context=None, dtype=torch.float32):
    """The start of a window: clean context (Cz, n_context, Hl, Wl) then the
    Philox noise of (seed, stream) filling the new frames in (Cz, T-nc, Hl, Wl) order."""
    x = torch.zeros(Cz, T, Hl, Wl, dtype=dtype)
    n = Cz * (T - n_context) * Hl * Wl
    noise = torch.from_numpy(rng.normals(n, seed, stream)).reshape(Cz, T - n_context, Hl, Wl)
    x[:, n_context:] = noise.to(dtype)
    if n_context:
        x[:, :n_context] = context.to(dtype)
    return x
