/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * y4m.c - the YUV4MPEG2 writer (y4m.h). Colour conversion is JPEG's:
 * full-range BT.601, Y = 0.299 R + 0.587 G + 0.114 B and
 * Cb, Cr = 128 + ..., in 16-bit fixed point whose coefficients sum exactly,
 * so grey stays grey (Cb = Cr = 128). Each chroma sample is the value of
 * the average colour of its 2x2 block, which is what 'C420jpeg' (chroma
 * centred between the four luma samples) means.
 */
#include "y4m.h"

#include <errno.h>
#include <stdlib.h>

/* Coefficients * 65536; each row of the chroma matrix sums to 0. */
enum {
    YR = 19595, YG = 38470, YB = 7471,     /* 0.299 0.587 0.114 */
    UR = -11059, UG = -21709, UB = 32768,  /* -0.168736 -0.331264 0.5 */
    VR = 32768, VG = -27439, VB = -5329,   /* 0.5 -0.418688 -0.081312 */
};

static inline uint8_t clamp255(int32_t v)
{
    return v < 0 ? 0 : v > 255 ? 255 : (uint8_t)v;
}

void y4m_rgb_to_yuv420(uint8_t *y, uint8_t *cb, uint8_t *cr,
                       const uint8_t *rgb, ptrdiff_t stride, int width,
                       int height)
{
    for (int j = 0; j < height; j++) {
        const uint8_t *p = rgb + j * stride;
        uint8_t *yr = y + (size_t)j * width;
        for (int i = 0; i < width; i++, p += 3)
            yr[i] = clamp255((YR * p[0] + YG * p[1] + YB * p[2] + 32768) >> 16);
    }
    const int cw = width / 2;
    for (int j = 0; j < height / 2; j++) {
        const uint8_t *a = rgb + 2 * j * stride, *b = a + stride;
        for (int i = 0; i < cw; i++, a += 6, b += 6) {
            int32_t r = a[0] + a[3] + b[0] + b[3]; /* sums of 4: 0..1020 */
            int32_t g = a[1] + a[4] + b[1] + b[4];
            int32_t bl = a[2] + a[5] + b[2] + b[5];
            /* (coef * sum) / (4 * 65536) + 128, rounded; never negative. */
            const int32_t bias = (128 << 18) + (1 << 17);
            cb[(size_t)j * cw + i] =
                clamp255((UR * r + UG * g + UB * bl + bias) >> 18);
            cr[(size_t)j * cw + i] =
                clamp255((VR * r + VG * g + VB * bl + bias) >> 18);
        }
    }
}

int y4m_open(y4m_writer *w, FILE *fp, int width, int height, int fps_num,
             int fps_den)
{
    w->fp = fp;
    w->yuv = NULL;
    w->width = width;
    w->height = height;
    if (width < 2 || height < 2 || (width & 1) || (height & 1) ||
        fps_num < 1 || fps_den < 1) {
        errno = EINVAL;
        return -1;
    }
    w->yuv = malloc((size_t)width * height * 3 / 2);
    if (!w->yuv)
        return -1;
    if (fprintf(fp,
                "YUV4MPEG2 W%d H%d F%d:%d Ip A1:1 C420jpeg XYSCSS=420JPEG "
                "XCOLORRANGE=FULL\n",
                width, height, fps_num, fps_den) < 0)
        return -1;
    return 0;
}

int y4m_write_rgb(y4m_writer *w, const uint8_t *rgb, ptrdiff_t stride)
{
    const size_t n = (size_t)w->width * w->height;
    uint8_t *y = w->yuv, *cb = y + n, *cr = cb + n / 4;
    y4m_rgb_to_yuv420(y, cb, cr, rgb, stride, w->width, w->height);
    if (fputs("FRAME\n", w->fp) == EOF)
        return -1;
    if (fwrite(w->yuv, 1, n * 3 / 2, w->fp) != n * 3 / 2)
        return -1;
    return 0;
}

void y4m_close(y4m_writer *w)
{
    free(w->yuv);
    w->yuv = NULL;
}
