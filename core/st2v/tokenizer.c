/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * tokenizer.c - prompt bytes to token ids (docs/model-format.md, section 3).
 *
 * The pieces are stored in a byte trie whose edges live in one open-
 * addressing hash table keyed by (node, byte), so the greedy longest match
 * at a position is a single walk of at most 64 steps. Tokenizing allocates
 * nothing and never fails: lower-casing is done byte by byte on the fly
 * (every image of the table is again a 2-byte UTF-8 sequence, and word
 * boundaries are ASCII, so it can be computed locally), and truncation to
 * L ids happens while the ids are written.
 */
#include "tokenizer.h"

#include <stdlib.h>
#include <string.h>

#include "common.h"

enum { TOK_BOS = 1, TOK_EOS = 2, TOK_BYTE0 = 3, TOK_PIECE0 = 259 };

struct st2v_tokenizer {
    int max_length;            /* L */
    int n_nodes;
    int32_t *node_id;          /* (n_nodes) id of the piece ending here, or -1 */
    uint64_t *edge_key;        /* (mask + 1) (node << 8 | byte) + 1; 0 = empty */
    int32_t *edge_child;       /* (mask + 1) child node of that edge */
    size_t mask;
};

/* ------------------------------------------------------------ the trie */

static size_t edge_slot(uint64_t key, size_t mask)
{
    uint64_t h = key * 0x9E3779B97F4A7C15ull;
    return (size_t)(h ^ (h >> 29)) & mask;
}

/* Child of `node` along `byte`, or -1. */
static int32_t edge_find(const st2v_tokenizer *t, int32_t node,
                         unsigned char byte)
{
    uint64_t key = (((uint64_t)node << 8) | byte) + 1;
    for (size_t i = edge_slot(key, t->mask);; i = (i + 1) & t->mask) {
        if (t->edge_key[i] == key)
            return t->edge_child[i];
        if (t->edge_key[i] == 0)
            return -1;
    }
}

static void edge_add(st2v_tokenizer *t, int32_t node, unsigned char byte,
                     int32_t child)
{
    uint64_t key = (((uint64_t)node << 8) | byte) + 1;
    size_t i = edge_slot(key, t->mask);
    while (t->edge_key[i] != 0)
        i = (i + 1) & t->mask;
    t->edge_key[i] = key;
    t->edge_child[i] = child;
}

int st2v_tokenizer_new(st2v_tokenizer **out, const st2v_config *cfg)
{
    *out = NULL;
    if (!cfg || cfg->max_length < 2 || cfg->n_pieces < 0)
        return ST2V_ERR_INVALID_ARG;
    size_t total = 0;
    for (int i = 0; i < cfg->n_pieces; i++)
        total += strlen(cfg->pieces[i]);
    if (total > (size_t)INT32_MAX / 4)
        return ST2V_ERR_INVALID_ARG;
    size_t cap = 16;
    while (cap < 2 * total)
        cap *= 2;

    st2v_tokenizer *t = calloc(1, sizeof(*t));
    if (!t)
        return ST2V_ERR_NOMEM;
    t->max_length = cfg->max_length;
    t->mask = cap - 1;
    t->node_id = malloc((total + 1) * sizeof(int32_t));
    t->edge_key = calloc(cap, sizeof(uint64_t));
    t->edge_child = malloc(cap * sizeof(int32_t));
    if (!t->node_id || !t->edge_key || !t->edge_child) {
        st2v_tokenizer_free(t);
        return ST2V_ERR_NOMEM;
    }
    t->node_id[0] = -1;
    t->n_nodes = 1;
    for (int i = 0; i < cfg->n_pieces; i++) {
        int32_t node = 0;
        for (const unsigned char *p = (const unsigned char *)cfg->pieces[i];
             *p; p++) {
            int32_t next = edge_find(t, node, *p);
            if (next < 0) {
                next = t->n_nodes++;
                t->node_id[next] = -1;
                edge_add(t, node, *p, next);
            }
            node = next;
        }
        if (node != 0 && t->node_id[node] < 0) /* first of duplicates wins */
            t->node_id[node] = TOK_PIECE0 + i;
    }
    *out = t;
    return 0;
}

void st2v_tokenizer_free(st2v_tokenizer *tok)
{
    if (!tok)
        return;
    free(tok->node_id);
    free(tok->edge_key);
    free(tok->edge_child);
    free(tok);
}

/* -------------------------------------------------------- lower-casing */

static unsigned lower_cp(unsigned cp)
{
    if (cp >= 0x41 && cp <= 0x5a)
        return cp + 0x20;
    if (cp >= 0xc0 && cp <= 0xde && cp != 0xd7)
        return cp + 0x20;
    if (((cp >= 0x100 && cp <= 0x137) || (cp >= 0x14a && cp <= 0x177)) &&
        cp % 2 == 0)
        return cp + 1;
    if (((cp >= 0x139 && cp <= 0x148) || (cp >= 0x179 && cp <= 0x17e)) &&
        cp % 2 == 1)
        return cp + 1;
    if (cp == 0x178)
        return 0xff;
    return cp;
}

static int is_lead2(unsigned char c)
{
    return c >= 0xc2 && c <= 0xdf;
}

static int is_cont(unsigned char c)
{
    return c >= 0x80 && c <= 0xbf;
}

/* Byte k of the lower-cased text. A byte is the first half of a 2-byte
 * sequence iff it is C2..DF followed by 80..BF, the second half iff it
 * is 80..BF preceded by C2..DF: a lead byte is never a continuation, so
 * this agrees with a left-to-right decode. s[lo..] is the word, whose
 * neighbours are ASCII separators or the string's end (never part of a
 * sequence), so looking one byte outside it is safe and harmless. */
static unsigned char lowered(const unsigned char *s, size_t lo, size_t k)
{
    unsigned char c = s[k];
    if (c < 0x80)
        return (unsigned char)lower_cp(c);
    if (is_lead2(c) && is_cont(s[k + 1])) {
        unsigned cp = lower_cp(((c & 0x1fu) << 6) | (s[k + 1] & 0x3fu));
        return (unsigned char)(0xc0 | (cp >> 6));
    }
    if (is_cont(c) && k > lo && is_lead2(s[k - 1])) {
        unsigned cp = lower_cp(((s[k - 1] & 0x1fu) << 6) | (c & 0x3fu));
        return (unsigned char)(0x80 | (cp & 0x3f));
    }
    return c;
}

/* ---------------------------------------------------------- encoding */

typedef struct {
    int32_t *ids;              /* (L) */
    int n, cap;                /* cap = L - 1: room before the final <eos> */
    int full;                  /* a token did not fit: truncated */
} emitter;

static void emit(emitter *e, int32_t id)
{
    if (e->n < e->cap)
        e->ids[e->n++] = id;
    else
        e->full = 1;
}

static const unsigned char word_prefix[3] = {0xe2, 0x96, 0x81}; /* U+2581 */

/* Byte k of "▁" + lower(s[lo..hi)). */
static unsigned char word_byte(const unsigned char *s, size_t lo, size_t k)
{
    return k < 3 ? word_prefix[k] : lowered(s, lo, lo + k - 3);
}

static void encode_word(const st2v_tokenizer *t, const unsigned char *s,
                        size_t lo, size_t hi, emitter *e)
{
    size_t len = 3 + (hi - lo);
    size_t pos = 0;
    while (pos < len && !e->full) {
        int32_t node = 0, best_id = -1;
        size_t best_len = 0;
        for (size_t k = pos; k < len; k++) {
            node = edge_find(t, node, word_byte(s, lo, k));
            if (node < 0)
                break;
            if (t->node_id[node] >= 0) {
                best_id = t->node_id[node];
                best_len = k - pos + 1;
            }
        }
        if (best_len > 0) {
            emit(e, best_id);
            pos += best_len;
        } else {
            emit(e, TOK_BYTE0 + word_byte(s, lo, pos));
            pos++;
        }
    }
}

static int is_space(unsigned char c)
{
    return c == ' ' || (c >= '\t' && c <= '\r'); /* \t \n \v \f \r */
}

static int is_punct(unsigned char c)
{
    return (c >= '!' && c <= '/') || (c >= ':' && c <= '@') ||
           (c >= '[' && c <= '`') || (c >= '{' && c <= '~');
}

int st2v_tokenize(const st2v_tokenizer *tok, const char *text, int32_t *ids)
{
    emitter e = {ids, 0, tok->max_length - 1, 0};
    emit(&e, TOK_BOS);
    const unsigned char *s = (const unsigned char *)(text ? text : "");
    size_t i = 0;
    while (s[i] && !e.full) {
        unsigned char c = s[i];
        if (is_space(c)) {
            i++;
        } else if (is_punct(c)) {
            encode_word(tok, s, i, i + 1, &e);
            i++;
        } else {
            size_t j = i;
            while (s[j] && !is_space(s[j]) && !is_punct(s[j]))
                j++;
            encode_word(tok, s, i, j, &e);
            i = j;
        }
    }
    ids[e.n++] = TOK_EOS;
    return e.n;
}
