/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * scale.c - resizing native frames to the requested output size
 * (docs/model-format.md, section 10): scale to cover, centre-crop, with a
 * separable Lanczos-3 filter on the 8-bit sRGB values, as swscale's
 * `lanczos` does. Taps are computed once per scaler; the filter widens by
 * the reduction factor when downscaling so that it low-passes.
 *
 * Fixed point, as swscale: 14-bit weights that sum to exactly 1 << 14, the
 * vertical pass kept exact in 32 bits, the horizontal one accumulated in
 * 64 bits, rounded and clamped once at the end. So a constant stays exactly
 * constant, a row or column without structure stays without it, and the
 * same input gives the same bytes on any machine. Equal sizes are a plain
 * copy.
 * Not here: colour conversion (the frames stay RGB24).
 */
#include "scale.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"

#define LANCZOS_A 3.0
#define WBITS 14 /* weight precision: 1.0 = 1 << WBITS */

/* Taps of one axis: output pixel o reads source pixels idx[o*n + k] with
 * weight w[o*n + k] / 2^WBITS, k < n. Indices are clamped to the image
 * (edge pixels repeat); the weights of a pixel sum to exactly 2^WBITS. */
typedef struct axis_taps {
    int n;                     /* taps per output pixel */
    int *idx;                  /* (dst, n) */
    int32_t *w;                /* (dst, n) */
} axis_taps;

struct st2v_scaler {
    int sw, sh, dw, dh;
    int identity;
    axis_taps x, y;
    int32_t *row;              /* (sw * 3) scratch: one vertically filtered row,
                                  in units of 2^-WBITS */
};

static double lanczos3(double x)
{
    x = fabs(x);
    if (x < 1e-9)
        return 1.0;
    if (x >= LANCZOS_A)
        return 0.0;
    double px = M_PI * x;
    return LANCZOS_A * sin(px) * sin(px / LANCZOS_A) / (px * px);
}

/* Taps for src -> dst pixels at `scale` (dst pixels per src pixel) with the
 * crop starting `offset` scaled pixels in. */
static int make_taps(axis_taps *a, int src, int dst, double scale,
                     double offset)
{
    double stretch = scale < 1.0 ? 1.0 / scale : 1.0; /* filter widening */
    double radius = LANCZOS_A * stretch;
    int n = (int)ceil(2.0 * radius) + 1;

    a->n = n;
    a->idx = malloc((size_t)dst * (size_t)n * sizeof(int));
    a->w = malloc((size_t)dst * (size_t)n * sizeof(int32_t));
    double *w = malloc((size_t)n * sizeof(double)); /* (n) one pixel's taps */
    if (!a->idx || !a->w || !w) {
        free(w);
        return ST2V_ERR_NOMEM;
    }

    for (int o = 0; o < dst; o++) {
        /* Centre of output pixel o in source coordinates. */
        double c = ((double)o + 0.5 + offset) / scale - 0.5;
        int first = (int)floor(c - radius) + 1;
        double sum = 0.0;
        for (int k = 0; k < n; k++) {
            double d = ((double)(first + k) - c) / stretch;
            w[k] = fabs(d) < LANCZOS_A ? lanczos3(d) : 0.0;
            sum += w[k];
        }
        /* Quantise; the rounding residue goes to the largest tap. */
        int32_t *wq = a->w + (size_t)o * n;
        int32_t total = 0;
        int big = 0;
        for (int k = 0; k < n; k++) {
            int i = first + k;
            a->idx[(size_t)o * n + k] = i < 0 ? 0 : i >= src ? src - 1 : i;
            wq[k] = (int32_t)lrint(w[k] / sum * (double)(1 << WBITS));
            total += wq[k];
            if (wq[k] > wq[big])
                big = k;
        }
        wq[big] += (1 << WBITS) - total;
    }
    free(w);
    return 0;
}

static void free_taps(axis_taps *a)
{
    free(a->idx);
    free(a->w);
}

int st2v_scaler_new(st2v_scaler **out, int sw, int sh, int dw, int dh)
{
    *out = NULL;
    if (sw < 1 || sh < 1 || dw < 1 || dh < 1 || sw > 65536 || sh > 65536 ||
        dw > 65536 || dh > 65536)
        return ST2V_ERR_INVALID_ARG;
    st2v_scaler *s = calloc(1, sizeof(*s));
    if (!s)
        return ST2V_ERR_NOMEM;
    s->sw = sw;
    s->sh = sh;
    s->dw = dw;
    s->dh = dh;
    s->identity = sw == dw && sh == dh;
    if (!s->identity) {
        /* Cover: the larger of the two ratios; the other axis is cropped. */
        double scale = ST2V_MAX((double)dw / sw, (double)dh / sh);
        double ox = ((double)sw * scale - dw) / 2.0;
        double oy = ((double)sh * scale - dh) / 2.0;
        s->row = malloc((size_t)sw * 3 * sizeof(int32_t));
        if (!s->row || make_taps(&s->x, sw, dw, scale, ox) != 0 ||
            make_taps(&s->y, sh, dh, scale, oy) != 0) {
            st2v_scaler_free(s);
            return ST2V_ERR_NOMEM;
        }
    }
    *out = s;
    return 0;
}

void st2v_scaler_free(st2v_scaler *s)
{
    if (!s)
        return;
    free_taps(&s->x);
    free_taps(&s->y);
    free(s->row);
    free(s);
}

/* A sum in units of 2^-(2 WBITS), rounded to 0..255. */
static inline uint8_t to_u8(int64_t acc)
{
    if (acc <= 0)
        return 0;
    acc = (acc + ((int64_t)1 << (2 * WBITS - 1))) >> (2 * WBITS);
    return acc > 255 ? 255 : (uint8_t)acc;
}

/* Not reentrant for one scaler: it uses the scaler's scratch row. */
void st2v_scaler_run(const st2v_scaler *s, uint8_t *dst, ptrdiff_t dst_stride,
                     const uint8_t *src, ptrdiff_t src_stride)
{
    if (s->identity) {
        for (int y = 0; y < s->dh; y++)
            memcpy(dst + y * dst_stride, src + y * src_stride,
                   (size_t)s->dw * 3);
        return;
    }
    const int sw3 = s->sw * 3;
    int32_t *row = s->row; /* (sw * 3) */
    for (int y = 0; y < s->dh; y++) {
        /* Vertical pass: |sum| <= 255 * sum|w| < 2^8 * 2 * 2^WBITS. */
        const int *yi = s->y.idx + (size_t)y * s->y.n;
        const int32_t *yw = s->y.w + (size_t)y * s->y.n;
        for (int i = 0; i < sw3; i++)
            row[i] = 0;
        for (int k = 0; k < s->y.n; k++) {
            const int32_t w = yw[k];
            if (w == 0)
                continue;
            const uint8_t *sr = src + yi[k] * src_stride;
            for (int i = 0; i < sw3; i++)
                row[i] += w * (int32_t)sr[i];
        }
        /* Horizontal pass into the output row. */
        uint8_t *dr = dst + y * dst_stride;
        for (int x = 0; x < s->dw; x++) {
            const int *xi = s->x.idx + (size_t)x * s->x.n;
            const int32_t *xw = s->x.w + (size_t)x * s->x.n;
            int64_t r = 0, g = 0, b = 0;
            for (int k = 0; k < s->x.n; k++) {
                const int32_t *p = row + xi[k] * 3;
                r += (int64_t)xw[k] * p[0];
                g += (int64_t)xw[k] * p[1];
                b += (int64_t)xw[k] * p[2];
            }
            dr[3 * x + 0] = to_u8(r);
            dr[3 * x + 1] = to_u8(g);
            dr[3 * x + 2] = to_u8(b);
        }
    }
}
