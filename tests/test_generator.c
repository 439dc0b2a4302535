/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test_generator.c - the public generator API on the tiny model
 * (fps 16, native 32x32 and 48x32, 4 frames per latent, window 4 latent
 * frames with 1 of context): determinism across runs and thread counts,
 * frame counts and sizes, frame-rate conversion, endless streams, prompt
 * changes, rewind, cancellation, the conditioning image, and refusal of
 * every bad parameter.
 */
#include <malloc.h>
#include <stdint.h>

#include "generator.h"
#include "rng.h"
#include "scale.h"
#include "st2v/family.h"
#include "st2v/model.h"
#include "st2v/tokenizer.h"
#include "st2v/vae.h"
#include "test_util.h"
#include "test_world.h"

static st2v_model *model;

/* Quick settings for most tests: 2 steps, guidance on. */
static st2v_params quick(void)
{
    st2v_params p = st2v_default_params();
    p.prompt = "a red ball on the sea";
    p.seed = 7;
    p.steps = 2;
    p.threads = 1;
    return p;
}

static st2v_generator *make(const st2v_params *p)
{
    st2v_generator *g = NULL;
    char err[256];
    int rc = st2v_generator_new(&g, model, p, err, sizeof(err));
    CHECK(rc == 0 && g, "st2v_generator_new failed: %s", err);
    return g;
}

/* Pull up to max frames into a malloc'ed buffer; *count gets the number
 * returned before EOF (or an error, reported). */
static uint8_t *pull(st2v_generator *g, int64_t max, int64_t *count)
{
    st2v_stream_info si;
    st2v_generator_get_info(g, &si);
    size_t fsz = (size_t)si.width * si.height * 3;
    uint8_t *buf = malloc(fsz * (size_t)(max > 0 ? max : 1));
    int64_t n = 0;
    while (n < max) {
        int rc = st2v_generator_next_frame(g, buf + fsz * n, si.width * 3,
                                           NULL);
        if (rc == ST2V_EOF)
            break;
        if (rc != 0) {
            CHECK(0, "next_frame %lld: %s (%s)", (long long)n,
                  st2v_strerror(rc), st2v_generator_last_error(g));
            break;
        }
        n++;
    }
    *count = n;
    return buf;
}

static size_t frame_bytes(const st2v_generator *g)
{
    st2v_stream_info si;
    st2v_generator_get_info(g, &si);
    return (size_t)si.width * si.height * 3;
}

/* ------------------------------------------------------- ReDi */

/* fixtures/redi/carried.safetensors is tiny.safetensors carried onto 3
 * extra (ReDi) channels with zero weights on them: the generator samples 7
 * channels, its first 4 draw the same noise and get the same velocity,
 * the decoder reads those: the same video, byte for byte. (From either
 * fixture folder this suite runs on.) */
static void a_model_carried_onto_extra_channels_makes_the_same_video(void)
{
    char base[4096], carried[4096];
    const char *dir = getenv("ST2V_FIXTURES");
    dir = dir ? dir : "tests/fixtures";
    snprintf(carried, sizeof(carried), "%s/carried.safetensors", dir);
    FILE *f = fopen(carried, "rb");
    if (f) { /* running on redi/ */
        fclose(f);
        snprintf(base, sizeof(base), "%s/../tiny.safetensors", dir);
    } else {
        snprintf(carried, sizeof(carried), "%s/redi/carried.safetensors", dir);
        snprintf(base, sizeof(base), "%s/tiny.safetensors", dir);
    }
    const char *paths[2] = {base, carried};
    uint8_t *frames[2] = {NULL, NULL};
    int64_t n[2] = {0, 0};
    size_t fsz = 0;
    for (int k = 0; k < 2; k++) {
        st2v_model *m = NULL;
        char err[512];
        int rc = st2v_model_load(&m, paths[k], err, sizeof(err));
        REQUIRE(rc == 0 && m, "load %s: %s", paths[k], err);
        st2v_params p = quick();
        p.frames = 40; /* 3 chunks: context carried twice */
        st2v_generator *g = NULL;
        rc = st2v_generator_new(&g, m, &p, err, sizeof(err));
        REQUIRE(rc == 0 && g, "generator on %s: %s", paths[k], err);
        fsz = frame_bytes(g);
        frames[k] = pull(g, p.frames, &n[k]);
        st2v_generator_free(g);
        st2v_model_free(m);
    }
    CHECK(n[0] == 40 && n[1] == 40, "%lld and %lld frames", (long long)n[0],
          (long long)n[1]);
    /* The carried DiT's matrix products sum longer rows (zero terms
     * added). On the AVX-512 path the order of those sums stays the same:
     * byte for byte. On the AVX2 and generic paths (ST2V_CPU=avx2 or
     * generic, and valgrind, whose CPUID hides AVX-512) it does not: 5 of
     * the 122,880 bytes round the other way, each by 1. Allowed: at most
     * 1 byte in 1,000, by 1. */
    size_t ndiff = 0, maxdiff = 0;
    for (size_t i = 0; frames[0] && frames[1] && i < fsz * 40; i++) {
        size_t d = (size_t)abs((int)frames[0][i] - (int)frames[1][i]);
        ndiff += d != 0;
        maxdiff = d > maxdiff ? d : maxdiff;
    }
    CHECK(frames[0] && frames[1] && maxdiff <= 1 && ndiff <= fsz * 40 / 1000,
          "the carried model's video differs: %zu bytes, by up to %zu",
          ndiff, maxdiff);
    free(frames[0]);
    free(frames[1]);
}

/* ------------------------------------------------------- determinism */

static void the_same_seed_gives_the_same_bytes(void)
{
    st2v_params p = quick();
    p.frames = 24; /* two chunks */
    st2v_generator *a = make(&p), *b = make(&p);
    REQUIRE(a && b, "no generator");
    int64_t na, nb;
    uint8_t *fa = pull(a, 100, &na), *fb = pull(b, 100, &nb);
    CHECK(na == 24 && nb == 24, "got %lld and %lld frames", (long long)na,
          (long long)nb);
    CHECK(memcmp(fa, fb, frame_bytes(a) * (size_t)na) == 0,
          "two runs with one seed differ");
    free(fa);
    free(fb);
    st2v_generator_free(a);
    st2v_generator_free(b);
}

static void one_and_two_threads_give_the_same_bytes(void)
{
    st2v_params p = quick();
    p.frames = 20;
    st2v_generator *a = make(&p);
    p.threads = 2;
    st2v_generator *b = make(&p);
    REQUIRE(a && b, "no generator");
    int64_t na, nb;
    uint8_t *fa = pull(a, 20, &na), *fb = pull(b, 20, &nb);
    CHECK(na == 20 && nb == 20, "frame counts %lld %lld", (long long)na,
          (long long)nb);
    CHECK(memcmp(fa, fb, frame_bytes(a) * 20) == 0,
          "1 and 2 threads differ");
    free(fa);
    free(fb);
    st2v_generator_free(a);
    st2v_generator_free(b);
}

static void different_seeds_give_different_video(void)
{
    st2v_params p = quick();
    p.frames = 4;
    st2v_generator *a = make(&p);
    p.seed = 8;
    st2v_generator *b = make(&p);
    REQUIRE(a && b, "no generator");
    int64_t na, nb;
    uint8_t *fa = pull(a, 4, &na), *fb = pull(b, 4, &nb);
    size_t fsz = frame_bytes(a), same = 0;
    for (size_t i = 0; i < fsz * 4; i++)
        same += fa[i] == fb[i];
    CHECK(same < fsz * 4 / 4, "%zu of %zu bytes equal", same, fsz * 4);
    free(fa);
    free(fb);
    st2v_generator_free(a);
    st2v_generator_free(b);
}

/* The generator's first chunk is exactly st2v_sample_window on the Philox
 * noise of stream 0, decoded and rounded: the golden-tested pipeline. */
static void the_first_chunk_is_the_golden_tested_window(void)
{
    const st2v_config *cf = &st2v_world_of(model)->cfg;
    st2v_params p = quick();
    p.frames = cf->window * cf->ft;
    p.seed = 42;
    st2v_generator *g = make(&p);
    REQUIRE(g, "no generator");
    int64_t n;
    uint8_t *got = pull(g, p.frames, &n);

    /* the window has the DiT's C = Cz + dit.extra_channels channels; the
     * decoder reads the first Cz */
    const int Cz = cf->z_channels, C = cf->dit_channels, T = cf->window;
    const int H = cf->sizes[0][1], W = cf->sizes[0][0];
    const int Hl = H / cf->s, Wl = W / cf->s;
    const size_t frame = (size_t)Hl * Wl, npix = (size_t)H * W;
    float *x = malloc(C * T * frame * sizeof(float));
    st2v_normal_fill(x, (int64_t)(C * T * frame), 42, 0, 0);
    st2v_tokenizer *tok;
    int trc = st2v_tokenizer_new(&tok, cf);
    REQUIRE(trc == 0, "tokenizer");
    int32_t ids[64], neg[64];
    REQUIRE(cf->max_length <= 64, "max_length too large for test");
    int ni = st2v_tokenize(tok, p.prompt, ids), nn = st2v_tokenize(tok, "", neg);
    st2v_sampler s;
    st2v_sampler_from_name(cf->sampler, &s);
    int rc = tw_sample_window_ids(model, NULL, ids, ni, neg, nn, s, 2,
                                    cf->guidance, cf->shift, T, Hl, Wl, 0, x);
    CHECK(rc == 0, "sample_window: %d", rc);
    st2v_vae_stream *vs;
    int vrc = st2v_vae_stream_new(&vs, st2v_world_of(model), Hl, Wl);
    REQUIRE(vrc == 0, "vae stream");
    float *z = malloc(Cz * frame * sizeof(float));
    float *rgb = malloc(3 * cf->ft * npix * sizeof(float));
    size_t bad = 0;
    for (int f = 0; f < T; f++) {
        for (int c = 0; c < Cz; c++)
            for (size_t i = 0; i < frame; i++)
                z[c * frame + i] = x[((size_t)c * T + f) * frame + i] *
                                       cf->latent_std[c] +
                                   cf->latent_mean[c];
        st2v_vae_decode_frame(vs, NULL, z, rgb);
        for (int k = 0; k < cf->ft; k++)
            for (size_t i = 0; i < npix; i++)
                for (int c = 0; c < 3; c++) {
                    /* clamp(round((v + 1) * 127.5)), as documented */
                    float q = (rgb[((size_t)c * cf->ft + k) * npix + i] + 1) *
                              127.5f;
                    int want = !(q > 0) ? 0 : q >= 254.5f ? 255
                                                          : (int)(q + 0.5f);
                    size_t at = ((size_t)(f * cf->ft + k) * npix + i) * 3 + c;
                    bad += got[at] != want;
                }
    }
    CHECK(n == p.frames, "%lld frames", (long long)n);
    CHECK(bad == 0, "%zu values differ from the direct pipeline", bad);
    free(x);
    free(z);
    free(rgb);
    free(got);
    st2v_vae_stream_free(vs);
    st2v_tokenizer_free(tok);
    st2v_generator_free(g);
}

/* ------------------------------------------------- counts, sizes, rates */

static void frame_count_is_duration_times_fps(void)
{
    static const struct {
        double duration;
        int num, den;
        int64_t want;
    } cases[] = {
        {1.0, 16, 1, 16}, {2.0, 8, 1, 16}, {0.5, 30, 1, 15},
        {1.0, 30000, 1001, 30}, {2.5, 24, 1, 60}, {0.25, 0, 0, 4},
        {3.0, 1, 1, 3},
    };
    for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
        st2v_params p = quick();
        p.steps = 1;
        p.cfg = 1.0f;
        p.duration = cases[k].duration;
        p.fps_num = cases[k].num;
        p.fps_den = cases[k].den;
        st2v_generator *g = make(&p);
        if (!g)
            continue;
        st2v_stream_info si;
        st2v_generator_get_info(g, &si);
        int64_t n;
        free(pull(g, 1000, &n));
        CHECK(si.frames == cases[k].want && n == cases[k].want,
              "%g s at %d/%d: info %lld, got %lld, want %lld",
              cases[k].duration, cases[k].num, cases[k].den,
              (long long)si.frames, (long long)n, (long long)cases[k].want);
        st2v_generator_free(g);
    }
}

static void an_explicit_frame_count_wins_over_duration(void)
{
    st2v_params p = quick();
    p.steps = 1;
    p.frames = 7;
    p.duration = 100;
    st2v_generator *g = make(&p);
    REQUIRE(g, "no generator");
    int64_t n;
    free(pull(g, 100, &n));
    CHECK(n == 7, "%lld frames", (long long)n);
    uint8_t px[32 * 32 * 3];
    CHECK(st2v_generator_next_frame(g, px, 32 * 3, NULL) == ST2V_EOF,
          "no EOF after the last frame");
    st2v_generator_free(g);
}

static void requested_sizes_come_out_at_that_size(void)
{
    static const int sizes[][4] = {
        /* w, h, native w, native h */
        {40, 24, 48, 32}, {64, 64, 32, 32}, {100, 60, 48, 32},
        {16, 16, 32, 32}, {48, 32, 48, 32}, {30, 40, 32, 32},
    };
    for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
        st2v_params p = quick();
        p.steps = 1;
        p.frames = 2;
        p.width = sizes[k][0];
        p.height = sizes[k][1];
        st2v_generator *g = make(&p);
        if (!g)
            continue;
        st2v_stream_info si;
        st2v_generator_get_info(g, &si);
        CHECK(si.width == p.width && si.height == p.height &&
                  si.native_width == sizes[k][2] &&
                  si.native_height == sizes[k][3],
              "%dx%d: info says %dx%d from native %dx%d", p.width, p.height,
              si.width, si.height, si.native_width, si.native_height);
        /* Rows with padding: nothing may be written past width * 3. */
        ptrdiff_t stride = p.width * 3 + 5;
        uint8_t *buf = malloc((size_t)stride * p.height);
        memset(buf, 0xEE, (size_t)stride * p.height);
        int rc = st2v_generator_next_frame(g, buf, stride, NULL);
        CHECK(rc == 0, "%dx%d: %s", p.width, p.height,
              st2v_generator_last_error(g));
        int pad_ok = 1, varied = 0;
        for (int y = 0; y < p.height; y++) {
            for (int i = 0; i < 5; i++)
                pad_ok &= buf[y * stride + p.width * 3 + i] == 0xEE;
            for (int i = 3; i < p.width * 3; i++)
                varied |= buf[y * stride + i] != buf[y * stride + i - 3];
        }
        CHECK(pad_ok, "%dx%d: wrote into the row padding", p.width,
              p.height);
        CHECK(varied, "%dx%d: the frame is flat", p.width, p.height);
        free(buf);
        st2v_generator_free(g);
    }
}

static void scaled_output_is_the_scaler_applied_to_the_native_frame(void)
{
    st2v_params p = quick();
    p.steps = 1;
    p.frames = 3;
    p.width = 100;
    p.height = 60;
    st2v_generator *s = make(&p);
    REQUIRE(s, "no generator");
    int64_t cs;
    uint8_t *fs = pull(s, 3, &cs);
    st2v_stream_info si;
    st2v_generator_get_info(s, &si);
    st2v_scaler *sc;
    int src = st2v_scaler_new(&sc, si.native_width, si.native_height, 100, 60);
    REQUIRE(src == 0, "scaler");
    /* The same video at its native size (48x32), unscaled. */
    st2v_params q = quick();
    q.steps = 1;
    q.frames = 3;
    q.width = si.native_width;
    q.height = si.native_height;
    st2v_generator *w = make(&q);
    int64_t cw;
    uint8_t *fw = pull(w, 3, &cw);
    uint8_t *want = malloc(100 * 60 * 3);
    for (int k = 0; k < 3; k++) {
        st2v_scaler_run(sc, want, 300,
                        fw + (size_t)k * si.native_width * si.native_height * 3,
                        si.native_width * 3);
        CHECK(memcmp(want, fs + (size_t)k * 100 * 60 * 3, 100 * 60 * 3) == 0,
              "frame %d is not the scaled native frame", k);
    }
    CHECK(cs == 3 && cw == 3, "counts %lld %lld", (long long)cs,
          (long long)cw);
    free(fs);
    free(fw);
    free(want);
    st2v_scaler_free(sc);
    st2v_generator_free(s);
    st2v_generator_free(w);
}

static void half_and_double_rates_drop_and_repeat_native_frames(void)
{
    st2v_params p = quick();
    p.steps = 1;
    p.frames = 32;
    st2v_generator *native = make(&p);
    p.frames = 16;
    p.fps_num = 8;
    p.fps_den = 1;
    st2v_generator *half = make(&p);
    p.frames = 64;
    p.fps_num = 32;
    st2v_generator *twice = make(&p);
    REQUIRE(native && half && twice, "no generator");
    int64_t a, b, c;
    uint8_t *fn = pull(native, 32, &a), *fh = pull(half, 16, &b),
            *ft = pull(twice, 64, &c);
    size_t fsz = frame_bytes(native);
    int bad_half = 0, bad_twice = 0;
    for (int k = 0; k < 16; k++)
        bad_half += memcmp(fh + k * fsz, fn + 2 * k * fsz, fsz) != 0;
    for (int k = 0; k < 64; k++)
        bad_twice += memcmp(ft + k * fsz, fn + (k / 2) * fsz, fsz) != 0;
    CHECK(a == 32 && b == 16 && c == 64, "counts %lld %lld %lld",
          (long long)a, (long long)b, (long long)c);
    CHECK(bad_half == 0, "8 fps: %d frames are not native frame 2k",
          bad_half);
    CHECK(bad_twice == 0, "32 fps: %d frames are not native frame k/2",
          bad_twice);
    free(fn);
    free(fh);
    free(ft);
    st2v_generator_free(native);
    st2v_generator_free(half);
    st2v_generator_free(twice);
}

static void native_frame_index_follows_the_formula(void)
{
    CHECK(st2v_native_frame_index(0, 16, 30000, 1001) == 0, "k = 0");
    /* 30 frames at 29.97 fps: frame 29 shows native floor(29*16*1001/30000) */
    CHECK(st2v_native_frame_index(29, 16, 30000, 1001) == 15, "k = 29");
    CHECK(st2v_native_frame_index(3, 16, 24, 1) == 2, "3 * 16 / 24 = 2");
    CHECK(st2v_native_frame_index(30, 16, 24, 1) == 20, "exact 20");
    CHECK(st2v_native_frame_index(1000000007, 16, 16, 1) == 1000000007,
          "identity for large k");
}

/* ---------------------------------------------------- streams, prompts */

static void endless_mode_runs_past_one_chunk_without_growing(void)
{
    const st2v_config *cf = &st2v_world_of(model)->cfg;
    st2v_params p = quick();
    p.steps = 1;
    p.frames = -1;
    st2v_generator *g = make(&p);
    REQUIRE(g, "no generator");
    st2v_stream_info si;
    st2v_generator_get_info(g, &si);
    CHECK(si.frames == -1, "info.frames %lld", (long long)si.frames);
    size_t fsz = frame_bytes(g);
    uint8_t *px = malloc(fsz);
    int first_chunk = cf->window * cf->ft;
    int later = (cf->window - cf->context) * cf->ft;
    int64_t total = first_chunk + 4 * later + 1; /* reaches chunk 5 */
    size_t heap_after_2 = 0, heap_end = 0;
    st2v_frame_info fi = {0};
    int rc = 0;
    for (int64_t k = 0; k < total && rc == 0; k++) {
        rc = st2v_generator_next_frame(g, px, (ptrdiff_t)si.width * 3, &fi);
        if (k == first_chunk + later)
            heap_after_2 = mallinfo2().uordblks;
    }
    heap_end = mallinfo2().uordblks;
    CHECK(rc == 0, "status %d: %s", rc, st2v_generator_last_error(g));
    CHECK(fi.chunk == 5 && fi.index == total - 1, "last frame %lld chunk %d",
          (long long)fi.index, fi.chunk);
    printf("     heap in use: %zu bytes after chunk 2, %zu after chunk 5\n",
           heap_after_2, heap_end);
    /* Sanitizers replace malloc, and mallinfo2() then reports 0. */
    if (heap_after_2 == 0)
        printf("     (heap not measurable here: check skipped)\n");
    CHECK(heap_after_2 == 0 || heap_end <= heap_after_2 + 4096,
          "heap grew from %zu to %zu bytes over 3 chunks", heap_after_2,
          heap_end);
    free(px);
    st2v_generator_free(g);
}

static void a_new_prompt_changes_later_chunks_only(void)
{
    const st2v_config *cf = &st2v_world_of(model)->cfg;
    int first_chunk = cf->window * cf->ft;
    st2v_params p = quick();
    p.frames = first_chunk + 8;
    st2v_generator *a = make(&p), *b = make(&p);
    REQUIRE(a && b, "no generator");
    size_t fsz = frame_bytes(a);
    uint8_t *fa = malloc(fsz * p.frames), *fb = malloc(fsz * p.frames);
    /* a: change the prompt after its first frame. */
    int rc = st2v_generator_next_frame(a, fa, 96, NULL);
    CHECK(rc == 0, "first frame");
    CHECK(st2v_generator_set_prompt(a, "two green cubes moving", 0) == 0,
          "set_prompt refused");
    for (int k = 1; k < p.frames && rc == 0; k++)
        rc = st2v_generator_next_frame(a, fa + k * fsz, 96, NULL);
    int64_t n;
    free(fb);
    fb = pull(b, p.frames, &n);
    CHECK(rc == 0 && n == p.frames, "generation failed");
    CHECK(memcmp(fa, fb, fsz * first_chunk) == 0,
          "frames of the chunk under way changed");
    CHECK(memcmp(fa + fsz * first_chunk, fb + fsz * first_chunk,
                 fsz * (p.frames - first_chunk)) != 0,
          "the next chunk ignored the new prompt");
    CHECK(st2v_generator_set_prompt(a, "   ", 0) == ST2V_ERR_INVALID_ARG,
          "blank prompt accepted");
    CHECK(st2v_generator_set_prompt(a, "", 1) == 0,
          "empty negative prompt refused");
    free(fa);
    free(fb);
    st2v_generator_free(a);
    st2v_generator_free(b);
}

static void rewind_reproduces_the_same_frames(void)
{
    st2v_params p = quick();
    p.frames = -1;
    st2v_generator *g = make(&p);
    REQUIRE(g, "no generator");
    int64_t n1, n2;
    uint8_t *f1 = pull(g, 22, &n1);
    CHECK(st2v_generator_rewind(g) == 0, "rewind failed");
    uint8_t *f2 = pull(g, 22, &n2);
    CHECK(n1 == 22 && n2 == 22, "counts %lld %lld", (long long)n1,
          (long long)n2);
    CHECK(memcmp(f1, f2, frame_bytes(g) * 22) == 0,
          "frames after rewind differ");
    free(f1);
    free(f2);
    st2v_generator_free(g);
}

typedef struct cancel_probe {
    st2v_generator *g;
    int steps_seen;
    int cancel_at;
    int last_step, last_steps, chunk;
} cancel_probe;

static void on_progress(void *user, const st2v_progress *pr)
{
    cancel_probe *c = user;
    c->steps_seen++;
    c->last_step = pr->step;
    c->last_steps = pr->steps;
    c->chunk = pr->chunk;
    if (c->cancel_at && c->steps_seen == c->cancel_at)
        st2v_generator_cancel(c->g, 1);
}

static void cancel_stops_generation_and_can_be_lifted(void)
{
    st2v_params p = quick();
    p.steps = 3;
    p.frames = 20;
    cancel_probe probe = {0};
    p.progress = on_progress;
    p.user_data = &probe;
    st2v_generator *g = make(&p);
    REQUIRE(g, "no generator");
    probe.g = g;
    uint8_t px[32 * 32 * 3];

    st2v_generator_cancel(g, 1);
    CHECK(st2v_generator_next_frame(g, px, 96, NULL) == ST2V_ERR_CANCELLED,
          "a cancelled generator made a frame");
    CHECK(probe.steps_seen == 0, "sampled while cancelled");
    CHECK(strlen(st2v_generator_last_error(g)) > 0, "no message");
    st2v_generator_cancel(g, 0);

    /* Cancel from inside the second sampling step. */
    probe.cancel_at = 2;
    CHECK(st2v_generator_next_frame(g, px, 96, NULL) == ST2V_ERR_CANCELLED,
          "cancel during sampling was ignored");
    CHECK(probe.steps_seen == 2, "%d steps ran", probe.steps_seen);
    st2v_generator_cancel(g, 0);
    probe.cancel_at = 0;

    /* Lifted: the stream goes on as if nothing happened. */
    int64_t n;
    uint8_t *got = pull(g, 20, &n);
    st2v_params q = quick();
    q.steps = 3;
    q.frames = 20;
    st2v_generator *ref = make(&q);
    int64_t m;
    uint8_t *want = pull(ref, 20, &m);
    CHECK(n == 20 && m == 20, "counts %lld %lld", (long long)n, (long long)m);
    CHECK(memcmp(got, want, frame_bytes(g) * 20) == 0,
          "a cancelled and resumed stream differs");
    CHECK(probe.last_step == 3 && probe.last_steps == 3 && probe.chunk == 1,
          "progress ended at step %d/%d of chunk %d", probe.last_step,
          probe.last_steps, probe.chunk);
    free(got);
    free(want);
    st2v_generator_free(ref);
    st2v_generator_free(g);
}

typedef struct log_probe {
    int chunk_lines;
} log_probe;

static void on_log(void *user, st2v_log_level level, const char *msg)
{
    log_probe *l = user;
    if (level == ST2V_LOG_INFO && strstr(msg, "generated in"))
        l->chunk_lines++;
}

static void each_chunk_is_logged(void)
{
    st2v_params p = quick();
    p.steps = 1;
    p.frames = 20; /* 2 chunks */
    log_probe lp = {0};
    p.log = on_log;
    p.user_data = &lp;
    st2v_generator *g = make(&p);
    REQUIRE(g, "no generator");
    int64_t n;
    free(pull(g, 20, &n));
    CHECK(lp.chunk_lines == 2, "%d chunk lines", lp.chunk_lines);
    st2v_generator_free(g);
}

static void a_conditioning_image_fixes_the_first_frames(void)
{
    const st2v_config *cf = &st2v_world_of(model)->cfg;
    enum { IW = 40, IH = 30 };
    uint8_t *img = malloc(IW * IH * 3 + 7 * IH);
    int stride = IW * 3 + 7;
    for (int y = 0; y < IH; y++)
        for (int x = 0; x < IW; x++) {
            uint8_t *q = img + y * stride + 3 * x;
            q[0] = (uint8_t)(x * 6);
            q[1] = (uint8_t)(y * 8);
            q[2] = (uint8_t)((x + y) * 3);
        }
    st2v_params p = quick();
    p.steps = 2;
    p.frames = 2 * cf->window * cf->ft;
    p.image_rgb = img;
    p.image_width = IW;
    p.image_height = IH;
    p.image_stride = stride;
    st2v_generator *a = make(&p);
    p.seed = 99;
    st2v_generator *b = make(&p);
    memset(img, 0, IW * IH * 3); /* copied at new(): must not matter */
    p.image_rgb = NULL;
    st2v_generator *c = make(&p);
    REQUIRE(a && b && c, "no generator");
    int64_t na, nb, nc;
    uint8_t *fa = pull(a, p.frames, &na), *fb = pull(b, p.frames, &nb),
            *fc = pull(c, p.frames, &nc);
    size_t fsz = frame_bytes(a);
    /* The decoder is causal: the first ft frames see only the image. */
    CHECK(memcmp(fa, fb, fsz * cf->ft) == 0,
          "the image frames depend on the seed");
    CHECK(memcmp(fa + fsz * cf->ft, fb + fsz * cf->ft, fsz) != 0,
          "frames after the image do not depend on the seed");
    CHECK(memcmp(fa, fc, fsz) != 0, "the image changed nothing");
    CHECK(na == p.frames && nb == p.frames, "counts");
    free(fa);
    free(fb);
    free(fc);
    free(img);
    st2v_generator_free(a);
    st2v_generator_free(b);
    st2v_generator_free(c);
}

/* ------------------------------------------------------- validation */

static void every_invalid_parameter_is_refused_with_a_message(void)
{
    static uint8_t img[12];
    struct {
        const char *what;
        st2v_params p;
    } bad[32];
    int n = 0;
#define BAD(desc, field, value)                                               \
    do {                                                                      \
        bad[n].what = desc;                                                   \
        bad[n].p = quick();                                                   \
        bad[n].p.field = value;                                               \
        n++;                                                                  \
    } while (0)
    BAD("NULL prompt", prompt, NULL);
    BAD("empty prompt", prompt, "");
    BAD("blank prompt", prompt, " \t\n ");
    BAD("steps -1", steps, -1);
    BAD("steps 1001", steps, 1001);
    BAD("cfg 101", cfg, 101.0f);
    BAD("cfg NaN", cfg, NAN);
    BAD("shift 101", shift, 101.0f);
    BAD("shift NaN", shift, NAN);
    BAD("sampler 99", sampler, (st2v_sampler)99);
    BAD("width 15", width, 15);
    BAD("width odd", width, 33);
    BAD("width 8194", width, 8194);
    BAD("threads -1", threads, -1);
    BAD("threads 257", threads, 257);
    BAD("frames -2", frames, -2);
    BAD("frames 1e11", frames, 100000000000LL);
    BAD("duration 0", duration, 0.0);
    BAD("duration -1", duration, -1.0);
    BAD("duration 1e8", duration, 1e8);
    BAD("duration NaN", duration, NAN);
    BAD("fps -1", fps_num, -1);
    BAD("fps 1001", fps_num, 1001);
    BAD("image 0 wide", image_rgb, img);
#undef BAD
    /* Fix-ups where one field is not enough. */
    for (int i = 0; i < n; i++) {
        if (strncmp(bad[i].what, "width", 5) == 0)
            bad[i].p.height = 32;
        if (strcmp(bad[i].what, "fps 1001") == 0)
            bad[i].p.fps_den = 1;
    }
    bad[n].what = "fps den 0";
    bad[n].p = quick();
    bad[n].p.fps_num = 30;
    bad[n].p.fps_den = 0;
    n++;
    bad[n].what = "height only";
    bad[n].p = quick();
    bad[n].p.height = 32;
    n++;
    bad[n].what = "image stride too small";
    bad[n].p = quick();
    bad[n].p.image_rgb = img;
    bad[n].p.image_width = 2;
    bad[n].p.image_height = 2;
    bad[n].p.image_stride = 5;
    n++;

    for (int i = 0; i < n; i++) {
        st2v_generator *g = (st2v_generator *)&g;
        char err[256] = "";
        int rc = st2v_generator_new(&g, model, &bad[i].p, err, sizeof(err));
        CHECK(rc == ST2V_ERR_INVALID_ARG, "%s: status %d", bad[i].what, rc);
        CHECK(g == NULL, "%s: *out not NULL", bad[i].what);
        CHECK(strlen(err) > 0 && !strchr(err, '\n'), "%s: message \"%s\"",
              bad[i].what, err);
        if (rc == 0)
            st2v_generator_free(g);
    }
    /* And the neighbours of the limits are fine. */
    st2v_params ok = quick();
    ok.steps = 1000;
    ok.cfg = 100.0f;
    ok.shift = 100.0f;
    ok.width = 16;
    ok.height = 8192;
    ok.threads = 256;
    ok.duration = 1e7;
    ok.fps_num = 1000;
    ok.fps_den = 1;
    st2v_generator *g = make(&ok);
    st2v_generator_free(g);
    CHECK(st2v_generator_set_cfg(NULL, 1.0f) < 0, "NULL generator");
}

static void set_cfg_checks_its_range(void)
{
    st2v_params p = quick();
    st2v_generator *g = make(&p);
    REQUIRE(g, "no generator");
    CHECK(st2v_generator_set_cfg(g, -0.5f) == ST2V_ERR_INVALID_ARG, "-0.5");
    CHECK(st2v_generator_set_cfg(g, NAN) == ST2V_ERR_INVALID_ARG, "NaN");
    CHECK(st2v_generator_set_cfg(g, 1.0f) == 0, "1 refused");
    st2v_generator_free(g);
}

static void params_set_parses_values_and_refuses_garbage(void)
{
    st2v_params p = st2v_default_params();
    CHECK(st2v_params_set(&p, "prompt", "a cat") == 0 &&
              strcmp(p.prompt, "a cat") == 0,
          "prompt");
    CHECK(st2v_params_set(&p, "steps", "12") == 0 && p.steps == 12, "steps");
    CHECK(st2v_params_set(&p, "cfg", "4.5") == 0 && p.cfg == 4.5f, "cfg");
    CHECK(st2v_params_set(&p, "shift", "3") == 0 && p.shift == 3.0f, "shift");
    CHECK(st2v_params_set(&p, "seed", "18446744073709551615") == 0 &&
              p.seed == UINT64_MAX,
          "seed max");
    CHECK(st2v_params_set(&p, "size", "100x60") == 0 && p.width == 100 &&
              p.height == 60,
          "size");
    CHECK(st2v_params_set(&p, "fps", "30000/1001") == 0 &&
              p.fps_num == 30000 && p.fps_den == 1001,
          "fps fraction");
    CHECK(st2v_params_set(&p, "fps", "24") == 0 && p.fps_num == 24 &&
              p.fps_den == 1,
          "fps integer");
    CHECK(st2v_params_set(&p, "fps", "12.5") == 0 && p.fps_num == 25 &&
              p.fps_den == 2,
          "fps decimal");
    CHECK(st2v_params_set(&p, "frames", "-1") == 0 && p.frames == -1,
          "endless");
    CHECK(st2v_params_set(&p, "duration", "2.5") == 0 && p.duration == 2.5 &&
              p.frames == 0,
          "duration");
    CHECK(st2v_params_set(&p, "threads", "0") == 0 && p.threads == 0,
          "threads");
    CHECK(st2v_params_set(&p, "sampler", "dpm++2m") == 0 &&
              p.sampler == ST2V_SAMPLER_DPMPP_2M,
          "sampler");
    CHECK(st2v_params_set(&p, "negative_prompt", "blur") == 0 &&
              strcmp(p.negative_prompt, "blur") == 0,
          "negative");

    st2v_params before = p;
    static const char *garbage[][2] = {
        {"steps", "abc"}, {"steps", "0"}, {"steps", "12x"}, {"steps", ""},
        {"steps", "1001"}, {"size", "10x"}, {"size", "x10"}, {"size", "10"},
        {"size", "33x32"}, {"size", "8x8"}, {"size", "64x64x2"},
        {"fps", "0"}, {"fps", "-5"}, {"fps", "1/0"}, {"fps", "abc"},
        {"fps", "2000"}, {"fps", "30/"}, {"cfg", "-1"}, {"cfg", "nan"},
        {"cfg", "1e9"}, {"shift", "0"}, {"seed", "-1"}, {"seed", "1e3"},
        {"seed", "99999999999999999999999"}, {"frames", "0"},
        {"frames", "-2"}, {"frames", "100000000000"}, {"duration", "0"}, {"duration", "inf"},
        {"threads", "300"}, {"sampler", "ddim"}, {"prompt", "  "},
        {"nonsense", "1"},
    };
    for (size_t i = 0; i < sizeof(garbage) / sizeof(garbage[0]); i++)
        CHECK(st2v_params_set(&p, garbage[i][0], garbage[i][1]) ==
                  ST2V_ERR_INVALID_ARG,
              "%s=%s accepted", garbage[i][0], garbage[i][1]);
    CHECK(memcmp(&p, &before, sizeof(p)) == 0,
          "a refused value changed the params");
    CHECK(st2v_params_set(NULL, "steps", "1") < 0, "NULL params");
}

/* Issue 23: hostile prompts are refused in one line that does not echo
 * them; odd but valid ones (long, emoji, Czech capitals, mixed case,
 * surrounding white space) render. */
static void hostile_prompts_are_refused_and_odd_ones_render(void)
{
    char *big = malloc(ST2V_MAX_PROMPT_BYTES + 2);
    REQUIRE(big, "malloc");
    memset(big, 'a', ST2V_MAX_PROMPT_BYTES + 1);
    big[ST2V_MAX_PROMPT_BYTES + 1] = 0;
    static const struct {
        const char *text, *want;
    } bad[] = {
        {"", "prompt is empty"},
        {" \t\r\n ", "prompt is empty"},
        {"a red \xff ball", "not valid UTF-8 (byte 0xff at offset 6)"},
        {"a \xc0\xaf", "not valid UTF-8"},          /* overlong '/' */
        {"a \xed\xa0\x80", "not valid UTF-8"},      /* a surrogate */
        {"a \xf4\x90\x80\x80", "not valid UTF-8"},  /* above U+10FFFF */
        {"a \xe2\x82", "not valid UTF-8"},          /* cut short */
        {"a \x01 b", "control character U+0001 at offset 2"},
        {"a \x1b[31m red", "control character U+001B"},
        {"a \x7f", "control character U+007F"},
        {"a \xc2\x85", "control character U+0085"}, /* NEL */
    };
    char err[256];
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        err[0] = 0;
        int rc = st2v_prompt_check(bad[i].text, 0, err, sizeof(err));
        CHECK(rc == ST2V_ERR_INVALID_ARG && strstr(err, bad[i].want) &&
                  !strchr(err, '\n'),
              "bad prompt %zu: status %d, \"%s\"", i, rc, err);
        st2v_params p = quick();
        p.prompt = bad[i].text;
        st2v_generator *g = NULL;
        rc = st2v_generator_new(&g, model, &p, err, sizeof(err));
        CHECK(rc == ST2V_ERR_INVALID_ARG && g == NULL && strstr(err, bad[i].want),
              "generator with bad prompt %zu: status %d, \"%s\"", i, rc, err);
        st2v_generator_free(g);
        CHECK(st2v_params_set(&p, "prompt", bad[i].text) == ST2V_ERR_INVALID_ARG,
              "params_set took bad prompt %zu", i);
    }
    CHECK(st2v_prompt_check(big, 0, err, sizeof(err)) == ST2V_ERR_INVALID_ARG &&
              strstr(err, "65537 bytes long: at most 65536"),
          "a 64 KiB + 1 prompt: \"%s\"", err);
    CHECK(st2v_prompt_check("", 1, err, sizeof(err)) == 0,
          "an empty negative prompt refused");
    CHECK(st2v_prompt_check(NULL, 1, err, sizeof(err)) == 0,
          "a NULL negative prompt refused");
    CHECK(st2v_prompt_check("x\x07", 1, err, sizeof(err)) ==
                  ST2V_ERR_INVALID_ARG &&
              strstr(err, "negative prompt holds the control character"),
          "negative: \"%s\"", err);

    /* odd but valid: they render */
    big[ST2V_MAX_PROMPT_BYTES] = 0; /* exactly at the limit */
    char *words = malloc(5000 * 8 + 1);
    REQUIRE(words, "malloc");
    size_t at = 0;
    static const char *vocab[] = {"red ", "Ball ", "SEA ", "bouncing "};
    for (int i = 0; i < 5000; i++)
        at += (size_t)sprintf(words + at, "%s", vocab[i % 4]);
    const char *good[] = {
        "ČERVENÝ MÍČ SKÁČE", "a cat \xf0\x9f\x90\xb1 with a balloon \xf0\x9f\x8e\x88",
        "A Red BALL on the sEa", "   a red ball\t\r\n  ", words, big,
    };
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        CHECK(st2v_prompt_check(good[i], 0, err, sizeof(err)) == 0,
              "good prompt %zu refused: %s", i, err);
        st2v_params p = quick();
        p.prompt = good[i];
        p.frames = 1;
        p.steps = 1;
        st2v_generator *g = make(&p);
        int64_t n = 0;
        uint8_t *f = g ? pull(g, 1, &n) : NULL;
        CHECK(n == 1, "good prompt %zu: %lld frames", i, (long long)n);
        free(f);
        st2v_generator_free(g);
    }

    /* a running generator refuses a hostile change and keeps going */
    st2v_params p = quick();
    p.frames = -1;
    st2v_generator *g = make(&p);
    REQUIRE(g, "no generator");
    memset(big, 'a', ST2V_MAX_PROMPT_BYTES + 1); /* 64 KiB + 1 again */
    const char *later[] = {"", "a \xff", "a \x01", big};
    for (size_t i = 0; i < sizeof(later) / sizeof(later[0]); i++)
        CHECK(st2v_generator_set_prompt(g, later[i], 0) == ST2V_ERR_INVALID_ARG &&
                  strstr(st2v_generator_last_error(g), "prompt "),
              "set_prompt took bad prompt %zu (%s)", i,
              st2v_generator_last_error(g));
    CHECK(st2v_generator_set_prompt(g, "b \xff", 1) == ST2V_ERR_INVALID_ARG,
          "set_prompt took a bad negative prompt");
    int64_t n = 0;
    free(pull(g, 2, &n));
    CHECK(n == 2, "generation after refusals: %lld frames", (long long)n);
    st2v_generator_free(g);
    free(words);
    free(big);
}

static void sampler_names_round_trip(void)
{
    static const st2v_sampler all[] = {ST2V_SAMPLER_EULER, ST2V_SAMPLER_HEUN,
                                       ST2V_SAMPLER_DPMPP_2M};
    for (size_t i = 0; i < 3; i++) {
        st2v_sampler s;
        CHECK(st2v_sampler_from_name(st2v_sampler_name(all[i]), &s) == 0 &&
                  s == all[i],
              "%s", st2v_sampler_name(all[i]));
    }
    st2v_sampler s;
    CHECK(st2v_sampler_from_name("dpmpp_2m", &s) == 0 &&
              s == ST2V_SAMPLER_DPMPP_2M,
          "dpmpp_2m alias");
    CHECK(st2v_sampler_from_name("Euler ", &s) < 0, "sloppy name accepted");
    CHECK(st2v_sampler_from_name(NULL, &s) < 0, "NULL name accepted");
}

static void every_sampler_runs_in_the_generator(void)
{
    static const st2v_sampler all[] = {ST2V_SAMPLER_EULER, ST2V_SAMPLER_HEUN,
                                       ST2V_SAMPLER_DPMPP_2M};
    uint8_t *first[3];
    for (size_t i = 0; i < 3; i++) {
        st2v_params p = quick();
        p.sampler = all[i];
        /* DPM-Solver++(2M) is Euler until its first second-order step,
         * which needs i >= 2 and t_{i+1} > 0: at least 4 steps. */
        p.steps = 5;
        p.frames = 1;
        st2v_generator *g = make(&p);
        int64_t n = 0;
        first[i] = g ? pull(g, 1, &n) : calloc(1, 32 * 32 * 3);
        CHECK(n == 1, "%s: no frame", st2v_sampler_name(all[i]));
        st2v_generator_free(g);
    }
    CHECK(memcmp(first[0], first[1], 32 * 32 * 3) != 0 &&
              memcmp(first[0], first[2], 32 * 32 * 3) != 0,
          "the sampler makes no difference");
    for (int i = 0; i < 3; i++)
        free(first[i]);
}

int main(void)
{
    char err[512];
    if (st2v_model_load(&model, tu_fixture("tiny.safetensors"), err,
                        sizeof(err)) != 0) {
        printf("FAIL load_tiny_model (%s)\n", err);
        tu_failed++;
        return tu_summary();
    }
    RUN(the_same_seed_gives_the_same_bytes);
    RUN(a_model_carried_onto_extra_channels_makes_the_same_video);
    RUN(one_and_two_threads_give_the_same_bytes);
    RUN(different_seeds_give_different_video);
    RUN(the_first_chunk_is_the_golden_tested_window);
    RUN(frame_count_is_duration_times_fps);
    RUN(an_explicit_frame_count_wins_over_duration);
    RUN(requested_sizes_come_out_at_that_size);
    RUN(scaled_output_is_the_scaler_applied_to_the_native_frame);
    RUN(half_and_double_rates_drop_and_repeat_native_frames);
    RUN(native_frame_index_follows_the_formula);
    RUN(endless_mode_runs_past_one_chunk_without_growing);
    RUN(a_new_prompt_changes_later_chunks_only);
    RUN(rewind_reproduces_the_same_frames);
    RUN(cancel_stops_generation_and_can_be_lifted);
    RUN(each_chunk_is_logged);
    RUN(a_conditioning_image_fixes_the_first_frames);
    RUN(every_invalid_parameter_is_refused_with_a_message);
    RUN(set_cfg_checks_its_range);
    RUN(params_set_parses_values_and_refuses_garbage);
    RUN(hostile_prompts_are_refused_and_odd_ones_render);
    RUN(sampler_names_round_trip);
    RUN(every_sampler_runs_in_the_generator);
    st2v_model_free(model);
    return tu_summary();
}
