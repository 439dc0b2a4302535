/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * params.c - the generator's parameters: defaults, st2v_params_set() for
 * option parsers, and their validation against a model, which settles the
 * model's defaults and capabilities (core/arch.h) into st2v_settled. Not
 * here: what the generator does with them (generator.c).
 */
#include "params.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common.h"

/* ============================================================ defaults */

st2v_params st2v_default_params(void)
{
    st2v_params p;
    memset(&p, 0, sizeof(p));
    p.cfg = -1.0f;
    p.sampler = ST2V_SAMPLER_DEFAULT;
    p.duration = 5.0;
    return p;
}

/* ============================================================= setter */

/* Whole-string integer in [lo, hi]. */
static int parse_i64(const char *s, int64_t lo, int64_t hi, int64_t *out)
{
    if (!s || !*s || isspace((unsigned char)*s))
        return ST2V_ERR_INVALID_ARG;
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || *end || v < lo || v > hi)
        return ST2V_ERR_INVALID_ARG;
    *out = v;
    return 0;
}

/* Whole-string finite number in [lo, hi]. */
static int parse_double(const char *s, double lo, double hi, double *out)
{
    if (!s || !*s || isspace((unsigned char)*s))
        return ST2V_ERR_INVALID_ARG;
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || *end || !isfinite(v) || v < lo || v > hi)
        return ST2V_ERR_INVALID_ARG;
    *out = v;
    return 0;
}

static int64_t gcd64(int64_t a, int64_t b)
{
    while (b) {
        int64_t t = a % b;
        a = b;
        b = t;
    }
    return a;
}

/* "N", "N/D" or a decimal ("29.97") -> num/den in (0, ST2V_MAX_FPS]. */
static int parse_rate(const char *s, int *num, int *den)
{
    int64_t n, d = 1;
    const char *slash = s ? strchr(s, '/') : NULL;
    if (!s)
        return ST2V_ERR_INVALID_ARG;
    if (slash) {
        char head[32];
        size_t len = (size_t)(slash - s);
        if (len == 0 || len >= sizeof(head))
            return ST2V_ERR_INVALID_ARG;
        memcpy(head, s, len);
        head[len] = 0;
        if (parse_i64(head, 1, INT32_MAX, &n) != 0 ||
            parse_i64(slash + 1, 1, INT32_MAX, &d) != 0)
            return ST2V_ERR_INVALID_ARG;
    } else if (parse_i64(s, 1, INT32_MAX, &n) != 0) {
        double v;
        if (parse_double(s, 0.0, ST2V_MAX_FPS, &v) != 0 || !(v > 0.0))
            return ST2V_ERR_INVALID_ARG;
        n = llround(v * 1000.0);
        d = 1000;
        if (n < 1)
            return ST2V_ERR_INVALID_ARG;
    }
    int64_t g = gcd64(n, d);
    n /= g;
    d /= g;
    if ((double)n / (double)d > ST2V_MAX_FPS)
        return ST2V_ERR_INVALID_ARG;
    *num = (int)n;
    *den = (int)d;
    return 0;
}

/* "WxH" with both sides valid output sizes. */
static int parse_size(const char *s, int *w, int *h)
{
    const char *x = s ? strpbrk(s, "xX") : NULL;
    char head[32];
    int64_t a, b;
    if (!x || x == s || (size_t)(x - s) >= sizeof(head))
        return ST2V_ERR_INVALID_ARG;
    memcpy(head, s, (size_t)(x - s));
    head[x - s] = 0;
    if (parse_i64(head, ST2V_MIN_SIDE, ST2V_MAX_SIDE, &a) != 0 ||
        parse_i64(x + 1, ST2V_MIN_SIDE, ST2V_MAX_SIDE, &b) != 0 || (a & 1) || (b & 1))
        return ST2V_ERR_INVALID_ARG;
    *w = (int)a;
    *h = (int)b;
    return 0;
}

int st2v_nonblank(const char *s)
{
    for (; s && *s; s++)
        if (!isspace((unsigned char)*s))
            return 1;
    return 0;
}

/* The code point of the UTF-8 sequence at s (*len its bytes), or -1 when
 * it is not one: truncated, overlong, a surrogate or above U+10FFFF. */
static long utf8_next(const unsigned char *s, int *len)
{
    static const long min[5] = {0, 0, 0x80, 0x800, 0x10000};
    int n = s[0] < 0x80 ? 1 : (s[0] & 0xe0) == 0xc0 ? 2
            : (s[0] & 0xf0) == 0xe0 ? 3 : (s[0] & 0xf8) == 0xf0 ? 4 : 0;
    if (n == 0)
        return -1;
    long c = n == 1 ? s[0] : s[0] & (0x3f >> (n - 1));
    for (int i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return -1;
        c = (c << 6) | (s[i] & 0x3f);
    }
    if (c < min[n] || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
        return -1;
    *len = n;
    return c;
}

int st2v_prompt_check(const char *text, int negative, char *err,
                      size_t err_size)
{
    const char *what = negative ? "negative prompt" : "prompt";
    if (!text)
        text = "";
    if (!negative && !st2v_nonblank(text))
        return st2v_fail(err, err_size, ST2V_ERR_INVALID_ARG, "%s is empty",
                         what);
    size_t n = strlen(text);
    if (n > ST2V_MAX_PROMPT_BYTES)
        return st2v_fail(err, err_size, ST2V_ERR_INVALID_ARG,
                         "%s is %zu bytes long: at most %d", what, n,
                         ST2V_MAX_PROMPT_BYTES);
    const unsigned char *s = (const unsigned char *)text;
    for (size_t i = 0; i < n;) {
        int len = 1;
        long c = utf8_next(s + i, &len);
        if (c < 0)
            return st2v_fail(err, err_size, ST2V_ERR_INVALID_ARG,
                             "%s is not valid UTF-8 (byte 0x%02x at offset "
                             "%zu)", what, s[i], i);
        if ((c < 0x20 && c != '\t' && c != '\n' && c != '\r') ||
            (c >= 0x7f && c < 0xa0))
            return st2v_fail(err, err_size, ST2V_ERR_INVALID_ARG,
                             "%s holds the control character U+%04lX at "
                             "offset %zu", what, (unsigned long)c, i);
        i += (size_t)len;
    }
    return ST2V_OK;
}

int st2v_params_set(st2v_params *p, const char *name, const char *value)
{
    int64_t i;
    double d;
    if (!p || !name || !value)
        return ST2V_ERR_INVALID_ARG;

    if (strcmp(name, "prompt") == 0) {
        if (st2v_prompt_check(value, 0, NULL, 0) != 0)
            return ST2V_ERR_INVALID_ARG;
        p->prompt = value;
    } else if (strcmp(name, "negative_prompt") == 0) {
        if (st2v_prompt_check(value, 1, NULL, 0) != 0)
            return ST2V_ERR_INVALID_ARG;
        p->negative_prompt = value;
    } else if (strcmp(name, "seed") == 0) {
        char *end;
        if (!isdigit((unsigned char)value[0]))
            return ST2V_ERR_INVALID_ARG;
        errno = 0;
        unsigned long long v = strtoull(value, &end, 10);
        if (errno || *end)
            return ST2V_ERR_INVALID_ARG;
        p->seed = (uint64_t)v;
    } else if (strcmp(name, "steps") == 0) {
        if (parse_i64(value, 1, ST2V_MAX_STEPS, &i) != 0)
            return ST2V_ERR_INVALID_ARG;
        p->steps = (int)i;
    } else if (strcmp(name, "cfg") == 0) {
        if (parse_double(value, 0.0, ST2V_MAX_CFG, &d) != 0)
            return ST2V_ERR_INVALID_ARG;
        p->cfg = (float)d;
    } else if (strcmp(name, "sampler") == 0) {
        st2v_sampler s;
        if (st2v_sampler_from_name(value, &s) != 0)
            return ST2V_ERR_INVALID_ARG;
        p->sampler = s;
    } else if (strcmp(name, "shift") == 0) {
        if (parse_double(value, 0.0, ST2V_MAX_SHIFT, &d) != 0 || !(d > 0.0))
            return ST2V_ERR_INVALID_ARG;
        p->shift = (float)d;
    } else if (strcmp(name, "size") == 0) {
        int w, h;
        if (parse_size(value, &w, &h) != 0)
            return ST2V_ERR_INVALID_ARG;
        p->width = w;
        p->height = h;
    } else if (strcmp(name, "fps") == 0) {
        int num, den;
        if (parse_rate(value, &num, &den) != 0)
            return ST2V_ERR_INVALID_ARG;
        p->fps_num = num;
        p->fps_den = den;
    } else if (strcmp(name, "frames") == 0) {
        if (parse_i64(value, -1, ST2V_MAX_FRAMES, &i) != 0 || i == 0)
            return ST2V_ERR_INVALID_ARG;
        p->frames = i;
    } else if (strcmp(name, "duration") == 0) {
        if (parse_double(value, 0.0, ST2V_MAX_DURATION, &d) != 0 || !(d > 0.0))
            return ST2V_ERR_INVALID_ARG;
        p->duration = d;
        p->frames = 0;
    } else if (strcmp(name, "threads") == 0) {
        if (parse_i64(value, 0, ST2V_MAX_THREADS, &i) != 0)
            return ST2V_ERR_INVALID_ARG;
        p->threads = (int)i;
    } else {
        return ST2V_ERR_INVALID_ARG;
    }
    return 0;
}

/* ========================================================= validation */

int64_t st2v_native_frame_index(int64_t k, int native_fps, int fps_num,
                                int fps_den)
{
    /* The numerator is an exact integer in double below 2^53, so an exact
     * integer quotient is never rounded down; 1e-9 absorbs the rest. */
    double q = (double)k * (double)native_fps * (double)fps_den /
               (double)fps_num;
    if (!(q < 9e18)) /* saturate instead of overflowing */
        return INT64_MAX;
    return (int64_t)floor(q + 1e-9);
}

/* The native size whose aspect ratio is closest to w/h (ties: first). */
static int pick_native(const st2v_model_info *info, int w, int h)
{
    int best = 0;
    double best_d = INFINITY;
    for (int i = 0; i < info->n_sizes; i++) {
        double d = fabs(log((double)info->sizes[i][0] / info->sizes[i][1]) -
                        log((double)w / h));
        if (d < best_d) {
            best_d = d;
            best = i;
        }
    }
    return best;
}

int st2v_params_settle(st2v_settled *g, const st2v_model *m,
                       const st2v_params *p, char *err, size_t err_size)
{
    const st2v_model_info *info = &m->info;
    const st2v_arch_caps *caps = &m->caps;
    memset(g, 0, sizeof(*g));
    int rc = st2v_prompt_check(p->prompt, 0, err, err_size);
    if (rc == 0)
        rc = st2v_prompt_check(p->negative_prompt, 1, err, err_size);
    if (rc != 0)
        return rc;
    if (p->steps < 0 || p->steps > ST2V_MAX_STEPS)
        return st2v_fail(err, err_size, ST2V_ERR_INVALID_ARG,
                         "steps must be 1..%d, got %d", ST2V_MAX_STEPS, p->steps);
    if (isnan(p->cfg) || p->cfg > ST2V_MAX_CFG)
        return st2v_fail(err, err_size, ST2V_ERR_INVALID_ARG,
                         "cfg must be 0..%g, got %g", (double)ST2V_MAX_CFG,
                         (double)p->cfg);
    if (isnan(p->shift) || p->shift > ST2V_MAX_SHIFT)
        return st2v_fail(err, err_size, ST2V_ERR_INVALID_ARG,
                         "shift must be 0..%g, got %g", (double)ST2V_MAX_SHIFT,
                         (double)p->shift);
    if ((int)p->sampler < ST2V_SAMPLER_DEFAULT ||
        (int)p->sampler > ST2V_SAMPLER_LAST)
        return st2v_fail(err, err_size, ST2V_ERR_INVALID_ARG,
                         "unknown sampler %d", (int)p->sampler);
    if ((p->width == 0) != (p->height == 0))
        return st2v_fail(err, err_size, ST2V_ERR_INVALID_ARG,
                         "size %dx%d: set both sides or neither", p->width,
                         p->height);
    if (p->width != 0 &&
        (p->width < ST2V_MIN_SIDE || p->width > ST2V_MAX_SIDE || p->height < ST2V_MIN_SIDE ||
         p->height > ST2V_MAX_SIDE || (p->width & 1) || (p->height & 1)))
        return st2v_fail(err, err_size, ST2V_ERR_INVALID_ARG,
                         "size %dx%d: each side must be even and %d..%d",
                         p->width, p->height, ST2V_MIN_SIDE, ST2V_MAX_SIDE);
    if (p->fps_num < 0 || (p->fps_num > 0 && p->fps_den <= 0) ||
        (p->fps_num > 0 && (double)p->fps_num / p->fps_den > ST2V_MAX_FPS))
        return st2v_fail(err, err_size, ST2V_ERR_INVALID_ARG,
                         "fps %d/%d: must be > 0 and at most %g", p->fps_num,
                         p->fps_den, ST2V_MAX_FPS);
    if (p->frames < -1 || p->frames > ST2V_MAX_FRAMES)
        return st2v_fail(err, err_size, ST2V_ERR_INVALID_ARG,
                         "frames must be 1..%lld, 0 (use duration) or -1 "
                         "(endless), got %lld", (long long)ST2V_MAX_FRAMES,
                         (long long)p->frames);
    if (p->frames == 0 &&
        !(p->duration > 0.0 && p->duration <= ST2V_MAX_DURATION))
        return st2v_fail(err, err_size, ST2V_ERR_INVALID_ARG,
                         "duration must be > 0 and at most %g s, got %g",
                         ST2V_MAX_DURATION, p->duration);
    if (p->threads < 0 || p->threads > ST2V_MAX_THREADS)
        return st2v_fail(err, err_size, ST2V_ERR_INVALID_ARG,
                         "threads must be 0..%d, got %d", ST2V_MAX_THREADS,
                         p->threads);
    if (p->image_rgb &&
        (p->image_width < 1 || p->image_height < 1 ||
         p->image_width > ST2V_MAX_IMAGE_SIDE || p->image_height > ST2V_MAX_IMAGE_SIDE ||
         (p->image_stride != 0 && p->image_stride < 3 * p->image_width)))
        return st2v_fail(err, err_size, ST2V_ERR_INVALID_ARG,
                         "image %dx%d (stride %d): sides must be 1..%d and "
                         "the stride at least 3 * width",
                         p->image_width, p->image_height, p->image_stride,
                         ST2V_MAX_IMAGE_SIDE);

    g->seed = p->seed;
    g->steps = p->steps ? p->steps : info->default_steps;
    g->cfg = p->cfg >= 0.0f ? p->cfg : info->default_cfg;
    g->shift = p->shift > 0.0f ? p->shift : info->default_shift;
    g->sampler = p->sampler;
    if (g->sampler == ST2V_SAMPLER_DEFAULT &&
        (st2v_sampler_from_name(info->default_sampler, &g->sampler) != 0 ||
         g->sampler == ST2V_SAMPLER_DEFAULT))
        return st2v_fail(err, err_size, ST2V_ERR_UNSUPPORTED,
                         "model's default sampler \"%s\" is unknown",
                         info->default_sampler);

    int ni = p->width ? pick_native(info, p->width, p->height) : 0;
    g->native_w = info->sizes[ni][0];
    g->native_h = info->sizes[ni][1];
    if (p->width && (caps->flags & ST2V_ARCH_ANY_SIZE)) {
        /* rendered at the size asked for, which the model must accept */
        const int q = caps->size_multiple;
        if (p->width % q || p->height % q)
            return st2v_fail(err, err_size, ST2V_ERR_INVALID_ARG,
                             "size %dx%d: this model (%s) renders sides "
                             "divisible by %d (e.g. %dx%d)",
                             p->width, p->height, info->name, q,
                             (p->width + q / 2) / q * q,
                             (p->height + q / 2) / q * q);
        g->native_w = p->width;
        g->native_h = p->height;
    }
    g->width = p->width ? p->width : g->native_w;
    g->height = p->height ? p->height : g->native_h;
    g->Hl = g->native_h / caps->spatial_factor;
    g->Wl = g->native_w / caps->spatial_factor;
    g->ft = caps->frames_per_latent;
    g->first = caps->first_frames;
    g->pt = caps->temporal_patch;
    g->window = caps->window;
    g->context = caps->context;

    if (p->fps_num > 0) {
        int64_t c = gcd64(p->fps_num, p->fps_den);
        g->fps_num = (int)(p->fps_num / c);
        g->fps_den = (int)(p->fps_den / c);
    } else {
        g->fps_num = info->fps;
        g->fps_den = 1;
    }

    if (p->frames != 0) {
        g->frames_total = p->frames;
    } else {
        /* The frames that start before the end: ceil(duration * fps). */
        double n = ceil(p->duration * g->fps_num / g->fps_den - 1e-6);
        g->frames_total = n < 1.0 ? 1 : (int64_t)n;
    }
    if (g->frames_total > 0) {
        int64_t last = st2v_native_frame_index(g->frames_total - 1, info->fps,
                                               g->fps_num, g->fps_den);
        if (last > ((int64_t)1 << 50))
            return st2v_fail(err, err_size, ST2V_ERR_INVALID_ARG,
                             "%lld frames at %d/%d fps is too long a video",
                             (long long)g->frames_total, g->fps_num,
                             g->fps_den);
        /* latent 0 gives `first` frames, each later one ft */
        int64_t after = last + 1 - g->first;
        g->latents_total = 1 + (after > 0 ? (after + g->ft - 1) / g->ft : 0);
    } else if (!(caps->flags & ST2V_ARCH_ENDLESS) || g->window == 0) {
        return st2v_fail(err, err_size, ST2V_ERR_UNSUPPORTED,
                         "this model (%s) makes no endless video: give a "
                         "frame count or a duration",
                         m->arch->name);
    } else {
        g->latents_total = -1;
    }
    if (g->window == 0) { /* the whole video in one window */
        if (g->latents_total > (1 << 20))
            return st2v_fail(err, err_size, ST2V_ERR_INVALID_ARG,
                             "%lld frames is too long a video for one "
                             "window of this model (%s)",
                             (long long)g->frames_total, m->arch->name);
        g->window = (int)((g->latents_total + g->pt - 1) / g->pt * g->pt);
    }

    if (p->image_rgb && !(caps->flags & ST2V_ARCH_IMAGE))
        return st2v_fail(err, err_size, ST2V_ERR_UNSUPPORTED,
                         "this model (%s) takes no conditioning image%s",
                         m->arch->name,
                         caps->temporal_patch != 1
                             ? ": an image needs a temporal patch of 1"
                             : "");
    g->threads = p->threads;
    if (g->threads == 0) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        g->threads = n < 1 ? 1 : n > ST2V_MAX_THREADS ? ST2V_MAX_THREADS
                                                      : (int)n;
    }
    return 0;
}
