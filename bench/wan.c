/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * wan.c - st2v's side of `make bench-wan` (bench/wan.py drives it, with
 * stable-diffusion.cpp interleaved when one is given): the Wan2.1 parts at
 * full size on random weights (train/wan/dit.py --full, umt5.py --full,
 * vae.py), timed in wall and CPU seconds (getrusage: on a shared machine
 * the wall time says little, the CPU time what the work costs).
 *
 *   st2v-bench-wan dit  --weights FILE [-t 2] [-s FRAMESxHxW] [-l LAYERS]
 *                       [-r REPS] [-n CTX_ROWS] [-c f32|bf16]
 *       one DiT forward (one prompt) on a random latent of the video size
 *       FRAMES x H x W (latent 1 + (FRAMES-1)/4 x H/8 x W/8). -l L < the
 *       model's layers: the patch embedding and the first L blocks only
 *       (wan_dit_tokens), also reported scaled to every block
 *       ("scaled": the blocks are alike; the head is a few MFLOP).
 *       -c bf16: compute dtype bf16 (wan_dit_use_bf16: the BF16 linears
 *       in bfloat16 products where the CPU has AVX512-BF16, else float32).
 *   st2v-bench-wan umt5 --weights FILE [-t 2] [-n TOKENS] [-r REPS]
 *                       [-c f32|bf16]
 *       the umT5 encoder on TOKENS real tokens; a file with fewer blocks
 *       than umT5-XXL's 24 is also reported scaled to 24. -c bf16: its
 *       BF16 linears in bfloat16 products (wan_umt5_use_bf16).
 *   st2v-bench-wan vae  --weights FILE [-t 2] [-s FRAMESxHxW] [-r REPS]
 *       the decoder on the first latent frame and on a later one (4 video
 *       frames), of H/8 x W/8 cells; the clip's cost is first + (T-1) later.
 *
 * One JSON line per measurement: {"part", "shape", "threads", "wall",
 * "cpu", "scale"} (seconds; scale: the factor that makes it the whole
 * part, 1 when it ran whole); the DiT's also "compute" (what ran: f32 or
 * bf16) and "gflop", the blocks' matrix products and attention as
 * test_wan_dit.c counts them. Errors: a line on stderr, exit 1.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "pool.h"
#include "safetensors.h"
#include "st2v.h"
#include "wan/dit.h"
#include "wan/umt5.h"
#include "wan/vae.h"

typedef struct opts {
    const char *part, *weights;
    int threads, frames, height, width, layers, reps, rows;
    int bf16;                   /* -c bf16 */
} opts;

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static double cpu_now(void)
{
    struct rusage r;
    getrusage(RUSAGE_SELF, &r);
    return (double)r.ru_utime.tv_sec + 1e-6 * (double)r.ru_utime.tv_usec +
           (double)r.ru_stime.tv_sec + 1e-6 * (double)r.ru_stime.tv_usec;
}

static uint32_t rng = 12345u;
static float frand(void) /* [-1, 1) */
{
    rng = rng * 1664525u + 1013904223u;
    return (float)(rng >> 8) / 8388608.0f - 1.0f;
}

/* compute: NULL, or what the DiT computed in (with its gflop) */
static void report(const opts *o, const char *part, double wall, double cpu,
                   double scale, long tokens, const char *compute,
                   double gflop)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    char extra[96] = "";
    if (compute)
        snprintf(extra, sizeof(extra),
                 ", \"compute\": \"%s\", \"gflop\": %.1f", compute, gflop);
    printf("{\"engine\": \"st2v\", \"part\": \"%s\", \"shape\": \"%dx%dx%d\", "
           "\"threads\": %d, \"tokens\": %ld, \"wall\": %.3f, \"cpu\": %.3f, "
           "\"scale\": %.4f, \"rss_mb\": %.0f%s}\n",
           part, o->frames, o->height, o->width, o->threads, tokens, wall, cpu,
           scale, (double)ru.ru_maxrss / 1024.0, extra);
    fflush(stdout);
}

/* FLOP of `layers` blocks on L tokens and R context rows (as in
 * tests/test_wan_dit.c): the projections, the feed-forward, attention. */
static double block_flops(const wan_dit_config *c, double L, double R,
                          int layers)
{
    const double D = c->dim, Fd = c->ffn_dim;
    const double self = 8 * L * D * D + 4 * L * L * D;
    const double cross = 4 * L * D * D + 4 * R * D * D + 4 * L * R * D;
    return layers * (self + cross + 4 * L * D * Fd);
}

static int bench_dit(const opts *o, st_file *f, st2v_pool *pool)
{
    char err[512] = "";
    wan_dit_config c = wan_dit_config_1_3b();
    if (wan_dit_config_from_file(&c, f, NULL, err, sizeof(err)) != 0) {
        fprintf(stderr, "dit: %s\n", err);
        return 1;
    }
    if (c.num_heads <= 0 || c.dim % c.num_heads)
        c.num_heads = c.dim / 128;
    wan_dit *m = NULL;
    if (wan_dit_load(&m, f, NULL, &c, err, sizeof(err)) != 0) {
        fprintf(stderr, "dit: %s\n", err);
        return 1;
    }
    const int F = 1 + (o->frames - 1) / 4, H = o->height / 8,
              W = o->width / 8;
    const int64_t nx = (int64_t)c.in_dim * F * H * W;
    const int64_t L = (int64_t)F * H * W / 4;
    const int nl = o->layers > 0 && o->layers < c.num_layers ? o->layers
                                                             : c.num_layers;
    const int bf16 = o->bf16 && wan_dit_use_bf16(m, 1);
    const double gflop = block_flops(&c, (double)L, o->rows + 1.0, nl) * 1e-9;
    float *x = malloc((size_t)nx * sizeof(float));          /* (in, F, H, W) */
    float *ctx = malloc((size_t)o->rows * c.text_dim * sizeof(float));
    float *out = malloc((size_t)(nx > L * c.dim ? nx : L * c.dim) *
                        sizeof(float));                 /* (out,F,H,W)|(L,dim) */
    int rc = 1;
    if (x && ctx && out) {
        for (int64_t i = 0; i < nx; i++)
            x[i] = frand();
        for (int64_t i = 0; i < (int64_t)o->rows * c.text_dim; i++)
            ctx[i] = 0.2f * frand();
        rc = 0;
        for (int r = 0; r < o->reps && rc == 0; r++) {
            const double t0 = now(), c0 = cpu_now();
            int st = nl < c.num_layers
                         ? wan_dit_tokens(m, pool, x, F, H, W, 500.0, ctx,
                                          o->rows, nl, out)
                         : wan_dit_forward(m, pool, x, F, H, W, 500.0, ctx,
                                           o->rows, out);
            const double wall = now() - t0, cpu = cpu_now() - c0;
            if (st != 0 || !isfinite(out[0])) {
                fprintf(stderr, "dit: forward failed (%d)\n", st);
                rc = 1;
            } else {
                report(o, "dit", wall, cpu, (double)c.num_layers / nl,
                       (long)L, bf16 ? "bf16" : "f32", gflop);
            }
        }
    }
    free(x), free(ctx), free(out);
    wan_dit_free(m);
    return rc;
}

static int bench_umt5(const opts *o, st_file *f, st2v_pool *pool)
{
    char err[512] = "";
    wan_umt5_config c;
    if (wan_umt5_config_from_file(&c, f, NULL, err, sizeof(err)) != 0) {
        fprintf(stderr, "umt5: %s\n", err);
        return 1;
    }
    wan_umt5 *m = NULL;
    if (wan_umt5_load(&m, f, NULL, &c, err, sizeof(err)) != 0) {
        fprintf(stderr, "umt5: %s\n", err);
        return 1;
    }
    const int bf16 = o->bf16 && wan_umt5_use_bf16(m, 1);
    const int n = o->rows;
    int32_t *ids = malloc((size_t)n * sizeof(int32_t));      /* (n) */
    float *out = malloc((size_t)n * c.dim * sizeof(float)); /* (n, dim) */
    int rc = 1;
    if (ids && out) {
        for (int i = 0; i < n; i++) { /* random ids, </s> last */
            rng = rng * 1664525u + 1013904223u;
            ids[i] = i == n - 1 ? 1 : 100 + (int32_t)((rng >> 8) % 5000u);
        }
        rc = 0;
        for (int r = 0; r < o->reps && rc == 0; r++) {
            const double t0 = now(), c0 = cpu_now();
            int st = wan_umt5_encode(m, pool, ids, n, out);
            const double wall = now() - t0, cpu = cpu_now() - c0;
            if (st != 0) {
                fprintf(stderr, "umt5: encode failed (%d)\n", st);
                rc = 1;
            } else {
                /* the blocks' products (q k v o; gate, fc1, fc2) and
                 * attention */
                const double Da = (double)c.heads * c.head_dim;
                const double gflop =
                    c.layers *
                    (2.0 * n * (4.0 * c.dim * Da + 3.0 * c.dim * c.ffn) +
                     4.0 * (double)n * n * Da) / 1e9;
                report(o, "umt5", wall, cpu, 24.0 / c.layers, n,
                       bf16 ? "bf16" : "f32", gflop);
            }
        }
    }
    free(ids), free(out);
    wan_umt5_free(m);
    return rc;
}

static int bench_vae(const opts *o, st_file *f, st2v_pool *pool)
{
    char err[512] = "";
    wan_vae_config c;
    if (wan_vae_config_from_file(&c, f, NULL, err, sizeof(err)) != 0) {
        fprintf(stderr, "vae: %s\n", err);
        return 1;
    }
    wan_vae *m = NULL;
    if (wan_vae_load(&m, f, NULL, &c, err, sizeof(err)) != 0) {
        fprintf(stderr, "vae: %s\n", err);
        return 1;
    }
    const int hl = o->height / 8, wl = o->width / 8;
    wan_vae_state *s = NULL;
    const size_t nz = (size_t)c.z_dim * hl * wl;
    float *z = malloc(nz * sizeof(float));                   /* (z, hl, wl) */
    float *rgb = malloc((size_t)3 * 4 * 64 * hl * wl * sizeof(float));
    int rc = 1;
    if (z && rgb && wan_vae_state_new(&s, m, hl, wl) == 0) {
        for (size_t i = 0; i < nz; i++)
            z[i] = frand();
        rc = 0;
        for (int r = 0; r < o->reps && rc == 0; r++) {
            wan_vae_state_reset(s);
            for (int k = 0; k < 2 && rc == 0; k++) {
                int nf = 0;
                const double t0 = now(), c0 = cpu_now();
                int st = wan_vae_decode_frame(s, pool, z, rgb, &nf);
                const double wall = now() - t0, cpu = cpu_now() - c0;
                if (st != 0) {
                    fprintf(stderr, "vae: decode failed (%d)\n", st);
                    rc = 1;
                } else {
                    report(o, k ? "vae_later" : "vae_first", wall, cpu, 1.0,
                           (long)hl * wl, NULL, 0);
                }
            }
        }
    }
    wan_vae_state_free(s);
    free(z), free(rgb);
    wan_vae_free(m);
    return rc;
}

int main(int argc, char **argv)
{
    opts o = {.threads = 2, .frames = 17, .height = 320, .width = 512,
              .layers = 0, .reps = 1, .rows = 0};
    if (argc < 2) {
        fprintf(stderr, "usage: st2v-bench-wan dit|umt5|vae --weights FILE "
                        "[-t T] [-s FxHxW] [-l LAYERS] [-r REPS] [-n ROWS] "
                        "[-c f32|bf16]\n");
        return 2;
    }
    o.part = argv[1];
    for (int i = 2; i + 1 < argc; i += 2) {
        const char *a = argv[i], *v = argv[i + 1];
        if (!strcmp(a, "--weights"))
            o.weights = v;
        else if (!strcmp(a, "-t"))
            o.threads = atoi(v);
        else if (!strcmp(a, "-l"))
            o.layers = atoi(v);
        else if (!strcmp(a, "-r"))
            o.reps = atoi(v);
        else if (!strcmp(a, "-n"))
            o.rows = atoi(v);
        else if (!strcmp(a, "-c") && (!strcmp(v, "f32") || !strcmp(v, "bf16")))
            o.bf16 = !strcmp(v, "bf16");
        else if (!strcmp(a, "-s")) {
            if (sscanf(v, "%dx%dx%d", &o.frames, &o.height, &o.width) != 3)
                o.frames = 0;
        } else {
            fprintf(stderr, "st2v-bench-wan: unknown option %s\n", a);
            return 2;
        }
    }
    if (o.rows <= 0)
        o.rows = !strcmp(o.part, "umt5") ? 512 : 30;
    if (!o.weights || o.threads <= 0 || o.frames <= 0 || o.height % 16 ||
        o.width % 16 || o.reps <= 0) {
        fprintf(stderr, "st2v-bench-wan: bad options\n");
        return 2;
    }
    char err[512] = "";
    st_file f;
    if (st_open(&f, o.weights, err, sizeof(err)) != 0) {
        fprintf(stderr, "%s: %s\n", o.weights, err);
        return 1;
    }
    st2v_pool *pool = NULL;
    int rc = 1;
    if (st2v_pool_new(&pool, o.threads) != 0)
        fprintf(stderr, "st2v-bench-wan: pool\n");
    else if (!strcmp(o.part, "dit"))
        rc = bench_dit(&o, &f, pool);
    else if (!strcmp(o.part, "umt5"))
        rc = bench_umt5(&o, &f, pool);
    else if (!strcmp(o.part, "vae"))
        rc = bench_vae(&o, &f, pool);
    else
        fprintf(stderr, "st2v-bench-wan: unknown part %s\n", o.part);
    st2v_pool_free(pool);
    st_close(&f);
    return rc;
}
