/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * dit.c - the Wan2.1 text-to-video DiT (dit.h; the reference is
 * train/wan/dit.py). Dimension key: B contexts (the CFG pair: 2), L tokens
 * of an (f, h, w) grid, M = B * L rows, D = dim, Fd = ffn_dim, N heads of
 * hd, P = pt*ph*pw, R <= text_len context rows (n real, then the pad row).
 *
 *   e (D) = time_embedding(sinusoid(t)); e0 (6, D) = time_projection(e)
 *   c_b (R_b, D) = text_embedding(ctx_b rows, then one zero row)
 *   X (M, D) = patch_embedding(x), the same L rows for every context
 *   per block, m (6, D) = modulation + e0:
 *     X += m2 * o(flash(rope(rms(q(a))), rope(rms(k(a))), v(a)))
 *                                             a = LN(X) (1 + m1) + m0
 *     X += o(flash(rms(q(n3)), rms(k(c_b)), v(c_b), pad logit + ln(T - n)))
 *                                             n3 = LN(X) norm3.w + norm3.b
 *     X += m5 * ffn2(gelu_tanh(ffn0(LN(X) (1 + m4) + m3)))
 *   y (M, P*C_out) = head(LN(X) (1 + mh1) + mh0), mh = head.modulation + e
 *   out_b = unpatchify(y_b): y's columns are (pt, ph, pw, c)
 *
 * Matrix products through st2v_wmatmul() (weights widened one tile at a
 * time; with wan_dit_use_bf16, those of the blocks and embeddings in
 * bfloat16 products over the BF16 weights where they lie); rms over the full width D before the head split; RoPE tables
 * from ops.h (interleaved pairs, per-axis frequencies).
 *
 * Not here: the sampler, umT5, the VAE, reading a model folder (files.c).
 */
#include <cblas.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attention.h"
#include "common.h"
#include "ops.h"
#include "ops_bf16.h"
#include "wan/dit.h"
#include "wtensor.h"

#define THETA 10000.0f
#define FFN_ROWS 2048      /* feed-forward rows per chunk (bounds scratch) */
#define ELEM_BLOCK 4096    /* floats per block of the element-wise tasks */
#define MAX_B 8            /* contexts per call of wan_dit_forward_multi */

typedef struct dit_attn {
    st2v_wview q, k, v, o;                  /* (D, D) */
    const float *bq, *bk, *bv, *bo;         /* (D) */
    const float *norm_q, *norm_k;           /* (D) */
} dit_attn;

typedef struct dit_block {
    dit_attn self, cross;
    const float *norm3_w, *norm3_b;         /* (D) */
    st2v_wview ffn0;                        /* (Fd, D) */
    const float *ffn0_b;                    /* (Fd) */
    st2v_wview ffn2;                        /* (D, Fd) */
    const float *ffn2_b;                    /* (D) */
    const float *mod;                       /* (6, D) */
} dit_block;

struct wan_dit {
    wan_dit_config cfg;
    st2v_wview patch;                       /* (D, Cin*P) */
    const float *patch_b;                   /* (D) */
    st2v_wview txt0, txt2;                  /* (D, text_dim), (D, D) */
    const float *txt0_b, *txt2_b;           /* (D) */
    st2v_wview tim0, tim2;                  /* (D, freq_dim), (D, D) */
    const float *tim0_b, *tim2_b;           /* (D) */
    st2v_wview proj;                        /* (6D, D) */
    const float *proj_b;                    /* (6D) */
    st2v_wview head;                        /* (P*C_out, D) */
    const float *head_b;                    /* (P*C_out) */
    const float *head_mod;                  /* (2, D) */
    dit_block *blocks;                      /* (num_layers) */
    float *small;                           /* every vector above, float32 */
    int bf16_attention;                     /* wan_dit_use_bf16 */
};

/* From OpenBLAS (declared here in case the cblas.h found is another one). */
void openblas_set_num_threads(int num_threads);

static pthread_once_t blas_once = PTHREAD_ONCE_INIT;

static void blas_single_thread(void)
{
    /* libst2v runs its own thread pool: OpenBLAS must not add its own */
    openblas_set_num_threads(1);
}

const wan_dit_config *wan_dit_get_config(const wan_dit *m)
{
    return &m->cfg;
}

int wan_dit_use_bf16(wan_dit *m, int on)
{
    st2v_wview *v[5] = {&m->txt0, &m->txt2, &m->tim0, &m->tim2, &m->proj};
    int any = 0;
    for (int i = 0; i < 5; i++)
        any |= v[i]->bf16 = on && v[i]->dtype == ST_BF16;
    for (int l = 0; l < m->cfg.num_layers; l++) {
        dit_block *k = &m->blocks[l];
        st2v_wview *b[10] = {&k->self.q,  &k->self.k,  &k->self.v,
                             &k->self.o,  &k->cross.q, &k->cross.k,
                             &k->cross.v, &k->cross.o, &k->ffn0, &k->ffn2};
        for (int i = 0; i < 10; i++)
            any |= b[i]->bf16 = on && b[i]->dtype == ST_BF16;
    }
    /* attention in bfloat16 with the linears: an F32 or F16 file stays
     * float32 throughout */
    m->bf16_attention = any && st2v_flash_attention_bf16_supported(
                                   m->cfg.dim / m->cfg.num_heads);
    return any && st2v_bf16_matmul_supported();
}

static int patch_size(const wan_dit_config *c)
{
    return c->patch[0] * c->patch[1] * c->patch[2];
}

/* ============================================================ loading */

typedef struct binder {
    const st_file *f;
    const char *prefix;
    float *small;                           /* next free float of m->small */
    char *err;
    size_t err_size;
} binder;

/* The tensor prefix + name (printf-style with one %d: the block). */
static const st_tensor *find(const binder *b, char *full, size_t size,
                             const char *name, int layer)
{
    char sub[ST_MAX_NAME];
    snprintf(sub, sizeof(sub), name, layer);
    snprintf(full, size, "%s%s", b->prefix, sub);
    return st_find(b->f, full);
}

/* Bind v to tensor name (of block layer) with exactly the shape
 * (ndim, shape), viewed as (rows, cols) = (shape[0] or the product of all
 * but the last dims, last dim). */
static int bind(st2v_wview *v, const binder *b, const char *name, int layer,
                int ndim, const int64_t *shape, int64_t rows, int64_t cols)
{
    char full[ST_MAX_NAME];
    const st_tensor *t = find(b, full, sizeof(full), name, layer);
    if (!t)
        return st2v_fail(b->err, b->err_size, ST2V_ERR_FORMAT,
                         "tensor %s: missing", full);
    int ok = t->ndim == ndim;
    for (int i = 0; ok && i < ndim; i++)
        ok = t->shape[i] == shape[i];
    if (!ok) {
        char got[96], want[96];
        st_format_shape(got, sizeof(got), t->shape, t->ndim);
        st_format_shape(want, sizeof(want), shape, ndim);
        return st2v_fail(b->err, b->err_size, ST2V_ERR_FORMAT,
                         "tensor %s: shape %s, expected %s", full, got, want);
    }
    if (t->dtype == ST_F8_E4M3)
        return st2v_fail(b->err, b->err_size, ST2V_ERR_UNSUPPORTED,
                         "tensor %s: F8_E4M3 (scaled fp8) weights in the "
                         "DiT are not supported yet; use a bf16, fp16 or "
                         "fp32 file", full);
    if (t->dtype != ST_F32 && t->dtype != ST_F16 && t->dtype != ST_BF16)
        return st2v_fail(b->err, b->err_size, ST2V_ERR_FORMAT,
                         "tensor %s: dtype %s, expected F32, F16 or BF16",
                         full, st_dtype_name(t->dtype));
    v->data = t->data;
    v->dtype = t->dtype;
    v->rows = rows;
    v->cols = cols;
    v->scale = 1.0f;
    v->bf16 = 0;
    return ST2V_OK;
}

static int bind2(st2v_wview *v, const binder *b, const char *name, int layer,
                 int64_t d0, int64_t d1)
{
    const int64_t shape[2] = {d0, d1};
    return bind(v, b, name, layer, 2, shape, d0, d1);
}

/* A vector (d) or a table (1, k, d), widened into b->small. */
static int bind_small(const float **out, binder *b, const char *name,
                      int layer, int64_t k, int64_t d)
{
    st2v_wview v;
    const int64_t shape[3] = {1, k, d};
    int st = k == 0 ? bind(&v, b, name, layer, 1, &d, 1, d)
                    : bind(&v, b, name, layer, 3, shape, k, d);
    if (st)
        return st;
    st2v_wview_rows(b->small, &v, 0, v.rows);
    *out = b->small;
    b->small += v.rows * v.cols;
    return ST2V_OK;
}

static int bind_attn(dit_attn *a, binder *b, const char *pre, int l,
                     int64_t D)
{
    char n[8][64];
    static const char *const sfx[8] = {"q.weight", "k.weight", "v.weight",
                                       "o.weight", "q.bias", "k.bias",
                                       "v.bias", "o.bias"};
    for (int i = 0; i < 8; i++)
        snprintf(n[i], sizeof(n[i]), "blocks.%%d.%s.%s", pre, sfx[i]);
    char nq[64], nk[64];
    snprintf(nq, sizeof(nq), "blocks.%%d.%s.norm_q.weight", pre);
    snprintf(nk, sizeof(nk), "blocks.%%d.%s.norm_k.weight", pre);
    int st;
    if ((st = bind2(&a->q, b, n[0], l, D, D)) ||
        (st = bind_small(&a->bq, b, n[4], l, 0, D)) ||
        (st = bind2(&a->k, b, n[1], l, D, D)) ||
        (st = bind_small(&a->bk, b, n[5], l, 0, D)) ||
        (st = bind2(&a->v, b, n[2], l, D, D)) ||
        (st = bind_small(&a->bv, b, n[6], l, 0, D)) ||
        (st = bind2(&a->o, b, n[3], l, D, D)) ||
        (st = bind_small(&a->bo, b, n[7], l, 0, D)) ||
        (st = bind_small(&a->norm_q, b, nq, l, 0, D)) ||
        (st = bind_small(&a->norm_k, b, nk, l, 0, D)))
        return st;
    return ST2V_OK;
}

static int bind_block(dit_block *k, binder *b, int l, const wan_dit_config *c)
{
    const int64_t D = c->dim, Fd = c->ffn_dim;
    int st;
    if ((st = bind_attn(&k->self, b, "self_attn", l, D)) ||
        (st = bind_small(&k->norm3_w, b, "blocks.%d.norm3.weight", l, 0, D)) ||
        (st = bind_small(&k->norm3_b, b, "blocks.%d.norm3.bias", l, 0, D)) ||
        (st = bind_attn(&k->cross, b, "cross_attn", l, D)) ||
        (st = bind2(&k->ffn0, b, "blocks.%d.ffn.0.weight", l, Fd, D)) ||
        (st = bind_small(&k->ffn0_b, b, "blocks.%d.ffn.0.bias", l, 0, Fd)) ||
        (st = bind2(&k->ffn2, b, "blocks.%d.ffn.2.weight", l, D, Fd)) ||
        (st = bind_small(&k->ffn2_b, b, "blocks.%d.ffn.2.bias", l, 0, D)) ||
        (st = bind_small(&k->mod, b, "blocks.%d.modulation", l, 6, D)))
        return st;
    return ST2V_OK;
}

static int bind_top(wan_dit *m, binder *b)
{
    const wan_dit_config *c = &m->cfg;
    const int64_t D = c->dim, PC = (int64_t)patch_size(c) * c->out_dim;
    const int64_t pshape[5] = {D, c->in_dim, c->patch[0], c->patch[1],
                               c->patch[2]};
    int st;
    if ((st = bind(&m->patch, b, "patch_embedding.weight", 0, 5, pshape, D,
                   (int64_t)c->in_dim * patch_size(c))) ||
        (st = bind_small(&m->patch_b, b, "patch_embedding.bias", 0, 0, D)) ||
        (st = bind2(&m->txt0, b, "text_embedding.0.weight", 0, D,
                    c->text_dim)) ||
        (st = bind_small(&m->txt0_b, b, "text_embedding.0.bias", 0, 0, D)) ||
        (st = bind2(&m->txt2, b, "text_embedding.2.weight", 0, D, D)) ||
        (st = bind_small(&m->txt2_b, b, "text_embedding.2.bias", 0, 0, D)) ||
        (st = bind2(&m->tim0, b, "time_embedding.0.weight", 0, D,
                    c->freq_dim)) ||
        (st = bind_small(&m->tim0_b, b, "time_embedding.0.bias", 0, 0, D)) ||
        (st = bind2(&m->tim2, b, "time_embedding.2.weight", 0, D, D)) ||
        (st = bind_small(&m->tim2_b, b, "time_embedding.2.bias", 0, 0, D)) ||
        (st = bind2(&m->proj, b, "time_projection.1.weight", 0, 6 * D, D)) ||
        (st = bind_small(&m->proj_b, b, "time_projection.1.bias", 0, 0,
                         6 * D)) ||
        (st = bind2(&m->head, b, "head.head.weight", 0, PC, D)) ||
        (st = bind_small(&m->head_b, b, "head.head.bias", 0, 0, PC)) ||
        (st = bind_small(&m->head_mod, b, "head.modulation", 0, 2, D)))
        return st;
    return ST2V_OK;
}

int wan_dit_load(wan_dit **out, const st_file *f, const char *prefix,
                 const wan_dit_config *cfg, char *err, size_t err_size)
{
    *out = NULL;
    pthread_once(&blas_once, blas_single_thread);
    int st = wan_dit_config_check(cfg, err, err_size);
    if (st)
        return st;
    const wan_dit_config c = *cfg;
    const size_t D = (size_t)c.dim;
    const size_t per_block = 21 * D + (size_t)c.ffn_dim;
    const size_t top =
        13 * D + (size_t)patch_size(&c) * (size_t)c.out_dim;
    wan_dit *m = calloc(1, sizeof(*m));
    if (!m)
        return ST2V_ERR_NOMEM;
    m->cfg = c;
    m->blocks = calloc((size_t)c.num_layers, sizeof(*m->blocks));
    m->small = st2v_alloc_floats(top + (size_t)c.num_layers * per_block);
    if (!m->blocks || !m->small) {
        wan_dit_free(m);
        return ST2V_ERR_NOMEM;
    }
    binder b = {.f = f, .prefix = prefix ? prefix : "", .small = m->small,
                .err = err, .err_size = err_size};
    st = bind_top(m, &b);
    for (int l = 0; !st && l < c.num_layers; l++)
        st = bind_block(&m->blocks[l], &b, l, &c);
    if (st) {
        wan_dit_free(m);
        return st;
    }
    *out = m;
    return ST2V_OK;
}

void wan_dit_free(wan_dit *m)
{
    if (!m)
        return;
    free(m->blocks);
    st2v_free(m->small);
    free(m);
}

/* ------------------------------------------------- config from shapes */

static int shape_of(const binder *b, const char *name, int ndim, int d,
                    int *out)
{
    char full[ST_MAX_NAME];
    const st_tensor *t = find(b, full, sizeof(full), name, 0);
    if (!t)
        return st2v_fail(b->err, b->err_size, ST2V_ERR_FORMAT,
                         "tensor %s: missing", full);
    if (t->ndim != ndim || t->shape[d] <= 0 || t->shape[d] > (1 << 24))
        return st2v_fail(b->err, b->err_size, ST2V_ERR_FORMAT,
                         "tensor %s: not a %d-D tensor of sensible size",
                         full, ndim);
    *out = (int)t->shape[d];
    return ST2V_OK;
}

int wan_dit_config_from_file(wan_dit_config *cfg, const st_file *f,
                             const char *prefix, char *err, size_t err_size)
{
    binder b = {.f = f, .prefix = prefix ? prefix : "", .err = err,
                .err_size = err_size};
    wan_dit_config c = *cfg;
    int rows, st;
    if ((st = shape_of(&b, "patch_embedding.weight", 5, 0, &c.dim)) ||
        (st = shape_of(&b, "patch_embedding.weight", 5, 1, &c.in_dim)) ||
        (st = shape_of(&b, "patch_embedding.weight", 5, 2, &c.patch[0])) ||
        (st = shape_of(&b, "patch_embedding.weight", 5, 3, &c.patch[1])) ||
        (st = shape_of(&b, "patch_embedding.weight", 5, 4, &c.patch[2])) ||
        (st = shape_of(&b, "text_embedding.0.weight", 2, 1, &c.text_dim)) ||
        (st = shape_of(&b, "time_embedding.0.weight", 2, 1, &c.freq_dim)) ||
        (st = shape_of(&b, "blocks.%d.ffn.0.weight", 2, 0, &c.ffn_dim)) ||
        (st = shape_of(&b, "head.head.weight", 2, 0, &rows)))
        return st;
    if (rows % patch_size(&c) != 0)
        return st2v_fail(err, err_size, ST2V_ERR_FORMAT,
                         "tensor %shead.head.weight: %d rows, not a multiple "
                         "of the patch's %d", b.prefix, rows, patch_size(&c));
    c.out_dim = rows / patch_size(&c);
    char full[ST_MAX_NAME];
    c.num_layers = 0;
    while (c.num_layers < 4096 &&
           find(&b, full, sizeof(full), "blocks.%d.modulation", c.num_layers))
        c.num_layers++;
    if ((st = wan_dit_config_check(&c, err, err_size)) != 0)
        return st;
    *cfg = c;
    return ST2V_OK;
}

/* ======================================================== row kernels */

typedef enum row_op {
    ROW_SET,        /* y = b */
    ROW_RESIDUAL,   /* x += g * (y + b), g NULL: 1 */
    ROW_RMS,        /* y = y * w / sqrt(mean(y^2) + eps) */
} row_op;

typedef struct row_task {
    row_op op;
    float *x;                   /* (n, d), stride ldx: ROW_RESIDUAL */
    float *y;                   /* (n, d), stride ldy */
    int64_t ldx, ldy;
    const float *b, *g, *w;     /* (d) */
    int d;
    float eps;
} row_task;

static void row_kernel(void *varg, int64_t begin, int64_t end)
{
    const row_task *a = varg;
    const int d = a->d;
    for (int64_t r = begin; r < end; r++) {
        float *y = a->y + r * a->ldy;
        if (a->op == ROW_SET) {
            memcpy(y, a->b, (size_t)d * sizeof(float));
        } else if (a->op == ROW_RESIDUAL) {
            float *x = a->x + r * a->ldx;
            if (a->g)
                for (int c = 0; c < d; c++)
                    x[c] += a->g[c] * (y[c] + a->b[c]);
            else
                for (int c = 0; c < d; c++)
                    x[c] += y[c] + a->b[c];
        } else {
            double ss = 0.0;
            for (int c = 0; c < d; c++)
                ss += (double)y[c] * y[c];
            const float inv = (float)(1.0 / sqrt(ss / d + a->eps));
            for (int c = 0; c < d; c++)
                y[c] = a->w[c] * (y[c] * inv);
        }
    }
}

static void rows_run(st2v_pool *pool, row_task *a, int64_t n)
{
    st2v_pool_for(pool, n, ST2V_ROW_BLOCK, row_kernel, a);
}

/* ------------------------------------------------------ matrix product */

/* y (n, w->rows) = x (n, w->cols) W^T + b: y starts as the bias rows, the
 * product is added (no separate pass of OpenBLAS's beta = 0). */
static void linear(st2v_pool *pool, float *y, const float *x,
                   const st2v_wview *w, const float *b, int64_t n,
                   float *tile)
{
    row_task a = {.op = ROW_SET, .y = y, .ldy = w->rows, .b = b,
                  .d = (int)w->rows};
    rows_run(pool, &a, n);
    st2v_wmatmul(pool, y, w->rows, x, w->cols, w, n, 1, tile);
}

/* x (n, d) += g * (y + b) */
static void residual(st2v_pool *pool, float *x, float *y, const float *b,
                     const float *g, int64_t n, int d)
{
    row_task a = {.op = ROW_RESIDUAL, .x = x, .y = y, .ldx = d, .ldy = d,
                  .b = b, .g = g, .d = d};
    rows_run(pool, &a, n);
}

/* y (n, d) = RMS norm over the full width d, times w */
static void rms_full(st2v_pool *pool, float *y, const float *w, int64_t n,
                     int d, float eps)
{
    row_task a = {.op = ROW_RMS, .y = y, .ldy = d, .w = w, .d = d,
                  .eps = eps};
    rows_run(pool, &a, n);
}

typedef struct elem_task {
    float *x;
} elem_task;

/* x = 0.5 x (1 + tanh(u)), u = sqrt(2/pi) (x + 0.044715 x^3), computed
 * as x / (1 + exp(-2u)), the same function: expf is several times cheaper
 * than tanhf (9 % of a block at full size with tanhf). */
static void gelu_tanh_block(void *varg, int64_t begin, int64_t end)
{
    float *x = ((const elem_task *)varg)->x;
    const float c2 = 2.0f * 0.7978845608028654f;
    for (int64_t i = begin; i < end; i++) {
        const float v = x[i];
        x[i] = v / (1.0f + expf(-c2 * (v + 0.044715f * v * v * v)));
    }
}

static void gelu_tanh(st2v_pool *pool, float *x, int64_t n)
{
    elem_task a = {.x = x};
    st2v_pool_for(pool, n, ELEM_BLOCK, gelu_tanh_block, &a);
}

static void silu_vec(float *y, const float *x, int n)
{
    for (int i = 0; i < n; i++)
        y[i] = x[i] / (1.0f + expf(-x[i]));
}

/* ======================================================= conditioning */

int wan_dit_time_embed(const wan_dit *m, double t, float *e, float *e0)
{
    const wan_dit_config *c = &m->cfg;
    const int D = c->dim, half = c->freq_dim / 2;
    float *buf = st2v_alloc_floats((size_t)c->freq_dim + 2 * (size_t)D +
                                   st2v_wmatmul_scratch(NULL, D));
    if (!buf)
        return ST2V_ERR_NOMEM;
    float *s = buf;                     /* (freq_dim) */
    float *h = s + c->freq_dim;         /* (D) */
    float *se = h + D;                  /* (D) */
    float *tile = se + D;
    for (int i = 0; i < half; i++) {
        const double a = t * pow(10000.0, -(double)i / half);
        s[i] = (float)cos(a);
        s[half + i] = (float)sin(a);
    }
    linear(NULL, h, s, &m->tim0, m->tim0_b, 1, tile);
    silu_vec(h, h, D);
    linear(NULL, e, h, &m->tim2, m->tim2_b, 1, tile);
    silu_vec(se, e, D);
    linear(NULL, e0, se, &m->proj, m->proj_b, 1, tile);
    st2v_free(buf);
    return ST2V_OK;
}

int wan_dit_text_embed(const wan_dit *m, st2v_pool *pool, const float *ctx,
                       int n, float *out, int *rows)
{
    const wan_dit_config *c = &m->cfg;
    if (n < 1 || n > c->text_len || !ctx || !out)
        return ST2V_ERR_INVALID_ARG;
    const int R = n < c->text_len ? n + 1 : n;
    const size_t TD = (size_t)c->text_dim, D = (size_t)c->dim;
    float *buf = st2v_alloc_floats((size_t)R * (TD + D) +
                                   st2v_wmatmul_scratch(pool, ST2V_MAX(TD, D)));
    if (!buf)
        return ST2V_ERR_NOMEM;
    float *in = buf;                        /* (R, text_dim) */
    float *h = in + (size_t)R * TD;         /* (R, D) */
    float *tile = h + (size_t)R * D;
    memcpy(in, ctx, (size_t)n * TD * sizeof(float));
    memset(in + (size_t)n * TD, 0, (size_t)(R - n) * TD * sizeof(float));
    linear(pool, h, in, &m->txt0, m->txt0_b, R, tile);
    gelu_tanh(pool, h, (int64_t)R * D);
    linear(pool, out, h, &m->txt2, m->txt2_b, R, tile);
    st2v_free(buf);
    *rows = R;
    return ST2V_OK;
}

/* ===================================================== self-attention */

static void rope_dims(int hd, int dims[3])
{
    dims[1] = dims[2] = 2 * (hd / 6);
    dims[0] = hd - 4 * (hd / 6);
}

/* out = attention(q, k, v) (attention.h), with bfloat16 products where
 * bf16 and the CPU has them. fa: st2v_flash_attention_scratch floats. */
static void attend(st2v_pool *pool, int bf16, float *out, int64_t ldo,
                   const float *q, const float *k, const float *v, int64_t ld,
                   int nq, int nk, int heads, int hd, const float *key_bias,
                   float *fa)
{
    if (!bf16 || !st2v_flash_attention_bf16(pool, out, ldo, q, ld, k, ld, v,
                                            ld, nq, nk, heads, hd, key_bias,
                                            fa))
        st2v_flash_attention(pool, out, ldo, q, ld, k, ld, v, ld, nq, nk,
                             heads, hd, key_bias, fa);
}

/* The part shared by wan_dit_self_attention and the blocks: q, k (L, D)
 * normed and rotated in place, out (L, D) the attention. */
static void self_attend(st2v_pool *pool, float *out, float *q, float *k,
                        const float *v, int64_t L, int heads, int hd,
                        const float *norm_q, const float *norm_k, float eps,
                        const float *cs, int bf16, float *fa)
{
    const int D = heads * hd;
    rms_full(pool, q, norm_q, L, D, eps);
    rms_full(pool, k, norm_k, L, D, eps);
    st2v_op_rope(pool, q, D, cs, L, heads, hd);
    st2v_op_rope(pool, k, D, cs, L, heads, hd);
    attend(pool, bf16, out, D, q, k, v, D, (int)L, (int)L, heads, hd, NULL,
           fa);
}

int wan_dit_self_attention(st2v_pool *pool, float *out, float *q, float *k,
                           const float *v, const int grid[3], int heads,
                           int hd, const float *norm_q, const float *norm_k,
                           float eps)
{
    if (heads < 1 || hd < 6 || hd % 2 || grid[0] < 1 || grid[1] < 1 ||
        grid[2] < 1)
        return ST2V_ERR_INVALID_ARG;
    const int64_t L = (int64_t)grid[0] * grid[1] * grid[2];
    int dims[3];
    rope_dims(hd, dims);
    float *cs = st2v_alloc_floats((size_t)L * hd +
                                  st2v_flash_attention_scratch(pool, hd));
    if (!cs)
        return ST2V_ERR_NOMEM;
    st2v_op_rope_table(cs, grid[0], grid[1], grid[2], 0, dims, THETA);
    self_attend(pool, out, q, k, v, L, heads, hd, norm_q, norm_k, eps, cs, 0,
                cs + (size_t)L * hd);
    st2v_free(cs);
    return ST2V_OK;
}

/* ============================================================ forward */

/* The state of one forward call: sizes and scratch. */
typedef struct dit_run {
    const wan_dit *m;
    st2v_pool *pool;
    int B, grid[3];
    int64_t L, M;               /* tokens per context, all rows */
    int rows[MAX_B];            /* context rows of each context */
    float *X, *h, *q, *k, *v;   /* (M, D) each */
    float *ff;                  /* (min(M, FFN_ROWS), Fd) */
    float *col;                 /* (L, Cin*P) patches, then (M, P*C_out) */
    float *ctx;                 /* (B, T1, D) embedded contexts */
    float *kbias;               /* (B, T1) key bias: ln(T - n) on the pad */
    float *kc, *vc;             /* (T1, D) cross keys, values */
    float *cs;                  /* (L, hd) RoPE table */
    float *e, *e0, *mod;        /* (D), (6, D), (6, D) */
    float *tile, *fa;           /* matmul and attention scratch */
    int64_t T1;                 /* the most context rows: min(n+1, T) */
} dit_run;

/* y (M, w->rows) = x (M, w->cols) W^T (+ b), one product per context's L
 * rows: the products of a single forward, so that every context of
 * wan_dit_forward_multi gets wan_dit_forward's bits. */
static void linear_m(dit_run *r, float *y, const float *x,
                     const st2v_wview *w, const float *b)
{
    for (int c = 0; c < r->B; c++) {
        float *yc = y + c * r->L * w->rows;
        const float *xc = x + c * r->L * w->cols;
        if (b)
            linear(r->pool, yc, xc, w, b, r->L, r->tile);
        else
            st2v_wmatmul(r->pool, yc, w->rows, xc, w->cols, w, r->L, 0,
                         r->tile);
    }
}

static void self_attention(dit_run *r, const dit_block *k, const float *m)
{
    const wan_dit *md = r->m;
    const int D = md->cfg.dim, N = md->cfg.num_heads, hd = D / N;
    st2v_pool *pool = r->pool;
    const int64_t M = r->M, L = r->L;
    st2v_op_layernorm_modulate(pool, r->h, r->X, m, m + D, 0, M, M, D,
                               md->cfg.eps);
    linear_m(r, r->q, r->h, &k->self.q, k->self.bq);
    linear_m(r, r->k, r->h, &k->self.k, k->self.bk);
    linear_m(r, r->v, r->h, &k->self.v, k->self.bv);
    for (int b = 0; b < r->B; b++) {
        const int64_t o = (int64_t)b * L * D;
        self_attend(pool, r->h + o, r->q + o, r->k + o, r->v + o, L, N, hd,
                    k->self.norm_q, k->self.norm_k, md->cfg.eps, r->cs,
                    md->bf16_attention, r->fa);
    }
    linear_m(r, r->q, r->h, &k->self.o, NULL);
    residual(pool, r->X, r->q, k->self.bo, m + 2 * D, M, D);
}

static void cross_attention(dit_run *r, const dit_block *k)
{
    const wan_dit *md = r->m;
    const int D = md->cfg.dim, N = md->cfg.num_heads, hd = D / N;
    const float eps = md->cfg.eps;
    st2v_pool *pool = r->pool;
    const int64_t M = r->M, L = r->L;
    st2v_op_layernorm(pool, r->h, r->X, k->norm3_w, k->norm3_b, M, D, eps);
    linear_m(r, r->q, r->h, &k->cross.q, k->cross.bq);
    rms_full(pool, r->q, k->cross.norm_q, M, D, eps);
    for (int b = 0; b < r->B; b++) {
        const float *c = r->ctx + (size_t)b * r->T1 * D;
        const int R = r->rows[b];
        linear(pool, r->kc, c, &k->cross.k, k->cross.bk, R, r->tile);
        rms_full(pool, r->kc, k->cross.norm_k, R, D, eps);
        linear(pool, r->vc, c, &k->cross.v, k->cross.bv, R, r->tile);
        const int64_t o = (int64_t)b * L * D;
        attend(pool, md->bf16_attention, r->h + o, D, r->q + o, r->kc,
               r->vc, D, (int)L, R, N, hd, r->kbias + b * r->T1, r->fa);
    }
    linear_m(r, r->q, r->h, &k->cross.o, NULL);
    residual(pool, r->X, r->q, k->cross.bo, NULL, M, D);
}

static void feed_forward(dit_run *r, const dit_block *k, const float *m)
{
    const wan_dit *md = r->m;
    const int D = md->cfg.dim, Fd = md->cfg.ffn_dim;
    st2v_pool *pool = r->pool;
    st2v_op_layernorm_modulate(pool, r->h, r->X, m + 3 * D, m + 4 * D, 0,
                               r->M, r->M, D, md->cfg.eps);
    /* per context, in chunks of rows: those of a single forward */
    for (int64_t c0 = 0; c0 < r->M; c0 += r->L)
        for (int64_t r0 = c0; r0 < c0 + r->L; r0 += FFN_ROWS) {
            const int64_t n = ST2V_MIN(c0 + r->L - r0, FFN_ROWS);
            linear(pool, r->ff, r->h + r0 * D, &k->ffn0, k->ffn0_b, n,
                   r->tile);
            gelu_tanh(pool, r->ff, n * Fd);
            st2v_wmatmul(pool, r->q + r0 * D, D, r->ff, Fd, &k->ffn2, n, 0,
                   r->tile);
        }
    residual(pool, r->X, r->q, k->ffn2_b, m + 5 * D, r->M, D);
}

static void run_block(dit_run *r, const dit_block *k)
{
    const int D = r->m->cfg.dim;
    for (int i = 0; i < 6 * D; i++)
        r->mod[i] = k->mod[i] + r->e0[i];
    self_attention(r, k, r->mod);
    cross_attention(r, k);
    feed_forward(r, k, r->mod);
}

/* X rows of context 0 (L, D) = patch_embedding(x), copied to the others */
static void patch_embed(dit_run *r, const float *x, int F, int H, int W)
{
    const wan_dit_config *c = &r->m->cfg;
    const int pt = c->patch[0], ph = c->patch[1], pw = c->patch[2];
    const int K = c->in_dim * pt * ph * pw, D = c->dim;
    float *col = r->col; /* (L, K) */
    int64_t tok = 0;
    for (int a = 0; a < r->grid[0]; a++)
        for (int y = 0; y < r->grid[1]; y++)
            for (int z = 0; z < r->grid[2]; z++, tok++) {
                float *dst = col + tok * K; /* (in_dim, pt, ph, pw) */
                for (int ch = 0; ch < c->in_dim; ch++)
                    for (int i = 0; i < pt; i++)
                        for (int j = 0; j < ph; j++)
                            for (int l = 0; l < pw; l++)
                                *dst++ = x[(((int64_t)ch * F + a * pt + i) *
                                                H + y * ph + j) * W +
                                           z * pw + l];
            }
    linear(r->pool, r->X, col, &r->m->patch, r->m->patch_b, r->L, r->tile);
    for (int b = 1; b < r->B; b++)
        memcpy(r->X + (size_t)b * r->L * D, r->X,
               (size_t)r->L * D * sizeof(float));
}

/* out (C_out, F, H, W) = unpatchify(y (L, P*C_out)) */
static void unpatchify(const wan_dit_config *c, const int grid[3],
                       const float *y, float *out, int F, int H, int W)
{
    const int pt = c->patch[0], ph = c->patch[1], pw = c->patch[2];
    const int C = c->out_dim, PC = pt * ph * pw * C;
    int64_t tok = 0;
    for (int a = 0; a < grid[0]; a++)
        for (int b = 0; b < grid[1]; b++)
            for (int z = 0; z < grid[2]; z++, tok++) {
                const float *row = y + tok * PC; /* (pt, ph, pw, C) */
                for (int i = 0; i < pt; i++)
                    for (int j = 0; j < ph; j++)
                        for (int l = 0; l < pw; l++)
                            for (int ch = 0; ch < C; ch++)
                                out[(((int64_t)ch * F + a * pt + i) * H +
                                     b * ph + j) * W + z * pw + l] =
                                    row[((i * ph + j) * pw + l) * C + ch];
            }
}

static void head(dit_run *r, float *const *out, int F, int H, int W)
{
    const wan_dit *m = r->m;
    const int D = m->cfg.dim;
    for (int i = 0; i < 2 * D; i++)
        r->mod[i] = m->head_mod[i] + r->e[i % D];
    st2v_op_layernorm_modulate(r->pool, r->h, r->X, r->mod, r->mod + D, 0,
                               r->M, r->M, D, m->cfg.eps);
    linear_m(r, r->col, r->h, &m->head, m->head_b);
    const int64_t PC = m->head.rows;
    for (int b = 0; b < r->B; b++)
        unpatchify(&m->cfg, r->grid, r->col + (size_t)b * r->L * PC, out[b],
                   F, H, W);
}

/* The forward of B contexts on one latent, up to `layers` blocks; then
 * either the velocities out[b] (out != NULL) or the token rows of
 * context 0 into tokens (L, D). */
static int forward(const wan_dit *m, st2v_pool *pool, const float *x, int F,
                   int H, int W, double t, int B, const float *const *ctx,
                   const int *n, int layers, float *const *out,
                   float *tokens)
{
    const wan_dit_config *c = &m->cfg;
    if (!x || B < 1 || B > MAX_B || F < 1 || H < 1 || W < 1 ||
        F % c->patch[0] || H % c->patch[1] || W % c->patch[2] ||
        layers < 0 || layers > c->num_layers)
        return ST2V_ERR_INVALID_ARG;
    for (int b = 0; b < B; b++)
        if (!ctx[b] || n[b] < 1 || n[b] > c->text_len || (out && !out[b]))
            return ST2V_ERR_INVALID_ARG;
    dit_run r = {.m = m, .pool = pool, .B = B,
                 .grid = {F / c->patch[0], H / c->patch[1], W / c->patch[2]}};
    r.L = (int64_t)r.grid[0] * r.grid[1] * r.grid[2];
    r.M = B * r.L;
    if (r.M > INT32_MAX / ST2V_MAX(c->dim, c->ffn_dim))
        return ST2V_ERR_INVALID_ARG;
    const int D = c->dim, hd = D / c->num_heads;
    const int64_t K = (int64_t)c->in_dim * patch_size(c);
    const int64_t PC = m->head.rows;
    r.T1 = 0;
    for (int b = 0; b < B; b++)
        r.T1 = ST2V_MAX(r.T1, n[b] < c->text_len ? n[b] + 1 : n[b]);
    const size_t MD = (size_t)r.M * D;
    const size_t sizes[] = {
        5 * MD,                                           /* X h q k v */
        (size_t)ST2V_MIN(r.M, FFN_ROWS) * c->ffn_dim,     /* ff */
        (size_t)ST2V_MAX(r.L * K, r.M * PC),              /* col */
        (size_t)B * r.T1 * D, (size_t)B * r.T1,           /* ctx kbias */
        2 * (size_t)r.T1 * D,                             /* kc vc */
        (size_t)r.L * hd,                                 /* cs */
        (size_t)D + 12 * (size_t)D,                       /* e e0 mod */
        st2v_wmatmul_scratch(pool, ST2V_MAX(ST2V_MAX(D, c->ffn_dim),
                                            ST2V_MAX(K, c->text_dim))),
        st2v_flash_attention_scratch(pool, hd)};
    size_t total = 0;
    for (size_t i = 0; i < ST2V_ARRAY_SIZE(sizes); i++)
        total += sizes[i];
    float *buf = st2v_alloc_floats(total);
    if (!buf)
        return ST2V_ERR_NOMEM;
    float *p = buf;
    r.X = p, p += MD;
    r.h = p, p += MD;
    r.q = p, p += MD;
    r.k = p, p += MD;
    r.v = p, p += MD;
    r.ff = p, p += sizes[1];
    r.col = p, p += sizes[2];
    r.ctx = p, p += sizes[3];
    r.kbias = p, p += sizes[4];
    r.kc = p, p += (size_t)r.T1 * D;
    r.vc = p, p += (size_t)r.T1 * D;
    r.cs = p, p += sizes[6];
    r.e = p, p += D;
    r.e0 = p, p += 6 * (size_t)D;
    r.mod = p, p += 6 * (size_t)D;
    r.tile = p, p += sizes[8];
    r.fa = p;

    int st = wan_dit_time_embed(m, t, r.e, r.e0);
    for (int b = 0; !st && b < B; b++) {
        st = wan_dit_text_embed(m, pool, ctx[b], n[b],
                                r.ctx + (size_t)b * r.T1 * D, &r.rows[b]);
        float *kb = r.kbias + (size_t)b * r.T1;
        for (int j = 0; j < r.T1; j++)
            kb[j] = 0.0f;
        if (n[b] < c->text_len)
            kb[n[b]] = (float)log((double)(c->text_len - n[b]));
    }
    if (st) {
        st2v_free(buf);
        return st;
    }
    int dims[3];
    rope_dims(hd, dims);
    st2v_op_rope_table(r.cs, r.grid[0], r.grid[1], r.grid[2], 0, dims,
                       THETA);
    patch_embed(&r, x, F, H, W);
    for (int l = 0; l < layers; l++)
        run_block(&r, &m->blocks[l]);
    if (out)
        head(&r, out, F, H, W);
    else
        memcpy(tokens, r.X, (size_t)r.L * D * sizeof(float));
    st2v_free(buf);
    return ST2V_OK;
}

int wan_dit_forward_multi(const wan_dit *m, st2v_pool *pool, const float *x,
                          int F, int H, int W, double t, int B,
                          const float *const *ctx, const int *n,
                          float *const *out)
{
    if (!out)
        return ST2V_ERR_INVALID_ARG;
    return forward(m, pool, x, F, H, W, t, B, ctx, n, m->cfg.num_layers, out,
                   NULL);
}

int wan_dit_forward(const wan_dit *m, st2v_pool *pool, const float *x, int F,
                    int H, int W, double t, const float *ctx, int n,
                    float *out)
{
    return wan_dit_forward_multi(m, pool, x, F, H, W, t, 1, &ctx, &n, &out);
}

int wan_dit_tokens(const wan_dit *m, st2v_pool *pool, const float *x, int F,
                   int H, int W, double t, const float *ctx, int n,
                   int layers, float *tokens)
{
    if (!tokens)
        return ST2V_ERR_INVALID_ARG;
    return forward(m, pool, x, F, H, W, t, 1, &ctx, &n, layers, NULL, tokens);
}
