/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test_umt5.c - the umT5 encoder of Wan (core/wan/umt5.c) against the
 * PyTorch reference train/wan/umt5.py: tests/fixtures/wan/umt5 holds two
 * tiny configs ("a": 4 heads of 10 on a width of 48, 32 buckets to 128;
 * "b": 5 heads of 8 on 40, 16 buckets to 20) in F32, BF16 and mixed
 * F16/BF16/F32 weights, and golden.safetensors with padded batches of
 * prompts and their zero-padded rows, computed in float64 from the weights
 * exactly as stored (so BF16 files get the same 1e-4 tolerance). Also: the
 * position buckets, independence from the thread count, and the refusal of
 * missing or misshapen tensors and of bad ids.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pool.h"
#include "hashed.h"
#include "test_util.h"
#include "wan/umt5.h"
#include "wtensor.h"

/* The BF16 path's tolerance (wan_umt5_use_bf16: activations rounded to
 * bfloat16, products summed in float32) on the golden rows: max |got -
 * want| / max |want|. Twice the DiT's (test_wan_dit.c): T5's unscaled
 * attention logits and un-normalised residual stream carry the rounding
 * further (measured: a_bf16 1.1e-2, b_mixed 3.8e-3, one full-width block
 * 4.4e-3). Wan's own umT5 runs in bfloat16 throughout. */
#define BF16_TOL 2e-2

static const wan_umt5_config CFG_A = {.vocab = 300, .dim = 48, .heads = 4,
                                      .head_dim = 10, .ffn = 120,
                                      .layers = 2, .buckets = 32,
                                      .max_dist = 128};
static const wan_umt5_config CFG_B = {.vocab = 97, .dim = 40, .heads = 5,
                                      .head_dim = 8, .ffn = 72, .layers = 3,
                                      .buckets = 16, .max_dist = 20};

static int same_config(const wan_umt5_config *a, const wan_umt5_config *b)
{
    return a->vocab == b->vocab && a->dim == b->dim &&
           a->heads == b->heads && a->head_dim == b->head_dim &&
           a->ffn == b->ffn && a->layers == b->layers &&
           a->buckets == b->buckets && a->max_dist == b->max_dist;
}

/* ------------------------------------------------- a safetensors writer */

/* Hugging Face's UMT5 name of official name `name` (layout 1), with the
 * embedding as encoder.embed_tokens.weight for layout 2. */
static void hf_name(char *out, size_t size, const char *name, int layout)
{
    static const char *map[][2] = {
        {"norm1.weight", "layer.0.layer_norm.weight"},
        {"attn.q.weight", "layer.0.SelfAttention.q.weight"},
        {"attn.k.weight", "layer.0.SelfAttention.k.weight"},
        {"attn.v.weight", "layer.0.SelfAttention.v.weight"},
        {"attn.o.weight", "layer.0.SelfAttention.o.weight"},
        {"pos_embedding.embedding.weight",
         "layer.0.SelfAttention.relative_attention_bias.weight"},
        {"norm2.weight", "layer.1.layer_norm.weight"},
        {"ffn.gate.0.weight", "layer.1.DenseReluDense.wi_0.weight"},
        {"ffn.fc1.weight", "layer.1.DenseReluDense.wi_1.weight"},
        {"ffn.fc2.weight", "layer.1.DenseReluDense.wo.weight"},
    };
    int l = 0, used = 0;
    snprintf(out, size, "%s", name);
    if (strcmp(name, "token_embedding.weight") == 0)
        snprintf(out, size, "%s",
                 layout == 2 ? "encoder.embed_tokens.weight" : "shared.weight");
    else if (strcmp(name, "norm.weight") == 0)
        snprintf(out, size, "encoder.final_layer_norm.weight");
    else if (sscanf(name, "blocks.%d.%n", &l, &used) == 1 && used > 0)
        for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
            if (strcmp(name + used, map[i][0]) == 0)
                snprintf(out, size, "encoder.block.%d.%s", l, map[i][1]);
}

/* A copy of f as a safetensors image in memory, with tensor `drop` left
 * out, the two dimensions of 2-D tensor `transpose` swapped (same bytes),
 * every name in layout `layout` (0 official, 1 and 2 Hugging Face's, see
 * hf_name) and prefixed with `prefix`. Returns a malloc'ed buffer. */
static uint8_t *rebuild(const st_file *f, const char *drop,
                        const char *transpose, const char *prefix, int layout,
                        size_t *size)
{
    size_t hcap = 256 + (size_t)f->n_tensors * 512, hn = 0, data = 0;
    char *h = malloc(hcap);
    if (!h)
        return NULL;
    hn += (size_t)snprintf(h + hn, hcap - hn, "{");
    for (int i = 0; i < f->n_tensors; i++) {
        const st_tensor *t = &f->tensors[i];
        if (drop && strcmp(t->name, drop) == 0)
            continue;
        int64_t s0 = t->shape[0], s1 = t->ndim > 1 ? t->shape[1] : 0;
        if (transpose && strcmp(t->name, transpose) == 0) {
            int64_t tmp = s0;
            s0 = s1;
            s1 = tmp;
        }
        size_t nb = (size_t)t->numel * st_dtype_size(t->dtype);
        char name[ST_MAX_NAME];
        if (layout)
            hf_name(name, sizeof(name), t->name, layout);
        else
            snprintf(name, sizeof(name), "%s", t->name);
        hn += (size_t)snprintf(h + hn, hcap - hn, "%s\"%s%s\":{\"dtype\":\"%s\",\"shape\":[%lld",
                               hn > 1 ? "," : "", prefix ? prefix : "",
                               name, st_dtype_name(t->dtype),
                               (long long)s0);
        if (t->ndim > 1)
            hn += (size_t)snprintf(h + hn, hcap - hn, ",%lld", (long long)s1);
        hn += (size_t)snprintf(h + hn, hcap - hn,
                               "],\"data_offsets\":[%zu,%zu]}", data,
                               data + nb);
        data += nb;
    }
    hn += (size_t)snprintf(h + hn, hcap - hn, "}");
    while (hn % 8)
        h[hn++] = ' ';
    uint8_t *buf = malloc(8 + hn + data);
    if (!buf) {
        free(h);
        return NULL;
    }
    for (int i = 0; i < 8; i++)
        buf[i] = (uint8_t)((uint64_t)hn >> (8 * i));
    memcpy(buf + 8, h, hn);
    free(h);
    uint8_t *p = buf + 8 + hn;
    for (int i = 0; i < f->n_tensors; i++) {
        const st_tensor *t = &f->tensors[i];
        if (drop && strcmp(t->name, drop) == 0)
            continue;
        size_t nb = (size_t)t->numel * st_dtype_size(t->dtype);
        memcpy(p, t->data, nb);
        p += nb;
    }
    *size = 8 + hn + data;
    return buf;
}

/* ------------------------------------------------------------ helpers */

/* Open fixture wan/umt5/<name>.safetensors. */
static int open_weights(st_file *f, const char *name)
{
    char path[128];
    snprintf(path, sizeof(path), "wan/umt5/%s.safetensors", name);
    return tu_open(f, path);
}

/* Encode every prompt of golden case `name` with m into (B, L, dim) rows
 * zero-padded as the DiT reads them, and compare with the golden. */
static void check_case(const wan_umt5 *m, const st_file *g, const char *name,
                       st2v_pool *pool, int bf16)
{
    char key[96];
    const st_tensor *ti, *to;
    snprintf(key, sizeof(key), "%s.ids", name);
    REQUIRE((ti = st_find(g, key)) && ti->ndim == 2, "%s", key);
    snprintf(key, sizeof(key), "%s.out", name);
    const int B = (int)ti->shape[0], L = (int)ti->shape[1];
    const int D = wan_umt5_get_config(m)->dim;
    REQUIRE((to = st_find(g, key)) && to->ndim == 3 && to->shape[0] == B &&
                to->shape[1] == L && to->shape[2] == D,
            "%s shape", key);
    snprintf(key, sizeof(key), "%s.ids", name);
    float *ids_f = tu_tensor(g, key, NULL);
    snprintf(key, sizeof(key), "%s.lens", name);
    float *lens = tu_tensor(g, key, NULL);
    snprintf(key, sizeof(key), "%s.out", name);
    float *want = tu_tensor(g, key, NULL);
    float *got = calloc((size_t)B * L * D, sizeof(float));
    int32_t *ids = malloc((size_t)L * sizeof(int32_t));
    if (ids_f && lens && want && got && ids) {
        for (int b = 0; b < B; b++) {
            const int n = (int)lens[b];
            for (int i = 0; i < n; i++)
                ids[i] = (int32_t)ids_f[(size_t)b * L + i];
            CHECK(wan_umt5_context(m, pool, ids, n, L,
                                   got + (size_t)b * L * D) == 0,
                  "%s prompt %d", name, b);
        }
        snprintf(key, sizeof(key), "umt5 %s%s", name, bf16 ? ", bf16" : "");
        if (bf16) {
            const double e = tu_max_rel_err(got, want, (size_t)B * L * D);
            printf("     golden %-28s max rel err %.3g\n", key, e);
            CHECK(e <= BF16_TOL, "%s: %.3g", key, e);
        } else {
            CHECK_GOLDEN(key, got, want, (size_t)B * L * D);
        }
    }
    free(ids_f);
    free(lens);
    free(want);
    free(got);
    free(ids);
}

/* Load weights `name` with config cfg (checking that the shapes give the
 * same config) and run its golden case; bf16: on the BF16 path
 * (wan_umt5_use_bf16), within BF16_TOL where it runs. */
static void golden_case_in(const char *name, const wan_umt5_config *cfg,
                           int bf16)
{
    st_file f, g;
    if (open_weights(&f, name) != 0)
        return;
    if (tu_open(&g, "wan/umt5/golden.safetensors") != 0) {
        st_close(&f);
        return;
    }
    char err[512] = "";
    wan_umt5_config from_file;
    CHECK(wan_umt5_config_from_file(&from_file, &f, NULL, err,
                                    sizeof(err)) == 0,
          "config of %s: %s", name, err);
    from_file.max_dist = cfg->max_dist; /* no tensor carries it */
    CHECK(same_config(&from_file, cfg), "config from %s's shapes", name);
    wan_umt5 *m = NULL;
    CHECK(wan_umt5_load(&m, &f, NULL, cfg, err, sizeof(err)) == 0,
          "load %s: %s", name, err);
    if (m && bf16 && !wan_umt5_use_bf16(m, 1)) {
        printf("     (%s: no BF16 path here, float32)\n", name);
        bf16 = 0;
    }
    if (m)
        check_case(m, &g, name, NULL, bf16);
    wan_umt5_free(m);
    st_close(&g);
    st_close(&f);
}

static void golden_case(const char *name, const wan_umt5_config *cfg)
{
    golden_case_in(name, cfg, 0);
}

/* -------------------------------------------------------------- tests */

static void umt5_buckets_match_the_reference_tables(void)
{
    st_file g;
    if (tu_open(&g, "wan/umt5/golden.safetensors") != 0)
        return;
    static const int cases[][2] = {{32, 128}, {16, 20}};
    for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
        char key[64];
        snprintf(key, sizeof(key), "bucket.%d_%d", cases[c][0], cases[c][1]);
        size_t n = 0;
        float *want = tu_tensor(&g, key, &n);
        if (!want)
            continue;
        const int half = (int)n / 2;
        int bad = 0;
        for (int i = 0; i < (int)n; i++)
            if (wan_umt5_bucket(i - half, cases[c][0], cases[c][1]) !=
                (int)want[i] && bad++ < 3)
                CHECK(0, "%s: rel %d gives %d, want %d", key, i - half,
                      wan_umt5_bucket(i - half, cases[c][0], cases[c][1]),
                      (int)want[i]);
        free(want);
    }
    st_close(&g);
}

static void umt5_matches_reference_with_f32_weights(void)
{
    golden_case("a_f32", &CFG_A);
    golden_case("b_f32", &CFG_B);
}

static void umt5_matches_reference_with_bf16_weights(void)
{
    golden_case("a_bf16", &CFG_A);
}

/* Compute dtype bf16 (wan_umt5_use_bf16): BF16 weights in bfloat16
 * products within BF16_TOL of the golden; F32 weights stay float32 and
 * give the float32 bits. */
static void umt5_in_bf16_matches_the_reference_within_the_bf16_tolerance(void)
{
    golden_case_in("a_bf16", &CFG_A, 1);
    golden_case_in("b_mixed", &CFG_B, 1);
    st_file f;
    if (open_weights(&f, "a_f32") != 0)
        return;
    char err[512] = "";
    wan_umt5 *m = NULL;
    CHECK(wan_umt5_load(&m, &f, NULL, &CFG_A, err, sizeof(err)) == 0, "%s",
          err);
    if (m)
        CHECK(wan_umt5_use_bf16(m, 1) == 0, "F32 weights took the BF16 path");
    wan_umt5_free(m);
    st_close(&f);
}

static void umt5_matches_reference_with_mixed_f16_bf16_f32_weights(void)
{
    golden_case("b_mixed", &CFG_B);
}

/* ComfyUI's umt5_xxl_fp8_e4m3fn_scaled layout: Hugging Face names, F8_E4M3
 * matrices with a 0-d F32 scale_weight each (and scale_input, unused), an
 * F16 embedding, the scaled_fp8 marker; the golden is computed from
 * float32(fp8) * scale. */
static void umt5_matches_reference_with_scaled_fp8_weights(void)
{
    golden_case("a_fp8", &CFG_A);
}

/* Scales are applied (a file without one encodes differently) and checked:
 * a NaN or zero scale is refused with the tensor's name. */
static void umt5_applies_and_checks_fp8_scales(void)
{
    static const char *const NAME =
        "encoder.block.1.layer.1.DenseReluDense.wo.scale_weight";
    st_file f;
    if (open_weights(&f, "a_fp8") != 0)
        return;
    const st_tensor *w =
        st_find(&f, "encoder.block.1.layer.1.DenseReluDense.wo.weight");
    const st_tensor *sc = st_find(&f, NAME);
    REQUIRE(w && w->dtype == ST_F8_E4M3 && sc && sc->ndim == 0 &&
                sc->dtype == ST_F32 && st_find(&f, "scaled_fp8"),
            "the fixture has the scaled fp8 layout");
    char err[512] = "";
    const int32_t ids[5] = {17, 200, 3, 299, 1};
    float base[5 * 48], other[5 * 48];
    wan_umt5 *m = NULL;
    CHECK(wan_umt5_load(&m, &f, NULL, &CFG_A, err, sizeof(err)) == 0, "%s",
          err);
    if (m)
        wan_umt5_encode(m, NULL, ids, 5, base);
    wan_umt5_free(m);

    size_t size = 0;
    uint8_t *img = rebuild(&f, NAME, NULL, NULL, 0, &size);
    st_file g;
    if (img && st_open_memory(&g, img, size, err, sizeof(err)) == 0) {
        m = NULL;
        CHECK(wan_umt5_load(&m, &g, NULL, &CFG_A, err, sizeof(err)) == 0,
              "without a scale (plain fp8): %s", err);
        if (m) {
            wan_umt5_encode(m, NULL, ids, 5, other);
            CHECK(memcmp(base, other, sizeof(base)) != 0,
                  "the scale changes nothing");
        }
        wan_umt5_free(m);
        st_close(&g);
    }
    free(img);

    size_t n = 0;
    uint8_t *raw = tu_read_file(tu_fixture("wan/umt5/a_fp8.safetensors"), &n);
    REQUIRE(raw, "read a_fp8");
    const size_t at = (size_t)(sc->data - (const uint8_t *)f.map);
    static const uint32_t bad[] = {0x7fc00000u, 0x7f800000u, 0x00000000u};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        memcpy(raw + at, &bad[i], 4);
        if (st_open_memory(&g, raw, n, err, sizeof(err)) != 0) {
            CHECK(0, "patched file: %s", err);
            continue;
        }
        m = NULL;
        err[0] = '\0';
        CHECK(wan_umt5_load(&m, &g, NULL, &CFG_A, err, sizeof(err)) ==
                      ST2V_ERR_FORMAT &&
                  !m && strstr(err, NAME) && strstr(err, "not finite"),
              "scale bits %08x: \"%s\"", bad[i], err);
        wan_umt5_free(m);
        st_close(&g);
    }
    free(raw);
    st_close(&f);
}

static void umt5_loads_names_under_a_prefix(void)
{
    st_file f, g, pf;
    if (open_weights(&f, "b_mixed") != 0)
        return;
    if (tu_open(&g, "wan/umt5/golden.safetensors") != 0) {
        st_close(&f);
        return;
    }
    const char *prefix = "text_encoders.t5xxl.transformer.";
    size_t size = 0;
    uint8_t *img = rebuild(&f, NULL, NULL, prefix, 0, &size);
    char err[512] = "";
    wan_umt5 *m = NULL;
    if (img && st_open_memory(&pf, img, size, err, sizeof(err)) == 0) {
        wan_umt5_config c;
        CHECK(wan_umt5_config_from_file(&c, &pf, prefix, err, sizeof(err)) ==
                  0,
              "config: %s", err);
        CHECK(wan_umt5_load(&m, &pf, prefix, &CFG_B, err, sizeof(err)) == 0,
              "load: %s", err);
        if (m)
            check_case(m, &g, "b_mixed", NULL, 0);
        wan_umt5_free(m);
        CHECK(wan_umt5_load(&m, &pf, NULL, &CFG_B, err, sizeof(err)) ==
                      ST2V_ERR_FORMAT &&
                  !m,
              "no prefix");
        st_close(&pf);
    } else {
        CHECK(0, "rebuilt file: %s", err);
    }
    free(img);
    st_close(&g);
    st_close(&f);
}

/* b_mixed renamed to Hugging Face's UMT5 names under Comfy's prefix
 * (layouts 1 and 2: shared.weight or encoder.embed_tokens.weight): the
 * same config from the shapes and the same rows; a missing tensor is
 * named as the file names it. */
static void umt5_loads_hugging_face_names(void)
{
    st_file f, g;
    if (open_weights(&f, "b_mixed") != 0)
        return;
    if (tu_open(&g, "wan/umt5/golden.safetensors") != 0) {
        st_close(&f);
        return;
    }
    const char *prefix = "text_encoders.t5xxl.transformer.";
    for (int layout = 1; layout <= 2; layout++) {
        size_t size = 0;
        uint8_t *img = rebuild(&f, NULL, NULL, prefix, layout, &size);
        st_file hf;
        char err[512] = "";
        if (!img || st_open_memory(&hf, img, size, err, sizeof(err)) != 0) {
            CHECK(0, "rebuilt file: %s", err);
            free(img);
            continue;
        }
        wan_umt5_config c;
        CHECK(wan_umt5_config_from_file(&c, &hf, prefix, err, sizeof(err)) ==
                  0,
              "config: %s", err);
        c.max_dist = CFG_B.max_dist;
        CHECK(same_config(&c, &CFG_B), "config from the HF shapes");
        wan_umt5 *m = NULL;
        CHECK(wan_umt5_load(&m, &hf, prefix, &CFG_B, err, sizeof(err)) == 0,
              "load (layout %d): %s", layout, err);
        if (m)
            check_case(m, &g, "b_mixed", NULL, 0);
        wan_umt5_free(m);
        st_close(&hf);
        free(img);
    }
    size_t size = 0;
    uint8_t *img = rebuild(&f, "blocks.1.ffn.fc2.weight", NULL, NULL, 1, &size);
    st_file hf;
    char err[512] = "";
    if (img && st_open_memory(&hf, img, size, err, sizeof(err)) == 0) {
        wan_umt5 *m = NULL;
        CHECK(wan_umt5_load(&m, &hf, NULL, &CFG_B, err, sizeof(err)) ==
                      ST2V_ERR_FORMAT &&
                  !m &&
                  strstr(err, "tensor encoder.block.1.layer.1.DenseReluDense."
                              "wo.weight: missing"),
              "message \"%s\"", err);
        st_close(&hf);
    }
    free(img);
    st_close(&g);
    st_close(&f);
}

static void umt5_gives_identical_bits_for_1_2_and_3_threads(void)
{
    st_file f;
    if (open_weights(&f, "a_bf16") != 0)
        return;
    char err[512] = "";
    wan_umt5 *m = NULL;
    CHECK(wan_umt5_load(&m, &f, NULL, &CFG_A, err, sizeof(err)) == 0,
          "load: %s", err);
    const int n = 77, D = CFG_A.dim;
    int32_t ids[77];
    for (int i = 0; i < n; i++)
        ids[i] = (i * 37 + 5) % CFG_A.vocab;
    float *out[3] = {NULL, NULL, NULL};
    for (int t = 0; m && t < 3; t++) {
        st2v_pool *pool = NULL;
        out[t] = calloc((size_t)n * D, sizeof(float));
        CHECK(st2v_pool_new(&pool, t + 1) == 0, "pool");
        CHECK(wan_umt5_encode(m, pool, ids, n, out[t]) == 0, "encode");
        st2v_pool_free(pool);
    }
    if (m) {
        const size_t bytes = (size_t)n * D * sizeof(float);
        CHECK(memcmp(out[0], out[1], bytes) == 0, "1 vs 2 threads");
        CHECK(memcmp(out[0], out[2], bytes) == 0, "1 vs 3 threads");
    }
    for (int t = 0; t < 3; t++)
        free(out[t]);
    wan_umt5_free(m);
    st_close(&f);
}

/* Load a rebuilt copy of a_f32 with cfg; the error must contain `want`. */
static void expect_refusal(const st_file *f, const char *drop,
                           const char *transpose, const wan_umt5_config *cfg,
                           int status, const char *want)
{
    size_t size = 0;
    uint8_t *img = rebuild(f, drop, transpose, NULL, 0, &size);
    REQUIRE(img, "rebuild");
    st_file bad;
    char err[512] = "";
    if (st_open_memory(&bad, img, size, err, sizeof(err)) != 0) {
        CHECK(0, "rebuilt file: %s", err);
        free(img);
        return;
    }
    wan_umt5 *m = NULL;
    err[0] = '\0';
    int st = wan_umt5_load(&m, &bad, NULL, cfg, err, sizeof(err));
    CHECK(st == status && !m, "status %d, want %d (%s)", st, status, err);
    CHECK(strstr(err, want) != NULL, "message \"%s\" lacks \"%s\"", err,
          want);
    wan_umt5_free(m);
    st_close(&bad);
    free(img);
}

static void umt5_refuses_missing_and_misshapen_tensors(void)
{
    st_file f;
    if (open_weights(&f, "a_f32") != 0)
        return;
    expect_refusal(&f, "blocks.1.ffn.fc2.weight", NULL, &CFG_A,
                   ST2V_ERR_FORMAT, "tensor blocks.1.ffn.fc2.weight: missing");
    expect_refusal(&f, "norm.weight", NULL, &CFG_A, ST2V_ERR_FORMAT,
                   "tensor norm.weight: missing");
    expect_refusal(&f, NULL, "blocks.0.attn.o.weight", &CFG_A,
                   ST2V_ERR_FORMAT,
                   "tensor blocks.0.attn.o.weight: shape [40, 48], expected "
                   "[48, 40]");
    expect_refusal(&f, NULL, "token_embedding.weight", &CFG_A,
                   ST2V_ERR_FORMAT,
                   "tensor token_embedding.weight: shape [48, 300], expected "
                   "[300, 48]");
    wan_umt5_config c = CFG_A;
    c.heads = 5, c.head_dim = 8; /* the same width, other heads */
    expect_refusal(&f, NULL, NULL, &c, ST2V_ERR_FORMAT,
                   "tensor blocks.0.pos_embedding.embedding.weight: shape "
                   "[32, 4], expected [32, 5]");
    c = CFG_A;
    c.layers = 3;
    expect_refusal(&f, NULL, NULL, &c, ST2V_ERR_FORMAT,
                   "tensor blocks.2.norm1.weight: missing");
    c = CFG_A;
    c.buckets = 2;
    expect_refusal(&f, NULL, NULL, &c, ST2V_ERR_INVALID_ARG,
                   "invalid umT5 config");

    size_t size = 0;
    uint8_t *img = rebuild(&f, "blocks.0.attn.q.weight", NULL, NULL, 0, &size);
    st_file bad;
    char err[512] = "";
    if (img && st_open_memory(&bad, img, size, err, sizeof(err)) == 0) {
        wan_umt5_config got;
        CHECK(wan_umt5_config_from_file(&got, &bad, NULL, err, sizeof(err)) ==
                      ST2V_ERR_FORMAT &&
                  strstr(err, "blocks.0.attn.q.weight: missing"),
              "config_from_file: \"%s\"", err);
        st_close(&bad);
    }
    free(img);
    st_close(&f);
}

static void umt5_rejects_bad_ids_and_lengths(void)
{
    st_file f;
    if (open_weights(&f, "a_f32") != 0)
        return;
    char err[512] = "";
    wan_umt5 *m = NULL;
    CHECK(wan_umt5_load(&m, &f, NULL, &CFG_A, err, sizeof(err)) == 0,
          "load: %s", err);
    if (m) {
        const int L = WAN_UMT5_MAX_TOKENS, D = CFG_A.dim;
        float *out = calloc((size_t)(L + 1) * D, sizeof(float));
        int32_t *ids = calloc(L + 1, sizeof(int32_t));
        CHECK(wan_umt5_encode(m, NULL, ids, 0, out) == ST2V_ERR_INVALID_ARG,
              "n = 0");
        CHECK(wan_umt5_encode(m, NULL, ids, L + 1, out) ==
                  ST2V_ERR_INVALID_ARG,
              "n = 513");
        ids[1] = CFG_A.vocab;
        CHECK(wan_umt5_encode(m, NULL, ids, 2, out) == ST2V_ERR_INVALID_ARG,
              "id = vocab");
        ids[1] = -1;
        CHECK(wan_umt5_encode(m, NULL, ids, 2, out) == ST2V_ERR_INVALID_ARG,
              "id = -1");
        ids[1] = CFG_A.vocab - 1;
        CHECK(wan_umt5_encode(m, NULL, ids, 2, out) == 0, "id = vocab - 1");
        CHECK(wan_umt5_context(m, NULL, ids, 3, 2, out) ==
                  ST2V_ERR_INVALID_ARG,
              "n > text_len");
        CHECK(wan_umt5_encode(m, NULL, ids, L, out) == 0, "n = 512");
        free(out);
        free(ids);
    }
    wan_umt5_free(m);
    st_close(&f);
}

/* ------------------------------------------- one block at full width */

/* The hashed encoder of train/wan/umt5.py (HASHED_WIDTH, HASHED_SHIFT)
 * as a BF16 safetensors image in memory (hashed.h). */
static uint8_t *hashed_width_file(const wan_umt5_config *c, size_t *size)
{
    const int64_t inner = (int64_t)c->heads * c->head_dim;
    hashed_tensor t[] = {
        {"token_embedding.weight", 2, {c->vocab, c->dim}, 6},
        {"norm.weight", 1, {c->dim}, 7},
        {"blocks.0.norm1.weight", 1, {c->dim}, 7},
        {"blocks.0.norm2.weight", 1, {c->dim}, 7},
        {"blocks.0.attn.q.weight", 2, {inner, c->dim}, 12},
        {"blocks.0.attn.k.weight", 2, {inner, c->dim}, 12},
        {"blocks.0.attn.v.weight", 2, {inner, c->dim}, 12},
        {"blocks.0.attn.o.weight", 2, {c->dim, inner}, 12},
        {"blocks.0.ffn.gate.0.weight", 2, {c->ffn, c->dim}, 12},
        {"blocks.0.ffn.fc1.weight", 2, {c->ffn, c->dim}, 12},
        {"blocks.0.ffn.fc2.weight", 2, {c->dim, c->ffn}, 13},
        {"blocks.0.pos_embedding.embedding.weight", 2, {c->buckets, c->heads},
         5},
    };
    return hashed_file(t, (int)(sizeof(t) / sizeof(t[0])), size);
}

/* One block of the real width (4096, 64 heads of 64, ffn 10240, 32
 * buckets; vocabulary 64) in BF16, from hashed weights (285 MB, made in
 * memory), against train/wan/umt5.py's float64 golden of 9 tokens. */
static void umt5_matches_reference_at_full_width_for_one_block(void)
{
    wan_umt5_config c = wan_umt5_xxl_config();
    c.vocab = 64;
    c.layers = 1;
    size_t size = 0, n = 0, numel = 0;
    uint8_t *buf = hashed_width_file(&c, &size);
    REQUIRE(buf, "malloc");
    st_file f, g;
    char err[512] = "";
    REQUIRE(st_open_memory(&f, buf, size, err, sizeof(err)) == 0, "%s", err);
    REQUIRE(st_open(&g, tu_fixture("wan/umt5/golden.safetensors"), err,
                    sizeof(err)) == 0,
            "%s", err);
    wan_umt5 *m = NULL;
    CHECK(wan_umt5_load(&m, &f, NULL, &c, err, sizeof(err)) == 0, "load: %s",
          err);
    float *ids_f = tu_tensor(&g, "hashed_width.ids", &n);
    float *want = tu_tensor(&g, "hashed_width.out", &numel);
    float *got = calloc(numel ? numel : 1, sizeof(float));
    int32_t ids[16];
    if (m && ids_f && want && got && n <= 16 && numel == n * (size_t)c.dim) {
        for (size_t i = 0; i < n; i++)
            ids[i] = (int32_t)ids_f[i];
        st2v_pool *pool = NULL;
        CHECK(st2v_pool_new(&pool, 2) == 0, "pool");
        CHECK(wan_umt5_encode(m, pool, ids, (int)n, got) == 0, "encode");
        CHECK_GOLDEN("umt5 one block, width 4096", got, want, numel);
        if (wan_umt5_use_bf16(m, 1)) {
            CHECK(wan_umt5_encode(m, pool, ids, (int)n, got) == 0, "encode");
            const double e = tu_max_rel_err(got, want, numel);
            printf("     golden %-28s max rel err %.3g\n",
                   "the block, bf16", e);
            CHECK(e <= BF16_TOL, "bf16 block: %.3g", e);
        }
        st2v_pool_free(pool);
    } else {
        CHECK(0, "golden hashed_width.* missing or misshapen (make fixtures)");
    }
    free(ids_f);
    free(want);
    free(got);
    wan_umt5_free(m);
    st_close(&g);
    st_close(&f);
    free(buf);
}

/* Opt-in (ST2V_UMT5_FULL=DIR, written by `train/wan/umt5.py --full-width
 * DIR`, 2.5 GB): one block of the real encoder's width, 64 heads and
 * vocabulary in BF16, against its float64 golden; prints the time. */
static void umt5_matches_reference_at_full_width(void)
{
    const char *dir = getenv("ST2V_UMT5_FULL");
    if (!dir || !*dir) {
        printf("     (full width: set ST2V_UMT5_FULL, see train/wan/umt5.py)\n");
        return;
    }
    char path[4096], err[512] = "";
    st_file f, g;
    snprintf(path, sizeof(path), "%s/full.safetensors", dir);
    REQUIRE(st_open(&f, path, err, sizeof(err)) == 0, "%s: %s", path, err);
    snprintf(path, sizeof(path), "%s/full_golden.safetensors", dir);
    if (st_open(&g, path, err, sizeof(err)) != 0) {
        CHECK(0, "%s: %s", path, err);
        st_close(&f);
        return;
    }
    wan_umt5_config c, xxl = wan_umt5_xxl_config();
    CHECK(wan_umt5_config_from_file(&c, &f, NULL, err, sizeof(err)) == 0,
          "config: %s", err);
    xxl.layers = c.layers;
    CHECK(same_config(&c, &xxl), "the real shapes");
    wan_umt5 *m = NULL;
    CHECK(wan_umt5_load(&m, &f, NULL, &c, err, sizeof(err)) == 0, "load: %s",
          err);
    size_t n = 0, numel = 0;
    float *ids_f = tu_tensor(&g, "ids", &n);
    float *want = tu_tensor(&g, "out", &numel);
    float *got = calloc(numel ? numel : 1, sizeof(float));
    int32_t *ids = calloc(n ? n : 1, sizeof(int32_t));
    if (m && ids_f && want && got && ids && numel == n * (size_t)c.dim) {
        for (size_t i = 0; i < n; i++)
            ids[i] = (int32_t)ids_f[i];
        st2v_pool *pool = NULL;
        CHECK(st2v_pool_new(&pool, 2) == 0, "pool");
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        CHECK(wan_umt5_encode(m, pool, ids, (int)n, got) == 0, "encode");
        clock_gettime(CLOCK_MONOTONIC, &t1);
        st2v_pool_free(pool);
        printf("     %d block(s) of width %d, %zu tokens, 2 threads: %.2f s\n",
               c.layers, c.dim, n,
               (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (t1.tv_nsec - t0.tv_nsec));
        CHECK_GOLDEN("umt5 full width", got, want, numel);
    }
    free(ids_f);
    free(want);
    free(got);
    free(ids);
    wan_umt5_free(m);
    st_close(&g);
    st_close(&f);
}

/* st2v_widen (vector paths and scalar tails) against the loader's exact
 * conversion, on every 16-bit pattern, from an odd address: the same bits
 * for every number (F16C may quieten a signalling NaN). */
static void wtensor_widens_every_f16_and_bf16_value_exactly(void)
{
    const int64_t n = 65536 + 5;
    uint8_t *raw = malloc(2 * n + 1);
    float *got = malloc(n * sizeof(float)), *want = malloc(n * sizeof(float));
    REQUIRE(raw && got && want, "alloc");
    for (int64_t i = 0; i < n; i++) {
        raw[1 + 2 * i] = (uint8_t)(i & 0xff);
        raw[2 + 2 * i] = (uint8_t)((i >> 8) & 0xff);
    }
    for (int d = ST_F16; d <= ST_BF16; d++) {
        st_tensor t = {.dtype = (st_dtype)d, .ndim = 1, .numel = (uint64_t)n,
                       .data = raw + 1};
        t.shape[0] = n;
        st_to_f32(&t, want);
        for (int64_t len = n; len >= n - 7; len--) {
            memset(got, 0, n * sizeof(float));
            st2v_widen(got, raw + 1, (st_dtype)d, len);
            int same = len == n || got[len] == 0.0f;
            for (int64_t i = 0; same && i < len; i++)
                same = isnan(want[i]) ? isnan(got[i])
                                      : memcmp(&got[i], &want[i], 4) == 0;
            CHECK(same,
                  "%s, %lld values", d == ST_F16 ? "F16" : "BF16",
                  (long long)len);
        }
    }
    free(raw);
    free(got);
    free(want);
}

/* Every one of the 256 E4M3FN bytes, decoded by the loader's conversion
 * and by st2v_widen (from an odd address, with tails), against the table
 * of train/wan/umt5.py e4m3_table (numpy, from the definition): the same
 * bits, signed zeros included; NaN for 0x7F and 0xFF only. */
static void wtensor_widens_every_e4m3_value_exactly(void)
{
    st_file g;
    if (tu_open(&g, "wan/umt5/golden.safetensors") != 0)
        return;
    size_t nt = 0;
    float *want = tu_tensor(&g, "e4m3", &nt);
    st_close(&g);
    REQUIRE(want && nt == 256, "e4m3 table");
    uint8_t raw[1 + 256 + 8];
    float got[256 + 8], conv[256];
    for (int b = 0; b < 256; b++)
        raw[1 + b] = (uint8_t)b;
    st_tensor t = {.dtype = ST_F8_E4M3, .ndim = 1, .numel = 256,
                   .data = raw + 1};
    t.shape[0] = 256;
    st_to_f32(&t, conv);
    int bad = 0, nans = 0;
    for (int b = 0; b < 256; b++) {
        const float one = st_f8_e4m3_to_f32((uint8_t)b);
        int ok = isnan(want[b]) ? isnan(one) && isnan(conv[b])
                                : memcmp(&one, &want[b], 4) == 0 &&
                                      memcmp(&conv[b], &want[b], 4) == 0;
        nans += isnan(want[b]);
        if (!ok && bad++ < 4)
            CHECK(0, "byte 0x%02x: %g / %g, want %g", b, (double)one,
                  (double)conv[b], (double)want[b]);
    }
    CHECK(nans == 2 && isnan(want[0x7f]) && isnan(want[0xff]) &&
              want[0x7e] == 448.0f && want[0x01] == 0x1p-9f,
          "the table is E4M3FN's");
    for (int len = 256; len >= 249; len--) {
        memset(got, 0, sizeof(got));
        st2v_widen(got, raw + 1, ST_F8_E4M3, len);
        int same = len == 256 || got[len] == 0.0f;
        for (int b = 0; same && b < len; b++)
            same = isnan(want[b]) ? isnan(got[b])
                                  : memcmp(&got[b], &want[b], 4) == 0;
        CHECK(same, "st2v_widen, %d values", len);
    }
    free(want);
}

static void umt5_xxl_config_is_the_official_one(void)
{
    wan_umt5_config c = wan_umt5_xxl_config();
    CHECK(c.vocab == 256384 && c.dim == 4096 && c.heads == 64 &&
              c.head_dim == 64 && c.ffn == 10240 && c.layers == 24 &&
              c.buckets == 32 && c.max_dist == 128,
          "umt5_xxl");
}

int main(void)
{
    RUN(umt5_buckets_match_the_reference_tables);
    RUN(umt5_matches_reference_with_f32_weights);
    RUN(umt5_matches_reference_with_bf16_weights);
    RUN(umt5_in_bf16_matches_the_reference_within_the_bf16_tolerance);
    RUN(umt5_matches_reference_with_mixed_f16_bf16_f32_weights);
    RUN(umt5_matches_reference_with_scaled_fp8_weights);
    RUN(umt5_applies_and_checks_fp8_scales);
    RUN(umt5_loads_names_under_a_prefix);
    RUN(umt5_loads_hugging_face_names);
    RUN(umt5_gives_identical_bits_for_1_2_and_3_threads);
    RUN(umt5_refuses_missing_and_misshapen_tensors);
    RUN(umt5_rejects_bad_ids_and_lengths);
    RUN(umt5_matches_reference_at_full_width_for_one_block);
    RUN(umt5_matches_reference_at_full_width);
    RUN(wtensor_widens_every_f16_and_bf16_value_exactly);
    RUN(wtensor_widens_every_e4m3_value_exactly);
    RUN(umt5_xxl_config_is_the_official_one);
    return tu_summary();
}
