/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test_png.c - the conditioning-image decoder (core/png.c). Small PNGs of
 * every colour type (RGB, RGBA, gray, gray+alpha, palette with tRNS,
 * 16-bit, 1-bit, interlaced) are written with libpng into /tmp and must
 * decode to the expected RGB24, alpha composited over black. Non-PNG,
 * truncated, corrupted and oversized files are refused with ST2V_ERR_IMAGE
 * and a message; a missing file with ST2V_ERR_IO.
 */
#include <png.h>
#include <stdint.h>
#include <unistd.h>

#include "st2v.h"
#include "test_util.h"

static const char *tmp_path(const char *name)
{
    static char buf[256];
    snprintf(buf, sizeof(buf), "/tmp/st2v_test_png_%ld_%s", (long)getpid(),
             name);
    return buf;
}

/* Write a PNG whose rows are `row_bytes` apart in `data`. */
static int write_png(const char *path, int w, int h, int color, int depth,
                     const uint8_t *data, size_t row_bytes,
                     const png_color *palette, int n_palette,
                     const uint8_t *trans, int n_trans, int interlace)
{
    FILE *fp = fopen(path, "wb");
    if (!fp)
        return -1;
    png_structp png =
        png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png_create_info_struct(png);
    if (setjmp(png_jmpbuf(png))) {
        png_destroy_write_struct(&png, &info);
        fclose(fp);
        return -1;
    }
    png_init_io(png, fp);
    png_set_IHDR(png, info, (png_uint_32)w, (png_uint_32)h, depth, color,
                 interlace ? PNG_INTERLACE_ADAM7 : PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    if (palette)
        png_set_PLTE(png, info, palette, n_palette);
    if (trans)
        png_set_tRNS(png, info, trans, n_trans, NULL);
    png_write_info(png, info);
    if (depth == 16)
        png_set_swap(png); /* our 16-bit samples are little-endian */
    png_bytep *rows = malloc(sizeof(png_bytep) * (size_t)h);
    for (int y = 0; y < h; y++)
        rows[y] = (png_bytep)(data + (size_t)y * row_bytes);
    png_write_image(png, rows);
    png_write_end(png, NULL);
    free(rows);
    png_destroy_write_struct(&png, &info);
    fclose(fp);
    return 0;
}

/* Decode path and compare with want (w*h*3 bytes). */
static void expect_pixels(const char *path, int w, int h, const uint8_t *want)
{
    uint8_t *rgb = NULL;
    int gw = 0, gh = 0;
    char err[512] = "";
    int rc = st2v_load_png(path, &rgb, &gw, &gh, err, sizeof(err));
    REQUIRE(rc == 0, "decode %s: rc %d: %s", path, rc, err);
    CHECK(gw == w && gh == h, "size %dx%d, want %dx%d", gw, gh, w, h);
    if (gw == w && gh == h) {
        for (int i = 0; i < w * h * 3; i++) {
            if (rgb[i] != want[i]) {
                CHECK(0, "pixel %d channel %d: %d, want %d", i / 3, i % 3,
                      rgb[i], want[i]);
                break;
            }
        }
    }
    free(rgb);
}

static void expect_refusal(const char *path, int want_rc, const char *needle)
{
    uint8_t *rgb = (uint8_t *)1;
    int w = -1, h = -1;
    char err[512] = "";
    int rc = st2v_load_png(path, &rgb, &w, &h, err, sizeof(err));
    CHECK(rc == want_rc, "%s: rc %d, want %d (%s)", path, rc, want_rc, err);
    CHECK(rgb == NULL && w == 0 && h == 0, "outputs not cleared");
    CHECK(err[0] && !strchr(err, '\n'), "message \"%s\"", err);
    CHECK(strstr(err, needle), "message \"%s\" lacks \"%s\"", err, needle);
}

static uint8_t over_black(uint8_t c, uint8_t a)
{
    return (uint8_t)((c * a + 127) / 255);
}

enum { W = 5, H = 3 };

/* A test image: every pixel different, alpha spanning 0..255. */
static void pattern(uint8_t rgba[H][W][4])
{
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            rgba[y][x][0] = (uint8_t)(x * 50 + y);
            rgba[y][x][1] = (uint8_t)(255 - y * 80 - x);
            rgba[y][x][2] = (uint8_t)(x * y * 17);
            rgba[y][x][3] = (uint8_t)((x + y * W) * 255 / (W * H - 1));
        }
}

static void png_decodes_rgb_and_interlaced_rgb(void)
{
    int wrc;
    uint8_t px[H][W][4], rgb[H][W][3];
    pattern(px);
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++)
            memcpy(rgb[y][x], px[y][x], 3);
    const char *path = tmp_path("rgb.png");
    wrc = write_png(path, W, H, PNG_COLOR_TYPE_RGB, 8, &rgb[0][0][0], W * 3,
                      NULL, 0, NULL, 0, 0);
    REQUIRE(wrc == 0,
            "cannot write %s", path);
    expect_pixels(path, W, H, &rgb[0][0][0]);
    wrc = write_png(path, W, H, PNG_COLOR_TYPE_RGB, 8, &rgb[0][0][0], W * 3,
                      NULL, 0, NULL, 0, 1);
    REQUIRE(wrc == 0,
            "cannot write %s", path);
    expect_pixels(path, W, H, &rgb[0][0][0]);
    remove(path);
}

static void png_composites_rgba_over_black(void)
{
    int wrc;
    uint8_t px[H][W][4], want[H][W][3];
    pattern(px);
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++)
            for (int k = 0; k < 3; k++)
                want[y][x][k] = over_black(px[y][x][k], px[y][x][3]);
    CHECK(want[0][0][0] == 0 && want[H - 1][W - 1][0] == px[H - 1][W - 1][0],
          "alpha 0 gives black, alpha 255 the colour");
    const char *path = tmp_path("rgba.png");
    wrc = write_png(path, W, H, PNG_COLOR_TYPE_RGBA, 8, &px[0][0][0], W * 4,
                      NULL, 0, NULL, 0, 0);
    REQUIRE(wrc == 0,
            "cannot write %s", path);
    expect_pixels(path, W, H, &want[0][0][0]);
    remove(path);
}

static void png_expands_gray_and_gray_alpha(void)
{
    int wrc;
    uint8_t px[H][W][4], gray[H][W], ga[H][W][2], want[H][W][3];
    pattern(px);
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            gray[y][x] = px[y][x][0];
            ga[y][x][0] = px[y][x][0];
            ga[y][x][1] = px[y][x][3];
            for (int k = 0; k < 3; k++)
                want[y][x][k] = gray[y][x];
        }
    const char *path = tmp_path("gray.png");
    wrc = write_png(path, W, H, PNG_COLOR_TYPE_GRAY, 8, &gray[0][0], W,
                      NULL, 0, NULL, 0, 0);
    REQUIRE(wrc == 0,
            "cannot write %s", path);
    expect_pixels(path, W, H, &want[0][0][0]);

    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++)
            for (int k = 0; k < 3; k++)
                want[y][x][k] = over_black(ga[y][x][0], ga[y][x][1]);
    wrc = write_png(path, W, H, PNG_COLOR_TYPE_GRAY_ALPHA, 8, &ga[0][0][0],
                      W * 2, NULL, 0, NULL, 0, 0);
    REQUIRE(wrc == 0,
            "cannot write %s", path);
    expect_pixels(path, W, H, &want[0][0][0]);

    /* 1-bit gray: 0 -> black, 1 -> white; 8 pixels in one byte per row */
    uint8_t bits[2] = {0xa5, 0x0f};
    uint8_t want1[2][8][3];
    for (int y = 0; y < 2; y++)
        for (int x = 0; x < 8; x++)
            for (int k = 0; k < 3; k++)
                want1[y][x][k] = (bits[y] >> (7 - x)) & 1 ? 255 : 0;
    wrc = write_png(path, 8, 2, PNG_COLOR_TYPE_GRAY, 1, bits, 1, NULL, 0,
                      NULL, 0, 0);
    REQUIRE(wrc == 0,
            "cannot write %s", path);
    expect_pixels(path, 8, 2, &want1[0][0][0]);
    remove(path);
}

static void png_expands_a_palette_with_transparency(void)
{
    int wrc;
    const png_color pal[4] = {{255, 0, 0}, {0, 200, 0}, {10, 20, 250},
                              {128, 128, 128}};
    const uint8_t trans[4] = {255, 128, 0, 255}; /* per entry alpha */
    uint8_t idx[H][W], want[H][W][3];
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            idx[y][x] = (uint8_t)((x + y) % 4);
            const png_color *c = &pal[idx[y][x]];
            want[y][x][0] = over_black(c->red, trans[idx[y][x]]);
            want[y][x][1] = over_black(c->green, trans[idx[y][x]]);
            want[y][x][2] = over_black(c->blue, trans[idx[y][x]]);
        }
    const char *path = tmp_path("palette.png");
    wrc = write_png(path, W, H, PNG_COLOR_TYPE_PALETTE, 8, &idx[0][0], W,
                      pal, 4, trans, 4, 0);
    REQUIRE(wrc == 0,
            "cannot write %s", path);
    expect_pixels(path, W, H, &want[0][0][0]);
    /* without tRNS: the palette colours as they are */
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++)
            memcpy(want[y][x], &pal[idx[y][x]], 3);
    wrc = write_png(path, W, H, PNG_COLOR_TYPE_PALETTE, 8, &idx[0][0], W,
                      pal, 4, NULL, 0, 0);
    REQUIRE(wrc == 0,
            "cannot write %s", path);
    expect_pixels(path, W, H, &want[0][0][0]);
    remove(path);
}

static void png_scales_16_bit_samples_to_8(void)
{
    int wrc;
    uint8_t px[H][W][4], want[H][W][3];
    uint16_t rgb16[H][W][3], rgba16[H][W][4];
    pattern(px);
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++)
            for (int k = 0; k < 4; k++) {
                /* v * 257 is exactly v in 8 bits */
                if (k < 3)
                    rgb16[y][x][k] = (uint16_t)(px[y][x][k] * 257);
                rgba16[y][x][k] = (uint16_t)(px[y][x][k] * 257);
            }
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++)
            memcpy(want[y][x], px[y][x], 3);
    const char *path = tmp_path("rgb16.png");
    wrc = write_png(path, W, H, PNG_COLOR_TYPE_RGB, 16,
                      (const uint8_t *)&rgb16[0][0][0], W * 6, NULL, 0, NULL,
                      0, 0);
    REQUIRE(wrc == 0,
            "cannot write %s", path);
    expect_pixels(path, W, H, &want[0][0][0]);

    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++)
            for (int k = 0; k < 3; k++)
                want[y][x][k] = over_black(px[y][x][k], px[y][x][3]);
    wrc = write_png(path, W, H, PNG_COLOR_TYPE_RGBA, 16,
                      (const uint8_t *)&rgba16[0][0][0], W * 8, NULL, 0, NULL,
                      0, 0);
    REQUIRE(wrc == 0,
            "cannot write %s", path);
    expect_pixels(path, W, H, &want[0][0][0]);
    remove(path);
}

static void png_refuses_a_file_that_is_not_a_png(void)
{
    const char *path = tmp_path("text.png");
    FILE *fp = fopen(path, "wb");
    REQUIRE(fp, "cannot write %s", path);
    fputs("this is not an image at all\n", fp);
    fclose(fp);
    expect_refusal(path, ST2V_ERR_IMAGE, "not a PNG");
    fp = fopen(path, "wb"); /* empty */
    fclose(fp);
    expect_refusal(path, ST2V_ERR_IMAGE, "not a PNG");
    remove(path);
    expect_refusal("/nonexistent/image.png", ST2V_ERR_IO, "/nonexistent");
}

static void png_refuses_truncated_and_corrupted_files(void)
{
    int wrc;
    enum { S = 64 };
    static uint8_t rgb[S][S][3];
    for (int y = 0; y < S; y++)
        for (int x = 0; x < S; x++)
            for (int k = 0; k < 3; k++)
                rgb[y][x][k] = (uint8_t)(x * 7 + y * 13 + k * 101);
    const char *path = tmp_path("cut.png");
    wrc = write_png(path, S, S, PNG_COLOR_TYPE_RGB, 8, &rgb[0][0][0], S * 3,
                      NULL, 0, NULL, 0, 0);
    REQUIRE(wrc == 0,
            "cannot write %s", path);
    FILE *fp = fopen(path, "rb");
    REQUIRE(fp, "cannot read back %s", path);
    uint8_t buf[65536];
    size_t n = fread(buf, 1, sizeof(buf), fp);
    fclose(fp);
    REQUIRE(n > 100 && n < sizeof(buf), "size %zu", n);

    /* cut at several points past the signature */
    const size_t cuts[] = {12, 30, n / 2, n - 13};
    for (size_t i = 0; i < sizeof(cuts) / sizeof(cuts[0]); i++) {
        fp = fopen(path, "wb");
        fwrite(buf, 1, cuts[i], fp);
        fclose(fp);
        expect_refusal(path, ST2V_ERR_IMAGE, "cannot decode");
    }
    /* a flipped byte in the image data: CRC error */
    buf[n / 2] ^= 0x55;
    fp = fopen(path, "wb");
    fwrite(buf, 1, n, fp);
    fclose(fp);
    expect_refusal(path, ST2V_ERR_IMAGE, "cannot decode");
    remove(path);
}

static void png_refuses_images_over_16384_pixels_on_a_side(void)
{
    int wrc;
    enum { BIG = 16385 };
    uint8_t *row = calloc(BIG, 3);
    const char *path = tmp_path("wide.png");
    wrc = write_png(path, BIG, 1, PNG_COLOR_TYPE_RGB, 8, row, BIG * 3,
                      NULL, 0, NULL, 0, 0);
    REQUIRE(wrc == 0,
            "cannot write %s", path);
    expect_refusal(path, ST2V_ERR_IMAGE, "cannot decode");
    /* the limit itself is fine */
    wrc = write_png(path, BIG - 1, 1, PNG_COLOR_TYPE_RGB, 8, row, BIG * 3,
                      NULL, 0, NULL, 0, 0);
    REQUIRE(wrc == 0,
            "cannot write %s", path);
    uint8_t *rgb = NULL;
    int w = 0, h = 0;
    char err[512] = "";
    int rc = st2v_load_png(path, &rgb, &w, &h, err, sizeof(err));
    CHECK(rc == 0 && w == BIG - 1 && h == 1, "16384x1: rc %d %s", rc, err);
    free(rgb);
    free(row);
    remove(path);
}

int main(void)
{
    RUN(png_decodes_rgb_and_interlaced_rgb);
    RUN(png_composites_rgba_over_black);
    RUN(png_expands_gray_and_gray_alpha);
    RUN(png_expands_a_palette_with_transparency);
    RUN(png_scales_16_bit_samples_to_8);
    RUN(png_refuses_a_file_that_is_not_a_png);
    RUN(png_refuses_truncated_and_corrupted_files);
    RUN(png_refuses_images_over_16384_pixels_on_a_side);
    return tu_summary();
}
