/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * guidance.h - the model call of the samplers: classifier-free guidance
 * over one latent window, v = v_neg + cfg (v_pos - v_neg), with the pair of
 * velocities asked of the model's family in one batched call (core/arch.h),
 * and cancellation between steps. Not part of the public API.
 */
#ifndef ST2V_GUIDANCE_H
#define ST2V_GUIDANCE_H

#include <stdatomic.h>

#include "arch.h"
#include "pool.h"
#include "st2v.h"

/* One latent window to sample. */
typedef struct st2v_window_job {
    st2v_sampler sampler;      /* EULER, HEUN, DPMPP_2M or UNIPC; the
                                  schedule is the model's (caps.schedule) */
    int steps;
    float guidance;            /* the scale; 1 = conditional pass only */
    float shift;
    int T, Hl, Wl;             /* window: (Cz, T, Hl, Wl), T % pt == 0 */
    int n_context;             /* clean leading frames, multiple of pt */
    const void *pos;           /* the prompt (the family's encode_text) */
    const void *neg;           /* the negative prompt; unused when guidance == 1 */
    atomic_int *cancel;        /* checked before every model call; may be NULL */
    /* after each step; a non-zero return cancels. May be NULL. */
    int (*on_step)(void *user, int step, int steps);
    void *user;
} st2v_window_job;

/* Sample x (Cz, T, Hl, Wl), normalised latent with clean context in its
 * first n_context frames and noise in the rest, in place from t = 1 to 0.
 * RoPE positions are relative to the window (t0 = 0). */
int st2v_sample_window(const st2v_model *m, st2v_pool *pool,
                       const st2v_window_job *job, float *x);

#endif /* ST2V_GUIDANCE_H */
