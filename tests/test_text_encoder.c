/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test_text_encoder.c - the prompt encoder against the PyTorch reference
 * (golden_text.safetensors: the tiny model, and the tiny model stored in
 * mixed F16/BF16/F32), its independence from the thread count, and its
 * refusal of bad input.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pool.h"
#include "st2v/model.h"
#include "st2v/text_encoder.h"
#include "test_util.h"

/* ids (n) from a fixture tensor stored as F32. Returns n, or -1. */
static int load_ids(const st_file *f, const char *name, int32_t *ids, int max)
{
    size_t n = 0;
    float *v = tu_tensor(f, name, &n);
    if (!v || (int)n > max) {
        free(v);
        return -1;
    }
    for (size_t i = 0; i < n; i++)
        ids[i] = (int32_t)v[i];
    free(v);
    return (int)n;
}

/* Encode case `prefix` of golden_text with model m and compare. */
static void check_case(const st2v_world *m, const st_file *f,
                       const char *prefix)
{
    char name[64];
    int32_t ids[1024];
    snprintf(name, sizeof(name), "%s.ids", prefix);
    int n = load_ids(f, name, ids, 1024);
    REQUIRE(n > 0, "ids of %s", prefix);
    snprintf(name, sizeof(name), "%s.out", prefix);
    size_t numel = 0;
    float *want = tu_tensor(f, name, &numel);
    REQUIRE(want, "%s", name);
    REQUIRE(numel == (size_t)n * m->cfg.text_dim, "%s size", name);
    float *got = malloc(numel * sizeof(float));
    REQUIRE(got, "alloc");
    CHECK(st2v_text_encode(m, NULL, ids, n, got) == 0, "encode %s", prefix);
    snprintf(name, sizeof(name), "text %s", prefix);
    CHECK_GOLDEN(name, got, want, numel);
    free(got);
    free(want);
}

static void text_encoder_matches_reference_on_golden_prompts(void)
{
    st2v_model *model = tu_load_model("tiny.safetensors");
    const st2v_world *m = st2v_world_of(model);
    REQUIRE(m, "model");
    st_file f;
    if (tu_open(&f, "golden_text.safetensors") == 0) {
        check_case(m, &f, "case0");
        check_case(m, &f, "case1");
        check_case(m, &f, "case2");
        st_close(&f);
    }
    st2v_model_free(model);
}

static void text_encoder_matches_reference_with_mixed_precision_weights(void)
{
    st2v_model *model = tu_load_model("tiny_mixed.safetensors");
    const st2v_world *m = st2v_world_of(model);
    REQUIRE(m, "model");
    st_file f;
    if (tu_open(&f, "golden_text.safetensors") == 0) {
        check_case(m, &f, "mixed");
        st_close(&f);
    }
    st2v_model_free(model);
}

static void text_encoder_gives_identical_bits_for_1_2_and_3_threads(void)
{
    st2v_model *model = tu_load_model("tiny.safetensors");
    const st2v_world *m = st2v_world_of(model);
    REQUIRE(m, "model");
    const int n = m->cfg.max_length, Dt = m->cfg.text_dim;
    int32_t ids[1024];
    for (int i = 0; i < n; i++)
        ids[i] = (i * 37 + 5) % m->cfg.vocab_size;
    float *out[3];
    for (int t = 0; t < 3; t++) {
        st2v_pool *pool = NULL;
        out[t] = calloc((size_t)n * Dt, sizeof(float));
        CHECK(st2v_pool_new(&pool, t + 1) == 0, "pool");
        CHECK(st2v_text_encode(m, pool, ids, n, out[t]) == 0, "encode");
        st2v_pool_free(pool);
    }
    const size_t bytes = (size_t)n * Dt * sizeof(float);
    CHECK(memcmp(out[0], out[1], bytes) == 0, "1 vs 2 threads");
    CHECK(memcmp(out[0], out[2], bytes) == 0, "1 vs 3 threads");
    for (int t = 0; t < 3; t++)
        free(out[t]);
    st2v_model_free(model);
}

static void text_encoder_rejects_bad_ids_and_lengths(void)
{
    st2v_model *model = tu_load_model("tiny.safetensors");
    const st2v_world *m = st2v_world_of(model);
    REQUIRE(m, "model");
    const int L = m->cfg.max_length, Dt = m->cfg.text_dim;
    float *out = calloc((size_t)(L + 1) * Dt, sizeof(float));
    int32_t ids[1025] = {1, 2};
    CHECK(st2v_text_encode(m, NULL, ids, 0, out) == ST2V_ERR_INVALID_ARG,
          "n = 0");
    CHECK(st2v_text_encode(m, NULL, ids, L + 1, out) == ST2V_ERR_INVALID_ARG,
          "n = L + 1");
    ids[1] = m->cfg.vocab_size;
    CHECK(st2v_text_encode(m, NULL, ids, 2, out) == ST2V_ERR_INVALID_ARG,
          "id = V");
    ids[1] = -1;
    CHECK(st2v_text_encode(m, NULL, ids, 2, out) == ST2V_ERR_INVALID_ARG,
          "id = -1");
    ids[1] = m->cfg.vocab_size - 1;
    CHECK(st2v_text_encode(m, NULL, ids, 2, out) == 0, "id = V - 1");
    free(out);
    st2v_model_free(model);
}

int main(void)
{
    RUN(text_encoder_matches_reference_on_golden_prompts);
    RUN(text_encoder_matches_reference_with_mixed_precision_weights);
    RUN(text_encoder_gives_identical_bits_for_1_2_and_3_threads);
    RUN(text_encoder_rejects_bad_ids_and_lengths);
    return tu_summary();
}
