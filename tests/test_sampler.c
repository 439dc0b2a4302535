/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test_sampler.c - the samplers against a velocity field whose flow is
 * known exactly: data x0 ~ N(mu, s^2) independently per element. The
 * marginals stay Gaussian, N((1 - t) mu, (1 - t)^2 s^2 + t^2), the ideal
 * velocity is linear in x, and noise e at t = 1 flows to mu + s e at t = 0.
 */
#include <stdint.h>

#include "rng.h"
#include "sampler.h"
#include "test_util.h"

/* Dimensions of the test window: 2 channels, 4 frames (2 of context),
 * temporal patch 2, 3 x 5 pixels. */
enum { CZ = 2, T = 4, HL = 3, WL = 5, PT = 2, NCTX = 2 };
#define N (CZ * T * HL * WL)
#define FRAME (HL * WL)

typedef struct field {
    float mu, s;               /* the data distribution */
    int calls;
    int bad_context_t;         /* a call gave a context patch t != 0 */
    int bad_t;                 /* a call gave a patch t outside [0, 1] */
    int fail_at;               /* return ST2V_ERR_NOMEM at this call (1-based) */
    int cancel_at;             /* on_step asks to stop after this step */
    int last_step;
    float ctx_value[N];        /* context frames as given */
    int ctx_changed;           /* a call saw modified context frames */
} field;

static int is_context(int64_t k)
{
    return (k / FRAME) % T < NCTX;
}

static int gaussian_velocity(void *ctx, float *v, const float *x,
                             const float *tt)
{
    field *f = ctx;
    f->calls++;
    if (f->fail_at && f->calls == f->fail_at)
        return ST2V_ERR_NOMEM;
    for (int p = 0; p < T / PT; p++) {
        if (p < NCTX / PT && tt[p] != 0.0f)
            f->bad_context_t = 1;
        if (!(tt[p] >= 0.0f && tt[p] <= 1.0f))
            f->bad_t = 1;
    }
    for (int64_t k = 0; k < N; k++) {
        int frame = (int)((k / FRAME) % T);
        double t = tt[frame / PT];
        if (is_context(k)) {
            if (x[k] != f->ctx_value[k])
                f->ctx_changed = 1;
            v[k] = 1e3f; /* garbage: must never move anything */
            continue;
        }
        double s2 = (double)f->s * f->s;
        double var = (1 - t) * (1 - t) * s2 + t * t;
        double m = (1 - t) * f->mu;
        v[k] = (float)(-f->mu + (t - (1 - t) * s2) / var * (x[k] - m));
    }
    return 0;
}

static int count_steps(void *ctx, int step, int steps)
{
    field *f = ctx;
    (void)steps;
    f->last_step = step;
    return f->cancel_at && step >= f->cancel_at;
}

static void start_window(float *x, field *f)
{
    st2v_normal_fill(x, N, 7, 0, 0);
    for (int64_t k = 0; k < N; k++)
        if (is_context(k))
            x[k] = f->ctx_value[k] = 0.25f * (float)(k % 13) - 1.0f;
}

/* Sample; return the max error against mu + s e over generated elements. */
static double run_sampler(st2v_sampler which, int steps, float shift,
                          field *f, int *rc_out)
{
    static float x[N], e[N];
    start_window(x, f);
    memcpy(e, x, sizeof(e));
    st2v_sample_job job = {
        .sampler = which, .steps = steps, .shift = shift,
        .Cz = CZ, .T = T, .Hl = HL, .Wl = WL, .pt = PT, .n_context = NCTX,
        .velocity = gaussian_velocity, .ctx = f, .on_step = count_steps,
    };
    int rc = st2v_sample(&job, x);
    if (rc_out)
        *rc_out = rc;
    double err = 0;
    for (int64_t k = 0; k < N; k++) {
        if (is_context(k)) {
            if (memcmp(&x[k], &f->ctx_value[k], sizeof(float)) != 0)
                f->ctx_changed = 1;
            continue;
        }
        double want = f->mu + (double)f->s * e[k];
        double d = fabs(x[k] - want);
        if (!(d <= err))
            err = d;
    }
    return err;
}

static field make_field(void)
{
    field f;
    memset(&f, 0, sizeof(f));
    f.mu = 2.0f;
    f.s = 0.5f;
    return f;
}

/* ------------------------------------------------------------ schedule */

static void schedule_without_shift_is_linear(void)
{
    float t[5];
    st2v_schedule(t, 4, 1.0f);
    const float want[5] = {1.0f, 0.75f, 0.5f, 0.25f, 0.0f};
    for (int i = 0; i < 5; i++)
        CHECK(fabsf(t[i] - want[i]) < 1e-7f, "t[%d] = %.9g, want %g", i,
              t[i], want[i]);
}

static void schedule_with_shift_3_matches_hand_values(void)
{
    /* t = 3u / (1 + 2u): u = .75 -> .9, .5 -> .75, .25 -> .5 */
    float t[5];
    st2v_schedule(t, 4, 3.0f);
    const float want[5] = {1.0f, 0.9f, 0.75f, 0.5f, 0.0f};
    for (int i = 0; i < 5; i++)
        CHECK(fabsf(t[i] - want[i]) < 1e-7f, "t[%d] = %.9g, want %g", i,
              t[i], want[i]);
    CHECK(t[0] == 1.0f && t[4] == 0.0f, "ends are not exactly 1 and 0");
}

static void schedule_of_one_step_goes_from_1_to_0(void)
{
    float t[2];
    st2v_schedule(t, 1, 5.0f);
    CHECK(t[0] == 1.0f && t[1] == 0.0f, "got %g %g", t[0], t[1]);
}

/* ------------------------------------------------------------ samplers */

static void check_converges(st2v_sampler which, const char *name,
                            double *err8_out)
{
    double prev = INFINITY;
    for (int steps = 4; steps <= 32; steps *= 2) {
        field f = make_field();
        int rc;
        double err = run_sampler(which, steps, 1.0f, &f, &rc);
        printf("     %-8s %2d steps: max err %.3g\n", name, steps, err);
        CHECK(rc == 0, "%s: status %d", name, rc);
        CHECK(err < prev, "%s: error %g at %d steps is not below %g", name,
              err, steps, prev);
        CHECK(!f.ctx_changed, "%s changed a context frame", name);
        CHECK(!f.bad_context_t, "%s gave a context patch t != 0", name);
        CHECK(!f.bad_t, "%s gave a timestep outside [0, 1]", name);
        CHECK(f.last_step == steps, "%s: on_step saw %d of %d steps", name,
              f.last_step, steps);
        if (steps == 8)
            *err8_out = err;
        /* Euler is first order (error ~ 2/steps here), the others second. */
        double tol32 = which == ST2V_SAMPLER_EULER ? 0.1 : 0.02;
        if (steps == 32)
            CHECK(err < tol32, "%s: error %g after 32 steps", name, err);
        prev = err;
    }
}

static void euler_converges_to_the_exact_flow(void)
{
    double e;
    check_converges(ST2V_SAMPLER_EULER, "euler", &e);
}

static void heun_converges_and_beats_euler(void)
{
    double eh, ee;
    check_converges(ST2V_SAMPLER_HEUN, "heun", &eh);
    field f = make_field();
    ee = run_sampler(ST2V_SAMPLER_EULER, 8, 1.0f, &f, NULL);
    CHECK(eh < ee, "heun %g not better than euler %g at 8 steps", eh, ee);
}

static void dpmpp_2m_converges_and_beats_euler(void)
{
    double ed, ee;
    check_converges(ST2V_SAMPLER_DPMPP_2M, "dpm++2m", &ed);
    field f = make_field();
    ee = run_sampler(ST2V_SAMPLER_EULER, 8, 1.0f, &f, NULL);
    CHECK(ed < ee, "dpm++2m %g not better than euler %g at 8 steps", ed, ee);
}

/* UniPC on the world model's schedule, which starts at t = 1 (lambda =
 * -inf): the terms of the step from t = 1 vanish as they should. */
static void unipc_converges_and_beats_dpmpp_2m(void)
{
    double eu, ed;
    check_converges(ST2V_SAMPLER_UNIPC, "unipc", &eu);
    field f = make_field();
    ed = run_sampler(ST2V_SAMPLER_DPMPP_2M, 8, 1.0f, &f, NULL);
    CHECK(eu < ed, "unipc %g not better than dpm++2m %g at 8 steps", eu, ed);
}

static void every_sampler_works_with_a_shifted_schedule(void)
{
    static const st2v_sampler all[] = {ST2V_SAMPLER_EULER, ST2V_SAMPLER_HEUN,
                                       ST2V_SAMPLER_DPMPP_2M,
                                       ST2V_SAMPLER_UNIPC};
    for (size_t i = 0; i < 4; i++) {
        field f = make_field();
        double e16 = run_sampler(all[i], 16, 3.0f, &f, NULL);
        field g = make_field();
        double e64 = run_sampler(all[i], 64, 3.0f, &g, NULL);
        CHECK(e64 < e16 / 2 && e64 < 0.1, "sampler %d: err %g (16) %g (64)",
              (int)all[i], e16, e64);
        CHECK(!f.ctx_changed && !g.ctx_changed, "context changed");
    }
}

static void samplers_make_the_documented_number_of_model_calls(void)
{
    field f = make_field();
    run_sampler(ST2V_SAMPLER_EULER, 6, 2.0f, &f, NULL);
    CHECK(f.calls == 6, "euler: %d calls", f.calls);
    f = make_field();
    run_sampler(ST2V_SAMPLER_HEUN, 6, 2.0f, &f, NULL);
    CHECK(f.calls == 11, "heun: %d calls, want 2N-1 = 11", f.calls);
    f = make_field();
    run_sampler(ST2V_SAMPLER_DPMPP_2M, 6, 2.0f, &f, NULL);
    CHECK(f.calls == 6, "dpm++2m: %d calls", f.calls);
    f = make_field();
    run_sampler(ST2V_SAMPLER_UNIPC, 6, 2.0f, &f, NULL);
    CHECK(f.calls == 6 && st2v_sampler_calls(ST2V_SAMPLER_UNIPC, 6) == 6,
          "unipc: %d calls", f.calls);
}

/* With a point mass as data (s = 0) the data prediction is exact at every
 * step, so the first-order DPM update lands on mu in one step. */
static void dpmpp_2m_with_one_step_returns_the_data_prediction(void)
{
    field f = make_field();
    f.s = 0.0f;
    double err = run_sampler(ST2V_SAMPLER_DPMPP_2M, 1, 1.0f, &f, NULL);
    CHECK(err < 1e-5, "error %g", err);
    f = make_field();
    f.s = 0.0f;
    err = run_sampler(ST2V_SAMPLER_DPMPP_2M, 5, 3.0f, &f, NULL);
    CHECK(err < 1e-5, "error %g after 5 steps on a point mass", err);
}

static void on_step_can_cancel_sampling(void)
{
    field f = make_field();
    f.cancel_at = 2;
    int rc;
    run_sampler(ST2V_SAMPLER_HEUN, 8, 1.0f, &f, &rc);
    CHECK(rc == ST2V_ERR_CANCELLED, "status %d", rc);
    CHECK(f.last_step == 2, "stopped after step %d", f.last_step);
    CHECK(f.calls == 4, "%d model calls, want 4", f.calls);
}

static void a_failing_model_call_stops_the_sampler_with_its_status(void)
{
    field f = make_field();
    f.fail_at = 3;
    int rc;
    run_sampler(ST2V_SAMPLER_DPMPP_2M, 8, 1.0f, &f, &rc);
    CHECK(rc == ST2V_ERR_NOMEM, "status %d", rc);
    CHECK(f.calls == 3, "%d calls", f.calls);
}

static void bad_jobs_are_refused(void)
{
    static float x[N];
    field f = make_field();
    st2v_sample_job good = {
        .sampler = ST2V_SAMPLER_EULER, .steps = 2, .shift = 1.0f,
        .Cz = CZ, .T = T, .Hl = HL, .Wl = WL, .pt = PT, .n_context = NCTX,
        .velocity = gaussian_velocity, .ctx = &f,
    };
    st2v_sample_job j = good;
    j.n_context = 1; /* not a multiple of pt */
    CHECK(st2v_sample(&j, x) == ST2V_ERR_INVALID_ARG, "odd context");
    j = good;
    j.steps = 0;
    CHECK(st2v_sample(&j, x) == ST2V_ERR_INVALID_ARG, "0 steps");
    j = good;
    j.sampler = ST2V_SAMPLER_DEFAULT;
    CHECK(st2v_sample(&j, x) == ST2V_ERR_INVALID_ARG, "default sampler");
    j = good;
    j.T = 3;
    CHECK(st2v_sample(&j, x) == ST2V_ERR_INVALID_ARG, "T not / pt");
    CHECK(f.calls == 0, "a refused job called the model");
}

int main(void)
{
    RUN(schedule_without_shift_is_linear);
    RUN(schedule_with_shift_3_matches_hand_values);
    RUN(schedule_of_one_step_goes_from_1_to_0);
    RUN(euler_converges_to_the_exact_flow);
    RUN(heun_converges_and_beats_euler);
    RUN(dpmpp_2m_converges_and_beats_euler);
    RUN(unipc_converges_and_beats_dpmpp_2m);
    RUN(every_sampler_works_with_a_shifted_schedule);
    RUN(samplers_make_the_documented_number_of_model_calls);
    RUN(dpmpp_2m_with_one_step_returns_the_data_prediction);
    RUN(on_step_can_cancel_sampling);
    RUN(a_failing_model_call_stops_the_sampler_with_its_status);
    RUN(bad_jobs_are_refused);
    return tu_summary();
}
