/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test_tokenizer.c - the tokenizer (core/tokenizer.c) against the PyTorch
 * reference's ids in tests/fixtures/golden_tokenizer.json (English, Czech,
 * upper case, punctuation, unknown words, emoji, invalid UTF-8, truncation,
 * the empty prompt), and its promise never to fail: 10k random byte
 * strings give ids in range, <bos> first, <eos> last, at most L of them.
 */
#include <cjson/cJSON.h>
#include <stdint.h>

#include "st2v/model.h"
#include "st2v/tokenizer.h"
#include "test_util.h"

static st2v_model *tiny_model(void)
{
    st2v_model *m = NULL;
    char err[512];
    if (st2v_model_load(&m, tu_fixture("tiny.safetensors"), err,
                        sizeof(err)) != 0) {
        fprintf(stderr, "  cannot load tiny.safetensors: %s\n", err);
        tu_current_failed = 1;
        return NULL;
    }
    return m;
}


static int hexval(char c)
{
    return c >= '0' && c <= '9'   ? c - '0'
           : c >= 'a' && c <= 'f' ? c - 'a' + 10
           : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                  : -1;
}

static void tokenizer_matches_every_golden_case(void)
{
    st2v_model *m = tiny_model();
    if (!m)
        return;
    st2v_tokenizer *tok = NULL;
    int rc = st2v_tokenizer_new(&tok, &st2v_world_of(m)->cfg);
    char *json = (char *)tu_read_file(tu_fixture("golden_tokenizer.json"), NULL);
    cJSON *cases = json ? cJSON_Parse(json) : NULL;
    CHECK(rc == 0, "tokenizer_new: %d", rc);
    CHECK(cJSON_IsArray(cases) && cJSON_GetArraySize(cases) > 10,
          "cannot read golden_tokenizer.json");
    int L = st2v_world_of(m)->cfg.max_length, n_cases = 0, n_ok = 0;
    int32_t *ids = malloc(sizeof(int32_t) * (size_t)L);
    for (const cJSON *c = cases ? cases->child : NULL; c && rc == 0;
         c = c->next) {
        const char *hex = cJSON_GetStringValue(
            cJSON_GetObjectItemCaseSensitive(c, "hex"));
        const cJSON *want = cJSON_GetObjectItemCaseSensitive(c, "ids");
        if (!hex || !cJSON_IsArray(want)) {
            CHECK(0, "case %d is malformed", n_cases);
            continue;
        }
        size_t n = strlen(hex) / 2;
        char *text = malloc(n + 1);
        for (size_t i = 0; i < n; i++)
            text[i] = (char)(hexval(hex[2 * i]) * 16 + hexval(hex[2 * i + 1]));
        text[n] = '\0';
        n_cases++;
        if (strlen(text) != n) {
            CHECK(0, "case %s holds a NUL byte, which a C string cannot",
                  hex);
            free(text);
            continue;
        }
        int got = st2v_tokenize(tok, text, ids);
        int same = got == cJSON_GetArraySize(want);
        int i = 0;
        for (const cJSON *w = want->child; same && w; w = w->next, i++)
            same = ids[i] == (int32_t)w->valuedouble;
        if (same) {
            n_ok++;
        } else {
            char buf[1024];
            size_t o = 0;
            for (int k = 0; k < got && o < sizeof(buf) - 16; k++)
                o += (size_t)snprintf(buf + o, sizeof(buf) - o, "%d ",
                                      ids[k]);
            buf[o] = '\0';
            char *w = cJSON_PrintUnformatted(want);
            CHECK(0, "hex %s: got [ %s], want %s", hex, buf, w);
            cJSON_free(w);
        }
        free(text);
    }
    printf("     golden tokenizer: %d of %d cases exact\n", n_ok, n_cases);
    free(ids);
    cJSON_Delete(cases);
    free(json);
    st2v_tokenizer_free(tok);
    st2v_model_free(m);
}

static void tokenizer_gives_bos_eos_for_the_empty_prompt(void)
{
    st2v_model *m = tiny_model();
    if (!m)
        return;
    st2v_tokenizer *tok = NULL;
    int rc_new = st2v_tokenizer_new(&tok, &st2v_world_of(m)->cfg);
    REQUIRE(rc_new == 0, "tokenizer_new: %d", rc_new);
    int32_t ids[16];
    int n = st2v_tokenize(tok, "", ids);
    CHECK(n == 2 && ids[0] == 1 && ids[1] == 2, "empty: n %d", n);
    n = st2v_tokenize(tok, " \t\r\n", ids);
    CHECK(n == 2 && ids[0] == 1 && ids[1] == 2, "blank: n %d", n);
    n = st2v_tokenize(tok, NULL, ids);
    CHECK(n == 2 && ids[0] == 1 && ids[1] == 2, "NULL: n %d", n);
    st2v_tokenizer_free(tok);
    st2v_model_free(m);
}

static void tokenizer_truncates_to_max_length_keeping_eos(void)
{
    st2v_model *m = tiny_model();
    if (!m)
        return;
    st2v_tokenizer *tok = NULL;
    int rc_new = st2v_tokenizer_new(&tok, &st2v_world_of(m)->cfg);
    REQUIRE(rc_new == 0, "tokenizer_new: %d", rc_new);
    int L = st2v_world_of(m)->cfg.max_length;
    int32_t ids[64];
    for (int i = 0; i < 64; i++)
        ids[i] = -7;
    /* 100 unknown bytes, each a byte token */
    char text[101];
    memset(text, 'z', 100);
    text[100] = '\0';
    int n = st2v_tokenize(tok, text, ids);
    CHECK(n == L, "n %d, L %d", n, L);
    CHECK(ids[0] == 1 && ids[L - 1] == 2, "ends %d %d", ids[0], ids[L - 1]);
    CHECK(ids[L] == -7, "wrote past L");
    /* exactly L tokens: kept whole (bos + 14 * "a" + eos with L = 16) */
    char fit[64] = "";
    for (int i = 0; i < L - 2; i++)
        strcat(fit, "a ");
    n = st2v_tokenize(tok, fit, ids);
    CHECK(n == L && ids[L - 2] == ids[1] && ids[L - 1] == 2, "fit: n %d", n);
    st2v_tokenizer_free(tok);
    st2v_model_free(m);
}

static uint64_t rng_next(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

static void tokenizer_never_fails_on_random_bytes(void)
{
    st2v_model *m = tiny_model();
    if (!m)
        return;
    st2v_tokenizer *tok = NULL;
    int rc_new = st2v_tokenizer_new(&tok, &st2v_world_of(m)->cfg);
    REQUIRE(rc_new == 0, "tokenizer_new: %d", rc_new);
    int L = st2v_world_of(m)->cfg.max_length, V = st2v_world_of(m)->cfg.vocab_size;
    int32_t *ids = malloc(sizeof(int32_t) * (size_t)(L + 4));
    uint64_t seed = 0x7011e2ull;
    int bad = 0;
    /* alphabets from which random prompts are drawn: any byte, or bytes
     * likely to form (and break) the 2-byte sequences of the table */
    static const unsigned char latin[] = {'A', 'z', ' ', ',', 0xc3, 0xc4,
                                          0xc5, 0x80, 0x8c, 0x9d, 0xbf, 0xe2,
                                          0x96, 0x81, 'e', 'r'};
    for (int trial = 0; trial < 10000 && bad < 5; trial++) {
        size_t len = (size_t)(rng_next(&seed) % 200);
        unsigned char text[201];
        int mode = (int)(rng_next(&seed) % 2);
        for (size_t i = 0; i < len; i++) {
            unsigned char c =
                mode ? latin[rng_next(&seed) % sizeof(latin)]
                     : (unsigned char)(1 + rng_next(&seed) % 255);
            text[i] = c;
        }
        text[len] = '\0';
        ids[L] = -7;
        int n = st2v_tokenize(tok, (const char *)text, ids);
        int ok = n >= 2 && n <= L && ids[0] == 1 && ids[n - 1] == 2 &&
                 ids[L] == -7;
        for (int k = 1; ok && k < n - 1; k++)
            ok = ids[k] >= 3 && ids[k] < V;
        if (!ok) {
            CHECK(0, "trial %d (len %zu): n %d", trial, len, n);
            bad++;
        }
    }
    free(ids);
    st2v_tokenizer_free(tok);
    st2v_model_free(m);
}

/* Pieces sharing long prefixes, and a larger vocabulary, as in the
 * default model: greedy longest match by bytes with backtracking to the
 * last complete piece. */
static void tokenizer_takes_the_longest_piece_by_bytes(void)
{
    static char *pieces[] = {"\xe2\x96\x81" "ab", "\xe2\x96\x81" "abcd",
                             "abc", "c", "d", "\xe2\x96\x81"};
    st2v_config c;
    memset(&c, 0, sizeof(c));
    c.max_length = 32;
    c.n_pieces = 6;
    c.pieces = pieces;
    c.vocab_size = 259 + 6;
    st2v_tokenizer *tok = NULL;
    int rc_new = st2v_tokenizer_new(&tok, &c);
    REQUIRE(rc_new == 0, "tokenizer_new: %d", rc_new);
    int32_t ids[32];
    /* "▁abc": "▁abcd" is not a prefix, "▁ab" is; then "c" */
    int n = st2v_tokenize(tok, "abc", ids);
    CHECK(n == 4 && ids[1] == 259 && ids[2] == 262, "abc: n %d %d %d", n,
          ids[1], ids[2]);
    n = st2v_tokenize(tok, "abcd", ids);
    CHECK(n == 3 && ids[1] == 260, "abcd: n %d %d", n, ids[1]);
    /* "▁xabc": "▁" then byte x then "abc" */
    n = st2v_tokenize(tok, "xabc", ids);
    CHECK(n == 5 && ids[1] == 264 && ids[2] == 3 + 'x' && ids[3] == 261,
          "xabc: n %d %d %d %d", n, ids[1], ids[2], ids[3]);
    st2v_tokenizer_free(tok);

    /* 20000 pieces build and encode quickly */
    enum { N = 20000 };
    char **many = malloc(sizeof(char *) * N);
    for (int i = 0; i < N; i++) {
        many[i] = malloc(16);
        snprintf(many[i], 16, "\xe2\x96\x81w%d", i);
    }
    c.n_pieces = N;
    c.pieces = many;
    c.vocab_size = 259 + N;
    int rc = st2v_tokenizer_new(&tok, &c);
    CHECK(rc == 0, "tokenizer_new with %d pieces: %d", N, rc);
    if (rc == 0) {
        n = st2v_tokenize(tok, "w123 W19999 w20000", ids);
        CHECK(n == 6 && ids[1] == 259 + 123 && ids[2] == 259 + 19999 &&
                  ids[3] == 259 + 2000 && ids[4] == 3 + '0',
              "n %d: %d %d %d %d", n, ids[1], ids[2], ids[3], ids[4]);
        st2v_tokenizer_free(tok);
    }
    for (int i = 0; i < N; i++)
        free(many[i]);
    free(many);
}

int main(void)
{
    RUN(tokenizer_matches_every_golden_case);
    RUN(tokenizer_gives_bos_eos_for_the_empty_prompt);
    RUN(tokenizer_truncates_to_max_length_keeping_eos);
    RUN(tokenizer_never_fails_on_random_bytes);
    RUN(tokenizer_takes_the_longest_piece_by_bytes);
    return tu_summary();
}
