/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test_wan_pipeline.c - Wan2.1 end to end through the public API: the tiny
 * runnable folder tests/fixtures/wan/tiny (official layout) loaded with
 * st2v_model_load, its frames made by st2v_generator_next_frame and
 * compared with what the PyTorch reference pipeline (train/wan/
 * pipeline.py: sentencepiece + Wan's cleaning, umT5, the DiT under CFG,
 * Wan's UniPC, the same Philox noise, the streamed VAE decode, the
 * generator's byte mapping) makes of the same folder, stored in
 * tests/fixtures/wan/pipeline/golden.safetensors: two videos of one chunk
 * and one of two (85 frames: the second chunk starts from the first's
 * last 2 latent frames). Also: the model's info,
 * the default negative prompt, sizes not divisible by 16, thread counts.
 *
 * Tolerance: the reference runs in float64, the engine in float32, so a
 * byte may land one level off where the float value lies within the
 * engine's error of a rounding edge (the golden's NAME.margin says how
 * close the closest one is). Allowed: no byte more than 1 level off, and
 * at most 1 % of the bytes 1 level off.
 */
#include <cjson/cJSON.h>
#include <stdint.h>
#include <time.h>

#include "arch.h"
#include "common.h"
#include "guidance.h"
#include "rng.h"
#include "st2v.h"
#include "ops_bf16.h"
#include "test_util.h"
#include "wan/family.h"

#define MAX_LEVELS 1        /* the largest difference of a byte allowed */
#define MAX_OFF_SHARE 0.01  /* the share of bytes allowed to differ */

static st2v_model *model;
static st_file golden;
static cJSON *cases;

static int load_all(void)
{
    char err[512];
    if (st2v_model_load(&model, tu_fixture("wan/tiny"), err, sizeof(err))) {
        fprintf(stderr, "  cannot load wan/tiny: %s\n", err);
        return -1;
    }
    if (st_open(&golden, tu_fixture("wan/pipeline/golden.safetensors"), err,
                sizeof(err))) {
        fprintf(stderr, "  cannot open the golden: %s\n", err);
        return -1;
    }
    if (!(cases = tu_golden_cases(&golden, 2)))
        return -1;
    return 0;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* The settings of case c, every one given (none left to the defaults). */
static st2v_params case_params(const cJSON *c)
{
    st2v_params p = st2v_default_params();
    p.prompt = tu_case_str(c, "prompt");
    p.negative_prompt = tu_case_str(c, "negative_prompt");
    p.width = (int)tu_case_num(c, "width");
    p.height = (int)tu_case_num(c, "height");
    p.frames = (int64_t)tu_case_num(c, "frames");
    p.steps = (int)tu_case_num(c, "steps");
    p.cfg = (float)tu_case_num(c, "cfg");
    p.shift = (float)tu_case_num(c, "shift");
    p.seed = (uint64_t)tu_case_num(c, "seed");
    p.threads = 1;
    if (st2v_sampler_from_name(tu_case_str(c, "sampler"), &p.sampler) != 0)
        p.sampler = ST2V_SAMPLER_DEFAULT;
    return p;
}

/* All frames of p into a malloc'ed (frames, H, W, 3) buffer, or NULL. */
static uint8_t *render(const st2v_params *p, size_t *size, double *seconds)
{
    char err[512];
    st2v_generator *g = NULL;
    double t0 = now_s();
    int rc = st2v_generator_new(&g, model, p, err, sizeof(err));
    CHECK(rc == 0, "st2v_generator_new: %s", err);
    if (rc)
        return NULL;
    const size_t frame = (size_t)p->width * p->height * 3;
    uint8_t *buf = malloc(frame * (size_t)p->frames);
    int64_t n = 0;
    while (buf) {
        rc = st2v_generator_next_frame(g, buf + frame * n, p->width * 3, NULL);
        if (rc != ST2V_OK)
            break;
        if (++n > p->frames)
            break;
    }
    CHECK(rc == ST2V_EOF && n == p->frames,
          "%lld frames then %s (%s), %lld wanted", (long long)n,
          st2v_strerror(rc), st2v_generator_last_error(g),
          (long long)p->frames);
    st2v_generator_free(g);
    if (seconds)
        *seconds = now_s() - t0;
    if (rc != ST2V_EOF || n != p->frames) {
        free(buf);
        return NULL;
    }
    *size = frame * (size_t)p->frames;
    return buf;
}

/* ------------------------------------------------------------- tests */

static void info_says_wan_at_its_defaults(void)
{
    REQUIRE(model, "no model");
    const st2v_model_info *i = st2v_model_get_info(model);
    REQUIRE(i && i->name, "no info");
    printf("     %s: %s\n", i->name, i->description ? i->description : "");
    CHECK(strncmp(i->name, "Wan2.1", 6) == 0, "name %s", i->name);
    CHECK(i->family && strcmp(i->family, "wan2.1") == 0, "family %s",
          i->family ? i->family : "(null)");
    CHECK(i->fps == 16, "fps %d", i->fps);
    CHECK(i->default_sampler && strcmp(i->default_sampler, "unipc") == 0,
          "default sampler %s", i->default_sampler);
    CHECK(i->default_steps == 20, "default steps %d", i->default_steps);
    CHECK(i->default_cfg == 5.0f && i->default_shift == 5.0f,
          "default cfg %g, shift %g", (double)i->default_cfg,
          (double)i->default_shift);
    CHECK(i->frames_per_latent == 4 && i->spatial_factor == 8,
          "%d frames per latent, %d pixels per cell", i->frames_per_latent,
          i->spatial_factor);
    CHECK(i->n_params > 0 && i->n_sizes > 0, "%lld parameters, %d sizes",
          (long long)i->n_params, i->n_sizes);
}

/* Every case: the frames of the reference, within the tolerance. */
static void every_case_renders_the_reference_frames(void)
{
    REQUIRE(model && cases, "fixtures not loaded");
    const cJSON *c;
    cJSON_ArrayForEach(c, cases)
    {
        const char *name = tu_case_str(c, "name");
        REQUIRE(name, "a case without a name");
        char key[160];
        snprintf(key, sizeof(key), "%s.u8", name);
        const st_tensor *want = st_find(&golden, key);
        REQUIRE(want && want->dtype == ST_U8, "%s missing or not U8", key);
        st2v_params p = case_params(c);
        size_t n = 0;
        double sec = 0;
        uint8_t *all = render(&p, &n, &sec);
        if (!all)
            continue;
        /* the golden holds the frames from first_frame on */
        const double ff = tu_case_num(c, "first_frame");
        const size_t skip = isnan(ff) ? 0
                                      : (size_t)ff * p.width * p.height * 3;
        const uint8_t *got = all + (skip < n ? skip : n);
        n -= skip < n ? skip : n;
        CHECK(n == want->numel, "%s: %zu bytes, the golden has %llu", name, n,
              (unsigned long long)want->numel);
        size_t off = 0;
        int worst = 0;
        for (size_t k = 0; k < n && k < want->numel; k++) {
            int d = abs((int)got[k] - (int)want->data[k]);
            off += d != 0;
            worst = d > worst ? d : worst;
        }
        snprintf(key, sizeof(key), "%s.margin", name);
        size_t nm = 0;
        float *margin = tu_tensor(&golden, key, &nm);
        printf("     %-20s %dx%d x %lld frames (from %d), %d steps: max "
               "|diff| %d levels, %zu of %zu bytes differ (closest rounding "
               "edge %.1g levels away), %.2f s\n",
               name, p.width, p.height, (long long)p.frames,
               isnan(ff) ? 0 : (int)ff, p.steps, worst, off, n,
               margin && nm ? (double)margin[0] : NAN, sec);
        free(margin);
        CHECK(worst <= MAX_LEVELS, "%s: a byte %d levels off", name, worst);
        CHECK(off <= MAX_OFF_SHARE * (double)n, "%s: %zu of %zu bytes off",
              name, off, n);
        free(all);
    }
}

/* Below the bytes: the latent each case samples in its first chunk (the
 * generator's noise, the family's encodings, guidance.c and the sampler)
 * against the reference's float64 one. */
static void every_case_samples_the_reference_latent(void)
{
    REQUIRE(model && cases, "fixtures not loaded");
    const st2v_arch *a = model->arch;
    const int Cz = model->caps.latent_channels, s = model->caps.spatial_factor;
    const cJSON *c;
    cJSON_ArrayForEach(c, cases)
    {
        const char *name = tu_case_str(c, "name");
        st2v_params p = case_params(c);
        /* the first chunk's window: all of the video, or `window` frames */
        const int Tv = (int)(1 + (p.frames - 1 + 3) / 4),
                  T = Tv < model->caps.window ? Tv : model->caps.window,
                  Hl = p.height / s, Wl = p.width / s;
        const size_t frame = (size_t)Hl * Wl, n = (size_t)Cz * T * frame;
        char key[160];
        snprintf(key, sizeof(key), "%s.latent", name);
        size_t nw = 0;
        float *want = tu_tensor(&golden, key, &nw);  /* (Cz, Tv, Hl, Wl) */
        float *x = malloc(n * sizeof(float));
        if (want && nw == (size_t)Cz * Tv * frame) /* -> (Cz, T, Hl, Wl) */
            for (int ch = 0; ch < Cz; ch++)
                memmove(want + ch * T * frame, want + ch * Tv * frame,
                        T * frame * sizeof(float));
        void *pos = NULL, *neg = NULL;
        const char *nt = p.negative_prompt && *p.negative_prompt
                             ? p.negative_prompt
                             : a->default_negative;
        int rc = want && x && nw == (size_t)Cz * Tv * frame
                     ? 0
                     : ST2V_ERR_INVALID_ARG;
        if (rc == 0)
            rc = a->encode_text(model->impl, NULL, p.prompt, &pos);
        if (rc == 0)
            rc = a->encode_text(model->impl, NULL, nt, &neg);
        if (rc == 0) {
            st2v_normal_fill(x, (int64_t)n, p.seed, 0, 0);
            st2v_window_job job = {
                .sampler = p.sampler, .steps = p.steps, .guidance = p.cfg,
                .shift = p.shift, .T = T, .Hl = Hl, .Wl = Wl, .pos = pos,
                .neg = neg};
            rc = st2v_sample_window(model, NULL, &job, x);
        }
        CHECK(rc == 0, "%s: %s", name, st2v_strerror(rc));
        if (rc == 0) {
            snprintf(key, sizeof(key), "%s latent", name);
            CHECK_GOLDEN(key, x, want, n);
        }
        if (pos)
            a->cond_free(pos);
        if (neg)
            a->cond_free(neg);
        free(x);
        free(want);
    }
}

/* The same bytes on 1 and 2 threads. */
static void frames_are_the_same_for_any_thread_count(void)
{
    REQUIRE(model && cases, "fixtures not loaded");
    st2v_params p = case_params(cJSON_GetArrayItem(cases, 0));
    size_t n1 = 0, n2 = 0;
    uint8_t *a = render(&p, &n1, NULL);
    p.threads = 2;
    uint8_t *b = render(&p, &n2, NULL);
    CHECK(a && b && n1 == n2 && memcmp(a, b, n1) == 0,
          "1 and 2 threads give different frames");
    free(a);
    free(b);
}

/* compute_dtype bf16 reaches the Wan family (wan_dit_use_bf16): the
 * tiny folder's DiT is F32, which stays float32 (the BF16 path reads bf16
 * weights in place only), so the frames are the same bytes. */
/* Compute dtype bf16 on the tiny model: its BF16 umT5 takes the BF16 path
 * (wan_umt5_use_bf16), its F32 DiT stays float32 (test_wan_dit), and the
 * frames stay close to float32's: mean |difference| under 2 of 255 and
 * no pixel off by more than 64. Where the CPU has no BF16 path, the same
 * bits. */
static void compute_dtype_bf16_renders_close_to_float32(void)
{
    REQUIRE(model && cases, "fixtures not loaded");
    st2v_model_params mp = st2v_model_default_params();
    mp.compute_dtype = ST2V_DTYPE_BF16;
    st2v_model *bf16 = NULL;
    char err[512];
    CHECK(st2v_model_load_with_params(&bf16, tu_fixture("wan/tiny"), &mp,
                                      err, sizeof(err)) == 0,
          "load bf16: %s", err);
    if (!bf16)
        return;
    st2v_params p = case_params(cJSON_GetArrayItem(cases, 0));
    size_t n1 = 0, n2 = 0;
    uint8_t *a = render(&p, &n1, NULL);
    st2v_model *f32 = model;
    model = bf16;
    uint8_t *b = render(&p, &n2, NULL);
    model = f32;
    CHECK(a && b && n1 == n2, "bf16 render failed or differs in size");
    if (a && b && n1 == n2) {
        double sum = 0.0;
        int worst = 0;
        for (size_t i = 0; i < n1; i++) {
            const int d = abs((int)a[i] - (int)b[i]);
            sum += d;
            worst = d > worst ? d : worst;
        }
        const double mean = sum / (double)n1;
        printf("     bf16 against float32: mean |diff| %.3f, max %d of 255%s\n",
               mean, worst,
               st2v_bf16_matmul_supported() ? "" : " (no BF16 path here)");
        if (!st2v_bf16_matmul_supported())
            CHECK(worst == 0, "no BF16 path, yet the frames changed");
        CHECK(mean < 2.0 && worst <= 64, "bf16 frames too far from float32's");
    }
    free(a);
    free(b);
    st2v_model_free(bf16);
}

/* No negative prompt = Wan's official one, written out; another one
 * changes the frames. */
static void no_negative_prompt_means_wans_official_one(void)
{
    REQUIRE(model && cases, "fixtures not loaded");
    const cJSON *c = NULL, *it;
    cJSON_ArrayForEach(it, cases)
    {
        const char *neg = tu_case_str(it, "negative_prompt");
        if (neg && !*neg)
            c = it;
    }
    REQUIRE(c, "no case without a negative prompt");
    /* the reference's copy of the official text against the family's */
    const char *ref = st_metadata(&golden, "default_negative");
    CHECK(ref && strcmp(ref, wan_default_negative) == 0,
          "the family's default negative prompt is not the reference's");

    st2v_params p = case_params(c);
    size_t n0 = 0, n1 = 0, n2 = 0, n3 = 0;
    p.negative_prompt = NULL;
    uint8_t *none = render(&p, &n0, NULL);
    p.negative_prompt = wan_default_negative;
    uint8_t *official = render(&p, &n1, NULL);
    p.negative_prompt = " \t";
    uint8_t *blank = render(&p, &n2, NULL);
    p.negative_prompt = "blurry, static";
    uint8_t *other = render(&p, &n3, NULL);
    REQUIRE(none && official && blank && other, "rendering failed");
    CHECK(n0 == n1 && memcmp(none, official, n0) == 0,
          "no negative prompt differs from the official one given");
    CHECK(n0 == n2 && memcmp(none, blank, n0) == 0,
          "a blank negative prompt differs from none");
    CHECK(n0 == n3 && memcmp(none, other, n0) != 0,
          "another negative prompt changes nothing");
    free(none);
    free(official);
    free(blank);
    free(other);
}

/* 40x32 and 48x24: refused by st2v_generator_new in one line naming 16. */
static void sizes_not_divisible_by_16_are_refused(void)
{
    REQUIRE(model, "no model");
    static const int bad[][2] = {{40, 32}, {48, 24}, {56, 40}};
    for (size_t i = 0; i < ST2V_ARRAY_SIZE(bad); i++) {
        st2v_params p = st2v_default_params();
        p.prompt = "a red ball";
        p.width = bad[i][0];
        p.height = bad[i][1];
        p.frames = 9;
        char err[512] = "";
        st2v_generator *g = NULL;
        int rc = st2v_generator_new(&g, model, &p, err, sizeof(err));
        CHECK(rc == ST2V_ERR_INVALID_ARG && !g, "%dx%d: status %d",
              bad[i][0], bad[i][1], rc);
        CHECK(strstr(err, "16") && !strchr(err, '\n'),
              "%dx%d: message \"%s\"", bad[i][0], bad[i][1], err);
        if (i == 0)
            printf("     %s\n", err);
        st2v_generator_free(g);
    }
}

int main(void)
{
    if (load_all() != 0) {
        tu_current = "load_fixtures";
        tu_failed++;
        printf("FAIL load_fixtures\n");
    } else {
        RUN(info_says_wan_at_its_defaults);
        RUN(every_case_renders_the_reference_frames);
        RUN(every_case_samples_the_reference_latent);
        RUN(frames_are_the_same_for_any_thread_count);
        RUN(compute_dtype_bf16_renders_close_to_float32);
        RUN(no_negative_prompt_means_wans_official_one);
        RUN(sizes_not_divisible_by_16_are_refused);
    }
    cJSON_Delete(cases);
    st2v_model_free(model);
    if (golden.map)
        st_close(&golden);
    return tu_summary();
}
