/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test_y4m.c - the CLI's YUV4MPEG2 writer: JPEG (full-range BT.601)
 * colour values, centred 4:2:0 chroma, and the exact stream layout.
 * The writer lives in cli/, so it is compiled in here.
 */
#include "../cli/y4m.c"

#include "test_util.h"

static void convert_one(const uint8_t rgb[3], uint8_t yuv[3])
{
    uint8_t img[2 * 2 * 3], y[4], cb, cr;
    for (int i = 0; i < 4; i++)
        memcpy(img + 3 * i, rgb, 3);
    y4m_rgb_to_yuv420(y, &cb, &cr, img, 6, 2, 2);
    yuv[0] = y[0];
    yuv[1] = cb;
    yuv[2] = cr;
}

static void primaries_and_greys_get_jpeg_values(void)
{
    static const uint8_t cases[][6] = {
        /* R G B -> Y Cb Cr (rounded JFIF formulas) */
        {0, 0, 0, 0, 128, 128},       {255, 255, 255, 255, 128, 128},
        {128, 128, 128, 128, 128, 128}, {255, 0, 0, 76, 85, 255},
        {0, 255, 0, 150, 44, 21},     {0, 0, 255, 29, 255, 107},
        {255, 255, 0, 226, 1, 149},   {10, 200, 90, 131, 105, 42},
    };
    for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
        uint8_t yuv[3];
        convert_one(cases[k], yuv);
        CHECK(yuv[0] == cases[k][3] && yuv[1] == cases[k][4] &&
                  yuv[2] == cases[k][5],
              "rgb %d %d %d: got %d %d %d, want %d %d %d", cases[k][0],
              cases[k][1], cases[k][2], yuv[0], yuv[1], yuv[2], cases[k][3],
              cases[k][4], cases[k][5]);
    }
}

static void every_grey_level_has_neutral_chroma(void)
{
    int bad = 0;
    for (int v = 0; v < 256; v++) {
        uint8_t rgb[3] = {(uint8_t)v, (uint8_t)v, (uint8_t)v}, yuv[3];
        convert_one(rgb, yuv);
        bad += yuv[0] != v || yuv[1] != 128 || yuv[2] != 128;
    }
    CHECK(bad == 0, "%d grey levels are not (v, 128, 128)", bad);
}

static void chroma_is_the_average_of_its_2x2_block(void)
{
    /* Left block: red and blue pixels; right block: all green. */
    uint8_t img[2 * 4 * 3] = {
        255, 0, 0, 0, 0, 255, 0, 255, 0, 0, 255, 0,
        0, 0, 255, 255, 0, 0, 0, 255, 0, 0, 255, 0,
    };
    uint8_t y[8], cb[2], cr[2], mix[3], green[3];
    y4m_rgb_to_yuv420(y, cb, cr, img, 12, 4, 2);
    const uint8_t avg[3] = {128, 0, 128}; /* (255 + 0) / 2 rounds */
    convert_one(avg, mix);
    const uint8_t g[3] = {0, 255, 0};
    convert_one(g, green);
    CHECK(abs(cb[0] - mix[1]) <= 1 && abs(cr[0] - mix[2]) <= 1,
          "mixed block: %d %d, want about %d %d", cb[0], cr[0], mix[1],
          mix[2]);
    CHECK(cb[1] == green[1] && cr[1] == green[2], "green block: %d %d",
          cb[1], cr[1]);
    CHECK(y[0] == 76 && y[1] == 29 && y[4] == 29 && y[5] == 76,
          "luma is per pixel: %d %d %d %d", y[0], y[1], y[4], y[5]);
}

static void the_stream_has_the_documented_layout(void)
{
    char *buf = NULL;
    size_t size = 0;
    FILE *fp = open_memstream(&buf, &size);
    REQUIRE(fp, "open_memstream");
    y4m_writer w;
    int rc = y4m_open(&w, fp, 4, 2, 30000, 1001);
    uint8_t rgb[4 * 2 * 3];
    memset(rgb, 200, sizeof(rgb));
    rc |= y4m_write_rgb(&w, rgb, 12);
    rc |= y4m_write_rgb(&w, rgb, 12);
    y4m_close(&w);
    fclose(fp);
    REQUIRE(rc == 0, "writing failed");
    const char *head = "YUV4MPEG2 W4 H2 F30000:1001 Ip A1:1 C420jpeg "
                       "XYSCSS=420JPEG XCOLORRANGE=FULL\n";
    size_t hl = strlen(head), fl = 6 + 4 * 2 + 2 + 2;
    CHECK(size == hl + 2 * fl, "%zu bytes, want %zu", size, hl + 2 * fl);
    CHECK(size >= hl && memcmp(buf, head, hl) == 0, "header: %.*s",
          (int)(size < hl ? size : hl), buf);
    CHECK(size == hl + 2 * fl && memcmp(buf + hl, "FRAME\n", 6) == 0 &&
              memcmp(buf + hl + fl, "FRAME\n", 6) == 0,
          "frame markers misplaced");
    CHECK(size == hl + 2 * fl && (uint8_t)buf[hl + 6] == 200 &&
              (uint8_t)buf[hl + 6 + 8] == 128 &&
              (uint8_t)buf[hl + 6 + 10] == 128,
          "plane order is not Y, Cb, Cr");
    free(buf);
}

static void odd_sizes_and_bad_rates_are_refused(void)
{
    y4m_writer w;
    CHECK(y4m_open(&w, stdout, 33, 32, 16, 1) != 0, "odd width");
    y4m_close(&w);
    CHECK(y4m_open(&w, stdout, 32, 31, 16, 1) != 0, "odd height");
    y4m_close(&w);
    CHECK(y4m_open(&w, stdout, 32, 32, 0, 1) != 0, "rate 0");
    y4m_close(&w);
}

int main(void)
{
    RUN(primaries_and_greys_get_jpeg_values);
    RUN(every_grey_level_has_neutral_chroma);
    RUN(chroma_is_the_average_of_its_2x2_block);
    RUN(the_stream_has_the_documented_layout);
    RUN(odd_sizes_and_bad_rates_are_refused);
    return tu_summary();
}
