/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test_ops.c - every optimised kernel of core/ops.c against a plain
 * triple-loop reference (in double) on random data, with sizes chosen to
 * hit the block edges: rows not a multiple of the row block, odd query and
 * key counts, convolutions with kt 1..3 and non-square frames. Also: the
 * pool runs every block exactly once, and kernels give the same bits for
 * 1, 2 and 3 threads.
 */
#include <cblas.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "ops.h"
#include "pool.h"
#include "test_util.h"

#define TOL 2e-5

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;

/* Uniform in [-1, 1), from a fixed xorshift stream. */
static float urand(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (float)((rng_state >> 40) * (2.0 / 16777216.0) - 1.0);
}

static float *rand_floats(size_t n, float scale)
{
    float *p = malloc(n * sizeof(float));
    for (size_t i = 0; i < n; i++)
        p[i] = scale * urand();
    return p;
}

/* max |got - want| / max |want| over n values. */
static double rel_err_d(const float *got, const double *want, size_t n)
{
    double md = 0.0, mr = 0.0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)got[i] - want[i]);
        if (!(d <= md))
            md = d;
        if (fabs(want[i]) > mr)
            mr = fabs(want[i]);
    }
    return md / (mr > 0 ? mr : 1.0);
}

/* ================================================================ pool */

typedef struct count_arg {
    int *hits;                  /* (n) */
    int64_t max_block;
    int bad_bounds;
} count_arg;

static void count_task(void *varg, int64_t begin, int64_t end)
{
    count_arg *a = varg;
    if (end - begin > a->max_block || begin % a->max_block)
        a->bad_bounds = 1;
    for (int64_t i = begin; i < end; i++)
        __atomic_fetch_add(&a->hits[i], 1, __ATOMIC_RELAXED);
}

static void pool_runs_every_item_exactly_once_in_grain_aligned_blocks(void)
{
    for (int threads = 1; threads <= 4; threads++) {
        st2v_pool *pool = NULL;
        int rc = st2v_pool_new(&pool, threads);
        REQUIRE(rc == 0, "pool_new(%d)", threads);
        CHECK(st2v_pool_threads(pool) == threads, "threads %d", threads);
        for (int rep = 0; rep < 50; rep++) {
            const int64_t n = 1 + rep * 37, grain = 1 + rep % 9;
            int *hits = calloc((size_t)n, sizeof(int));
            count_arg a = {.hits = hits, .max_block = grain};
            st2v_pool_for(pool, n, grain, count_task, &a);
            int ok = !a.bad_bounds;
            for (int64_t i = 0; i < n; i++)
                ok &= hits[i] == 1;
            CHECK(ok, "threads %d n %lld grain %lld", threads, (long long)n,
                  (long long)grain);
            free(hits);
        }
        st2v_pool_free(pool);
    }
    CHECK(st2v_pool_threads(NULL) == 1, "NULL pool has one thread");
}

typedef struct nest_arg {
    st2v_pool *pool;
    int threads;
    int bad;                    /* a slot out of range, or not restored */
    int inner_runs;
} nest_arg;

static void nest_inner(void *varg, int64_t begin, int64_t end)
{
    nest_arg *a = varg;
    if (st2v_pool_slot() != 0)
        __atomic_store_n(&a->bad, 1, __ATOMIC_RELAXED);
    __atomic_fetch_add(&a->inner_runs, (int)(end - begin), __ATOMIC_RELAXED);
}

static void nest_outer(void *varg, int64_t begin, int64_t end)
{
    nest_arg *a = varg;
    (void)begin, (void)end;
    int slot = st2v_pool_slot();
    if (slot < 0 || slot >= a->threads)
        __atomic_store_n(&a->bad, 1, __ATOMIC_RELAXED);
    st2v_pool_for(a->pool, 5, 1, nest_inner, a);   /* runs serially */
    st2v_pool_for(NULL, 3, 1, nest_inner, a);
    if (st2v_pool_slot() != slot)
        __atomic_store_n(&a->bad, 1, __ATOMIC_RELAXED);
}

static void pool_slots_stay_in_range_and_nested_calls_run_serially(void)
{
    st2v_pool *pool = NULL;
    int rc = st2v_pool_new(&pool, 3);
    REQUIRE(rc == 0, "pool");
    nest_arg a = {.pool = pool, .threads = 3};
    st2v_pool_for(pool, 40, 1, nest_outer, &a);
    CHECK(!a.bad, "slots");
    CHECK(a.inner_runs == 40 * 8, "inner items %d", a.inner_runs);
    CHECK(st2v_pool_slot() == 0, "caller slot back to 0");
    st2v_pool_free(pool);
}

static void pool_rejects_zero_threads(void)
{
    st2v_pool *pool = (st2v_pool *)1;
    CHECK(st2v_pool_new(&pool, 0) == ST2V_ERR_INVALID_ARG, "0 threads");
    CHECK(pool == NULL, "out cleared");
    st2v_pool_free(NULL);
}

/* ============================================================== linear */

static void ref_linear(double *y, const float *x, const st2v_linear *l, int n)
{
    for (int r = 0; r < n; r++)
        for (int o = 0; o < l->out; o++) {
            double s = l->b[o];
            for (int i = 0; i < l->in; i++)
                s += (double)x[r * l->in + i] * l->w[o * l->in + i];
            y[r * l->out + o] = s;
        }
}

static void linear_matches_reference_for_odd_row_counts_and_activations(void)
{
    const int sizes[][3] = {{1, 5, 7}, {63, 17, 33}, {65, 48, 300},
                            {200, 96, 48}, {129, 32, 513},
                            {1000, 16, 600} /* taller tiles */};
    for (size_t s = 0; s < ST2V_ARRAY_SIZE(sizes); s++) {
        const int n = sizes[s][0], in = sizes[s][1], out = sizes[s][2];
        float *w = rand_floats((size_t)out * in, 1.0f / sqrtf((float)in));
        float *b = rand_floats((size_t)out, 0.5f);
        float *x = rand_floats((size_t)n * in, 1.0f);
        st2v_linear l = {.w = w, .b = b, .in = in, .out = out};
        double *ref = malloc((size_t)n * out * sizeof(double));
        float *y = malloc((size_t)n * out * sizeof(float));
        ref_linear(ref, x, &l, n);

        st2v_op_linear(NULL, y, x, &l, n, ST2V_ACT_NONE);
        CHECK(rel_err_d(y, ref, (size_t)n * out) < TOL, "plain n=%d", n);

        double *act = malloc((size_t)n * out * sizeof(double));
        for (int i = 0; i < n * out; i++)
            act[i] = 0.5 * ref[i] * (1.0 + erf(ref[i] / sqrt(2.0)));
        st2v_op_linear(NULL, y, x, &l, n, ST2V_ACT_GELU);
        CHECK(rel_err_d(y, act, (size_t)n * out) < TOL, "gelu n=%d", n);
        for (int i = 0; i < n * out; i++)
            act[i] = ref[i] / (1.0 + exp(-ref[i]));
        st2v_op_linear(NULL, y, x, &l, n, ST2V_ACT_SILU);
        CHECK(rel_err_d(y, act, (size_t)n * out) < TOL, "silu n=%d", n);

        /* residual, plain and gated by row groups of 7 */
        float *res = rand_floats((size_t)n * out, 1.0f);
        float *gate = rand_floats((size_t)((n + 6) / 7) * out, 1.0f);
        float *tmp = malloc((size_t)n * out * sizeof(float));
        memcpy(y, res, (size_t)n * out * sizeof(float));
        st2v_op_linear_residual(NULL, y, x, &l, n, NULL, 0, 1, NULL);
        for (int i = 0; i < n * out; i++)
            act[i] = res[i] + ref[i];
        CHECK(rel_err_d(y, act, (size_t)n * out) < TOL, "residual n=%d", n);
        memcpy(y, res, (size_t)n * out * sizeof(float));
        st2v_op_linear_residual(NULL, y, x, &l, n, gate, out, 7, tmp);
        for (int r = 0; r < n; r++)
            for (int o = 0; o < out; o++)
                act[r * out + o] = res[r * out + o] +
                                   gate[(r / 7) * out + o] * ref[r * out + o];
        CHECK(rel_err_d(y, act, (size_t)n * out) < TOL, "gated n=%d", n);

        free(w), free(b), free(x), free(ref), free(y), free(act), free(res),
            free(gate), free(tmp);
    }
}

/* =============================================== norms and activations */

static void layernorm_matches_reference_with_affine_without_and_modulated(void)
{
    const int n = 70, group = 9, dims[] = {48, 45, 7};
    for (size_t k = 0; k < ST2V_ARRAY_SIZE(dims); k++) {
        const int d = dims[k], ng = (n + group - 1) / group;
        float *x = rand_floats((size_t)n * d, 2.0f);
        for (int i = 0; i < n * d; i++)
            x[i] += 3.0f;               /* a mean far from 0 */
        float *w = rand_floats(d, 1.0f), *b = rand_floats(d, 1.0f);
        /* modulation rows: shift | scale, stride 2d */
        float *mod = rand_floats((size_t)ng * 2 * d, 1.0f);
        float *y = malloc((size_t)n * d * sizeof(float));
        double *ref = malloc((size_t)n * d * sizeof(double));
        for (int mode = 0; mode < 3; mode++) {
            for (int r = 0; r < n; r++) {
                double mean = 0, var = 0;
                for (int i = 0; i < d; i++)
                    mean += x[r * d + i];
                mean /= d;
                for (int i = 0; i < d; i++)
                    var += (x[r * d + i] - mean) * (x[r * d + i] - mean);
                var /= d;
                const float *sh = mod + (r / group) * 2 * d, *sc = sh + d;
                for (int i = 0; i < d; i++) {
                    double v = (x[r * d + i] - mean) / sqrt(var + 1e-5);
                    ref[r * d + i] = mode == 0   ? v
                                     : mode == 1 ? v * w[i] + b[i]
                                                 : v * (1.0 + sc[i]) + sh[i];
                }
            }
            if (mode < 2)
                st2v_op_layernorm(NULL, y, x, mode ? w : NULL,
                                  mode ? b : NULL, n, d, 1e-5f);
            else
                st2v_op_layernorm_modulate(NULL, y, x, mod, mod + d, 2 * d,
                                           group, n, d, 1e-5f);
            CHECK(rel_err_d(y, ref, (size_t)n * d) < TOL, "d %d mode %d", d,
                  mode);
        }
        /* in place */
        st2v_op_layernorm_modulate(NULL, x, x, mod, mod + d, 2 * d, group, n,
                                   d, 1e-5f);
        CHECK(rel_err_d(x, ref, (size_t)n * d) < TOL, "d %d in place", d);
        free(x), free(w), free(b), free(mod), free(y), free(ref);
    }
}

static void head_rmsnorm_normalises_each_head_of_strided_rows(void)
{
    const int n = 67, heads = 3, hd = 10, ld = 40;
    float *x = rand_floats((size_t)n * ld, 3.0f);
    float *w = rand_floats(hd, 1.0f);
    double *ref = malloc((size_t)n * ld * sizeof(double));
    for (int r = 0; r < n; r++)
        for (int i = 0; i < ld; i++)
            ref[r * ld + i] = x[r * ld + i];
    for (int r = 0; r < n; r++)
        for (int h = 0; h < heads; h++) {
            double ss = 0;
            for (int i = 0; i < hd; i++)
                ss += ref[r * ld + h * hd + i] * ref[r * ld + h * hd + i];
            double inv = 1.0 / sqrt(ss / hd + 1e-6);
            for (int i = 0; i < hd; i++)
                ref[r * ld + h * hd + i] *= w[i] * inv;
        }
    st2v_op_head_rmsnorm(NULL, x, ld, w, n, heads, hd, 1e-6f);
    CHECK(rel_err_d(x, ref, (size_t)n * ld) < TOL, "head rms");
    /* the columns past heads*hd are untouched */
    int same = 1;
    for (int r = 0; r < n; r++)
        for (int i = heads * hd; i < ld; i++)
            same &= x[r * ld + i] == (float)ref[r * ld + i];
    CHECK(same, "tail columns untouched");
    free(x), free(w), free(ref);
}

static void channel_rmsnorm_with_silu_matches_reference_over_frames(void)
{
    const int m = 3, C = 5;
    const int64_t hw = 300; /* not a multiple of the pixel block */
    float *x = rand_floats((size_t)m * C * hw, 2.0f);
    float *w = rand_floats(C, 1.0f);
    float *y = malloc((size_t)m * C * hw * sizeof(float));
    double *ref = malloc((size_t)m * C * hw * sizeof(double));
    for (int silu = 0; silu < 2; silu++) {
        for (int f = 0; f < m; f++)
            for (int64_t p = 0; p < hw; p++) {
                double ss = 0;
                for (int c = 0; c < C; c++) {
                    double v = x[(f * C + c) * hw + p];
                    ss += v * v;
                }
                double inv = 1.0 / sqrt(ss / C + 1e-6);
                for (int c = 0; c < C; c++) {
                    double v = x[(f * C + c) * hw + p] * w[c] * inv;
                    ref[(f * C + c) * hw + p] = silu ? v / (1 + exp(-v)) : v;
                }
            }
        st2v_op_channel_rmsnorm(NULL, y, x, w, m, C, hw, 1e-6f, silu);
        CHECK(rel_err_d(y, ref, (size_t)m * C * hw) < TOL, "silu %d", silu);
    }
    free(x), free(w), free(y), free(ref);
}

static void gelu_and_silu_match_their_formulas_to_float_precision(void)
{
    /* every 1/1024 over [-12, 12], and a few extremes; error measured
     * against max(1, |value|) */
    const int n = 24 * 1024 + 1 + 4;
    float *x = malloc(n * sizeof(float)), *g = malloc(n * sizeof(float)),
          *s = malloc(n * sizeof(float));
    for (int i = 0; i < n - 4; i++)
        x[i] = -12.0f + (float)i / 1024.0f;
    x[n - 4] = -100.0f, x[n - 3] = 100.0f;
    x[n - 2] = 1e-30f, x[n - 1] = -1e-30f;
    memcpy(g, x, n * sizeof(float));
    memcpy(s, x, n * sizeof(float));
    st2v_op_gelu(g, n);
    st2v_op_silu(s, n);
    double eg = 0, es = 0;
    for (int i = 0; i < n; i++) {
        double rg = 0.5 * x[i] * (1.0 + erf(x[i] / sqrt(2.0)));
        double rs = x[i] / (1.0 + exp(-(double)x[i]));
        eg = fmax(eg, fabs(g[i] - rg) / fmax(1.0, fabs(rg)));
        es = fmax(es, fabs(s[i] - rs) / fmax(1.0, fabs(rs)));
    }
    CHECK(eg < 3e-7, "gelu err %g", eg);
    CHECK(es < 3e-7, "silu err %g", es);
    /* a value gives the same bits wherever it sits in an array */
    float a[7], b[1];
    for (int i = 0; i < 7; i++)
        a[i] = 0.37f;
    b[0] = 0.37f;
    st2v_op_gelu(a, 7);
    st2v_op_gelu(b, 1);
    CHECK(a[0] == b[0] && a[6] == b[0], "position independent");
    free(x), free(g), free(s);
}

static void vector_widths_4_8_and_16_give_identical_bits(void)
{
    if (st2v_op_vector_width() == 4)
        printf("     (no AVX2 here: only width 4 is compared with itself)\n");
    else if (st2v_op_vector_width() == 8)
        printf("     (no AVX-512 here: widths 4 and 8 compared)\n");
    const int sizes[] = {1, 5, 8, 13, 16, 24, 31, 40, 1003};
    for (int wide = 8; wide <= 16; wide *= 2)
    for (size_t k = 0; k < ST2V_ARRAY_SIZE(sizes); k++) {
        if (wide > st2v_op_vector_width())
            break;
        const int n = sizes[k];
        float *x = rand_floats((size_t)n, 10.0f);
        float *a = malloc((size_t)n * sizeof(float));
        float *b = malloc((size_t)n * sizeof(float));
        const size_t bytes = (size_t)n * sizeof(float);

        memcpy(a, x, bytes), memcpy(b, x, bytes);
        st2v_op_gelu_w(a, n, 4);
        st2v_op_gelu_w(b, n, wide);
        CHECK(memcmp(a, b, bytes) == 0, "gelu n=%d", n);

        memcpy(a, x, bytes), memcpy(b, x, bytes);
        st2v_op_silu_w(a, n, 4);
        st2v_op_silu_w(b, n, wide);
        CHECK(memcmp(a, b, bytes) == 0, "silu n=%d", n);

        memcpy(a, x, bytes), memcpy(b, x, bytes);
        float sa = st2v_op_softmax_exp_w(a, n, 4);
        float sb = st2v_op_softmax_exp_w(b, n, wide);
        CHECK(memcmp(a, b, bytes) == 0 && sa == sb, "softmax n=%d", n);
        /* and the values are right: exp(x - max), summed */
        double mx = x[0], sum = 0, err = 0;
        for (int i = 1; i < n; i++)
            mx = x[i] > mx ? x[i] : mx;
        for (int i = 0; i < n; i++) {
            double e = exp(x[i] - mx);
            sum += e;
            err = fmax(err, fabs(a[i] - e));
        }
        CHECK(err < 3e-7 && fabs(sa - sum) < 1e-6 * sum,
              "softmax values n=%d: err %g, sum %g vs %g", n, err, sa, sum);
        free(x), free(a), free(b);
    }
}

/* =========================================================== attention */

static void ref_attention(double *out, int ldo, const float *q, int ldq,
                          const float *k, int ldk, const float *v, int ldv,
                          int nq, int nk, int heads, int hd)
{
    double *s = malloc((size_t)nk * sizeof(double));
    for (int h = 0; h < heads; h++)
        for (int i = 0; i < nq; i++) {
            double mx = -INFINITY, sum = 0;
            for (int j = 0; j < nk; j++) {
                double d = 0;
                for (int e = 0; e < hd; e++)
                    d += (double)q[i * ldq + h * hd + e] *
                         k[j * ldk + h * hd + e];
                s[j] = d / sqrt((double)hd);
                mx = s[j] > mx ? s[j] : mx;
            }
            for (int j = 0; j < nk; j++)
                sum += s[j] = exp(s[j] - mx);
            for (int e = 0; e < hd; e++) {
                double o = 0;
                for (int j = 0; j < nk; j++)
                    o += s[j] / sum * v[j * ldv + h * hd + e];
                out[i * ldo + h * hd + e] = o;
            }
        }
    free(s);
}

static void attention_matches_reference_for_odd_sizes_and_strides(void)
{
    const int cases[][4] = {/* nq, nk, heads, hd */
                            {1, 1, 1, 4},   {5, 3, 2, 6},   {65, 7, 3, 8},
                            {130, 129, 2, 12}, {64, 200, 4, 5},
                            {70, 37, 4, 48}, /* the world DiT's head width */
                            {9, 21, 1, 130}}; /* past the packed kernel's widths */
    for (size_t c = 0; c < ST2V_ARRAY_SIZE(cases); c++) {
        const int nq = cases[c][0], nk = cases[c][1], heads = cases[c][2],
                  hd = cases[c][3];
        const int D = heads * hd;
        /* q, k, v interleaved like a qkv projection; out with padding */
        const int ldq = 3 * D, ldo = D + 3;
        float *qkv = rand_floats((size_t)ST2V_MAX(nq, nk) * ldq, 2.0f);
        float *out = calloc((size_t)nq * ldo, sizeof(float));
        double *ref = calloc((size_t)nq * ldo, sizeof(double));
        float *scratch = malloc(st2v_op_attention_scratch(NULL, nk, hd) *
                                sizeof(float));
        ref_attention(ref, ldo, qkv, ldq, qkv + D, ldq, qkv + 2 * D, ldq, nq,
                      nk, heads, hd);
        st2v_op_attention(NULL, out, ldo, qkv, ldq, qkv + D, ldq, qkv + 2 * D,
                          ldq, nq, nk, heads, hd, scratch);
        CHECK(rel_err_d(out, ref, (size_t)nq * ldo) < TOL,
              "nq %d nk %d heads %d hd %d: err %g", nq, nk, heads, hd,
              rel_err_d(out, ref, (size_t)nq * ldo));
        free(qkv), free(out), free(ref), free(scratch);
    }
}

static void attention_stays_finite_for_huge_logits(void)
{
    /* scores of several hundred overflow expf unless the row max is
     * subtracted first */
    const int nq = 9, nk = 11, heads = 2, hd = 16, D = heads * hd;
    float *q = rand_floats((size_t)nq * D, 30.0f);
    float *k = rand_floats((size_t)nk * D, 30.0f);
    float *v = rand_floats((size_t)nk * D, 1.0f);
    float *out = malloc((size_t)nq * D * sizeof(float));
    double *ref = malloc((size_t)nq * D * sizeof(double));
    float *scratch = malloc(st2v_op_attention_scratch(NULL, nk, hd) *
                            sizeof(float));
    ref_attention(ref, D, q, D, k, D, v, D, nq, nk, heads, hd);
    st2v_op_attention(NULL, out, D, q, D, k, D, v, D, nq, nk, heads, hd,
                      scratch);
    CHECK(rel_err_d(out, ref, (size_t)nq * D) < TOL, "err %g",
          rel_err_d(out, ref, (size_t)nq * D));
    free(q), free(k), free(v), free(out), free(ref), free(scratch);
}

/* ================================================================ RoPE */

static void rope_rotates_pairs_by_position_per_axis(void)
{
    const int Tp = 3, Hp = 2, Wp = 5, t0 = 4, heads = 2;
    const int dims[3] = {4, 6, 2}, hd = 12;
    const float theta = 100.0f;
    const int n = Tp * Hp * Wp, ld = heads * hd + 1;
    float *cs = malloc((size_t)n * hd * sizeof(float));
    float *x = rand_floats((size_t)n * ld, 1.0f);
    double *ref = malloc((size_t)n * ld * sizeof(double));
    int tok = 0;
    for (int a = 0; a < Tp; a++)
        for (int b = 0; b < Hp; b++)
            for (int c = 0; c < Wp; c++, tok++) {
                const int pos[3] = {a + t0, b, c};
                for (int i = 0; i < ld; i++)
                    ref[tok * ld + i] = x[tok * ld + i];
                for (int h = 0; h < heads; h++) {
                    int o = 0;
                    for (int ax = 0; ax < 3; ax++) {
                        for (int j = 0; j < dims[ax] / 2; j++) {
                            double ang =
                                pos[ax] * pow(theta, -2.0 * j / dims[ax]);
                            int i0 = tok * ld + h * hd + o + 2 * j;
                            double x0 = x[i0], x1 = x[i0 + 1];
                            ref[i0] = x0 * cos(ang) - x1 * sin(ang);
                            ref[i0 + 1] = x0 * sin(ang) + x1 * cos(ang);
                        }
                        o += dims[ax];
                    }
                }
            }
    st2v_op_rope_table(cs, Tp, Hp, Wp, t0, dims, theta);
    st2v_op_rope(NULL, x, ld, cs, n, heads, hd);
    CHECK(rel_err_d(x, ref, (size_t)n * ld) < TOL, "rope");
    free(cs), free(x), free(ref);
}

/* ======================================================== convolutions */

/* Whole-sequence causal conv: x (cin, T, H, W) -> y (cout, T, H, W). */
static void ref_conv(double *y, const float *x, const st2v_conv *c, int T,
                     int H, int W)
{
    for (int co = 0; co < c->cout; co++)
        for (int f = 0; f < T; f++)
            for (int yy = 0; yy < H; yy++)
                for (int xx = 0; xx < W; xx++) {
                    double s = c->b[co];
                    for (int ci = 0; ci < c->cin; ci++)
                        for (int dt = 0; dt < c->kt; dt++) {
                            int sf = f - c->kt + 1 + dt;
                            if (sf < 0)
                                continue;
                            for (int ky = 0; ky < 3; ky++)
                                for (int kx = 0; kx < 3; kx++) {
                                    int sy = yy + ky - 1, sx = xx + kx - 1;
                                    if (sy < 0 || sy >= H || sx < 0 || sx >= W)
                                        continue;
                                    s += (double)c->w[(((co * c->cin + ci) *
                                                       c->kt + dt) * 3 + ky) *
                                                     3 + kx] *
                                         x[((ci * T + sf) * H + sy) * W + sx];
                                }
                        }
                    y[((co * T + f) * H + yy) * W + xx] = s;
                }
}

static void causal_conv_matches_reference_for_kt_1_to_3(void)
{
    /* cin, cout, T, H, W: one pixel block; blocks of 1024 pixels cut
     * mid-row; blocks of 32 pixels (large cin) cut mid-row */
    const int shapes[][5] = {{5, 70, 4, 7, 9}, {2, 5, 2, 45, 37},
                             {100, 3, 2, 5, 9}};
    for (size_t sh = 0; sh < ST2V_ARRAY_SIZE(shapes); sh++)
    for (int kt = 1; kt <= 3; kt++) {
        const int cin = shapes[sh][0], cout = shapes[sh][1], T = shapes[sh][2],
                  H = shapes[sh][3], W = shapes[sh][4];
        float *w = rand_floats((size_t)cout * cin * kt * 9,
                               1.0f / sqrtf((float)cin * kt * 9));
        float *b = rand_floats(cout, 0.5f);
        st2v_conv c = {.w = w, .b = b, .cout = cout, .cin = cin, .kt = kt};
        const int64_t hw = H * W;
        float *x = rand_floats((size_t)cin * T * hw, 1.0f); /* (cin, T, H, W) */
        double *ref = malloc((size_t)cout * T * hw * sizeof(double));
        ref_conv(ref, x, &c, T, H, W);

        /* window: kt-1 zero frames then the T frames, frame-major */
        float *win = calloc((size_t)(kt - 1 + T) * cin * hw, sizeof(float));
        for (int f = 0; f < T; f++)
            for (int ci = 0; ci < cin; ci++)
                memcpy(win + ((int64_t)(kt - 1 + f) * cin + ci) * hw,
                       x + ((int64_t)ci * T + f) * hw, hw * sizeof(float));
        float *col = malloc(st2v_op_conv_scratch(1, &c, H, W) * sizeof(float));
        /* output in (cout, T, H, W): frame stride hw, channel stride T*hw */
        float *y = malloc((size_t)cout * T * hw * sizeof(float));
        st2v_op_conv_causal(NULL, y, hw, T * hw, win, &c, T, H, W, col, 0);
        CHECK(rel_err_d(y, ref, (size_t)cout * T * hw) < TOL,
              "shape %d kt %d", (int)sh, kt);

        /* accumulate adds onto what is there */
        for (size_t i = 0; i < (size_t)cout * T * hw; i++)
            ref[i] += 1.0;
        for (size_t i = 0; i < (size_t)cout * T * hw; i++)
            y[i] = 1.0f;
        st2v_op_conv_causal(NULL, y, hw, T * hw, win, &c, T, H, W, col, 1);
        CHECK(rel_err_d(y, ref, (size_t)cout * T * hw) < TOL,
              "shape %d kt %d accumulate", (int)sh, kt);

        /* frame by frame with a carried window gives the same values */
        for (size_t i = 0; i < (size_t)cout * T * hw; i++)
            ref[i] -= 1.0;
        for (int f = 0; f < T; f++)
            st2v_op_conv_causal(NULL, y + f * hw, hw, T * hw,
                                win + (int64_t)f * cin * hw, &c, 1, H, W, col,
                                0);
        CHECK(rel_err_d(y, ref, (size_t)cout * T * hw) < TOL,
              "shape %d kt %d frame by frame", (int)sh, kt);
        free(w), free(b), free(x), free(ref), free(win), free(col), free(y);
    }
}

static void conv_handles_single_pixel_rows_and_columns(void)
{
    const int cin = 3, cout = 4, kt = 2;
    const int shapes[][2] = {{1, 1}, {1, 6}, {5, 1}};
    for (size_t s = 0; s < ST2V_ARRAY_SIZE(shapes); s++) {
        const int H = shapes[s][0], W = shapes[s][1], T = 2;
        const int64_t hw = H * W;
        float *w = rand_floats((size_t)cout * cin * kt * 9, 0.5f);
        float *b = rand_floats(cout, 0.5f);
        st2v_conv c = {.w = w, .b = b, .cout = cout, .cin = cin, .kt = kt};
        float *x = rand_floats((size_t)cin * T * hw, 1.0f);
        double *ref = malloc((size_t)cout * T * hw * sizeof(double));
        ref_conv(ref, x, &c, T, H, W);
        float *win = calloc((size_t)(kt - 1 + T) * cin * hw, sizeof(float));
        for (int f = 0; f < T; f++)
            for (int ci = 0; ci < cin; ci++)
                memcpy(win + ((int64_t)(kt - 1 + f) * cin + ci) * hw,
                       x + ((int64_t)ci * T + f) * hw, hw * sizeof(float));
        float *col = malloc(st2v_op_conv_scratch(1, &c, H, W) * sizeof(float));
        float *y = malloc((size_t)cout * T * hw * sizeof(float));
        st2v_op_conv_causal(NULL, y, hw, T * hw, win, &c, T, H, W, col, 0);
        CHECK(rel_err_d(y, ref, (size_t)cout * T * hw) < TOL, "%dx%d", H, W);
        free(w), free(b), free(x), free(ref), free(win), free(col), free(y);
    }
}

static void depth_to_space_and_space_to_depth_follow_the_index_map(void)
{
    const int C = 3, H = 4, W = 6;
    for (int a = 1; a <= 2; a++)
        for (int b = 1; b <= 2; b++) {
            const int64_t hw = H * W, ohw = hw * b * b;
            float *in = rand_floats((size_t)C * a * b * b * hw, 1.0f);
            float *out = malloc((size_t)a * C * ohw * sizeof(float));
            float *back = malloc((size_t)C * a * b * b * hw * sizeof(float));
            st2v_op_depth_to_space(out, C * ohw, in, C, H, W, a, b);
            int ok = 1;
            for (int c = 0; c < C; c++)
                for (int dt = 0; dt < a; dt++)
                    for (int dy = 0; dy < b; dy++)
                        for (int dx = 0; dx < b; dx++)
                            for (int y = 0; y < H; y++)
                                for (int x = 0; x < W; x++) {
                                    int ic = ((c * a + dt) * b + dy) * b + dx;
                                    float want = in[(ic * H + y) * W + x];
                                    float got = out[dt * C * ohw + c * ohw +
                                                    (y * b + dy) * W * b +
                                                    x * b + dx];
                                    ok &= got == want;
                                }
            CHECK(ok, "depth to space a %d b %d", a, b);
            st2v_op_space_to_depth(back, out, C * ohw, C, H * b, W * b, a, b);
            const size_t bytes = (size_t)C * a * b * b * hw * sizeof(float);
            CHECK(memcmp(back, in, bytes) == 0,
                  "space to depth inverts a %d b %d", a, b);
            free(in), free(out), free(back);
        }
}

/* ===================================================== thread counts */

static void kernels_give_identical_bits_for_1_2_and_3_threads(void)
{
    const int n = 150, in = 40, out = 300, nk = 77, heads = 2, hd = 20;
    float *w = rand_floats((size_t)out * in, 0.2f);
    float *b = rand_floats(out, 0.2f);
    float *x = rand_floats((size_t)n * in, 1.0f);
    st2v_linear l = {.w = w, .b = b, .in = in, .out = out};
    const int cin = 6, cout = 130, kt = 3, H = 40, W = 37, T = 2;
    const int64_t hw = H * W;
    float *cw = rand_floats((size_t)cout * cin * kt * 9, 0.2f);
    float *cb = rand_floats(cout, 0.2f);
    st2v_conv c = {.w = cw, .b = cb, .cout = cout, .cin = cin, .kt = kt};
    float *win = rand_floats((size_t)(kt - 1 + T) * cin * hw, 1.0f);

    float *res[3];
    const size_t n_lin = (size_t)n * out, n_att = (size_t)n * heads * hd;
    const size_t n_conv = (size_t)T * cout * hw;
    for (int t = 0; t < 3; t++) {
        st2v_pool *pool = NULL;
        int rc = st2v_pool_new(&pool, t + 1);
        REQUIRE(rc == 0, "pool");
        res[t] = malloc((n_lin + n_att + n_conv) * sizeof(float));
        float *y = res[t], *att = y + n_lin, *conv = att + n_att;
        st2v_op_linear(pool, y, x, &l, n, ST2V_ACT_GELU);
        float *sc = malloc(st2v_op_attention_scratch(pool, nk, hd) * sizeof(float));
        st2v_op_attention(pool, att, heads * hd, y, out, y + 1, out, y + 2,
                          out, n, nk, heads, hd, sc);
        float *col = malloc(st2v_op_conv_scratch(st2v_pool_threads(pool), &c,
                                                 H, W) * sizeof(float));
        st2v_op_conv_causal(pool, conv, cout * hw, hw, win, &c, T, H, W, col,
                            0);
        free(sc), free(col);
        st2v_pool_free(pool);
    }
    const size_t bytes = (n_lin + n_att + n_conv) * sizeof(float);
    CHECK(memcmp(res[0], res[1], bytes) == 0, "1 vs 2 threads");
    CHECK(memcmp(res[0], res[2], bytes) == 0, "1 vs 3 threads");
    for (int t = 0; t < 3; t++)
        free(res[t]);
    free(w), free(b), free(x), free(cw), free(cb), free(win);
}

int main(void)
{
    openblas_set_num_threads(1);
    RUN(pool_runs_every_item_exactly_once_in_grain_aligned_blocks);
    RUN(pool_slots_stay_in_range_and_nested_calls_run_serially);
    RUN(pool_rejects_zero_threads);
    RUN(linear_matches_reference_for_odd_row_counts_and_activations);
    RUN(layernorm_matches_reference_with_affine_without_and_modulated);
    RUN(head_rmsnorm_normalises_each_head_of_strided_rows);
    RUN(channel_rmsnorm_with_silu_matches_reference_over_frames);
    RUN(gelu_and_silu_match_their_formulas_to_float_precision);
    RUN(vector_widths_4_8_and_16_give_identical_bits);
    RUN(attention_matches_reference_for_odd_sizes_and_strides);
    RUN(attention_stays_finite_for_huge_logits);
    RUN(rope_rotates_pairs_by_position_per_axis);
    RUN(causal_conv_matches_reference_for_kt_1_to_3);
    RUN(conv_handles_single_pixel_rows_and_columns);
    RUN(depth_to_space_and_space_to_depth_follow_the_index_map);
    RUN(kernels_give_identical_bits_for_1_2_and_3_threads);
    return tu_summary();
}
