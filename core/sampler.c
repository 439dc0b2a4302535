/*
 * sampler.c - rectified-flow sampling (docs/model-format.md, section 8):
 * the shifted schedule and the Euler, Heun and DPM-Solver++(2M) steps.
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

static int sample_euler(sampler_state *st, const float *t, float *x,
                        float *v)
{
    const st2v_sample_job *job = st->job;
    for (int i = 0; i < job->steps; i++) {
        int rc = velocity_at(st, v, x, t[i]);
        if (rc < 0)
            return rc;
        float dt = t[i + 1] - t[i];
        FOR_GENERATED(st, k, x[k] = x[k] + dt * v[k]);
        if ((rc = after_step(job, i + 1)) < 0)
            return rc;
    }
    return 0;
}

static int sample_heun(sampler_state *st, const float *t, float *x, float *v,
                       float *xp, float *v2)
{
    const st2v_sample_job *job = st->job;
    /* The context frames of x' stay those of x. */
    for (int64_t k = 0; k < st->n; k++)
        xp[k] = x[k];
    for (int i = 0; i < job->steps; i++) {
        int rc = velocity_at(st, v, x, t[i]);
        if (rc < 0)
            return rc;
        float dt = t[i + 1] - t[i];
        if (t[i + 1] > 0.0f) {
            FOR_GENERATED(st, k, xp[k] = x[k] + dt * v[k]);
            if ((rc = velocity_at(st, v2, xp, t[i + 1])) < 0)
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

static int sample_dpmpp_2m(sampler_state *st, const float *t, float *x,
                           float *v, float *x0_prev)
{
    const st2v_sample_job *job = st->job;
    double h_prev = INFINITY;
    for (int i = 0; i < job->steps; i++) {
        int rc = velocity_at(st, v, x, t[i]);
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
        job->sampler != ST2V_SAMPLER_DPMPP_2M)
        return ST2V_ERR_INVALID_ARG;

    sampler_state st = {0};
    st.job = job;
    st.frame = (int64_t)job->Hl * job->Wl;
    st.n = (int64_t)job->Cz * job->T * st.frame;
    st.n_tp = job->T / job->pt;

    /* Nothing to generate: the window is all context. */
    if (job->n_context == job->T)
        return 0;

    int n_bufs = job->sampler == ST2V_SAMPLER_HEUN ? 3 : 2;
    if (job->sampler == ST2V_SAMPLER_EULER)
        n_bufs = 1;
    float *t = malloc(((size_t)job->steps + 1) * sizeof(float));
    float *tt = malloc((size_t)st.n_tp * sizeof(float));
    float *buf = st2v_alloc_floats((size_t)st.n * (size_t)n_bufs);
    int rc;
    if (!t || !tt || !buf) {
        rc = ST2V_ERR_NOMEM;
        goto done;
    }
    st.tt = tt;
    st2v_schedule(t, job->steps, job->shift);

    float *v = buf;                   /* (Cz, T, Hl, Wl) */
    float *b1 = buf + st.n;           /* Heun: x'; DPM: previous x0 */
    float *b2 = buf + 2 * st.n;       /* Heun: v(x') */
    switch (job->sampler) {
    case ST2V_SAMPLER_HEUN:
        rc = sample_heun(&st, t, x, v, b1, b2);
        break;
    case ST2V_SAMPLER_DPMPP_2M:
        rc = sample_dpmpp_2m(&st, t, x, v, b1);
        break;
    default:
        rc = sample_euler(&st, t, x, v);
        break;
    }
done:
    free(t);
    free(tt);
    st2v_free(buf);
    return rc;
}
