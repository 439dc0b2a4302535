/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test_spm_json.c - the umT5 tokenizer read from Hugging Face's
 * tokenizer.json (core/wan/spm_json.c) against the same model read from
 * spiece.model: tests/fixtures/wan/spm/{nfkc,nfkc_bytes}.json are written
 * from the .model files by train/wan/tokenizer_json.py as HF's converter
 * writes them. Every golden string of cases.json must give sentencepiece's
 * ids from either file, the Wan cases the same padded ids, and the
 * vocabularies must agree piece for piece. Then the loader trusts nothing:
 * each field it reads, broken one at a time, is refused with one line
 * naming it; truncations and bit flips never read out of bounds (ASan).
 */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test_util.h"
#include "wan/spm.h"

static const char *const MODELS[] = {"nfkc", "nfkc_bytes"};

/* ------------------------------------------------------------ helpers */

static char *read_fixture(const char *name, size_t *n)
{
    char rel[256];
    snprintf(rel, sizeof(rel), "wan/spm/%s", name);
    FILE *fp = fopen(tu_fixture(rel), "rb");
    char *buf = NULL;
    long len = -1;
    if (fp) {
        fseek(fp, 0, SEEK_END);
        len = ftell(fp);
        fseek(fp, 0, SEEK_SET);
        buf = len >= 0 ? malloc((size_t)len + 1) : NULL;
        if (buf && fread(buf, 1, (size_t)len, fp) != (size_t)len) {
            free(buf);
            buf = NULL;
        }
        fclose(fp);
    }
    if (!buf) {
        fprintf(stderr, "  cannot read fixture %s\n", rel);
        tu_current_failed = 1;
        return NULL;
    }
    buf[len] = 0;
    *n = (size_t)len;
    return buf;
}

/* Model `name` from name.model (json 0) or name.json (json 1). */
static spm *load(const char *name, int json)
{
    char file[128], err[256] = "";
    snprintf(file, sizeof(file), "%s.%s", name, json ? "json" : "model");
    size_t n;
    char *buf = read_fixture(file, &n);
    spm *m = NULL;
    int rc = !buf ? -1
             : json ? spm_load_hf_json(&m, buf, n, err, sizeof(err))
                    : spm_load(&m, buf, n, err, sizeof(err));
    if (buf && rc) {
        fprintf(stderr, "  cannot load %s: %s\n", file, err);
        tu_current_failed = 1;
    }
    free(buf);
    return m;
}

static char *unhex(const char *hex, size_t *n)
{
    size_t len = hex ? strlen(hex) / 2 : 0;
    char *out = malloc(len + 1);
    for (size_t i = 0; out && i < len; i++) {
        unsigned v;
        sscanf(hex + 2 * i, "%2x", &v);
        out[i] = (char)v;
    }
    if (out)
        out[len] = 0;
    *n = len;
    return out;
}

/* Encode a few strings: with ASan this checks a model loaded from damaged
 * bytes can be used. */
static void exercise(const spm *m)
{
    static const char *const s[] = {"", " a  b ", "ＡＢＣ，červená 🎈",
                                    "<sep> ab ŘŘ <0x41>", "\xff\xfe x"};
    int32_t ids[256];
    int n;
    for (size_t i = 0; i < sizeof(s) / sizeof(s[0]); i++)
        spm_encode(m, s[i], strlen(s[i]), ids, 256, &n);
}

/* -------------------------------------------------------------- tests */

static void tokenizer_json_gives_the_vocabulary_of_spiece_model(void)
{
    for (size_t k = 0; k < sizeof(MODELS) / sizeof(MODELS[0]); k++) {
        spm *a = load(MODELS[k], 0), *b = load(MODELS[k], 1);
        REQUIRE(a && b, "%s: both files load", MODELS[k]);
        int same = spm_vocab_size(a) == spm_vocab_size(b) &&
                   spm_unk_id(a) == spm_unk_id(b) &&
                   spm_eos_id(a) == spm_eos_id(b) &&
                   spm_pad_id(a) == spm_pad_id(b);
        int first_bad = -1;
        for (int i = 0; same && i < spm_vocab_size(a); i++) {
            size_t la, lb;
            const char *pa = spm_piece(a, i, &la), *pb = spm_piece(b, i, &lb);
            float sa = spm_score(a, i), sb = spm_score(b, i);
            same = la == lb && memcmp(pa, pb, la) == 0 &&
                   spm_type(a, i) == spm_type(b, i) &&
                   memcmp(&sa, &sb, sizeof(sa)) == 0;
            if (!same)
                first_bad = i;
        }
        CHECK(same, "%s: vocabularies differ (piece %d, types %d/%d)",
              MODELS[k], first_bad,
              first_bad >= 0 ? (int)spm_type(a, first_bad) : 0,
              first_bad >= 0 ? (int)spm_type(b, first_bad) : 0);
        spm_free(a);
        spm_free(b);
    }
}

static void tokenizer_json_gives_sentencepiece_ids_on_every_golden_string(void)
{
    size_t n;
    char *text = read_fixture("cases.json", &n);
    cJSON *j = text ? cJSON_Parse(text) : NULL;
    free(text);
    const cJSON *models = cJSON_GetObjectItemCaseSensitive(j, "models");
    REQUIRE(cJSON_IsObject(models), "cases.json has no models");
    int total = 0, bad = 0;
    for (size_t k = 0; k < sizeof(MODELS) / sizeof(MODELS[0]); k++) {
        spm *m = load(MODELS[k], 1);
        const cJSON *cases = cJSON_GetObjectItemCaseSensitive(models, MODELS[k]);
        CHECK(m && cJSON_GetArraySize(cases) > 250, "%s: no model or cases",
              MODELS[k]);
        int32_t ids[4096];
        for (const cJSON *c = m && cases ? cases->child : NULL; c;
             c = c->next) {
            size_t tn;
            char *t =
                unhex(cJSON_GetStringValue(cJSON_GetObjectItem(c, "hex")), &tn);
            const cJSON *want = cJSON_GetObjectItem(c, "ids");
            int nw = cJSON_GetArraySize(want), got = -1;
            int same = spm_encode(m, t, tn, ids, 4096, &got) == 0 && got == nw;
            for (int i = 0; same && i < nw; i++)
                same = ids[i] == cJSON_GetArrayItem(want, i)->valueint;
            if (!same && bad++ < 5)
                fprintf(stderr, "  %s: case %s differs\n", MODELS[k],
                        cJSON_GetStringValue(cJSON_GetObjectItem(c, "hex")));
            free(t);
            total++;
        }
        spm_free(m);
    }
    /* Wan's cleaning, EOS and padding on top */
    spm *m = load("nfkc", 1);
    int wan = 0;
    const cJSON *w = cJSON_GetObjectItemCaseSensitive(j, "wan");
    for (const cJSON *c = m && w ? w->child : NULL; c; c = c->next, wan++) {
        size_t tn;
        char *t = unhex(cJSON_GetStringValue(cJSON_GetObjectItem(c, "hex")),
                        &tn);
        const cJSON *want = cJSON_GetObjectItem(c, "ids");
        const int len = cJSON_GetArraySize(want);
        int32_t ids[1024];
        int nt = -1;
        int same = len <= 1024 && strlen(t) == tn &&
                   spm_encode_wan(m, t, ids, len, &nt) == 0 &&
                   nt == cJSON_GetObjectItem(c, "n")->valueint;
        for (int i = 0; same && i < len; i++)
            same = ids[i] == cJSON_GetArrayItem(want, i)->valueint;
        if (!same && strlen(t) == tn && bad++ < 5)
            fprintf(stderr, "  wan case %d differs\n", wan);
        free(t);
    }
    spm_free(m);
    printf("     golden spm from tokenizer.json: %d strings over %zu models "
           "and %d Wan cases, %d differ\n",
           total, sizeof(MODELS) / sizeof(MODELS[0]), wan, bad);
    CHECK(total > 500 && wan >= 10, "only %d strings, %d Wan cases", total,
          wan);
    CHECK(bad == 0, "%d differ", bad);
    cJSON_Delete(j);
}

/* A fixture parsed, for breaking one field at a time. */
static cJSON *named_json(const char *name)
{
    size_t n;
    char *text = read_fixture(name, &n);
    cJSON *j = text ? cJSON_Parse(text) : NULL;
    free(text);
    return j;
}

static cJSON *fixture_json(void)
{
    size_t n;
    char *text = read_fixture("nfkc_bytes.json", &n);
    cJSON *j = text ? cJSON_Parse(text) : NULL;
    free(text);
    return j;
}

/* j printed and loaded must be refused, with one line holding `want`. */
static void expect_refused(cJSON *j, const char *what, const char *want)
{
    char *text = cJSON_PrintUnformatted(j);
    REQUIRE(text, "print");
    spm *m = NULL;
    char err[256] = "";
    int rc = spm_load_hf_json(&m, text, strlen(text), err, sizeof(err));
    CHECK(rc != 0 && !m && strncmp(err, "tokenizer.json: ", 16) == 0 &&
              !strchr(err, '\n') && strstr(err, want),
          "%s: rc %d, \"%s\" (want \"%s\")", what, rc, err, want);
    spm_free(m);
    free(text);
    cJSON_Delete(j);
}

#define GET(o, k) cJSON_GetObjectItemCaseSensitive((o), (k))
#define SET(o, k, v) cJSON_ReplaceItemInObjectCaseSensitive((o), (k), (v))

static void tokenizer_json_loader_refuses_each_broken_field(void)
{
    cJSON *j;
    REQUIRE((j = fixture_json()), "fixture");
    cJSON_Delete(j);

    j = fixture_json();
    SET(GET(j, "model"), "type", cJSON_CreateString("BPE"));
    expect_refused(j, "BPE", "model type BPE, only Unigram");
    j = fixture_json();
    cJSON_DeleteItemFromObjectCaseSensitive(j, "model");
    expect_refused(j, "no model", "no model");
    j = fixture_json();
    SET(GET(j, "model"), "unk_id", cJSON_CreateNumber(1e9));
    expect_refused(j, "unk_id", "unk_id");
    j = fixture_json();
    SET(GET(j, "model"), "unk_id", cJSON_CreateNull());
    expect_refused(j, "unk_id null", "unk_id");
    j = fixture_json();
    SET(GET(j, "model"), "vocab", cJSON_CreateArray());
    expect_refused(j, "empty vocab", "vocab");
    j = fixture_json();
    cJSON_ReplaceItemInArray(GET(GET(j, "model"), "vocab"), 400,
                             cJSON_CreateString("x"));
    expect_refused(j, "vocab entry", "model.vocab[400]");
    j = fixture_json();
    cJSON_ReplaceItemInArray(cJSON_GetArrayItem(GET(GET(j, "model"), "vocab"),
                                                9),
                             1, cJSON_CreateString("-1.5"));
    expect_refused(j, "score as a string", "model.vocab[9]");
    j = fixture_json();
    cJSON_ReplaceItemInArray(cJSON_GetArrayItem(GET(GET(j, "model"), "vocab"),
                                                9),
                             1, cJSON_CreateNumber(1e300));
    expect_refused(j, "score out of float range", "model.vocab[9]");
    j = fixture_json();
    SET(cJSON_GetArrayItem(GET(j, "added_tokens"), 1), "content",
        cJSON_CreateString("<s>"));
    expect_refused(j, "added token content", "added token 1");
    j = fixture_json();
    SET(cJSON_GetArrayItem(GET(j, "added_tokens"), 0), "id",
        cJSON_CreateNumber(-1));
    expect_refused(j, "added token id", "added token 0");
    j = fixture_json();
    SET(cJSON_GetArrayItem(GET(GET(j, "normalizer"), "normalizers"), 0),
        "precompiled_charsmap", cJSON_CreateString("AAA*"));
    expect_refused(j, "base64", "not base64");
    j = fixture_json();
    SET(cJSON_GetArrayItem(GET(GET(j, "normalizer"), "normalizers"), 0),
        "precompiled_charsmap", cJSON_CreateString("/////wAA"));
    expect_refused(j, "charsmap", "precompiled_charsmap");
    j = fixture_json();
    cJSON_AddItemToArray(GET(GET(j, "normalizer"), "normalizers"),
                         cJSON_Parse("{\"type\":\"Lowercase\"}"));
    expect_refused(j, "Lowercase", "normalizer Lowercase is not supported");
    j = fixture_json();
    SET(cJSON_GetArrayItem(GET(GET(j, "normalizer"), "normalizers"), 1),
        "content", cJSON_CreateString("-"));
    expect_refused(j, "Replace", "Replace");
    j = fixture_json();
    SET(j, "pre_tokenizer", cJSON_CreateNull());
    expect_refused(j, "no pre_tokenizer", "Metaspace");
    j = fixture_json();
    SET(j, "pre_tokenizer", cJSON_Parse("{\"type\":\"ByteLevel\"}"));
    expect_refused(j, "ByteLevel", "ByteLevel");
    j = fixture_json();
    SET(GET(j, "pre_tokenizer"), "replacement", cJSON_CreateString("_"));
    expect_refused(j, "replacement", "replacement");
    j = fixture_json();
    SET(GET(j, "pre_tokenizer"), "prepend_scheme", cJSON_CreateString("x"));
    expect_refused(j, "prepend_scheme", "prepend_scheme");
    j = named_json("nfkc.json");
    REQUIRE(j, "nfkc.json");
    SET(GET(j, "model"), "byte_fallback", cJSON_CreateTrue());
    expect_refused(j, "byte_fallback without byte pieces",
                   "without the byte piece");
    j = fixture_json();
    const cJSON *vocab = GET(GET(j, "model"), "vocab");
    const char *twin = cJSON_GetStringValue(
        cJSON_GetArrayItem(cJSON_GetArrayItem(vocab, 401), 0));
    REQUIRE(twin, "vocab[401]");
    cJSON_ReplaceItemInArray(cJSON_GetArrayItem(vocab, 400), 0,
                             cJSON_CreateString(twin));
    expect_refused(j, "a duplicate piece", "defined twice");

    spm *m = NULL;
    char err[256] = "";
    CHECK(spm_load_hf_json(&m, "[1, 2]", 6, err, sizeof(err)) ==
                  ST2V_ERR_FORMAT &&
              !m && strstr(err, "not a JSON object"),
          "array: %s", err);
    CHECK(spm_load_hf_json(&m, "{\"model\":", 9, err, sizeof(err)) != 0 &&
              !m,
          "cut JSON: %s", err);
}

static uint32_t xorshift(uint32_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 17;
    *s ^= *s << 5;
    return *s;
}

static void tokenizer_json_loader_survives_truncations_and_bit_flips(void)
{
    size_t n;
    char *buf = read_fixture("nfkc_bytes.json", &n);
    REQUIRE(buf, "fixture");
    char *copy = malloc(n + 1);
    REQUIRE(copy, "alloc");
    int refused = 0, loaded = 0, bad_msg = 0;
    uint32_t seed = 20;
    for (int t = 0; t < 300; t++) {
        size_t len = t < 150 ? (size_t)t * (n / 150) : n;
        memcpy(copy, buf, n);
        if (t >= 150) /* flip 1 to 8 bits anywhere */
            for (int f = (int)(xorshift(&seed) % 8); f >= 0; f--)
                copy[xorshift(&seed) % n] ^= (char)(1u << (xorshift(&seed) % 8));
        spm *m = NULL;
        char err[256] = "";
        if (spm_load_hf_json(&m, copy, len, err, sizeof(err)) == 0) {
            loaded++;
            exercise(m);
        } else {
            refused++;
            bad_msg += !err[0] || strchr(err, '\n') || m;
        }
        spm_free(m);
    }
    printf("     truncated and bit-flipped tokenizer.json: %d refused, %d "
           "loaded\n",
           refused, loaded);
    CHECK(refused >= 150 && bad_msg == 0, "%d refused, %d bad messages",
          refused, bad_msg);
    free(copy);
    free(buf);
}

int main(void)
{
    RUN(tokenizer_json_gives_the_vocabulary_of_spiece_model);
    RUN(tokenizer_json_gives_sentencepiece_ids_on_every_golden_string);
    RUN(tokenizer_json_loader_refuses_each_broken_field);
    RUN(tokenizer_json_loader_survives_truncations_and_bit_flips);
    return tu_summary();
}
