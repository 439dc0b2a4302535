/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * bench.c - st2v's side of `make bench` (bench/run.py drives it, with the
 * PyTorch reference and ONNX Runtime interleaved): how fast the engine runs
 * on this machine. Machines here are shared and noisy, so nothing here is
 * a pass/fail test; compare ratios taken within one run.
 *
 * Parts (-P parts), for one thread count: one prompt encoding (text
 * encoder and the DiT's cross-attention keys/values), one model call over
 * a full window with one prompt and with the guidance pair (the family's
 * velocity call, n = 1 and n = 2), one decoder latent frame, and OpenBLAS
 * sgemm at 2048^3 and at the DiT's own shapes (OpenBLAS threads = -t).
 * Clip (-P clip): a whole clip through the public API at default
 * settings: real-time factor, first frame latency and peak RSS (run it in
 * a process of its own for a clean RSS). Info (-P info): the shapes the
 * other engines need.
 *
 * Usage: st2v-bench [-m MODEL] [-t THREADS] [-r REPS] [-j] [-P parts|clip|info]
 *                   [-d SECONDS] [-s WxH] [-b]
 * -j: one JSON line per measurement (times in ms), else a human summary.
 * -b: the model loaded with compute dtype bf16 (the BF16 path where the
 * CPU has AVX512-BF16), reported as engine "st2v-bf16".
 */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "arch.h"
#include "pool.h"
#include "st2v.h"
#include "st2v/cost.h"
#include "st2v/dit.h"
#include "st2v/family.h"
#include "st2v/model.h"
#include "st2v/tokenizer.h"
#include "st2v/vae.h"

void openblas_set_num_threads(int num_threads);

#define MAX_REPS 64
#define PROMPT "a red ball bounces on a green screen"

static int json;
static const char *engine = "st2v"; /* "st2v-bf16" with -b */
static double cpu_ms[MAX_REPS]; /* of the last TIMED */

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* CPU seconds of the whole process (every thread): on a machine shared
 * with other jobs, far steadier than the wall clock for comparisons. */
static double cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* One measurement: reps times in ms. gflop: work of one run (0: none). */
static void report(const char *part, int batch, int threads, const double *ms,
                   int reps, double gflop)
{
    if (json) {
        printf("{\"engine\": \"%s\", \"part\": \"%s\", \"batch\": %d, "
               "\"threads\": %d, \"gflop\": %.6f, \"ms\": [",
               engine, part, batch, threads, gflop);
        for (int i = 0; i < reps; i++)
            printf("%s%.4f", i ? ", " : "", ms[i]);
        printf("], \"cpu_ms\": [");
        for (int i = 0; i < reps; i++)
            printf("%s%.4f", i ? ", " : "", cpu_ms[i]);
        printf("]}\n");
    } else {
        double s[MAX_REPS];
        memcpy(s, ms, sizeof(double) * reps);
        qsort(s, reps, sizeof(double), cmp_double);
        printf("  %-14s batch %d, %d thread%s: best %8.2f ms, median %8.2f ms",
               part, batch, threads, threads > 1 ? "s" : "", s[0],
               s[reps / 2]);
        if (gflop > 0)
            printf(", %6.1f GFLOP/s", gflop / (s[0] * 1e-3));
        printf("\n");
    }
    fflush(stdout);
}

#define TIMED(reps, ms, stmt)                                                 \
    do {                                                                      \
        stmt; /* warm-up */                                                   \
        for (int r_ = 0; r_ < (reps); r_++) {                                 \
            double t_ = now(), c_ = cpu_now();                                \
            stmt;                                                             \
            (ms)[r_] = (now() - t_) * 1e3;                                    \
            cpu_ms[r_] = (cpu_now() - c_) * 1e3;                              \
        }                                                                     \
    } while (0)

/* y (m, n) = x (m, k) W^T, W (n, k): the DiT's linear layers' form. */
static void bench_sgemm(int m, int n, int k, int threads, int reps,
                        const char *part)
{
    float *a = calloc((size_t)m * k, sizeof(float));
    float *b = calloc((size_t)n * k, sizeof(float));
    float *c = calloc((size_t)m * n, sizeof(float));
    double ms[MAX_REPS];
    if (a && b && c) {
        for (size_t i = 0; i < (size_t)m * k; i++)
            a[i] = (float)(i % 7) * 0.1f;
        for (size_t i = 0; i < (size_t)n * k; i++)
            b[i] = (float)(i % 5) * 0.1f;
        openblas_set_num_threads(threads);
        TIMED(reps, ms, cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans,
                                    m, n, k, 1.0f, a, k, b, k, 0.0f, c, n));
        openblas_set_num_threads(1);
        report(part, 1, threads, ms, reps, 2.0 * m * n * k * 1e-9);
    }
    free(a), free(b), free(c);
}

static int bench_parts(const st2v_model *model, int threads, int reps)
{
    const st2v_world *m = st2v_world_of(model);
    const st2v_arch *arch = &st2v_arch_world;
    const st2v_config *c = &m->cfg;
    const int w = c->sizes[0][0], h = c->sizes[0][1];
    const int Hl = h / c->s, Wl = w / c->s, T = c->window;
    const int64_t n_lat = (int64_t)c->dit_channels * T * Hl * Wl;
    st2v_pool *pool = NULL;
    st2v_tokenizer *tok = NULL;
    st2v_vae_stream *vs = NULL;
    st2v_cond cond = {0};
    int32_t *ids = malloc(sizeof(int32_t) * c->max_length);
    float *z = calloc((size_t)n_lat, sizeof(float));
    float *v0 = malloc(sizeof(float) * (size_t)n_lat);
    float *v1 = malloc(sizeof(float) * (size_t)n_lat);
    float *rgb = malloc(sizeof(float) * 3 * (size_t)c->ft * w * h);
    float tt[256];
    double ms[MAX_REPS];
    int rc = -1;

    if (!ids || !z || !v0 || !v1 || !rgb || st2v_pool_new(&pool, threads) ||
        st2v_tokenizer_new(&tok, c) || st2v_vae_stream_new(&vs, m, Hl, Wl))
        goto done;
    const int n = st2v_tokenize(tok, PROMPT, ids);
    for (int i = 0; i < T / c->patch[0] && i < 256; i++)
        tt[i] = 0.5f;

    st2v_cost one_dit, one_dec;
    st2v_cost_estimate(c, w, h, (int64_t)T * c->ft, 1, 1, n, &one_dit);
    st2v_cost_estimate(c, w, h, c->ft, 1, 1, n, &one_dec);

    TIMED(reps, ms, st2v_cond_encode(&cond, m, pool, ids, n));
    report("text", 1, threads, ms, reps, 0);

    st2v_velocity_call call = {.T = T, .Hl = Hl, .Wl = Wl, .x = z, .t = tt,
                               .n = 1, .cond = {&cond, &cond},
                               .v = {v0, v1}};
    for (int batch = 1; batch <= 2; batch++) {
        call.n = batch;
        TIMED(reps, ms, arch->velocity(m, pool, &call));
        report("dit", batch, threads, ms, reps, one_dit.dit * batch * 1e-9);
    }

    TIMED(reps, ms, st2v_vae_decode_frame(vs, pool, z, rgb));
    report("decoder", 1, threads, ms, reps, one_dec.decoder * 1e-9);

    /* the practical peak, and the DiT's linear layers as whole GEMMs */
    const int N = T / c->patch[0] * (Hl / c->patch[1]) * (Wl / c->patch[2]);
    const int D = c->dim, M = c->mlp;
    bench_sgemm(2048, 2048, 2048, threads, reps < 5 ? reps : 5, "sgemm2048");
    bench_sgemm(N, 3 * D, D, threads, reps, "sgemm_qkv");
    bench_sgemm(N, D, D, threads, reps, "sgemm_proj");
    bench_sgemm(N, M, D, threads, reps, "sgemm_fc1");
    bench_sgemm(N, D, M, threads, reps, "sgemm_fc2");
    rc = 0;
done:
    st2v_cond_free(&cond);
    st2v_vae_stream_free(vs);
    st2v_tokenizer_free(tok);
    st2v_pool_free(pool);
    free(ids), free(z), free(v0), free(v1), free(rgb);
    return rc;
}

static int bench_clip(const st2v_model *m, double seconds, const char *size,
                      int threads)
{
    st2v_params p = st2v_default_params();
    st2v_generator *gen = NULL;
    st2v_stream_info si;
    char err[256];
    p.prompt = "a red ball moving right";
    p.duration = seconds;
    p.threads = threads;
    p.seed = 1;
    if (size && st2v_params_set(&p, "size", size)) {
        fprintf(stderr, "st2v-bench: bad size %s\n", size);
        return -1;
    }
    double t = now(), t_first = 0;
    if (st2v_generator_new(&gen, m, &p, err, sizeof(err))) {
        fprintf(stderr, "st2v-bench: %s\n", err);
        return -1;
    }
    st2v_generator_get_info(gen, &si);
    uint8_t *buf = malloc((size_t)si.width * si.height * 3);
    int64_t frames = 0;
    while (buf && st2v_generator_next_frame(gen, buf, si.width * 3, NULL) ==
                      ST2V_OK) {
        if (frames++ == 0)
            t_first = now() - t;
    }
    t = now() - t;
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    const double video_s = (double)frames * si.fps_den / si.fps_num;
    if (json)
        printf("{\"engine\": \"%s\", \"part\": \"clip\", \"threads\": %d, "
               "\"width\": %d, \"height\": %d, \"frames\": %lld, "
               "\"video_s\": %.4f, \"wall_s\": %.4f, \"realtime_factor\": "
               "%.4f, \"first_frame_ms\": %.2f, \"peak_rss_mb\": %.1f}\n",
               engine, threads, si.width, si.height, (long long)frames, video_s, t,
               video_s / t, t_first * 1e3, ru.ru_maxrss / 1024.0);
    else
        printf("  %d thread%s: %.1f s of video (%lld frames %dx%d) in %.2f s: "
               "%.2fx real time, first frame %.0f ms, peak RSS %.1f MB\n",
               threads, threads > 1 ? "s" : "", video_s, (long long)frames,
               si.width, si.height, t, video_s / t, t_first * 1e3,
               ru.ru_maxrss / 1024.0);
    free(buf);
    st2v_generator_free(gen);
    return 0;
}

static void print_info(const st2v_model *model)
{
    const st2v_world *m = st2v_world_of(model);
    const st2v_config *c = &m->cfg;
    st2v_tokenizer *tok = NULL;
    int32_t ids[4096];
    int n = 0;
    if (c->max_length <= 4096 && st2v_tokenizer_new(&tok, c) == 0)
        n = st2v_tokenize(tok, PROMPT, ids);
    st2v_tokenizer_free(tok);
    printf("{\"T\": %d, \"Hl\": %d, \"Wl\": %d, \"n_text\": %d, \"cz\": %d, "
           "\"pt\": %d, \"dt\": %d, \"width\": %d, \"height\": %d, "
           "\"vector_width\": %d}\n",
           c->window, c->sizes[0][1] / c->s, c->sizes[0][0] / c->s, n,
           c->z_channels, c->patch[0], c->text_dim, c->sizes[0][0],
           c->sizes[0][1], 0);
}

int main(int argc, char **argv)
{
    char path[4096] = "", err[512];
    const char *part = NULL, *size = NULL;
    double seconds = 5;
    int max_threads = (int)sysconf(_SC_NPROCESSORS_ONLN), reps = 5, opt;
    while ((opt = getopt(argc, argv, "m:d:t:r:jP:s:b")) != -1) {
        switch (opt) {
        case 'm': snprintf(path, sizeof(path), "%s", optarg); break;
        case 'd': seconds = atof(optarg); break;
        case 't': max_threads = atoi(optarg); break;
        case 'r': reps = atoi(optarg); break;
        case 'j': json = 1; break;
        case 'P': part = optarg; break;
        case 's': size = optarg; break;
        case 'b': engine = "st2v-bf16"; break;
        default:
            fprintf(stderr, "usage: st2v-bench [-m MODEL] [-t THREADS] "
                            "[-r REPS] [-j] [-b] [-P parts|clip|info] "
                            "[-d SECONDS] [-s WxH]\n");
            return 2;
        }
    }
    if (reps < 1 || reps > MAX_REPS || max_threads < 1) {
        fprintf(stderr, "st2v-bench: -r 1..%d, -t 1..\n", MAX_REPS);
        return 2;
    }
    if (!*path && st2v_default_model_path(path, sizeof(path))) {
        fprintf(stderr, "st2v-bench: no default model: %s\n", path);
        return 1;
    }
    st2v_model *m;
    double t = now();
    st2v_model_params mp = st2v_model_default_params();
    if (!strcmp(engine, "st2v-bf16"))
        mp.compute_dtype = ST2V_DTYPE_BF16;
    if (st2v_model_load_with_params(&m, path, &mp, err, sizeof(err))) {
        fprintf(stderr, "st2v-bench: %s\n", err);
        return 1;
    }
    t = now() - t;
    const st2v_world *w = st2v_world_of(m);
    if (part && !strcmp(part, "info")) {
        if (!w)
            return 1;
        print_info(m);
    } else if (part && !strcmp(part, "parts")) {
        if (w)
            bench_parts(m, max_threads, reps);
    } else if (part && !strcmp(part, "clip")) {
        bench_clip(m, seconds, size, max_threads);
    } else {
        const st2v_model_info *info = st2v_model_get_info(m);
        printf("model %s (%s): %.2fM parameters, loaded in %.1f ms\n",
               info->name, path, info->n_params * 1e-6, t * 1e3);
        printf("analytic cost at default settings (%s, %d steps, cfg %g): "
               "%.1f GFLOP per second of video\n",
               info->default_sampler, info->default_steps, info->default_cfg,
               info->gflop_per_second);
        if (w) { /* the parts of the world model; other families: the clip */
            printf("parts (best and median of %d):\n", reps);
            bench_parts(m, 1, reps);
            if (max_threads > 1)
                bench_parts(m, max_threads, reps);
        }
        printf("whole clip through the public API:\n");
        bench_clip(m, seconds, size, 1);
        if (max_threads > 1)
            bench_clip(m, seconds, size, max_threads);
    }
    st2v_model_free(m);
    return 0;
}
