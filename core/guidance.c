/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * guidance.c - classifier-free guidance over one latent window
 * (docs/model-format.md, section 8): the sampler's model call is the
 * family's velocity of the prompt and the negative prompt, combined as
 * v_neg + cfg (v_pos - v_neg); cfg = 1 asks for the prompt alone. Not
 * here: the solvers (sampler.c), the model (core/<family>/), chunking
 * (generator.c).
 */
#include "guidance.h"

#include "common.h"
#include "sampler.h"

typedef struct window_ctx {
    const st2v_model *m;
    st2v_pool *pool;
    const st2v_window_job *job;
    float *v_neg;              /* (Cz, T, Hl, Wl) unconditional velocity */
} window_ctx;

static int is_cancelled(atomic_int *flag)
{
    return flag && atomic_load(flag) != 0;
}

static int window_velocity(void *ctx, float *v, const float *x,
                           const float *tt)
{
    window_ctx *w = ctx;
    const st2v_window_job *j = w->job;
    const int guided = j->guidance != 1.0f;
    if (is_cancelled(j->cancel))
        return ST2V_ERR_CANCELLED;
    st2v_velocity_call call = {
        .T = j->T, .Hl = j->Hl, .Wl = j->Wl, .x = x, .t = tt,
        .n = guided ? 2 : 1,
        .cond = {j->pos, j->neg},
        .v = {v, w->v_neg},
        .cancel = j->cancel,
    };
    int rc = w->m->arch->velocity(w->m->impl, w->pool, &call);
    if (rc != 0 || !guided)
        return rc;
    const int64_t n = (int64_t)w->m->caps.latent_channels * j->T * j->Hl *
                      j->Wl;
    const float cfg = j->guidance;
    const float *vn = w->v_neg;
    for (int64_t k = 0; k < n; k++)
        v[k] = vn[k] + cfg * (v[k] - vn[k]);
    return 0;
}

static int window_on_step(void *ctx, int step, int steps)
{
    window_ctx *w = ctx;
    const st2v_window_job *j = w->job;
    if (j->on_step && j->on_step(j->user, step, steps) != 0)
        return 1;
    return is_cancelled(j->cancel);
}

int st2v_sample_window(const st2v_model *m, st2v_pool *pool,
                       const st2v_window_job *job, float *x)
{
    const st2v_arch_caps *caps = &m->caps;
    if (!job->pos || (job->guidance != 1.0f && !job->neg))
        return ST2V_ERR_INVALID_ARG;
    window_ctx w = {m, pool, job, NULL};
    if (job->guidance != 1.0f) {
        w.v_neg = st2v_alloc_floats((size_t)caps->latent_channels * job->T *
                                    job->Hl * job->Wl);
        if (!w.v_neg)
            return ST2V_ERR_NOMEM;
    }
    st2v_sample_job sj = {
        .sampler = job->sampler,
        .schedule = caps->schedule,
        .steps = job->steps,
        .shift = job->shift,
        .Cz = caps->latent_channels,
        .T = job->T,
        .Hl = job->Hl,
        .Wl = job->Wl,
        .pt = caps->temporal_patch,
        .n_context = job->n_context,
        .velocity = window_velocity,
        .ctx = &w,
        .on_step = window_on_step,
    };
    int rc = st2v_sample(&sj, x);
    st2v_free(w.v_neg);
    return rc;
}
