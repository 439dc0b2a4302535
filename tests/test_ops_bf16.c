/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test_ops_bf16.c - the bfloat16 matrix product over weights where they
 * lie (core/ops_bf16.c) against a float64 reference of the same
 * bfloat16-rounded inputs, on shapes that hit every edge: k not a multiple
 * of 32, k over the block of k (up to Wan's 8,960), rows and outputs not
 * multiples of the micro-kernel or the task, strided x and y, accumulate.
 * Also: x rounded to nearest even, the same bits for pools of 1, 2 and 3
 * threads, st2v_wmatmul() taking the path for BF16 views that ask for it
 * (and float32 for others), and the fallback where the CPU lacks
 * AVX512-BF16 or ST2V_CPU caps it (tests/run-tests.sh runs this again
 * with ST2V_CPU=avx2 and generic).
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "ops_bf16.h"
#include "pool.h"
#include "test_util.h"
#include "wtensor.h"

/* max |got - want| / max |want|, against the float64 reference */
#define TOL 1e-6

static uint64_t rng_state = 0x2545F4914F6CDD1Dull;

static float urand(void) /* [-1, 1) */
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (float)((rng_state >> 40) * (2.0 / 16777216.0) - 1.0);
}

/* float32 -> bfloat16 bits, nearest even (no NaN here) */
static uint16_t to_bf16(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof(u));
    u += 0x7fffu + ((u >> 16) & 1u);
    return (uint16_t)(u >> 16);
}

static double from_bf16(uint16_t h)
{
    const uint32_t u = (uint32_t)h << 16;
    float f;
    memcpy(&f, &u, sizeof(f));
    return f;
}

/* y (n, out) = bf16(x) (n, in, stride ldx) . W^T, in float64 */
static void reference(double *y, const float *x, int64_t ldx,
                      const uint16_t *w, int64_t n, int64_t out, int64_t in)
{
    double *xr = malloc((size_t)in * sizeof(double));
    for (int64_t r = 0; r < n; r++) {
        for (int64_t k = 0; k < in; k++)
            xr[k] = from_bf16(to_bf16(x[r * ldx + k]));
        for (int64_t o = 0; o < out; o++) {
            double s = 0.0;
            const uint16_t *wo = w + o * in;
            for (int64_t k = 0; k < in; k++)
                s += xr[k] * from_bf16(wo[k]);
            y[r * out + o] = s;
        }
    }
    free(xr);
}

/* A problem: x (n, in) with row stride ldx, W (out, in) bf16 at `off`
 * bytes past an aligned buffer (any alignment, as in a file). */
typedef struct problem {
    int64_t n, out, in, ldx, ldy;
    float *x;                   /* (n, ldx) */
    uint8_t *wbuf;              /* out * in * 2 + off bytes */
    const uint16_t *w;          /* (out, in) */
} problem;

static int make(problem *p, int64_t n, int64_t out, int64_t in, int pad,
                int off)
{
    p->n = n, p->out = out, p->in = in;
    p->ldx = in + pad, p->ldy = out + pad;
    p->x = malloc((size_t)(n * p->ldx) * sizeof(float));
    p->wbuf = malloc((size_t)(out * in) * 2 + (size_t)off);
    if (!p->x || !p->wbuf)
        return -1;
    for (int64_t i = 0; i < n * p->ldx; i++)
        p->x[i] = urand();
    uint16_t *w = (uint16_t *)(void *)(p->wbuf + off);
    for (int64_t i = 0; i < out * in; i++) {
        const uint16_t h = to_bf16(0.1f * urand());
        memcpy((uint8_t *)w + 2 * i, &h, sizeof(h));
    }
    p->w = w;
    return 0;
}

static void drop(problem *p)
{
    free(p->x);
    free(p->wbuf);
}

/* y (n, ldy) by the kernel, from a start of 0.5 everywhere; 0 if declined */
static int run(const problem *p, st2v_pool *pool, float *y, int accumulate)
{
    for (int64_t i = 0; i < p->n * p->ldy; i++)
        y[i] = 0.5f;
    /* one float past an aligned start: the scratch need not be aligned */
    float *scr =
        st2v_alloc_floats(st2v_bf16_matmul_scratch(pool, p->in) + 1);
    int done = scr && st2v_bf16_matmul(pool, y, p->ldy, p->x, p->ldx, p->w,
                                       p->out, p->in, p->n, accumulate,
                                       scr + 1);
    st2v_free(scr);
    return done;
}

/* A product under test: how it runs, whether this CPU has it, and its
 * float64 reference. */
typedef struct kind {
    int (*run)(const struct problem *p, st2v_pool *pool, float *y,
               int accumulate);
    int (*supported)(void);
    void (*reference)(double *y, const float *x, int64_t ldx,
                      const uint16_t *w, int64_t n, int64_t out, int64_t in);
} kind;

static void one_shape_of(const kind *k, int64_t n, int64_t out, int64_t in,
                         int pad, int off, int accumulate)
{
    problem p;
    REQUIRE(make(&p, n, out, in, pad, off) == 0, "alloc");
    float *y = malloc((size_t)(n * p.ldy) * sizeof(float));
    double *want = malloc((size_t)(n * out) * sizeof(double));
    REQUIRE(y && want, "alloc");
    if (!k->run(&p, NULL, y, accumulate)) {
        CHECK(!k->supported(), "declined where supported");
    } else {
        k->reference(want, p.x, p.ldx, p.w, n, out, in);
        double md = 0.0, mr = 0.0;
        int outside = 0;
        for (int64_t r = 0; r < n; r++) {
            for (int64_t o = 0; o < out; o++) {
                const double wv = want[r * out + o] + (accumulate ? 0.5 : 0);
                const double d = fabs(y[r * p.ldy + o] - wv);
                if (!(d <= md))
                    md = d;
                mr = fabs(wv) > mr ? fabs(wv) : mr;
            }
            for (int64_t o = out; o < p.ldy; o++)
                outside |= y[r * p.ldy + o] != 0.5f;
        }
        const double e = md / (mr > 0 ? mr : 1.0);
        printf("     n %lld out %lld in %lld pad %d off %d acc %d: max rel "
               "err %.3g\n", (long long)n, (long long)out, (long long)in,
               pad, off, accumulate, e);
        CHECK(e <= TOL, "n %lld out %lld in %lld: max rel err %.3g",
              (long long)n, (long long)out, (long long)in, e);
        CHECK(!outside, "columns past out were written");
    }
    free(y);
    free(want);
    drop(&p);
}

static const kind BF16 = {run, st2v_bf16_matmul_supported, reference};

static void one_shape(int64_t n, int64_t out, int64_t in, int pad, int off,
                      int accumulate)
{
    one_shape_of(&BF16, n, out, in, pad, off, accumulate);
}

/* ------------------------------------------------------------- tests */

static void product_matches_float64_of_the_rounded_inputs_on_odd_shapes(void)
{
    if (!st2v_bf16_matmul_supported())
        printf("     (no AVX512-BF16 here: the kernel declines)\n");
    one_shape(1, 1, 1, 0, 0, 0);
    one_shape(3, 5, 7, 1, 2, 0);
    one_shape(4, 6, 32, 0, 0, 1);
    one_shape(5, 7, 33, 3, 6, 0);
    one_shape(67, 13, 1536, 0, 2, 0);      /* Wan's dim */
    one_shape(130, 259, 95, 5, 0, 1);      /* two tasks each way */
    one_shape(257, 7, 2049, 0, 0, 0);      /* one past the block of k */
    one_shape(9, 300, 4113, 2, 4, 1);      /* text_dim + 17 */
    one_shape(131, 37, 8960, 0, 2, 0);     /* Wan's ffn_dim */
}

static void input_is_rounded_to_nearest_even(void)
{
    /* x . 1 over one input: the rounded x itself. 1 + 2^-8 lies halfway
     * between 1 and 1 + 2^-7 (even: 1); 1 + 3 2^-8 between 1 + 2^-7 and
     * 1 + 2^-6 (even: 1 + 2^-6); just above a half rounds up. */
    const float xs[4] = {1.0f + 0x1p-8f, 1.0f + 3 * 0x1p-8f,
                         1.0f + 0x1p-8f + 0x1p-20f, -(1.0f + 0x1p-8f)};
    const float want[4] = {1.0f, 1.0f + 0x1p-6f, 1.0f + 0x1p-7f, -1.0f};
    const uint16_t one = 0x3f80;
    float y[4];
    float *scr = st2v_alloc_floats(st2v_bf16_matmul_scratch(NULL, 1));
    REQUIRE(scr, "scratch");
    if (!st2v_bf16_matmul(NULL, y, 1, xs, 1, &one, 1, 1, 4, 0, scr)) {
        CHECK(!st2v_bf16_matmul_supported(), "declined where supported");
    } else {
        for (int i = 0; i < 4; i++)
            CHECK(y[i] == want[i], "x %.9g -> %.9g, expected %.9g",
                  (double)xs[i], (double)y[i], (double)want[i]);
    }
    st2v_free(scr);
}

/* k's product with pools of 1, 2 and 3 threads gives the serial bits. */
static void pools_give_identical_bits(const kind *k, const char *none)
{
    problem p;
    REQUIRE(make(&p, 300, 600, 2100, 1, 2) == 0, "alloc");
    const size_t ny = (size_t)(p.n * p.ldy);
    float *y[4];
    for (int i = 0; i < 4; i++)
        REQUIRE((y[i] = malloc(ny * sizeof(float))) != NULL, "alloc");
    int done = k->run(&p, NULL, y[0], 1);
    for (int t = 1; t <= 3 && done; t++) {
        st2v_pool *pool = NULL;
        REQUIRE(st2v_pool_new(&pool, t) == 0, "pool");
        CHECK(k->run(&p, pool, y[t], 1), "pool of %d declined", t);
        CHECK(memcmp(y[0], y[t], ny * sizeof(float)) == 0,
              "%d threads differ from serial", t);
        st2v_pool_free(pool);
    }
    if (!done)
        printf("     (no %s here: nothing to compare)\n", none);
    for (int i = 0; i < 4; i++)
        free(y[i]);
    drop(&p);
}

static void pools_of_1_2_and_3_threads_give_identical_bits(void)
{
    pools_give_identical_bits(&BF16, "AVX512-BF16");
}

static void wmatmul_takes_the_bf16_path_for_bf16_views_that_ask(void)
{
    problem p;
    REQUIRE(make(&p, 70, 90, 300, 0, 0) == 0, "alloc");
    st2v_wview v = {.data = p.w, .dtype = ST_BF16, .rows = p.out,
                    .cols = p.in, .scale = 1.0f, .bf16 = 1};
    const size_t ny = (size_t)(p.n * p.out);
    float *direct = malloc(ny * sizeof(float));
    float *viewed = malloc(ny * sizeof(float));
    float *f32 = malloc(ny * sizeof(float));
    st2v_pool *pool = NULL;
    REQUIRE(direct && viewed && f32 && st2v_pool_new(&pool, 2) == 0,
            "alloc");
    float *scr = st2v_alloc_floats(st2v_wmatmul_scratch(pool, p.in));
    REQUIRE(scr, "scratch");
    const int done = run(&p, pool, direct, 0);
    st2v_wmatmul(pool, viewed, p.out, p.x, p.in, &v, p.n, 0, scr);
    v.bf16 = 0;
    st2v_wmatmul(pool, f32, p.out, p.x, p.in, &v, p.n, 0, scr);
    if (done) {
        CHECK(memcmp(direct, viewed, ny * sizeof(float)) == 0,
              "st2v_wmatmul of a bf16 view is not the BF16 path");
        CHECK(memcmp(f32, viewed, ny * sizeof(float)) != 0,
              "the BF16 path gave float32's bits");
    } else {
        CHECK(memcmp(f32, viewed, ny * sizeof(float)) == 0,
              "without AVX512-BF16 a bf16 view is not float32");
        printf("     (no AVX512-BF16 here: float32 for every view)\n");
    }
    /* and float32 against the BF16 path: within bfloat16's rounding */
    const double e = tu_max_rel_err(viewed, f32, ny);
    printf("     bf16 path vs float32: max rel err %.3g\n", e);
    CHECK(e < 1e-2, "bf16 vs float32: %.3g", e);
    /* a float32 view asking for it stays float32 (the kernel reads bf16) */
    float *wf = malloc((size_t)(p.out * p.in) * sizeof(float));
    REQUIRE(wf, "alloc");
    for (int64_t i = 0; i < p.out * p.in; i++)
        wf[i] = (float)from_bf16(p.w[i]);
    st2v_wview vf = {.data = wf, .dtype = ST_F32, .rows = p.out,
                     .cols = p.in, .scale = 1.0f, .bf16 = 1};
    st2v_wmatmul(pool, viewed, p.out, p.x, p.in, &vf, p.n, 0, scr);
    vf.bf16 = 0;
    st2v_wmatmul(pool, f32, p.out, p.x, p.in, &vf, p.n, 0, scr);
    CHECK(memcmp(f32, viewed, ny * sizeof(float)) == 0,
          "an F32 view left float32");
    free(wf);
    st2v_free(scr);
    st2v_pool_free(pool);
    free(direct), free(viewed), free(f32);
    drop(&p);
}

/* ---------------------------------------- the float32 sibling (bf16w) */

/* y (n, out) = x (n, in, stride ldx, not rounded) . W^T, in float64 */
static void reference_f32(double *y, const float *x, int64_t ldx,
                          const uint16_t *w, int64_t n, int64_t out,
                          int64_t in)
{
    for (int64_t r = 0; r < n; r++)
        for (int64_t o = 0; o < out; o++) {
            double s = 0.0;
            const uint16_t *wo = w + o * in;
            for (int64_t k = 0; k < in; k++)
                s += (double)x[r * ldx + k] * from_bf16(wo[k]);
            y[r * out + o] = s;
        }
}

/* y (n, ldy) by the float32 kernel, from 0.5 everywhere; 0 if declined */
static int run_f32(const problem *p, st2v_pool *pool, float *y,
                   int accumulate)
{
    for (int64_t i = 0; i < p->n * p->ldy; i++)
        y[i] = 0.5f;
    float *scr =
        st2v_alloc_floats(st2v_bf16w_matmul_f32_scratch(pool, p->in) + 1);
    int done = scr && st2v_bf16w_matmul_f32(pool, y, p->ldy, p->x, p->ldx,
                                            p->w, p->out, p->in, p->n,
                                            accumulate, scr + 1);
    st2v_free(scr);
    return done;
}

static const kind F32W = {run_f32, st2v_bf16w_matmul_f32_supported,
                          reference_f32};

static void one_shape_f32(int64_t n, int64_t out, int64_t in, int pad,
                          int off, int accumulate)
{
    one_shape_of(&F32W, n, out, in, pad, off, accumulate);
}

static void f32_product_matches_float64_of_the_exact_inputs(void)
{
    if (!st2v_bf16w_matmul_f32_supported())
        printf("     (no AVX-512 here: the float32 kernel declines)\n");
    one_shape_f32(1, 1, 1, 0, 0, 0);
    one_shape_f32(3, 5, 7, 1, 2, 0);
    one_shape_f32(4, 6, 32, 0, 0, 1);
    one_shape_f32(7, 9, 33, 3, 6, 0);
    one_shape_f32(67, 13, 1536, 0, 2, 0);
    one_shape_f32(130, 259, 95, 5, 0, 1);
    one_shape_f32(257, 7, 2049, 0, 0, 0);
    one_shape_f32(9, 300, 4113, 2, 4, 1);
    one_shape_f32(131, 37, 8960, 0, 2, 0);
}

static void f32_pools_of_1_2_and_3_threads_give_identical_bits(void)
{
    pools_give_identical_bits(&F32W, "AVX-512");
}

/* st2v_wmatmul of a BF16 view not asking for bf16 compute: the float32
 * kernel where AVX-512 is there (ST2V_CPU not capping it), else tiles
 * widened for OpenBLAS; both within float32 rounding of each other. */
static void wmatmul_takes_the_f32_kernel_for_bf16_views(void)
{
    problem p;
    REQUIRE(make(&p, 70, 90, 300, 0, 0) == 0, "alloc");
    st2v_wview v = {.data = p.w, .dtype = ST_BF16, .rows = p.out,
                    .cols = p.in, .scale = 1.0f, .bf16 = 0};
    const size_t ny = (size_t)(p.n * p.out);
    float *direct = malloc(ny * sizeof(float));
    float *viewed = malloc(ny * sizeof(float));
    float *wf = malloc((size_t)(p.out * p.in) * sizeof(float));
    st2v_pool *pool = NULL;
    REQUIRE(direct && viewed && wf && st2v_pool_new(&pool, 2) == 0,
            "alloc");
    float *scr = st2v_alloc_floats(st2v_wmatmul_scratch(pool, p.in));
    REQUIRE(scr, "scratch");
    const int done = run_f32(&p, pool, direct, 0);
    st2v_wmatmul(pool, viewed, p.out, p.x, p.in, &v, p.n, 0, scr);
    /* the same weights as a float32 view: always OpenBLAS */
    for (int64_t i = 0; i < p.out * p.in; i++)
        wf[i] = (float)from_bf16(p.w[i]);
    st2v_wview vf = {.data = wf, .dtype = ST_F32, .rows = p.out,
                     .cols = p.in, .scale = 1.0f, .bf16 = 0};
    float *blas = malloc(ny * sizeof(float));
    REQUIRE(blas, "alloc");
    st2v_wmatmul(pool, blas, p.out, p.x, p.in, &vf, p.n, 0, scr);
    if (done) {
        CHECK(memcmp(direct, viewed, ny * sizeof(float)) == 0,
              "st2v_wmatmul of a BF16 view is not the float32 kernel");
    } else {
        CHECK(memcmp(blas, viewed, ny * sizeof(float)) == 0,
              "without AVX-512 a BF16 view is not widened for OpenBLAS");
        printf("     (no AVX-512 here: tiles widened for OpenBLAS)\n");
    }
    const double e = tu_max_rel_err(viewed, blas, ny);
    printf("     float32 kernel vs OpenBLAS: max rel err %.3g\n", e);
    CHECK(e < 1e-5, "float32 kernel vs OpenBLAS: %.3g", e);
    free(blas);
    free(wf);
    st2v_free(scr);
    st2v_pool_free(pool);
    free(direct), free(viewed);
    drop(&p);
}

int main(void)
{
    RUN(product_matches_float64_of_the_rounded_inputs_on_odd_shapes);
    RUN(input_is_rounded_to_nearest_even);
    RUN(pools_of_1_2_and_3_threads_give_identical_bits);
    RUN(wmatmul_takes_the_bf16_path_for_bf16_views_that_ask);
    RUN(f32_product_matches_float64_of_the_exact_inputs);
    RUN(f32_pools_of_1_2_and_3_threads_give_identical_bits);
    RUN(wmatmul_takes_the_f32_kernel_for_bf16_views);
    return tu_summary();
}
