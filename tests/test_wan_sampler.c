/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test_wan_sampler.c - Wan2.1's schedules and the samplers on them
 * (core/sampler.c, docs/wan.md "Sampling") against the float64 reference
 * train/wan/sampler.py: tests/fixtures/wan/sampler/golden.safetensors holds
 * the sigma and timestep lists of a few (steps, shift), three UniPC updates
 * on fixed model outputs, and 10-step trajectories of every sampler on both
 * schedule kinds with a fixed affine velocity. Then the edge cases: one and
 * two steps, shift 1, the first-order last step, context frames, refusals.
 */
#include <stdint.h>

#include "common.h"
#include "sampler.h"
#include "test_util.h"

#define GOLD "wan/sampler/golden.safetensors"
#define TOL 1e-5

/* The fixture window: (Cz, T, Hl, Wl) = (2, 3, 4, 5), no context. */
enum { CZ = 2, T = 3, HL = 4, WL = 5 };
#define N (CZ * T * HL * WL)
#define MAX_STEPS 64

/* ------------------------------------------------------------ fake models */

typedef struct fake {
    const float *c;            /* affine: v = 0.5 x - 0.8 t + c; NULL: ... */
    const float *vs;           /* ... fixed outputs: vs[call] */
    int calls;
    float tt[2 * MAX_STEPS];   /* the model time of each call (patch 0) */
    float last_x[N], last_v[N]; /* of the last call */
    float *x;                  /* the window being sampled, for on_step */
    float states[MAX_STEPS + 1][N]; /* x after each step */
    int stop_after;            /* on_step stops after this step; 0 never */
} fake;

static int fake_velocity(void *ctx, float *v, const float *x, const float *tt)
{
    fake *f = ctx;
    if (f->calls < 2 * MAX_STEPS)
        f->tt[f->calls] = tt[0];
    for (int k = 0; k < N; k++)
        v[k] = f->c ? 0.5f * x[k] - 0.8f * tt[0] + f->c[k]
                    : f->vs[(size_t)f->calls * N + k];
    memcpy(f->last_x, x, sizeof(f->last_x));
    memcpy(f->last_v, v, sizeof(f->last_v));
    f->calls++;
    return 0;
}

static int record_step(void *ctx, int step, int steps)
{
    fake *f = ctx;
    (void)steps;
    memcpy(f->states[step], f->x, sizeof(f->states[step]));
    return f->stop_after && step >= f->stop_after;
}

/* Sample x (N) in place on one window without context. */
static int run(fake *f, float *x, st2v_sampler s, st2v_schedule_kind kind,
               int steps, float shift)
{
    st2v_sample_job job = {
        .sampler = s, .schedule = kind, .steps = steps, .shift = shift,
        .Cz = CZ, .T = T, .Hl = HL, .Wl = WL, .pt = 1, .n_context = 0,
        .velocity = fake_velocity, .ctx = f, .on_step = record_step,
    };
    f->x = x;
    memcpy(f->states[0], x, sizeof(f->states[0]));
    return st2v_sample(&job, x);
}

/* ------------------------------------------------------------ schedules */

static const struct {
    int steps;
    const char *shift_name;
    float shift;
} cases[] = {{1, "5", 5.0f},   {2, "1", 1.0f},   {3, "8", 8.0f},
             {10, "5", 5.0f},  {20, "3", 3.0f},  {30, "12", 12.0f},
             {50, "5", 5.0f}};

static void wan_schedules_match_the_reference_lists(void)
{
    st_file g;
    if (tu_open(&g, GOLD) != 0)
        return;
    double worst = 0.0;
    int n_cases = 0;
    for (size_t c = 0; c < ST2V_ARRAY_SIZE(cases); c++) {
        const int steps = cases[c].steps;
        for (int u = 0; u < 2; u++) {
            char key[96];
            snprintf(key, sizeof(key), "sched.%s.%d_%s", u ? "unipc" : "fm",
                     steps, cases[c].shift_name);
            char ks[128], kt[128];
            snprintf(ks, sizeof(ks), "%s.sigma", key);
            snprintf(kt, sizeof(kt), "%s.timestep", key);
            size_t ns = 0, nt = 0;
            float *ws = tu_tensor(&g, ks, &ns), *wt = tu_tensor(&g, kt, &nt);
            float sig[MAX_STEPS + 1];
            int32_t ts[MAX_STEPS];
            if (ws && wt && ns == (size_t)steps + 1 && nt == (size_t)steps) {
                st2v_schedule_wan(sig, ts, steps, cases[c].shift,
                                  u ? ST2V_SAMPLER_UNIPC : ST2V_SAMPLER_EULER);
                for (int i = 0; i <= steps; i++) {
                    double d = fabs((double)sig[i] - ws[i]);
                    if (d > worst)
                        worst = d;
                }
                for (int i = 0; i < steps; i++)
                    CHECK(ts[i] == (int32_t)wt[i], "%s: timestep %d is %d, "
                          "want %d", key, i, ts[i], (int)wt[i]);
                CHECK(sig[steps] == 0.0f, "%s does not end in 0", key);
                n_cases++;
            } else {
                CHECK(0, "%s: bad fixture", key);
            }
            free(ws);
            free(wt);
        }
    }
    printf("     %d lists: timesteps equal, max |sigma diff| %.3g\n", n_cases,
           worst);
    CHECK(worst == 0.0, "sigmas differ by %g (want bit-identical)", worst);
    st_close(&g);
}

static void unipc_schedule_of_10_steps_at_shift_5_starts_999_978(void)
{
    /* the timesteps WAN-NOTES.md section 5 quotes from the official code */
    float sig[11];
    int32_t ts[10];
    st2v_schedule_wan(sig, ts, 10, 5.0f, ST2V_SAMPLER_UNIPC);
    CHECK(ts[0] == 999 && ts[1] == 978 && ts[9] == 356, "%d %d .. %d",
          ts[0], ts[1], ts[9]);
    st2v_schedule_wan(sig, ts, 10, 5.0f, ST2V_SAMPLER_DPMPP_2M);
    CHECK(ts[0] == 1000 && sig[0] == 1.0f && ts[9] == 357, "%d %g .. %d",
          ts[0], sig[0], ts[9]);
}

static void without_shift_the_lists_are_linear(void)
{
    float sig[5];
    int32_t ts[4];
    st2v_schedule_wan(sig, ts, 4, 1.0f, ST2V_SAMPLER_UNIPC);
    const int want_u[4] = {999, 749, 499, 249};
    for (int i = 0; i < 4; i++)
        CHECK(ts[i] == want_u[i], "unipc ts[%d] = %d, want %d", i, ts[i],
              want_u[i]);
    CHECK(sig[0] == 0.999f && sig[4] == 0.0f, "unipc %g .. %g", sig[0],
          sig[4]);
    st2v_schedule_wan(sig, ts, 4, 1.0f, ST2V_SAMPLER_EULER);
    const int want_f[4] = {1000, 750, 500, 250};
    for (int i = 0; i < 4; i++)
        CHECK(ts[i] == want_f[i] && sig[i] == (float)want_f[i] / 1000.0f,
              "fm ts[%d] = %d, sigma %g", i, ts[i], sig[i]);
}

static void model_times_give_the_integer_timesteps_back(void)
{
    /* what the family does with a Wan model time: lrintf(1000 t) */
    for (int k = 0; k <= 1000; k++) {
        float t = (float)((double)k / 1000.0);
        CHECK(lrintf(1000.0f * t) == k, "k = %d", k);
    }
    static const st2v_sampler all[] = {ST2V_SAMPLER_EULER, ST2V_SAMPLER_HEUN,
                                       ST2V_SAMPLER_DPMPP_2M,
                                       ST2V_SAMPLER_UNIPC};
    for (size_t s = 0; s < 4; s++) {
        float sig[31], sig2[31], tm[31];
        int32_t ts[30];
        st2v_schedule_wan(sig, ts, 30, 12.0f, all[s]);
        CHECK(st2v_sample_schedule(ST2V_SCHEDULE_WAN, all[s], 30, 12.0f,
                                   sig2, tm) == 0, "schedule");
        for (int i = 0; i < 30; i++)
            CHECK(lrintf(1000.0f * tm[i]) == ts[i] && sig2[i] == sig[i],
                  "sampler %d step %d", (int)all[s], i);
        CHECK(tm[30] == 0.0f && sig2[30] == 0.0f, "end");
    }
    /* the world model's kind gives the model its t itself */
    float t[9], sig[9], tm[9];
    st2v_schedule(t, 8, 3.0f);
    CHECK(st2v_sample_schedule(ST2V_SCHEDULE_WORLD, ST2V_SAMPLER_UNIPC, 8,
                               3.0f, sig, tm) == 0 &&
              memcmp(t, sig, sizeof(t)) == 0 && memcmp(t, tm, sizeof(t)) == 0,
          "world schedule");
}

/* ------------------------------------------------------------ goldens */

static void three_unipc_updates_match_the_reference(void)
{
    st_file g;
    if (tu_open(&g, GOLD) != 0)
        return;
    static const int steps_of[] = {3, 10};
    for (int c = 0; c < 2; c++) {
        const int steps = steps_of[c];
        char kx[64], kv[64];
        snprintf(kx, sizeof(kx), "unipc3.%d.x", steps);
        snprintf(kv, sizeof(kv), "unipc3.%d.v", steps);
        size_t nx = 0, nv = 0;
        float *want = tu_tensor(&g, kx, &nx), *vs = tu_tensor(&g, kv, &nv);
        if (want && vs && nx == 4 * N && nv == 3 * N) {
            static fake f;
            memset(&f, 0, sizeof(f));
            f.vs = vs;
            f.stop_after = steps > 3 ? 3 : 0;
            float x[N];
            memcpy(x, want, sizeof(x));
            int rc = run(&f, x, ST2V_SAMPLER_UNIPC, ST2V_SCHEDULE_WAN, steps,
                         5.0f);
            CHECK(rc == (steps == 3 ? 0 : ST2V_ERR_CANCELLED), "status %d",
                  rc);
            CHECK(f.calls == 3, "%d calls", f.calls);
            for (int s = 1; s <= 3; s++) {
                char what[64];
                snprintf(what, sizeof(what), "unipc %d steps, update %d",
                         steps, s);
                double e = tu_max_rel_err(f.states[s], want + s * N, N);
                printf("     golden %-28s max rel err %.3g\n", what, e);
                CHECK(e <= TOL, "%s: %g", what, e);
            }
        } else {
            CHECK(0, "bad fixture %s", kx);
        }
        free(want);
        free(vs);
    }
    st_close(&g);
}

static void trajectories_match_the_reference(void)
{
    st_file g;
    if (tu_open(&g, GOLD) != 0)
        return;
    float *c = tu_tensor(&g, "traj.c", NULL);
    float *x0 = tu_tensor(&g, "traj.x0", NULL);
    static const struct {
        st2v_sampler s;
        const char *name;
    } samplers[] = {{ST2V_SAMPLER_EULER, "euler"},
                    {ST2V_SAMPLER_HEUN, "heun"},
                    {ST2V_SAMPLER_DPMPP_2M, "dpm++2m"},
                    {ST2V_SAMPLER_UNIPC, "unipc"}};
    for (int kind = 0; kind < 2 && c && x0; kind++) {
        for (size_t s = 0; s < ST2V_ARRAY_SIZE(samplers); s++) {
            char key[64];
            snprintf(key, sizeof(key), "traj.%s.%s.x", samplers[s].name,
                     kind ? "world" : "wan");
            size_t n = 0;
            float *want = tu_tensor(&g, key, &n);
            if (!want || n != 11 * N) {
                CHECK(0, "bad fixture %s", key);
                free(want);
                continue;
            }
            static fake f;
            memset(&f, 0, sizeof(f));
            f.c = c;
            float x[N];
            memcpy(x, x0, sizeof(x));
            int rc = run(&f, x, samplers[s].s,
                         kind ? ST2V_SCHEDULE_WORLD : ST2V_SCHEDULE_WAN, 10,
                         5.0f);
            CHECK(rc == 0, "%s: status %d", key, rc);
            double e = tu_max_rel_err(&f.states[0][0], want, 11 * N);
            printf("     golden %-28s max rel err %.3g\n", key, e);
            CHECK(e <= TOL, "%s: %g", key, e);
            free(want);
        }
    }
    free(c);
    free(x0);
    st_close(&g);
}

/* ------------------------------------------------------------ edge cases */

/* v = (x - mu) / t: the flow of a point mass at mu, whose data prediction
 * is mu wherever the model time t is the solver's sigma. */
static int point_mass(void *ctx, float *v, const float *x, const float *tt)
{
    fake *f = ctx;
    for (int k = 0; k < N; k++)
        v[k] = (x[k] - 0.75f) / tt[0];
    f->calls++;
    return 0;
}

/* One step everywhere, and two where the model times are the sigmas (the
 * world model's kind; on Wan's, fm's 1000, 500 at shift 1; UniPC's second
 * time 0.499 is not its sigma 0.4995). */
static void every_sampler_lands_on_a_point_mass_in_one_or_two_steps(void)
{
    static const st2v_sampler all[] = {ST2V_SAMPLER_EULER, ST2V_SAMPLER_HEUN,
                                       ST2V_SAMPLER_DPMPP_2M,
                                       ST2V_SAMPLER_UNIPC};
    for (int kind = 0; kind < 2; kind++) {
        for (size_t s = 0; s < 4; s++) {
            for (int steps = 1; steps <= 2; steps++) {
                if (kind && steps == 2 && all[s] == ST2V_SAMPLER_UNIPC)
                    continue;
                static fake f;
                memset(&f, 0, sizeof(f));
                float x[N];
                for (int k = 0; k < N; k++)
                    x[k] = (float)(k % 7) - 3.0f;
                st2v_sample_job job = {
                    .sampler = all[s],
                    .schedule = kind ? ST2V_SCHEDULE_WAN : ST2V_SCHEDULE_WORLD,
                    .steps = steps, .shift = 1.0f, .Cz = CZ, .T = T,
                    .Hl = HL, .Wl = WL, .pt = 1, .velocity = point_mass,
                    .ctx = &f,
                };
                int rc = st2v_sample(&job, x);
                double err = 0;
                for (int k = 0; k < N; k++)
                    err = fmax(err, fabs(x[k] - 0.75));
                CHECK(rc == 0 && err < 1e-5, "sampler %d kind %d %d steps: "
                      "rc %d err %g", (int)all[s], kind, steps, rc, err);
                CHECK(f.calls == st2v_sampler_calls(all[s], steps),
                      "sampler %d: %d calls", (int)all[s], f.calls);
            }
        }
    }
}

static void unipc_ends_with_a_first_order_step(void)
{
    /* lower_order_final: the last step goes to sigma 0 with order 1, which
     * is the data prediction x - sigma v of the last model call. */
    for (int steps = 2; steps <= 5; steps += 3) {
        static fake f;
        memset(&f, 0, sizeof(f));
        float c[N], x[N];
        for (int k = 0; k < N; k++) {
            c[k] = 0.1f * (float)(k % 11) - 0.5f;
            x[k] = 0.3f * (float)(k % 5) - 0.6f;
        }
        f.c = c;
        int rc = run(&f, x, ST2V_SAMPLER_UNIPC, ST2V_SCHEDULE_WAN, steps,
                     5.0f);
        float sig[6];
        int32_t ts[5];
        st2v_schedule_wan(sig, ts, steps, 5.0f, ST2V_SAMPLER_UNIPC);
        double err = 0;
        for (int k = 0; k < N; k++)
            err = fmax(err, fabs(x[k] - (f.last_x[k] -
                                         sig[steps - 1] * f.last_v[k])));
        CHECK(rc == 0 && err < 1e-6, "%d steps: rc %d, final x is %g off "
              "the last data prediction", steps, rc, err);
        for (int i = 0; i < steps; i++)
            CHECK(lrintf(1000.0f * f.tt[i]) == ts[i], "call %d at %g, want "
                  "timestep %d", i, f.tt[i], ts[i]);
    }
}

/* Context frames keep timestep 0 and their values on the Wan schedule. */
typedef struct ctx_field {
    int bad_t, changed, calls;
    float first[HL * WL * CZ];
} ctx_field;

static int context_velocity(void *ctx, float *v, const float *x,
                            const float *tt)
{
    ctx_field *f = ctx;
    f->calls++;
    if (tt[0] != 0.0f || !(tt[1] > 0.0f && tt[1] <= 1.0f) || tt[2] != tt[1])
        f->bad_t = 1;
    for (int k = 0; k < N; k++) {
        int frame = (k / (HL * WL)) % T;
        v[k] = frame == 0 ? 1e3f : 0.5f * x[k];
        if (frame == 0 && x[k] != f->first[(k / (T * HL * WL)) * HL * WL +
                                           k % (HL * WL)])
            f->changed = 1;
    }
    return 0;
}

static void context_frames_stay_fixed_on_the_wan_schedule(void)
{
    static const st2v_sampler all[] = {ST2V_SAMPLER_EULER, ST2V_SAMPLER_HEUN,
                                       ST2V_SAMPLER_DPMPP_2M,
                                       ST2V_SAMPLER_UNIPC};
    for (size_t s = 0; s < 4; s++) {
        ctx_field f;
        memset(&f, 0, sizeof(f));
        float x[N];
        for (int k = 0; k < N; k++) {
            x[k] = 0.01f * (float)k;
            if ((k / (HL * WL)) % T == 0)
                f.first[(k / (T * HL * WL)) * HL * WL + k % (HL * WL)] = x[k];
        }
        st2v_sample_job job = {
            .sampler = all[s], .schedule = ST2V_SCHEDULE_WAN, .steps = 6,
            .shift = 5.0f, .Cz = CZ, .T = T, .Hl = HL, .Wl = WL, .pt = 1,
            .n_context = 1, .velocity = context_velocity, .ctx = &f,
        };
        int rc = st2v_sample(&job, x);
        CHECK(rc == 0 && !f.bad_t && !f.changed, "sampler %d: rc %d, bad t "
              "%d, context changed %d", (int)all[s], rc, f.bad_t, f.changed);
        for (int k = 0; k < N; k++)
            if ((k / (HL * WL)) % T == 0)
                CHECK(x[k] == f.first[(k / (T * HL * WL)) * HL * WL +
                                      k % (HL * WL)],
                      "sampler %d wrote context element %d", (int)all[s], k);
    }
}

static void unknown_schedules_and_samplers_are_refused(void)
{
    static fake f;
    memset(&f, 0, sizeof(f));
    float x[N] = {0};
    st2v_sample_job job = {
        .sampler = ST2V_SAMPLER_UNIPC, .schedule = (st2v_schedule_kind)7,
        .steps = 2, .shift = 1.0f, .Cz = CZ, .T = T, .Hl = HL, .Wl = WL,
        .pt = 1, .velocity = fake_velocity, .ctx = &f,
    };
    CHECK(st2v_sample(&job, x) == ST2V_ERR_INVALID_ARG, "schedule 7");
    job.schedule = ST2V_SCHEDULE_WAN;
    job.sampler = ST2V_SAMPLER_DEFAULT;
    CHECK(st2v_sample(&job, x) == ST2V_ERR_INVALID_ARG, "default sampler");
    float sig[3], tm[3];
    CHECK(st2v_sample_schedule(ST2V_SCHEDULE_WAN, ST2V_SAMPLER_UNIPC, 0,
                               1.0f, sig, tm) == ST2V_ERR_INVALID_ARG,
          "0 steps");
    CHECK(f.calls == 0, "a refused job called the model");
    st2v_sampler s;
    CHECK(st2v_sampler_from_name("unipc", &s) == 0 &&
              s == ST2V_SAMPLER_UNIPC &&
              strcmp(st2v_sampler_name(s), "unipc") == 0,
          "the name unipc");
}

int main(void)
{
    RUN(wan_schedules_match_the_reference_lists);
    RUN(unipc_schedule_of_10_steps_at_shift_5_starts_999_978);
    RUN(without_shift_the_lists_are_linear);
    RUN(model_times_give_the_integer_timesteps_back);
    RUN(three_unipc_updates_match_the_reference);
    RUN(trajectories_match_the_reference);
    RUN(every_sampler_lands_on_a_point_mass_in_one_or_two_steps);
    RUN(unipc_ends_with_a_first_order_step);
    RUN(context_frames_stay_fixed_on_the_wan_schedule);
    RUN(unknown_schedules_and_samplers_are_refused);
    return tu_summary();
}
