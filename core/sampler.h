/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * sampler.h - rectified-flow samplers (docs/model-format.md, section 8;
 * docs/wan.md, "Sampling"): Euler, Heun, DPM-Solver++(2M) and UniPC-bh2
 * over a shifted schedule of the family's kind, with clean context frames
 * held fixed. The model call, guidance included, is a callback, so the
 * samplers know nothing of the DiT.
 */
#ifndef ST2V_SAMPLER_H
#define ST2V_SAMPLER_H

#include <stdint.h>

#include "st2v.h"

/* Model calls of one window for a sampler (not DEFAULT) and step count:
 * Heun needs 2 steps - 1, the others one per step. */
int st2v_sampler_calls(st2v_sampler s, int steps);

/* The schedules a family samples over (st2v_arch_caps.schedule). Both
 * shift a time s in [0, 1] to shift s / (1 + (shift - 1) s). */
typedef enum st2v_schedule_kind {
    /* The world model's, for every sampler: t from 1 to 0 (st2v_schedule);
     * the model is given t itself. */
    ST2V_SCHEDULE_WORLD = 0,
    /* Wan2.1's (st2v_schedule_wan): the official fm_solvers_unipc.py for
     * UniPC, fm_solvers.py for the others. The model is given the DiT's
     * integer timestep / 1000: lrintf(1000 t) gives it back exactly. */
    ST2V_SCHEDULE_WAN,
} st2v_schedule_kind;

/* t (steps + 1): the shifted schedule from 1 down to 0. */
void st2v_schedule(float *t, int steps, float shift);

/* Wan2.1's lists for sampler s: sigma (steps + 1), float32 as the official
 * schedulers keep them, ending in 0, and ts (steps), the DiT's timesteps:
 * the int64-truncated 1000 sigma of the float64 sigma. UniPC: sigma =
 * linspace(float32(0.999), 0, steps + 1)[:steps], shifted; the others:
 * linspace(1, 0, steps + 1)[:steps], shifted. */
void st2v_schedule_wan(float *sigma, int32_t *ts, int steps, float shift,
                       st2v_sampler s);

/* What a job samples over: sigma (steps + 1), the solver's times, and tm
 * (steps + 1), the time the model is given at each. Returns 0 or
 * ST2V_ERR_INVALID_ARG for an unknown kind or sampler. */
int st2v_sample_schedule(st2v_schedule_kind kind, st2v_sampler s, int steps,
                         float shift, float *sigma, float *tm);

/* v (n) = velocity at x (n) with per-temporal-patch model times tt (n_tp):
 * 0 for context patches, the schedule's tm (st2v_sample_schedule) for the
 * others. Returns 0 or a negative status (which stops the sampler). */
typedef int (*st2v_velocity_fn)(void *ctx, float *v, const float *x,
                                const float *tt);

/* A latent window: x (Cz, T, Hl, Wl) holding clean context in its first
 * n_context frames and noise in the rest. */
typedef struct st2v_sample_job {
    st2v_sampler sampler;          /* EULER, HEUN, DPMPP_2M or UNIPC */
    st2v_schedule_kind schedule;   /* 0: the world model's */
    int steps;
    float shift;
    int Cz, T, Hl, Wl;
    int pt;                        /* temporal patch: timesteps are per T/pt */
    int n_context;                 /* clean leading latent frames (multiple of pt) */
    st2v_velocity_fn velocity;
    void *ctx;
    /* called after each step with (step done, steps); may be NULL.
     * A non-zero return cancels with ST2V_ERR_CANCELLED. */
    int (*on_step)(void *ctx, int step, int steps);
} st2v_sample_job;

/* Sample in place. Returns 0 or a negative status. */
int st2v_sample(const st2v_sample_job *job, float *x);

#endif /* ST2V_SAMPLER_H */
