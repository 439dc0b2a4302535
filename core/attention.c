/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * attention.c - flash-style attention (attention.h): the dispatch, and
 * the portable kernel over OpenBLAS. Per task, one head and a block of up
 * to QB query rows:
 *
 *   acc (rows, hd) = 0, mx (rows) = -inf, sum (rows) = 0
 *   for each block of up to KB keys:
 *       s (rows, kn) = q k^T / sqrt(hd) + key_bias         one sgemm
 *       per row: p = exp(s - max_row(s)), the block's own maximum
 *                (st2v_op_softmax_exp_w); then to the common maximum
 *                m = max(mx, max_row(s)): the smaller side is rescaled,
 *                acc and sum by exp(mx - m) or p by exp(max_row - m)
 *       acc += p v                                         one sgemm
 *   out = acc / sum
 */
#include <cblas.h>
#include <math.h>

#include "attention.h"
#include "common.h"
#include "ops.h"

#define QB ST2V_FA_QBLOCK
#define KB ST2V_FA_KBLOCK

size_t st2v_flash_attention_scratch(const st2v_pool *pool, int hd)
{
    const size_t per = (size_t)QB * KB + (size_t)QB * hd + 2 * QB;
    return ST2V_MAX((size_t)st2v_pool_threads(pool) * per,
                    st2v_fa_avx512_scratch(pool, hd));
}

typedef struct fa_task {
    float *out;
    const float *q, *k, *v, *bias;
    int64_t ldo, ldq, ldk, ldv;
    int nq, nk, hd, n_qb, width;
    float *scratch;
} fa_task;

static float row_max(const float *s, int n)
{
    /* 8 running maxima: independent chains the compiler can vectorise */
    float m[8];
    int j = 0;
    for (int l = 0; l < 8; l++)
        m[l] = s[0];
    for (; j + 8 <= n; j += 8)
        for (int l = 0; l < 8; l++)
            m[l] = s[j + l] > m[l] ? s[j + l] : m[l];
    float r = m[0];
    for (int l = 1; l < 8; l++)
        r = m[l] > r ? m[l] : r;
    for (; j < n; j++)
        r = s[j] > r ? s[j] : r;
    return r;
}

/* One key block of rows query rows: s (rows, kn) holds the scaled logits. */
static void fold_block(float *s, int kn, int rows, float *acc, int hd,
                       float *mx, float *sum, const float *v, int64_t ldv,
                       int width)
{
    for (int r = 0; r < rows; r++) {
        float *sr = s + (int64_t)r * kn;
        const float bm = row_max(sr, kn);
        const float bs = st2v_op_softmax_exp_w(sr, kn, width);
        if (bm > mx[r]) {
            /* the new block leads: earlier rows scale down */
            const float a = mx[r] == -INFINITY ? 0.0f : expf(mx[r] - bm);
            float *ar = acc + (int64_t)r * hd;
            for (int e = 0; e < hd; e++)
                ar[e] *= a;
            sum[r] = sum[r] * a + bs;
            mx[r] = bm;
        } else {
            const float b = expf(bm - mx[r]);
            for (int j = 0; j < kn; j++)
                sr[j] *= b;
            sum[r] += bs * b;
        }
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, rows, hd, kn, 1.0f,
                s, kn, v, (int)ldv, 1.0f, acc, hd);
}

static void fa_tasks(void *varg, int64_t begin, int64_t end)
{
    const fa_task *a = varg;
    const int hd = a->hd;
    float *s = a->scratch + (size_t)st2v_pool_slot() *
                                ((size_t)QB * KB + (size_t)QB * hd + 2 * QB);
    float *acc = s + (size_t)QB * KB; /* (QB, hd) */
    float *mx = acc + (size_t)QB * hd; /* (QB) */
    float *sum = mx + QB;              /* (QB) */
    const float scale = 1.0f / sqrtf((float)hd);
    for (int64_t t = begin; t < end; t++) {
        const int h = (int)(t / a->n_qb);
        const int q0 = (int)(t % a->n_qb) * QB;
        const int rows = ST2V_MIN(a->nq - q0, QB);
        const int64_t col = (int64_t)h * hd;
        const float *q = a->q + q0 * a->ldq + col; /* (rows, hd) */
        for (int r = 0; r < rows; r++) {
            mx[r] = -INFINITY;
            sum[r] = 0.0f;
        }
        for (int64_t i = 0; i < (int64_t)rows * hd; i++)
            acc[i] = 0.0f;
        for (int k0 = 0; k0 < a->nk; k0 += KB) {
            const int kn = ST2V_MIN(a->nk - k0, KB);
            /* s (rows, kn) = q k^T / sqrt(hd) */
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, rows, kn, hd,
                        scale, q, (int)a->ldq, a->k + k0 * a->ldk + col,
                        (int)a->ldk, 0.0f, s, kn);
            if (a->bias)
                for (int r = 0; r < rows; r++)
                    for (int j = 0; j < kn; j++)
                        s[(int64_t)r * kn + j] += a->bias[k0 + j];
            fold_block(s, kn, rows, acc, hd, mx, sum,
                       a->v + k0 * a->ldv + col, a->ldv, a->width);
        }
        for (int r = 0; r < rows; r++) {
            const float inv = 1.0f / sum[r];
            float *o = a->out + (q0 + r) * a->ldo + col;
            const float *ar = acc + (int64_t)r * hd;
            for (int e = 0; e < hd; e++)
                o[e] = ar[e] * inv;
        }
    }
}

void st2v_flash_attention(st2v_pool *pool, float *out, int64_t ldo,
                          const float *q, int64_t ldq, const float *k,
                          int64_t ldk, const float *v, int64_t ldv, int nq,
                          int nk, int heads, int hd, const float *key_bias,
                          float *scratch)
{
    if (nq <= 0 || nk <= 0 || heads <= 0 ||
        st2v_fa_avx512(pool, out, ldo, q, ldq, k, ldk, v, ldv, nq, nk, heads,
                       hd, key_bias, 0, scratch))
        return;
    fa_task a = {.out = out, .q = q, .k = k, .v = v, .bias = key_bias,
                 .ldo = ldo, .ldq = ldq, .ldk = ldk, .ldv = ldv, .nq = nq,
                 .nk = nk, .hd = hd, .n_qb = (nq + QB - 1) / QB,
                 .width = st2v_op_vector_width(), .scratch = scratch};
    st2v_pool_for(pool, (int64_t)heads * a.n_qb, 1, fa_tasks, &a);
}

int st2v_flash_attention_bf16_supported(int hd)
{
    return st2v_fa_avx512_supported(hd, 1);
}

int st2v_flash_attention_bf16(st2v_pool *pool, float *out, int64_t ldo,
                              const float *q, int64_t ldq, const float *k,
                              int64_t ldk, const float *v, int64_t ldv, int nq,
                              int nk, int heads, int hd, const float *key_bias,
                              float *scratch)
{
    return st2v_fa_avx512(pool, out, ldo, q, ldq, k, ldk, v, ldv, nq, nk,
                          heads, hd, key_bias, 1, scratch);
}
