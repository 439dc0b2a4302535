/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * umt5.c - the umT5-XXL encoder of Wan2.1 (umt5.h; the reference is
 * train/wan/umt5.py). Dimension key: n real tokens, D = dim, Da = heads *
 * head_dim, F = ffn, H = heads, hd = head_dim.
 *
 *   x (n, D) = token_embedding[ids]                 (rows widened one by one)
 *   per block: h = rms(x) * norm1; q, k, v (n, Da) = h W^T
 *              per head: s (n, n) = q k^T + bias[bucket(j - i)], no scaling;
 *                        att = softmax(s) v
 *              x += att o^T
 *              h = rms(x) * norm2; x += (h fc1^T * gelu_tanh(h gate^T)) fc2^T
 *   out = rms(x) * norm
 *
 * Names: the official ones or Hugging Face's UMT5 ones (Comfy's files),
 * told apart by the first block's first norm.
 *
 * dtypes: F32, F16, BF16 and F8_E4M3, the last with ComfyUI's scalar
 * `X.scale_weight` beside `X.weight` when the file has one (legacy "scaled
 * fp8": w = fp8 * scale; `X.scale_input` and the `scaled_fp8` marker are
 * not read). A scale beside a 16- or 32-bit weight is refused.
 *
 * Not here: tokenisation (spm.c), GGUF files, ComfyUI's newer
 * `.comfy_quant` / `weight_scale` files, the DiT's use of the rows.
 */
#include <cblas.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "ops.h"
#include "ops_bf16.h"
#include "wan/umt5.h"
#include "wtensor.h"

/* From OpenBLAS (declared here in case the cblas.h found is another one). */
void openblas_set_num_threads(int num_threads);

#define RMS_EPS 1e-6
#define GELU_BLOCK 4096 /* floats per block of the gated-GELU product */

typedef struct umt5_block {
    st2v_wview q, k, v;         /* (Da, D) */
    st2v_wview o;               /* (D, Da) */
    st2v_wview gate, fc1;       /* (F, D) */
    st2v_wview fc2;             /* (D, F) */
    const float *norm1, *norm2; /* (D), in m->small */
    const float *pos;           /* (buckets, H), in m->small */
} umt5_block;

struct wan_umt5 {
    wan_umt5_config cfg;
    st2v_wview tok;             /* (vocab, D) */
    const float *norm;          /* (D), in m->small */
    umt5_block *blocks;         /* (layers) */
    float *small;               /* every norm weight and bias table, float32 */
    int release;                /* weights in a file mapping: drop each
                                   block's pages from the RSS after use */
};

wan_umt5_config wan_umt5_xxl_config(void)
{
    wan_umt5_config c = {.vocab = 256384, .dim = 4096, .heads = 64,
                         .head_dim = 64, .ffn = 10240, .layers = 24,
                         .buckets = 32, .max_dist = 128};
    return c;
}

const wan_umt5_config *wan_umt5_get_config(const wan_umt5 *m)
{
    return &m->cfg;
}

/* ============================================================ buckets */

int wan_umt5_bucket(int rel, int buckets, int max_dist)
{
    const int half = buckets / 2, exact = half / 2;
    const int side = rel > 0 ? half : 0;
    const int r = rel < 0 ? -rel : rel;
    if (r < exact)
        return side + r;
    /* As t5.py: log(r / exact) in float32, divided by the float64
     * log(max_dist / exact) taken to float32, times (half - exact), then
     * truncated. Only the powers of two hit an integer exactly, and there
     * float32 is exact too (log 2^k = k log 2 rounds to k times log 2). */
    const float lg = (float)log((double)max_dist / exact);
    const float v = logf((float)r / (float)exact) / lg * (float)(half - exact);
    const int large = exact + (int)v;
    return side + ST2V_MIN(large, half - 1);
}

/* ============================================================ loading */

static pthread_once_t blas_once = PTHREAD_ONCE_INIT;

static void blas_single_thread(void)
{
    /* libst2v runs its own thread pool: OpenBLAS must not add its own */
    openblas_set_num_threads(1);
}

static int valid_config(const wan_umt5_config *c)
{
    return c->vocab > 0 && c->dim > 0 && c->heads > 0 && c->head_dim > 0 &&
           c->ffn > 0 && c->layers > 0 && c->buckets >= 4 &&
           c->buckets % 2 == 0 && c->max_dist > c->buckets / 4 &&
           (int64_t)c->heads * c->head_dim <= INT32_MAX;
}

/* ------------------------------------------------------------- names */

/* The tensors of the encoder, and their names in the two layouts users
 * have: the official t5.py names, and Hugging Face's UMT5 names (Comfy's
 * umt5_xxl_*.safetensors) where wi_0 is the GELU gate, wi_1 fc1, wo fc2. */
enum { T_TOK, T_NORM1, T_Q, T_K, T_V, T_O, T_NORM2, T_GATE, T_FC1, T_FC2,
       T_POS, T_NORM, T_COUNT };

static const char *const NAMES_OFFICIAL[T_COUNT] = {
    "token_embedding.weight",
    "blocks.%d.norm1.weight",
    "blocks.%d.attn.q.weight",
    "blocks.%d.attn.k.weight",
    "blocks.%d.attn.v.weight",
    "blocks.%d.attn.o.weight",
    "blocks.%d.norm2.weight",
    "blocks.%d.ffn.gate.0.weight",
    "blocks.%d.ffn.fc1.weight",
    "blocks.%d.ffn.fc2.weight",
    "blocks.%d.pos_embedding.embedding.weight",
    "norm.weight",
};

static const char *const NAMES_HF[T_COUNT] = {
    "shared.weight",
    "encoder.block.%d.layer.0.layer_norm.weight",
    "encoder.block.%d.layer.0.SelfAttention.q.weight",
    "encoder.block.%d.layer.0.SelfAttention.k.weight",
    "encoder.block.%d.layer.0.SelfAttention.v.weight",
    "encoder.block.%d.layer.0.SelfAttention.o.weight",
    "encoder.block.%d.layer.1.layer_norm.weight",
    "encoder.block.%d.layer.1.DenseReluDense.wi_0.weight",
    "encoder.block.%d.layer.1.DenseReluDense.wi_1.weight",
    "encoder.block.%d.layer.1.DenseReluDense.wo.weight",
    "encoder.block.%d.layer.0.SelfAttention.relative_attention_bias.weight",
    "encoder.final_layer_norm.weight",
};

/* HF files may carry the (tied) embedding under this name instead. */
#define HF_TOK_ALT "encoder.embed_tokens.weight"

typedef struct names {
    const char *prefix;
    const char *const *fmt;     /* NAMES_OFFICIAL or NAMES_HF */
    const char *tok;            /* the embedding's name in this file */
} names;

/* The layout of f under prefix: Hugging Face's when its first block's
 * first norm is there under that name, else the official one (whose names
 * the errors then give). */
static names detect_names(const st_file *f, const char *prefix)
{
    names n = {prefix ? prefix : "", NAMES_OFFICIAL, NAMES_OFFICIAL[T_TOK]};
    char full[ST_MAX_NAME];
    snprintf(full, sizeof(full), "%sencoder.block.0.layer.0.layer_norm.weight",
             n.prefix);
    if (st_find(f, full)) {
        n.fmt = NAMES_HF;
        n.tok = NAMES_HF[T_TOK];
        snprintf(full, sizeof(full), "%s%s", n.prefix, NAMES_HF[T_TOK]);
        if (!st_find(f, full))
            n.tok = HF_TOK_ALT;
    }
    return n;
}

static void full_name(char *out, size_t size, const names *n, int kind,
                      int layer)
{
    char sub[ST_MAX_NAME];
    snprintf(sub, sizeof(sub), n->fmt[kind], layer);
    snprintf(out, size, "%s%s", n->prefix, kind == T_TOK ? n->tok : sub);
}

/* ----------------------------------------------------------- config */

static const st_tensor *find_2d(const st_file *f, const names *n, int kind,
                                char *err, size_t err_size, int *status)
{
    char full[ST_MAX_NAME];
    full_name(full, sizeof(full), n, kind, 0);
    const st_tensor *t = st_find(f, full);
    if (!t)
        *status = st2v_fail(err, err_size, ST2V_ERR_FORMAT,
                            "tensor %s: missing", full);
    else if (t->ndim != 2 || t->shape[0] <= 0 || t->shape[1] <= 0 ||
             t->shape[0] > INT32_MAX || t->shape[1] > INT32_MAX)
        *status = st2v_fail(err, err_size, ST2V_ERR_FORMAT,
                            "tensor %s: not a matrix", full);
    else
        return t;
    return NULL;
}

int wan_umt5_config_from_file(wan_umt5_config *cfg, const st_file *f,
                              const char *prefix, char *err, size_t err_size)
{
    const names n = detect_names(f, prefix);
    int st = ST2V_OK;
    const st_tensor *tok, *pos, *q, *fc1;
    if (!(tok = find_2d(f, &n, T_TOK, err, err_size, &st)) ||
        !(pos = find_2d(f, &n, T_POS, err, err_size, &st)) ||
        !(q = find_2d(f, &n, T_Q, err, err_size, &st)) ||
        !(fc1 = find_2d(f, &n, T_FC1, err, err_size, &st)))
        return st;
    wan_umt5_config c = {.vocab = (int)tok->shape[0],
                         .dim = (int)tok->shape[1],
                         .heads = (int)pos->shape[1],
                         .ffn = (int)fc1->shape[0],
                         .buckets = (int)pos->shape[0],
                         .max_dist = 128};
    char name[ST_MAX_NAME];
    if (q->shape[0] % c.heads != 0) {
        full_name(name, sizeof(name), &n, T_Q, 0);
        return st2v_fail(err, err_size, ST2V_ERR_FORMAT,
                         "tensor %s: %lld rows for %d heads", name,
                         (long long)q->shape[0], c.heads);
    }
    c.head_dim = (int)(q->shape[0] / c.heads);
    for (;;) {
        full_name(name, sizeof(name), &n, T_NORM1, c.layers);
        if (!st_find(f, name))
            break;
        c.layers++;
    }
    if (c.layers == 0) {
        full_name(name, sizeof(name), &n, T_NORM1, 0);
        return st2v_fail(err, err_size, ST2V_ERR_FORMAT, "tensor %s: missing",
                         name);
    }
    if (!valid_config(&c))
        return st2v_fail(err, err_size, ST2V_ERR_FORMAT,
                         "umT5 config from the tensor shapes is invalid "
                         "(%d buckets)", c.buckets);
    *cfg = c;
    return ST2V_OK;
}

/* ----------------------------------------------------------- binding */

/* Bind tensor `kind` of block `layer` to v, with exactly shape (d0, d1)
 * (ndim 2) or (d0) (ndim 1). */
static int bind(st2v_wview *v, const st_file *f, const names *n, int kind,
                int layer, int ndim, int64_t d0, int64_t d1, char *err,
                size_t err_size)
{
    char full[ST_MAX_NAME];
    full_name(full, sizeof(full), n, kind, layer);
    int st = st2v_wview_bind(v, f, full, ndim, d0, d1, err, err_size);
    if (st || v->dtype != ST_F8_E4M3)
        return st;
    /* ComfyUI's scaled fp8: X.weight beside a scalar X.scale_weight */
    const size_t len = strlen(full), w = sizeof(".weight") - 1;
    if (len < w || strcmp(full + len - w, ".weight") != 0 ||
        len - w + sizeof(".scale_weight") > sizeof(full))
        return ST2V_OK;
    snprintf(full + len - w, sizeof(full) - (len - w), ".scale_weight");
    return st2v_wview_bind_scale(v, f, full, err, err_size);
}

/* Bind a small tensor and widen it into *dst, advancing *dst. */
static int bind_small(const float **out, float **dst, const st_file *f,
                      const names *n, int kind, int layer, int ndim,
                      int64_t d0, int64_t d1, char *err, size_t err_size)
{
    st2v_wview v;
    int st = bind(&v, f, n, kind, layer, ndim, d0, d1, err, err_size);
    if (st)
        return st;
    st2v_wview_rows(*dst, &v, 0, v.rows);
    *out = *dst;
    *dst += v.rows * v.cols;
    return ST2V_OK;
}

int wan_umt5_load(wan_umt5 **out, const st_file *f, const char *prefix,
                  const wan_umt5_config *cfg, char *err, size_t err_size)
{
    *out = NULL;
    pthread_once(&blas_once, blas_single_thread);
    if (!valid_config(cfg))
        return st2v_fail(err, err_size, ST2V_ERR_INVALID_ARG,
                         "invalid umT5 config");
    const names n = detect_names(f, prefix);
    const wan_umt5_config c = *cfg;
    const int64_t D = c.dim, Da = (int64_t)c.heads * c.head_dim, F = c.ffn;
    wan_umt5 *m = calloc(1, sizeof(*m));
    if (!m)
        return ST2V_ERR_NOMEM;
    m->cfg = c;
    m->release = f->map != NULL;
    m->blocks = calloc((size_t)c.layers, sizeof(*m->blocks));
    m->small = st2v_alloc_floats((size_t)c.layers *
                                     (2 * (size_t)D +
                                      (size_t)c.buckets * c.heads) +
                                 (size_t)D);
    if (!m->blocks || !m->small) {
        wan_umt5_free(m);
        return ST2V_ERR_NOMEM;
    }
    float *small = m->small;
    int st = bind(&m->tok, f, &n, T_TOK, 0, 2, c.vocab, D, err, err_size);
    for (int l = 0; !st && l < c.layers; l++) {
        umt5_block *b = &m->blocks[l];
        if ((st = bind_small(&b->norm1, &small, f, &n, T_NORM1, l, 1, D, 0,
                             err, err_size)) ||
            (st = bind(&b->q, f, &n, T_Q, l, 2, Da, D, err, err_size)) ||
            (st = bind(&b->k, f, &n, T_K, l, 2, Da, D, err, err_size)) ||
            (st = bind(&b->v, f, &n, T_V, l, 2, Da, D, err, err_size)) ||
            (st = bind(&b->o, f, &n, T_O, l, 2, D, Da, err, err_size)) ||
            (st = bind_small(&b->norm2, &small, f, &n, T_NORM2, l, 1, D, 0,
                             err, err_size)) ||
            (st = bind(&b->gate, f, &n, T_GATE, l, 2, F, D, err,
                       err_size)) ||
            (st = bind(&b->fc1, f, &n, T_FC1, l, 2, F, D, err, err_size)) ||
            (st = bind(&b->fc2, f, &n, T_FC2, l, 2, D, F, err, err_size)) ||
            (st = bind_small(&b->pos, &small, f, &n, T_POS, l, 2, c.buckets,
                             c.heads, err, err_size)))
            break;
    }
    if (!st)
        st = bind_small(&m->norm, &small, f, &n, T_NORM, 0, 1, D, 0, err,
                        err_size);
    if (st) {
        wan_umt5_free(m);
        return st;
    }
    *out = m;
    return ST2V_OK;
}

void wan_umt5_free(wan_umt5 *m)
{
    if (!m)
        return;
    free(m->blocks);
    st2v_free(m->small);
    free(m);
}

/* ========================================================== kernels */

typedef struct rms_task {
    float *y;                   /* (n, d) */
    const float *x;             /* (n, d) */
    const float *w;             /* (d) */
    int d;
} rms_task;

/* y = w * (x / sqrt(mean(x^2) + eps)), the sum of squares in double. */
static void rms_rows(void *varg, int64_t begin, int64_t end)
{
    const rms_task *a = varg;
    const int d = a->d;
    for (int64_t r = begin; r < end; r++) {
        const float *x = a->x + r * d;
        float *y = a->y + r * d;
        double ss = 0.0;
        for (int c = 0; c < d; c++)
            ss += (double)x[c] * x[c];
        const float inv = (float)(1.0 / sqrt(ss / d + RMS_EPS));
        for (int c = 0; c < d; c++)
            y[c] = a->w[c] * (x[c] * inv);
    }
}

static void rmsnorm(st2v_pool *pool, float *y, const float *x, const float *w,
                    int64_t n, int d)
{
    rms_task a = {.y = y, .x = x, .w = w, .d = d};
    st2v_pool_for(pool, n, ST2V_ROW_BLOCK, rms_rows, &a);
}

typedef struct gelu_task {
    float *f;                   /* fc1 output, multiplied in place */
    const float *g;             /* gate output */
} gelu_task;

/* f *= 0.5 g (1 + tanh(sqrt(2/pi) (g + 0.044715 g^3))) */
static void gelu_mul(void *varg, int64_t begin, int64_t end)
{
    const gelu_task *a = varg;
    const float c = 0.7978845608028654f; /* sqrt(2 / pi) */
    for (int64_t i = begin; i < end; i++) {
        const float g = a->g[i];
        a->f[i] *= 0.5f * g * (1.0f + tanhf(c * (g + 0.044715f * g * g * g)));
    }
}

typedef struct att_task {
    float *out;                 /* (n, Da) */
    const float *q, *k, *v;     /* (n, Da) each */
    int64_t ld;                 /* Da */
    int n, hd, heads;
    const float *pos;           /* (buckets, heads) of this block */
    const int *bucket;          /* (2n - 1): bucket of rel = index - (n-1) */
    float *scores;              /* n * n floats per pool slot */
} att_task;

static void att_heads(void *varg, int64_t begin, int64_t end)
{
    const att_task *a = varg;
    const int n = a->n, hd = a->hd;
    float *s = a->scores + (size_t)st2v_pool_slot() * n * n;
    for (int64_t h = begin; h < end; h++) {
        const int64_t c = h * hd;
        /* s (n, n) = q_h k_h^T: T5 does not scale by 1/sqrt(hd) */
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, n, hd, 1.0f,
                    a->q + c, (int)a->ld, a->k + c, (int)a->ld, 0.0f, s, n);
        for (int i = 0; i < n; i++) {
            float *row = s + (size_t)i * n;
            const int *bk = a->bucket + (n - 1 - i); /* bk[j]: rel = j - i */
            float mx = -INFINITY;
            for (int j = 0; j < n; j++) {
                row[j] += a->pos[(size_t)bk[j] * a->heads + h];
                mx = row[j] > mx ? row[j] : mx;
            }
            float sum = 0.0f;
            for (int j = 0; j < n; j++) {
                row[j] = expf(row[j] - mx);
                sum += row[j];
            }
            const float inv = 1.0f / sum;
            for (int j = 0; j < n; j++)
                row[j] *= inv;
        }
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, hd, n, 1.0f,
                    s, n, a->v + c, (int)a->ld, 0.0f, a->out + c, (int)a->ld);
    }
}

int wan_umt5_use_bf16(wan_umt5 *m, int on)
{
    int any = 0;
    for (int l = 0; l < m->cfg.layers; l++) {
        umt5_block *b = &m->blocks[l];
        st2v_wview *v[7] = {&b->q, &b->k, &b->v, &b->o,
                            &b->gate, &b->fc1, &b->fc2};
        for (int i = 0; i < 7; i++)
            any |= v[i]->bf16 = on && v[i]->dtype == ST_BF16;
    }
    return any && st2v_bf16_matmul_supported();
}

/* ============================================================ encode */

int wan_umt5_encode(const wan_umt5 *m, st2v_pool *pool, const int32_t *ids,
                    int n, float *out)
{
    const wan_umt5_config *c = &m->cfg;
    if (n < 1 || n > WAN_UMT5_MAX_TOKENS || !ids || !out)
        return ST2V_ERR_INVALID_ARG;
    for (int i = 0; i < n; i++)
        if (ids[i] < 0 || ids[i] >= c->vocab)
            return ST2V_ERR_INVALID_ARG;

    const int D = c->dim, Da = c->heads * c->head_dim, F = c->ffn;
    const int threads = st2v_pool_threads(pool);
    const size_t nD = (size_t)n * D, nI = (size_t)n * Da, nF = (size_t)n * F;
    const size_t n_tile =
        st2v_wmatmul_scratch(pool, ST2V_MAX(ST2V_MAX(D, Da), F));
    float *buf = st2v_alloc_floats(2 * nD + 4 * nI + 2 * nF +
                                   (size_t)threads * n * n + n_tile);
    int *bucket = malloc((size_t)(2 * n - 1) * sizeof(int));
    if (!buf || !bucket) {
        st2v_free(buf);
        free(bucket);
        return ST2V_ERR_NOMEM;
    }
    float *x = buf;                 /* (n, D) residual stream */
    float *h = x + nD;              /* (n, D) normalised */
    float *q = h + nD;              /* (n, Da) */
    float *k = q + nI, *v = k + nI; /* (n, Da) */
    float *att = v + nI;            /* (n, Da) attention output */
    float *g = att + nI;            /* (n, F) gate */
    float *f = g + nF;              /* (n, F) fc1, then the gated product */
    float *scores = f + nF;         /* (n, n) per thread */
    float *tile = scores + (size_t)threads * n * n;

    for (int r = 0; r < 2 * n - 1; r++)
        bucket[r] = wan_umt5_bucket(r - (n - 1), c->buckets, c->max_dist);
    for (int i = 0; i < n; i++)
        st2v_wview_rows(x + (size_t)i * D, &m->tok, ids[i], 1);

    for (int l = 0; l < c->layers; l++) {
        const umt5_block *b = &m->blocks[l];
        rmsnorm(pool, h, x, b->norm1, n, D);
        st2v_wmatmul(pool, q, Da, h, D, &b->q, n, 0, tile);
        st2v_wmatmul(pool, k, Da, h, D, &b->k, n, 0, tile);
        st2v_wmatmul(pool, v, Da, h, D, &b->v, n, 0, tile);
        att_task at = {.out = att, .q = q, .k = k, .v = v, .ld = Da, .n = n,
                       .hd = c->head_dim, .heads = c->heads, .pos = b->pos,
                       .bucket = bucket, .scores = scores};
        st2v_pool_for(pool, c->heads, 1, att_heads, &at);
        st2v_wmatmul(pool, x, D, att, Da, &b->o, n, 1, tile);

        rmsnorm(pool, h, x, b->norm2, n, D);
        st2v_wmatmul(pool, g, F, h, D, &b->gate, n, 0, tile);
        st2v_wmatmul(pool, f, F, h, D, &b->fc1, n, 0, tile);
        gelu_task gt = {.f = f, .g = g};
        st2v_pool_for(pool, (int64_t)nF, GELU_BLOCK, gelu_mul, &gt);
        st2v_wmatmul(pool, x, D, f, F, &b->fc2, n, 1, tile);
        if (m->release) {
            const st2v_wview *used[] = {&b->q, &b->k, &b->v, &b->o,
                                        &b->gate, &b->fc1, &b->fc2};
            for (size_t u = 0; u < ST2V_ARRAY_SIZE(used); u++)
                st2v_wview_release(used[u]);
        }
    }
    rmsnorm(pool, out, x, m->norm, n, D);

    st2v_free(buf);
    free(bucket);
    return ST2V_OK;
}

int wan_umt5_context(const wan_umt5 *m, st2v_pool *pool, const int32_t *ids,
                     int n, int text_len, float *out)
{
    if (n > text_len || !out)
        return ST2V_ERR_INVALID_ARG;
    int st = wan_umt5_encode(m, pool, ids, n, out);
    if (st)
        return st;
    memset(out + (size_t)n * m->cfg.dim, 0,
           (size_t)(text_len - n) * m->cfg.dim * sizeof(float));
    return ST2V_OK;
}
