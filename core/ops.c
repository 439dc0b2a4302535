/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * ops.c - the numeric kernels of ops.h. Matrix products are cblas_sgemm
 * calls over fixed tiles; the element-wise parts run over fixed row or
 * pixel blocks. A tile or block is the unit a pool thread takes, and its
 * bounds depend only on the problem size, which is what makes every
 * result independent of the thread count.
 *
 * Not here: the model's wiring (text_encoder.c, dit.c, vae.c).
 */
#include <cblas.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "common.h"
#include "cpu.h"
#include "ops.h"

/* Queries per attention block; pixels per block of the norm kernel. */
#define ATT_BLOCK 64
#define NORM_BLOCK 256

/* ================================================ element-wise kernels */

/* ops_vec.h, once per vector width: gelu_v4, silu_v4, softmax_exp_v4,
 * chan_rms_v4, row_sum_v4, row_norm_v4, row_scale_v4 and, on x86, their
 * AVX2 twins *_v8 and AVX-512F twins *_v16. The *_w wrappers pick one by
 * width. */
#define VW 4
#define VN(name) name##_v4
#define VATTR
#include "ops_vec.h"
#undef VW
#undef VN
#undef VATTR

#if (defined(__x86_64__) || defined(__i386__)) && defined(__GNUC__)
#define HAVE_V8 1
#define VW 8
#define VN(name) name##_v8
#define VATTR __attribute__((target("avx2")))
#include "ops_vec.h"
#undef VW
#undef VN
#undef VATTR

#define HAVE_V16 1
#define VW 16
#define VN(name) name##_v16
#define VATTR __attribute__((target("avx512f")))
#include "ops_vec.h"
#undef VW
#undef VN
#undef VATTR
#endif

int st2v_op_vector_width(void)
{
#ifdef HAVE_V16
    if (st2v_cpu_has(ST2V_CPU_AVX512))
        return 16;
#endif
#ifdef HAVE_V8
    if (st2v_cpu_has(ST2V_CPU_AVX2))
        return 8;
#endif
    return 4;
}

void st2v_op_gelu_w(float *x, int64_t n, int width)
{
#ifdef HAVE_V16
    if (width == 16) {
        gelu_v16(x, n);
        return;
    }
#endif
#ifdef HAVE_V8
    if (width == 8) {
        gelu_v8(x, n);
        return;
    }
#endif
    (void)width;
    gelu_v4(x, n);
}

void st2v_op_silu_w(float *x, int64_t n, int width)
{
#ifdef HAVE_V16
    if (width == 16) {
        silu_v16(x, n);
        return;
    }
#endif
#ifdef HAVE_V8
    if (width == 8) {
        silu_v8(x, n);
        return;
    }
#endif
    (void)width;
    silu_v4(x, n);
}

float st2v_op_softmax_exp_w(float *s, int n, int width)
{
#ifdef HAVE_V16
    if (width == 16)
        return softmax_exp_v16(s, n);
#endif
#ifdef HAVE_V8
    if (width == 8)
        return softmax_exp_v8(s, n);
#endif
    (void)width;
    return softmax_exp_v4(s, n);
}

static void chan_rms_w(float *y, const float *x, const float *w, int C,
                       int64_t hw, int np, float eps, int silu, float *inv,
                       int width)
{
#ifdef HAVE_V16
    if (width == 16) {
        chan_rms_v16(y, x, w, C, hw, np, eps, silu, inv);
        return;
    }
#endif
#ifdef HAVE_V8
    if (width == 8) {
        chan_rms_v8(y, x, w, C, hw, np, eps, silu, inv);
        return;
    }
#endif
    (void)width;
    chan_rms_v4(y, x, w, C, hw, np, eps, silu, inv);
}

static float row_sum_w(const float *x, int n, float c, int sq, int width)
{
#ifdef HAVE_V16
    if (width == 16)
        return row_sum_v16(x, n, c, sq);
#endif
#ifdef HAVE_V8
    if (width == 8)
        return row_sum_v8(x, n, c, sq);
#endif
    (void)width;
    return row_sum_v4(x, n, c, sq);
}

static void row_norm_w(float *y, const float *x, int n, float mean,
                       float rstd, const float *m, const float *b,
                       int one_plus, int width)
{
#ifdef HAVE_V16
    if (width == 16) {
        row_norm_v16(y, x, n, mean, rstd, m, b, one_plus);
        return;
    }
#endif
#ifdef HAVE_V8
    if (width == 8) {
        row_norm_v8(y, x, n, mean, rstd, m, b, one_plus);
        return;
    }
#endif
    (void)width;
    row_norm_v4(y, x, n, mean, rstd, m, b, one_plus);
}

static void row_scale_w(float *x, int n, const float *w, float inv,
                        int width)
{
#ifdef HAVE_V16
    if (width == 16) {
        row_scale_v16(x, n, w, inv);
        return;
    }
#endif
#ifdef HAVE_V8
    if (width == 8) {
        row_scale_v8(x, n, w, inv);
        return;
    }
#endif
    (void)width;
    row_scale_v4(x, n, w, inv);
}

void st2v_op_gelu(float *x, int64_t n)
{
    st2v_op_gelu_w(x, n, st2v_op_vector_width());
}

void st2v_op_silu(float *x, int64_t n)
{
    st2v_op_silu_w(x, n, st2v_op_vector_width());
}

/* ============================================================ linear */

typedef struct linear_task {
    float *y;                   /* (n, out) output, or the residual target */
    const float *x;             /* (n, in) */
    const st2v_linear *lin;
    int64_t n;
    int64_t rb;                 /* rows per tile */
    int n_cb;                   /* column blocks */
    st2v_act act;
    int residual;               /* y += result (through tmp when gated) */
    const float *gate;          /* rows of `out`, stride ld_gate, or NULL */
    int64_t ld_gate, group;
    float *tmp;                 /* (n, out) when gated */
    int width;                  /* vector width of the activation */
} linear_task;

static void linear_tile(void *varg, int64_t begin, int64_t end)
{
    const linear_task *a = varg;
    const st2v_linear *l = a->lin;
    const int in = l->in, out = l->out;
    for (int64_t t = begin; t < end; t++) {
        int64_t r0 = (t / a->n_cb) * a->rb;
        int64_t r1 = ST2V_MIN(a->n, r0 + a->rb);
        int c0 = (int)(t % a->n_cb) * ST2V_COL_BLOCK;
        int c1 = ST2V_MIN(out, c0 + ST2V_COL_BLOCK);
        int rows = (int)(r1 - r0), cols = c1 - c0;
        int gated = a->residual && a->gate;
        float *dst = (gated ? a->tmp : a->y) + r0 * out + c0; /* (rows, out) */

        /* The bias goes in first, the product is added (beta = 1). */
        for (int r = 0; r < rows; r++) {
            float *d = dst + (int64_t)r * out;
            if (a->residual && !gated)
                for (int c = 0; c < cols; c++)
                    d[c] += l->b[c0 + c];
            else
                memcpy(d, l->b + c0, (size_t)cols * sizeof(float));
        }
        if (l->wp && st2v_op_bf16_linear(dst, out, a->x + r0 * in, in, rows,
                                         l->wp, in, c0, c1))
            ;
        else if (l->wf && st2v_op_f32_packed_linear(dst, out, a->x + r0 * in,
                                                    in, rows, l->wf, in, c0,
                                                    c1))
            ;
        else
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, rows, cols,
                        in, 1.0f, a->x + r0 * in, in,
                        l->w + (int64_t)c0 * in, in, 1.0f, dst, out);

        if (a->act == ST2V_ACT_GELU) {
            for (int r = 0; r < rows; r++)
                st2v_op_gelu_w(dst + (int64_t)r * out, cols, a->width);
        } else if (a->act == ST2V_ACT_SILU) {
            for (int r = 0; r < rows; r++)
                st2v_op_silu_w(dst + (int64_t)r * out, cols, a->width);
        }
        if (gated) {
            for (int r = 0; r < rows; r++) {
                int64_t row = r0 + r;
                const float *g = a->gate + (row / a->group) * a->ld_gate + c0;
                const float *s = dst + (int64_t)r * out;
                float *d = a->y + row * out + c0;
                for (int c = 0; c < cols; c++)
                    d[c] += g[c] * s[c];
            }
        }
    }
}

/* Rows per tile: from ST2V_ROW_BLOCK doubling up to LIN_MAX_ROWS while at
 * least LIN_MIN_TILES tiles remain. Fewer, taller tiles pack each weight
 * panel fewer times (OpenBLAS packs the weights of every call); enough
 * tiles keep the threads busy. A function of the shape alone. */
#ifndef LIN_MAX_ROWS
#define LIN_MAX_ROWS 512
#endif
#ifndef LIN_MIN_TILES
#define LIN_MIN_TILES 8
#endif
static void linear_run(st2v_pool *pool, linear_task *a)
{
    a->n_cb = (a->lin->out + ST2V_COL_BLOCK - 1) / ST2V_COL_BLOCK;
    a->rb = ST2V_ROW_BLOCK;
    while (a->rb < LIN_MAX_ROWS &&
           (a->n + 2 * a->rb - 1) / (2 * a->rb) * a->n_cb >= LIN_MIN_TILES)
        a->rb *= 2;
    a->width = st2v_op_vector_width();
    int64_t n_rb = (a->n + a->rb - 1) / a->rb;
    st2v_pool_for(pool, n_rb * a->n_cb, 1, linear_tile, a);
}

void st2v_op_linear(st2v_pool *pool, float *y, const float *x,
                    const st2v_linear *lin, int64_t n, st2v_act act)
{
    linear_task a = {.y = y, .x = x, .lin = lin, .n = n, .act = act};
    linear_run(pool, &a);
}

void st2v_op_linear_residual(st2v_pool *pool, float *x, const float *in,
                             const st2v_linear *lin, int64_t n,
                             const float *gate, int64_t ld_gate,
                             int64_t group, float *tmp)
{
    linear_task a = {.y = x, .x = in, .lin = lin, .n = n,
                     .act = ST2V_ACT_NONE, .residual = 1, .gate = gate,
                     .ld_gate = ld_gate, .group = group > 0 ? group : 1,
                     .tmp = tmp};
    linear_run(pool, &a);
}

/* ============================================================= norms */

typedef struct rows_task {
    float *y;
    const float *x;
    const float *w, *b;         /* affine, or NULL */
    const float *shift, *scale; /* modulation rows, stride ld, per group */
    int64_t ld, group;
    int d, heads, hd;
    float eps;
    int width;                  /* vector width */
} rows_task;

/* y = (x - mean) / sqrt(var + eps), then the affine map or modulation. */
static void layernorm_rows(void *varg, int64_t begin, int64_t end)
{
    const rows_task *a = varg;
    const int d = a->d;
    for (int64_t r = begin; r < end; r++) {
        const float *x = a->x + r * d;
        float mean = row_sum_w(x, d, 0.0f, 0, a->width) / (float)d;
        float var = row_sum_w(x, d, mean, 1, a->width) / (float)d;
        float rstd = 1.0f / sqrtf(var + a->eps);
        if (a->scale) {
            const int64_t g = (r / a->group) * a->ld;
            row_norm_w(a->y + r * d, x, d, mean, rstd, a->scale + g,
                       a->shift + g, 1, a->width);
        } else {
            row_norm_w(a->y + r * d, x, d, mean, rstd, a->w, a->b, 0,
                       a->width);
        }
    }
}

void st2v_op_layernorm(st2v_pool *pool, float *y, const float *x,
                       const float *w, const float *b, int64_t n, int d,
                       float eps)
{
    rows_task a = {.y = y, .x = x, .w = w, .b = b, .d = d, .eps = eps,
                   .width = st2v_op_vector_width()};
    st2v_pool_for(pool, n, ST2V_ROW_BLOCK, layernorm_rows, &a);
}

void st2v_op_layernorm_modulate(st2v_pool *pool, float *y, const float *x,
                                const float *shift, const float *scale,
                                int64_t ld, int64_t group, int64_t n, int d,
                                float eps)
{
    rows_task a = {.y = y, .x = x, .shift = shift, .scale = scale, .ld = ld,
                   .group = group > 0 ? group : 1, .d = d, .eps = eps,
                   .width = st2v_op_vector_width()};
    st2v_pool_for(pool, n, ST2V_ROW_BLOCK, layernorm_rows, &a);
}

static void head_rmsnorm_rows(void *varg, int64_t begin, int64_t end)
{
    const rows_task *a = varg;
    const int hd = a->hd;
    for (int64_t r = begin; r < end; r++) {
        for (int h = 0; h < a->heads; h++) {
            float *x = a->y + r * a->ld + (int64_t)h * hd;
            float ss = row_sum_w(x, hd, 0.0f, 1, a->width);
            float inv = 1.0f / sqrtf(ss / (float)hd + a->eps);
            row_scale_w(x, hd, a->w, inv, a->width);
        }
    }
}

void st2v_op_head_rmsnorm(st2v_pool *pool, float *x, int64_t ld,
                          const float *w, int64_t n, int heads, int hd,
                          float eps)
{
    rows_task a = {.y = x, .w = w, .ld = ld, .heads = heads, .hd = hd,
                   .eps = eps, .width = st2v_op_vector_width()};
    st2v_pool_for(pool, n, ST2V_ROW_BLOCK, head_rmsnorm_rows, &a);
}

typedef struct chan_task {
    float *y;
    const float *x;
    const float *w;
    int C;
    int64_t hw, n_pb;           /* pixels per frame, pixel blocks per frame */
    float eps;
    int silu;
    int width;                  /* vector width */
} chan_task;

static void channel_rmsnorm_blocks(void *varg, int64_t begin, int64_t end)
{
    const chan_task *a = varg;
    float inv[NORM_BLOCK];
    for (int64_t t = begin; t < end; t++) {
        int64_t f = t / a->n_pb;
        int64_t p0 = (t % a->n_pb) * NORM_BLOCK;
        int np = (int)ST2V_MIN(a->hw - p0, NORM_BLOCK);
        chan_rms_w(a->y + f * a->C * a->hw + p0, a->x + f * a->C * a->hw + p0,
                   a->w, a->C, a->hw, np, a->eps, a->silu, inv, a->width);
    }
}

void st2v_op_channel_rmsnorm(st2v_pool *pool, float *y, const float *x,
                             const float *w, int m, int C, int64_t hw,
                             float eps, int silu)
{
    chan_task a = {.y = y, .x = x, .w = w, .C = C, .hw = hw,
                   .n_pb = (hw + NORM_BLOCK - 1) / NORM_BLOCK, .eps = eps,
                   .silu = silu, .width = st2v_op_vector_width()};
    st2v_pool_for(pool, m * a.n_pb, 1, channel_rmsnorm_blocks, &a);
}

/* ========================================================= attention */

/* Heads up to this wide take the packed AVX-512 kernel: their K and V are
 * packed per head (a few % of the products' work); wider ones (the Wan
 * VAE's single 384-wide head over thousands of pixels) keep OpenBLAS,
 * which is efficient there and needs no copy. */
#define ATT_PACK_HD 128

static int attention_packed(int hd)
{
    return hd <= ATT_PACK_HD && st2v_op_f32_packed_supported();
}

/* Per thread: the scores (ATT_BLOCK, nk), then for the packed kernel K^T
 * (ceil(nk/16), hd, 16) and V (ceil(hd/16), nk, 16). */
static size_t attention_slot(int nk, int hd)
{
    size_t n = (size_t)ATT_BLOCK * nk;
    if (attention_packed(hd))
        n += st2v_op_f32_pack_size(nk, hd) + st2v_op_f32_pack_size(hd, nk);
    return n;
}

size_t st2v_op_attention_scratch(const st2v_pool *pool, int nk, int hd)
{
    return (size_t)st2v_pool_threads(pool) * attention_slot(nk, hd);
}

typedef struct attn_task {
    float *out;
    const float *q, *k, *v;
    int64_t ldo, ldq, ldk, ldv;
    int nq, nk, hd, n_qb;
    int width;                  /* vector width of the softmax */
    int packed;                 /* attention_packed(hd) */
    float *scratch;             /* (threads, attention_slot(nk, hd)) */
} attn_task;

/* Blocks t = h * n_qb + query block, in order; a head's K and V are
 * packed when the head changes (once per head where a task holds all its
 * blocks). The products are the same whoever packs, so the result does
 * not depend on the pool. */
static void attention_blocks(void *varg, int64_t begin, int64_t end)
{
    const attn_task *a = varg;
    const int nk = a->nk, hd = a->hd;
    float *s = a->scratch + (size_t)st2v_pool_slot() * attention_slot(nk, hd);
    float *kp = s + (size_t)ATT_BLOCK * nk;            /* K^T panels */
    float *vp = kp + st2v_op_f32_pack_size(nk, hd);    /* V panels */
    const float scale = 1.0f / sqrtf((float)hd);
    int packed_h = -1;
    for (int64_t t = begin; t < end; t++) {
        int h = (int)(t / a->n_qb);
        int q0 = (int)(t % a->n_qb) * ATT_BLOCK;
        int rows = ST2V_MIN(a->nq - q0, ATT_BLOCK);
        int64_t col = (int64_t)h * hd;
        const float *q = a->q + q0 * a->ldq + col;     /* (rows, hd) */
        float *o = a->out + q0 * a->ldo + col;         /* (rows, hd) */

        /* s (rows, nk) = q k^T / sqrt(hd) */
        if (a->packed) {
            if (h != packed_h) {
                st2v_op_f32_pack_rows(kp, a->k + col, a->ldk, nk, hd, scale);
                st2v_op_f32_pack_cols(vp, a->v + col, a->ldv, nk, hd);
                packed_h = h;
            }
            st2v_op_f32_packed_gemm(s, nk, q, a->ldq, rows, kp, hd, 0, nk, 0);
        } else {
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, rows, nk,
                        hd, scale, q, (int)a->ldq, a->k + col, (int)a->ldk,
                        0.0f, s, nk);
        }
        float inv[ATT_BLOCK];
        for (int r = 0; r < rows; r++)
            inv[r] = 1.0f / st2v_op_softmax_exp_w(s + (int64_t)r * nk, nk,
                                                  a->width);
        /* o (rows, hd) = (s v) / sum: the normalisation is applied to
         * the hd outputs of a row instead of its nk weights */
        if (a->packed)
            st2v_op_f32_packed_gemm(o, a->ldo, s, nk, rows, vp, nk, 0, hd, 0);
        else
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, rows, hd,
                        nk, 1.0f, s, nk, a->v + col, (int)a->ldv, 0.0f, o,
                        (int)a->ldo);
        for (int r = 0; r < rows; r++) {
            float *orow = o + (int64_t)r * a->ldo;
            for (int e = 0; e < hd; e++)
                orow[e] *= inv[r];
        }
    }
}

void st2v_op_attention(st2v_pool *pool, float *out, int64_t ldo,
                       const float *q, int64_t ldq, const float *k,
                       int64_t ldk, const float *v, int64_t ldv, int nq,
                       int nk, int heads, int hd, float *scratch)
{
    attn_task a = {.out = out, .q = q, .k = k, .v = v, .ldo = ldo,
                   .ldq = ldq, .ldk = ldk, .ldv = ldv, .nq = nq, .nk = nk,
                   .hd = hd, .n_qb = (nq + ATT_BLOCK - 1) / ATT_BLOCK,
                   .width = st2v_op_vector_width(),
                   .packed = attention_packed(hd), .scratch = scratch};
    /* with heads enough for every thread, a task per head packs its K and
     * V once; else a task per block of queries */
    const int64_t grain =
        a.packed && heads >= 2 * st2v_pool_threads(pool) ? a.n_qb : 1;
    st2v_pool_for(pool, (int64_t)heads * a.n_qb, grain, attention_blocks, &a);
}

/* ============================================================== RoPE */

void st2v_op_rope_table(float *cs, int Tp, int Hp, int Wp, int t0,
                        const int dims[3], float theta)
{
    const int half = (dims[0] + dims[1] + dims[2]) / 2;
    int64_t tok = 0;
    for (int a = 0; a < Tp; a++) {
        for (int b = 0; b < Hp; b++) {
            for (int c = 0; c < Wp; c++, tok++) {
                const int pos[3] = {a + t0, b, c};
                float *row = cs + tok * half * 2;   /* (half, 2) */
                int p = 0;
                for (int ax = 0; ax < 3; ax++) {
                    const int d = dims[ax];
                    for (int j = 0; j < d / 2; j++, p++) {
                        double freq = pow((double)theta, -2.0 * j / d);
                        double ang = (double)pos[ax] * freq;
                        row[2 * p] = (float)cos(ang);
                        row[2 * p + 1] = (float)sin(ang);
                    }
                }
            }
        }
    }
}

typedef struct rope_task {
    float *x;
    const float *cs;
    int64_t ld;
    int heads, hd;
} rope_task;

static void rope_rows(void *varg, int64_t begin, int64_t end)
{
    const rope_task *a = varg;
    const int half = a->hd / 2;
    for (int64_t r = begin; r < end; r++) {
        const float *cs = a->cs + r * half * 2;     /* (half, 2) */
        for (int h = 0; h < a->heads; h++) {
            float *x = a->x + r * a->ld + (int64_t)h * a->hd;
            for (int p = 0; p < half; p++) {
                float c = cs[2 * p], s = cs[2 * p + 1];
                float x0 = x[2 * p], x1 = x[2 * p + 1];
                x[2 * p] = x0 * c - x1 * s;
                x[2 * p + 1] = x0 * s + x1 * c;
            }
        }
    }
}

void st2v_op_rope(st2v_pool *pool, float *x, int64_t ld, const float *cs,
                  int64_t n, int heads, int hd)
{
    rope_task a = {.x = x, .cs = cs, .ld = ld, .heads = heads, .hd = hd};
    st2v_pool_for(pool, n, ST2V_ROW_BLOCK, rope_rows, &a);
}

/* ====================================================== convolutions */

/* Pixels per conv task: the largest power of two, within [32, 1024], whose
 * im2col block (K rows) stays within 2^17 floats, so it is still in cache
 * when the sgemm packs it. A function of K alone. */
static int64_t conv_pix_block(int64_t K)
{
    int64_t pb = 1024;
    while (pb > 32 && pb * K > (1 << 17))
        pb >>= 1;
    return pb;
}

size_t st2v_op_conv_scratch(int threads, const st2v_conv *c, int H, int W)
{
    const int64_t K = (int64_t)c->cin * c->kt * 9;
    const int64_t pb = ST2V_MIN(conv_pix_block(K), (int64_t)H * W);
    return (size_t)(threads > 0 ? threads : 1) * (size_t)K * (size_t)pb;
}

typedef struct conv_task {
    float *out;                 /* frame j, channel co at out + j*ld_frame +
                                   co*ld_chan */
    int64_t ld_frame, ld_chan;
    const float *win;           /* (kt-1+m, cin, H, W) */
    const st2v_conv *c;
    int H, W;
    int64_t hw, pb, n_pb, K;
    float *col;                 /* (threads, K, pb) */
    int accumulate;
} conv_task;

/* col (K, np): im2col of pixels p0 .. p0+np-1 of one output frame whose
 * kt input frames start at win. Row ((ci*kt + dt)*3 + ky)*3 + kx, matching
 * the weight layout (cout, cin, kt, 3, 3) read as a (cout, K) matrix. */
static void im2col_block(float *col, const float *win, const st2v_conv *c,
                         int H, int W, int64_t p0, int np)
{
    const int kt = c->kt, cin = c->cin;
    const int64_t hw = (int64_t)H * W;
    float *dst = col;
    for (int ci = 0; ci < cin; ci++) {
        for (int dt = 0; dt < kt; dt++) {
            const float *src = win + ((int64_t)dt * cin + ci) * hw;
            for (int ky = 0; ky < 3; ky++) {
                for (int kx = 0; kx < 3; kx++, dst += np) {
                    /* walk the image rows that the pixel range covers */
                    int y = (int)(p0 / W), x0 = (int)(p0 % W), done = 0;
                    while (done < np) {
                        const int seg = ST2V_MIN(W - x0, np - done);
                        const int sy = y + ky - 1;
                        float *d = dst + done;  /* d[i]: x = x0 + i */
                        if (sy < 0 || sy >= H) {
                            memset(d, 0, (size_t)seg * sizeof(float));
                        } else {
                            /* d[x - x0] = src[sy, x + kx - 1], 0 outside */
                            const float *s = src + (int64_t)sy * W;
                            int a = x0, b = x0 + seg;
                            if (kx == 0 && a == 0)
                                d[a++ - x0] = 0.0f;
                            if (kx == 2 && b == W)
                                d[--b - x0] = 0.0f;
                            if (b > a)
                                memcpy(d + (a - x0), s + a + kx - 1,
                                       (size_t)(b - a) * sizeof(float));
                        }
                        done += seg;
                        x0 = 0;
                        y++;
                    }
                }
            }
        }
    }
}

static void conv_blocks(void *varg, int64_t begin, int64_t end)
{
    const conv_task *a = varg;
    const st2v_conv *c = a->c;
    float *col = a->col + (size_t)st2v_pool_slot() * a->K * a->pb; /* (K, np) */
    for (int64_t t = begin; t < end; t++) {
        const int64_t j = t / a->n_pb;
        const int64_t p0 = (t % a->n_pb) * a->pb;
        const int np = (int)ST2V_MIN(a->hw - p0, a->pb);
        float *out = a->out + j * a->ld_frame + p0;
        im2col_block(col, a->win + j * c->cin * a->hw, c, a->H, a->W, p0, np);
        for (int co = 0; co < c->cout; co++) {
            float *d = out + co * a->ld_chan;
            const float bias = c->b[co];
            if (a->accumulate)
                for (int p = 0; p < np; p++)
                    d[p] += bias;
            else
                for (int p = 0; p < np; p++)
                    d[p] = bias;
        }
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, c->cout, np,
                    (int)a->K, 1.0f, c->w, (int)a->K, col, np, 1.0f, out,
                    (int)a->ld_chan);
    }
}

void st2v_op_conv_causal(st2v_pool *pool, float *out, int64_t ld_frame,
                         int64_t ld_chan, const float *win,
                         const st2v_conv *c, int m, int H, int W, float *col,
                         int accumulate)
{
    const int64_t hw = (int64_t)H * W, K = (int64_t)c->cin * c->kt * 9;
    const int64_t pb = ST2V_MIN(conv_pix_block(K), hw);
    conv_task a = {.out = out, .ld_frame = ld_frame, .ld_chan = ld_chan,
                   .win = win, .c = c, .H = H, .W = W, .hw = hw, .pb = pb,
                   .n_pb = (hw + pb - 1) / pb, .K = K, .col = col,
                   .accumulate = accumulate};
    st2v_pool_for(pool, m * a.n_pb, 1, conv_blocks, &a);
}

void st2v_op_depth_to_space(float *out, int64_t ld_frame, const float *in,
                            int C, int H, int W, int a, int b)
{
    const int64_t hw = (int64_t)H * W, Wo = (int64_t)W * b;
    const int64_t ohw = hw * b * b;
    for (int c = 0; c < C; c++)
        for (int dt = 0; dt < a; dt++)
            for (int dy = 0; dy < b; dy++)
                for (int dx = 0; dx < b; dx++) {
                    int ic = ((c * a + dt) * b + dy) * b + dx;
                    const float *s = in + ic * hw;             /* (H, W) */
                    float *d = out + dt * ld_frame + c * ohw;  /* (H*b, W*b) */
                    for (int y = 0; y < H; y++) {
                        float *dr = d + (y * b + dy) * Wo + dx;
                        const float *sr = s + (int64_t)y * W;
                        for (int x = 0; x < W; x++)
                            dr[x * b] = sr[x];
                    }
                }
}

void st2v_op_space_to_depth(float *out, const float *in, int64_t ld_frame,
                            int C, int H, int W, int a, int b)
{
    const int Ho = H / b, Wo = W / b;
    const int64_t hw = (int64_t)H * W, ohw = (int64_t)Ho * Wo;
    for (int c = 0; c < C; c++)
        for (int dt = 0; dt < a; dt++)
            for (int dy = 0; dy < b; dy++)
                for (int dx = 0; dx < b; dx++) {
                    int oc = ((c * a + dt) * b + dy) * b + dx;
                    const float *s = in + dt * ld_frame + c * hw; /* (H, W) */
                    float *d = out + oc * ohw;                    /* (Ho, Wo) */
                    for (int y = 0; y < Ho; y++) {
                        const float *sr = s + (int64_t)(y * b + dy) * W + dx;
                        float *dr = d + (int64_t)y * Wo;
                        for (int x = 0; x < Wo; x++)
                            dr[x] = sr[x * b];
                    }
                }
}
