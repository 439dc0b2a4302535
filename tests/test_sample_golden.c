/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test_sample_golden.c - whole-window sampling against the PyTorch
 * reference: for every case of golden_sample.safetensors, the prompt's
 * token ids, the Philox noise of the start latent, the sampled latent
 * (text encoder + DiT + guidance + sampler) and its streamed decode.
 */
#include <cjson/cJSON.h>
#include <stdint.h>

#include "generator.h"
#include "pool.h"
#include "rng.h"
#include "st2v/family.h"
#include "st2v/model.h"
#include "st2v/tokenizer.h"
#include "st2v/vae.h"
#include "test_util.h"
#include "test_world.h"

static st2v_model *model;
static st2v_tokenizer *tok;
static st_file golden;
static cJSON *cases;

static int load_all(void)
{
    char err[512];
    if (st2v_model_load(&model, tu_fixture("tiny.safetensors"), err,
                        sizeof(err)) != 0) {
        fprintf(stderr, "  cannot load tiny model: %s\n", err);
        return -1;
    }
    if (st2v_tokenizer_new(&tok, &st2v_world_of(model)->cfg) != 0) {
        fprintf(stderr, "  cannot build the tokenizer\n");
        return -1;
    }
    if (st_open(&golden, tu_fixture("golden_sample.safetensors"), err,
                sizeof(err)) != 0) {
        fprintf(stderr, "  cannot open golden_sample: %s\n", err);
        return -1;
    }
    if (!(cases = tu_golden_cases(&golden, 1)))
        return -1;
    return 0;
}

/* Tokenize `text` and compare with the stored ids; returns n or -1. */
static int check_ids(const char *name, const char *what, const char *text,
                     int32_t *ids)
{
    char key[160];
    snprintf(key, sizeof(key), "%s.%s", name, what);
    size_t n_want = 0;
    float *want = tu_tensor(&golden, key, &n_want);
    if (!want || !text) {
        CHECK(text, "%s: no text in the case", key);
        free(want);
        return -1;
    }
    int n = st2v_tokenize(tok, text, ids);
    int same = (size_t)n == n_want;
    for (int i = 0; same && i < n; i++)
        same = (float)ids[i] == want[i];
    CHECK(same, "%s: tokenizer disagrees with the reference (%d vs %zu ids)",
          key, n, n_want);
    free(want);
    return same ? n : -1;
}

/* The noise frames of x must be normals 0.. of (seed, stream), in
 * (Cz, T - n_context, Hl, Wl) order. */
static void check_noise(const char *name, const float *x, int Cz, int T,
                        int frame, int nc, uint64_t seed, uint32_t stream)
{
    size_t per_c = (size_t)(T - nc) * frame;
    float *noise = malloc(Cz * per_c * sizeof(float) + 1);
    st2v_normal_fill(noise, (int64_t)(Cz * per_c), seed, stream, 0);
    size_t bad = 0;
    for (int c = 0; c < Cz; c++)
        bad += memcmp(x + ((size_t)c * T + nc) * frame, noise + c * per_c,
                      per_c * sizeof(float)) != 0;
    CHECK(bad == 0, "%s: start noise differs from Philox (seed %llu, "
          "stream %u) in %zu channels", name, (unsigned long long)seed,
          stream, bad);
    free(noise);
}

/* rgb (3, T*ft, H, W) from the normalised latent (C, T, Hl, Wl), decoded
 * one latent frame at a time from its first Cz channels (C - Cz =
 * dit.extra_channels, which the decoder does not read). */
static int decode_stream(const float *lat, int T, int Hl, int Wl, float *rgb)
{
    const st2v_config *cf = &st2v_world_of(model)->cfg;
    const int Cz = cf->z_channels, ft = cf->ft;
    const size_t frame = (size_t)Hl * Wl;
    const size_t npix = frame * cf->s * cf->s;
    st2v_vae_stream *vs;
    if (st2v_vae_stream_new(&vs, st2v_world_of(model), Hl, Wl) != 0)
        return -1;
    float *z = malloc(Cz * frame * sizeof(float));      /* (Cz, Hl, Wl) */
    float *out = malloc(3 * ft * npix * sizeof(float)); /* (3, ft, H, W) */
    int rc = 0;
    for (int f = 0; f < T && rc == 0; f++) {
        for (int c = 0; c < Cz; c++)
            for (size_t i = 0; i < frame; i++)
                z[c * frame + i] = lat[((size_t)c * T + f) * frame + i] *
                                       cf->latent_std[c] +
                                   cf->latent_mean[c];
        rc = st2v_vae_decode_frame(vs, NULL, z, out);
        for (int c = 0; c < 3 && rc == 0; c++)
            memcpy(rgb + ((size_t)c * T * ft + (size_t)f * ft) * npix,
                   out + (size_t)c * ft * npix, ft * npix * sizeof(float));
    }
    free(z);
    free(out);
    st2v_vae_stream_free(vs);
    return rc;
}

static void run_case(const cJSON *c, st2v_pool *pool)
{
    const char *name = tu_case_str(c, "name");
    REQUIRE(name, "a case has no name");
    const st2v_config *cf = &st2v_world_of(model)->cfg;
    const int Cz = cf->dit_channels; /* the sampled latent: Cz + R */
    const int T = (int)tu_case_num(c, "T"), Hl = (int)tu_case_num(c, "Hl"),
              Wl = (int)tu_case_num(c, "Wl"), nc = (int)tu_case_num(c, "n_context");
    const int steps = (int)tu_case_num(c, "steps");
    const float cfg = (float)tu_case_num(c, "cfg"),
                shift = (float)tu_case_num(c, "shift");
    const double seed = tu_case_num(c, "seed"), stream = tu_case_num(c, "stream");
    st2v_sampler sampler;
    int src = st2v_sampler_from_name(tu_case_str(c, "sampler"), &sampler);
    REQUIRE(src == 0, "%s: unknown sampler", name);
    REQUIRE(T > 0 && Hl > 0 && Wl > 0 && nc >= 0 && steps > 0 &&
                !isnan(seed) && !isnan(stream),
            "%s: incomplete case", name);

    int32_t *ids = malloc(cf->max_length * sizeof(int32_t));
    int32_t *neg = malloc(cf->max_length * sizeof(int32_t));
    int n = check_ids(name, "ids", tu_case_str(c, "prompt"), ids);
    int nn = check_ids(name, "neg_ids", tu_case_str(c, "negative_prompt"), neg);

    char key[160];
    size_t n_x = 0, n_lat = 0, n_rgb = 0;
    snprintf(key, sizeof(key), "%s.x", name);
    float *x = tu_tensor(&golden, key, &n_x);
    snprintf(key, sizeof(key), "%s.latent", name);
    float *want_lat = tu_tensor(&golden, key, &n_lat);
    snprintf(key, sizeof(key), "%s.rgb", name);
    float *want_rgb = tu_tensor(&golden, key, &n_rgb);
    const size_t frame = (size_t)Hl * Wl;
    if (n < 0 || nn < 0 || !x || !want_lat || !want_rgb ||
        n_x != (size_t)Cz * T * frame || n_lat != n_x ||
        n_rgb != (size_t)3 * T * cf->ft * frame * cf->s * cf->s) {
        CHECK(0, "%s: fixture tensors missing or of the wrong size", name);
        goto done;
    }
    check_noise(name, x, Cz, T, (int)frame, nc, (uint64_t)seed,
                (uint32_t)stream);

    int rc = tw_sample_window_ids(model, pool, ids, n, neg, nn, sampler,
                                    steps, cfg, shift, T, Hl, Wl, nc, x);
    CHECK(rc == 0, "%s: sampling failed: %s", name, st2v_strerror(rc));
    if (rc == 0) {
        char what[96];
        snprintf(what, sizeof(what), "%s latent", name);
        CHECK_GOLDEN(what, x, want_lat, n_lat);
        float *rgb = malloc(n_rgb * sizeof(float));
        rc = decode_stream(x, T, Hl, Wl, rgb);
        CHECK(rc == 0, "%s: decoding failed", name);
        if (rc == 0) {
            snprintf(what, sizeof(what), "%s rgb", name);
            CHECK_GOLDEN(what, rgb, want_rgb, n_rgb);
        }
        free(rgb);
    }
done:
    free(ids);
    free(neg);
    free(x);
    free(want_lat);
    free(want_rgb);
}

static void every_golden_case_samples_and_decodes_like_the_reference(void)
{
    REQUIRE(model && cases, "fixtures not loaded");
    const cJSON *c;
    cJSON_ArrayForEach(c, cases) run_case(c, NULL);
    CHECK(cJSON_GetArraySize(cases) >= 5, "only %d cases",
          cJSON_GetArraySize(cases));
}

/* The same case on 1 and 3 threads: the very same bits. */
static void sampling_is_bit_identical_for_any_thread_count(void)
{
    REQUIRE(model && cases, "fixtures not loaded");
    const cJSON *c = cJSON_GetArrayItem(cases, 0);
    const char *name = tu_case_str(c, "name");
    char key[160];
    size_t n_x = 0;
    snprintf(key, sizeof(key), "%s.x", name);
    float *x1 = tu_tensor(&golden, key, &n_x);
    REQUIRE(x1, "no start latent");
    float *x3 = malloc(n_x * sizeof(float));
    memcpy(x3, x1, n_x * sizeof(float));
    int32_t ids[64], neg[64];
    REQUIRE(st2v_world_of(model)->cfg.max_length <= 64, "max_length too large for test");
    int n = st2v_tokenize(tok, tu_case_str(c, "prompt"), ids);
    int nn = st2v_tokenize(tok, "", neg);
    st2v_pool *p1 = NULL, *p3 = NULL;
    st2v_pool_new(&p1, 1);
    st2v_pool_new(&p3, 3);
    st2v_sampler s;
    st2v_sampler_from_name(tu_case_str(c, "sampler"), &s);
    int T = (int)tu_case_num(c, "T"), Hl = (int)tu_case_num(c, "Hl"),
        Wl = (int)tu_case_num(c, "Wl"), steps = (int)tu_case_num(c, "steps");
    float cfg = (float)tu_case_num(c, "cfg"), shift = (float)tu_case_num(c, "shift");
    int rc1 = tw_sample_window_ids(model, p1, ids, n, neg, nn, s, steps,
                                     cfg, shift, T, Hl, Wl, 0, x1);
    int rc3 = tw_sample_window_ids(model, p3, ids, n, neg, nn, s, steps,
                                     cfg, shift, T, Hl, Wl, 0, x3);
    CHECK(rc1 == 0 && rc3 == 0, "sampling failed");
    CHECK(memcmp(x1, x3, n_x * sizeof(float)) == 0,
          "1 and 3 threads give different latents");
    st2v_pool_free(p1);
    st2v_pool_free(p3);
    free(x1);
    free(x3);
}

static void sampling_stops_when_cancelled(void)
{
    REQUIRE(model && cases, "fixtures not loaded");
    int32_t ids[64];
    REQUIRE(st2v_world_of(model)->cfg.max_length <= 64, "max_length too large for test");
    int n = st2v_tokenize(tok, "a red ball", ids);
    st2v_cond pos = {0};
    int erc = st2v_cond_encode(&pos, st2v_world_of(model), NULL, ids, n);
    REQUIRE(erc == 0, "encode");
    atomic_int flag;
    atomic_init(&flag, 1);
    const int Cz = st2v_world_of(model)->cfg.dit_channels;
    float *x = calloc((size_t)Cz * 2 * 8 * 8, sizeof(float));
    st2v_window_job job = {
        .sampler = ST2V_SAMPLER_EULER, .steps = 4, .guidance = 1.0f,
        .shift = 1.0f, .T = 2, .Hl = 8, .Wl = 8, .pos = &pos,
        .cancel = &flag,
    };
    int rc = st2v_sample_window(model, NULL, &job, x);
    CHECK(rc == ST2V_ERR_CANCELLED, "status %d", rc);
    int untouched = 1;
    for (int i = 0; i < Cz * 2 * 64; i++)
        untouched &= x[i] == 0.0f;
    CHECK(untouched, "a cancelled window was changed");
    free(x);
    st2v_cond_free(&pos);
}

int main(void)
{
    if (load_all() != 0) {
        tu_current = "load_fixtures";
        tu_current_failed = 1;
        tu_failed++;
        printf("FAIL load_fixtures\n");
    } else {
        RUN(every_golden_case_samples_and_decodes_like_the_reference);
        RUN(sampling_is_bit_identical_for_any_thread_count);
        RUN(sampling_stops_when_cancelled);
    }
    cJSON_Delete(cases);
    st2v_tokenizer_free(tok);
    st2v_model_free(model);
    if (golden.map)
        st_close(&golden);
    return tu_summary();
}
