/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * names.c - the tensor lists of Wan2.1's DiT and VAE (names.h), read from
 * the official wan/modules/model.py and vae.py, and the Diffusers names
 * of the same tensors (diffusers' scripts/convert_wan_to_diffusers.py,
 * TRANSFORMER_KEYS_RENAME_DICT and convert_vae; stable-diffusion.cpp's
 * convert_diffusers_to_original_wan_vae agrees). The DiT is one table of
 * rows with symbolic shapes; the VAE, whose names follow its stages, is a
 * walk over the stages as vae.py builds them.
 *
 * Not here: files, prefixes, dtypes (files.c).
 */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "wan/names.h"

/* Sizes beyond this are refused: every product of up to five of them
 * stays far below 2^63. */
#define MAX_SIZE (1 << 20)

wan_dit_config wan_dit_config_1_3b(void)
{
    wan_dit_config c = {.dim = 1536,
                        .ffn_dim = 8960,
                        .num_heads = 12,
                        .num_layers = 30,
                        .in_dim = 16,
                        .out_dim = 16,
                        .text_dim = 4096,
                        .freq_dim = 256,
                        .text_len = 512,
                        .patch = {1, 2, 2},
                        .eps = 1e-6f};
    return c;
}

wan_vae_config wan_vae_config_default(void)
{
    wan_vae_config c = {.dim = 96,
                        .z_dim = 16,
                        .dim_mult = {1, 2, 4, 4},
                        .num_res_blocks = 2,
                        .temporal_down = {0, 1, 1}};
    return c;
}

/* ============================================================ checks */

static int bad_size(int v, int max)
{
    return v < 1 || v > max;
}

int wan_dit_config_check(const wan_dit_config *c, char *err, size_t err_size)
{
#define SIZE(field, max)                                                       \
    if (bad_size(c->field, max))                                               \
        return st2v_fail(err, err_size, ST2V_ERR_FORMAT,                       \
                         "DiT config: " #field " %d is out of range [1, %d]",  \
                         c->field, max);
    SIZE(dim, MAX_SIZE)
    SIZE(ffn_dim, MAX_SIZE)
    SIZE(num_heads, MAX_SIZE)
    SIZE(num_layers, 4096)
    SIZE(in_dim, 4096)
    SIZE(out_dim, 4096)
    SIZE(text_dim, MAX_SIZE)
    SIZE(freq_dim, MAX_SIZE)
    SIZE(text_len, MAX_SIZE)
    SIZE(patch[0], 64)
    SIZE(patch[1], 64)
    SIZE(patch[2], 64)
#undef SIZE
    if (c->dim % c->num_heads != 0 || (c->dim / c->num_heads) % 2 != 0)
        return st2v_fail(err, err_size, ST2V_ERR_FORMAT,
                         "DiT config: dim %d is not num_heads %d times an "
                         "even head width",
                         c->dim, c->num_heads);
    if (c->freq_dim % 2 != 0)
        return st2v_fail(err, err_size, ST2V_ERR_FORMAT,
                         "DiT config: freq_dim %d is odd", c->freq_dim);
    if (!(c->eps > 0.0f && c->eps < 1.0f))
        return st2v_fail(err, err_size, ST2V_ERR_FORMAT,
                         "DiT config: eps %g is not in (0, 1)", c->eps);
    return ST2V_OK;
}

int wan_vae_config_check(const wan_vae_config *c, char *err, size_t err_size)
{
    if (bad_size(c->dim, 4096) || bad_size(c->z_dim, 4096) ||
        bad_size(c->num_res_blocks, 64))
        return st2v_fail(err, err_size, ST2V_ERR_FORMAT,
                         "VAE config: dim %d, z_dim %d or num_res_blocks %d "
                         "is out of range",
                         c->dim, c->z_dim, c->num_res_blocks);
    for (int i = 0; i < WAN_VAE_STAGES; i++)
        if (bad_size(c->dim_mult[i], 64))
            return st2v_fail(err, err_size, ST2V_ERR_FORMAT,
                             "VAE config: dim_mult[%d] %d is out of range", i,
                             c->dim_mult[i]);
    /* the decoder halves a stage's width at each upsampling */
    for (int i = 1; i < WAN_VAE_STAGES; i++)
        if (c->dim * c->dim_mult[WAN_VAE_STAGES - i] < 2)
            return st2v_fail(err, err_size, ST2V_ERR_FORMAT,
                             "VAE config: stage %d is too narrow to halve", i);
    return ST2V_OK;
}

/* ======================================================= config.json */

static cJSON *parse_json(const char *json, size_t n)
{
    return json ? cJSON_ParseWithLength(json, n) : NULL;
}

/* *out = the integer at key, when present; -1 when it is not a positive
 * integer of at most MAX_SIZE. */
static int get_int(const cJSON *root, const char *key, int *out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, key);
    if (!v)
        return 0;
    if (!cJSON_IsNumber(v) ||
        !(v->valuedouble >= 0 && v->valuedouble <= MAX_SIZE) ||
        v->valuedouble != floor(v->valuedouble))
        return -1;
    *out = (int)v->valuedouble;
    return 0;
}

/* An array of exactly n integers (0..MAX_SIZE) at key, when present. */
static int get_ints(const cJSON *root, const char *key, int *out, int n)
{
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(root, key);
    if (!a)
        return 0;
    if (!cJSON_IsArray(a) || cJSON_GetArraySize(a) != n)
        return -1;
    int i = 0, v[8];
    for (const cJSON *e = a->child; e; e = e->next, i++) {
        if (cJSON_IsBool(e))
            v[i] = cJSON_IsTrue(e);
        else if (!cJSON_IsNumber(e) ||
                 !(e->valuedouble >= 0 && e->valuedouble <= MAX_SIZE) ||
                 e->valuedouble != floor(e->valuedouble))
            return -1;
        else
            v[i] = (int)e->valuedouble;
    }
    memcpy(out, v, (size_t)n * sizeof(int));
    return 0;
}

int wan_config_kind(const char *json, size_t n)
{
    cJSON *root = parse_json(json, n);
    int kind = 0;
    if (cJSON_IsObject(root)) {
        if (cJSON_GetObjectItemCaseSensitive(root, "num_layers"))
            kind = 1;
        else if (cJSON_GetObjectItemCaseSensitive(root, "base_dim") ||
                 cJSON_GetObjectItemCaseSensitive(root, "z_dim"))
            kind = 2;
    }
    cJSON_Delete(root);
    return kind;
}

int wan_dit_config_parse(wan_dit_config *c, const char *json, size_t n,
                         char *err, size_t err_size)
{
    cJSON *root = parse_json(json, n);
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return st2v_fail(err, err_size, ST2V_ERR_FORMAT,
                         "DiT config: not a JSON object");
    }
    wan_dit_config t = *c;
    int heads = 0, head_dim = 0, rc = ST2V_OK;
    const char *bad = NULL;
    /* official names, then Diffusers' */
    static const struct {
        const char *key;
        size_t off;
    } keys[] = {
        {"dim", offsetof(wan_dit_config, dim)},
        {"ffn_dim", offsetof(wan_dit_config, ffn_dim)},
        {"num_heads", offsetof(wan_dit_config, num_heads)},
        {"num_layers", offsetof(wan_dit_config, num_layers)},
        {"in_dim", offsetof(wan_dit_config, in_dim)},
        {"out_dim", offsetof(wan_dit_config, out_dim)},
        {"text_dim", offsetof(wan_dit_config, text_dim)},
        {"freq_dim", offsetof(wan_dit_config, freq_dim)},
        {"text_len", offsetof(wan_dit_config, text_len)},
        {"in_channels", offsetof(wan_dit_config, in_dim)},
        {"out_channels", offsetof(wan_dit_config, out_dim)},
    };
    for (size_t i = 0; i < ST2V_ARRAY_SIZE(keys) && !bad; i++)
        if (get_int(root, keys[i].key, (int *)((char *)&t + keys[i].off)))
            bad = keys[i].key;
    if (!bad && get_int(root, "num_attention_heads", &heads))
        bad = "num_attention_heads";
    if (!bad && get_int(root, "attention_head_dim", &head_dim))
        bad = "attention_head_dim";
    if (!bad && get_ints(root, "patch_size", t.patch, 3))
        bad = "patch_size";
    const cJSON *eps = cJSON_GetObjectItemCaseSensitive(root, "eps");
    if (!bad && eps) {
        if (cJSON_IsNumber(eps))
            t.eps = (float)eps->valuedouble;
        else
            bad = "eps";
    }
    const char *type = cJSON_GetStringValue(
        cJSON_GetObjectItemCaseSensitive(root, "model_type"));
    const cJSON *img = cJSON_GetObjectItemCaseSensitive(root, "image_dim");
    const cJSON *kv =
        cJSON_GetObjectItemCaseSensitive(root, "added_kv_proj_dim");
    if (bad)
        rc = st2v_fail(err, err_size, ST2V_ERR_FORMAT,
                       "DiT config: %s is not a non-negative integer (or "
                       "list of them) as expected",
                       bad);
    else if ((type && strcmp(type, "t2v") != 0) ||
             (img && !cJSON_IsNull(img)) || (kv && !cJSON_IsNull(kv)))
        rc = st2v_fail(err, err_size, ST2V_ERR_UNSUPPORTED,
                       "DiT config: model type \"%.40s\" is not supported "
                       "yet (text to video, t2v, only)",
                       type ? type : "i2v");
    cJSON_Delete(root);
    if (rc)
        return rc;
    if (heads > 0) { /* Diffusers: width = heads x head width */
        t.num_heads = heads;
        if (head_dim > 0)
            t.dim = heads * head_dim;
    }
    if ((rc = wan_dit_config_check(&t, err, err_size)) != 0)
        return rc;
    *c = t;
    return ST2V_OK;
}

int wan_vae_config_parse(wan_vae_config *c, const char *json, size_t n,
                         char *err, size_t err_size)
{
    cJSON *root = parse_json(json, n);
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return st2v_fail(err, err_size, ST2V_ERR_FORMAT,
                         "VAE config: not a JSON object");
    }
    wan_vae_config t = *c;
    const char *bad = NULL;
    if (get_int(root, "base_dim", &t.dim))
        bad = "base_dim";
    else if (get_int(root, "z_dim", &t.z_dim))
        bad = "z_dim";
    else if (get_int(root, "num_res_blocks", &t.num_res_blocks))
        bad = "num_res_blocks";
    else if (get_ints(root, "dim_mult", t.dim_mult, WAN_VAE_STAGES))
        bad = "dim_mult (4 integers)";
    else if (get_ints(root, "temperal_downsample", t.temporal_down,
                      WAN_VAE_STAGES - 1))
        bad = "temperal_downsample (3 booleans)";
    const cJSON *attn = cJSON_GetObjectItemCaseSensitive(root, "attn_scales");
    int rc = ST2V_OK;
    if (bad)
        rc = st2v_fail(err, err_size, ST2V_ERR_FORMAT,
                       "VAE config: %s is not as expected", bad);
    else if (attn && !(cJSON_IsArray(attn) && cJSON_GetArraySize(attn) == 0))
        rc = st2v_fail(err, err_size, ST2V_ERR_UNSUPPORTED,
                       "VAE config: attn_scales other than [] are not "
                       "supported");
    cJSON_Delete(root);
    if (rc || (rc = wan_vae_config_check(&t, err, err_size)) != 0)
        return rc;
    *c = t;
    return ST2V_OK;
}

/* ============================================================== lists */

typedef struct list {
    wan_tensor_spec *t;
    int n, cap;
    int nomem;
} list;

/* Append a tensor: its official and Diffusers names, and its shape. */
static void add(list *l, const char *official, const char *diffusers, int ndim,
                const int64_t *shape)
{
    if (l->nomem)
        return;
    if (l->n == l->cap) {
        int cap = l->cap ? 2 * l->cap : 256;
        wan_tensor_spec *t = realloc(l->t, (size_t)cap * sizeof(*t));
        if (!t) {
            l->nomem = 1;
            return;
        }
        l->t = t;
        l->cap = cap;
    }
    wan_tensor_spec *s = &l->t[l->n++];
    memset(s, 0, sizeof(*s));
    snprintf(s->name[WAN_NAMES_OFFICIAL], WAN_NAME_MAX, "%s", official);
    snprintf(s->name[WAN_NAMES_DIFFUSERS], WAN_NAME_MAX, "%s", diffusers);
    s->ndim = ndim;
    memcpy(s->shape, shape, (size_t)ndim * sizeof(int64_t));
}

static int finish(list *l, wan_tensor_spec **out, int *n)
{
    if (l->nomem) {
        free(l->t);
        return ST2V_ERR_NOMEM;
    }
    *out = l->t;
    *n = l->n;
    return ST2V_OK;
}

/* ---------------------------------------------------------------- DiT */

/* Shape symbols of the DiT table (negative; non-negative = literal). */
enum {
    S_D = -1,
    S_F = -2,
    S_TD = -3,
    S_FD = -4,
    S_CI = -5,
    S_HEAD = -6,
    S_D6 = -7,
    S_PT = -8,
    S_PH = -9,
    S_PW = -10
};

typedef struct dit_row {
    const char *official, *diffusers;
    int ndim;
    int shape[WAN_MAX_DIMS];
} dit_row;

/* Outside the blocks (model.py WanModel.__init__, Head). */
static const dit_row DIT_TOP[] = {
    {"patch_embedding.weight",
     "patch_embedding.weight",
     5,
     {S_D, S_CI, S_PT, S_PH, S_PW}},
    {"patch_embedding.bias", "patch_embedding.bias", 1, {S_D}},
    {"text_embedding.0.weight",
     "condition_embedder.text_embedder.linear_1.weight",
     2,
     {S_D, S_TD}},
    {"text_embedding.0.bias",
     "condition_embedder.text_embedder.linear_1.bias",
     1,
     {S_D}},
    {"text_embedding.2.weight",
     "condition_embedder.text_embedder.linear_2.weight",
     2,
     {S_D, S_D}},
    {"text_embedding.2.bias",
     "condition_embedder.text_embedder.linear_2.bias",
     1,
     {S_D}},
    {"time_embedding.0.weight",
     "condition_embedder.time_embedder.linear_1.weight",
     2,
     {S_D, S_FD}},
    {"time_embedding.0.bias",
     "condition_embedder.time_embedder.linear_1.bias",
     1,
     {S_D}},
    {"time_embedding.2.weight",
     "condition_embedder.time_embedder.linear_2.weight",
     2,
     {S_D, S_D}},
    {"time_embedding.2.bias",
     "condition_embedder.time_embedder.linear_2.bias",
     1,
     {S_D}},
    {"time_projection.1.weight",
     "condition_embedder.time_proj.weight",
     2,
     {S_D6, S_D}},
    {"time_projection.1.bias", "condition_embedder.time_proj.bias", 1, {S_D6}},
};

/* The head, after the blocks. */
static const dit_row DIT_HEAD[] = {
    {"head.head.weight", "proj_out.weight", 2, {S_HEAD, S_D}},
    {"head.head.bias", "proj_out.bias", 1, {S_HEAD}},
    {"head.modulation", "scale_shift_table", 3, {1, 2, S_D}},
};

/* Each block (WanAttentionBlock with qk_norm and cross_attn_norm), under
 * "blocks.%d.". The official norm1 and norm2 have no weights. */
static const dit_row DIT_BLOCK[] = {
    {"self_attn.q.weight", "attn1.to_q.weight", 2, {S_D, S_D}},
    {"self_attn.q.bias", "attn1.to_q.bias", 1, {S_D}},
    {"self_attn.k.weight", "attn1.to_k.weight", 2, {S_D, S_D}},
    {"self_attn.k.bias", "attn1.to_k.bias", 1, {S_D}},
    {"self_attn.v.weight", "attn1.to_v.weight", 2, {S_D, S_D}},
    {"self_attn.v.bias", "attn1.to_v.bias", 1, {S_D}},
    {"self_attn.o.weight", "attn1.to_out.0.weight", 2, {S_D, S_D}},
    {"self_attn.o.bias", "attn1.to_out.0.bias", 1, {S_D}},
    {"self_attn.norm_q.weight", "attn1.norm_q.weight", 1, {S_D}},
    {"self_attn.norm_k.weight", "attn1.norm_k.weight", 1, {S_D}},
    {"norm3.weight", "norm2.weight", 1, {S_D}},
    {"norm3.bias", "norm2.bias", 1, {S_D}},
    {"cross_attn.q.weight", "attn2.to_q.weight", 2, {S_D, S_D}},
    {"cross_attn.q.bias", "attn2.to_q.bias", 1, {S_D}},
    {"cross_attn.k.weight", "attn2.to_k.weight", 2, {S_D, S_D}},
    {"cross_attn.k.bias", "attn2.to_k.bias", 1, {S_D}},
    {"cross_attn.v.weight", "attn2.to_v.weight", 2, {S_D, S_D}},
    {"cross_attn.v.bias", "attn2.to_v.bias", 1, {S_D}},
    {"cross_attn.o.weight", "attn2.to_out.0.weight", 2, {S_D, S_D}},
    {"cross_attn.o.bias", "attn2.to_out.0.bias", 1, {S_D}},
    {"cross_attn.norm_q.weight", "attn2.norm_q.weight", 1, {S_D}},
    {"cross_attn.norm_k.weight", "attn2.norm_k.weight", 1, {S_D}},
    {"ffn.0.weight", "ffn.net.0.proj.weight", 2, {S_F, S_D}},
    {"ffn.0.bias", "ffn.net.0.proj.bias", 1, {S_F}},
    {"ffn.2.weight", "ffn.net.2.weight", 2, {S_D, S_F}},
    {"ffn.2.bias", "ffn.net.2.bias", 1, {S_D}},
    {"modulation", "scale_shift_table", 3, {1, 6, S_D}},
};

static void add_dit_rows(list *l, const wan_dit_config *c, const dit_row *rows,
                         size_t n, int block)
{
    const int64_t sym[] = {
        0,
        c->dim,      /* S_D */
        c->ffn_dim,  /* S_F */
        c->text_dim, /* S_TD */
        c->freq_dim, /* S_FD */
        c->in_dim,   /* S_CI */
        (int64_t)c->patch[0] * c->patch[1] * c->patch[2] * c->out_dim,
        6 * (int64_t)c->dim, /* S_D6 */
        c->patch[0],
        c->patch[1],
        c->patch[2],
    };
    for (size_t i = 0; i < n; i++) {
        int64_t shape[WAN_MAX_DIMS];
        for (int d = 0; d < rows[i].ndim; d++)
            shape[d] = rows[i].shape[d] >= 0 ? rows[i].shape[d]
                                             : sym[-rows[i].shape[d]];
        char fo[WAN_NAME_MAX], fd[WAN_NAME_MAX], pre[24] = "";
        if (block >= 0)
            snprintf(pre, sizeof(pre), "blocks.%d.", block);
        snprintf(fo, sizeof(fo), "%s%s", pre, rows[i].official);
        snprintf(fd, sizeof(fd), "%s%s", pre, rows[i].diffusers);
        add(l, fo, fd, rows[i].ndim, shape);
    }
}

int wan_dit_tensors(const wan_dit_config *c, wan_tensor_spec **out, int *n)
{
    int rc = wan_dit_config_check(c, NULL, 0);
    if (rc)
        return rc;
    list l = {0};
    add_dit_rows(&l, c, DIT_TOP, ST2V_ARRAY_SIZE(DIT_TOP), -1);
    for (int b = 0; b < c->num_layers; b++)
        add_dit_rows(&l, c, DIT_BLOCK, ST2V_ARRAY_SIZE(DIT_BLOCK), b);
    add_dit_rows(&l, c, DIT_HEAD, ST2V_ARRAY_SIZE(DIT_HEAD), -1);
    return finish(&l, out, n);
}

/* ---------------------------------------------------------------- VAE */

/* A shape from up to five sizes (trailing zeros end it). */
static void add_shape(list *l, const char *fo, const char *fd, int64_t s0,
                      int64_t s1, int64_t s2, int64_t s3, int64_t s4)
{
    const int64_t s[WAN_MAX_DIMS] = {s0, s1, s2, s3, s4};
    int nd = 0;
    while (nd < WAN_MAX_DIMS && s[nd] > 0)
        nd++;
    add(l, fo, fd, nd, s);
}

/* A conv's weight (cout, cin, k...) and bias (cout): official name
 * prefix o + ".weight", Diffusers prefix d + ".weight". kt = 0 for a 2-D
 * kernel. */
static void add_conv(list *l, const char *o, const char *d, int64_t cout,
                     int64_t cin, int kt, int kh, int kw)
{
    char fo[WAN_NAME_MAX], fd[WAN_NAME_MAX];
    snprintf(fo, sizeof(fo), "%s.weight", o);
    snprintf(fd, sizeof(fd), "%s.weight", d);
    if (kt > 0)
        add_shape(l, fo, fd, cout, cin, kt, kh, kw);
    else
        add_shape(l, fo, fd, cout, cin, kh, kw, 0);
    snprintf(fo, sizeof(fo), "%s.bias", o);
    snprintf(fd, sizeof(fd), "%s.bias", d);
    add_shape(l, fo, fd, cout, 0, 0, 0, 0);
}

/* An RMS_norm's gamma: (c, 1, 1, 1) over video, (c, 1, 1) over images. */
static void add_gamma(list *l, const char *o, const char *d, int64_t ch,
                      int video)
{
    char fo[WAN_NAME_MAX], fd[WAN_NAME_MAX];
    snprintf(fo, sizeof(fo), "%s.gamma", o);
    snprintf(fd, sizeof(fd), "%s.gamma", d);
    add_shape(l, fo, fd, ch, 1, 1, video ? 1 : 0, 0);
}

/* ResidualBlock(cin, cout) at official prefix o and Diffusers
 * prefix d: residual.{0 norm, 2 conv, 3 norm, 6 conv}, shortcut 1x1x1
 * when the width changes; Diffusers: norm1, conv1, norm2, conv2,
 * conv_shortcut. */
static void add_resblock(list *l, const char *o, const char *d, int64_t cin,
                         int64_t cout)
{
    char po[WAN_NAME_MAX], pd[WAN_NAME_MAX];
#define PAIR(so, sd)                                                           \
    snprintf(po, sizeof(po), "%s.%s", o, so),                                  \
        snprintf(pd, sizeof(pd), "%s.%s", d, sd)
    PAIR("residual.0", "norm1");
    add_gamma(l, po, pd, cin, 1);
    PAIR("residual.2", "conv1");
    add_conv(l, po, pd, cout, cin, 3, 3, 3);
    PAIR("residual.3", "norm2");
    add_gamma(l, po, pd, cout, 1);
    PAIR("residual.6", "conv2");
    add_conv(l, po, pd, cout, cout, 3, 3, 3);
    if (cin != cout) {
        PAIR("shortcut", "conv_shortcut");
        add_conv(l, po, pd, cout, cin, 1, 1, 1);
    }
#undef PAIR
}

/* middle = ResidualBlock, AttentionBlock, ResidualBlock at width ch. */
static void add_middle(list *l, const char *side, int64_t ch)
{
    char o[WAN_NAME_MAX], d[WAN_NAME_MAX];
#define PAIR(so, sd)                                                           \
    snprintf(o, sizeof(o), "%s.%s", side, so),                                 \
        snprintf(d, sizeof(d), "%s.%s", side, sd)
    PAIR("middle.0", "mid_block.resnets.0");
    add_resblock(l, o, d, ch, ch);
    PAIR("middle.1.norm", "mid_block.attentions.0.norm");
    add_gamma(l, o, d, ch, 0);
    PAIR("middle.1.to_qkv", "mid_block.attentions.0.to_qkv");
    add_conv(l, o, d, 3 * ch, ch, 0, 1, 1);
    PAIR("middle.1.proj", "mid_block.attentions.0.proj");
    add_conv(l, o, d, ch, ch, 0, 1, 1);
    PAIR("middle.2", "mid_block.resnets.1");
    add_resblock(l, o, d, ch, ch);
#undef PAIR
}

/* head = RMS_norm, SiLU, CausalConv3d(ch -> cout, 3). */
static void add_head(list *l, const char *side, int64_t ch, int64_t cout)
{
    char o[WAN_NAME_MAX], d[WAN_NAME_MAX];
    snprintf(o, sizeof(o), "%s.head.0", side);
    snprintf(d, sizeof(d), "%s.norm_out", side);
    add_gamma(l, o, d, ch, 1);
    snprintf(o, sizeof(o), "%s.head.2", side);
    snprintf(d, sizeof(d), "%s.conv_out", side);
    add_conv(l, o, d, cout, ch, 3, 3, 3);
}

/* Encoder3d(dim, 2 z_dim): conv1, downsamples (num_res_blocks residual
 * blocks per stage, then a Resample but after the last), middle, head.
 * Diffusers numbers down_blocks as the official downsamples. */
static void add_encoder(list *l, const wan_vae_config *c)
{
    const int S = WAN_VAE_STAGES;
    int64_t dims[WAN_VAE_STAGES + 1] = {c->dim};
    for (int i = 0; i < S; i++)
        dims[i + 1] = (int64_t)c->dim * c->dim_mult[i];
    add_conv(l, "encoder.conv1", "encoder.conv_in", dims[0], 3, 3, 3, 3);
    char o[WAN_NAME_MAX], d[WAN_NAME_MAX];
    int k = 0;
    for (int i = 0; i < S; i++) {
        int64_t cin = dims[i], cout = dims[i + 1];
        for (int r = 0; r < c->num_res_blocks; r++, k++, cin = cout) {
            snprintf(o, sizeof(o), "encoder.downsamples.%d", k);
            snprintf(d, sizeof(d), "encoder.down_blocks.%d", k);
            add_resblock(l, o, d, cin, cout);
        }
        if (i == S - 1)
            break;
        /* ZeroPad2d + Conv2d(C, C, 3, stride 2); downsample3d adds a
         * CausalConv3d(C, C, (3, 1, 1), stride (2, 1, 1)) */
        snprintf(o, sizeof(o), "encoder.downsamples.%d.resample.1", k);
        snprintf(d, sizeof(d), "encoder.down_blocks.%d.resample.1", k);
        add_conv(l, o, d, cout, cout, 0, 3, 3);
        snprintf(o, sizeof(o), "encoder.downsamples.%d.time_conv", k);
        snprintf(d, sizeof(d), "encoder.down_blocks.%d.time_conv", k);
        if (c->temporal_down[i])
            add_conv(l, o, d, cout, cout, 3, 1, 1);
        k++;
    }
    add_middle(l, "encoder", dims[S]);
    add_head(l, "encoder", dims[S], 2 * (int64_t)c->z_dim);
}

/* Decoder3d(dim, z_dim): conv1, middle, upsamples (num_res_blocks + 1
 * residual blocks per stage, each stage after the first starting at half
 * the width the upsampling left, then a Resample but after the last),
 * head. Diffusers groups them: up_blocks.I.resnets.J, up_blocks.I.
 * upsamplers.0. */
static void add_decoder(list *l, const wan_vae_config *c)
{
    const int S = WAN_VAE_STAGES;
    int64_t dims[WAN_VAE_STAGES + 1];
    dims[0] = (int64_t)c->dim * c->dim_mult[S - 1];
    for (int i = 0; i < S; i++)
        dims[i + 1] = (int64_t)c->dim * c->dim_mult[S - 1 - i];
    add_conv(l, "decoder.conv1", "decoder.conv_in", dims[0], c->z_dim, 3, 3, 3);
    add_middle(l, "decoder", dims[0]);
    char o[WAN_NAME_MAX], d[WAN_NAME_MAX];
    int k = 0;
    for (int i = 0; i < S; i++) {
        int64_t cin = i > 0 ? dims[i] / 2 : dims[i], cout = dims[i + 1];
        for (int r = 0; r <= c->num_res_blocks; r++, k++, cin = cout) {
            snprintf(o, sizeof(o), "decoder.upsamples.%d", k);
            snprintf(d, sizeof(d), "decoder.up_blocks.%d.resnets.%d", i, r);
            add_resblock(l, o, d, cin, cout);
        }
        if (i == S - 1)
            break;
        /* Upsample + Conv2d(C, C/2, 3); upsample3d adds a
         * CausalConv3d(C, 2C, (3, 1, 1)); temporal upsampling is the
         * reverse of the downsampling */
        snprintf(o, sizeof(o), "decoder.upsamples.%d.resample.1", k);
        snprintf(d, sizeof(d), "decoder.up_blocks.%d.upsamplers.0.resample.1",
                 i);
        add_conv(l, o, d, cout / 2, cout, 0, 3, 3);
        snprintf(o, sizeof(o), "decoder.upsamples.%d.time_conv", k);
        snprintf(d, sizeof(d), "decoder.up_blocks.%d.upsamplers.0.time_conv",
                 i);
        if (c->temporal_down[S - 2 - i])
            add_conv(l, o, d, 2 * cout, cout, 3, 1, 1);
        k++;
    }
    add_head(l, "decoder", dims[S], 3);
}

int wan_vae_tensors(const wan_vae_config *c, wan_tensor_spec **out, int *n)
{
    int rc = wan_vae_config_check(c, NULL, 0);
    if (rc)
        return rc;
    list l = {0};
    const int64_t z = c->z_dim;
    /* WanVAE_.conv1 (2z -> 2z) after the encoder, conv2 (z -> z) before
     * the decoder: CausalConv3d 1x1x1; Diffusers quant_conv and
     * post_quant_conv */
    add_conv(&l, "conv1", "quant_conv", 2 * z, 2 * z, 1, 1, 1);
    add_conv(&l, "conv2", "post_quant_conv", z, z, 1, 1, 1);
    add_encoder(&l, c);
    add_decoder(&l, c);
    return finish(&l, out, n);
}
