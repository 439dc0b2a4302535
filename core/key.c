/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * key.c - the green-screen keyer behind the wrappers' alpha mode (the st2v
 * filter's alpha=1, st2vsrc's alpha=true).
 *
 * The wrappers ask the model for its subject "on a green screen" and key
 * the screen out here, turning packed RGB24 into straight (not
 * premultiplied) RGBA, ready for FFmpeg's overlay or GStreamer's compositor:
 *
 *  - the screen colour is measured on the frame's border (the median of the
 *    border pixels in which green dominates), and followed smoothly from
 *    frame to frame;
 *  - alpha comes from the colour difference g - max(r, b) relative to the
 *    screen's (an Ultimatte-style difference key), through a smoothstep
 *    between two thresholds: soft edges, no hard threshold;
 *  - edge pixels are unmixed from the screen colour (C = aF + (1-a)K solved
 *    for F), and green spill is suppressed (g <= max(r, b));
 *  - fully transparent pixels are (0, 0, 0, 0): a clean background.
 *
 * Integer arithmetic only, so every build keys bit-identically.
 */
#include "st2v.h"

/* Green excess (g - max(r, b)) below which a border pixel is not screen. */
#define ST2V_KEY_MIN_EXCESS 24

/* Alpha ramp, as fractions of the screen's green excess (in 1/256):
 * at or above HI a pixel is screen (alpha 0), at or below LO it is
 * foreground (alpha 255), smooth in between. */
#define ST2V_KEY_LO 64  /* 0.25 */
#define ST2V_KEY_HI 166 /* 0.65 */

void st2v_key_init(st2v_key *key)
{
    key->r = ST2V_KEY_DEFAULT_R;
    key->g = ST2V_KEY_DEFAULT_G;
    key->b = ST2V_KEY_DEFAULT_B;
    key->measured = 0;
}

static int key_max(int a, int b)
{
    return a > b ? a : b;
}

static int key_clip(int v)
{
    return v < 0 ? 0 : v > 255 ? 255 : v;
}

/* Median of a 256-bin histogram holding n values. */
static int key_median(const uint32_t *hist, uint32_t n)
{
    uint32_t seen = 0;
    for (int v = 0; v < 256; v++) {
        seen += hist[v];
        if (2 * seen >= n)
            return v;
    }
    return 255;
}

/**
 * Measure the screen colour on the border of one RGB24 frame (the outer
 * rows and columns, `depth` pixels deep) and fold it into key: the first
 * measure is taken as is, later ones move the key a quarter of the way, so
 * that the key follows slow changes without flicker. Returns 1 when the
 * border showed a screen, 0 when it did not (the key is then unchanged).
 */
int st2v_key_measure(st2v_key *key, const uint8_t *rgb,
                                   ptrdiff_t stride, int w, int h)
{
    uint32_t hist[3][256] = {{0}};
    uint32_t n = 0, total = 0;
    int depth = (w < h ? w : h) / 16;
    int r, g, b;

    if (depth < 1)
        depth = 1;
    for (int y = 0; y < h; y++) {
        const uint8_t *row = rgb + (ptrdiff_t)y * stride;
        int edge_row = y < depth || y >= h - depth;
        for (int x = 0; x < w; x++) {
            const uint8_t *p;
            if (!edge_row && x == depth) /* skip the inside of the frame */
                x = w - depth;
            p = row + 3 * x;
            total++;
            if (p[1] - key_max(p[0], p[2]) < ST2V_KEY_MIN_EXCESS)
                continue;
            hist[0][p[0]]++;
            hist[1][p[1]]++;
            hist[2][p[2]]++;
            n++;
        }
    }
    /* A screen fills most of the border; a few green pixels are not one. */
    if (n == 0 || 4 * n < total)
        return 0;
    r = key_median(hist[0], n);
    g = key_median(hist[1], n);
    b = key_median(hist[2], n);
    if (!key->measured) {
        key->r = r;
        key->g = g;
        key->b = b;
        key->measured = 1;
    } else {
        key->r += (r - key->r) / 4;
        key->g += (g - key->g) / 4;
        key->b += (b - key->b) / 4;
    }
    return 1;
}

/* The alpha (0..255) of one pixel against the key: smoothstep of the
 * pixel's green excess between LO and HI times the screen's. */
static int key_alpha(const st2v_key *key, int r, int g, int b)
{
    int ke = key_max(key->g - key_max(key->r, key->b),
                          ST2V_KEY_MIN_EXCESS);
    int e256 = (g - key_max(r, b)) * 256;     /* green excess, in 1/256 */
    int lo = ke * ST2V_KEY_LO, hi = ke * ST2V_KEY_HI; /* in 1/256 */
    int64_t t, s;

    if (e256 <= lo)
        return 255;
    if (e256 >= hi)
        return 0;
    /* t: position of the excess on the ramp, s = 3t^2 - 2t^3; in 1/4096 */
    t = (int64_t)(e256 - lo) * 4096 / (hi - lo);
    s = (t * t * (3 * 4096 - 2 * t)) / ((int64_t)4096 * 4096);
    return key_clip((int)(255 - (s * 255 + 2048) / 4096));
}

/**
 * Key one frame: src is packed RGB24 (w*3 bytes a row, src_stride apart),
 * dst straight RGBA (w*4 bytes a row, dst_stride apart).
 */
void st2v_key_frame(uint8_t *dst, ptrdiff_t dst_stride,
                                  const uint8_t *src, ptrdiff_t src_stride,
                                  int w, int h, const st2v_key *key)
{
    for (int y = 0; y < h; y++) {
        const uint8_t *s = src + (ptrdiff_t)y * src_stride;
        uint8_t *d = dst + (ptrdiff_t)y * dst_stride;
        for (int x = 0; x < w; x++, s += 3, d += 4) {
            int r = s[0], g = s[1], b = s[2];
            int a = key_alpha(key, r, g, b);
            int m;

            if (a == 0) {
                d[0] = d[1] = d[2] = d[3] = 0;
                continue;
            }
            if (a < 255) {
                /* unmix: F = (C - (1 - a) K) / a */
                int ia = 255 - a;
                r = key_clip((r * 255 - ia * key->r + a / 2) / a);
                g = key_clip((g * 255 - ia * key->g + a / 2) / a);
                b = key_clip((b * 255 - ia * key->b + a / 2) / a);
            }
            /* spill: no green beyond the brighter of red and blue */
            m = key_max(r, b);
            if (g > m)
                g = m;
            d[0] = (uint8_t)r;
            d[1] = (uint8_t)g;
            d[2] = (uint8_t)b;
            d[3] = (uint8_t)a;
        }
    }
}

