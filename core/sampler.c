/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * sampler.c - rectified-flow sampling (docs/model-format.md, section 8;
 * docs/wan.md, "Sampling"): the shifted schedules of the world model and
 * of Wan2.1, and the Euler, Heun, DPM-Solver++(2M) and UniPC-bh2 steps.
 *
 * The model (DiT plus guidance) is a callback; this file only moves a
 * latent window from t = 1 to t = 0. Leading context frames are clean: they
 * get timestep 0 in every model call and are never written. Not here: noise
 * (rng.c), chunking and decoding (generator.c).
 */
#include "sampler.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"

/* ------------------------------------------------------- the names */

/* The one table of sampler names (st2v.h's ST2V_SAMPLERS): parsing,
 * printing and messages all read it. */
static const struct {
    const char *name;
    st2v_sampler s;
} sampler_names[] = {
    {"default", ST2V_SAMPLER_DEFAULT},
#define ST2V_NAME_ROW_(id, name, desc) {name, ST2V_SAMPLER_##id},
    ST2V_SAMPLERS(ST2V_NAME_ROW_)
    ST2V_SAMPLER_ALIASES(ST2V_NAME_ROW_)
#undef ST2V_NAME_ROW_
};

int st2v_sampler_from_name(const char *name, st2v_sampler *out)
{
    if (!name || !out)
        return ST2V_ERR_INVALID_ARG;
    for (size_t i = 0; i < ST2V_ARRAY_SIZE(sampler_names); i++) {
        if (strcmp(name, sampler_names[i].name) == 0) {
            *out = sampler_names[i].s;
            return 0;
        }
    }
    return ST2V_ERR_INVALID_ARG;
}

const char *st2v_sampler_name(st2v_sampler s)
{
    for (size_t i = 0; i < ST2V_ARRAY_SIZE(sampler_names); i++)
        if (sampler_names[i].s == s)
            return sampler_names[i].name;
    return "unknown";
}

/* "euler, heun or dpm++2m", made once from ST2V_SAMPLERS */
#define ST2V_LIST_ITEM_(id, name, desc) ", " name
static const char sampler_list[] = ST2V_SAMPLERS(ST2V_LIST_ITEM_);
#undef ST2V_LIST_ITEM_
static char sampler_text[sizeof(sampler_list) + 2];
static pthread_once_t sampler_text_once = PTHREAD_ONCE_INIT;

static void make_sampler_text(void)
{
    /* drop the leading ", ", and the last ", " becomes " or " */
    const char *last = strrchr(sampler_list, ',');
    size_t head = (size_t)(last - sampler_list) - 2;
    memcpy(sampler_text, sampler_list + 2, head);
    snprintf(sampler_text + head, sizeof(sampler_text) - head, " or%s",
             last + 1);
}

const char *st2v_sampler_names(void)
{
    pthread_once(&sampler_text_once, make_sampler_text);
    return sampler_text;
}

int st2v_sampler_calls(st2v_sampler s, int steps)
{
    return s == ST2V_SAMPLER_HEUN ? 2 * steps - 1 : steps;
}

void st2v_schedule(float *t, int steps, float shift)
{
    for (int i = 0; i <= steps; i++) {
        double u = 1.0 - (double)i / (double)steps;
        double s = (double)shift;
        t[i] = (float)(s * u / (1.0 + (s - 1.0) * u));
    }
    t[0] = 1.0f;
    t[steps] = 0.0f;
}

/* Wan2.1's sigma of step i of n from the top s0, shifted, in float64 as
 * numpy computes linspace(s0, 0, n + 1)[i] and the shift. */
static double wan_sigma(double s0, int i, int n, double shift)
{
    double step = (0.0 - s0) / (double)n;
    double s = (double)i * step + s0;
    return shift * s / (1.0 + (shift - 1.0) * s);
}

/* The top of sampler s's linspace: UniPC's is its training schedule's
 * first sigma, float32(1 - 1/1000); fm_solvers.py's is 1. */
static double wan_top(st2v_sampler s)
{
    return s == ST2V_SAMPLER_UNIPC ? (double)0.999f : 1.0;
}

/* The DiT's timestep of sigma si: 1000 si truncated, as int64 casts. */
static int32_t wan_timestep(double si)
{
    return (int32_t)(si * 1000.0);
}

void st2v_schedule_wan(float *sigma, int32_t *ts, int steps, float shift,
                       st2v_sampler s)
{
    for (int i = 0; i < steps; i++) {
        double si = wan_sigma(wan_top(s), i, steps, (double)shift);
        sigma[i] = (float)si;
        ts[i] = wan_timestep(si);
    }
    sigma[steps] = 0.0f;
}

int st2v_sample_schedule(st2v_schedule_kind kind, st2v_sampler s, int steps,
                         float shift, float *sigma, float *tm)
{
    if (steps < 1 || (int)s <= ST2V_SAMPLER_DEFAULT ||
        (int)s > ST2V_SAMPLER_LAST)
        return ST2V_ERR_INVALID_ARG;
    switch (kind) {
    case ST2V_SCHEDULE_WORLD:
        st2v_schedule(sigma, steps, shift);
        memcpy(tm, sigma, ((size_t)steps + 1) * sizeof(float));
        return 0;
    case ST2V_SCHEDULE_WAN:
        for (int i = 0; i < steps; i++) {
            double si = wan_sigma(wan_top(s), i, steps, (double)shift);
            sigma[i] = (float)si;
            tm[i] = (float)((double)wan_timestep(si) / 1000.0);
        }
        sigma[steps] = tm[steps] = 0.0f;
        return 0;
    }
    return ST2V_ERR_INVALID_ARG;
}

/* ------------------------------------------------------------ helpers */

typedef struct sampler_state {
    const st2v_sample_job *job;
    int64_t n;                 /* elements of the window: Cz*T*Hl*Wl */
    int64_t frame;             /* elements of one frame: Hl*Wl */
    int n_tp;                  /* temporal patches: T/pt */
    float *tt;                 /* (n_tp) per-patch timesteps of a call */
} sampler_state;

/* Call the model at time t: context patches get 0, the others t. */
static int velocity_at(sampler_state *st, float *v, const float *x, float t)
{
    const st2v_sample_job *job = st->job;
    int ctx_tp = job->n_context / job->pt;
    for (int i = 0; i < st->n_tp; i++)
        st->tt[i] = i < ctx_tp ? 0.0f : t;
    return job->velocity(job->ctx, v, x, st->tt);
}

/* Visit the non-context part of the window: per channel, a contiguous run
 * of frames [n_context, T). */
#define FOR_GENERATED(st, idx, body)                                         \
    do {                                                                     \
        const st2v_sample_job *j_ = (st)->job;                               \
        int64_t run_ = (int64_t)(j_->T - j_->n_context) * (st)->frame;       \
        for (int c_ = 0; c_ < j_->Cz; c_++) {                                \
            int64_t base_ = ((int64_t)c_ * j_->T + j_->n_context) *          \
                            (st)->frame;                                     \
            for (int64_t idx = base_; idx < base_ + run_; idx++) {           \
                body;                                                        \
            }                                                                \
        }                                                                    \
    } while (0)

static int after_step(const st2v_sample_job *job, int step)
{
    if (job->on_step && job->on_step(job->ctx, step, job->steps) != 0)
        return ST2V_ERR_CANCELLED;
    return 0;
}

/* ------------------------------------------------------------ samplers */

/* Every sampler below steps x over the solver's times t (steps + 1) and
 * calls the model at the model times tm (steps + 1) of the same steps. */

static int sample_euler(sampler_state *st, const float *t, const float *tm,
                        float *x, float *v)
{
    const st2v_sample_job *job = st->job;
    for (int i = 0; i < job->steps; i++) {
        int rc = velocity_at(st, v, x, tm[i]);
        if (rc < 0)
            return rc;
        float dt = t[i + 1] - t[i];
        FOR_GENERATED(st, k, x[k] = x[k] + dt * v[k]);
        if ((rc = after_step(job, i + 1)) < 0)
            return rc;
    }
    return 0;
}

static int sample_heun(sampler_state *st, const float *t, const float *tm,
                       float *x, float *v, float *xp, float *v2)
{
    const st2v_sample_job *job = st->job;
    /* The context frames of x' stay those of x. */
    for (int64_t k = 0; k < st->n; k++)
        xp[k] = x[k];
    for (int i = 0; i < job->steps; i++) {
        int rc = velocity_at(st, v, x, tm[i]);
        if (rc < 0)
            return rc;
        float dt = t[i + 1] - t[i];
        if (t[i + 1] > 0.0f) {
            FOR_GENERATED(st, k, xp[k] = x[k] + dt * v[k]);
            if ((rc = velocity_at(st, v2, xp, tm[i + 1])) < 0)
                return rc;
            FOR_GENERATED(st, k, x[k] = x[k] + dt * ((v[k] + v2[k]) * 0.5f));
        } else {
            FOR_GENERATED(st, k, x[k] = x[k] + dt * v[k]);
        }
        if ((rc = after_step(job, i + 1)) < 0)
            return rc;
    }
    return 0;
}

/* lambda = ln(alpha / sigma) with alpha = 1 - t, sigma = t. */
static double dpm_lambda(double t)
{
    if (t <= 0.0)
        return INFINITY;
    if (t >= 1.0)
        return -INFINITY;
    return log((1.0 - t) / t);
}

static int sample_dpmpp_2m(sampler_state *st, const float *t,
                           const float *tm, float *x, float *v,
                           float *x0_prev)
{
    const st2v_sample_job *job = st->job;
    double h_prev = INFINITY;
    for (int i = 0; i < job->steps; i++) {
        int rc = velocity_at(st, v, x, tm[i]);
        if (rc < 0)
            return rc;
        double ti = t[i], tn = t[i + 1];
        double h = dpm_lambda(tn) - dpm_lambda(ti);
        /* x <- a x - b D, with a = sigma_{i+1} / sigma_i and
         * b = alpha_{i+1} (e^{-h} - 1), written out at the ends of the
         * schedule where lambda is infinite. */
        double a, b;
        if (tn <= 0.0) {
            a = 0.0;
            b = -1.0;
        } else if (ti >= 1.0) {
            a = tn;
            b = -(1.0 - tn);
        } else {
            a = tn / ti;
            b = (1.0 - tn) * expm1(-h);
        }
        const float fa = (float)a, fb = (float)b, fti = t[i];
        int first_order = i == 0 || tn <= 0.0 || !isfinite(h_prev);
        if (first_order) {
            FOR_GENERATED(st, k, {
                float x0 = x[k] - fti * v[k];
                x0_prev[k] = x0;
                x[k] = fa * x[k] - fb * x0;
            });
        } else {
            double r = h_prev / h;
            const float c1 = (float)(1.0 + 1.0 / (2.0 * r));
            const float c0 = (float)(1.0 / (2.0 * r));
            FOR_GENERATED(st, k, {
                float x0 = x[k] - fti * v[k];
                float d = c1 * x0 - c0 * x0_prev[k];
                x0_prev[k] = x0;
                x[k] = fa * x[k] - fb * d;
            });
        }
        h_prev = h;
        if ((rc = after_step(job, i + 1)) < 0)
            return rc;
    }
    return 0;
}

/* UniPC-bh2 (Zhao et al. 2023) on the data prediction D = x - t v, as
 * Wan2.1's fm_solvers_unipc.py runs it: order 2 (order 1 at the first and
 * the last step), B(h) = e^{-h} - 1, and the UniC corrector of step i - 1
 * before step i (i > 0) from the model output at the predicted point. One
 * update from s0 to t, with h = lambda(t) - lambda(s0):
 *
 *   x <- a x + b D0 + c (D1 - D0) + d (Dn - D0)
 *
 * a = t / s0, b = -alpha_t (e^{-h} - 1) (the first-order step), D1 the
 * data prediction one step before D0, Dn (corrector only) the one at t. */
typedef struct unipc_coefs {
    float a, b, c, d;
} unipc_coefs;

/* rk = (lambda(s_prev) - lambda(s0)) / h, or 0 when s_prev is the schedule's
 * t = 1 (lambda = -inf): its D1 term vanishes. */
static double unipc_rk(double s_prev, double s0, double h)
{
    double rk = (dpm_lambda(s_prev) - dpm_lambda(s0)) / h;
    return isfinite(rk) ? rk : 0.0;
}

/* The predictor UniP from s0 to t; order 2 uses D1 at s_prev. */
static unipc_coefs unip_coefs(int order, double s_prev, double s0, double t)
{
    double h = dpm_lambda(t) - dpm_lambda(s0);
    double bh = expm1(-h); /* h phi_1(-h) = B(h) for bh2 */
    unipc_coefs k = {(float)(t / s0), (float)(-(1.0 - t) * bh), 0.0f, 0.0f};
    if (order == 2) {
        double rk = unipc_rk(s_prev, s0, h);
        if (rk != 0.0) /* rho_p = 1/2; the term is B(h) rho D1 / rk */
            k.c = (float)(-(1.0 - t) * bh * 0.5 / rk);
    }
    return k;
}

/* The corrector UniC of the step s0 -> t, of the predictor's order. Its
 * rho solves [[1, 1], [rk, 1]] rho = (b1, b2), b_k = k! phi_k(-h) / B(h);
 * order 1 takes rho = 1/2. */
static unipc_coefs unic_coefs(int order, double s_prev, double s0, double t)
{
    double h = dpm_lambda(t) - dpm_lambda(s0), hh = -h;
    double bh = expm1(hh);
    unipc_coefs k = {(float)(t / s0), (float)(-(1.0 - t) * bh), 0.0f, 0.0f};
    double rho0 = 0.0, rho1 = 0.5, rk = 0.0;
    if (order == 2) {
        double phi1 = bh / hh - 1.0;
        double phi2 = phi1 / hh - 0.5;
        double b1 = phi1 / bh, b2 = 2.0 * phi2 / bh;
        rk = unipc_rk(s_prev, s0, h);
        rho0 = rk != 0.0 ? (b1 - b2) / (1.0 - rk) : 0.0;
        rho1 = b1 - rho0;
    }
    if (rk != 0.0)
        k.c = (float)(-(1.0 - t) * bh * rho0 / rk);
    k.d = (float)(-(1.0 - t) * bh * rho1);
    return k;
}

static int sample_unipc(sampler_state *st, const float *t, const float *tm,
                        float *x, float *bufs[4])
{
    const st2v_sample_job *job = st->job;
    const int n = job->steps;
    float *m = bufs[0];        /* v, then D of this step */
    float *m1 = bufs[1];       /* D of the step before */
    float *m2 = bufs[2];       /* D two steps before */
    float *xl = bufs[3];       /* x before the last predictor */
    int order = 0;             /* of the last predictor */
    for (int i = 0; i < n; i++) {
        int rc = velocity_at(st, m, x, tm[i]);
        if (rc < 0)
            return rc;
        const float ti = t[i];
        FOR_GENERATED(st, k, m[k] = x[k] - ti * m[k]);
        if (i > 0) {
            unipc_coefs c = unic_coefs(order, i > 1 ? t[i - 2] : 1.0,
                                       t[i - 1], t[i]);
            if (c.c != 0.0f)
                FOR_GENERATED(st, k, x[k] = c.a * xl[k] + c.b * m1[k] +
                                            c.c * (m2[k] - m1[k]) +
                                            c.d * (m[k] - m1[k]));
            else
                FOR_GENERATED(st, k, x[k] = c.a * xl[k] + c.b * m1[k] +
                                            c.d * (m[k] - m1[k]));
        }
        /* warm-up at the first step, lower_order_final at the last */
        order = (i == 0 || i == n - 1) ? 1 : 2;
        unipc_coefs p = unip_coefs(order, i > 0 ? t[i - 1] : 1.0, t[i],
                                   t[i + 1]);
        /* (m1 is not yet written at the first step: no 0 * garbage) */
        if (p.c != 0.0f)
            FOR_GENERATED(st, k, {
                xl[k] = x[k];
                x[k] = p.a * x[k] + p.b * m[k] + p.c * (m1[k] - m[k]);
            });
        else
            FOR_GENERATED(st, k, {
                xl[k] = x[k];
                x[k] = p.a * x[k] + p.b * m[k];
            });
        float *free_buf = m2;
        m2 = m1;
        m1 = m;
        m = free_buf;
        if ((rc = after_step(job, i + 1)) < 0)
            return rc;
    }
    return 0;
}

/* ---------------------------------------------------------------- API */

int st2v_sample(const st2v_sample_job *job, float *x)
{
    if (!job || !x || !job->velocity || job->steps < 1 || job->Cz < 1 ||
        job->T < 1 || job->Hl < 1 || job->Wl < 1 || job->pt < 1 ||
        job->T % job->pt != 0 || job->n_context < 0 ||
        job->n_context > job->T || job->n_context % job->pt != 0 ||
        !(job->shift > 0.0f))
        return ST2V_ERR_INVALID_ARG;
    if (job->sampler != ST2V_SAMPLER_EULER &&
        job->sampler != ST2V_SAMPLER_HEUN &&
        job->sampler != ST2V_SAMPLER_DPMPP_2M &&
        job->sampler != ST2V_SAMPLER_UNIPC)
        return ST2V_ERR_INVALID_ARG;
    if (job->schedule != ST2V_SCHEDULE_WORLD &&
        job->schedule != ST2V_SCHEDULE_WAN)
        return ST2V_ERR_INVALID_ARG;

    sampler_state st = {0};
    st.job = job;
    st.frame = (int64_t)job->Hl * job->Wl;
    st.n = (int64_t)job->Cz * job->T * st.frame;
    st.n_tp = job->T / job->pt;

    /* Nothing to generate: the window is all context. */
    if (job->n_context == job->T)
        return 0;

    static const int n_bufs_of[] = {
        [ST2V_SAMPLER_EULER] = 1, [ST2V_SAMPLER_HEUN] = 3,
        [ST2V_SAMPLER_DPMPP_2M] = 2, [ST2V_SAMPLER_UNIPC] = 4,
    };
    int n_bufs = n_bufs_of[job->sampler];
    /* t (steps + 1) solver times, then tm (steps + 1) model times */
    float *t = malloc(2 * ((size_t)job->steps + 1) * sizeof(float));
    float *tt = malloc((size_t)st.n_tp * sizeof(float));
    float *buf = st2v_alloc_floats((size_t)st.n * (size_t)n_bufs);
    int rc;
    if (!t || !tt || !buf) {
        rc = ST2V_ERR_NOMEM;
        goto done;
    }
    st.tt = tt;
    float *tm = t + job->steps + 1;
    if ((rc = st2v_sample_schedule(job->schedule, job->sampler, job->steps,
                                   job->shift, t, tm)) < 0)
        goto done;

    /* each (Cz, T, Hl, Wl) */
    float *bufs[4] = {buf, NULL, NULL, NULL};
    for (int b = 1; b < n_bufs; b++)
        bufs[b] = buf + b * st.n;
    float *v = bufs[0];
    switch (job->sampler) {
    case ST2V_SAMPLER_HEUN: /* x', v(x') */
        rc = sample_heun(&st, t, tm, x, v, bufs[1], bufs[2]);
        break;
    case ST2V_SAMPLER_DPMPP_2M: /* the previous x0 */
        rc = sample_dpmpp_2m(&st, t, tm, x, v, bufs[1]);
        break;
    case ST2V_SAMPLER_UNIPC:
        rc = sample_unipc(&st, t, tm, x, bufs);
        break;
    default:
        rc = sample_euler(&st, t, tm, x, v);
        break;
    }
done:
    free(t);
    free(tt);
    st2v_free(buf);
    return rc;
}
