/*
 * sampler.h - rectified-flow samplers (docs/model-format.md, section 8):
 * Euler, Heun and DPM-Solver++(2M) over a shifted schedule, with clean
 * context frames held fixed. The model call, guidance included, is a
 * callback, so the samplers know nothing of the DiT.
 */
#ifndef ST2V_SAMPLER_H
#define ST2V_SAMPLER_H

#include <stdint.h>

#include "st2v.h"

/* Model calls of one window for a sampler (not DEFAULT) and step count:
 * Heun needs 2 steps - 1, the others one per step. */
int st2v_sampler_calls(st2v_sampler s, int steps);

/* t (steps + 1): the shifted schedule from 1 down to 0. */
void st2v_schedule(float *t, int steps, float shift);

/* v (n) = velocity at x (n) with per-temporal-patch timesteps tt (n_tp).
 * Returns 0 or a negative status (which stops the sampler). */
typedef int (*st2v_velocity_fn)(void *ctx, float *v, const float *x,
                                const float *tt);

/* A latent window: x (Cz, T, Hl, Wl) holding clean context in its first
 * n_context frames and noise in the rest. */
typedef struct st2v_sample_job {
    st2v_sampler sampler;          /* EULER, HEUN or DPMPP_2M */
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
