/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * st2v-parts - run one part of a model family on inputs given as
 * safetensors and write its outputs as safetensors, for the tests and for
 * users who compare st2v with another engine part by part.
 *
 *   st2v-parts tokenize --tokenizer FILE (--prompt TEXT | --prompt-file F)
 *              [--len N] -o OUT.safetensors
 *       Wan's tokenisation (spm_encode_wan: cleaning, EOS, padding to N,
 *       default 512). FILE: spiece.model, a ComfyUI text-encoder
 *       .safetensors carrying `spiece_model`, or Hugging Face's
 *       tokenizer.json. OUT: ids I32 [N], mask I32 [N] (1 for the real
 *       tokens, EOS included).
 *   st2v-parts umt5 --weights FILE --ids IN.safetensors [-t THREADS]
 *              [--max-dist N] -o OUT.safetensors
 *       the umT5 encoder on the real tokens of IN (ids I32 [N] and, when
 *       present, mask I32 [N]: ones, then zeros). OUT: context F32 [n, dim]
 *       for the n real tokens (Wan's DiT adds the zero rows).
 *   st2v-parts dit --weights FILE --inputs IN.safetensors [-t THREADS]
 *              [--heads N] [--text-len N] -o OUT.safetensors
 *       the Wan DiT (F32/F16/BF16 weights, official names, optionally under
 *       model.diffusion_model.) on IN: x F32 [in_dim, F, H, W] (the
 *       latent), t F32 [1] (the timestep, 0 .. 1000), context F32
 *       [n, text_dim] (umT5's real rows) and, when present, context_neg
 *       F32 [m, text_dim] (the CFG pair's second prompt, run in the same
 *       call). OUT: velocity F32 [out_dim, F, H, W] (and velocity_neg).
 *       The config comes from the tensor shapes; num_heads (default dim /
 *       128) and text_len (default 512), which no tensor carries, from the
 *       file's "config" metadata when it has one, else from the options.
 *   st2v-parts vae --weights FILE --latent IN.safetensors [-t THREADS]
 *              [--raw | --u8] -o OUT.safetensors
 *       the Wan VAE decoder (F32/F16/BF16 weights, official names, or under
 *       first_stage_model.; the config from the shapes) on IN: latent F32
 *       [16, T, Hl, Wl] (or [1, 16, T, Hl, Wl]), one latent frame at a time
 *       as a stream. OUT: video F32 [3, 1 + 4 (T - 1), 8 Hl, 8 Wl] in
 *       [-1, 1] (--raw: before the clamp; --u8: U8 as Wan saves video),
 *       written as the frames are decoded.
 *
 * Errors are one line on stderr and a non-zero status (2 for usage), and
 * no output file is left behind.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pool.h"
#include "safetensors.h"
#include "st2v.h"
#include "wan/dit.h"
#include "wan/spm.h"
#include "wan/umt5.h"
#include "wan/vae.h"

#define PROG "st2v-parts"

static const char USAGE[] =
    "usage: " PROG " tokenize --tokenizer FILE (--prompt TEXT | --prompt-file "
    "FILE) [--len N] -o OUT.safetensors\n"
    "       " PROG " umt5 --weights FILE --ids IN.safetensors [-t THREADS] "
    "[--max-dist N] -o OUT.safetensors\n"
    "       " PROG " vae --weights FILE --latent IN.safetensors [-t THREADS] "
    "[--raw | --u8] -o OUT.safetensors\n"
    "       " PROG " dit --weights FILE --inputs IN.safetensors [-t THREADS] "
    "[--heads N] [--text-len N] -o OUT.safetensors\n"
    "\n"
    "Runs one part of a model on safetensors inputs and writes safetensors.\n"
    "  tokenize  Wan's umT5 tokenisation (cleaning, </s>, <pad> up to --len,\n"
    "            default 512) from spiece.model, a ComfyUI text-encoder file\n"
    "            with spiece_model, or tokenizer.json -> ids, mask (I32 [len])\n"
    "  umt5      the umT5 encoder (F32/F16/BF16/scaled F8 weights, official or\n"
    "            Hugging Face names) on the real tokens of ids/mask\n"
    "            -> context (F32 [n, dim]); --max-dist: where the position\n"
    "            buckets end (no tensor says; 128 in umT5-XXL)\n"
    "  vae       the Wan VAE decoder, streaming, on latent (F32 [16, T, Hl,\n"
    "            Wl]) -> video (F32 [3, 1 + 4 (T-1), 8 Hl, 8 Wl], clamped;\n"
    "            --raw: not clamped; --u8: U8 as Wan saves video)\n"
    "  dit       the Wan DiT (F32/F16/BF16 weights, official names) on x\n"
    "            (F32 [in_dim, F, H, W]), t (F32 [1]), context (F32 [n,\n"
    "            text_dim]) and optional context_neg -> velocity (and\n"
    "            velocity_neg), F32 [out_dim, F, H, W]; --heads, --text-len:\n"
    "            what no tensor says (defaults: the file's config metadata,\n"
    "            else dim / 128 and 512)\n";

/* One line on stderr; returns 1 (the exit status of a failure). */
static int die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs(PROG ": ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return 1;
}

static int usage_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs(PROG ": ", stderr);
    vfprintf(stderr, fmt, ap);
    fputs(" (see --help)\n", stderr);
    va_end(ap);
    return 2;
}

/* ------------------------------------------------------------ files */

/* The whole file, malloc'ed (+1 byte, NUL-terminated), or NULL with errno. */
static char *read_all(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 1 << 16, len = 0;
    char *buf = malloc(cap);
    while (buf) {
        len += fread(buf + len, 1, cap - 1 - len, f);
        if (ferror(f)) {
            free(buf);
            buf = NULL;
            break;
        }
        if (feof(f))
            break;
        char *nb = cap > SIZE_MAX / 2 ? NULL : realloc(buf, cap * 2);
        if (!nb) {
            free(buf);
            buf = NULL;
            errno = ENOMEM;
            break;
        }
        buf = nb;
        cap *= 2;
    }
    fclose(f);
    if (buf) {
        buf[len] = '\0';
        *n = len;
    }
    return buf;
}

typedef struct out_tensor {
    const char *name;
    st_dtype dtype;
    int ndim;
    int64_t shape[4];
    const void *data;
} out_tensor;

/* A safetensors file of n tensors (given sorted by name), its header
 * padded with spaces to 8 bytes. Removes a partial file on failure. */
static int write_safetensors(const char *path, const out_tensor *t, int n)
{
    char header[4096];
    size_t h = 0, off = 0;
    h += (size_t)snprintf(header + h, sizeof(header) - h,
                          "{\"__metadata__\":{\"generator\":\"st2v-parts\"}");
    for (int i = 0; i < n; i++) {
        size_t bytes = st_dtype_size(t[i].dtype);
        for (int d = 0; d < t[i].ndim; d++)
            bytes *= (size_t)t[i].shape[d];
        h += (size_t)snprintf(header + h, sizeof(header) - h,
                              ",\"%s\":{\"dtype\":\"%s\",\"shape\":[",
                              t[i].name, st_dtype_name(t[i].dtype));
        for (int d = 0; d < t[i].ndim; d++)
            h += (size_t)snprintf(header + h, sizeof(header) - h,
                                  "%s%" PRId64, d ? "," : "", t[i].shape[d]);
        h += (size_t)snprintf(header + h, sizeof(header) - h,
                              "],\"data_offsets\":[%zu,%zu]}", off,
                              off + bytes);
        off += bytes;
    }
    h += (size_t)snprintf(header + h, sizeof(header) - h, "}");
    while (h % 8 && h < sizeof(header))
        header[h++] = ' ';
    if (h >= sizeof(header) - 1)
        return die("%s: header too long", path);

    FILE *f = fopen(path, "wb");
    if (!f)
        return die("cannot write %s: %s", path, strerror(errno));
    uint8_t len[8];
    for (int i = 0; i < 8; i++)
        len[i] = (uint8_t)((uint64_t)h >> (8 * i));
    int ok = fwrite(len, 1, 8, f) == 8 && fwrite(header, 1, h, f) == h;
    for (int i = 0; ok && i < n; i++) {
        size_t bytes = st_dtype_size(t[i].dtype);
        for (int d = 0; d < t[i].ndim; d++)
            bytes *= (size_t)t[i].shape[d];
        ok = fwrite(t[i].data, 1, bytes, f) == bytes; /* little-endian */
    }
    if (fclose(f) != 0)
        ok = 0;
    if (!ok) {
        remove(path);
        return die("cannot write %s: %s", path, strerror(errno));
    }
    return 0;
}

/* ------------------------------------------------------- tokenize */

/* A tokenizer from spiece.model, a safetensors file with spiece_model, or
 * tokenizer.json, told apart by their first bytes. */
static int load_tokenizer(spm **out, const char *path)
{
    size_t n = 0;
    char *buf = read_all(path, &n);
    if (!buf)
        return die("cannot read %s: %s", path, strerror(errno));
    char err[512] = "";
    int rc;
    uint64_t hl = 0;
    for (int i = 0; i < 8 && n >= 8; i++)
        hl |= (uint64_t)(uint8_t)buf[i] << (8 * i);
    size_t ws = 0;
    while (ws < n && (buf[ws] == ' ' || buf[ws] == '\n' || buf[ws] == '\t' ||
                      buf[ws] == '\r'))
        ws++;
    if (n >= 10 && hl >= 2 && hl <= n - 8 && buf[8] == '{')
        rc = spm_load_safetensors(out, buf, n, err, sizeof(err));
    else if (ws < n && buf[ws] == '{')
        rc = spm_load_hf_json(out, buf, n, err, sizeof(err));
    else
        rc = spm_load(out, buf, n, err, sizeof(err));
    free(buf);
    if (rc)
        return die("%s: %s", path, err);
    return 0;
}

static int parse_int(const char *s, long lo, long hi, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

static int cmd_tokenize(int argc, char **argv)
{
    const char *tok = NULL, *prompt = NULL, *prompt_file = NULL, *out = NULL;
    long len = SPM_WAN_TEXT_LEN;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (i + 1 >= argc)
            return usage_error("tokenize: %s needs a value or is unknown", a);
        if (strcmp(a, "--tokenizer") == 0)
            tok = argv[++i];
        else if (strcmp(a, "--prompt") == 0)
            prompt = argv[++i];
        else if (strcmp(a, "--prompt-file") == 0)
            prompt_file = argv[++i];
        else if (strcmp(a, "--len") == 0) {
            if (parse_int(argv[++i], 1, 1 << 20, &len))
                return usage_error("tokenize: --len %s is not an integer in "
                                   "[1, 1048576]",
                                   argv[i]);
        } else if (strcmp(a, "-o") == 0)
            out = argv[++i];
        else
            return usage_error("tokenize: unknown option %s", a);
    }
    if (!tok || !out || !prompt == !prompt_file)
        return usage_error("tokenize needs --tokenizer, -o and one of "
                           "--prompt, --prompt-file");
    char *text = NULL;
    if (prompt_file) {
        size_t n = 0;
        text = read_all(prompt_file, &n);
        if (!text)
            return die("cannot read %s: %s", prompt_file, strerror(errno));
        if (strlen(text) != n) {
            free(text);
            return die("%s: the prompt holds a NUL byte", prompt_file);
        }
        prompt = text;
    }
    spm *m = NULL;
    if (load_tokenizer(&m, tok)) {
        free(text);
        return 1;
    }
    int32_t *ids = malloc((size_t)len * sizeof(int32_t));
    int32_t *mask = malloc((size_t)len * sizeof(int32_t));
    int n_tokens = 0, rc = 1;
    if (!ids || !mask)
        die("out of memory");
    else if (spm_encode_wan(m, prompt, ids, (int)len, &n_tokens) != 0)
        die("%s: cannot encode the prompt (no </s> or <pad>?)", tok);
    else {
        for (long i = 0; i < len; i++)
            mask[i] = i < n_tokens;
        out_tensor t[2] = {
            {"ids", ST_I32, 1, {len, 0}, ids},
            {"mask", ST_I32, 1, {len, 0}, mask},
        };
        rc = write_safetensors(out, t, 2);
    }
    free(ids);
    free(mask);
    free(text);
    spm_free(m);
    return rc;
}

/* ----------------------------------------------------------- umt5 */

/* The real ids of IN: tensor ids I32 [N] (or [1, N]) and, when there, mask
 * of the same shape, ones then zeros. */
static int read_ids(const char *path, int32_t **ids_out, int *n_out)
{
    st_file f;
    char err[512];
    if (st_open(&f, path, err, sizeof(err)) != 0)
        return die("%s", err);
    const st_tensor *ids = st_find(&f, "ids"), *mask = st_find(&f, "mask");
    int rc = 1;
    int64_t len = 0;
    if (!ids)
        die("%s: no tensor ids", path);
    else if (ids->dtype != ST_I32 ||
             !(ids->ndim == 1 || (ids->ndim == 2 && ids->shape[0] == 1)))
        die("%s: tensor ids is %s of %d dimensions, expected I32 [N]", path,
            st_dtype_name(ids->dtype), ids->ndim);
    else if ((len = ids->shape[ids->ndim - 1]) < 1)
        die("%s: tensor ids is empty", path);
    else if (mask && (mask->dtype != ST_I32 || mask->numel != ids->numel))
        die("%s: tensor mask is not I32 of the ids' %" PRId64 " values", path,
            len);
    else
        rc = 0;
    if (rc) {
        st_close(&f);
        return rc;
    }
    int32_t *v = malloc((size_t)len * sizeof(int32_t));
    if (!v) {
        st_close(&f);
        return die("out of memory");
    }
    memcpy(v, ids->data, (size_t)len * sizeof(int32_t));
    int64_t n = len;
    if (mask) {
        const uint8_t *p = mask->data;
        n = 0;
        for (int64_t i = 0; i < len && !rc; i++) {
            int32_t b;
            memcpy(&b, p + 4 * i, sizeof(b));
            if (b != 0 && b != 1)
                rc = die("%s: mask[%" PRId64 "] is %d, not 0 or 1", path, i,
                         b);
            else if (b == 1 && n != i)
                rc = die("%s: mask has a 1 at %" PRId64 " after a 0", path,
                         i);
            else
                n += b;
        }
    }
    st_close(&f);
    if (!rc && (n < 1 || n > WAN_UMT5_MAX_TOKENS))
        rc = die("%s: %" PRId64 " real tokens, expected 1 to %d", path, n,
                 WAN_UMT5_MAX_TOKENS);
    if (rc) {
        free(v);
        return rc;
    }
    *ids_out = v;
    *n_out = (int)n;
    return 0;
}

static int cmd_umt5(int argc, char **argv)
{
    const char *weights = NULL, *ids_path = NULL, *out = NULL;
    long threads = sysconf(_SC_NPROCESSORS_ONLN), max_dist = 128;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (i + 1 >= argc)
            return usage_error("umt5: %s needs a value or is unknown", a);
        if (strcmp(a, "--weights") == 0)
            weights = argv[++i];
        else if (strcmp(a, "--ids") == 0)
            ids_path = argv[++i];
        else if (strcmp(a, "-o") == 0)
            out = argv[++i];
        else if (strcmp(a, "-t") == 0 || strcmp(a, "--threads") == 0) {
            if (parse_int(argv[++i], 1, 256, &threads))
                return usage_error("umt5: -t %s is not an integer in "
                                   "[1, 256]",
                                   argv[i]);
        } else if (strcmp(a, "--max-dist") == 0) {
            if (parse_int(argv[++i], 1, 1 << 20, &max_dist))
                return usage_error("umt5: --max-dist %s is not an integer in "
                                   "[1, 1048576]",
                                   argv[i]);
        } else
            return usage_error("umt5: unknown option %s", a);
    }
    if (!weights || !ids_path || !out)
        return usage_error("umt5 needs --weights, --ids and -o");
    if (threads < 1)
        threads = 1;

    int32_t *ids = NULL;
    int n = 0;
    if (read_ids(ids_path, &ids, &n))
        return 1;
    st_file f;
    char err[512] = "";
    if (st_open(&f, weights, err, sizeof(err)) != 0) {
        free(ids);
        return die("%s", err);
    }
    /* the names alone, or under the prefix of ComfyUI's checkpoints */
    static const char *const prefixes[] = {"",
                                           "text_encoders.t5xxl.transformer."};
    wan_umt5_config cfg;
    const char *prefix = NULL;
    char first[512] = "";
    for (size_t i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++) {
        if (wan_umt5_config_from_file(&cfg, &f, prefixes[i], err,
                                      sizeof(err)) == 0) {
            prefix = prefixes[i];
            break;
        }
        if (i == 0)
            snprintf(first, sizeof(first), "%s", err);
    }
    cfg.max_dist = (int)max_dist;
    wan_umt5 *m = NULL;
    st2v_pool *pool = NULL;
    float *ctx = NULL;
    int rc = 1;
    if (!prefix) {
        die("%s: not a umT5 encoder: %s", weights, first);
        goto done;
    }
    if (wan_umt5_load(&m, &f, prefix, &cfg, err, sizeof(err)) != 0) {
        die("%s: %s", weights, err);
        goto done;
    }
    for (int i = 0; i < n; i++)
        if (ids[i] < 0 || ids[i] >= cfg.vocab) {
            die("%s: ids[%d] = %d is outside the vocabulary [0, %d)",
                ids_path, i, ids[i], cfg.vocab);
            goto done;
        }
    if (threads > 1 && st2v_pool_new(&pool, (int)threads) != 0) {
        die("cannot start %ld threads", threads);
        goto done;
    }
    ctx = malloc((size_t)n * cfg.dim * sizeof(float));
    if (!ctx || wan_umt5_encode(m, pool, ids, n, ctx) != 0) {
        die("out of memory encoding %d tokens", n);
        goto done;
    }
    out_tensor t = {"context", ST_F32, 2, {n, cfg.dim}, ctx};
    rc = write_safetensors(out, &t, 1);
done:
    free(ctx);
    st2v_pool_free(pool);
    wan_umt5_free(m);
    st_close(&f);
    free(ids);
    return rc;
}

/* ------------------------------------------------------------ dit */

/* Tensor name of IN as F32 of ndim dims (each > 0), or NULL after saying
 * why (when required). */
static const st_tensor *input(const st_file *f, const char *path,
                              const char *name, int ndim, int required,
                              int *rc)
{
    const st_tensor *t = st_find(f, name);
    if (!t) {
        if (required)
            *rc = die("%s: no tensor %s", path, name);
        return NULL;
    }
    int ok = t->dtype == ST_F32 && t->ndim == ndim;
    for (int d = 0; ok && d < ndim; d++)
        ok = t->shape[d] > 0 && t->shape[d] <= (1 << 20);
    if (!ok) {
        char sh[96];
        st_format_shape(sh, sizeof(sh), t->shape, t->ndim);
        *rc = die("%s: tensor %s is %s %s, expected F32 of %d non-empty "
                  "dimensions",
                  path, name, st_dtype_name(t->dtype), sh, ndim);
        return NULL;
    }
    return t;
}

/* The config of the DiT in f: the 1.3B's, the file's "config" metadata
 * over it, the shapes over that, then the options. */
static int dit_config(wan_dit_config *cfg, const st_file *f, const char *path,
                      const char *prefix, long heads, long text_len)
{
    char err[512] = "";
    wan_dit_config c = wan_dit_config_1_3b();
    const char *meta = st_metadata(f, "config");
    int from_meta = meta && wan_dit_config_parse(&c, meta, strlen(meta), err,
                                                 sizeof(err)) == 0;
    if (wan_dit_config_from_file(&c, f, prefix, err, sizeof(err)) != 0)
        return die("%s: not a Wan DiT: %s", path, err);
    if (!from_meta)
        c.num_heads = c.dim % 128 == 0 ? c.dim / 128 : 1;
    if (heads > 0)
        c.num_heads = (int)heads;
    if (text_len > 0)
        c.text_len = (int)text_len;
    if (wan_dit_config_check(&c, err, sizeof(err)) != 0)
        return die("%s: %s", path, err);
    *cfg = c;
    return 0;
}

/* x, t, context and context_neg of IN, checked against cfg; *B = 1 or 2. */
static int dit_inputs(const st_file *in, const char *path,
                      const wan_dit_config *cfg, const st_tensor **tx,
                      const st_tensor **tt, const st_tensor *cs[2], int *B)
{
    int rc = 0;
    if (!(*tx = input(in, path, "x", 4, 1, &rc)) ||
        !(*tt = input(in, path, "t", 1, 1, &rc)) ||
        !(cs[0] = input(in, path, "context", 2, 1, &rc)))
        return rc;
    cs[1] = input(in, path, "context_neg", 2, 0, &rc);
    if (rc)
        return rc;
    *B = cs[1] ? 2 : 1;
    const int64_t *s = (*tx)->shape;
    if (s[0] != cfg->in_dim || s[1] % cfg->patch[0] || s[2] % cfg->patch[1] ||
        s[3] % cfg->patch[2])
        return die("%s: x is [%" PRId64 ", %" PRId64 ", %" PRId64
                   ", %" PRId64 "], expected %d channels and sizes "
                   "divisible by the patch (%d, %d, %d)",
                   path, s[0], s[1], s[2], s[3], cfg->in_dim, cfg->patch[0],
                   cfg->patch[1], cfg->patch[2]);
    for (int b = 0; b < *B; b++)
        if (cs[b]->shape[1] != cfg->text_dim ||
            cs[b]->shape[0] > cfg->text_len)
            return die("%s: %s is [%" PRId64 ", %" PRId64 "], expected at "
                       "most %d rows of %d",
                       path, b ? "context_neg" : "context", cs[b]->shape[0],
                       cs[b]->shape[1], cfg->text_len, cfg->text_dim);
    return 0;
}

/* The DiT m on the inputs, the velocities written to out. */
static int dit_run(const wan_dit *m, const wan_dit_config *cfg, long threads,
                   const st_tensor *tx, const st_tensor *tt,
                   const st_tensor *const cs[2], int B, const char *out)
{
    const int F = (int)tx->shape[1], H = (int)tx->shape[2],
              W = (int)tx->shape[3];
    const size_t nv = (size_t)cfg->out_dim * (size_t)F * H * W;
    st2v_pool *pool = NULL;
    float *x = malloc((size_t)tx->numel * sizeof(float));
    float *ctx[2] = {NULL, NULL}, *vel[2] = {NULL, NULL};
    int n[2] = {0, 0}, rc = 1, ok = x != NULL;
    for (int b = 0; b < B; b++) {
        n[b] = (int)cs[b]->shape[0];
        ctx[b] = malloc((size_t)cs[b]->numel * sizeof(float));
        vel[b] = malloc(nv * sizeof(float));
        ok = ok && ctx[b] && vel[b];
    }
    float t = 0.0f;
    if (!ok)
        die("out of memory");
    else if (threads > 1 && st2v_pool_new(&pool, (int)threads) != 0)
        die("cannot start %ld threads", threads);
    else {
        st_to_f32(tx, x);
        st_to_f32(tt, &t);
        for (int b = 0; b < B; b++)
            st_to_f32(cs[b], ctx[b]);
        if (wan_dit_forward_multi(m, pool, x, F, H, W, t, B,
                                  (const float *const *)ctx, n, vel) != 0)
            die("out of memory running the DiT on %d x %d x %d", F, H, W);
        else {
            out_tensor o[2] = {
                {"velocity", ST_F32, 4, {cfg->out_dim, F, H, W}, vel[0]},
                {"velocity_neg", ST_F32, 4, {cfg->out_dim, F, H, W}, vel[1]},
            };
            rc = write_safetensors(out, o, B);
        }
    }
    st2v_pool_free(pool);
    free(x);
    for (int b = 0; b < 2; b++) {
        free(ctx[b]);
        free(vel[b]);
    }
    return rc;
}

static int cmd_dit(int argc, char **argv)
{
    const char *weights = NULL, *in_path = NULL, *out = NULL;
    long threads = sysconf(_SC_NPROCESSORS_ONLN), heads = 0, text_len = 0;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (i + 1 >= argc)
            return usage_error("dit: %s needs a value or is unknown", a);
        if (strcmp(a, "--weights") == 0)
            weights = argv[++i];
        else if (strcmp(a, "--inputs") == 0)
            in_path = argv[++i];
        else if (strcmp(a, "-o") == 0)
            out = argv[++i];
        else if (strcmp(a, "-t") == 0 || strcmp(a, "--threads") == 0) {
            if (parse_int(argv[++i], 1, 256, &threads))
                return usage_error("dit: -t %s is not an integer in [1, 256]",
                                   argv[i]);
        } else if (strcmp(a, "--heads") == 0) {
            if (parse_int(argv[++i], 1, 4096, &heads))
                return usage_error("dit: --heads %s is not an integer in "
                                   "[1, 4096]",
                                   argv[i]);
        } else if (strcmp(a, "--text-len") == 0) {
            if (parse_int(argv[++i], 1, 1 << 16, &text_len))
                return usage_error("dit: --text-len %s is not an integer in "
                                   "[1, 65536]",
                                   argv[i]);
        } else
            return usage_error("dit: unknown option %s", a);
    }
    if (!weights || !in_path || !out)
        return usage_error("dit needs --weights, --inputs and -o");

    st_file f, in;
    char err[512] = "";
    if (st_open(&f, weights, err, sizeof(err)) != 0)
        return die("%s", err);
    if (st_open(&in, in_path, err, sizeof(err)) != 0) {
        st_close(&f);
        return die("%s", err);
    }
    /* the names alone, or under the prefix of ComfyUI's checkpoints */
    const char *prefix =
        st_find(&f, "model.diffusion_model.patch_embedding.weight")
            ? "model.diffusion_model."
            : "";
    wan_dit_config cfg;
    wan_dit *m = NULL;
    const st_tensor *tx = NULL, *tt = NULL, *cs[2] = {NULL, NULL};
    int B = 1;
    int rc = dit_config(&cfg, &f, weights, prefix, heads, text_len);
    if (!rc)
        rc = dit_inputs(&in, in_path, &cfg, &tx, &tt, cs, &B);
    if (!rc && wan_dit_load(&m, &f, prefix, &cfg, err, sizeof(err)) != 0)
        rc = die("%s: %s", weights, err);
    if (!rc)
        rc = dit_run(m, &cfg, threads, tx, tt, cs, B, out);
    wan_dit_free(m);
    st_close(&in);
    st_close(&f);
    return rc;
}

/* ------------------------------------------------------------ vae */

/* The VAE in f: its config from the shapes, under no prefix or Comfy's
 * first_stage_model. (vae.h). */
static int vae_open(wan_vae **m, const st_file *f, const char *path)
{
    static const char *const prefixes[] = {"", "first_stage_model."};
    char err[512] = "", first[512] = "";
    for (size_t i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++) {
        wan_vae_config cfg;
        if (wan_vae_config_from_file(&cfg, f, prefixes[i], err,
                                     sizeof(err)) != 0) {
            if (i == 0)
                snprintf(first, sizeof(first), "%s", err);
            continue;
        }
        if (wan_vae_load(m, f, prefixes[i], &cfg, err, sizeof(err)) != 0)
            return die("%s: %s", path, err);
        return 0;
    }
    return die("%s: not a Wan VAE: %s", path, first);
}

/* Write, at the start of fp, the header of one tensor "video" of dtype
 * (F32 or U8) and shape (3, F, H, W); *data: where its bytes start. */
static int vae_header(FILE *fp, const char *dtype, int64_t F, int64_t H,
                      int64_t W, size_t es, long *data)
{
    char h[512];
    const uint64_t bytes = (uint64_t)3 * F * H * W * es;
    int n = snprintf(h, sizeof(h),
                     "{\"__metadata__\":{\"generator\":\"st2v-parts\"},"
                     "\"video\":{\"dtype\":\"%s\",\"shape\":[3,%" PRId64
                     ",%" PRId64 ",%" PRId64 "],\"data_offsets\":[0,%" PRIu64
                     "]}}",
                     dtype, F, H, W, bytes);
    while (n % 8)
        h[n++] = ' ';
    uint8_t len[8];
    for (int i = 0; i < 8; i++)
        len[i] = (uint8_t)((uint64_t)n >> (8 * i));
    *data = 8 + n;
    return fwrite(len, 1, 8, fp) == 8 && fwrite(h, 1, (size_t)n, fp) ==
                                             (size_t)n ? 0 : -1;
}

static int cmd_vae(int argc, char **argv)
{
    const char *weights = NULL, *lat_path = NULL, *out = NULL;
    long threads = sysconf(_SC_NPROCESSORS_ONLN);
    int raw = 0, u8 = 0;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--raw") == 0) {
            raw = 1;
            continue;
        }
        if (strcmp(a, "--u8") == 0) {
            u8 = 1;
            continue;
        }
        if (i + 1 >= argc)
            return usage_error("vae: %s needs a value or is unknown", a);
        if (strcmp(a, "--weights") == 0)
            weights = argv[++i];
        else if (strcmp(a, "--latent") == 0)
            lat_path = argv[++i];
        else if (strcmp(a, "-o") == 0)
            out = argv[++i];
        else if (strcmp(a, "-t") == 0 || strcmp(a, "--threads") == 0) {
            if (parse_int(argv[++i], 1, 256, &threads))
                return usage_error("vae: -t %s is not an integer in [1, 256]",
                                   argv[i]);
        } else
            return usage_error("vae: unknown option %s", a);
    }
    if (!weights || !lat_path || !out)
        return usage_error("vae needs --weights, --latent and -o");
    if (raw && u8)
        return usage_error("vae: --raw and --u8 exclude each other");
    if (threads < 1)
        threads = 1;

    st_file f, lf;
    char err[512] = "";
    if (st_open(&f, weights, err, sizeof(err)) != 0)
        return die("%s", err);
    wan_vae *m = NULL;
    if (vae_open(&m, &f, weights)) {
        st_close(&f);
        return 1;
    }
    st_close(&f); /* the decoder holds float32 copies */
    if (st_open(&lf, lat_path, err, sizeof(err)) != 0) {
        wan_vae_free(m);
        return die("%s", err);
    }
    const int Z = wan_vae_get_config(m)->z_dim;
    const st_tensor *lt = st_find(&lf, "latent");
    wan_vae_state *s = NULL;
    st2v_pool *pool = NULL;
    float *zt = NULL, *rgb = NULL;
    uint8_t *bytes = NULL;
    FILE *fp = NULL;
    int rc = 1;
    const int64_t *sh = lt ? lt->shape + (lt->ndim == 5) : NULL;
    if (!lt) {
        die("%s: no tensor latent", lat_path);
        goto done;
    }
    if (lt->dtype != ST_F32 || !(lt->ndim == 4 || (lt->ndim == 5 &&
                                                   lt->shape[0] == 1)) ||
        sh[0] != Z || sh[1] < 1 || sh[1] > 100000 || sh[2] < 1 ||
        sh[3] < 1) {
        char d[96];
        st_format_shape(d, sizeof(d), lt->shape, lt->ndim);
        die("%s: latent is %s %s, expected F32 [%d, T, Hl, Wl]", lat_path,
            st_dtype_name(lt->dtype), d, Z);
        goto done;
    }
    const int64_t T = sh[1], hl = sh[2], wl = sh[3], hw = hl * wl;
    const int64_t H = hl * WAN_VAE_SCALE, W = wl * WAN_VAE_SCALE;
    const int64_t F = 1 + (T - 1) * wan_vae_frames_per_latent(m, 0);
    if (hl > (1 << 12) || wl > (1 << 12) ||
        wan_vae_state_new(&s, m, (int)hl, (int)wl) != 0) {
        die("%s: cannot decode latents of %" PRId64 " x %" PRId64
            " (too large, or out of memory)",
            lat_path, hl, wl);
        goto done;
    }
    if (threads > 1 && st2v_pool_new(&pool, (int)threads) != 0) {
        die("cannot start %ld threads", threads);
        goto done;
    }
    const size_t es = u8 ? 1 : 4, fr = (size_t)(H * W); /* pixels a frame */
    zt = malloc((size_t)Z * hw * sizeof(float));
    rgb = malloc(3 * 16 * fr * sizeof(float));
    bytes = u8 ? malloc(3 * 16 * fr) : NULL;
    if (!zt || !rgb || (u8 && !bytes)) {
        die("out of memory");
        goto done;
    }
    long data = 0;
    if (!(fp = fopen(out, "wb")) ||
        vae_header(fp, u8 ? "U8" : "F32", F, H, W, es, &data) != 0) {
        die("cannot write %s: %s", out, strerror(errno));
        goto done;
    }
    /* frames leave as they are decoded: chunk t's frames of channel c go
     * to (c, f0 .. f0 + n) of the (3, F, H, W) tensor */
    for (int64_t t = 0, f0 = 0; t < T; t++) {
        for (int c = 0; c < Z; c++)
            memcpy(zt + c * hw, lt->data + ((c * T + t) * hw) * 4,
                   (size_t)hw * sizeof(float));
        int n = 0;
        int st = raw ? wan_vae_decode_frame_raw(s, pool, zt, rgb, &n)
                     : wan_vae_decode_frame(s, pool, zt, rgb, &n);
        if (st) {
            die("decoding latent frame %" PRId64 ": %s", t,
                st2v_strerror(st));
            goto done;
        }
        const void *src = rgb;
        if (u8) {
            wan_vae_to_u8(bytes, rgb, 3 * (size_t)n * fr);
            src = bytes;
        }
        for (int c = 0; c < 3; c++)
            if (fseek(fp, data + (long)(((c * F + f0) * (int64_t)fr) * es),
                      SEEK_SET) != 0 ||
                fwrite((const uint8_t *)src + (size_t)c * n * fr * es, es,
                       (size_t)n * fr, fp) != (size_t)n * fr) {
                die("cannot write %s: %s", out, strerror(errno));
                goto done;
            }
        f0 += n;
    }
    rc = 0;
done:
    if (fp && fclose(fp) != 0 && rc == 0)
        rc = die("cannot write %s: %s", out, strerror(errno));
    if (fp && rc)
        remove(out);
    free(zt);
    free(rgb);
    free(bytes);
    st2v_pool_free(pool);
    wan_vae_state_free(s);
    wan_vae_free(m);
    st_close(&lf);
    return rc;
}

/* ----------------------------------------------------------- main */

int main(int argc, char **argv)
{
    if (argc < 2)
        return usage_error("no command");
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            fputs(USAGE, stdout);
            return 0;
        }
    if (strcmp(argv[1], "tokenize") == 0)
        return cmd_tokenize(argc - 2, argv + 2);
    if (strcmp(argv[1], "umt5") == 0)
        return cmd_umt5(argc - 2, argv + 2);
    if (strcmp(argv[1], "vae") == 0)
        return cmd_vae(argc - 2, argv + 2);
    if (strcmp(argv[1], "dit") == 0)
        return cmd_dit(argc - 2, argv + 2);
    return usage_error("unknown command %s", argv[1]);
}
