/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * model.c - load an st2v model file (docs/model-format.md, sections 1-6):
 * open the safetensors file, check __metadata__.format, parse the config,
 * then bind every tensor of the spec tables to its field in core/model.h,
 * checking its shape against the config. Missing and unexpected tensors
 * are refused. F32 tensors that are 4-byte aligned are used in place from
 * the read-only mapping; all others are converted to owned float buffers.
 *
 * Also here: the model info. The model is read-only once loaded; the
 * family's entry in core/arch.h, which st2v_model_load() reaches, is
 * family.c.
 */
#include "model.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "arch.h"
#include "common.h"
#include "cost.h"
#include "escape.h"
#include "ops.h"

/* ------------------------------------------------------------ binding */

typedef struct {
    st2v_world *m;
    unsigned char *used;       /* (n_tensors) bound already */
    int rc;                    /* first failure, sticky */
    char *err;
    size_t err_size;
} binder;

/* Bind tensor "prefix.suffix" (or "prefix" when suffix is NULL) of the
 * given shape to *dst. */
static void bind(binder *b, const float **dst, const char *prefix,
                 const char *suffix, int ndim, const int64_t *shape)
{
    if (b->rc)
        return;
    st2v_world *m = b->m;
    char name[ST_MAX_NAME], want[160], got[160];
    if (suffix)
        snprintf(name, sizeof(name), "%s.%s", prefix, suffix);
    else
        snprintf(name, sizeof(name), "%s", prefix);
    st_format_shape(want, sizeof(want), shape, ndim);

    const st_tensor *t = st_find(&m->file, name);
    if (!t) {
        b->rc = st2v_fail(b->err, b->err_size, ST2V_ERR_FORMAT,
                          "tensor \"%s\" is missing (the config expects "
                          "shape %s)",
                          name, want);
        return;
    }
    b->used[t - m->file.tensors] = 1;
    int same = t->ndim == ndim;
    for (int i = 0; same && i < ndim; i++)
        same = t->shape[i] == shape[i];
    if (!same) {
        st_format_shape(got, sizeof(got), t->shape, t->ndim);
        b->rc = st2v_fail(b->err, b->err_size, ST2V_ERR_FORMAT,
                          "tensor \"%s\": shape %s but the config expects %s",
                          name, got, want);
        return;
    }
    if (t->dtype != ST_F32 && t->dtype != ST_F16 && t->dtype != ST_BF16) {
        b->rc = st2v_fail(b->err, b->err_size, ST2V_ERR_FORMAT,
                          "tensor \"%s\": dtype %s, expected F32, F16 or "
                          "BF16",
                          name, st_dtype_name(t->dtype));
        return;
    }
    if (t->dtype == ST_F32 && ((uintptr_t)t->data & 3u) == 0) {
        *dst = (const float *)(const void *)t->data;
        return;
    }
    float *buf = st2v_alloc_floats((size_t)t->numel);
    if (!buf) {
        b->rc = st2v_fail(b->err, b->err_size, ST2V_ERR_NOMEM,
                          "tensor \"%s\": out of memory converting %" PRIu64
                          " values to F32",
                          name, t->numel);
        return;
    }
    st_to_f32(t, buf);
    m->owned[m->n_owned++] = buf;
    *dst = buf;
}

static void bind1(binder *b, const float **dst, const char *prefix,
                  const char *suffix, int64_t n)
{
    const int64_t shape[1] = {n};
    bind(b, dst, prefix, suffix, 1, shape);
}

/* prefix.suffix.weight (out, in) and prefix.suffix.bias (out). */
static void bind_linear(binder *b, st2v_linear *l, const char *prefix,
                        const char *suffix, int out, int in)
{
    char name[ST_MAX_NAME];
    snprintf(name, sizeof(name), "%s.%s", prefix, suffix);
    const int64_t shape[2] = {out, in};
    bind(b, &l->w, name, "weight", 2, shape);
    bind1(b, &l->b, name, "bias", out);
    l->in = in;
    l->out = out;
}

/* LayerNorm with affine: prefix.suffix.weight and .bias, both (dim). */
static void bind_layernorm(binder *b, st2v_norm *n, const char *prefix,
                           const char *suffix, int dim)
{
    char name[ST_MAX_NAME];
    snprintf(name, sizeof(name), "%s.%s", prefix, suffix);
    bind1(b, &n->w, name, "weight", dim);
    bind1(b, &n->b, name, "bias", dim);
}

/* prefix.suffix.weight (cout, cin, kt, 3, 3) and .bias (cout). */
static void bind_conv(binder *b, st2v_conv *c, const char *prefix,
                      const char *suffix, int cout, int cin, int kt)
{
    char name[ST_MAX_NAME];
    snprintf(name, sizeof(name), "%s.%s", prefix, suffix);
    const int64_t shape[5] = {cout, cin, kt, 3, 3};
    bind(b, &c->w, name, "weight", 5, shape);
    bind1(b, &c->b, name, "bias", cout);
    c->cout = cout;
    c->cin = cin;
    c->kt = kt;
}

static void bind_text(binder *b, const st2v_config *c, st2v_text_weights *t)
{
    int Dt = c->text_dim, Mt = c->text_mlp;
    const int64_t tok[2] = {c->vocab_size, Dt}, pos[2] = {c->max_length, Dt};
    bind(b, &t->tok_emb, "text.tok_emb", NULL, 2, tok);
    bind(b, &t->pos_emb, "text.pos_emb", NULL, 2, pos);
    for (int i = 0; i < c->text_layers; i++) {
        st2v_text_block *k = &t->blocks[i];
        char p[64];
        snprintf(p, sizeof(p), "text.blocks.%d", i);
        bind_layernorm(b, &k->norm1, p, "norm1", Dt);
        bind_linear(b, &k->qkv, p, "attn.qkv", 3 * Dt, Dt);
        bind_linear(b, &k->proj, p, "attn.proj", Dt, Dt);
        bind_layernorm(b, &k->norm2, p, "norm2", Dt);
        bind_linear(b, &k->fc1, p, "mlp.fc1", Mt, Dt);
        bind_linear(b, &k->fc2, p, "mlp.fc2", Dt, Mt);
    }
    bind_layernorm(b, &t->norm, "text", "norm", Dt);
}

static void bind_dit(binder *b, const st2v_config *c, st2v_dit_weights *d)
{
    int D = c->dim, M = c->mlp, Dt = c->text_dim, hd = c->dim / c->heads;
    int P = c->dit_channels * c->patch[0] * c->patch[1] * c->patch[2];
    bind_linear(b, &d->patch_embed, "dit", "patch_embed", D, P);
    bind_linear(b, &d->t_fc1, "dit", "t_embed.fc1", D, c->freq_dim);
    bind_linear(b, &d->t_fc2, "dit", "t_embed.fc2", D, D);
    if (c->text_pool)
        bind_linear(b, &d->text_pool, "dit", "text_pool", D, Dt);
    for (int i = 0; i < c->layers; i++) {
        st2v_dit_block *k = &d->blocks[i];
        char p[64];
        snprintf(p, sizeof(p), "dit.blocks.%d", i);
        bind_linear(b, &k->ada, p, "ada", 6 * D, D);
        bind_linear(b, &k->qkv, p, "attn.qkv", 3 * D, D);
        bind1(b, &k->q_norm, p, "attn.q_norm.weight", hd);
        bind1(b, &k->k_norm, p, "attn.k_norm.weight", hd);
        bind_linear(b, &k->proj, p, "attn.proj", D, D);
        bind_layernorm(b, &k->norm_cross, p, "norm_cross", D);
        bind_linear(b, &k->cross_q, p, "cross.q", D, D);
        bind_linear(b, &k->cross_kv, p, "cross.kv", 2 * D, Dt);
        bind1(b, &k->cross_q_norm, p, "cross.q_norm.weight", hd);
        bind1(b, &k->cross_k_norm, p, "cross.k_norm.weight", hd);
        bind_linear(b, &k->cross_proj, p, "cross.proj", D, D);
        bind_linear(b, &k->fc1, p, "mlp.fc1", M, D);
        bind_linear(b, &k->fc2, p, "mlp.fc2", D, M);
    }
    bind_linear(b, &d->final_ada, "dit", "final.ada", 2 * D, D);
    bind_linear(b, &d->final_linear, "dit", "final.linear", P, D);
}

/* The res blocks of level i of the decoder ("dec") or encoder ("enc"),
 * C channels wide. */
static void bind_res(binder *b, const st2v_config *c, const char *part, int i,
                     int C, st2v_res_block *res)
{
    int kt = c->kt[i];
    for (int j = 0; j < c->res_blocks; j++) {
        char p[96];
        snprintf(p, sizeof(p), "vae.%s.levels.%d.res.%d", part, i, j);
        bind1(b, &res[j].norm1, p, "norm1.weight", C);
        bind_conv(b, &res[j].conv1, p, "conv1", C, C, kt);
        bind1(b, &res[j].norm2, p, "norm2.weight", C);
        bind_conv(b, &res[j].conv2, p, "conv2", C, C, kt);
    }
}

static void bind_vae(binder *b, const st2v_config *c, st2v_vae_weights *v)
{
    int Lv = c->n_levels, Cz = c->z_channels;
    const int *C = c->channels, *Cd = c->dec_channels, *kt = c->kt;
    char p[96];

    bind_conv(b, &v->dec_in, "vae.dec", "conv_in", Cd[0], Cz, kt[0]);
    for (int i = 0; i < Lv; i++) {
        bind_res(b, c, "dec", i, Cd[i], v->dec[i].res);
        if (i < Lv - 1) {
            int a = 1 + c->time_up[i], s = 1 + c->space_up[i];
            snprintf(p, sizeof(p), "vae.dec.levels.%d", i);
            bind_conv(b, &v->dec[i].resample, p, "up", Cd[i + 1] * a * s * s,
                      Cd[i], kt[i]);
        }
    }
    bind1(b, &v->dec_norm_out, "vae.dec", "norm_out.weight", Cd[Lv - 1]);
    bind_conv(b, &v->dec_out, "vae.dec", "conv_out", 3, Cd[Lv - 1], 1);

    bind_conv(b, &v->enc_in, "vae.enc", "conv_in", C[Lv - 1], 3, kt[Lv - 1]);
    for (int i = Lv - 1; i >= 0; i--) {
        bind_res(b, c, "enc", i, C[i], v->enc[i].res);
        if (i > 0) {
            int a = 1 + c->time_up[i - 1], s = 1 + c->space_up[i - 1];
            snprintf(p, sizeof(p), "vae.enc.levels.%d", i);
            bind_conv(b, &v->enc[i].resample, p, "down", C[i - 1],
                      C[i] * a * s * s, kt[i - 1]);
        }
    }
    bind1(b, &v->enc_norm_out, "vae.enc", "norm_out.weight", C[0]);
    bind_conv(b, &v->enc_out, "vae.enc", "conv_out", Cz, C[0], 1);
}

/* Carve the block arrays out of one allocation (m->bind_storage). */
static int alloc_blocks(st2v_world *m)
{
    const st2v_config *c = &m->cfg;
    size_t al = 16;
    size_t n_text = (size_t)c->text_layers * sizeof(st2v_text_block);
    size_t n_dit = (size_t)c->layers * sizeof(st2v_dit_block);
    size_t n_res = (size_t)c->res_blocks * sizeof(st2v_res_block);
    n_text = (n_text + al - 1) & ~(al - 1);
    n_dit = (n_dit + al - 1) & ~(al - 1);
    n_res = (n_res + al - 1) & ~(al - 1);
    size_t total = n_text + n_dit + 2 * (size_t)c->n_levels * n_res;
    char *p = calloc(1, total ? total : 1);
    if (!p)
        return ST2V_ERR_NOMEM;
    m->bind_storage = p;
    m->text.blocks = (st2v_text_block *)(void *)p;
    p += n_text;
    m->dit.blocks = (st2v_dit_block *)(void *)p;
    p += n_dit;
    for (int i = 0; i < c->n_levels; i++) {
        m->vae.dec[i].res = (st2v_res_block *)(void *)p;
        p += n_res;
        m->vae.enc[i].res = (st2v_res_block *)(void *)p;
        p += n_res;
    }
    return 0;
}

/* ------------------------------------------------------------ loading */

/* Everything after the file is open. */
static int load_opened(st2v_world *m, char *err, size_t err_size)
{
    const char *format = st_metadata(&m->file, "format");
    if (!format)
        return st2v_fail(err, err_size, ST2V_ERR_FORMAT,
                         "__metadata__.format is missing (expected \"st2v\"): "
                         "not an st2v model");
    if (strcmp(format, "st2v") != 0) {
        char q[80];
        return st2v_fail(err, err_size, ST2V_ERR_FORMAT,
                         "__metadata__.format is \"%s\", expected \"st2v\"",
                         st2v_escape(q, sizeof(q), format));
    }
    const char *json = st_metadata(&m->file, "st2v_config");
    if (!json)
        return st2v_fail(err, err_size, ST2V_ERR_FORMAT,
                         "__metadata__.st2v_config is missing");
    int rc = st2v_config_parse(&m->cfg, json, err, err_size);
    if (rc)
        return rc;

    const st2v_config *c = &m->cfg;
    int n = m->file.n_tensors;
    m->owned = calloc(n ? (size_t)n : 1, sizeof(float *));
    binder b = {m, calloc(n ? (size_t)n : 1, 1), 0, err, err_size};
    if (!m->owned || !b.used || alloc_blocks(m) != 0) {
        free(b.used);
        return st2v_fail(err, err_size, ST2V_ERR_NOMEM,
                         "out of memory binding the model");
    }
    bind_text(&b, c, &m->text);
    bind_dit(&b, c, &m->dit);
    bind_vae(&b, c, &m->vae);
    for (int i = 0; i < n && !b.rc; i++) {
        char q[120];
        if (!b.used[i])
            b.rc = st2v_fail(err, err_size, ST2V_ERR_FORMAT,
                             "unexpected tensor \"%s\": not part of an st2v "
                             "model with this config",
                             st2v_escape(q, sizeof(q), m->file.tensors[i].name));
    }
    free(b.used);
    if (b.rc)
        return b.rc;

    int64_t n_params = 0;
    for (int i = 0; i < n; i++)
        n_params += (int64_t)m->file.tensors[i].numel;
    m->n_params = n_params;

    for (int i = 0; i < c->n_sizes; i++) {
        m->info_sizes[i][0] = c->sizes[i][0];
        m->info_sizes[i][1] = c->sizes[i][1];
    }
    st2v_model_info *info = &m->info;
    info->name = c->name;
    info->description = c->description;
    info->fps = c->fps;
    info->n_sizes = c->n_sizes;
    info->sizes = (const int(*)[2])m->info_sizes;
    info->default_steps = c->steps;
    info->default_cfg = c->guidance;
    info->default_shift = c->shift;
    info->default_sampler = c->sampler;
    info->frames_per_latent = c->ft;
    info->spatial_factor = c->s;
    info->n_params = n_params;

    /* compute per second of video at the defaults: first native size, a 5 s
     * clip, guidance on unless cfg == 1, prompts of max_length tokens */
    st2v_cost cost;
    st2v_cost_estimate(c, c->sizes[0][0], c->sizes[0][1], (int64_t)c->fps * 5,
                       st2v_cost_sampler_calls(c->sampler, c->steps),
                       c->guidance != 1.0f ? 2 : 1, c->max_length, &cost);
    info->gflop_per_second = cost.per_second * 1e-9;

    rc = st2v_tokenizer_new(&m->tok, c);
    if (rc)
        return st2v_fail(err, err_size, rc, "cannot build the tokenizer: %s",
                         st2v_strerror(rc));
    return 0;
}

/* The whole file in memory, for use_mmap = 0. */
static int read_file(const char *path, void **buf, size_t *size, char *err,
                     size_t err_size)
{
    char q[160];
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return st2v_fail(err, err_size, ST2V_ERR_IO, "cannot open \"%s\": %s",
                         st2v_escape(q, sizeof(q), path), strerror(errno));
    long n = -1;
    if (fseek(fp, 0, SEEK_END) == 0)
        n = ftell(fp);
    void *p = NULL;
    if (n >= 0 && fseek(fp, 0, SEEK_SET) == 0)
        p = malloc(n ? (size_t)n : 1);
    if (!p || fread(p, 1, (size_t)n, fp) != (size_t)n) {
        int rc = p || n < 0 ? ST2V_ERR_IO : ST2V_ERR_NOMEM;
        free(p);
        fclose(fp);
        return st2v_fail(err, err_size, rc, "cannot read \"%s\"",
                         st2v_escape(q, sizeof(q), path));
    }
    fclose(fp);
    *buf = p;
    *size = (size_t)n;
    return 0;
}

/* Open path (mapped, or read into memory) or, with path NULL, the
 * caller's buffer; then load. */
static int world_open(st2v_world **out, const char *path, const void *buf,
                      size_t size, int use_mmap, char *err, size_t err_size)
{
    *out = NULL;
    st2v_world *m = calloc(1, sizeof(*m));
    if (!m)
        return st2v_fail(err, err_size, ST2V_ERR_NOMEM, "out of memory");
    int rc;
    if (!path) {
        rc = st_open_memory(&m->file, buf, size, err, err_size);
    } else if (use_mmap) {
        rc = st_open(&m->file, path, err, err_size);
    } else {
        rc = read_file(path, &m->file_buf, &size, err, err_size);
        if (rc == 0)
            rc = st_open_memory(&m->file, m->file_buf, size, err, err_size);
    }
    if (rc == 0)
        rc = load_opened(m, err, err_size);
    if (rc) {
        st2v_world_free(m);
        return rc;
    }
    *out = m;
    return 0;
}

int st2v_world_load(st2v_world **out, const char *path,
                    const st2v_model_params *params, char *err,
                    size_t err_size)
{
    *out = NULL;
    st2v_model_params p = params ? *params : st2v_model_default_params();
    if (p.compute_dtype != ST2V_DTYPE_F32 && p.compute_dtype != ST2V_DTYPE_BF16)
        return st2v_fail(err, err_size, ST2V_ERR_UNSUPPORTED,
                         "the st2v world model computes in f32 or bf16, not %s",
                         st2v_dtype_name(p.compute_dtype));
    int rc = world_open(out, path, NULL, 0, p.use_mmap, err, err_size);
    /* bf16 without AVX512-BF16 is f32: the same packing, the same bytes */
    const st2v_dtype dtype = st2v_op_bf16_supported() ? p.compute_dtype
                                                      : ST2V_DTYPE_F32;
    const int bf16 = dtype == ST2V_DTYPE_BF16;
    if (rc == 0 && (bf16 ? st2v_op_bf16_supported()
                         : st2v_op_f32_packed_supported())) {
        rc = st2v_world_pack(*out, dtype);
        if (rc) {
            st2v_world_free(*out);
            *out = NULL;
            return st2v_fail(err, err_size, rc, "out of memory");
        }
    }
    return rc;
}

/* The DiT's linear layers over every token, packed for the BF16 path or
 * the float32 AVX-512 kernel. */
int st2v_world_pack(st2v_world *m, st2v_dtype dtype)
{
    const int bf16 = dtype == ST2V_DTYPE_BF16;
    const int L = m->cfg.layers;
    st2v_linear **lins = malloc(sizeof(*lins) * (size_t)(6 * L + 2));
    if (!lins)
        return ST2V_ERR_NOMEM;
    int n = 0;
    for (int i = 0; i < L; i++) {
        st2v_dit_block *k = &m->dit.blocks[i];
        lins[n++] = &k->qkv;
        lins[n++] = &k->proj;
        lins[n++] = &k->cross_q;
        lins[n++] = &k->cross_proj;
        lins[n++] = &k->fc1;
        lins[n++] = &k->fc2;
    }
    lins[n++] = &m->dit.patch_embed;
    lins[n++] = &m->dit.final_linear;
    size_t total = 0;
    for (int i = 0; i < n; i++)
        total += bf16 ? st2v_op_bf16_pack_size(lins[i]->out, lins[i]->in) *
                            sizeof(uint16_t)
                      : st2v_op_f32_pack_size(lins[i]->out, lins[i]->in) *
                            sizeof(float);
    st2v_free(m->packed);
    m->packed = st2v_alloc_floats((total + 3) / 4);
    if (!m->packed) {
        free(lins);
        return ST2V_ERR_NOMEM;
    }
    char *d = m->packed;
    for (int i = 0; i < n; i++) {
        st2v_linear *l = lins[i];
        if (bf16) {
            st2v_op_bf16_pack((uint16_t *)d, l->w, l->out, l->in);
            l->wp = (const uint16_t *)d;
            l->wf = NULL;
            d += st2v_op_bf16_pack_size(l->out, l->in) * sizeof(uint16_t);
        } else {
            st2v_op_f32_pack((float *)d, l->w, l->out, l->in);
            l->wf = (const float *)d;
            l->wp = NULL;
            d += st2v_op_f32_pack_size(l->out, l->in) * sizeof(float);
        }
    }
    free(lins);
    return ST2V_OK;
}

int st2v_world_load_memory(st2v_world **out, const void *buf, size_t size,
                           char *err, size_t err_size)
{
    return world_open(out, NULL, buf, size, 1, err, err_size);
}

void st2v_world_free(st2v_world *m)
{
    if (!m)
        return;
    for (int i = 0; i < m->n_owned; i++)
        st2v_free(m->owned[i]);
    free(m->owned);
    st2v_free(m->packed);
    free(m->bind_storage);
    st2v_tokenizer_free(m->tok);
    st2v_config_free(&m->cfg);
    st_close(&m->file);
    free(m->file_buf);
    free(m);
}
