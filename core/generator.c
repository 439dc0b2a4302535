/*
 * generator.c - the generator of st2v.h (docs/model-format.md, section 10):
 * parameters and their validation, prompt conditioning, the chunked
 * sampling of latent windows with guidance and clean context, streaming
 * decode to RGB24, frame-rate conversion and scaling to the output size.
 *
 * One generator = one video stream. Its state is the encoded prompts, the
 * context latent frames carried between chunks, the decoder's history and
 * the RGB frames of the current chunk; memory does not grow with the length
 * of the video. Not here: the model's mathematics (text_encoder.c, dit.c,
 * vae.c), the solvers (sampler.c), the noise (rng.c), the filter
 * (scale.c).
 */
#include "generator.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common.h"
#include "dit.h"
#include "rng.h"
#include "sampler.h"
#include "scale.h"
#include "text_encoder.h"
#include "tokenizer.h"
#include "vae.h"

#define MAX_SIDE 8192
#define MIN_SIDE 16
#define MAX_FPS 1000.0
#define MAX_DURATION 1e7
#define MAX_FRAMES 10000000000LL /* MAX_DURATION at MAX_FPS */
#define MAX_STEPS 1000
#define MAX_CFG 100.0f
#define MAX_SHIFT 100.0f
#define MAX_THREADS 256
#define MAX_IMAGE_SIDE 16384

/* ================================================== conditioning, windows */

void st2v_cond_free(st2v_cond *c)
{
    if (!c)
        return;
    st2v_free(c->kv);
    c->kv = NULL;
    c->n = 0;
}

int st2v_cond_encode(st2v_cond *c, const st2v_model *m, st2v_pool *pool,
                     const int32_t *ids, int n)
{
    const st2v_config *cf = &m->cfg;
    if (n < 1 || n > cf->max_length)
        return ST2V_ERR_INVALID_ARG;
    float *text = st2v_alloc_floats((size_t)n * cf->text_dim); /* (n, Dt) */
    float *kv = st2v_alloc_floats(st2v_dit_text_floats(m, n));
    /* kv: (layers, n, 2D), then pooled (D) with dit.text_pool */
    int rc = ST2V_ERR_NOMEM;
    if (text && kv) {
        rc = st2v_text_encode(m, pool, ids, n, text);
        if (rc == 0)
            rc = st2v_dit_prepare_text(m, pool, text, n, kv);
    }
    st2v_free(text);
    if (rc != 0) {
        st2v_free(kv);
        return rc;
    }
    st2v_cond_free(c);
    c->kv = kv;
    c->n = n;
    return 0;
}

/* The model call of the sampler: DiT with guidance. */
typedef struct window_ctx {
    const st2v_model *m;
    st2v_pool *pool;
    const st2v_window_job *job;
    float *v_neg;              /* (Cz, T, Hl, Wl) unconditional velocity */
} window_ctx;

static int is_cancelled(atomic_int *flag)
{
    return flag && atomic_load(flag) != 0;
}

static int window_velocity(void *ctx, float *v, const float *x,
                           const float *tt)
{
    window_ctx *w = ctx;
    const st2v_window_job *j = w->job;
    if (is_cancelled(j->cancel))
        return ST2V_ERR_CANCELLED;
    int rc = st2v_dit_forward(w->m, w->pool, v, x, j->T, j->Hl, j->Wl, tt, 0,
                              j->pos->kv, j->pos->n);
    if (rc != 0 || j->cfg == 1.0f)
        return rc;
    if (is_cancelled(j->cancel))
        return ST2V_ERR_CANCELLED;
    rc = st2v_dit_forward(w->m, w->pool, w->v_neg, x, j->T, j->Hl, j->Wl, tt,
                          0, j->neg->kv, j->neg->n);
    if (rc != 0)
        return rc;
    const int64_t n = (int64_t)w->m->cfg.z_channels * j->T * j->Hl * j->Wl;
    const float cfg = j->cfg;
    const float *vn = w->v_neg;
    for (int64_t k = 0; k < n; k++)
        v[k] = vn[k] + cfg * (v[k] - vn[k]);
    return 0;
}

static int window_on_step(void *ctx, int step, int steps)
{
    window_ctx *w = ctx;
    const st2v_window_job *j = w->job;
    if (j->on_step && j->on_step(j->user, step, steps) != 0)
        return 1;
    return is_cancelled(j->cancel);
}

int st2v_sample_window(const st2v_model *m, st2v_pool *pool,
                       const st2v_window_job *job, float *x)
{
    const st2v_config *cf = &m->cfg;
    if (!job->pos || !job->pos->kv || (job->cfg != 1.0f && (!job->neg ||
                                                            !job->neg->kv)))
        return ST2V_ERR_INVALID_ARG;
    window_ctx w = {m, pool, job, NULL};
    if (job->cfg != 1.0f) {
        w.v_neg = st2v_alloc_floats((size_t)cf->z_channels * job->T *
                                    job->Hl * job->Wl);
        if (!w.v_neg)
            return ST2V_ERR_NOMEM;
    }
    st2v_sample_job sj = {
        .sampler = job->sampler,
        .steps = job->steps,
        .shift = job->shift,
        .Cz = cf->z_channels,
        .T = job->T,
        .Hl = job->Hl,
        .Wl = job->Wl,
        .pt = cf->patch[0],
        .n_context = job->n_context,
        .velocity = window_velocity,
        .ctx = &w,
        .on_step = window_on_step,
    };
    int rc = st2v_sample(&sj, x);
    st2v_free(w.v_neg);
    return rc;
}

int st2v_sample_window_ids(const st2v_model *m, st2v_pool *pool,
                           const int32_t *ids, int n_ids,
                           const int32_t *neg_ids, int n_neg,
                           st2v_sampler sampler, int steps, float cfg,
                           float shift, int T, int Hl, int Wl, int n_context,
                           float *x)
{
    st2v_cond pos = {0}, neg = {0};
    int rc = st2v_cond_encode(&pos, m, pool, ids, n_ids);
    if (rc == 0 && cfg != 1.0f)
        rc = neg_ids ? st2v_cond_encode(&neg, m, pool, neg_ids, n_neg)
                     : ST2V_ERR_INVALID_ARG;
    if (rc == 0) {
        st2v_window_job job = {
            .sampler = sampler, .steps = steps, .cfg = cfg, .shift = shift,
            .T = T, .Hl = Hl, .Wl = Wl, .n_context = n_context,
            .pos = &pos, .neg = &neg,
        };
        rc = st2v_sample_window(m, pool, &job, x);
    }
    st2v_cond_free(&pos);
    st2v_cond_free(&neg);
    return rc;
}

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

/* ========================================================== parameters */

st2v_params st2v_default_params(void)
{
    st2v_params p;
    memset(&p, 0, sizeof(p));
    p.cfg = -1.0f;
    p.sampler = ST2V_SAMPLER_DEFAULT;
    p.duration = 5.0;
    return p;
}

static const struct {
    const char *name;
    st2v_sampler s;
} sampler_names[] = {
    {"default", ST2V_SAMPLER_DEFAULT},
    {"euler", ST2V_SAMPLER_EULER},
    {"heun", ST2V_SAMPLER_HEUN},
    {"dpm++2m", ST2V_SAMPLER_DPMPP_2M},
    {"dpmpp_2m", ST2V_SAMPLER_DPMPP_2M},
};

int st2v_sampler_from_name(const char *name, st2v_sampler *out)
{
    if (!name || !out)
        return ST2V_ERR_INVALID_ARG;
    for (size_t i = 0; i < ST2V_ARRAY_SIZE(sampler_names); i++) {
        if (strcmp(name, sampler_names[i].name) == 0) {
            *out = sampler_names[i].s;
            return 0;
        }
    }
    return ST2V_ERR_INVALID_ARG;
}

const char *st2v_sampler_name(st2v_sampler s)
{
    for (size_t i = 0; i < ST2V_ARRAY_SIZE(sampler_names); i++)
        if (sampler_names[i].s == s)
            return sampler_names[i].name;
    return "unknown";
}

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

/* "N", "N/D" or a decimal ("29.97") -> num/den in (0, MAX_FPS]. */
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
        if (parse_double(s, 0.0, MAX_FPS, &v) != 0 || !(v > 0.0))
            return ST2V_ERR_INVALID_ARG;
        n = llround(v * 1000.0);
        d = 1000;
        if (n < 1)
            return ST2V_ERR_INVALID_ARG;
    }
    int64_t g = gcd64(n, d);
    n /= g;
    d /= g;
    if ((double)n / (double)d > MAX_FPS)
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
    if (parse_i64(head, MIN_SIDE, MAX_SIDE, &a) != 0 ||
        parse_i64(x + 1, MIN_SIDE, MAX_SIDE, &b) != 0 || (a & 1) || (b & 1))
        return ST2V_ERR_INVALID_ARG;
    *w = (int)a;
    *h = (int)b;
    return 0;
}

static int nonblank(const char *s)
{
    for (; s && *s; s++)
        if (!isspace((unsigned char)*s))
            return 1;
    return 0;
}

int st2v_params_set(st2v_params *p, const char *name, const char *value)
{
    int64_t i;
    double d;
    if (!p || !name || !value)
        return ST2V_ERR_INVALID_ARG;

    if (strcmp(name, "prompt") == 0) {
        if (!nonblank(value))
            return ST2V_ERR_INVALID_ARG;
        p->prompt = value;
    } else if (strcmp(name, "negative_prompt") == 0) {
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
        if (parse_i64(value, 1, MAX_STEPS, &i) != 0)
            return ST2V_ERR_INVALID_ARG;
        p->steps = (int)i;
    } else if (strcmp(name, "cfg") == 0) {
        if (parse_double(value, 0.0, MAX_CFG, &d) != 0)
            return ST2V_ERR_INVALID_ARG;
        p->cfg = (float)d;
    } else if (strcmp(name, "sampler") == 0) {
        st2v_sampler s;
        if (st2v_sampler_from_name(value, &s) != 0)
            return ST2V_ERR_INVALID_ARG;
        p->sampler = s;
    } else if (strcmp(name, "shift") == 0) {
        if (parse_double(value, 0.0, MAX_SHIFT, &d) != 0 || !(d > 0.0))
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
        if (parse_i64(value, -1, MAX_FRAMES, &i) != 0 || i == 0)
            return ST2V_ERR_INVALID_ARG;
        p->frames = i;
    } else if (strcmp(name, "duration") == 0) {
        if (parse_double(value, 0.0, MAX_DURATION, &d) != 0 || !(d > 0.0))
            return ST2V_ERR_INVALID_ARG;
        p->duration = d;
        p->frames = 0;
    } else if (strcmp(name, "threads") == 0) {
        if (parse_i64(value, 0, MAX_THREADS, &i) != 0)
            return ST2V_ERR_INVALID_ARG;
        p->threads = (int)i;
    } else {
        return ST2V_ERR_INVALID_ARG;
    }
    return 0;
}

/* ========================================================== generator */

struct st2v_generator {
    const st2v_model *model;
    const st2v_config *cf;

    /* settled parameters */
    uint64_t seed;
    st2v_sampler sampler;
    int steps;
    float cfg_scale, shift;
    int width, height;             /* output */
    int fps_num, fps_den;          /* output */
    int64_t frames_total;          /* output frames, -1 endless */
    int64_t latents_total;         /* latent frames needed, -1 endless */
    int native_w, native_h, Hl, Wl;
    int ft, pt, window, context;
    st2v_log_fn log;
    st2v_progress_fn progress;
    void *user_data;

    /* prompts: current (encoded) and pending (from set_prompt) */
    char *prompt, *negative;
    char *next_prompt, *next_negative; /* NULL when nothing is pending */
    float next_cfg;                /* < 0 when nothing is pending */
    st2v_tokenizer *tok;
    int32_t *ids;                  /* (L) scratch */
    st2v_cond pos, neg;
    int pos_ok, neg_ok;            /* encodings match the current prompts */

    /* conditioning image */
    uint8_t *image;                /* (ih, iw, 3) packed copy, or NULL */
    int iw, ih;
    float *image_latent;           /* (Cz, Hl, Wl) normalised, or NULL */

    st2v_pool *pool;
    st2v_vae_stream *vae;
    st2v_scaler *scaler;           /* NULL when the output is native size */

    float *x;                      /* (Cz, window, Hl, Wl) the window */
    float *ctx_lat;                /* (Cz, context, Hl, Wl) carried frames */
    float *noise;                  /* (Cz, window, Hl, Wl) */
    float *z;                      /* (Cz, Hl, Wl) one denormalised frame */
    float *rgb;                    /* (3, ft, H, W) one decoded latent frame */
    uint8_t *frames;               /* (window * ft, H, W, 3) current chunk */

    /* progress through the video */
    int chunk;                     /* next chunk to generate */
    int64_t latents_done;          /* latent frames decoded */
    int64_t native_base;           /* native index of frames[0] */
    int native_count;              /* frames held */
    int frames_chunk;              /* chunk the held frames came from */
    int64_t out_index;             /* next output frame */
    int broken;                    /* decoder state lost: status until rewind */

    atomic_int cancel;
    char err[256];
};

static int gen_fail(st2v_generator *g, int status, const char *fmt, ...)
    ST2V_PRINTF(3, 4);

static int gen_fail(st2v_generator *g, int status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(g->err, sizeof(g->err), fmt, ap);
    va_end(ap);
    return status;
}

static char *dup_str(const char *s)
{
    size_t n = strlen(s ? s : "") + 1;
    char *d = malloc(n);
    if (d)
        memcpy(d, s ? s : "", n);
    return d;
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* The native size whose aspect ratio is closest to w/h (ties: first). */
static int pick_native(const st2v_config *cf, int w, int h)
{
    int best = 0;
    double best_d = INFINITY;
    for (int i = 0; i < cf->n_sizes; i++) {
        double d = fabs(log((double)cf->sizes[i][0] / cf->sizes[i][1]) -
                        log((double)w / h));
        if (d < best_d) {
            best_d = d;
            best = i;
        }
    }
    return best;
}

/* Check the parameters; settle defaults into g. */
static int settle_params(st2v_generator *g, const st2v_params *p, char *err,
                         size_t err_size)
{
    const st2v_config *cf = g->cf;
    if (!p->prompt || !nonblank(p->prompt))
        return st2v_fail(err, err_size, ST2V_ERR_INVALID_ARG,
                         "prompt is empty");
    if (p->steps < 0 || p->steps > MAX_STEPS)
        return st2v_fail(err, err_size, ST2V_ERR_INVALID_ARG,
                         "steps must be 1..%d, got %d", MAX_STEPS, p->steps);
    if (isnan(p->cfg) || p->cfg > MAX_CFG)
        return st2v_fail(err, err_size, ST2V_ERR_INVALID_ARG,
                         "cfg must be 0..%g, got %g", (double)MAX_CFG,
                         (double)p->cfg);
    if (isnan(p->shift) || p->shift > MAX_SHIFT)
        return st2v_fail(err, err_size, ST2V_ERR_INVALID_ARG,
                         "shift must be 0..%g, got %g", (double)MAX_SHIFT,
                         (double)p->shift);
    if ((int)p->sampler < ST2V_SAMPLER_DEFAULT ||
        (int)p->sampler > ST2V_SAMPLER_DPMPP_2M)
        return st2v_fail(err, err_size, ST2V_ERR_INVALID_ARG,
                         "unknown sampler %d", (int)p->sampler);
    if ((p->width == 0) != (p->height == 0))
        return st2v_fail(err, err_size, ST2V_ERR_INVALID_ARG,
                         "size %dx%d: set both sides or neither", p->width,
                         p->height);
    if (p->width != 0 &&
        (p->width < MIN_SIDE || p->width > MAX_SIDE || p->height < MIN_SIDE ||
         p->height > MAX_SIDE || (p->width & 1) || (p->height & 1)))
        return st2v_fail(err, err_size, ST2V_ERR_INVALID_ARG,
                         "size %dx%d: each side must be even and %d..%d",
                         p->width, p->height, MIN_SIDE, MAX_SIDE);
    if (p->fps_num < 0 || (p->fps_num > 0 && p->fps_den <= 0) ||
        (p->fps_num > 0 && (double)p->fps_num / p->fps_den > MAX_FPS))
        return st2v_fail(err, err_size, ST2V_ERR_INVALID_ARG,
                         "fps %d/%d: must be > 0 and at most %g", p->fps_num,
                         p->fps_den, MAX_FPS);
    if (p->frames < -1 || p->frames > MAX_FRAMES)
        return st2v_fail(err, err_size, ST2V_ERR_INVALID_ARG,
                         "frames must be 1..%lld, 0 (use duration) or -1 "
                         "(endless), got %lld", (long long)MAX_FRAMES,
                         (long long)p->frames);
    if (p->frames == 0 &&
        !(p->duration > 0.0 && p->duration <= MAX_DURATION))
        return st2v_fail(err, err_size, ST2V_ERR_INVALID_ARG,
                         "duration must be > 0 and at most %g s, got %g",
                         MAX_DURATION, p->duration);
    if (p->threads < 0 || p->threads > MAX_THREADS)
        return st2v_fail(err, err_size, ST2V_ERR_INVALID_ARG,
                         "threads must be 0..%d, got %d", MAX_THREADS,
                         p->threads);
    if (p->image_rgb &&
        (p->image_width < 1 || p->image_height < 1 ||
         p->image_width > MAX_IMAGE_SIDE || p->image_height > MAX_IMAGE_SIDE ||
         (p->image_stride != 0 && p->image_stride < 3 * p->image_width)))
        return st2v_fail(err, err_size, ST2V_ERR_INVALID_ARG,
                         "image %dx%d (stride %d): sides must be 1..%d and "
                         "the stride at least 3 * width",
                         p->image_width, p->image_height, p->image_stride,
                         MAX_IMAGE_SIDE);

    g->seed = p->seed;
    g->steps = p->steps ? p->steps : cf->steps;
    g->cfg_scale = p->cfg >= 0.0f ? p->cfg : cf->cfg;
    g->shift = p->shift > 0.0f ? p->shift : cf->shift;
    g->sampler = p->sampler;
    if (g->sampler == ST2V_SAMPLER_DEFAULT &&
        (st2v_sampler_from_name(cf->sampler, &g->sampler) != 0 ||
         g->sampler == ST2V_SAMPLER_DEFAULT))
        return st2v_fail(err, err_size, ST2V_ERR_UNSUPPORTED,
                         "model's default sampler \"%s\" is unknown",
                         cf->sampler);

    int ni = p->width ? pick_native(cf, p->width, p->height) : 0;
    g->native_w = cf->sizes[ni][0];
    g->native_h = cf->sizes[ni][1];
    g->width = p->width ? p->width : g->native_w;
    g->height = p->height ? p->height : g->native_h;
    g->Hl = g->native_h / cf->s;
    g->Wl = g->native_w / cf->s;
    g->ft = cf->ft;
    g->pt = cf->patch[0];
    g->window = cf->window;
    g->context = cf->context;

    if (p->fps_num > 0) {
        int64_t c = gcd64(p->fps_num, p->fps_den);
        g->fps_num = (int)(p->fps_num / c);
        g->fps_den = (int)(p->fps_den / c);
    } else {
        g->fps_num = cf->fps;
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
        int64_t last = st2v_native_frame_index(g->frames_total - 1, cf->fps,
                                               g->fps_num, g->fps_den);
        if (last > ((int64_t)1 << 50))
            return st2v_fail(err, err_size, ST2V_ERR_INVALID_ARG,
                             "%lld frames at %d/%d fps is too long a video",
                             (long long)g->frames_total, g->fps_num,
                             g->fps_den);
        g->latents_total = (last + 1 + g->ft - 1) / g->ft;
    } else {
        g->latents_total = -1;
    }

    if (p->image_rgb && g->pt != 1)
        return st2v_fail(err, err_size, ST2V_ERR_UNSUPPORTED,
                         "a conditioning image needs a temporal patch of 1, "
                         "the model has %d", g->pt);
    g->log = p->log;
    g->progress = p->progress;
    g->user_data = p->user_data;
    return 0;
}

static int alloc_state(st2v_generator *g, const st2v_params *p)
{
    const st2v_config *cf = g->cf;
    size_t frame = (size_t)g->Hl * g->Wl;
    size_t npix = (size_t)g->native_w * g->native_h;

    g->prompt = dup_str(p->prompt);
    g->negative = dup_str(p->negative_prompt);
    g->ids = malloc((size_t)cf->max_length * sizeof(int32_t));
    g->x = st2v_alloc_floats((size_t)cf->z_channels * g->window * frame);
    g->noise = st2v_alloc_floats((size_t)cf->z_channels * g->window * frame);
    g->ctx_lat = st2v_alloc_floats((size_t)cf->z_channels *
                                   (g->context ? g->context : 1) * frame);
    g->z = st2v_alloc_floats((size_t)cf->z_channels * frame);
    g->rgb = st2v_alloc_floats((size_t)3 * g->ft * npix);
    g->frames = malloc((size_t)g->window * g->ft * npix * 3);
    if (!g->prompt || !g->negative || !g->ids || !g->x || !g->noise ||
        !g->ctx_lat || !g->z || !g->rgb || !g->frames)
        return ST2V_ERR_NOMEM;
    if (p->image_rgb) {
        size_t stride = p->image_stride ? (size_t)p->image_stride
                                        : (size_t)p->image_width * 3;
        g->iw = p->image_width;
        g->ih = p->image_height;
        g->image = malloc((size_t)g->iw * g->ih * 3);
        if (!g->image)
            return ST2V_ERR_NOMEM;
        for (int y = 0; y < g->ih; y++)
            memcpy(g->image + (size_t)y * g->iw * 3,
                   p->image_rgb + (size_t)y * stride, (size_t)g->iw * 3);
    }
    int rc = st2v_tokenizer_new(&g->tok, cf);
    if (rc != 0)
        return rc;
    int threads = p->threads;
    if (threads == 0) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        threads = n < 1 ? 1 : n > MAX_THREADS ? MAX_THREADS : (int)n;
    }
    if ((rc = st2v_pool_new(&g->pool, threads)) != 0)
        return rc;
    if ((rc = st2v_vae_stream_new(&g->vae, g->model, g->Hl, g->Wl)) != 0)
        return rc;
    if (g->width != g->native_w || g->height != g->native_h) {
        rc = st2v_scaler_new(&g->scaler, g->native_w, g->native_h, g->width,
                             g->height);
        if (rc != 0)
            return rc;
    }
    return 0;
}

int st2v_generator_new(st2v_generator **out, const st2v_model *model,
                       const st2v_params *params, char *err, size_t err_size)
{
    if (err && err_size)
        err[0] = 0;
    if (!out)
        return st2v_fail(err, err_size, ST2V_ERR_INVALID_ARG,
                         "no output pointer");
    *out = NULL;
    if (!model || !params)
        return st2v_fail(err, err_size, ST2V_ERR_INVALID_ARG,
                         "no model or no parameters");
    st2v_generator *g = calloc(1, sizeof(*g));
    if (!g)
        return st2v_fail(err, err_size, ST2V_ERR_NOMEM, "out of memory");
    g->model = model;
    g->cf = &model->cfg;
    g->next_cfg = -1.0f;
    atomic_init(&g->cancel, 0);

    int rc = settle_params(g, params, err, err_size);
    if (rc == 0) {
        rc = alloc_state(g, params);
        if (rc != 0)
            st2v_fail(err, err_size, rc, "cannot create the generator: %s",
                      st2v_strerror(rc));
    }
    if (rc != 0) {
        st2v_generator_free(g);
        return rc;
    }
    st2v_logf(g->log, g->user_data, ST2V_LOG_INFO,
              "%dx%d at %d/%d fps (native %dx%d at %d fps), %lld frames, "
              "%s, %d steps, cfg %g, shift %g, %d threads",
              g->width, g->height, g->fps_num, g->fps_den, g->native_w,
              g->native_h, g->cf->fps, (long long)g->frames_total,
              st2v_sampler_name(g->sampler), g->steps, (double)g->cfg_scale,
              (double)g->shift, st2v_pool_threads(g->pool));
    *out = g;
    return 0;
}

void st2v_generator_free(st2v_generator *g)
{
    if (!g)
        return;
    free(g->prompt);
    free(g->negative);
    free(g->next_prompt);
    free(g->next_negative);
    free(g->ids);
    st2v_cond_free(&g->pos);
    st2v_cond_free(&g->neg);
    st2v_tokenizer_free(g->tok);
    free(g->image);
    st2v_free(g->image_latent);
    st2v_pool_free(g->pool);
    st2v_vae_stream_free(g->vae);
    st2v_scaler_free(g->scaler);
    st2v_free(g->x);
    st2v_free(g->ctx_lat);
    st2v_free(g->noise);
    st2v_free(g->z);
    st2v_free(g->rgb);
    free(g->frames);
    free(g);
}

void st2v_generator_get_info(const st2v_generator *g, st2v_stream_info *info)
{
    memset(info, 0, sizeof(*info));
    if (!g)
        return;
    info->width = g->width;
    info->height = g->height;
    info->fps_num = g->fps_num;
    info->fps_den = g->fps_den;
    info->frames = g->frames_total;
    info->native_width = g->native_w;
    info->native_height = g->native_h;
}

/* ----------------------------------------------------- chunk generation */

/* Encode what changed: pending prompts and cfg take effect here. */
static int update_conditioning(st2v_generator *g)
{
    if (g->next_prompt) {
        free(g->prompt);
        g->prompt = g->next_prompt;
        g->next_prompt = NULL;
        g->pos_ok = 0;
    }
    if (g->next_negative) {
        free(g->negative);
        g->negative = g->next_negative;
        g->next_negative = NULL;
        g->neg_ok = 0;
    }
    if (g->next_cfg >= 0.0f) {
        g->cfg_scale = g->next_cfg;
        g->next_cfg = -1.0f;
    }
    int rc;
    if (!g->pos_ok) {
        int n = st2v_tokenize(g->tok, g->prompt, g->ids);
        if ((rc = st2v_cond_encode(&g->pos, g->model, g->pool, g->ids, n)))
            return gen_fail(g, rc, "encoding the prompt: %s",
                            st2v_strerror(rc));
        g->pos_ok = 1;
    }
    if (g->cfg_scale != 1.0f && !g->neg_ok) {
        int n = st2v_tokenize(g->tok, g->negative, g->ids);
        if ((rc = st2v_cond_encode(&g->neg, g->model, g->pool, g->ids, n)))
            return gen_fail(g, rc, "encoding the negative prompt: %s",
                            st2v_strerror(rc));
        g->neg_ok = 1;
    }
    return 0;
}

/* The conditioning image as a normalised latent frame (once). */
static int encode_image(st2v_generator *g)
{
    const st2v_config *cf = g->cf;
    const int W = g->native_w, H = g->native_h;
    const size_t npix = (size_t)W * H;
    int rc = ST2V_ERR_NOMEM;
    uint8_t *px = malloc(npix * 3);                          /* (H, W, 3) */
    float *rgb = st2v_alloc_floats((size_t)3 * g->ft * npix); /* (3, ft, H, W) */
    float *z = st2v_alloc_floats((size_t)cf->z_channels * g->Hl * g->Wl);
    st2v_scaler *sc = NULL;
    if (!px || !rgb || !z)
        goto done;
    if ((rc = st2v_scaler_new(&sc, g->iw, g->ih, W, H)) != 0)
        goto done;
    st2v_scaler_run(sc, px, (ptrdiff_t)W * 3, g->image, (ptrdiff_t)g->iw * 3);
    for (int c = 0; c < 3; c++)
        for (int f = 0; f < g->ft; f++)
            for (size_t i = 0; i < npix; i++)
                rgb[((size_t)c * g->ft + f) * npix + i] =
                    (float)px[3 * i + c] / 127.5f - 1.0f;
    if ((rc = st2v_vae_encode(g->model, g->pool, rgb, 1, H, W, z)) != 0)
        goto done;
    const size_t frame = (size_t)g->Hl * g->Wl;
    for (int c = 0; c < cf->z_channels; c++)
        for (size_t i = 0; i < frame; i++)
            z[c * frame + i] = (z[c * frame + i] - cf->latent_mean[c]) /
                               cf->latent_std[c];
    g->image_latent = z;
    z = NULL;
done:
    free(px);
    st2v_free(rgb);
    st2v_free(z);
    st2v_scaler_free(sc);
    if (rc != 0)
        return gen_fail(g, rc, "encoding the conditioning image: %s",
                        st2v_strerror(rc));
    return 0;
}

static int chunk_on_step(void *user, int step, int steps)
{
    st2v_generator *g = user;
    if (g->progress) {
        st2v_progress pr = {g->chunk, step, steps, g->out_index,
                            g->frames_total};
        g->progress(g->user_data, &pr);
    }
    return atomic_load(&g->cancel) != 0;
}

static inline uint8_t rgb_to_u8(float v)
{
    float p = (v + 1.0f) * 127.5f;
    if (!(p > 0.0f)) /* also NaN */
        return 0;
    if (p >= 254.5f)
        return 255;
    return (uint8_t)(int)(p + 0.5f);
}

/* Denormalise latent frame f of the window, decode it, and append its ft
 * RGB frames to g->frames. */
static int decode_latent_frame(st2v_generator *g, int T, int f)
{
    const st2v_config *cf = g->cf;
    const size_t frame = (size_t)g->Hl * g->Wl;
    const size_t npix = (size_t)g->native_w * g->native_h;
    for (int c = 0; c < cf->z_channels; c++) {
        const float *src = g->x + ((size_t)c * T + f) * frame;
        for (size_t i = 0; i < frame; i++)
            g->z[c * frame + i] = src[i] * cf->latent_std[c] +
                                  cf->latent_mean[c];
    }
    int rc = st2v_vae_decode_frame(g->vae, g->pool, g->z, g->rgb);
    if (rc != 0)
        return rc;
    for (int k = 0; k < g->ft; k++) {
        uint8_t *dst = g->frames + (size_t)g->native_count * npix * 3;
        const float *r = g->rgb + ((size_t)0 * g->ft + k) * npix;
        const float *gg = g->rgb + ((size_t)1 * g->ft + k) * npix;
        const float *b = g->rgb + ((size_t)2 * g->ft + k) * npix;
        for (size_t i = 0; i < npix; i++) {
            dst[3 * i + 0] = rgb_to_u8(r[i]);
            dst[3 * i + 1] = rgb_to_u8(gg[i]);
            dst[3 * i + 2] = rgb_to_u8(b[i]);
        }
        g->native_count++;
    }
    return 0;
}

static int generate_chunk(st2v_generator *g)
{
    const st2v_config *cf = g->cf;
    const size_t frame = (size_t)g->Hl * g->Wl;
    const int Cz = cf->z_channels;
    double t_start = now_ms();
    int rc;

    if ((rc = update_conditioning(g)) != 0)
        return rc;
    if (g->chunk == 0 && g->image && !g->image_latent &&
        (rc = encode_image(g)) != 0)
        return rc;

    /* Window layout: n_ctx clean frames, then n_new noisy ones. */
    int n_ctx, n_new;
    if (g->chunk == 0) {
        n_ctx = g->image ? 1 : 0;
        n_new = g->window - n_ctx;
    } else {
        n_ctx = g->context;
        n_new = g->window - g->context;
    }
    if (g->latents_total >= 0) {
        int64_t left = g->latents_total - g->latents_done;
        if (left < 1)
            return gen_fail(g, ST2V_ERR_INTERNAL, "no frames left to make");
        /* The first chunk's context (the image) is itself new video. */
        int64_t fresh = g->chunk == 0 ? left - n_ctx : left;
        if (fresh < n_new)
            n_new = (int)((fresh + g->pt - 1) / g->pt * g->pt);
        if (n_new < 0)
            n_new = 0;
    }
    const int T = n_ctx + n_new;

    /* Context: the image latent, or the previous chunk's last frames. */
    for (int c = 0; c < Cz; c++) {
        float *dst = g->x + (size_t)c * T * frame;
        if (g->chunk == 0 && n_ctx)
            memcpy(dst, g->image_latent + (size_t)c * frame,
                   frame * sizeof(float));
        else if (n_ctx)
            memcpy(dst, g->ctx_lat + (size_t)c * g->context * frame,
                   (size_t)n_ctx * frame * sizeof(float));
    }
    /* Noise of chunk s: stream s, in (Cz, n_new, Hl, Wl) order. */
    const size_t per_c = (size_t)n_new * frame;
    st2v_normal_fill(g->noise, (int64_t)(Cz * per_c), g->seed,
                     (uint32_t)g->chunk, 0);
    for (int c = 0; c < Cz; c++)
        memcpy(g->x + ((size_t)c * T + n_ctx) * frame, g->noise + c * per_c,
               per_c * sizeof(float));

    if (n_new > 0) {
        st2v_window_job job = {
            .sampler = g->sampler, .steps = g->steps, .cfg = g->cfg_scale,
            .shift = g->shift, .T = T, .Hl = g->Hl, .Wl = g->Wl,
            .n_context = n_ctx, .pos = &g->pos, .neg = &g->neg,
            .cancel = &g->cancel, .on_step = chunk_on_step, .user = g,
        };
        rc = st2v_sample_window(g->model, g->pool, &job, g->x);
        if (rc == ST2V_ERR_CANCELLED)
            return gen_fail(g, rc, "cancelled");
        if (rc != 0)
            return gen_fail(g, rc, "sampling chunk %d: %s", g->chunk,
                            st2v_strerror(rc));
    }

    /* Decode the frames that are new video: in the first chunk all of
     * them (the image too), later the ones after the context. From here
     * on the decoder has advanced: a failure loses the stream. */
    int first = g->chunk == 0 ? 0 : n_ctx;
    g->native_base += g->native_count;
    g->native_count = 0;
    for (int f = first; f < T; f++) {
        if ((rc = decode_latent_frame(g, T, f)) != 0) {
            g->broken = rc;
            return gen_fail(g, rc, "decoding chunk %d: %s", g->chunk,
                            st2v_strerror(rc));
        }
    }
    g->latents_done += T - first;

    /* Carry the last `context` frames into the next chunk. */
    if (g->context > 0) {
        if (T < g->context) {
            if (g->latents_total < 0 || g->latents_done < g->latents_total) {
                g->broken = ST2V_ERR_INTERNAL;
                return gen_fail(g, ST2V_ERR_INTERNAL,
                                "chunk %d is shorter than the context",
                                g->chunk);
            }
        } else {
            for (int c = 0; c < Cz; c++)
                memcpy(g->ctx_lat + (size_t)c * g->context * frame,
                       g->x + ((size_t)c * T + T - g->context) * frame,
                       (size_t)g->context * frame * sizeof(float));
        }
    }
    g->frames_chunk = g->chunk;
    st2v_logf(g->log, g->user_data, ST2V_LOG_INFO,
              "chunk %d generated in %.0f ms (%d new latent frames, %d steps)",
              g->chunk, now_ms() - t_start, n_new, g->steps);
    g->chunk++;
    return 0;
}

int st2v_generator_next_frame(st2v_generator *g, uint8_t *dst,
                              ptrdiff_t stride, st2v_frame_info *info)
{
    if (!g || !dst)
        return ST2V_ERR_INVALID_ARG;
    if (stride < (ptrdiff_t)g->width * 3)
        return gen_fail(g, ST2V_ERR_INVALID_ARG,
                        "stride %td is less than 3 * width %d", stride,
                        g->width);
    if (g->broken)
        return gen_fail(g, g->broken, "the stream failed earlier; rewind");
    if (atomic_load(&g->cancel))
        return gen_fail(g, ST2V_ERR_CANCELLED, "cancelled");
    if (g->frames_total >= 0 && g->out_index >= g->frames_total)
        return ST2V_EOF;

    int64_t j = st2v_native_frame_index(g->out_index, g->cf->fps, g->fps_num,
                                        g->fps_den);
    while (j >= g->native_base + g->native_count) {
        int rc = generate_chunk(g);
        if (rc != 0)
            return rc;
    }
    if (j < g->native_base)
        return gen_fail(g, ST2V_ERR_INTERNAL, "frame %lld is gone",
                        (long long)j);

    const size_t row = (size_t)g->native_w * 3;
    const uint8_t *src = g->frames + (size_t)(j - g->native_base) *
                                         g->native_h * row;
    if (g->scaler) {
        st2v_scaler_run(g->scaler, dst, stride, src, (ptrdiff_t)row);
    } else {
        for (int y = 0; y < g->height; y++)
            memcpy(dst + y * stride, src + y * row, row);
    }
    if (info) {
        info->index = g->out_index;
        info->chunk = g->frames_chunk;
        info->seed = g->seed;
    }
    g->out_index++;
    return ST2V_OK;
}

int st2v_generator_set_prompt(st2v_generator *g, const char *prompt,
                              int negative)
{
    if (!g)
        return ST2V_ERR_INVALID_ARG;
    if (!negative && (!prompt || !nonblank(prompt)))
        return gen_fail(g, ST2V_ERR_INVALID_ARG, "prompt is empty");
    char *copy = dup_str(prompt);
    if (!copy)
        return gen_fail(g, ST2V_ERR_NOMEM, "out of memory");
    char **slot = negative ? &g->next_negative : &g->next_prompt;
    free(*slot);
    *slot = copy;
    return 0;
}

int st2v_generator_set_cfg(st2v_generator *g, float cfg)
{
    if (!g)
        return ST2V_ERR_INVALID_ARG;
    if (!(cfg >= 0.0f && cfg <= MAX_CFG))
        return gen_fail(g, ST2V_ERR_INVALID_ARG, "cfg must be 0..%g, got %g",
                        (double)MAX_CFG, (double)cfg);
    g->next_cfg = cfg;
    return 0;
}

int st2v_generator_rewind(st2v_generator *g)
{
    if (!g)
        return ST2V_ERR_INVALID_ARG;
    st2v_vae_stream_reset(g->vae);
    g->chunk = 0;
    g->latents_done = 0;
    g->native_base = 0;
    g->native_count = 0;
    g->frames_chunk = 0;
    g->out_index = 0;
    g->broken = 0;
    return 0;
}

void st2v_generator_cancel(st2v_generator *g, int on)
{
    if (g)
        atomic_store(&g->cancel, on ? 1 : 0);
}

const char *st2v_generator_last_error(const st2v_generator *g)
{
    return g ? g->err : "";
}
