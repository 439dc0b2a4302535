/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test_wan_vae.c - the streaming Wan2.1 VAE decoder (core/wan/vae.c)
 * against the PyTorch reference's goldens (train/wan/vae.py,
 * tests/fixtures/wan/vae): a tiny config (widths 8, 8, 8, 4, 4, the real
 * stage and block counts), 4 latent frames of 2 x 3 cells (13 frames of
 * 16 x 24), decoded one latent frame at a time and compared chunk by chunk
 * with the reference's whole-clip chunked decode, before and after the
 * clamp and as uint8, with f32 and bf16 weights (each against the float64
 * decode of its own weights, 1e-4 relative); streaming across threads,
 * reset, and the loader's refusals.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pool.h"
#include "test_util.h"
#include "wan/names.h"
#include "wan/vae.h"

#define T_LAT 4
#define HL 2
#define WL 3
#define HW (HL * WL * 64)
#define FRAMES (1 + 4 * (T_LAT - 1))

static wan_vae_config fixture_config(void)
{
    wan_vae_config c = {.dim = 4, .z_dim = 16, .dim_mult = {1, 1, 2, 2},
                        .num_res_blocks = 2, .temporal_down = {0, 1, 1}};
    return c;
}

static wan_vae *load(st_file *f, const char *name)
{
    char path[64], err[512] = "";
    snprintf(path, sizeof(path), "wan/vae/%s.safetensors", name);
    if (tu_open(f, path) != 0)
        return NULL;
    const wan_vae_config c = fixture_config();
    wan_vae *m = NULL;
    int st = wan_vae_load(&m, f, NULL, &c, err, sizeof(err));
    CHECK(st == 0 && m, "load %s: %d %s", name, st, err);
    return m;
}

/* The first chunk's frame index and count of latent frame t. */
static int chunk_start(int t) { return t == 0 ? 0 : 1 + 4 * (t - 1); }
static int chunk_len(int t) { return t == 0 ? 1 : 4; }

/* dst (3, n, HW) = frames [f0, f0 + n) of the golden clip (3, FRAMES, HW). */
static void slice(float *dst, const float *clip, int f0, int n)
{
    for (int c = 0; c < 3; c++)
        memcpy(dst + (size_t)c * n * HW, clip + ((size_t)c * FRAMES + f0) * HW,
               (size_t)n * HW * sizeof(float));
}

/* Decode the whole stream of z (16, T, HL, WL) into clip (3, FRAMES, HW),
 * one latent frame at a time; raw: before the clamp. */
static int decode_clip(wan_vae_state *s, st2v_pool *pool, const float *z,
                       float *clip, int raw)
{
    float zt[16 * HL * WL], out[3 * 4 * HW];
    for (int t = 0; t < T_LAT; t++) {
        for (int c = 0; c < 16; c++)
            memcpy(zt + c * HL * WL, z + ((size_t)c * T_LAT + t) * HL * WL,
                   HL * WL * sizeof(float));
        int n = 0;
        int st = raw ? wan_vae_decode_frame_raw(s, pool, zt, out, &n)
                     : wan_vae_decode_frame(s, pool, zt, out, &n);
        if (st || n != chunk_len(t))
            return st ? st : -100;
        for (int c = 0; c < 3; c++)
            memcpy(clip + ((size_t)c * FRAMES + chunk_start(t)) * HW,
                   out + (size_t)c * n * HW, (size_t)n * HW * sizeof(float));
    }
    return 0;
}

static void golden_case(const char *weights, const char *key)
{
    st_file f, g;
    wan_vae *m = load(&f, weights);
    if (!m)
        return;
    if (tu_open(&g, "wan/vae/golden.safetensors") != 0) {
        wan_vae_free(m);
        st_close(&f);
        return;
    }
    float *z = tu_tensor(&g, "z", NULL);
    float *want = tu_tensor(&g, key, NULL);
    float *got = malloc(sizeof(float) * 3 * FRAMES * HW);
    float *a = malloc(sizeof(float) * 3 * 4 * HW);
    float *b = malloc(sizeof(float) * 3 * 4 * HW);
    wan_vae_state *s = NULL;
    if (z && want && got && a && b &&
        wan_vae_state_new(&s, m, HL, WL) == 0) {
        CHECK(wan_vae_frames_per_latent(m, 1) == 1 &&
                  wan_vae_frames_per_latent(m, 0) == 4,
              "frames per latent frame");
        CHECK(decode_clip(s, NULL, z, got, 1) == 0, "decode");
        char what[64];
        for (int t = 0; t < T_LAT; t++) {
            const int f0 = chunk_start(t), n = chunk_len(t);
            slice(a, got, f0, n);
            slice(b, want, f0, n);
            snprintf(what, sizeof(what), "%s chunk %d", weights, t);
            CHECK_GOLDEN(what, a, b, (size_t)3 * n * HW);
        }
        snprintf(what, sizeof(what), "%s whole clip", weights);
        CHECK_GOLDEN(what, got, want, (size_t)3 * FRAMES * HW);
    }
    wan_vae_state_free(s);
    free(z);
    free(want);
    free(got);
    free(a);
    free(b);
    wan_vae_free(m);
    st_close(&g);
    st_close(&f);
}

static void vae_matches_reference_per_chunk_with_f32_weights(void)
{
    golden_case("f32", "out");
}

/* bf16 weights against the float64 decode of the same bf16 weights: the
 * same 1e-4 (the two clips differ by 6e-2 of their largest value). */
static void vae_matches_reference_per_chunk_with_bf16_weights(void)
{
    golden_case("bf16", "bf16.out");
}

static void vae_clamps_and_maps_to_uint8_as_wan_saves_video(void)
{
    st_file f, g;
    wan_vae *m = load(&f, "f32");
    if (!m)
        return;
    if (tu_open(&g, "wan/vae/golden.safetensors") != 0) {
        wan_vae_free(m);
        st_close(&f);
        return;
    }
    const size_t n = (size_t)3 * FRAMES * HW;
    float *z = tu_tensor(&g, "z", NULL);
    float *clamped = tu_tensor(&g, "clamped", NULL);
    float *u8 = tu_tensor(&g, "u8", NULL);
    float *got = malloc(n * sizeof(float));
    uint8_t *bytes = malloc(n);
    wan_vae_state *s = NULL;
    if (z && clamped && u8 && got && bytes &&
        wan_vae_state_new(&s, m, HL, WL) == 0 &&
        decode_clip(s, NULL, z, got, 0) == 0) {
        CHECK_GOLDEN("clamped clip", got, clamped, n);
        float lo = 0, hi = 0;
        for (size_t i = 0; i < n; i++) {
            lo = got[i] < lo ? got[i] : lo;
            hi = got[i] > hi ? got[i] : hi;
        }
        CHECK(lo == -1.0f && hi == 1.0f, "range [%g, %g]", lo, hi);
        wan_vae_to_u8(bytes, got, n);
        /* truncation: a value within the float32 error of a step boundary
         * may land one step off */
        size_t off = 0;
        int worst = 0;
        for (size_t i = 0; i < n; i++) {
            int d = abs((int)bytes[i] - (int)u8[i]);
            off += d != 0;
            worst = d > worst ? d : worst;
        }
        printf("     uint8: %zu of %zu values one step off\n", off, n);
        CHECK(worst <= 1 && off * 1000 < n, "uint8: %zu off, worst %d", off,
              worst);
    }
    /* the mapping itself, on the edges */
    const float x[] = {-2.0f, -1.0f, -0.5f, 0.0f, 0.999f, 1.0f, 3.0f};
    const uint8_t want[] = {0, 0, 63, 127, 254, 255, 255};
    uint8_t y[7];
    wan_vae_to_u8(y, x, 7);
    CHECK(memcmp(y, want, 7) == 0, "mapping %d %d %d %d %d %d %d", y[0], y[1],
          y[2], y[3], y[4], y[5], y[6]);
    wan_vae_state_free(s);
    free(z);
    free(clamped);
    free(u8);
    free(got);
    free(bytes);
    wan_vae_free(m);
    st_close(&g);
    st_close(&f);
}

static void vae_gives_identical_bits_for_1_2_and_3_threads_and_after_reset(void)
{
    st_file f, g;
    wan_vae *m = load(&f, "f32");
    if (!m)
        return;
    if (tu_open(&g, "wan/vae/golden.safetensors") != 0) {
        wan_vae_free(m);
        st_close(&f);
        return;
    }
    const size_t n = (size_t)3 * FRAMES * HW;
    float *z = tu_tensor(&g, "z", NULL);
    float *clip[4] = {malloc(n * 4), malloc(n * 4), malloc(n * 4),
                      malloc(n * 4)};
    wan_vae_state *s = NULL;
    if (z && clip[0] && clip[1] && clip[2] && clip[3] &&
        wan_vae_state_new(&s, m, HL, WL) == 0) {
        for (int th = 1; th <= 3; th++) {
            st2v_pool *pool = NULL;
            REQUIRE(st2v_pool_new(&pool, th) == 0, "pool");
            wan_vae_state_reset(s);
            CHECK(decode_clip(s, pool, z, clip[th - 1], 1) == 0, "decode");
            st2v_pool_free(pool);
        }
        CHECK(memcmp(clip[0], clip[1], n * 4) == 0, "1 vs 2 threads");
        CHECK(memcmp(clip[0], clip[2], n * 4) == 0, "1 vs 3 threads");
        /* half a clip, then reset: the next clip is the first one again */
        float zt[16 * HL * WL] = {0}, out[3 * 4 * HW];
        int k;
        wan_vae_state_reset(s);
        CHECK(wan_vae_decode_frame_raw(s, NULL, zt, out, &k) == 0 && k == 1,
              "first");
        CHECK(wan_vae_decode_frame_raw(s, NULL, zt, out, &k) == 0 && k == 4,
              "second");
        wan_vae_state_reset(s);
        CHECK(decode_clip(s, NULL, z, clip[3], 1) == 0, "decode");
        CHECK(memcmp(clip[0], clip[3], n * 4) == 0, "after reset");
    }
    wan_vae_state_free(s);
    free(z);
    for (int i = 0; i < 4; i++)
        free(clip[i]);
    wan_vae_free(m);
    st_close(&g);
    st_close(&f);
}

/* Load f32.safetensors with one header name changed (same length) or a
 * config cfg; the error must contain `want`. */
static void expect_refusal(const char *rename_from, const char *rename_to,
                           const wan_vae_config *cfg, const char *prefix,
                           int status, const char *want)
{
    FILE *fp = fopen(tu_fixture("wan/vae/f32.safetensors"), "rb");
    REQUIRE(fp, "open");
    fseek(fp, 0, SEEK_END);
    long size = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    uint8_t *img = malloc((size_t)size);
    REQUIRE(img && fread(img, 1, (size_t)size, fp) == (size_t)size, "read");
    fclose(fp);
    if (rename_from) {
        uint64_t hl = 0;
        memcpy(&hl, img, 8);
        char *h = (char *)img + 8;
        char key[128];
        snprintf(key, sizeof(key), "\"%s\"", rename_from);
        char *at = NULL;
        for (uint64_t i = 0; i + strlen(key) <= hl && !at; i++)
            if (memcmp(h + i, key, strlen(key)) == 0)
                at = h + i;
        REQUIRE(at && strlen(rename_from) == strlen(rename_to), "rename");
        memcpy(at + 1, rename_to, strlen(rename_to));
    }
    st_file bad;
    char err[512] = "";
    if (st_open_memory(&bad, img, (size_t)size, err, sizeof(err)) != 0) {
        CHECK(0, "file: %s", err);
        free(img);
        return;
    }
    wan_vae *m = NULL;
    err[0] = '\0';
    const wan_vae_config c = fixture_config();
    int st = wan_vae_load(&m, &bad, prefix, cfg ? cfg : &c, err, sizeof(err));
    CHECK(st == status && !m, "status %d, want %d (%s)", st, status, err);
    CHECK(strstr(err, want) != NULL, "message \"%s\" lacks \"%s\"", err, want);
    wan_vae_free(m);
    st_close(&bad);
    free(img);
}

static void vae_refuses_missing_and_misshapen_tensors_by_name(void)
{
    expect_refusal("decoder.upsamples.7.time_conv.bias",
                   "decoder.upsamples.7.time_conv.bia_", NULL, NULL,
                   ST2V_ERR_FORMAT,
                   "tensor decoder.upsamples.7.time_conv.bias: missing");
    expect_refusal("decoder.head.0.gamma", "decoder.head.0.gamm_", NULL, NULL,
                   ST2V_ERR_FORMAT, "tensor decoder.head.0.gamma: missing");
    expect_refusal(NULL, NULL, NULL, "first_stage_model.", ST2V_ERR_FORMAT,
                   "tensor first_stage_model.conv2.weight: missing");
    wan_vae_config c = fixture_config();
    c.dim = 8;
    expect_refusal(NULL, NULL, &c, NULL, ST2V_ERR_FORMAT,
                   "tensor decoder.conv1.weight: shape [8, 16, 3, 3, 3], "
                   "expected [16, 16, 3, 3, 3]");
    c = fixture_config();
    c.num_res_blocks = 3;
    expect_refusal(NULL, NULL, &c, NULL, ST2V_ERR_FORMAT,
                   "tensor decoder.upsamples.3.residual.0.gamma: missing");
    c = fixture_config();
    c.z_dim = 8;
    expect_refusal(NULL, NULL, &c, NULL, ST2V_ERR_INVALID_ARG, "z_dim 8");
}

static void vae_reads_its_config_from_the_shapes(void)
{
    const char *files[] = {"f32", "bf16"};
    for (int i = 0; i < 2; i++) {
        st_file f;
        char path[64], err[512] = "";
        snprintf(path, sizeof(path), "wan/vae/%s.safetensors", files[i]);
        if (tu_open(&f, path) != 0)
            return;
        wan_vae_config c, want = fixture_config();
        memset(&c, 0xff, sizeof(c));
        CHECK(wan_vae_config_from_file(&c, &f, NULL, err, sizeof(err)) == 0,
              "%s", err);
        CHECK(memcmp(&c, &want, sizeof(c)) == 0,
              "%s: dim %d z %d mult %d %d %d %d res %d down %d %d %d",
              files[i], c.dim, c.z_dim, c.dim_mult[0], c.dim_mult[1],
              c.dim_mult[2], c.dim_mult[3], c.num_res_blocks,
              c.temporal_down[0], c.temporal_down[1], c.temporal_down[2]);
        CHECK(wan_vae_config_from_file(&c, &f, "vae.", err, sizeof(err)) ==
                      ST2V_ERR_FORMAT &&
                  strstr(err, "tensor vae.conv2.weight: missing"),
              "\"%s\"", err);
        st_close(&f);
    }
}

static void vae_rejects_bad_sizes(void)
{
    st_file f;
    wan_vae *m = load(&f, "f32");
    if (!m)
        return;
    wan_vae_state *s = NULL;
    CHECK(wan_vae_state_new(&s, m, 0, 3) == ST2V_ERR_INVALID_ARG && !s,
          "hl 0");
    CHECK(wan_vae_state_new(&s, m, 3, -1) == ST2V_ERR_INVALID_ARG && !s,
          "wl -1");
    CHECK(wan_vae_state_new(&s, m, 4000, 4000) == ST2V_ERR_INVALID_ARG && !s,
          "huge");
    CHECK(wan_vae_state_new(&s, m, HL, WL) == 0 && s, "ok");
    CHECK(wan_vae_cache_bytes(m, HL, WL) > 0, "cache bytes");
    int n;
    CHECK(wan_vae_decode_frame(s, NULL, NULL, NULL, &n) ==
              ST2V_ERR_INVALID_ARG,
          "NULL z");
    wan_vae_state_free(s);
    wan_vae_free(m);
    st_close(&f);
}

/* The cache: the last 2 input frames of each 3-tap causal conv. */
static void vae_cache_holds_two_input_frames_of_every_causal_conv(void)
{
    st_file f;
    wan_vae *m = load(&f, "f32");
    if (!m)
        return;
    /* tiny: conv1 16 + middle 4 x 8 + stage 0: 6 x 8 + time_conv 8 at
     * level 0; stage 1: 4 + 5 x 8 + 8 at level 1; stage 2: 4 + 5 x 4 at
     * level 2; stage 3: 2 + 5 x 4 + head 4 at level 3 */
    const size_t want = 2 * ((16 + 32 + 48 + 8) * 1 + (4 + 40 + 8) * 4 +
                             (4 + 20) * 16 + (2 + 20 + 4) * 64) *
                        (size_t)HL * WL * sizeof(float);
    CHECK(wan_vae_cache_bytes(m, HL, WL) == want, "%zu, want %zu",
          wan_vae_cache_bytes(m, HL, WL), want);
    wan_vae_free(m);
    st_close(&f);
}

int main(void)
{
    RUN(vae_matches_reference_per_chunk_with_f32_weights);
    RUN(vae_matches_reference_per_chunk_with_bf16_weights);
    RUN(vae_clamps_and_maps_to_uint8_as_wan_saves_video);
    RUN(vae_gives_identical_bits_for_1_2_and_3_threads_and_after_reset);
    RUN(vae_refuses_missing_and_misshapen_tensors_by_name);
    RUN(vae_reads_its_config_from_the_shapes);
    RUN(vae_rejects_bad_sizes);
    RUN(vae_cache_holds_two_input_frames_of_every_causal_conv);
    return tu_summary();
}
