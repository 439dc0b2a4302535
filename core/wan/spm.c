/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * spm.c - the SentencePiece unigram tokenizer of umT5 (see spm.h): a
 * protobuf reader for spiece.model, sentencepiece's normaliser with the
 * precompiled charsmap, the Viterbi segmentation, and Wan's prompt
 * cleaning, EOS and padding.
 *
 * Written from sentencepiece 0.1.97's behaviour (Debian bookworm's), which
 * the golden tests (tests/test_spm.c, train/wan/spm_fixtures.py) compare id
 * for id. The places where sentencepiece would read out of bounds on a
 * malformed model are checked here and treated as "no match"; nothing else
 * differs. Not a trainer, not a decoder.
 *
 * Piece lookup needs no trie of its own: the pieces are kept sorted by
 * their bytes, and the pieces that are prefixes of a text are found by
 * narrowing one index range a byte at a time (spm_keys, spm_walk).
 */
#include "wan/spm.h"

#include <float.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "safetensors.h"
#include "common.h"
#include "st2v.h"

/* A set of pieces sorted by their bytes (memcmp order, shorter first). */
typedef struct spm_keys {
    int32_t *ids; /* (n) piece ids */
    int n;
} spm_keys;

struct spm {
    int n_pieces;
    char *text;        /* every piece's bytes, back to back */
    uint32_t *off;     /* (n_pieces + 1) piece i is text[off[i] .. off[i+1]) */
    float *score;      /* (n_pieces) */
    uint8_t *type;     /* (n_pieces) spm_piece_type */
    spm_keys normal;   /* NORMAL, USER_DEFINED, UNUSED: what Viterbi matches */
    spm_keys user;     /* USER_DEFINED: kept whole by the normaliser */
    spm_keys reserved; /* UNKNOWN, CONTROL, BYTE */
    int unk_id, eos_id, pad_id;
    int32_t byte_id[256]; /* id of "<0xXX>" under byte_fallback, else -1 */
    float min_score, max_score; /* over NORMAL pieces, as sentencepiece */
    /* trainer_spec */
    int byte_fallback, ws_suffix;
    /* normalizer_spec */
    int add_dummy_prefix, remove_extra_ws, escape_ws;
    uint32_t *units; /* (n_units) darts-clone double array of the charsmap */
    size_t n_units;
    char *normstr; /* (normstr_n) its NUL-separated replacement strings */
    size_t normstr_n;
};

/* A growable byte buffer. */
typedef struct sbuf {
    char *p;
    size_t n, cap;
    int oom;
} sbuf;

static void sb_put(sbuf *b, const void *src, size_t n)
{
    if (b->oom)
        return;
    if (n > SIZE_MAX / 2 - b->n - 1) {
        b->oom = 1;
        return;
    }
    if (b->n + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 64;
        while (cap < b->n + n + 1)
            cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p) {
            b->oom = 1;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->n, src, n);
    b->n += n;
    b->p[b->n] = '\0';
}

/* ------------------------------------------------------------ UTF-8 */

/* Length of the UTF-8 sequence at s[0..n), 1..4, or 0 if it is malformed
 * (sentencepiece's string_util::DecodeUTF8: no overlongs, no surrogates,
 * nothing above U+10FFFF). *cp receives the code point. */
static size_t utf8_decode(const unsigned char *s, size_t n, uint32_t *cp)
{
    if (n == 0)
        return 0;
    unsigned c = s[0];
    if (c < 0x80) {
        *cp = c;
        return 1;
    }
    size_t len = (c & 0xE0) == 0xC0   ? 2
                 : (c & 0xF0) == 0xE0 ? 3
                 : (c & 0xF8) == 0xF0 ? 4
                                      : 0;
    if (len == 0 || n < len)
        return 0;
    uint32_t v = c & (0x7F >> len);
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        v = v << 6 | (s[i] & 0x3F);
    }
    static const uint32_t min[5] = {0, 0, 0x80, 0x800, 0x10000};
    if (v < min[len] || (v >= 0xD800 && v < 0xE000) || v > 0x10FFFF)
        return 0;
    *cp = v;
    return len;
}

static size_t utf8_encode(uint32_t cp, char *out)
{
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xC0 | cp >> 6);
        out[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp > 0x10FFFF || (cp >= 0xD800 && cp < 0xE000))
        cp = 0xFFFD;
    if (cp < 0x10000) {
        out[0] = (char)(0xE0 | cp >> 12);
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | cp >> 18);
    out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    out[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* sentencepiece's OneCharLen: the length a lead byte announces, valid or
 * not (a stray continuation byte counts 1). */
static size_t one_char_len(unsigned char c)
{
    return "\1\1\1\1\1\1\1\1\1\1\1\1\2\2\3\4"[c >> 4];
}

/* ------------------------------------------------------------ protobuf */

/* A read cursor over one message's bytes. */
typedef struct pb {
    const uint8_t *p, *end;
} pb;

/* One field: its number, wire type, and value (varint / fixed) or bytes. */
typedef struct pb_field {
    uint32_t num;
    int wire;
    uint64_t v;
    const uint8_t *data;
    size_t len;
} pb_field;

static int pb_varint(pb *r, uint64_t *out)
{
    uint64_t v = 0;
    for (int i = 0; i < 10; i++) {
        if (r->p >= r->end)
            return -1;
        uint8_t b = *r->p++;
        if (i == 9 && b > 1)
            return -1; /* more than 64 bits */
        v |= (uint64_t)(b & 0x7F) << (7 * i);
        if (!(b & 0x80)) {
            *out = v;
            return 0;
        }
    }
    return -1;
}

/* Next field of r into f: 1, 0 at the end, -1 when malformed (truncated,
 * a length past the end, field 0, groups, or wire types 6 and 7). */
static int pb_next(pb *r, pb_field *f)
{
    if (r->p >= r->end)
        return 0;
    uint64_t tag;
    if (pb_varint(r, &tag) != 0 || tag >> 32)
        return -1;
    f->num = (uint32_t)(tag >> 3);
    f->wire = (int)(tag & 7);
    f->v = 0;
    f->data = NULL;
    f->len = 0;
    if (f->num == 0)
        return -1;
    switch (f->wire) {
    case 0:
        return pb_varint(r, &f->v) == 0 ? 1 : -1;
    case 1:
    case 5: {
        size_t k = f->wire == 1 ? 8 : 4;
        if ((size_t)(r->end - r->p) < k)
            return -1;
        for (size_t i = 0; i < k; i++)
            f->v |= (uint64_t)r->p[i] << (8 * i);
        r->p += k;
        return 1;
    }
    case 2: {
        uint64_t len;
        if (pb_varint(r, &len) != 0 || len > (uint64_t)(r->end - r->p))
            return -1;
        f->data = r->p;
        f->len = (size_t)len;
        r->p += len;
        return 1;
    }
    default:
        return -1;
    }
}

static float pb_float(uint64_t v)
{
    uint32_t u = (uint32_t)v;
    float x;
    memcpy(&x, &u, sizeof(x));
    return x;
}

/* ------------------------------------------------------------ sorted keys */

static const unsigned char *piece_bytes(const spm *m, int32_t id, size_t *len)
{
    *len = m->off[id + 1] - m->off[id];
    return (const unsigned char *)m->text + m->off[id];
}

/* memcmp order, a prefix before its extensions */
static int bytes_cmp(const unsigned char *a, size_t an, const unsigned char *b,
                     size_t bn)
{
    int c = memcmp(a, b, an < bn ? an : bn);
    return c ? c : (an > bn) - (an < bn);
}

typedef struct key_sort {
    const unsigned char *p;
    size_t len;
    int32_t id;
} key_sort;

static int key_sort_cmp(const void *a, const void *b)
{
    const key_sort *x = a, *y = b;
    int c = bytes_cmp(x->p, x->len, y->p, y->len);
    return c ? c : (x->id > y->id) - (x->id < y->id);
}

/* Fill k with the pieces whose type bit is in `types` (1 << type), sorted.
 * Returns 0, -1 on allocation failure, or 1 + the id of a piece that
 * appears twice. */
static int keys_build(const spm *m, spm_keys *k, unsigned types)
{
    int n = 0;
    for (int i = 0; i < m->n_pieces; i++)
        n += (types >> m->type[i]) & 1;
    k->n = n;
    k->ids = malloc(sizeof(int32_t) * (size_t)(n ? n : 1));
    key_sort *tmp = malloc(sizeof(key_sort) * (size_t)(n ? n : 1));
    if (!k->ids || !tmp) {
        free(tmp);
        return -1;
    }
    n = 0;
    for (int i = 0; i < m->n_pieces; i++)
        if ((types >> m->type[i]) & 1) {
            tmp[n].p = piece_bytes(m, i, &tmp[n].len);
            tmp[n].id = i;
            n++;
        }
    qsort(tmp, (size_t)n, sizeof(key_sort), key_sort_cmp);
    int dup = 0;
    for (int i = 0; i < n; i++) {
        k->ids[i] = tmp[i].id;
        if (i && !dup &&
            bytes_cmp(tmp[i - 1].p, tmp[i - 1].len, tmp[i].p, tmp[i].len) == 0)
            dup = 1 + tmp[i].id;
    }
    free(tmp);
    return dup;
}

static int32_t keys_find(const spm *m, const spm_keys *k, const void *p,
                         size_t len)
{
    int lo = 0, hi = k->n;
    while (lo < hi) {
        int mid = lo + (hi - lo) / 2;
        size_t ml;
        const unsigned char *mp = piece_bytes(m, k->ids[mid], &ml);
        int c = bytes_cmp(mp, ml, p, len);
        if (c == 0)
            return k->ids[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -1;
}

/* A walk down the sorted keys along a text: [lo, hi) are the keys that
 * start with the depth bytes read so far. */
typedef struct spm_walk {
    int lo, hi;
    size_t depth;
} spm_walk;

static void walk_start(const spm_keys *k, spm_walk *w)
{
    w->lo = 0;
    w->hi = k->n;
    w->depth = 0;
}

/* The byte of key i at w->depth, or -1 when the key is that short. */
static int walk_byte(const spm *m, const spm_keys *k, int i, size_t depth)
{
    size_t len;
    const unsigned char *p = piece_bytes(m, k->ids[i], &len);
    return len > depth ? p[depth] : -1;
}

/* Read one more byte c: -2 when no key continues (stop), else the id of
 * the key that ends here, or -1. */
static int32_t walk_step(const spm *m, const spm_keys *k, spm_walk *w,
                         unsigned char c)
{
    int lo = w->lo, hi = w->hi;
    while (lo < hi) { /* first key whose byte is >= c */
        int mid = lo + (hi - lo) / 2;
        if (walk_byte(m, k, mid, w->depth) < (int)c)
            lo = mid + 1;
        else
            hi = mid;
    }
    int first = lo;
    hi = w->hi;
    while (lo < hi) { /* first key whose byte is > c */
        int mid = lo + (hi - lo) / 2;
        if (walk_byte(m, k, mid, w->depth) <= (int)c)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (first == lo)
        return -2;
    w->lo = first;
    w->hi = lo;
    w->depth++;
    size_t len;
    piece_bytes(m, k->ids[first], &len);
    return len == w->depth ? k->ids[first] : -1;
}

/* ------------------------------------------------------------ loading */

/* "<0xXX>" with upper-case hex, as sentencepiece's PieceToByte; or -1. */
static int piece_to_byte(const unsigned char *p, size_t len)
{
    static const char hex[] = "0123456789ABCDEF";
    if (len != 6 || memcmp(p, "<0x", 3) != 0 || p[5] != '>')
        return -1;
    const char *hi = p[3] ? strchr(hex, p[3]) : NULL;
    const char *lo = p[4] ? strchr(hex, p[4]) : NULL;
    return hi && lo ? (int)((hi - hex) * 16 + (lo - hex)) : -1;
}

/* What the loader reads of the ModelProto before building the spm. */
typedef struct spm_proto {
    int n_pieces;
    size_t text_n;
    int model_type, byte_fallback, ws_suffix;
    const uint8_t *eos_piece, *pad_piece; /* NULL: the defaults */
    size_t eos_len, pad_len;
    const uint8_t *charsmap;
    size_t charsmap_n;
    int add_dummy_prefix, remove_extra_ws, escape_ws;
} spm_proto;

/* The fields of TrainerSpec the tokenizer uses (merged, last one wins). */
static int read_trainer_spec(spm_proto *pr, const uint8_t *p, size_t n)
{
    pb r = {p, p + n};
    pb_field f;
    int rc;
    while ((rc = pb_next(&r, &f)) > 0) {
        /* an enum is the varint's low 32 bits; an unknown value is skipped */
        if (f.wire == 0 && f.num == 3 && (uint32_t)f.v >= 1 &&
            (uint32_t)f.v <= 4)
            pr->model_type = (int)(uint32_t)f.v;
        else if (f.wire == 0 && f.num == 24)
            pr->ws_suffix = f.v != 0;
        else if (f.wire == 0 && f.num == 35)
            pr->byte_fallback = f.v != 0;
        else if (f.wire == 2 && f.num == 47)
            pr->eos_piece = f.data, pr->eos_len = f.len;
        else if (f.wire == 2 && f.num == 48)
            pr->pad_piece = f.data, pr->pad_len = f.len;
    }
    return rc;
}

static int read_normalizer_spec(spm_proto *pr, const uint8_t *p, size_t n)
{
    pb r = {p, p + n};
    pb_field f;
    int rc;
    while ((rc = pb_next(&r, &f)) > 0) {
        if (f.wire == 2 && f.num == 2)
            pr->charsmap = f.data, pr->charsmap_n = f.len;
        else if (f.wire == 0 && f.num == 3)
            pr->add_dummy_prefix = f.v != 0;
        else if (f.wire == 0 && f.num == 4)
            pr->remove_extra_ws = f.v != 0;
        else if (f.wire == 0 && f.num == 5)
            pr->escape_ws = f.v != 0;
    }
    return rc;
}

/* One ModelProto.SentencePiece: its bytes, score and type. */
static int read_piece(const uint8_t *p, size_t n, const uint8_t **s,
                      size_t *len, float *score, int *type)
{
    pb r = {p, p + n};
    pb_field f;
    int rc;
    *s = NULL;
    *len = 0;
    *score = 0.0f;
    *type = SPM_NORMAL;
    while ((rc = pb_next(&r, &f)) > 0) {
        if (f.wire == 2 && f.num == 1)
            *s = f.data, *len = f.len;
        else if (f.wire == 5 && f.num == 2)
            *score = pb_float(f.v);
        else if (f.wire == 0 && f.num == 3 && (uint32_t)f.v >= 1 &&
                 (uint32_t)f.v <= 6)
            *type = (int)(uint32_t)f.v;
    }
    return rc;
}

/* Split the charsmap blob: <uint32 LE trie size><double array><strings>. */
static int load_charsmap(spm *m, const uint8_t *p, size_t n, char *err,
                         size_t errsz)
{
    if (n == 0)
        return 0; /* identity normalisation */
    if (n <= 4)
        return st2v_fail(err, errsz, ST2V_ERR_FORMAT,
                    "spiece.model: precompiled_charsmap of %zu bytes is broken",
                    n);
    uint32_t trie_n = (uint32_t)p[0] | (uint32_t)p[1] << 8 |
                      (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
    if (trie_n >= n || trie_n > n - 4)
        return st2v_fail(err, errsz, ST2V_ERR_FORMAT,
                    "spiece.model: precompiled_charsmap's trie (%u bytes) "
                    "exceeds its blob (%zu bytes)",
                    trie_n, n);
    m->n_units = trie_n / 4;
    m->units = malloc(sizeof(uint32_t) * (m->n_units ? m->n_units : 1));
    m->normstr_n = n - 4 - trie_n;
    m->normstr = malloc(m->normstr_n + 1);
    if (!m->units || !m->normstr)
        return st2v_fail(err, errsz, ST2V_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < m->n_units; i++) {
        const uint8_t *u = p + 4 + 4 * i;
        m->units[i] = (uint32_t)u[0] | (uint32_t)u[1] << 8 |
                      (uint32_t)u[2] << 16 | (uint32_t)u[3] << 24;
    }
    memcpy(m->normstr, p + 4 + trie_n, m->normstr_n);
    m->normstr[m->normstr_n] = '\0';
    return 0;
}

int spm_load(spm **out, const void *buf, size_t n, char *err, size_t errsz)
{
    if (!out || (!buf && n))
        return st2v_fail(err, errsz, ST2V_ERR_INVALID_ARG, "spm_load: no buffer");
    *out = NULL;
    if (n == 0)
        return st2v_fail(err, errsz, ST2V_ERR_FORMAT, "spiece.model: empty file");
    if (n > UINT32_MAX)
        return st2v_fail(err, errsz, ST2V_ERR_FORMAT,
                    "spiece.model: %zu bytes is too large", n);

    /* pass 1: count pieces and their bytes, read the specs */
    spm_proto pr = {0};
    pr.model_type = 1;
    pr.add_dummy_prefix = pr.remove_extra_ws = pr.escape_ws = 1;
    pb r = {buf, (const uint8_t *)buf + n};
    pb_field f;
    int rc;
    while ((rc = pb_next(&r, &f)) > 0) {
        if (f.num == 1 && f.wire == 2) {
            const uint8_t *s;
            size_t len;
            float score;
            int type;
            if (read_piece(f.data, f.len, &s, &len, &score, &type) < 0)
                return st2v_fail(err, errsz, ST2V_ERR_FORMAT,
                            "spiece.model: piece %d is malformed", pr.n_pieces);
            if (pr.n_pieces == INT32_MAX - 1)
                return st2v_fail(err, errsz, ST2V_ERR_FORMAT,
                            "spiece.model: too many pieces");
            pr.n_pieces++;
            pr.text_n += len;
        } else if (f.num == 2 && f.wire == 2) {
            if (read_trainer_spec(&pr, f.data, f.len) < 0)
                return st2v_fail(err, errsz, ST2V_ERR_FORMAT,
                            "spiece.model: trainer_spec is malformed");
        } else if (f.num == 3 && f.wire == 2) {
            if (read_normalizer_spec(&pr, f.data, f.len) < 0)
                return st2v_fail(err, errsz, ST2V_ERR_FORMAT,
                            "spiece.model: normalizer_spec is malformed");
        }
    }
    if (rc < 0)
        return st2v_fail(err, errsz, ST2V_ERR_FORMAT,
                    "spiece.model: not a protobuf ModelProto (malformed at "
                    "byte %zu of %zu)",
                    (size_t)(r.p - (const uint8_t *)buf), n);
    if (pr.model_type != 1)
        return st2v_fail(err, errsz, ST2V_ERR_UNSUPPORTED,
                    "spiece.model: model type %s, only unigram is supported",
                    pr.model_type == 2   ? "BPE"
                    : pr.model_type == 3 ? "WORD"
                                         : "CHAR");
    if (pr.n_pieces == 0)
        return st2v_fail(err, errsz, ST2V_ERR_FORMAT, "spiece.model: no pieces");

    spm *m = calloc(1, sizeof(*m));
    if (!m)
        return st2v_fail(err, errsz, ST2V_ERR_NOMEM, "out of memory");
    m->n_pieces = pr.n_pieces;
    m->byte_fallback = pr.byte_fallback;
    m->ws_suffix = pr.ws_suffix;
    m->add_dummy_prefix = pr.add_dummy_prefix;
    m->remove_extra_ws = pr.remove_extra_ws;
    m->escape_ws = pr.escape_ws;
    m->text = malloc(pr.text_n ? pr.text_n : 1);
    m->off = malloc(sizeof(uint32_t) * ((size_t)pr.n_pieces + 1));
    m->score = malloc(sizeof(float) * (size_t)pr.n_pieces);
    m->type = malloc((size_t)pr.n_pieces);
    if (!m->text || !m->off || !m->score || !m->type) {
        spm_free(m);
        return st2v_fail(err, errsz, ST2V_ERR_NOMEM, "out of memory");
    }

    /* pass 2: copy the pieces (the buffer parsed cleanly once) */
    r.p = buf;
    int i = 0;
    size_t at = 0;
    int status = 0;
    while (pb_next(&r, &f) > 0) {
        if (f.num != 1 || f.wire != 2)
            continue;
        const uint8_t *s;
        size_t len;
        int type;
        read_piece(f.data, f.len, &s, &len, &m->score[i], &type);
        m->type[i] = (uint8_t)type;
        m->off[i] = (uint32_t)at;
        if (len)
            memcpy(m->text + at, s, len);
        at += len;
        if (len == 0 && !status)
            status = st2v_fail(err, errsz, ST2V_ERR_FORMAT,
                          "spiece.model: piece %d is empty", i);
        i++;
    }
    m->off[i] = (uint32_t)at;
    if (status) {
        spm_free(m);
        return status;
    }

    /* what sentencepiece's ModelInterface::InitializePieces checks */
    m->unk_id = -1;
    int byte_seen[256] = {0};
    for (i = 0; i < m->n_pieces; i++) {
        size_t len;
        const unsigned char *p = piece_bytes(m, i, &len);
        if (m->type[i] == SPM_UNKNOWN) {
            if (m->unk_id >= 0) {
                int first = m->unk_id;
                spm_free(m);
                return st2v_fail(err, errsz, ST2V_ERR_FORMAT,
                            "spiece.model: two unknown pieces (%d and %d)",
                            first, i);
            }
            m->unk_id = i;
        }
        if (m->type[i] == SPM_BYTE) {
            int b = piece_to_byte(p, len);
            if (!m->byte_fallback || b < 0) {
                spm_free(m);
                return st2v_fail(err, errsz, ST2V_ERR_FORMAT,
                            "spiece.model: byte piece %d is %s", i,
                            b < 0 ? "not <0xXX>"
                                  : "there without byte_fallback");
            }
            byte_seen[b] = 1;
        }
    }
    if (m->unk_id < 0) {
        spm_free(m);
        return st2v_fail(err, errsz, ST2V_ERR_FORMAT,
                    "spiece.model: no unknown piece (<unk>)");
    }
    for (int b = 0; b < 256 && m->byte_fallback; b++)
        if (!byte_seen[b]) {
            spm_free(m);
            return st2v_fail(err, errsz, ST2V_ERR_FORMAT,
                        "spiece.model: byte_fallback without the byte piece "
                        "<0x%02X>",
                        b);
        }

    const unsigned bit = 1u;
    int dup = keys_build(m, &m->normal,
                         bit << SPM_NORMAL | bit << SPM_USER_DEFINED |
                             bit << SPM_UNUSED);
    if (dup == 0)
        dup = keys_build(m, &m->reserved,
                         bit << SPM_UNKNOWN | bit << SPM_CONTROL |
                             bit << SPM_BYTE);
    if (dup == 0)
        dup = keys_build(m, &m->user, bit << SPM_USER_DEFINED);
    if (dup != 0) {
        spm_free(m);
        return dup < 0
                   ? st2v_fail(err, errsz, ST2V_ERR_NOMEM, "out of memory")
                   : st2v_fail(err, errsz, ST2V_ERR_FORMAT,
                          "spiece.model: piece %d is defined twice", dup - 1);
    }
    if (m->normal.n == 0) {
        spm_free(m);
        return st2v_fail(err, errsz, ST2V_ERR_FORMAT,
                    "spiece.model: no normal pieces");
    }

    m->min_score = FLT_MAX;
    m->max_score = FLT_MIN; /* sic: sentencepiece starts from FLT_MIN */
    for (i = 0; i < m->n_pieces; i++)
        if (m->type[i] == SPM_NORMAL) {
            if (m->score[i] < m->min_score)
                m->min_score = m->score[i];
            if (m->score[i] > m->max_score)
                m->max_score = m->score[i];
        }
    for (int b = 0; b < 256; b++) {
        char name[8];
        snprintf(name, sizeof(name), "<0x%02X>", b);
        m->byte_id[b] = m->byte_fallback ? spm_piece_id(m, name, 6) : -1;
    }
    m->eos_id = pr.eos_piece
                    ? spm_piece_id(m, (const char *)pr.eos_piece, pr.eos_len)
                    : spm_piece_id(m, "</s>", 4);
    m->pad_id = pr.pad_piece
                    ? spm_piece_id(m, (const char *)pr.pad_piece, pr.pad_len)
                    : spm_piece_id(m, "<pad>", 5);

    status = load_charsmap(m, pr.charsmap, pr.charsmap_n, err, errsz);
    if (status) {
        spm_free(m);
        return status;
    }
    *out = m;
    return 0;
}

void spm_free(spm *m)
{
    if (!m)
        return;
    free(m->text);
    free(m->off);
    free(m->score);
    free(m->type);
    free(m->normal.ids);
    free(m->user.ids);
    free(m->reserved.ids);
    free(m->units);
    free(m->normstr);
    free(m);
}

int spm_vocab_size(const spm *m)
{
    return m ? m->n_pieces : 0;
}

const char *spm_piece(const spm *m, int id, size_t *len)
{
    if (!m || id < 0 || id >= m->n_pieces)
        return NULL;
    size_t l;
    const unsigned char *p = piece_bytes(m, id, &l);
    if (len)
        *len = l;
    return (const char *)p;
}

spm_piece_type spm_type(const spm *m, int id)
{
    return m && id >= 0 && id < m->n_pieces ? (spm_piece_type)m->type[id]
                                            : (spm_piece_type)0;
}

float spm_score(const spm *m, int id)
{
    return m && id >= 0 && id < m->n_pieces ? m->score[id] : 0.0f;
}

/* Reserved pieces first, as sentencepiece's PieceToId. */
int spm_piece_id(const spm *m, const char *piece, size_t len)
{
    if (!m || (!piece && len))
        return -1;
    int32_t id = keys_find(m, &m->reserved, piece, len);
    return id >= 0 ? id : keys_find(m, &m->normal, piece, len);
}

int spm_unk_id(const spm *m)
{
    return m ? m->unk_id : -1;
}
int spm_eos_id(const spm *m)
{
    return m ? m->eos_id : -1;
}
int spm_pad_id(const spm *m)
{
    return m ? m->pad_id : -1;
}

/* ------------------------------------------------------------ normaliser */

static uint32_t unit_offset(uint32_t unit)
{
    return (unit >> 10) << ((unit & (1u << 9)) >> 6);
}

/* The longest charsmap rule that is a prefix of s[0..n), among the first
 * 32 (sentencepiece's kMaxTrieResultsSize): its length, and its
 * replacement in *rep / *rep_len; 0 when none. A walk that leaves the
 * double array stops there. */
static size_t charsmap_match(const spm *m, const unsigned char *s, size_t n,
                             const char **rep, size_t *rep_len)
{
    if (m->n_units == 0)
        return 0;
    uint32_t node = unit_offset(m->units[0]);
    size_t best = 0;
    uint32_t best_v = 0;
    int count = 0;
    for (size_t i = 0; i < n; i++) {
        node ^= s[i];
        if (node >= m->n_units)
            break;
        uint32_t unit = m->units[node];
        if ((unit & (0x80000000u | 0xFFu)) != s[i])
            break;
        node ^= unit_offset(unit);
        if ((unit >> 8) & 1) {
            if (node >= m->n_units)
                break;
            if (count < 32) {
                best = i + 1;
                best_v = m->units[node] & 0x7FFFFFFFu;
            }
            count++;
        }
    }
    if (best == 0 || best_v >= m->normstr_n)
        return 0;
    const char *r = m->normstr + best_v;
    const char *z = memchr(r, '\0', m->normstr_n - best_v);
    *rep = r;
    *rep_len = z ? (size_t)(z - r) : m->normstr_n - best_v;
    return best;
}

/* sentencepiece's NormalizePrefix: how many bytes of s[0..n) (n > 0) the
 * next step consumes, and what it writes (*rep, *rep_len). */
static size_t norm_prefix(const spm *m, const unsigned char *s, size_t n,
                          const char **rep, size_t *rep_len)
{
    if (m->user.n) { /* user-defined symbols pass through unnormalised */
        spm_walk w;
        walk_start(&m->user, &w);
        size_t best = 0;
        int count = 0;
        for (size_t i = 0; i < n; i++) {
            int32_t id = walk_step(m, &m->user, &w, s[i]);
            if (id == -2)
                break;
            if (id >= 0 && count++ < 64)
                best = i + 1;
        }
        if (best) {
            *rep = (const char *)s;
            *rep_len = best;
            return best;
        }
    }
    size_t k = charsmap_match(m, s, n, rep, rep_len);
    if (k)
        return k;
    uint32_t cp;
    k = utf8_decode(s, n, &cp);
    if (k == 0) { /* malformed: U+FFFD for one byte */
        *rep = "\xEF\xBF\xBD";
        *rep_len = 3;
        return 1;
    }
    *rep = (const char *)s;
    *rep_len = k;
    return k;
}

static void normalize(const spm *m, const unsigned char *in, size_t n,
                      sbuf *out)
{
    static const char meta[] = "\xE2\x96\x81"; /* U+2581 */
    const char *space = m->escape_ws ? meta : " ";
    const size_t space_n = m->escape_ws ? 3 : 1;
    const char *rep;
    size_t rep_n;

    sb_put(out, "", 0);
    if (m->remove_extra_ws) { /* leading whitespace */
        while (n) {
            size_t k = norm_prefix(m, in, n, &rep, &rep_n);
            if (rep_n != 1 || rep[0] != ' ')
                break;
            in += k;
            n -= k;
        }
    }
    if (n == 0)
        return;
    if (!m->ws_suffix && m->add_dummy_prefix)
        sb_put(out, space, space_n);
    int prev_space = m->remove_extra_ws;
    while (n) {
        size_t k = norm_prefix(m, in, n, &rep, &rep_n);
        while (prev_space && rep_n && rep[0] == ' ') {
            rep++;
            rep_n--;
        }
        if (rep_n) {
            for (size_t i = 0; i < rep_n; i++) {
                if (m->escape_ws && rep[i] == ' ')
                    sb_put(out, meta, 3);
                else
                    sb_put(out, rep + i, 1);
            }
            prev_space = rep[rep_n - 1] == ' ';
        }
        in += k;
        n -= k;
        if (!m->remove_extra_ws)
            prev_space = 0;
    }
    if (m->remove_extra_ws && !out->oom) { /* trailing whitespace */
        while (out->n >= space_n &&
               memcmp(out->p + out->n - space_n, space, space_n) == 0)
            out->n -= space_n;
        out->p[out->n] = '\0';
    }
    if (m->ws_suffix && m->add_dummy_prefix)
        sb_put(out, space, space_n);
}

int spm_normalize(const spm *m, const char *text, size_t n, char **out,
                  size_t *out_n)
{
    if (!m || (!text && n) || !out)
        return ST2V_ERR_INVALID_ARG;
    sbuf b = {0};
    normalize(m, (const unsigned char *)text, n, &b);
    if (b.oom) {
        free(b.p);
        return ST2V_ERR_NOMEM;
    }
    *out = b.p;
    if (out_n)
        *out_n = b.n;
    return 0;
}

/* ------------------------------------------------------------ Viterbi */

/* The best path that ends at a byte position: its score, the start of its
 * last piece (-1: none yet) and that piece's id. */
typedef struct spm_best {
    float score;
    int32_t start;
    int32_t id;
} spm_best;

/* sentencepiece's unigram EncodeOptimized over the normalised t[0..n):
 * *segs (malloc'ed) receives the pieces' ids in order, *n_segs their
 * count, and starts[] their byte offsets (for byte fallback). */
static int viterbi(const spm *m, const unsigned char *t, size_t n,
                   int32_t **seg_id, int32_t **seg_start, int *n_segs)
{
    const float unk_score = m->min_score - 10.0f; /* kUnkPenalty */
    spm_best *best = malloc(sizeof(spm_best) * (n + 1));
    int32_t *ids = malloc(sizeof(int32_t) * (n ? n : 1));
    int32_t *starts = malloc(sizeof(int32_t) * (n ? n : 1));
    if (!best || !ids || !starts) {
        free(best);
        free(ids);
        free(starts);
        return ST2V_ERR_NOMEM;
    }
    for (size_t i = 0; i <= n; i++)
        best[i] = (spm_best){0.0f, -1, -1};

    for (size_t s = 0; s < n;) {
        const float till = best[s].score;
        size_t mblen = one_char_len(t[s]);
        if (mblen > n - s)
            mblen = n - s;
        int single = 0;
        spm_walk w;
        walk_start(&m->normal, &w);
        for (size_t k = s; k < n; k++) {
            int32_t id = walk_step(m, &m->normal, &w, t[k]);
            if (id == -2)
                break;
            if (id < 0 || m->type[id] == SPM_UNUSED)
                continue;
            const size_t length = k + 1 - s;
            /* in double, as sentencepiece: `length * max_score_ - 0.1` is a
             * double, so the ternary and the sum are too */
            const double score =
                m->type[id] == SPM_USER_DEFINED
                    ? (double)((float)length * m->max_score) - 0.1
                    : (double)m->score[id];
            const double cand = score + (double)till;
            spm_best *b = &best[k + 1];
            if (b->start < 0 || cand > (double)b->score) {
                b->score = (float)cand;
                b->start = (int32_t)s;
                b->id = id;
            }
            if (length == mblen)
                single = 1;
        }
        if (!single) {
            spm_best *b = &best[s + mblen];
            const float cand = unk_score + till;
            if (b->start < 0 || cand > b->score) {
                b->score = cand;
                b->start = (int32_t)s;
                b->id = m->unk_id;
            }
        }
        s += mblen;
    }

    int count = 0;
    for (size_t end = n; end > 0;) {
        const spm_best *b = &best[end];
        if (b->start < 0 || (size_t)b->start >= end || count >= (int)n) {
            free(best);
            free(ids);
            free(starts);
            return ST2V_ERR_INTERNAL;
        }
        ids[count] = b->id;
        starts[count] = b->start;
        count++;
        end = (size_t)b->start;
    }
    for (int i = 0; i < count / 2; i++) { /* back to front -> in order */
        int32_t x = ids[i];
        ids[i] = ids[count - 1 - i];
        ids[count - 1 - i] = x;
        x = starts[i];
        starts[i] = starts[count - 1 - i];
        starts[count - 1 - i] = x;
    }
    free(best);
    *seg_id = ids;
    *seg_start = starts;
    *n_segs = count;
    return 0;
}

int spm_encode(const spm *m, const char *text, size_t n, int32_t *ids, int max,
               int *n_out)
{
    if (!m || (!text && n) || max < 0 || (!ids && max > 0) || !n_out)
        return ST2V_ERR_INVALID_ARG;
    *n_out = 0;
    sbuf b = {0};
    normalize(m, (const unsigned char *)text, n, &b);
    if (b.oom || b.n >= (size_t)INT32_MAX / 4) {
        int oom = b.oom;
        free(b.p);
        return oom ? ST2V_ERR_NOMEM : ST2V_ERR_INVALID_ARG;
    }
    if (b.n == 0) {
        free(b.p);
        return 0;
    }
    int32_t *seg_id, *seg_start;
    int n_segs;
    int rc = viterbi(m, (const unsigned char *)b.p, b.n, &seg_id, &seg_start,
                     &n_segs);
    if (rc) {
        free(b.p);
        return rc;
    }
    /* sentencepiece's PopulateSentencePieceText: an unknown piece becomes
     * its bytes' <0xXX> pieces under byte_fallback, and a run of unknown
     * pieces is one <unk> otherwise */
    int count = 0, prev_unk = 0;
    for (int i = 0; i < n_segs; i++) {
        const int id = seg_id[i];
        const int is_unk = m->type[id] == SPM_UNKNOWN;
        if (is_unk && m->byte_fallback) {
            size_t end = i + 1 < n_segs ? (size_t)seg_start[i + 1] : b.n;
            for (size_t k = (size_t)seg_start[i]; k < end; k++) {
                if (count < max)
                    ids[count] = m->byte_id[(unsigned char)b.p[k]];
                count++;
            }
        } else if (!(is_unk && prev_unk)) {
            if (count < max)
                ids[count] = id;
            count++;
        }
        prev_unk = is_unk;
    }
    free(seg_id);
    free(seg_start);
    free(b.p);
    *n_out = count;
    return 0;
}

/* ------------------------------------------------------------ Wan's cleaning
 */

/* Python's html.unescape named references this file knows (204 of HTML5's
 * 2,231): every legacy name that HTML5 allows without ';' (legacy = 1), every
 * name that starts with a legacy one (else "&notin;" would read as "&not"
 * "in;"), and common typography. Generated from html.entities.html5. */
static const struct spm_entity {
    const char *name, *utf8;
    int legacy;
} spm_entities[] = {
    {"AElig", "\xc3\x86", 1},
    {"AMP", "&", 1},
    {"Aacute", "\xc3\x81", 1},
    {"Acirc", "\xc3\x82", 1},
    {"Agrave", "\xc3\x80", 1},
    {"Aring", "\xc3\x85", 1},
    {"Atilde", "\xc3\x83", 1},
    {"Auml", "\xc3\x84", 1},
    {"COPY", "\xc2\xa9", 1},
    {"Ccedil", "\xc3\x87", 1},
    {"Dagger", "\xe2\x80\xa1", 0},
    {"ETH", "\xc3\x90", 1},
    {"Eacute", "\xc3\x89", 1},
    {"Ecirc", "\xc3\x8a", 1},
    {"Egrave", "\xc3\x88", 1},
    {"Euml", "\xc3\x8b", 1},
    {"GT", ">", 1},
    {"Iacute", "\xc3\x8d", 1},
    {"Icirc", "\xc3\x8e", 1},
    {"Igrave", "\xc3\x8c", 1},
    {"Iuml", "\xc3\x8f", 1},
    {"LT", "<", 1},
    {"NewLine", "\x0a", 0},
    {"Ntilde", "\xc3\x91", 1},
    {"Oacute", "\xc3\x93", 1},
    {"Ocirc", "\xc3\x94", 1},
    {"Ograve", "\xc3\x92", 1},
    {"Omega", "\xce\xa9", 0},
    {"Oslash", "\xc3\x98", 1},
    {"Otilde", "\xc3\x95", 1},
    {"Ouml", "\xc3\x96", 1},
    {"Prime", "\xe2\x80\xb3", 0},
    {"QUOT", "\x22", 1},
    {"REG", "\xc2\xae", 1},
    {"THORN", "\xc3\x9e", 1},
    {"Tab", "\x09", 0},
    {"Uacute", "\xc3\x9a", 1},
    {"Ucirc", "\xc3\x9b", 1},
    {"Ugrave", "\xc3\x99", 1},
    {"Uuml", "\xc3\x9c", 1},
    {"Yacute", "\xc3\x9d", 1},
    {"aacute", "\xc3\xa1", 1},
    {"acirc", "\xc3\xa2", 1},
    {"acute", "\xc2\xb4", 1},
    {"aelig", "\xc3\xa6", 1},
    {"agrave", "\xc3\xa0", 1},
    {"alpha", "\xce\xb1", 0},
    {"amp", "&", 1},
    {"apos", "'", 0},
    {"aring", "\xc3\xa5", 1},
    {"atilde", "\xc3\xa3", 1},
    {"auml", "\xc3\xa4", 1},
    {"bdquo", "\xe2\x80\x9e", 0},
    {"beta", "\xce\xb2", 0},
    {"brvbar", "\xc2\xa6", 1},
    {"bull", "\xe2\x80\xa2", 0},
    {"ccedil", "\xc3\xa7", 1},
    {"cedil", "\xc2\xb8", 1},
    {"cent", "\xc2\xa2", 1},
    {"centerdot", "\xc2\xb7", 0},
    {"check", "\xe2\x9c\x93", 0},
    {"clubs", "\xe2\x99\xa3", 0},
    {"copy", "\xc2\xa9", 1},
    {"copysr", "\xe2\x84\x97", 0},
    {"curren", "\xc2\xa4", 1},
    {"dagger", "\xe2\x80\xa0", 0},
    {"darr", "\xe2\x86\x93", 0},
    {"deg", "\xc2\xb0", 1},
    {"delta", "\xce\xb4", 0},
    {"diams", "\xe2\x99\xa6", 0},
    {"divide", "\xc3\xb7", 1},
    {"divideontimes", "\xe2\x8b\x87", 0},
    {"eacute", "\xc3\xa9", 1},
    {"ecirc", "\xc3\xaa", 1},
    {"egrave", "\xc3\xa8", 1},
    {"emsp", "\xe2\x80\x83", 0},
    {"ensp", "\xe2\x80\x82", 0},
    {"eth", "\xc3\xb0", 1},
    {"euml", "\xc3\xab", 1},
    {"euro", "\xe2\x82\xac", 0},
    {"frac12", "\xc2\xbd", 1},
    {"frac14", "\xc2\xbc", 1},
    {"frac34", "\xc2\xbe", 1},
    {"frasl", "\xe2\x81\x84", 0},
    {"gamma", "\xce\xb3", 0},
    {"ge", "\xe2\x89\xa5", 0},
    {"gt", ">", 1},
    {"gtcc", "\xe2\xaa\xa7", 0},
    {"gtcir", "\xe2\xa9\xba", 0},
    {"gtdot", "\xe2\x8b\x97", 0},
    {"gtlPar", "\xe2\xa6\x95", 0},
    {"gtquest", "\xe2\xa9\xbc", 0},
    {"gtrapprox", "\xe2\xaa\x86", 0},
    {"gtrarr", "\xe2\xa5\xb8", 0},
    {"gtrdot", "\xe2\x8b\x97", 0},
    {"gtreqless", "\xe2\x8b\x9b", 0},
    {"gtreqqless", "\xe2\xaa\x8c", 0},
    {"gtrless", "\xe2\x89\xb7", 0},
    {"gtrsim", "\xe2\x89\xb3", 0},
    {"hearts", "\xe2\x99\xa5", 0},
    {"hellip", "\xe2\x80\xa6", 0},
    {"iacute", "\xc3\xad", 1},
    {"icirc", "\xc3\xae", 1},
    {"iexcl", "\xc2\xa1", 1},
    {"igrave", "\xc3\xac", 1},
    {"infin", "\xe2\x88\x9e", 0},
    {"iquest", "\xc2\xbf", 1},
    {"iuml", "\xc3\xaf", 1},
    {"laquo", "\xc2\xab", 1},
    {"larr", "\xe2\x86\x90", 0},
    {"ldquo", "\xe2\x80\x9c", 0},
    {"le", "\xe2\x89\xa4", 0},
    {"lrm", "\xe2\x80\x8e", 0},
    {"lsaquo", "\xe2\x80\xb9", 0},
    {"lsquo", "\xe2\x80\x98", 0},
    {"lt", "<", 1},
    {"ltcc", "\xe2\xaa\xa6", 0},
    {"ltcir", "\xe2\xa9\xb9", 0},
    {"ltdot", "\xe2\x8b\x96", 0},
    {"lthree", "\xe2\x8b\x8b", 0},
    {"ltimes", "\xe2\x8b\x89", 0},
    {"ltlarr", "\xe2\xa5\xb6", 0},
    {"ltquest", "\xe2\xa9\xbb", 0},
    {"ltrPar", "\xe2\xa6\x96", 0},
    {"ltri", "\xe2\x97\x83", 0},
    {"ltrie", "\xe2\x8a\xb4", 0},
    {"ltrif", "\xe2\x97\x82", 0},
    {"macr", "\xc2\xaf", 1},
    {"mdash", "\xe2\x80\x94", 0},
    {"micro", "\xc2\xb5", 1},
    {"middot", "\xc2\xb7", 1},
    {"minus", "\xe2\x88\x92", 0},
    {"mu", "\xce\xbc", 0},
    {"nbsp", "\xc2\xa0", 1},
    {"ndash", "\xe2\x80\x93", 0},
    {"ne", "\xe2\x89\xa0", 0},
    {"not", "\xc2\xac", 1},
    {"notin", "\xe2\x88\x89", 0},
    {"notinE", "\xe2\x8b\xb9\xcc\xb8", 0},
    {"notindot", "\xe2\x8b\xb5\xcc\xb8", 0},
    {"notinva", "\xe2\x88\x89", 0},
    {"notinvb", "\xe2\x8b\xb7", 0},
    {"notinvc", "\xe2\x8b\xb6", 0},
    {"notni", "\xe2\x88\x8c", 0},
    {"notniva", "\xe2\x88\x8c", 0},
    {"notnivb", "\xe2\x8b\xbe", 0},
    {"notnivc", "\xe2\x8b\xbd", 0},
    {"ntilde", "\xc3\xb1", 1},
    {"oacute", "\xc3\xb3", 1},
    {"ocirc", "\xc3\xb4", 1},
    {"ograve", "\xc3\xb2", 1},
    {"oline", "\xe2\x80\xbe", 0},
    {"omega", "\xcf\x89", 0},
    {"ordf", "\xc2\xaa", 1},
    {"ordm", "\xc2\xba", 1},
    {"oslash", "\xc3\xb8", 1},
    {"otilde", "\xc3\xb5", 1},
    {"ouml", "\xc3\xb6", 1},
    {"para", "\xc2\xb6", 1},
    {"parallel", "\xe2\x88\xa5", 0},
    {"permil", "\xe2\x80\xb0", 0},
    {"pi", "\xcf\x80", 0},
    {"plusmn", "\xc2\xb1", 1},
    {"pound", "\xc2\xa3", 1},
    {"prime", "\xe2\x80\xb2", 0},
    {"prod", "\xe2\x88\x8f", 0},
    {"quot", "\x22", 1},
    {"radic", "\xe2\x88\x9a", 0},
    {"raquo", "\xc2\xbb", 1},
    {"rarr", "\xe2\x86\x92", 0},
    {"rdquo", "\xe2\x80\x9d", 0},
    {"reg", "\xc2\xae", 1},
    {"rlm", "\xe2\x80\x8f", 0},
    {"rsaquo", "\xe2\x80\xba", 0},
    {"rsquo", "\xe2\x80\x99", 0},
    {"sbquo", "\xe2\x80\x9a", 0},
    {"sect", "\xc2\xa7", 1},
    {"shy", "\xc2\xad", 1},
    {"sigma", "\xcf\x83", 0},
    {"spades", "\xe2\x99\xa0", 0},
    {"star", "\xe2\x98\x86", 0},
    {"sum", "\xe2\x88\x91", 0},
    {"sup1", "\xc2\xb9", 1},
    {"sup2", "\xc2\xb2", 1},
    {"sup3", "\xc2\xb3", 1},
    {"szlig", "\xc3\x9f", 1},
    {"thinsp", "\xe2\x80\x89", 0},
    {"thorn", "\xc3\xbe", 1},
    {"times", "\xc3\x97", 1},
    {"timesb", "\xe2\x8a\xa0", 0},
    {"timesbar", "\xe2\xa8\xb1", 0},
    {"timesd", "\xe2\xa8\xb0", 0},
    {"trade", "\xe2\x84\xa2", 0},
    {"uacute", "\xc3\xba", 1},
    {"uarr", "\xe2\x86\x91", 0},
    {"ucirc", "\xc3\xbb", 1},
    {"ugrave", "\xc3\xb9", 1},
    {"uml", "\xc2\xa8", 1},
    {"uuml", "\xc3\xbc", 1},
    {"yacute", "\xc3\xbd", 1},
    {"yen", "\xc2\xa5", 1},
    {"yuml", "\xc3\xbf", 1},
    {"zwj", "\xe2\x80\x8d", 0},
    {"zwnj", "\xe2\x80\x8c", 0},
};

/* html.unescape's replacements of &#128; .. &#159; (Windows-1252) */
static const uint16_t spm_cp1252[32] = {
    0x20AC, 0x0081, 0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021,
    0x02C6, 0x2030, 0x0160, 0x2039, 0x0152, 0x008D, 0x017D, 0x008F,
    0x0090, 0x2018, 0x2019, 0x201C, 0x201D, 0x2022, 0x2013, 0x2014,
    0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0x009D, 0x017E, 0x0178};

static const struct spm_entity *entity_find(const char *name, size_t len,
                                            int legacy_only)
{
    for (size_t i = 0; i < sizeof(spm_entities) / sizeof(spm_entities[0]); i++)
        if (strlen(spm_entities[i].name) == len &&
            memcmp(spm_entities[i].name, name, len) == 0 &&
            (!legacy_only || spm_entities[i].legacy))
            return &spm_entities[i];
    return NULL;
}

/* Python's html.unescape of a numeric reference's value. */
static void put_charref(sbuf *b, uint64_t num)
{
    char u[4];
    if (num == 0)
        num = 0xFFFD;
    else if (num >= 0x80 && num <= 0x9F)
        num = spm_cp1252[num - 0x80];
    else if (num == 0x0D)
        ;
    else if ((num >= 0xD800 && num <= 0xDFFF) || num > 0x10FFFF)
        num = 0xFFFD;
    else if ((num >= 0x01 && num <= 0x08) || num == 0x0B ||
             (num >= 0x0E && num <= 0x1F) || (num >= 0x7F && num <= 0x9F) ||
             (num >= 0xFDD0 && num <= 0xFDEF) || (num & 0xFFFE) == 0xFFFE)
        return; /* dropped */
    sb_put(b, u, utf8_encode((uint32_t)num, u));
}

static int hexdigit(int c)
{
    return c >= '0' && c <= '9'   ? c - '0'
           : c >= 'a' && c <= 'f' ? c - 'a' + 10
           : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                  : -1;
}

/* One pass of Python's html.unescape over s[0..n) into b: the references
 * &#DDD;, &#xHHH; (';' optional) and &name; (a legacy name also without
 * ';', and as the longest prefix of an unknown name). */
static void html_unescape(const unsigned char *s, size_t n, sbuf *b)
{
    size_t i = 0;
    while (i < n) {
        const unsigned char *amp = memchr(s + i, '&', n - i);
        size_t a = amp ? (size_t)(amp - s) : n;
        sb_put(b, s + i, a - i);
        if (a == n)
            break;
        size_t j = a + 1;
        if (j < n && s[j] == '#') {
            int hex = j + 1 < n && (s[j + 1] == 'x' || s[j + 1] == 'X');
            size_t d = j + 1 + (size_t)hex, e = d;
            uint64_t num = 0;
            while (e < n &&
                   (hex ? hexdigit(s[e]) >= 0 : (s[e] >= '0' && s[e] <= '9'))) {
                num = num * (hex ? 16 : 10) + (uint64_t)hexdigit(s[e]);
                if (num > 0x10FFFF)
                    num = 0x110000; /* saturate: U+FFFD */
                e++;
            }
            if (e == d) { /* "&#" without digits is text */
                sb_put(b, "&", 1);
                i = a + 1;
                continue;
            }
            if (e < n && s[e] == ';')
                e++;
            put_charref(b, num);
            i = e;
            continue;
        }
        /* [^\t\n\f <&#;]{1,32};? counted in code points */
        size_t e = j, cps = 0, ascii = 0;
        int all_ascii = 1;
        while (e < n && cps < 32) {
            unsigned char c = s[e];
            if (c == '\t' || c == '\n' || c == '\f' || c == ' ' || c == '<' ||
                c == '&' || c == '#' || c == ';')
                break;
            uint32_t cp;
            size_t k = utf8_decode(s + e, n - e, &cp);
            if (k == 0)
                k = 1;
            if (c >= 0x80)
                all_ascii = 0;
            else if (all_ascii)
                ascii++;
            e += k;
            cps++;
        }
        if (cps == 0) {
            sb_put(b, "&", 1);
            i = a + 1;
            continue;
        }
        const int semi = e < n && s[e] == ';';
        const struct spm_entity *ent =
            all_ascii ? entity_find((const char *)s + j, e - j, !semi) : NULL;
        if (ent) {
            sb_put(b, ent->utf8, strlen(ent->utf8));
            i = e + (size_t)semi;
            continue;
        }
        /* the longest legacy name that is a proper prefix, >= 2 long */
        size_t total = cps + (size_t)semi, x = total - 1;
        if (x > ascii)
            x = ascii;
        for (; x >= 2; x--)
            if ((ent = entity_find((const char *)s + j, x, 1)) != NULL)
                break;
        if (ent && x >= 2) {
            sb_put(b, ent->utf8, strlen(ent->utf8));
            i = j + x;
        } else {
            sb_put(b, "&", 1);
            i = a + 1;
        }
    }
}

/* Unicode White_Space (the `regex` module's \s) */
static int is_white_space(uint32_t c)
{
    return (c >= 0x09 && c <= 0x0D) || c == 0x20 || c == 0x85 || c == 0xA0 ||
           c == 0x1680 || (c >= 0x2000 && c <= 0x200A) || c == 0x2028 ||
           c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000;
}

/* Python's str.isspace (what str.strip removes) */
static int is_py_space(uint32_t c)
{
    return is_white_space(c) || (c >= 0x1C && c <= 0x1F);
}

/* What ftfy's remove_control_chars drops: C0 controls but \t \n \f \r,
 * DEL, the deprecated format characters U+206A..U+206F, the byte order
 * mark, and U+FFF9..U+FFFC. */
static int is_ftfy_control(uint32_t c)
{
    return c <= 0x08 || c == 0x0B || (c >= 0x0E && c <= 0x1F) || c == 0x7F ||
           (c >= 0x206A && c <= 0x206F) || c == 0xFEFF ||
           (c >= 0xFFF9 && c <= 0xFFFC);
}

/* Code point at s[0..n) for the cleaning: a malformed byte is itself, as
 * 0x110000 + byte (neither space nor a quote). */
static size_t clean_decode(const unsigned char *s, size_t n, uint32_t *cp)
{
    size_t k = utf8_decode(s, n, cp);
    if (k == 0) {
        *cp = 0x110000u + s[0];
        k = 1;
    }
    return k;
}

int spm_wan_clean(const char *text, size_t n, char **out)
{
    if ((!text && n) || !out)
        return ST2V_ERR_INVALID_ARG;
    *out = NULL;
    sbuf u1 = {0}, u2 = {0}, c = {0};
    /* basic_clean: ftfy.fix_text, then html.unescape twice. Of ftfy, this
     * does uncurl_quotes and remove_control_chars (below, after the
     * unescaping, where ftfy's own unescaping would have put them for a
     * prompt without '<'); docs/wan.md says what else ftfy does */
    html_unescape((const unsigned char *)text, n, &u1);
    sb_put(&u1, "", 0);
    html_unescape((const unsigned char *)u1.p, u1.n, &u2);
    sb_put(&u2, "", 0);
    free(u1.p);
    const unsigned char *s = (const unsigned char *)u2.p;
    size_t m = u2.n, i = 0;
    /* .strip(), then re.sub(r'\s+', ' '), then .strip() again: strip the
     * ends, collapse the runs inside, and strip what the collapse made of
     * \x1c..\x1f at the ends */
    sb_put(&c, "", 0);
    int in_ws = 0;
    while (i < m) {
        uint32_t cp;
        size_t k = clean_decode(s + i, m - i, &cp);
        if (is_ftfy_control(cp)) {
            ; /* dropped, as ftfy's remove_control_chars */
        } else if (is_white_space(cp)) {
            in_ws = 1;
        } else {
            if (in_ws)
                sb_put(&c, " ", 1);
            in_ws = 0;
            if (cp == 0x02BC || (cp >= 0x2018 && cp <= 0x201B))
                sb_put(&c, "'", 1);
            else if (cp >= 0x201C && cp <= 0x201F)
                sb_put(&c, "\"", 1);
            else
                sb_put(&c, s + i, k);
        }
        i += k;
    }
    free(u2.p);
    if (u1.oom || u2.oom || c.oom) {
        free(c.p);
        return ST2V_ERR_NOMEM;
    }
    /* strip Python whitespace at both ends */
    size_t lo = 0, hi = c.n;
    while (lo < hi) {
        uint32_t cp;
        size_t k = clean_decode((const unsigned char *)c.p + lo, hi - lo, &cp);
        if (!is_py_space(cp))
            break;
        lo += k;
    }
    while (hi > lo) {
        size_t st = hi - 1;
        while (st > lo && ((unsigned char)c.p[st] & 0xC0) == 0x80 &&
               hi - st < 4)
            st--;
        uint32_t cp;
        size_t k = clean_decode((const unsigned char *)c.p + st, hi - st, &cp);
        if (st + k != hi || !is_py_space(cp))
            break;
        hi = st;
    }
    memmove(c.p, c.p + lo, hi - lo);
    c.p[hi - lo] = '\0';
    *out = c.p;
    return 0;
}

int spm_encode_wan(const spm *m, const char *prompt, int32_t *ids, int len,
                   int *n_tokens)
{
    if (!m || !prompt || !ids || len < 1 || !n_tokens)
        return ST2V_ERR_INVALID_ARG;
    *n_tokens = 0;
    if (m->eos_id < 0)
        return ST2V_ERR_FORMAT;
    char *clean;
    int rc = spm_wan_clean(prompt, strlen(prompt), &clean);
    if (rc)
        return rc;
    int count;
    rc = spm_encode(m, clean, strlen(clean), ids, len - 1, &count);
    free(clean);
    if (rc)
        return rc;
    int n = count < len - 1 ? count : len - 1;
    ids[n++] = m->eos_id;
    for (int i = n; i < len; i++)
        ids[i] = m->pad_id >= 0 ? m->pad_id : 0;
    *n_tokens = n;
    return 0;
}

/* ------------------------------------------------------------ ComfyUI */

int spm_load_safetensors(spm **out, const void *buf, size_t n, char *err,
                         size_t errsz)
{
    if (!out || (!buf && n))
        return st2v_fail(err, errsz, ST2V_ERR_INVALID_ARG,
                    "spm_load_safetensors: no buffer");
    *out = NULL;
    /* the shared reader checks the whole header, every tensor's dtype,
     * shape and byte range */
    st_file f;
    char why[256];
    int rc = st_open_memory(&f, buf, n, why, sizeof(why));
    if (rc)
        return st2v_fail(err, errsz, rc, "safetensors: %s", why);
    const st_tensor *t = st_find(&f, "spiece_model");
    if (!t)
        rc = st2v_fail(err, errsz, ST2V_ERR_FORMAT,
                  "safetensors: no tensor spiece_model (no tokenizer inside)");
    else if ((t->dtype != ST_U8 && t->dtype != ST_I8) || t->ndim != 1)
        rc = st2v_fail(err, errsz, ST2V_ERR_FORMAT,
                  "safetensors: tensor spiece_model is %s of %d dimensions, "
                  "not a 1-D U8 array",
                  st_dtype_name(t->dtype), t->ndim);
    else
        rc = spm_load(out, t->data, (size_t)t->numel, err, errsz);
    st_close(&f);
    return rc;
}
