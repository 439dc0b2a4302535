/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test_spm.c - the umT5 tokenizer (core/wan/spm.c) against sentencepiece's
 * own encode() on tiny models trained by train/wan/spm_fixtures.py
 * (tests/fixtures/wan/spm: nmt_nfkc with and without byte fallback, an
 * identity normaliser with whitespace as suffix, one without "▁"
 * escaping, one with unused pieces), Wan's cleaning, EOS and padding, the
 * ComfyUI safetensors carrier, and a loader that refuses hostile bytes without
 * crashing: truncations, random buffers, bit flips, lying lengths, and the
 * models sentencepiece itself refuses.
 */
#include <cjson/cJSON.h>
#include <stdint.h>

#include "test_util.h"
#include "wan/spm.h"

static const char *const MODELS[] = {"nfkc", "nfkc_bytes", "identity",
                                     "noescape", "unused"};

/* ------------------------------------------------------------ helpers */


static uint8_t *read_fixture(const char *name, size_t *n)
{
    char rel[256];
    snprintf(rel, sizeof(rel), "wan/spm/%s", name);
    uint8_t *buf = tu_read_file(tu_fixture(rel), n);
    if (!buf) {
        fprintf(stderr, "  cannot read fixture %s\n", rel);
        tu_current_failed = 1;
    }
    return buf;
}

static spm *load_model(const char *name)
{
    char file[128], err[256] = "";
    snprintf(file, sizeof(file), "%s.model", name);
    size_t n;
    uint8_t *buf = read_fixture(file, &n);
    spm *m = NULL;
    if (buf && spm_load(&m, buf, n, err, sizeof(err)) != 0) {
        fprintf(stderr, "  cannot load %s: %s\n", file, err);
        tu_current_failed = 1;
    }
    free(buf);
    return m;
}

static cJSON *load_cases(void)
{
    size_t n;
    char *text = (char *)read_fixture("cases.json", &n);
    cJSON *j = text ? cJSON_Parse(text) : NULL;
    free(text);
    if (text && !j) {
        fprintf(stderr, "  cases.json is not JSON\n");
        tu_current_failed = 1;
    }
    return j;
}

/* Hex to bytes (malloc'ed, NUL-terminated). */
static char *unhex(const char *hex, size_t *n)
{
    size_t len = strlen(hex) / 2;
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

static void print_ids(const char *what, const int32_t *ids, int n)
{
    fprintf(stderr, "    %s:", what);
    for (int i = 0; i < n && i < 40; i++)
        fprintf(stderr, " %d", ids[i]);
    fprintf(stderr, n > 40 ? " ...\n" : "\n");
}

/* A protobuf writer for hand-made models. */
typedef struct pbw {
    uint8_t buf[4096];
    size_t n;
} pbw;

static void w_varint(pbw *w, uint64_t v)
{
    do {
        uint8_t b = v & 0x7F;
        v >>= 7;
        w->buf[w->n++] = b | (v ? 0x80 : 0);
    } while (v);
}

static void w_bytes(pbw *w, int field, const void *p, size_t n)
{
    w_varint(w, (uint64_t)field << 3 | 2);
    w_varint(w, n);
    memcpy(w->buf + w->n, p, n);
    w->n += n;
}

/* A SentencePiece message appended as ModelProto.pieces. */
static void w_piece(pbw *w, const char *piece, float score, int type)
{
    pbw p = {.n = 0};
    w_bytes(&p, 1, piece, strlen(piece));
    p.buf[p.n++] = 2 << 3 | 5;
    memcpy(p.buf + p.n, &score, 4);
    p.n += 4;
    w_varint(&p, 3 << 3);
    w_varint(&p, (uint64_t)type);
    w_bytes(w, 1, p.buf, p.n);
}

static int load_err(const pbw *w, char *err, size_t errsz)
{
    spm *m = NULL;
    err[0] = 0;
    int rc = spm_load(&m, w->buf, w->n, err, errsz);
    spm_free(m);
    return rc;
}

/* ------------------------------------------------------------ goldens */

static void encode_matches_sentencepiece_on_every_golden_string(void)
{
    cJSON *j = load_cases();
    const cJSON *models = cJSON_GetObjectItemCaseSensitive(j, "models");
    REQUIRE(cJSON_IsObject(models), "cases.json has no models");
    int total = 0, bad = 0, bad_norm = 0;
    for (size_t k = 0; k < sizeof(MODELS) / sizeof(MODELS[0]); k++) {
        spm *m = load_model(MODELS[k]);
        const cJSON *cases =
            cJSON_GetObjectItemCaseSensitive(models, MODELS[k]);
        CHECK(m && cJSON_GetArraySize(cases) > 250, "%s: no model or cases",
              MODELS[k]);
        int32_t ids[4096];
        for (const cJSON *c = m && cases ? cases->child : NULL; c;
             c = c->next) {
            size_t n;
            char *text =
                unhex(cJSON_GetStringValue(cJSON_GetObjectItem(c, "hex")), &n);
            const cJSON *want = cJSON_GetObjectItem(c, "ids");
            int nw = cJSON_GetArraySize(want), got = -1, same;
            int rc = spm_encode(m, text, n, ids, 4096, &got);
            same = rc == 0 && got == nw;
            for (int i = 0; same && i < nw; i++)
                same = ids[i] == cJSON_GetArrayItem(want, i)->valueint;
            if (!same) {
                if (bad++ < 5) {
                    fprintf(stderr, "  %s: case %s: rc %d\n", MODELS[k],
                            cJSON_GetStringValue(cJSON_GetObjectItem(c, "hex")),
                            rc);
                    print_ids("got ", ids, got);
                    int32_t w[4096];
                    for (int i = 0; i < nw && i < 4096; i++)
                        w[i] = cJSON_GetArrayItem(want, i)->valueint;
                    print_ids("want", w, nw);
                }
            }
            const char *norm_hex =
                cJSON_GetStringValue(cJSON_GetObjectItem(c, "norm"));
            if (norm_hex) {
                size_t wn, gn = 0;
                char *wantn = unhex(norm_hex, &wn), *gotn = NULL;
                if (spm_normalize(m, text, n, &gotn, &gn) != 0 || gn != wn ||
                    memcmp(gotn, wantn, wn) != 0) {
                    if (bad_norm++ < 5)
                        fprintf(stderr, "  %s: normalised %s differs: %s\n",
                                MODELS[k], norm_hex, gotn ? gotn : "(null)");
                }
                free(wantn);
                free(gotn);
            }
            free(text);
            total++;
        }
        spm_free(m);
    }
    printf("     golden spm: %d strings over %zu models, %d differ in ids, "
           "%d in normalised text\n",
           total, sizeof(MODELS) / sizeof(MODELS[0]), bad, bad_norm);
    CHECK(total > 1300, "only %d golden strings", total);
    CHECK(bad == 0 && bad_norm == 0, "%d ids / %d normalised differ", bad,
          bad_norm);
    cJSON_Delete(j);
}

static void wan_cleaning_eos_and_padding_match_the_reference(void)
{
    cJSON *j = load_cases();
    const cJSON *wan = cJSON_GetObjectItemCaseSensitive(j, "wan");
    spm *m = load_model("nfkc");
    REQUIRE(m && cJSON_GetArraySize(wan) >= 10, "no wan cases");
    CHECK(spm_eos_id(m) == 1 && spm_pad_id(m) == 0 && spm_unk_id(m) == 2,
          "eos %d pad %d unk %d", spm_eos_id(m), spm_pad_id(m), spm_unk_id(m));
    for (const cJSON *c = wan->child; c; c = c->next) {
        size_t n, cn;
        const char *hex = cJSON_GetStringValue(cJSON_GetObjectItem(c, "hex"));
        char *text = unhex(hex, &n);
        char *want_clean =
            unhex(cJSON_GetStringValue(cJSON_GetObjectItem(c, "clean")), &cn);
        char *clean = NULL;
        CHECK(spm_wan_clean(text, n, &clean) == 0 && clean &&
                  strcmp(clean, want_clean) == 0,
              "clean(%s) = \"%s\", want \"%s\"", hex, clean ? clean : "",
              want_clean);
        int len = cJSON_GetObjectItem(c, "len")->valueint, nt = -1;
        int32_t *ids = malloc(sizeof(int32_t) * (size_t)len);
        CHECK(spm_encode_wan(m, text, ids, len, &nt) == 0, "encode_wan");
        const cJSON *want = cJSON_GetObjectItem(c, "ids");
        int same = cJSON_GetArraySize(want) == len &&
                   nt == cJSON_GetObjectItem(c, "n")->valueint;
        for (int i = 0; same && i < len; i++)
            same = ids[i] == cJSON_GetArrayItem(want, i)->valueint;
        if (!same) {
            CHECK(0, "wan ids of %s differ (n %d)", hex, nt);
            print_ids("got ", ids, len);
        }
        free(ids);
        free(clean);
        free(text);
        free(want_clean);
    }
    spm_free(m);
    cJSON_Delete(j);
}

static void encode_reports_the_full_count_and_writes_at_most_max(void)
{
    spm *m = load_model("nfkc");
    REQUIRE(m, "no model");
    const char *s = "dva zelené čtverce na bílém pozadí";
    int32_t all[256], few[4] = {-7, -7, -7, -7};
    int n_all, n_few, n_none;
    CHECK(spm_encode(m, s, strlen(s), all, 256, &n_all) == 0, "encode");
    CHECK(spm_encode(m, s, strlen(s), few, 3, &n_few) == 0, "encode 3");
    CHECK(spm_encode(m, s, strlen(s), NULL, 0, &n_none) == 0, "encode 0");
    CHECK(n_all > 4 && n_few == n_all && n_none == n_all, "counts %d %d %d",
          n_all, n_few, n_none);
    CHECK(memcmp(all, few, 3 * sizeof(int32_t)) == 0 && few[3] == -7,
          "prefix or overrun");
    int32_t wan[3];
    int nt;
    CHECK(spm_encode_wan(m, s, wan, 3, &nt) == 0 && nt == 3 &&
              wan[0] == all[0] && wan[1] == all[1] && wan[2] == 1,
          "wan truncation keeps len-1 ids and EOS");
    CHECK(spm_encode_wan(m, "", wan, 3, &nt) == 0 && nt == 1 && wan[0] == 1 &&
              wan[1] == 0 && wan[2] == 0,
          "empty prompt is EOS and padding");
    CHECK(spm_encode(NULL, s, 1, all, 1, &n_all) == ST2V_ERR_INVALID_ARG &&
              spm_encode(m, s, 1, NULL, 1, &n_all) == ST2V_ERR_INVALID_ARG &&
              spm_encode_wan(m, s, wan, 0, &nt) == ST2V_ERR_INVALID_ARG,
          "bad arguments");
    size_t len;
    const char *p = spm_piece(m, 1, &len);
    CHECK(p && len == 4 && memcmp(p, "</s>", 4) == 0 &&
              spm_type(m, 1) == SPM_CONTROL && spm_type(m, 2) == SPM_UNKNOWN &&
              spm_piece_id(m, "</s>", 4) == 1 &&
              spm_piece(m, -1, &len) == NULL &&
              spm_piece(m, spm_vocab_size(m), &len) == NULL,
          "accessors");
    spm_free(m);
}

/* ------------------------------------------------------------ ComfyUI */

/* A safetensors file in memory holding `extra` then spiece_model. */
static uint8_t *make_safetensors(const uint8_t *model, size_t n,
                                 const char *dtype, long shape_delta,
                                 long off_delta, size_t *out_n)
{
    char header[512];
    int hl = snprintf(header, sizeof(header),
                      "{\"__metadata__\":{\"format\":\"pt\"},"
                      "\"other\":{\"dtype\":\"F32\",\"shape\":[2],"
                      "\"data_offsets\":[0,8]},"
                      "\"spiece_model\":{\"dtype\":\"%s\",\"shape\":[%ld],"
                      "\"data_offsets\":[8,%ld]}}",
                      dtype, (long)n + shape_delta, 8 + (long)n + off_delta);
    while (hl % 8)
        header[hl++] = ' ';
    *out_n = 8 + (size_t)hl + 8 + n;
    uint8_t *buf = calloc(1, *out_n);
    for (int i = 0; i < 8; i++)
        buf[i] = (uint8_t)((uint64_t)hl >> (8 * i));
    memcpy(buf + 8, header, (size_t)hl);
    memcpy(buf + 8 + hl + 8, model, n);
    return buf;
}

static void loads_the_tokenizer_inside_a_comfy_text_encoder_file(void)
{
    size_t n, sn;
    uint8_t *model = read_fixture("nfkc.model", &n);
    REQUIRE(model, "no model");
    char err[256];
    spm *m = NULL, *ref = load_model("nfkc");
    uint8_t *st = make_safetensors(model, n, "U8", 0, 0, &sn);
    CHECK(spm_load_safetensors(&m, st, sn, err, sizeof(err)) == 0, "%s", err);
    const char *s = "ＡＢＣ，červená 🎈";
    int32_t a[64], b[64];
    int na = 0, nb = -1;
    if (m && ref) {
        spm_encode(m, s, strlen(s), a, 64, &na);
        spm_encode(ref, s, strlen(s), b, 64, &nb);
    }
    CHECK(na == nb && na > 0 && memcmp(a, b, sizeof(int32_t) * (size_t)na) == 0,
          "same ids as the plain file");
    spm_free(m);
    spm_free(ref);
    free(st);

    struct {
        const char *dtype;
        long shape_delta, off_delta;
    } bad[] = {{"F16", 0, 0}, {"U8", 1, 0}, {"U8", 0, 1}, {"U8", 1, 1}};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        st = make_safetensors(model, n, bad[i].dtype, bad[i].shape_delta,
                              bad[i].off_delta, &sn);
        m = NULL;
        err[0] = 0;
        CHECK(spm_load_safetensors(&m, st, sn, err, sizeof(err)) ==
                      ST2V_ERR_FORMAT &&
                  !m && strstr(err, "spiece_model"),
              "bad case %zu accepted: %s", i, err);
        free(st);
    }
    uint8_t tiny[16] = {8,   0,   0,   0,   0,   0,   0,   0,
                        '{', '}', ' ', ' ', ' ', ' ', ' ', ' '};
    CHECK(spm_load_safetensors(&m, tiny, 16, err, sizeof(err)) ==
                  ST2V_ERR_FORMAT &&
              strstr(err, "no tensor spiece_model"),
          "file without a tokenizer: %s", err);
    CHECK(spm_load_safetensors(&m, tiny, 7, err, sizeof(err)) ==
              ST2V_ERR_FORMAT,
          "7-byte file");
    tiny[0] = 200;
    CHECK(spm_load_safetensors(&m, tiny, 16, err, sizeof(err)) ==
              ST2V_ERR_FORMAT,
          "header past the end");
    free(model);
}

/* ------------------------------------------------------------ hostile input */

/* Encode a few strings: with ASan this checks a model that loaded from
 * damaged bytes can be used without reading out of bounds. */
static void exercise(spm *m)
{
    static const char *const s[] = {"",
                                    "  a  b ",
                                    "ＡＢＣ，červená 🎈",
                                    "\xff\xc3 x\xe2\x96\x81",
                                    "<extra_id_0>ŘŘ ab\t\n",
                                    "\xe2\x96\x81\xe2\x96\x81"};
    int32_t ids[512];
    for (size_t i = 0; i < sizeof(s) / sizeof(s[0]); i++) {
        int n = -1;
        int rc = spm_encode(m, s[i], strlen(s[i]), ids, 512, &n);
        CHECK(rc == 0 && n >= 0, "encode after load: rc %d", rc);
        for (int k = 0; k < n && k < 512; k++)
            CHECK(ids[k] >= 0 && ids[k] < spm_vocab_size(m), "id %d", ids[k]);
    }
}

static void loader_survives_every_truncation(void)
{
    for (int k = 0; k < 2; k++) {
        size_t n;
        uint8_t *buf =
            read_fixture(k ? "nfkc_bytes.model" : "identity.model", &n);
        REQUIRE(buf, "no model");
        int ok = 0, refused = 0;
        size_t step = k ? 97 : 1; /* every prefix of the small model */
        for (size_t len = 0; len < n; len += step) {
            uint8_t *cut = malloc(len ? len : 1);
            memcpy(cut, buf, len);
            spm *m = NULL;
            char err[256] = "";
            if (spm_load(&m, cut, len, err, sizeof(err)) == 0) {
                ok++;
                exercise(m);
            } else {
                refused++;
                CHECK(err[0] && !strchr(err, '\n') && !m, "message: %s", err);
            }
            spm_free(m);
            free(cut);
        }
        CHECK(refused > 0, "no truncation refused");
        printf("     truncations of %s: %d refused, %d loaded\n",
               k ? "nfkc_bytes" : "identity", refused, ok);
        free(buf);
    }
}

static uint32_t xorshift(uint32_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 17;
    *s ^= *s << 5;
    return *s;
}

static void loader_refuses_random_bytes(void)
{
    uint32_t seed = 12345;
    int ok = 0;
    for (int i = 0; i < 20000; i++) {
        uint8_t buf[256];
        size_t n = xorshift(&seed) % sizeof(buf);
        for (size_t k = 0; k < n; k++)
            buf[k] = (uint8_t)xorshift(&seed);
        spm *m = NULL;
        char err[256] = "";
        if (spm_load(&m, buf, n, err, sizeof(err)) == 0) {
            ok++;
            exercise(m);
        } else {
            CHECK(err[0] != 0 && !m, "no message for random bytes");
        }
        spm_free(m);
    }
    CHECK(ok == 0, "%d random buffers loaded", ok);
}

static void loader_survives_bit_flips_and_the_charsmap_stays_in_bounds(void)
{
    uint32_t seed = 777;
    for (int k = 0; k < 3; k++) {
        size_t n;
        uint8_t *buf = read_fixture(k == 0   ? "identity.model"
                                    : k == 1 ? "nfkc.model"
                                             : "nfkc_bytes.model",
                                    &n);
        REQUIRE(buf, "no model");
        int ok = 0, iters = k == 0 ? 3000 : 300;
        for (int i = 0; i < iters; i++) {
            uint8_t *copy = malloc(n);
            memcpy(copy, buf, n);
            int flips = 1 + (int)(xorshift(&seed) % 8);
            for (int f = 0; f < flips; f++) {
                size_t at = xorshift(&seed) % n;
                /* for the big models, mostly hit the charsmap (the tail) */
                if (k && (xorshift(&seed) & 1))
                    at = n - 1 - xorshift(&seed) % (n * 9 / 10);
                copy[at] ^= (uint8_t)(1u << (xorshift(&seed) % 8));
            }
            spm *m = NULL;
            char err[256];
            if (spm_load(&m, copy, n, err, sizeof(err)) == 0) {
                ok++;
                exercise(m);
            }
            spm_free(m);
            free(copy);
        }
        CHECK(ok > 0, "no flipped model loaded (nothing exercised)");
        free(buf);
    }
}

static void loader_refuses_lying_lengths_and_bad_wire_types(void)
{
    char err[256];
    pbw w = {.n = 0};
    /* a piece whose length runs past the end */
    w.buf[w.n++] = 1 << 3 | 2;
    w_varint(&w, 0xFFFFFFFFull);
    w.buf[w.n++] = 'a';
    CHECK(load_err(&w, err, sizeof(err)) == ST2V_ERR_FORMAT &&
              strstr(err, "malformed"),
          "length past the end: %s", err);
    /* a length of 2^63 */
    w.n = 0;
    w.buf[w.n++] = 1 << 3 | 2;
    w_varint(&w, 1ull << 63);
    CHECK(load_err(&w, err, sizeof(err)) == ST2V_ERR_FORMAT, "2^63 length");
    /* an 11-byte varint */
    w.n = 0;
    w.buf[w.n++] = 2 << 3;
    for (int i = 0; i < 10; i++)
        w.buf[w.n++] = 0xFF;
    w.buf[w.n++] = 0x01;
    CHECK(load_err(&w, err, sizeof(err)) == ST2V_ERR_FORMAT, "long varint");
    /* a truncated varint, field 0, a group, wire type 7 */
    const uint8_t bad[][3] = {
        {0x08, 0x80, 0}, {0x00, 0x01, 0}, {0x0B, 0x0C, 0}, {0x0F, 0x00, 0}};
    const size_t bad_n[] = {2, 2, 2, 2};
    for (size_t i = 0; i < 4; i++) {
        w.n = bad_n[i];
        memcpy(w.buf, bad[i], bad_n[i]);
        CHECK(load_err(&w, err, sizeof(err)) == ST2V_ERR_FORMAT, "case %zu", i);
    }
    /* a piece message whose inner length lies (outer length is right) */
    w.n = 0;
    uint8_t inner[] = {1 << 3 | 2, 50, 'a', 'b'};
    w_bytes(&w, 1, inner, sizeof(inner));
    CHECK(load_err(&w, err, sizeof(err)) == ST2V_ERR_FORMAT &&
              strstr(err, "piece 0"),
          "inner lie: %s", err);
    /* a normalizer_spec whose charsmap says its trie is larger than it */
    w.n = 0;
    w_piece(&w, "<unk>", 0, SPM_UNKNOWN);
    w_piece(&w, "a", -1, SPM_NORMAL);
    uint8_t cm[] = {0xFF, 0xFF, 0, 0, 1, 2, 3, 4};
    pbw ns = {.n = 0};
    w_bytes(&ns, 2, cm, sizeof(cm));
    w_bytes(&w, 3, ns.buf, ns.n);
    CHECK(load_err(&w, err, sizeof(err)) == ST2V_ERR_FORMAT &&
              strstr(err, "charsmap"),
          "charsmap lie: %s", err);
}

static void loader_refuses_what_sentencepiece_refuses(void)
{
    char err[256];
    pbw w = {.n = 0};
    w_piece(&w, "a", -1, SPM_NORMAL);
    CHECK(load_err(&w, err, sizeof(err)) == ST2V_ERR_FORMAT &&
              strstr(err, "unknown piece"),
          "no unk: %s", err);
    w_piece(&w, "<unk>", 0, SPM_UNKNOWN);
    spm *m = NULL;
    CHECK(spm_load(&m, w.buf, w.n, err, sizeof(err)) == 0, "minimal: %s", err);
    if (m) {
        int32_t ids[8];
        int n;
        /* "▁" is not a piece, "a" is, "b" is not: ▁ and b are unknowns */
        CHECK(spm_encode(m, "ab", 2, ids, 8, &n) == 0 && n == 3 &&
                  ids[0] == 1 && ids[1] == 0 && ids[2] == 1,
              "minimal model: n %d", n);
        CHECK(spm_eos_id(m) == -1 &&
                  spm_encode_wan(m, "a", ids, 4, &n) == ST2V_ERR_FORMAT,
              "no </s>: Wan cannot encode");
    }
    spm_free(m);
    pbw d = w;
    w_piece(&d, "a", -2, SPM_USER_DEFINED);
    CHECK(load_err(&d, err, sizeof(err)) == ST2V_ERR_FORMAT &&
              strstr(err, "twice"),
          "duplicate: %s", err);
    d = w;
    w_piece(&d, "<unk>", 0, SPM_CONTROL);
    CHECK(load_err(&d, err, sizeof(err)) == ST2V_ERR_FORMAT, "dup reserved");
    d = w;
    w_piece(&d, "<unk2>", 0, SPM_UNKNOWN);
    CHECK(load_err(&d, err, sizeof(err)) == ST2V_ERR_FORMAT, "two unks");
    d = w;
    w_piece(&d, "", 0, SPM_NORMAL);
    CHECK(load_err(&d, err, sizeof(err)) == ST2V_ERR_FORMAT &&
              strstr(err, "empty"),
          "empty piece: %s", err);
    d = w;
    w_piece(&d, "<0x41>", 0, SPM_BYTE);
    CHECK(load_err(&d, err, sizeof(err)) == ST2V_ERR_FORMAT &&
              strstr(err, "byte"),
          "byte piece without byte_fallback: %s", err);
    d = w;
    pbw ts = {.n = 0};
    w_varint(&ts, 35 << 3);
    w_varint(&ts, 1);
    w_bytes(&d, 2, ts.buf, ts.n);
    CHECK(load_err(&d, err, sizeof(err)) == ST2V_ERR_FORMAT &&
              strstr(err, "<0x00>"),
          "byte_fallback without bytes: %s", err);
    d = w;
    ts.n = 0;
    w_varint(&ts, 3 << 3);
    w_varint(&ts, 2);
    w_bytes(&d, 2, ts.buf, ts.n);
    CHECK(load_err(&d, err, sizeof(err)) == ST2V_ERR_UNSUPPORTED &&
              strstr(err, "BPE"),
          "BPE: %s", err);
    d.n = 0;
    w_piece(&d, "<unk>", 0, SPM_UNKNOWN);
    w_piece(&d, "<s>", 0, SPM_CONTROL);
    CHECK(load_err(&d, err, sizeof(err)) == ST2V_ERR_FORMAT &&
              strstr(err, "no normal"),
          "no normal pieces: %s", err);
    CHECK(spm_load(&m, "", 0, err, sizeof(err)) == ST2V_ERR_FORMAT &&
              spm_load(NULL, "x", 1, err, sizeof(err)) == ST2V_ERR_INVALID_ARG,
          "empty buffer / no out");
}

int main(void)
{
    RUN(encode_matches_sentencepiece_on_every_golden_string);
    RUN(wan_cleaning_eos_and_padding_match_the_reference);
    RUN(encode_reports_the_full_count_and_writes_at_most_max);
    RUN(loads_the_tokenizer_inside_a_comfy_text_encoder_file);
    RUN(loader_survives_every_truncation);
    RUN(loader_refuses_random_bytes);
    RUN(loader_survives_bit_flips_and_the_charsmap_stays_in_bounds);
    RUN(loader_refuses_lying_lengths_and_bad_wire_types);
    RUN(loader_refuses_what_sentencepiece_refuses);
    return tu_summary();
}
