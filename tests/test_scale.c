/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test_scale.c - the Lanczos-3 cover-and-crop scaler: exact copy at equal
 * sizes, constants and ramps preserved, every size from tiny to 1080p,
 * centre crop, and sensible up- and downscaling of smooth images.
 */
#include <stdint.h>

#include "common.h"
#include "scale.h"
#include "test_util.h"

/* An RGB24 image with `pad` guard bytes after each row. */
typedef struct image {
    int w, h;
    ptrdiff_t stride;
    uint8_t *px;
} image;

enum { PAD = 13, GUARD = 0xA5 };

static image image_new(int w, int h)
{
    image im = {w, h, (ptrdiff_t)w * 3 + PAD, NULL};
    im.px = malloc((size_t)im.stride * h);
    memset(im.px, GUARD, (size_t)im.stride * h);
    return im;
}

static uint8_t *at(const image *im, int x, int y)
{
    return im->px + y * im->stride + 3 * x;
}

static int guards_intact(const image *im)
{
    for (int y = 0; y < im->h; y++)
        for (int k = 0; k < PAD; k++)
            if (im->px[y * im->stride + im->w * 3 + k] != GUARD)
                return 0;
    return 1;
}

static int scale(const image *src, image *dst)
{
    st2v_scaler *s;
    int rc = st2v_scaler_new(&s, src->w, src->h, dst->w, dst->h);
    if (rc != 0)
        return rc;
    st2v_scaler_run(s, dst->px, dst->stride, src->px, src->stride);
    st2v_scaler_free(s);
    return 0;
}

static void equal_sizes_copy_exactly(void)
{
    image a = image_new(37, 21), b = image_new(37, 21);
    uint32_t r = 1;
    for (int y = 0; y < a.h; y++)
        for (int x = 0; x < a.w * 3; x++) {
            r = r * 1664525u + 1013904223u;
            at(&a, 0, y)[x] = (uint8_t)(r >> 24);
        }
    int rc_ = scale(&a, &b);
    REQUIRE(rc_ == 0, "scaler_new failed");
    for (int y = 0; y < a.h; y++)
        CHECK(memcmp(at(&a, 0, y), at(&b, 0, y), (size_t)a.w * 3) == 0,
              "row %d differs", y);
    CHECK(guards_intact(&b), "wrote past the row");
    free(a.px);
    free(b.px);
}

static void a_constant_image_stays_constant(void)
{
    static const int sizes[][4] = {
        {48, 32, 100, 60}, {48, 32, 16, 16}, {32, 32, 1920, 1080},
        {224, 128, 17, 31}, {128, 128, 40, 24}, {33, 17, 32, 32},
    };
    static const uint8_t colour[3] = {0, 255, 77};
    for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
        image a = image_new(sizes[k][0], sizes[k][1]);
        image b = image_new(sizes[k][2], sizes[k][3]);
        for (int y = 0; y < a.h; y++)
            for (int x = 0; x < a.w; x++)
                memcpy(at(&a, x, y), colour, 3);
        int rc_ = scale(&a, &b);
        REQUIRE(rc_ == 0, "scaler_new failed");
        int bad = 0;
        for (int y = 0; y < b.h; y++)
            for (int x = 0; x < b.w; x++)
                bad += memcmp(at(&b, x, y), colour, 3) != 0;
        CHECK(bad == 0, "%dx%d -> %dx%d: %d pixels changed colour", a.w,
              a.h, b.w, b.h, bad);
        CHECK(guards_intact(&b), "wrote past the row");
        free(a.px);
        free(b.px);
    }
}

static void a_horizontal_ramp_stays_monotone(void)
{
    static const int sizes[][4] = {
        {48, 32, 100, 60}, {48, 32, 16, 16}, {64, 64, 64, 40},
        {32, 32, 300, 200}, {224, 128, 50, 50}, {100, 10, 37, 9},
    };
    for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
        image a = image_new(sizes[k][0], sizes[k][1]);
        image b = image_new(sizes[k][2], sizes[k][3]);
        for (int y = 0; y < a.h; y++)
            for (int x = 0; x < a.w; x++) {
                uint8_t v = (uint8_t)(x * 255 / (a.w - 1));
                uint8_t *p = at(&a, x, y);
                p[0] = v;
                p[1] = v / 2;
                p[2] = (uint8_t)(255 - v);
            }
        int rc_ = scale(&a, &b);
        REQUIRE(rc_ == 0, "scaler_new failed");
        int bad = 0;
        for (int y = 0; y < b.h; y++)
            for (int x = 1; x < b.w; x++) {
                const uint8_t *p = at(&b, x - 1, y), *q = at(&b, x, y);
                bad += q[0] < p[0] || q[1] < p[1] || q[2] > p[2];
            }
        CHECK(bad == 0, "%dx%d -> %dx%d: %d non-monotone steps", a.w, a.h,
              b.w, b.h, bad);
        /* Rows are all alike: the ramp has no vertical structure. */
        int rows_differ = 0;
        for (int y = 1; y < b.h; y++)
            rows_differ += memcmp(at(&b, 0, y), at(&b, 0, 0),
                                  (size_t)b.w * 3) != 0;
        CHECK(rows_differ == 0, "%d rows differ from row 0", rows_differ);
        free(a.px);
        free(b.px);
    }
}

static void every_output_size_from_16x16_to_1080p_is_filled(void)
{
    static const int outs[][2] = {
        {16, 16}, {17, 16}, {16, 17}, {31, 77}, {40, 24}, {100, 60},
        {640, 360}, {1280, 720}, {1920, 1080}, {1080, 1920}, {1919, 1081},
    };
    image a = image_new(48, 32);
    for (int y = 0; y < a.h; y++)
        for (int x = 0; x < a.w; x++) {
            uint8_t *p = at(&a, x, y);
            p[0] = (uint8_t)(60 + x);
            p[1] = (uint8_t)(60 + y);
            p[2] = 128;
        }
    for (size_t k = 0; k < sizeof(outs) / sizeof(outs[0]); k++) {
        image b = image_new(outs[k][0], outs[k][1]);
        int rc_ = scale(&a, &b);
        REQUIRE(rc_ == 0, "%dx%d refused", b.w, b.h);
        /* The blue channel is constant 128: every pixel must be written. */
        int unwritten = 0;
        for (int y = 0; y < b.h; y++)
            for (int x = 0; x < b.w; x++)
                unwritten += at(&b, x, y)[2] != 128;
        CHECK(unwritten == 0, "%dx%d: %d pixels not written", b.w, b.h,
              unwritten);
        CHECK(guards_intact(&b), "%dx%d: wrote past the row", b.w, b.h);
        free(b.px);
    }
    free(a.px);
}

static void bad_sizes_are_refused(void)
{
    st2v_scaler *s = (st2v_scaler *)1;
    CHECK(st2v_scaler_new(&s, 0, 32, 32, 32) == ST2V_ERR_INVALID_ARG,
          "zero width accepted");
    CHECK(s == NULL, "out not cleared");
    CHECK(st2v_scaler_new(&s, 32, 32, 32, -2) == ST2V_ERR_INVALID_ARG,
          "negative height accepted");
    st2v_scaler_free(NULL);
}

/* A 2:1 image whose outer quarters are red, scaled to a square: cover
 * keeps the height and crops the quarters away, leaving the blue middle. */
static void cover_crops_the_centre(void)
{
    image a = image_new(64, 32), b = image_new(32, 32);
    for (int y = 0; y < a.h; y++)
        for (int x = 0; x < a.w; x++) {
            uint8_t *p = at(&a, x, y);
            int red = x < 16 || x >= 48;
            p[0] = red ? 255 : 0;
            p[1] = 0;
            p[2] = red ? 0 : 255;
        }
    int rc_ = scale(&a, &b);
    REQUIRE(rc_ == 0, "scaler_new failed");
    /* Away from the borders (where the filter reaches the red) all blue. */
    int bad = 0;
    for (int y = 0; y < b.h; y++)
        for (int x = 3; x < b.w - 3; x++)
            bad += at(&b, x, y)[0] != 0 || at(&b, x, y)[2] != 255;
    CHECK(bad == 0, "%d pixels of the middle are not blue", bad);
    /* A tall target scales by 2 (to 128x64) and keeps the middle columns. */
    image c = image_new(32, 64);
    rc_ = scale(&a, &c);
    REQUIRE(rc_ == 0, "scaler_new failed");
    CHECK(at(&c, 16, 32)[2] == 255 && at(&c, 0, 32)[0] == 0,
          "tall crop of a 2:1 image is not from its middle");
    free(a.px);
    free(b.px);
    free(c.px);
}

static double smooth(double x, double y)
{
    return 128.0 + 80.0 * sin(x * 0.15) * cos(y * 0.11);
}

/* Sample a smooth image; scaling must agree with sampling the same
 * function at the output pixel centres (away from the clamped borders). */
static double smooth_error(int sw, int sh, int dw, int dh)
{
    image a = image_new(sw, sh), b = image_new(dw, dh);
    for (int y = 0; y < sh; y++)
        for (int x = 0; x < sw; x++) {
            uint8_t v = (uint8_t)lrint(smooth(x, y));
            uint8_t *p = at(&a, x, y);
            p[0] = p[1] = p[2] = v;
        }
    if (scale(&a, &b) != 0)
        return INFINITY;
    double sc = fmax((double)dw / sw, (double)dh / sh);
    double ox = (sw * sc - dw) / 2, oy = (sh * sc - dh) / 2;
    double err = 0;
    int margin = (int)ceil(4 * sc) + 1;
    for (int y = margin; y < dh - margin; y++)
        for (int x = margin; x < dw - margin; x++) {
            double cx = (x + 0.5 + ox) / sc - 0.5;
            double cy = (y + 0.5 + oy) / sc - 0.5;
            err = fmax(err, fabs(at(&b, x, y)[0] - smooth(cx, cy)));
        }
    free(a.px);
    free(b.px);
    return err;
}

static void upscaling_a_smooth_image_interpolates_it(void)
{
    double e = smooth_error(48, 32, 192, 128);
    printf("     48x32 -> 192x128: max err %.2f levels\n", e);
    CHECK(e <= 2.0, "upscale error %g levels", e);
    e = smooth_error(48, 32, 100, 60);
    printf("     48x32 -> 100x60: max err %.2f levels\n", e);
    CHECK(e <= 2.0, "cover upscale error %g levels", e);
}

static void downscaling_a_smooth_image_keeps_it(void)
{
    /* A factor-2 reduction barely touches a wavelength of ~40 pixels. */
    double e = smooth_error(256, 192, 128, 96);
    printf("     256x192 -> 128x96: max err %.2f levels\n", e);
    CHECK(e <= 3.0, "downscale error %g levels", e);
}

static void downscaling_removes_a_fine_checkerboard(void)
{
    image a = image_new(128, 128), b = image_new(32, 32);
    for (int y = 0; y < a.h; y++)
        for (int x = 0; x < a.w; x++) {
            uint8_t v = ((x ^ y) & 1) ? 255 : 0;
            uint8_t *p = at(&a, x, y);
            p[0] = p[1] = p[2] = v;
        }
    int rc_ = scale(&a, &b);
    REQUIRE(rc_ == 0, "scaler_new failed");
    int lo = 255, hi = 0;
    for (int y = 0; y < b.h; y++)
        for (int x = 0; x < b.w; x++) {
            int v = at(&b, x, y)[0];
            lo = v < lo ? v : lo;
            hi = v > hi ? v : hi;
        }
    printf("     checkerboard 128 -> 32: values %d..%d\n", lo, hi);
    CHECK(lo >= 120 && hi <= 135, "checkerboard survived: %d..%d", lo, hi);
    free(a.px);
    free(b.px);
}

int main(void)
{
    RUN(equal_sizes_copy_exactly);
    RUN(a_constant_image_stays_constant);
    RUN(a_horizontal_ramp_stays_monotone);
    RUN(every_output_size_from_16x16_to_1080p_is_filled);
    RUN(bad_sizes_are_refused);
    RUN(cover_crops_the_centre);
    RUN(upscaling_a_smooth_image_interpolates_it);
    RUN(downscaling_a_smooth_image_keeps_it);
    RUN(downscaling_removes_a_fine_checkerboard);
    return tu_summary();
}
