/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test_attention.c - the flash attention kernels of attention.h against a
 * float64 softmax attention, on shapes that hit every edge: one query and
 * one key, query blocks past the task's rows and not multiples of the
 * micro-kernel, key blocks past the block size with an odd last block,
 * head widths 16 .. 256, strided rows, a key bias with masked (-inf) keys.
 * The float32 kernel within 1e-5; the bfloat16 one (attention_bf16.c)
 * within its stated 2e-2 of the same float64 attention, and tighter
 * against a float64 attention of the bfloat16-rounded inputs. Both give
 * the same bits for pools of 1, 2 and 3 threads. Where the CPU lacks
 * AVX512-BF16, or ST2V_CPU caps it (tests/run-tests.sh runs this again
 * with avx2 and generic), or the head width is not a multiple of 16, the
 * bfloat16 kernel declines (returns 0) and writes nothing.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "attention.h"
#include "common.h"
#include "pool.h"
#include "test_util.h"

#define TOL_F32 1e-5
#define TOL_BF16 2e-2          /* attention.h's stated tolerance */
#define TOL_BF16_ROUNDED 4e-3  /* against the rounded inputs */

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;

static float urand(void) /* [-1, 1) */
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (float)((rng_state >> 40) * (2.0 / 16777216.0) - 1.0);
}

/* x rounded to bfloat16, nearest even */
static double bf16(double x)
{
    float f = (float)x;
    uint32_t u;
    memcpy(&u, &f, sizeof(u));
    u += 0x7fffu + ((u >> 16) & 1u);
    u &= 0xffff0000u;
    memcpy(&f, &u, sizeof(f));
    return f;
}

typedef struct problem {
    int nq, nk, heads, hd, ld;  /* ld: row stride of q, k, v and out */
    int bias;                   /* a key bias, every third key masked */
    float *q, *k, *v, *kb;      /* (nq, ld), (nk, ld), (nk, ld), (nk) */
} problem;

static void make(problem *p, int nq, int nk, int heads, int hd, int pad,
                 int bias)
{
    *p = (problem){.nq = nq, .nk = nk, .heads = heads, .hd = hd,
                   .ld = heads * hd + pad, .bias = bias};
    p->q = malloc((size_t)nq * p->ld * sizeof(float));
    p->k = malloc((size_t)nk * p->ld * sizeof(float));
    p->v = malloc((size_t)nk * p->ld * sizeof(float));
    p->kb = malloc((size_t)nk * sizeof(float));
    /* logits of standard deviation 3 (max about 10): q, k uniform in
     * [-3, 3), so q.k / sqrt(hd) has variance 3 * 3 */
    for (int64_t i = 0; i < (int64_t)nq * p->ld; i++)
        p->q[i] = 3.0f * urand();
    for (int64_t i = 0; i < (int64_t)nk * p->ld; i++) {
        p->k[i] = 3.0f * urand();
        p->v[i] = urand();
    }
    for (int j = 0; j < nk; j++)
        p->kb[j] = j % 3 == 2 ? -INFINITY : 0.5f * urand();
}

static void drop(problem *p)
{
    free(p->q), free(p->k), free(p->v), free(p->kb);
}

/* want (nq, heads * hd) in float64; rounded: q * scale, k, v and the
 * probabilities rounded to bfloat16 as the bf16 kernel rounds them */
static void reference(const problem *p, double *want, int rounded)
{
    const int hd = p->hd, D = p->heads * hd;
    const double scale = 1.0 / sqrt((double)hd);
    double *s = malloc((size_t)p->nk * sizeof(double));
    for (int h = 0; h < p->heads; h++)
        for (int r = 0; r < p->nq; r++) {
            const float *q = p->q + (int64_t)r * p->ld + h * hd;
            double mx = -INFINITY, sum = 0.0;
            for (int j = 0; j < p->nk; j++) {
                const float *k = p->k + (int64_t)j * p->ld + h * hd;
                double d = 0.0;
                for (int e = 0; e < hd; e++)
                    d += rounded ? bf16((float)(q[e] * (float)scale)) * bf16(k[e])
                                 : q[e] * scale * k[e];
                s[j] = d + (p->bias ? p->kb[j] : 0.0);
                mx = fmax(mx, s[j]);
            }
            for (int j = 0; j < p->nk; j++)
                sum += s[j] = exp(s[j] - mx);
            for (int e = 0; e < hd; e++) {
                double o = 0.0;
                for (int j = 0; j < p->nk; j++) {
                    const double v = p->v[(int64_t)j * p->ld + h * hd + e];
                    o += rounded ? bf16(s[j]) * bf16(v) : s[j] * v;
                }
                want[(int64_t)r * D + h * hd + e] = o / sum;
            }
        }
    free(s);
}

/* out (nq, ld) from one kernel; returns what the kernel returned (1 for
 * the float32 one) */
static int run(const problem *p, st2v_pool *pool, int use_bf16, float *out)
{
    const size_t n = st2v_flash_attention_scratch(pool, p->hd);
    float *scratch = malloc(n * sizeof(float));
    const float *kb = p->bias ? p->kb : NULL;
    int rc = 1;
    if (use_bf16)
        rc = st2v_flash_attention_bf16(pool, out, p->ld, p->q, p->ld, p->k,
                                       p->ld, p->v, p->ld, p->nq, p->nk,
                                       p->heads, p->hd, kb, scratch);
    else
        st2v_flash_attention(pool, out, p->ld, p->q, p->ld, p->k, p->ld, p->v,
                             p->ld, p->nq, p->nk, p->heads, p->hd, kb, scratch);
    free(scratch);
    return rc;
}

/* max |got - want| / max |want| over the heads' columns */
static double rel_err(const problem *p, const float *got, const double *want)
{
    const int D = p->heads * p->hd;
    double num = 0.0, den = 0.0;
    for (int r = 0; r < p->nq; r++)
        for (int c = 0; c < D; c++) {
            const double w = want[(int64_t)r * D + c];
            num = fmax(num, fabs(got[(int64_t)r * p->ld + c] - w));
            den = fmax(den, fabs(w));
        }
    return num / den;
}

static const struct shape {
    int nq, nk, heads, hd, pad, bias;
} SHAPES[] = {
    {1, 1, 1, 16, 0, 0},        /* one query, one key */
    {7, 5, 2, 48, 3, 1},        /* the world model's head width, masked */
    {300, 513, 3, 128, 5, 0},   /* past a query task and two key blocks */
    {257, 257, 2, 128, 0, 1},   /* one row and one key past a block */
    {70, 40, 1, 256, 0, 0},     /* the widest head */
    {65, 300, 12, 64, 0, 1},
};

static void both_kernels_match_float64_attention(void)
{
    const int bf16_ok = st2v_flash_attention_bf16_supported(128);
    for (size_t i = 0; i < ST2V_ARRAY_SIZE(SHAPES); i++) {
        const struct shape *s = &SHAPES[i];
        problem p;
        make(&p, s->nq, s->nk, s->heads, s->hd, s->pad, s->bias);
        const size_t no = (size_t)p.nq * p.ld, nw = (size_t)p.nq * p.heads * p.hd;
        float *got = malloc(no * sizeof(float));
        double *want = malloc(nw * sizeof(double));
        double *want_r = malloc(nw * sizeof(double));
        reference(&p, want, 0);
        reference(&p, want_r, 1);
        run(&p, NULL, 0, got);
        const double e32 = rel_err(&p, got, want);
        CHECK(e32 <= TOL_F32, "%dx%d keys, %d heads of %d: float32 %.3g",
              p.nq, p.nk, p.heads, p.hd, e32);
        if (bf16_ok) {
            REQUIRE(run(&p, NULL, 1, got) == 1, "bf16 kernel declined hd %d",
                    p.hd);
            const double e = rel_err(&p, got, want), er = rel_err(&p, got, want_r);
            printf("     %3d x %3d keys, %2d heads of %3d%s: float32 %.2e, "
                   "bf16 %.2e (vs rounded inputs %.2e)\n",
                   p.nq, p.nk, p.heads, p.hd, p.bias ? ", masked" : "", e32, e,
                   er);
            CHECK(e <= TOL_BF16, "bf16 %.3g", e);
            CHECK(er <= TOL_BF16_ROUNDED, "bf16 vs rounded inputs %.3g", er);
        }
        free(got), free(want), free(want_r);
        drop(&p);
    }
    if (!bf16_ok)
        printf("     (no AVX512-BF16 here: the bf16 kernel declines)\n");
}

static void pools_of_1_2_and_3_threads_give_identical_bits(void)
{
    problem p;
    make(&p, 300, 513, 3, 128, 0, 1);
    const size_t no = (size_t)p.nq * p.ld;
    float *one = malloc(no * sizeof(float)), *got = malloc(no * sizeof(float));
    for (int use_bf16 = 0; use_bf16 < 2; use_bf16++) {
        if (use_bf16 && !st2v_flash_attention_bf16_supported(p.hd))
            break;
        run(&p, NULL, use_bf16, one);
        for (int threads = 1; threads <= 3; threads++) {
            st2v_pool *pool = NULL;
            REQUIRE(st2v_pool_new(&pool, threads) == ST2V_OK, "pool of %d",
                    threads);
            memset(got, 0, no * sizeof(float));
            run(&p, pool, use_bf16, got);
            CHECK(!memcmp(one, got, no * sizeof(float)),
                  "%s: %d threads differ from serial",
                  use_bf16 ? "bf16" : "float32", threads);
            st2v_pool_free(pool);
        }
    }
    free(one), free(got);
    drop(&p);
}

static void bf16_kernel_declines_what_it_cannot_run(void)
{
    problem p;
    make(&p, 9, 9, 2, 40, 0, 0);
    float *got = malloc((size_t)p.nq * p.ld * sizeof(float));
    for (int64_t i = 0; i < (int64_t)p.nq * p.ld; i++)
        got[i] = 7.0f;
    /* hd 40: not a multiple of 16 */
    CHECK(!st2v_flash_attention_bf16_supported(40), "hd 40 supported");
    CHECK(run(&p, NULL, 1, got) == 0, "hd 40 ran");
    CHECK(!st2v_flash_attention_bf16_supported(272), "hd 272 supported");
    CHECK(!st2v_flash_attention_bf16_supported(0), "hd 0 supported");
    int untouched = 1;
    for (int64_t i = 0; i < (int64_t)p.nq * p.ld; i++)
        untouched &= got[i] == 7.0f;
    CHECK(untouched, "a declined call wrote its output");
    free(got);
    drop(&p);
}

int main(void)
{
    RUN(both_kernels_match_float64_attention);
    RUN(pools_of_1_2_and_3_threads_give_identical_bits);
    RUN(bf16_kernel_declines_what_it_cannot_run);
    return tu_summary();
}
