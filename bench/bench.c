/*
 * bench.c - `make bench`: how fast the engine runs on this machine, in
 * ratios that are comparable within one run (machines here are shared and
 * noisy, so nothing here is a pass/fail test).
 *
 * For the model given (default: the default model) it times, with 1 thread
 * and with all threads: one text encoding, one DiT forward over a full
 * window, one decoder latent frame, and a whole clip through the public
 * API; and it compares the achieved GFLOP/s with the analytic cost.
 *
 * Usage: build/bin/st2v-bench [-m MODEL] [-d SECONDS] [-t THREADS]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "pool.h"
#include "st2v.h"
#include "st2v/cost.h"
#include "st2v/dit.h"
#include "st2v/model.h"
#include "st2v/text_encoder.h"
#include "st2v/tokenizer.h"
#include "st2v/vae.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* Best of `reps` runs of a step, in seconds. */
#define BEST_OF(reps, best, stmt)                                             \
    do {                                                                      \
        best = 1e30;                                                          \
        for (int r_ = 0; r_ < (reps); r_++) {                                 \
            double t_ = now();                                                \
            stmt;                                                             \
            t_ = now() - t_;                                                  \
            if (t_ < best)                                                    \
                best = t_;                                                    \
        }                                                                     \
    } while (0)

static int bench_parts(const st2v_world *m, int threads)
{
    const st2v_config *c = &m->cfg;
    int w = c->sizes[0][0], h = c->sizes[0][1];
    int Hl = h / c->s, Wl = w / c->s, T = c->window;
    int64_t n_lat = (int64_t)c->z_channels * T * Hl * Wl;
    st2v_pool *pool = NULL;
    st2v_tokenizer *tok = NULL;
    st2v_vae_stream *vs = NULL;
    int32_t *ids = malloc(sizeof(int32_t) * c->max_length);
    float *text = malloc(sizeof(float) * c->max_length * c->text_dim);
    float *kv = malloc(sizeof(float) * st2v_dit_text_floats(m, c->max_length));
    float *z = calloc((size_t)n_lat, sizeof(float));
    float *v = malloc(sizeof(float) * (size_t)n_lat);
    float *rgb = malloc(sizeof(float) * 3 * (size_t)c->ft * w * h);
    float tt[256];
    double t_text, t_dit, t_dec;
    int rc = -1;

    if (!ids || !text || !kv || !z || !v || !rgb ||
        st2v_pool_new(&pool, threads) || st2v_tokenizer_new(&tok, c) ||
        st2v_vae_stream_new(&vs, m, Hl, Wl))
        goto done;
    int n = st2v_tokenize(tok, "a red ball bounces on a green screen", ids);
    for (int i = 0; i < T / c->patch[0] && i < 256; i++)
        tt[i] = 0.5f;

    BEST_OF(5, t_text, st2v_text_encode(m, pool, ids, n, text);
            st2v_dit_prepare_text(m, pool, text, n, kv));
    BEST_OF(3, t_dit, st2v_dit_forward(m, pool, v, z, T, Hl, Wl, tt, 0, kv, n));
    BEST_OF(3, t_dec, st2v_vae_decode_frame(vs, pool, z, rgb));

    st2v_cost one_dit, one_dec;
    st2v_cost_estimate(c, w, h, (int64_t)T * c->ft, 1, 1, n, &one_dit);
    st2v_cost_estimate(c, w, h, c->ft, 1, 1, n, &one_dec);
    printf("  %d thread%s: text %.2f ms | DiT forward (%d latent frames, "
           "%dx%d) %.1f ms, %.1f GFLOP/s | decoder frame %.1f ms, %.1f "
           "GFLOP/s\n",
           threads, threads > 1 ? "s" : "", t_text * 1e3, T, w, h, t_dit * 1e3,
           one_dit.dit / t_dit * 1e-9, t_dec * 1e3,
           one_dec.decoder / t_dec * 1e-9);
    rc = 0;
done:
    st2v_vae_stream_free(vs);
    st2v_tokenizer_free(tok);
    st2v_pool_free(pool);
    free(ids), free(text), free(kv), free(z), free(v), free(rgb);
    return rc;
}

static int bench_clip(const st2v_model *m, double seconds, int threads)
{
    st2v_params p = st2v_default_params();
    st2v_generator *gen = NULL;
    st2v_stream_info si;
    char err[256];
    p.prompt = "a red ball moving right";
    p.duration = seconds;
    p.threads = threads;
    p.seed = 1;
    if (st2v_generator_new(&gen, m, &p, err, sizeof(err))) {
        fprintf(stderr, "st2v-bench: %s\n", err);
        return -1;
    }
    st2v_generator_get_info(gen, &si);
    uint8_t *buf = malloc((size_t)si.width * si.height * 3);
    double t = now();
    int64_t frames = 0;
    int rc;
    while (buf && (rc = st2v_generator_next_frame(gen, buf, si.width * 3,
                                                   NULL)) == ST2V_OK)
        frames++;
    t = now() - t;
    printf("  %d thread%s: %.1f s of video (%lld frames %dx%d) in %.2f s: "
           "%.2fx real time\n",
           threads, threads > 1 ? "s" : "", seconds, (long long)frames,
           si.width, si.height, t, seconds / t);
    free(buf);
    st2v_generator_free(gen);
    return 0;
}

int main(int argc, char **argv)
{
    char path[4096] = "", err[512];
    double seconds = 4;
    int max_threads = (int)sysconf(_SC_NPROCESSORS_ONLN), opt;
    while ((opt = getopt(argc, argv, "m:d:t:")) != -1) {
        switch (opt) {
        case 'm': snprintf(path, sizeof(path), "%s", optarg); break;
        case 'd': seconds = atof(optarg); break;
        case 't': max_threads = atoi(optarg); break;
        default:
            fprintf(stderr, "usage: st2v-bench [-m MODEL] [-d SECONDS] [-t THREADS]\n");
            return 2;
        }
    }
    if (!*path && st2v_default_model_path(path, sizeof(path))) {
        fprintf(stderr, "st2v-bench: no default model: %s\n", path);
        return 1;
    }
    st2v_model *m;
    double t = now();
    if (st2v_model_load(&m, path, err, sizeof(err))) {
        fprintf(stderr, "st2v-bench: %s\n", err);
        return 1;
    }
    t = now() - t;
    const st2v_model_info *info = st2v_model_get_info(m);
    printf("model %s (%s): %.2fM parameters, loaded in %.1f ms\n", info->name,
           path, info->n_params * 1e-6, t * 1e3);
    printf("analytic cost at default settings (%s, %d steps, cfg %g): %.1f "
           "GFLOP per second of video\n",
           info->default_sampler, info->default_steps, info->default_cfg,
           info->gflop_per_second);
    const st2v_world *w = st2v_world_of(m);
    if (w) { /* the parts of the world model; other families: the clip */
        printf("parts (best of 3-5):\n");
        bench_parts(w, 1);
        if (max_threads > 1)
            bench_parts(w, max_threads);
    }
    printf("whole clip through the public API:\n");
    bench_clip(m, seconds, 1);
    if (max_threads > 1)
        bench_clip(m, seconds, max_threads);
    st2v_model_free(m);
    return 0;
}
