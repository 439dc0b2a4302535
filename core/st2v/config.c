/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * config.c - parse and check the model configuration (docs/model-format.md,
 * section 2), the JSON string stored in the file's __metadata__.st2v_config.
 *
 * Every key must be present with the right type and inside a range; every
 * derived check of section 2 is made here. The ranges also bound every size
 * so that a hostile file cannot make the engine allocate absurd memory.
 * Messages start with "config: " and name the key. Unknown keys are ignored.
 * It does not look at tensors: model.c checks their shapes against this.
 */
#include "config.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"

/* Upper bounds (inclusive) that no sensible model exceeds. */
#define MAX_DIM 8192
#define MAX_MLP 65536
#define MAX_LAYERS 256
#define MAX_PIECES 262144
#define MAX_PIECE_BYTES 64
#define MAX_CHANNELS 4096
#define MAX_Z 64
#define MAX_EXTRA 64
#define MAX_KT 16
#define MAX_PATCH 16
#define MAX_RES_BLOCKS 16
#define MAX_WINDOW 1024

typedef struct {
    char *err;
    size_t err_size;
} ctx;

#define FAIL(x, ...) st2v_fail((x)->err, (x)->err_size, ST2V_ERR_FORMAT, \
                               "config: " __VA_ARGS__)

/* "sec.key" or "key" for messages. */
static const char *key_path(char *buf, size_t size, const char *sec,
                            const char *key)
{
    if (sec)
        snprintf(buf, size, "%s.%s", sec, key);
    else
        snprintf(buf, size, "%s", key);
    return buf;
}

static int get_item(ctx *x, const cJSON *obj, const char *sec, const char *key,
                    const cJSON **out)
{
    char kp[96];
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!it)
        return FAIL(x, "missing key %s", key_path(kp, sizeof(kp), sec, key));
    *out = it;
    return 0;
}

static int get_object(ctx *x, const cJSON *obj, const char *sec,
                      const char *key, const cJSON **out)
{
    char kp[96];
    int rc = get_item(x, obj, sec, key, out);
    if (rc)
        return rc;
    if (!cJSON_IsObject(*out))
        return FAIL(x, "%s must be an object",
                    key_path(kp, sizeof(kp), sec, key));
    return 0;
}

/* An integer-valued JSON number in lo..hi. `what` names it in messages. */
static int as_int(ctx *x, const cJSON *it, const char *what, long lo, long hi,
                  int *out)
{
    if (!cJSON_IsNumber(it))
        return FAIL(x, "%s must be an integer", what);
    double v = it->valuedouble;
    if (v != floor(v) || !isfinite(v))
        return FAIL(x, "%s must be an integer, got %g", what, v);
    if (v < (double)lo || v > (double)hi)
        return FAIL(x, "%s must be an integer in %ld..%ld, got %.17g", what,
                    lo, hi, v);
    *out = (int)v;
    return 0;
}

static int get_int(ctx *x, const cJSON *obj, const char *sec, const char *key,
                   long lo, long hi, int *out)
{
    char kp[96];
    const cJSON *it = NULL;
    int rc = get_item(x, obj, sec, key, &it);
    if (rc)
        return rc;
    return as_int(x, it, key_path(kp, sizeof(kp), sec, key), lo, hi, out);
}

/* A finite JSON number in [lo, hi] (or (lo, hi] when lo_open). */
static int as_float(ctx *x, const cJSON *it, const char *what, double lo,
                    int lo_open, double hi, float *out)
{
    if (!cJSON_IsNumber(it))
        return FAIL(x, "%s must be a number", what);
    double v = it->valuedouble;
    if (!isfinite(v) || v > hi || v < lo || (lo_open && v == lo))
        return FAIL(x, "%s must be a number in %s%g, %g], got %g", what,
                    lo_open ? "(" : "[", lo, hi, v);
    *out = (float)v;
    return 0;
}

static int get_float(ctx *x, const cJSON *obj, const char *sec,
                     const char *key, double lo, int lo_open, double hi,
                     float *out)
{
    char kp[96];
    const cJSON *it = NULL;
    int rc = get_item(x, obj, sec, key, &it);
    if (rc)
        return rc;
    return as_float(x, it, key_path(kp, sizeof(kp), sec, key), lo, lo_open,
                    hi, out);
}

static int get_string(ctx *x, const cJSON *obj, const char *sec,
                      const char *key, const char **out)
{
    char kp[96];
    const cJSON *it = NULL;
    int rc = get_item(x, obj, sec, key, &it);
    if (rc)
        return rc;
    if (!cJSON_IsString(it))
        return FAIL(x, "%s must be a string",
                    key_path(kp, sizeof(kp), sec, key));
    *out = it->valuestring;
    return 0;
}

/* An optional boolean: absent means 0. */
static int get_optional_bool(ctx *x, const cJSON *obj, const char *sec,
                             const char *key, int *out)
{
    char kp[96];
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, key);
    *out = 0;
    if (!it)
        return 0;
    if (!cJSON_IsBool(it))
        return FAIL(x, "%s must be true or false",
                    key_path(kp, sizeof(kp), sec, key));
    *out = cJSON_IsTrue(it) ? 1 : 0;
    return 0;
}

/* An array of integers in lo..hi with min_n..max_n entries. */
static int get_int_array(ctx *x, const cJSON *obj, const char *sec,
                         const char *key, int min_n, int max_n, long lo,
                         long hi, int *out, int *n)
{
    char kp[96], what[128];
    const cJSON *it = NULL;
    int rc = get_item(x, obj, sec, key, &it);
    if (rc)
        return rc;
    key_path(kp, sizeof(kp), sec, key);
    if (!cJSON_IsArray(it))
        return FAIL(x, "%s must be an array", kp);
    int count = cJSON_GetArraySize(it);
    if (count < min_n || count > max_n) {
        if (min_n == max_n)
            return FAIL(x, "%s must have %d entries, got %d", kp, min_n,
                        count);
        return FAIL(x, "%s must have %d..%d entries, got %d", kp, min_n,
                    max_n, count);
    }
    int i = 0;
    for (const cJSON *e = it->child; e; e = e->next, i++) {
        snprintf(what, sizeof(what), "%s[%d]", kp, i);
        rc = as_int(x, e, what, lo, hi, &out[i]);
        if (rc)
            return rc;
    }
    if (n)
        *n = count;
    return 0;
}

static char *dup_string(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d)
        memcpy(d, s, n);
    return d;
}

/* Strict UTF-8: no overlong forms, no surrogates, nothing above U+10FFFF. */
static int utf8_valid(const unsigned char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        unsigned c = s[i];
        size_t len;
        unsigned cp;
        if (c < 0x80) {
            i++;
            continue;
        } else if (c >= 0xc2 && c <= 0xdf) {
            len = 2, cp = c & 0x1f;
        } else if (c >= 0xe0 && c <= 0xef) {
            len = 3, cp = c & 0x0f;
        } else if (c >= 0xf0 && c <= 0xf4) {
            len = 4, cp = c & 0x07;
        } else {
            return 0;
        }
        if (i + len > n)
            return 0;
        for (size_t k = 1; k < len; k++) {
            if ((s[i + k] & 0xc0) != 0x80)
                return 0;
            cp = (cp << 6) | (s[i + k] & 0x3f);
        }
        if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
            cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return 0;
        i += len;
    }
    return 1;
}

typedef struct {
    const char *s;
    int i;
} indexed_piece;

static int cmp_piece(const void *a, const void *b)
{
    const indexed_piece *x = a, *y = b;
    int c = strcmp(x->s, y->s);
    return c ? c : (x->i > y->i) - (x->i < y->i);
}

/* ------------------------------------------------------------ sections */

static int parse_tokenizer(ctx *x, st2v_config *c, const cJSON *root)
{
    const cJSON *tok = NULL, *pieces = NULL;
    int rc;
    if ((rc = get_object(x, root, NULL, "tokenizer", &tok)) ||
        (rc = get_int(x, tok, "tokenizer", "max_length", 2, 1024,
                      &c->max_length)) ||
        (rc = get_item(x, tok, "tokenizer", "pieces", &pieces)))
        return rc;
    if (!cJSON_IsArray(pieces))
        return FAIL(x, "tokenizer.pieces must be an array");
    int n = cJSON_GetArraySize(pieces);
    if (n > MAX_PIECES)
        return FAIL(x, "tokenizer.pieces has %d entries, more than %d", n,
                    MAX_PIECES);
    c->pieces = calloc(n ? (size_t)n : 1, sizeof(char *));
    if (!c->pieces)
        return st2v_fail(x->err, x->err_size, ST2V_ERR_NOMEM,
                         "config: out of memory for %d pieces", n);
    int i = 0;
    for (const cJSON *p = pieces->child; p; p = p->next, i++) {
        if (!cJSON_IsString(p))
            return FAIL(x, "tokenizer.pieces[%d] must be a string", i);
        size_t len = strlen(p->valuestring);
        if (len == 0)
            return FAIL(x, "tokenizer.pieces[%d] is empty", i);
        if (len > MAX_PIECE_BYTES)
            return FAIL(x, "tokenizer.pieces[%d] is %zu bytes, more than %d",
                        i, len, MAX_PIECE_BYTES);
        if (!utf8_valid((const unsigned char *)p->valuestring, len))
            return FAIL(x, "tokenizer.pieces[%d] is not valid UTF-8", i);
        c->pieces[i] = dup_string(p->valuestring);
        if (!c->pieces[i])
            return st2v_fail(x->err, x->err_size, ST2V_ERR_NOMEM,
                             "config: out of memory for the pieces");
        c->n_pieces = i + 1;
    }
    c->vocab_size = 259 + n;

    /* uniqueness: sort indices by piece, compare neighbours */
    indexed_piece *idx = malloc((n ? (size_t)n : 1) * sizeof(*idx));
    if (!idx)
        return st2v_fail(x->err, x->err_size, ST2V_ERR_NOMEM,
                         "config: out of memory for the pieces");
    for (i = 0; i < n; i++)
        idx[i] = (indexed_piece){c->pieces[i], i};
    qsort(idx, (size_t)n, sizeof(*idx), cmp_piece);
    rc = 0;
    for (i = 1; i < n && !rc; i++)
        if (strcmp(idx[i - 1].s, idx[i].s) == 0)
            rc = FAIL(x, "tokenizer.pieces[%d] repeats tokenizer.pieces[%d]",
                      idx[i].i, idx[i - 1].i);
    free(idx);
    return rc;
}

static int parse_text(ctx *x, st2v_config *c, const cJSON *root)
{
    const cJSON *t = NULL;
    int rc;
    if ((rc = get_object(x, root, NULL, "text", &t)) ||
        (rc = get_int(x, t, "text", "dim", 1, MAX_DIM, &c->text_dim)) ||
        (rc = get_int(x, t, "text", "layers", 1, MAX_LAYERS,
                      &c->text_layers)) ||
        (rc = get_int(x, t, "text", "heads", 1, MAX_DIM, &c->text_heads)) ||
        (rc = get_int(x, t, "text", "mlp_dim", 1, MAX_MLP, &c->text_mlp)))
        return rc;
    if (c->text_dim % c->text_heads != 0)
        return FAIL(x, "text.dim %d is not divisible by text.heads %d",
                    c->text_dim, c->text_heads);
    if ((c->text_dim / c->text_heads) % 2 != 0)
        return FAIL(x, "text head dim (text.dim / text.heads) must be even, "
                       "got %d",
                    c->text_dim / c->text_heads);
    return 0;
}

static int parse_dit(ctx *x, st2v_config *c, const cJSON *root)
{
    const cJSON *d = NULL;
    int rc;
    if ((rc = get_object(x, root, NULL, "dit", &d)) ||
        (rc = get_int(x, d, "dit", "dim", 1, MAX_DIM, &c->dim)) ||
        (rc = get_int(x, d, "dit", "layers", 1, MAX_LAYERS, &c->layers)) ||
        (rc = get_int(x, d, "dit", "heads", 1, MAX_DIM, &c->heads)) ||
        (rc = get_int(x, d, "dit", "mlp_dim", 1, MAX_MLP, &c->mlp)) ||
        (rc = get_int_array(x, d, "dit", "patch", 3, 3, 1, MAX_PATCH,
                            c->patch, NULL)) ||
        (rc = get_int_array(x, d, "dit", "rope_dims", 3, 3, 0, MAX_DIM,
                            c->rope_dims, NULL)) ||
        (rc = get_float(x, d, "dit", "rope_theta", 0.0, 1, 1e9,
                        &c->rope_theta)) ||
        (rc = get_int(x, d, "dit", "freq_dim", 2, MAX_DIM, &c->freq_dim)) ||
        (rc = get_optional_bool(x, d, "dit", "text_pool", &c->text_pool)))
        return rc;
    /* optional: absent means 0 (the files before it) */
    if (cJSON_GetObjectItemCaseSensitive(d, "extra_channels") &&
        (rc = get_int(x, d, "dit", "extra_channels", 0, MAX_EXTRA,
                      &c->extra_channels)))
        return rc;
    if (c->dim % c->heads != 0)
        return FAIL(x, "dit.dim %d is not divisible by dit.heads %d", c->dim,
                    c->heads);
    int hd = c->dim / c->heads;
    for (int i = 0; i < 3; i++)
        if (c->rope_dims[i] % 2 != 0)
            return FAIL(x, "dit.rope_dims[%d] must be even, got %d", i,
                        c->rope_dims[i]);
    int sum = c->rope_dims[0] + c->rope_dims[1] + c->rope_dims[2];
    if (sum != hd)
        return FAIL(x, "dit.rope_dims must sum to head_dim %d, got %d", hd,
                    sum);
    if (c->freq_dim % 2 != 0)
        return FAIL(x, "dit.freq_dim must be even, got %d", c->freq_dim);
    return 0;
}

static int parse_vae(ctx *x, st2v_config *c, const cJSON *root)
{
    const cJSON *v = NULL, *arr = NULL;
    int rc, n;
    if ((rc = get_object(x, root, NULL, "vae", &v)) ||
        (rc = get_int(x, v, "vae", "z_channels", 1, MAX_Z, &c->z_channels)) ||
        (rc = get_int_array(x, v, "vae", "channels", 1, ST2V_MAX_VAE_LEVELS,
                            1, MAX_CHANNELS, c->channels, &c->n_levels)) ||
        (rc = get_int(x, v, "vae", "res_blocks", 0, MAX_RES_BLOCKS,
                      &c->res_blocks)))
        return rc;
    int lv = c->n_levels;
    if ((rc = get_int_array(x, v, "vae", "time_up", lv - 1, lv - 1, 0, 1,
                            c->time_up, NULL)) ||
        (rc = get_int_array(x, v, "vae", "space_up", lv - 1, lv - 1, 0, 1,
                            c->space_up, NULL)) ||
        (rc = get_int_array(x, v, "vae", "kt", lv, lv, 1, MAX_KT, c->kt,
                            NULL)))
        return rc;
    /* the decoder may be wider than the encoder; by default it mirrors it */
    memcpy(c->dec_channels, c->channels, sizeof(c->channels));
    if (cJSON_GetObjectItemCaseSensitive(v, "dec_channels") &&
        (rc = get_int_array(x, v, "vae", "dec_channels", lv, lv, 1,
                            MAX_CHANNELS, c->dec_channels, NULL)))
        return rc;
    c->ft = 1;
    c->s = 1;
    for (int i = 0; i < lv - 1; i++) {
        c->ft <<= c->time_up[i];
        c->s <<= c->space_up[i];
    }

    static const char *const stat_keys[2] = {"latent_mean", "latent_std"};
    float *stats[2] = {c->latent_mean, c->latent_std};
    for (int k = 0; k < 2; k++) {
        if ((rc = get_item(x, v, "vae", stat_keys[k], &arr)))
            return rc;
        if (!cJSON_IsArray(arr))
            return FAIL(x, "vae.%s must be an array", stat_keys[k]);
        n = cJSON_GetArraySize(arr);
        if (n != c->z_channels)
            return FAIL(x, "vae.%s must have %d entries (vae.z_channels), "
                           "got %d",
                        stat_keys[k], c->z_channels, n);
        int i = 0;
        for (const cJSON *e = arr->child; e; e = e->next, i++) {
            char what[64];
            snprintf(what, sizeof(what), "vae.%s[%d]", stat_keys[k], i);
            if (k == 0)
                rc = as_float(x, e, what, -1e6, 0, 1e6, &stats[k][i]);
            else
                rc = as_float(x, e, what, 0.0, 1, 1e6, &stats[k][i]);
            if (rc)
                return rc;
        }
    }
    return 0;
}

static int parse_video(ctx *x, st2v_config *c, const cJSON *root)
{
    const cJSON *v = NULL, *sizes = NULL;
    int rc;
    if ((rc = get_object(x, root, NULL, "video", &v)) ||
        (rc = get_int(x, v, "video", "fps", 1, 1000, &c->fps)) ||
        (rc = get_item(x, v, "video", "sizes", &sizes)))
        return rc;
    if (!cJSON_IsArray(sizes))
        return FAIL(x, "video.sizes must be an array");
    int n = cJSON_GetArraySize(sizes);
    if (n < 1 || n > ST2V_MAX_SIZES)
        return FAIL(x, "video.sizes must have 1..%d entries, got %d",
                    ST2V_MAX_SIZES, n);
    int mw = c->s * c->patch[2], mh = c->s * c->patch[1];
    int i = 0;
    for (const cJSON *e = sizes->child; e; e = e->next, i++) {
        char what[64];
        snprintf(what, sizeof(what), "video.sizes[%d]", i);
        if (!cJSON_IsArray(e) || cJSON_GetArraySize(e) != 2)
            return FAIL(x, "%s must be a [width, height] pair", what);
        char wk[72], hk[72];
        snprintf(wk, sizeof(wk), "%s[0]", what);
        snprintf(hk, sizeof(hk), "%s[1]", what);
        int *wh = c->sizes[i];
        if ((rc = as_int(x, e->child, wk, 16, 8192, &wh[0])) ||
            (rc = as_int(x, e->child->next, hk, 16, 8192, &wh[1])))
            return rc;
        if (wh[0] % mw != 0)
            return FAIL(x, "%s %dx%d: the width must be divisible by %d "
                           "(spatial factor * dit.patch[2])",
                        what, wh[0], wh[1], mw);
        if (wh[1] % mh != 0)
            return FAIL(x, "%s %dx%d: the height must be divisible by %d "
                           "(spatial factor * dit.patch[1])",
                        what, wh[0], wh[1], mh);
    }
    c->n_sizes = n;
    return 0;
}

static int parse_sampler(ctx *x, st2v_config *c, const cJSON *root)
{
    const cJSON *s = NULL;
    const char *name = NULL;
    int rc;
    if ((rc = get_object(x, root, NULL, "sampler", &s)) ||
        (rc = get_int(x, s, "sampler", "steps", 1, 1000, &c->steps)) ||
        (rc = get_float(x, s, "sampler", "cfg", 0.0, 0, 100.0, &c->guidance)) ||
        (rc = get_string(x, s, "sampler", "sampler", &name)) ||
        (rc = get_float(x, s, "sampler", "shift", 0.0, 1, 100.0,
                        &c->shift)) ||
        (rc = get_int(x, s, "sampler", "window", 1, MAX_WINDOW,
                      &c->window)) ||
        (rc = get_int(x, s, "sampler", "context", 0, MAX_WINDOW,
                      &c->context)))
        return rc;
    st2v_sampler known;
    if (st2v_sampler_from_name(name, &known) != 0 ||
        known == ST2V_SAMPLER_DEFAULT)
        return FAIL(x, "sampler.sampler must be %s", st2v_sampler_names());
    snprintf(c->sampler, sizeof(c->sampler), "%s", name);
    int pt = c->patch[0];
    if (c->window % pt != 0)
        return FAIL(x, "sampler.window %d must be divisible by dit.patch[0] "
                       "%d",
                    c->window, pt);
    if (c->context % pt != 0)
        return FAIL(x, "sampler.context %d must be divisible by dit.patch[0] "
                       "%d",
                    c->context, pt);
    if (c->window <= c->context)
        return FAIL(x, "sampler.window %d must be greater than "
                       "sampler.context %d",
                    c->window, c->context);
    return 0;
}

/* -------------------------------------------------------------- public */

int st2v_config_parse(st2v_config *c, const char *json, char *err,
                      size_t err_size)
{
    ctx x = {err, err_size};
    memset(c, 0, sizeof(*c));
    if (!json)
        return FAIL(&x, "missing");
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithOpts(json, &end, 1);
    if (!root)
        return FAIL(&x, "not valid JSON (error at byte %zu)",
                    end ? (size_t)(end - json) : (size_t)0);
    int rc = 0;
    const char *s = NULL;
    const cJSON *prov = NULL;
    if (!cJSON_IsObject(root)) {
        rc = FAIL(&x, "not a JSON object");
        goto out;
    }
    if ((rc = get_int(&x, root, NULL, "format_version", 1, 1000000,
                      &c->format_version)))
        goto out;
    if (c->format_version != 1) {
        rc = FAIL(&x, "format_version must be 1, got %d", c->format_version);
        goto out;
    }
    if ((rc = get_string(&x, root, NULL, "name", &s)))
        goto out;
    if (!(c->name = dup_string(s)))
        goto nomem;
    if ((rc = get_string(&x, root, NULL, "description", &s)))
        goto out;
    if (!(c->description = dup_string(s)))
        goto nomem;
    if ((rc = get_object(&x, root, NULL, "provenance", &prov)))
        goto out;
    if (!(c->provenance_json = cJSON_PrintUnformatted(prov)))
        goto nomem;
    /* order matters: video and sampler use the patch and the VAE factors */
    if ((rc = parse_tokenizer(&x, c, root)) || (rc = parse_text(&x, c, root)) ||
        (rc = parse_dit(&x, c, root)) || (rc = parse_vae(&x, c, root)) ||
        (rc = parse_video(&x, c, root)) || (rc = parse_sampler(&x, c, root)))
        goto out;
    c->dit_channels = c->z_channels + c->extra_channels;
    goto out;
nomem:
    rc = st2v_fail(err, err_size, ST2V_ERR_NOMEM, "config: out of memory");
out:
    cJSON_Delete(root);
    if (rc)
        st2v_config_free(c);
    return rc;
}

void st2v_config_free(st2v_config *c)
{
    if (!c)
        return;
    free(c->name);
    free(c->description);
    if (c->provenance_json)
        cJSON_free(c->provenance_json);
    for (int i = 0; i < c->n_pieces; i++)
        free(c->pieces[i]);
    free(c->pieces);
    memset(c, 0, sizeof(*c));
}
