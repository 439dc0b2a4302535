/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * spm_json.c - the umT5 tokenizer from Hugging Face's `tokenizer.json`
 * (spm_load_hf_json in spm.h), for a folder that has no spiece.model.
 *
 * tokenizer.json is what HF's converter makes of a SentencePiece unigram
 * model (transformers' SpmConverter / T5Converter): the same pieces and
 * scores, the same precompiled charsmap (base64), and the whitespace
 * handling spelled as a Replace(" {2,}") / Strip normaliser step and a
 * Metaspace("▁") pre-tokenizer. This file reads it with cJSON, checks every
 * field it uses, and writes the equivalent ModelProto for spm_load(), which
 * checks the rest (unknown piece, byte pieces, duplicates, the charsmap)
 * exactly as for spiece.model. The result is the same spm object, so
 * spm_encode gives the ids sentencepiece gives for the original model.
 *
 * Piece types come back from the JSON as the converter spelled them: the
 * model's unk_id is UNKNOWN; special added tokens are CONTROL; other added
 * tokens are USER_DEFINED; with byte_fallback, the pieces "<0xXX>" are
 * BYTE; everything else is NORMAL.
 *
 * Not read: the post-processor and decoder (EOS and padding are Wan's
 * business: spm_encode_wan), truncation and padding settings, BPE/WordPiece
 * models, and normalisers other than Precompiled, Replace of runs of
 * spaces, and Strip, which are refused by name.
 */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "st2v.h"
#include "wan/spm.h"

#define TJ "tokenizer.json: "

/* ------------------------------------------------- a protobuf writer */

typedef struct pbw {
    uint8_t *p;
    size_t n, cap;
    int oom;
} pbw;

static void w_raw(pbw *w, const void *src, size_t n)
{
    if (w->oom)
        return;
    if (w->n + n > w->cap) {
        size_t cap = w->cap ? w->cap : 256;
        while (cap < w->n + n)
            cap *= 2;
        uint8_t *p = realloc(w->p, cap);
        if (!p) {
            w->oom = 1;
            return;
        }
        w->p = p;
        w->cap = cap;
    }
    memcpy(w->p + w->n, src, n);
    w->n += n;
}

static void w_varint(pbw *w, uint64_t v)
{
    uint8_t b[10];
    size_t n = 0;
    do {
        b[n++] = (uint8_t)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
        v >>= 7;
    } while (v);
    w_raw(w, b, n);
}

static void w_bytes(pbw *w, int field, const void *s, size_t n)
{
    w_varint(w, (uint64_t)field << 3 | 2);
    w_varint(w, n);
    w_raw(w, s, n);
}

static void w_bool(pbw *w, int field, int v)
{
    w_varint(w, (uint64_t)field << 3);
    w_varint(w, v ? 1 : 0);
}

/* ----------------------------------------------------------- base64 */

static int b64_value(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    return c == '+' ? 62 : c == '/' ? 63 : -1;
}

/* Standard base64 with padding, strictly: *out malloc'ed. -1 if invalid. */
static int b64_decode(const char *s, uint8_t **out, size_t *out_n)
{
    size_t n = strlen(s);
    *out = NULL;
    *out_n = 0;
    if (n % 4)
        return -1;
    uint8_t *o = malloc(n / 4 * 3 + 1);
    if (!o)
        return -2;
    size_t k = 0;
    for (size_t i = 0; i < n; i += 4) {
        int v[4], pad = 0;
        for (int j = 0; j < 4; j++) {
            unsigned char c = (unsigned char)s[i + j];
            if (c == '=' && i + 4 == n && j >= 2) {
                v[j] = 0;
                pad++;
            } else if (pad || (v[j] = b64_value(c)) < 0) {
                free(o);
                return -1;
            }
        }
        uint32_t x = (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 |
                     (uint32_t)v[2] << 6 | (uint32_t)v[3];
        o[k++] = (uint8_t)(x >> 16);
        if (pad < 2)
            o[k++] = (uint8_t)(x >> 8);
        if (pad < 1)
            o[k++] = (uint8_t)x;
    }
    *out = o;
    *out_n = k;
    return 0;
}

/* ------------------------------------------------------------ reader */

/* A JSON integer in [lo, hi] (a number without fraction), or -1. */
static int json_int(const cJSON *j, double lo, double hi, int *out)
{
    if (!cJSON_IsNumber(j))
        return -1;
    double v = j->valuedouble;
    if (!(v >= lo && v <= hi) || v != floor(v))
        return -1;
    *out = (int)v;
    return 0;
}

static const char *type_of(const cJSON *obj)
{
    return cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(obj, "type"));
}

/* What the normaliser and pre-tokenizer say, in ModelProto terms. */
typedef struct tj_norm {
    uint8_t *charsmap;
    size_t charsmap_n;
    int remove_extra_ws, add_dummy_prefix, have_metaspace;
} tj_norm;

static int read_one_normalizer(tj_norm *nm, const cJSON *n, char *err,
                               size_t errsz)
{
    const char *t = type_of(n);
    if (!t)
        return st2v_fail(err, errsz, ST2V_ERR_FORMAT,
                       TJ "a normalizer without a type");
    if (strcmp(t, "Precompiled") == 0) {
        const cJSON *c =
            cJSON_GetObjectItemCaseSensitive(n, "precompiled_charsmap");
        if (cJSON_IsNull(c))
            return 0;
        if (!cJSON_IsString(c))
            return st2v_fail(err, errsz, ST2V_ERR_FORMAT,
                           TJ "precompiled_charsmap is not a string");
        if (nm->charsmap)
            return st2v_fail(err, errsz, ST2V_ERR_UNSUPPORTED,
                           TJ "two Precompiled normalizers");
        int rc = b64_decode(c->valuestring, &nm->charsmap, &nm->charsmap_n);
        if (rc == -2)
            return st2v_fail(err, errsz, ST2V_ERR_NOMEM, "out of memory");
        if (rc)
            return st2v_fail(err, errsz, ST2V_ERR_FORMAT,
                           TJ "precompiled_charsmap is not base64");
        return 0;
    }
    if (strcmp(t, "Replace") == 0) {
        const cJSON *pat = cJSON_GetObjectItemCaseSensitive(n, "pattern");
        const char *re = cJSON_GetStringValue(
            cJSON_GetObjectItemCaseSensitive(pat, "Regex"));
        const char *to = cJSON_GetStringValue(
            cJSON_GetObjectItemCaseSensitive(n, "content"));
        /* HF's spelling of remove_extra_whitespaces: runs of spaces to one
         * space (older converters) or to "▁" (newer ones) */
        if (re && to && strcmp(re, " {2,}") == 0 &&
            (strcmp(to, " ") == 0 || strcmp(to, "\xe2\x96\x81") == 0)) {
            nm->remove_extra_ws = 1;
            return 0;
        }
        return st2v_fail(err, errsz, ST2V_ERR_UNSUPPORTED,
                       TJ "a Replace normalizer other than \" {2,}\" -> \" \" "
                          "is not supported");
    }
    if (strcmp(t, "Strip") == 0) {
        nm->remove_extra_ws = 1; /* the trailing-space half of the same */
        return 0;
    }
    return st2v_fail(err, errsz, ST2V_ERR_UNSUPPORTED,
                   TJ "normalizer %.40s is not supported", t);
}

static int read_normalizer(tj_norm *nm, const cJSON *n, char *err,
                           size_t errsz)
{
    if (!n || cJSON_IsNull(n))
        return 0;
    if (!cJSON_IsObject(n))
        return st2v_fail(err, errsz, ST2V_ERR_FORMAT,
                       TJ "normalizer is not an object");
    const char *t = type_of(n);
    if (t && strcmp(t, "Sequence") == 0) {
        const cJSON *list = cJSON_GetObjectItemCaseSensitive(n, "normalizers");
        if (!cJSON_IsArray(list))
            return st2v_fail(err, errsz, ST2V_ERR_FORMAT,
                           TJ "a Sequence normalizer without normalizers");
        for (const cJSON *c = list->child; c; c = c->next) {
            if (!cJSON_IsObject(c))
                return st2v_fail(err, errsz, ST2V_ERR_FORMAT,
                               TJ "a normalizer is not an object");
            int rc = read_one_normalizer(nm, c, err, errsz);
            if (rc)
                return rc;
        }
        return 0;
    }
    return read_one_normalizer(nm, n, err, errsz);
}

static int read_metaspace(tj_norm *nm, const cJSON *p, char *err,
                          size_t errsz)
{
    const char *rep = cJSON_GetStringValue(
        cJSON_GetObjectItemCaseSensitive(p, "replacement"));
    if (!rep || strcmp(rep, "\xe2\x96\x81") != 0)
        return st2v_fail(err, errsz, ST2V_ERR_UNSUPPORTED,
                       TJ "Metaspace replacement is not \"\xe2\x96\x81\"");
    const cJSON *aps = cJSON_GetObjectItemCaseSensitive(p, "add_prefix_space");
    const cJSON *sch = cJSON_GetObjectItemCaseSensitive(p, "prepend_scheme");
    int add = 1;
    if (cJSON_IsString(sch)) {
        if (strcmp(sch->valuestring, "always") == 0 ||
            strcmp(sch->valuestring, "first") == 0)
            add = 1;
        else if (strcmp(sch->valuestring, "never") == 0)
            add = 0;
        else
            return st2v_fail(err, errsz, ST2V_ERR_FORMAT,
                           TJ "Metaspace prepend_scheme %.20s is unknown",
                           sch->valuestring);
    } else if (sch && !cJSON_IsNull(sch)) {
        return st2v_fail(err, errsz, ST2V_ERR_FORMAT,
                       TJ "Metaspace prepend_scheme is not a string");
    } else if (cJSON_IsBool(aps)) {
        add = cJSON_IsTrue(aps);
    } else if (aps && !cJSON_IsNull(aps)) {
        return st2v_fail(err, errsz, ST2V_ERR_FORMAT,
                       TJ "Metaspace add_prefix_space is not a boolean");
    }
    nm->add_dummy_prefix = add;
    nm->have_metaspace++;
    return 0;
}

static int read_pre_tokenizer(tj_norm *nm, const cJSON *p, char *err,
                              size_t errsz)
{
    const char *t = cJSON_IsObject(p) ? type_of(p) : NULL;
    if (!t)
        return st2v_fail(err, errsz, ST2V_ERR_UNSUPPORTED,
                       TJ "no Metaspace pre_tokenizer (not a SentencePiece "
                          "tokenizer)");
    if (strcmp(t, "Metaspace") == 0)
        return read_metaspace(nm, p, err, errsz);
    if (strcmp(t, "Sequence") == 0) {
        const cJSON *list =
            cJSON_GetObjectItemCaseSensitive(p, "pretokenizers");
        for (const cJSON *c = cJSON_IsArray(list) ? list->child : NULL; c;
             c = c->next) {
            const char *ct = cJSON_IsObject(c) ? type_of(c) : NULL;
            int rc = 0;
            if (ct && strcmp(ct, "Metaspace") == 0)
                rc = read_metaspace(nm, c, err, errsz);
            else if (!ct || strcmp(ct, "WhitespaceSplit") != 0)
                rc = st2v_fail(err, errsz, ST2V_ERR_UNSUPPORTED,
                             TJ "pre_tokenizer %.40s is not supported",
                             ct ? ct : "(no type)");
            if (rc)
                return rc;
        }
        if (nm->have_metaspace == 1)
            return 0;
    }
    return st2v_fail(err, errsz, ST2V_ERR_UNSUPPORTED,
                   TJ "pre_tokenizer %.40s is not one Metaspace", t);
}

/* Whether piece s is "<0xXX>" with upper-case hex digits. */
static int is_byte_piece(const char *s)
{
    if (strlen(s) != 6 || strncmp(s, "<0x", 3) != 0 || s[5] != '>')
        return 0;
    for (int i = 3; i < 5; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'A' && s[i] <= 'F')))
            return 0;
    return 1;
}

int spm_load_hf_json(spm **out, const void *buf, size_t n, char *err,
                     size_t errsz)
{
    if (!out || (!buf && n))
        return st2v_fail(err, errsz, ST2V_ERR_INVALID_ARG,
                       "spm_load_hf_json: no buffer");
    *out = NULL;
    cJSON *root = cJSON_ParseWithLength(buf, n);
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return st2v_fail(err, errsz, ST2V_ERR_FORMAT,
                       TJ "not a JSON object");
    }
    int rc = 0, unk = -1, n_vocab = 0;
    uint8_t *type = NULL;
    tj_norm nm = {0};
    pbw w = {0}, pw = {0};
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(root, "model");
    const char *mt = cJSON_IsObject(model) ? type_of(model) : NULL;
    const cJSON *vocab = cJSON_GetObjectItemCaseSensitive(model, "vocab");
    const cJSON *bf = cJSON_GetObjectItemCaseSensitive(model, "byte_fallback");
    const cJSON *added = cJSON_GetObjectItemCaseSensitive(root, "added_tokens");
    if (!mt) {
        rc = st2v_fail(err, errsz, ST2V_ERR_FORMAT, TJ "no model with a type");
        goto done;
    }
    if (strcmp(mt, "Unigram") != 0) {
        rc = st2v_fail(err, errsz, ST2V_ERR_UNSUPPORTED,
                     TJ "model type %.20s, only Unigram is supported", mt);
        goto done;
    }
    if (!cJSON_IsArray(vocab) || (n_vocab = cJSON_GetArraySize(vocab)) < 1) {
        rc = st2v_fail(err, errsz, ST2V_ERR_FORMAT,
                     TJ "model.vocab is not a non-empty array");
        goto done;
    }
    if (json_int(cJSON_GetObjectItemCaseSensitive(model, "unk_id"), 0,
                 n_vocab - 1, &unk)) {
        rc = st2v_fail(err, errsz, ST2V_ERR_FORMAT,
                     TJ "model.unk_id is not a piece id (0 to %d)",
                     n_vocab - 1);
        goto done;
    }
    if (bf && !cJSON_IsBool(bf) && !cJSON_IsNull(bf)) {
        rc = st2v_fail(err, errsz, ST2V_ERR_FORMAT,
                     TJ "model.byte_fallback is not a boolean");
        goto done;
    }
    const int byte_fallback = cJSON_IsTrue(bf);

    /* types: NORMAL unless the added tokens, unk_id or bytes say */
    type = malloc((size_t)n_vocab);
    if (!type) {
        rc = st2v_fail(err, errsz, ST2V_ERR_NOMEM, "out of memory");
        goto done;
    }
    memset(type, SPM_NORMAL, (size_t)n_vocab);
    if (added && !cJSON_IsArray(added) && !cJSON_IsNull(added)) {
        rc = st2v_fail(err, errsz, ST2V_ERR_FORMAT,
                     TJ "added_tokens is not an array");
        goto done;
    }
    int k = 0;
    for (const cJSON *a = cJSON_IsArray(added) ? added->child : NULL; a;
         a = a->next, k++) {
        int id;
        const cJSON *content = cJSON_GetObjectItemCaseSensitive(a, "content");
        const cJSON *special = cJSON_GetObjectItemCaseSensitive(a, "special");
        if (json_int(cJSON_GetObjectItemCaseSensitive(a, "id"), 0,
                     n_vocab - 1, &id) ||
            !cJSON_IsString(content) || !cJSON_IsBool(special)) {
            rc = st2v_fail(err, errsz, ST2V_ERR_FORMAT,
                         TJ "added token %d lacks an id in the vocabulary, "
                            "a content or a special flag",
                         k);
            goto done;
        }
        const cJSON *entry = cJSON_GetArrayItem(vocab, id);
        const char *piece = cJSON_GetStringValue(cJSON_GetArrayItem(entry, 0));
        if (!piece || strcmp(piece, content->valuestring) != 0) {
            rc = st2v_fail(err, errsz, ST2V_ERR_FORMAT,
                         TJ "added token %d is not vocabulary piece %d", k,
                         id);
            goto done;
        }
        type[id] = cJSON_IsTrue(special) ? SPM_CONTROL : SPM_USER_DEFINED;
    }
    type[unk] = SPM_UNKNOWN;

    /* the pieces, in id order */
    int i = 0;
    for (const cJSON *e = vocab->child; e; e = e->next, i++) {
        const cJSON *p = cJSON_GetArrayItem(e, 0), *s = cJSON_GetArrayItem(e, 1);
        if (!cJSON_IsArray(e) || cJSON_GetArraySize(e) != 2 ||
            !cJSON_IsString(p) || !cJSON_IsNumber(s) ||
            !isfinite(s->valuedouble) || fabs(s->valuedouble) > 3.4e38) {
            rc = st2v_fail(err, errsz, ST2V_ERR_FORMAT,
                         TJ "model.vocab[%d] is not [piece, score]", i);
            goto done;
        }
        /* cJSON stops a string at an escaped NUL: a piece with one is cut
         * short here and then refused by spm_load as a duplicate or kept
         * as a shorter piece; neither reads out of bounds */
        if (byte_fallback && type[i] == SPM_NORMAL &&
            is_byte_piece(p->valuestring))
            type[i] = SPM_BYTE;
        const float score = (float)s->valuedouble;
        uint32_t bits;
        memcpy(&bits, &score, sizeof(bits));
        uint8_t f32[4] = {(uint8_t)bits, (uint8_t)(bits >> 8),
                          (uint8_t)(bits >> 16), (uint8_t)(bits >> 24)};
        pw.n = 0;
        w_bytes(&pw, 1, p->valuestring, strlen(p->valuestring));
        w_varint(&pw, 2 << 3 | 5);
        w_raw(&pw, f32, 4);
        w_varint(&pw, 3 << 3);
        w_varint(&pw, type[i]);
        if (!pw.oom)
            w_bytes(&w, 1, pw.p, pw.n);
    }

    rc = read_normalizer(
        &nm, cJSON_GetObjectItemCaseSensitive(root, "normalizer"), err, errsz);
    if (!rc)
        rc = read_pre_tokenizer(
            &nm, cJSON_GetObjectItemCaseSensitive(root, "pre_tokenizer"), err,
            errsz);
    if (rc)
        goto done;

    /* trainer_spec: unigram, byte_fallback */
    pw.n = 0;
    w_varint(&pw, 3 << 3);
    w_varint(&pw, 1);
    w_bool(&pw, 35, byte_fallback);
    if (!pw.oom)
        w_bytes(&w, 2, pw.p, pw.n);
    /* normalizer_spec */
    pw.n = 0;
    if (nm.charsmap_n)
        w_bytes(&pw, 2, nm.charsmap, nm.charsmap_n);
    w_bool(&pw, 3, nm.add_dummy_prefix);
    w_bool(&pw, 4, nm.remove_extra_ws);
    w_bool(&pw, 5, 1);
    if (!pw.oom)
        w_bytes(&w, 3, pw.p, pw.n);
    if (w.oom || pw.oom) {
        rc = st2v_fail(err, errsz, ST2V_ERR_NOMEM, "out of memory");
        goto done;
    }
    char why[256] = "";
    rc = spm_load(out, w.p, w.n, why, sizeof(why));
    if (rc) {
        /* spm_load names the file it thinks it reads */
        const char *msg = strncmp(why, "spiece.model: ", 14) == 0 ? why + 14
                                                                   : why;
        st2v_fail(err, errsz, rc, TJ "%s", msg);
    }
done:
    free(type);
    free(nm.charsmap);
    free(w.p);
    free(pw.p);
    cJSON_Delete(root);
    return rc;
}
