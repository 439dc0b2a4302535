/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * generator.c - the generator of st2v.h (docs/model-format.md, section 10):
 * the chunked sampling of latent windows with clean context, streaming
 * decode to RGB24, frame-rate conversion and scaling to the output size,
 * for a model of any family (core/arch.h), within the capabilities it
 * declares.
 *
 * One generator = one video stream. Its state is the encoded prompts, the
 * context latent frames carried between chunks, the decoder's history and
 * the RGB frames of the current chunk; memory does not grow with the length
 * of the video. Not here: the parameters (params.c), guidance
 * (guidance.c), the solvers (sampler.c), the model's mathematics
 * (core/<family>/), the noise (rng.c), the filter (scale.c).
 */
#include "generator.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common.h"
#include "guidance.h"
#include "rng.h"
#include "scale.h"

struct st2v_generator {
    const st2v_model *model;
    const st2v_arch *arch;         /* model->arch */
    int Cz;                        /* latent channels */

    st2v_settled set;              /* the parameters, defaults settled */
    float cfg_scale;               /* set.cfg, then set_cfg's */
    st2v_log_fn log;
    st2v_progress_fn progress;
    void *user_data;

    /* prompts: current (encoded) and pending (from set_prompt) */
    char *prompt, *negative;
    char *next_prompt, *next_negative; /* NULL when nothing is pending */
    float next_cfg;                /* < 0 when nothing is pending */
    void *pos, *neg;               /* the family's encodings, or NULL */
    int pos_ok, neg_ok;            /* encodings match the current prompts */

    /* conditioning image */
    uint8_t *image;                /* (ih, iw, 3) packed copy, or NULL */
    int iw, ih;
    float *image_latent;           /* (Cz, Hl, Wl) normalised, or NULL */

    st2v_pool *pool;
    void *dec;                     /* the family's streaming decoder */
    st2v_scaler *scaler;           /* NULL when the output is native size */

    float *x;                      /* (Cz, window, Hl, Wl) the window */
    float *ctx_lat;                /* (Cz, context, Hl, Wl) carried frames */
    float *noise;                  /* (Cz, window, Hl, Wl) */
    float *z;                      /* (Cz, Hl, Wl) one normalised frame for
                                      the decoder, which may overwrite it */
    float *rgb;                    /* (3, max(ft, first), H, W) one decoded
                                      latent frame */
    uint8_t *frames;               /* (window * max(ft, first), H, W, 3)
                                      current chunk */

    /* progress through the video */
    int chunk;                     /* next chunk to generate */
    int64_t latents_done;          /* latent frames of new video sampled */
    int64_t native_base;           /* native index of frames[0] */
    int native_count;              /* frames held */
    int frames_chunk;              /* chunk the held frames came from */
    int dec_next, dec_T;           /* latent frames dec_next .. dec_T - 1 of
                                      x are sampled, not yet decoded: they
                                      are decoded as their frames are asked
                                      for, so the first frame of a chunk
                                      waits for one decode, not T */
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

/* Frames of one decoded latent frame, at most. */
static int max_frames_per_latent(const st2v_settled *s)
{
    return s->ft > s->first ? s->ft : s->first;
}

static int alloc_state(st2v_generator *g, const st2v_params *p)
{
    const st2v_settled *s = &g->set;
    const size_t frame = (size_t)s->Hl * s->Wl;
    const size_t npix = (size_t)s->native_w * s->native_h;
    const int per_latent = max_frames_per_latent(s);

    g->prompt = dup_str(p->prompt);
    g->negative = dup_str(p->negative_prompt);
    g->x = st2v_alloc_floats((size_t)g->Cz * s->window * frame);
    g->noise = st2v_alloc_floats((size_t)g->Cz * s->window * frame);
    g->ctx_lat = st2v_alloc_floats((size_t)g->Cz *
                                   (s->context ? s->context : 1) * frame);
    g->z = st2v_alloc_floats((size_t)g->Cz * frame);
    g->rgb = st2v_alloc_floats((size_t)3 * per_latent * npix);
    g->frames = malloc((size_t)s->window * per_latent * npix * 3);
    if (!g->prompt || !g->negative || !g->x || !g->noise || !g->ctx_lat ||
        !g->z || !g->rgb || !g->frames)
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
    int rc;
    if ((rc = st2v_pool_new(&g->pool, s->threads)) != 0)
        return rc;
    if ((rc = g->arch->decoder_new(&g->dec, g->model->impl, s->Hl, s->Wl)))
        return rc;
    if (s->width != s->native_w || s->height != s->native_h) {
        rc = st2v_scaler_new(&g->scaler, s->native_w, s->native_h, s->width,
                             s->height);
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
    g->arch = model->arch;
    g->Cz = model->caps.latent_channels;
    g->next_cfg = -1.0f;
    atomic_init(&g->cancel, 0);

    int rc = st2v_params_settle(&g->set, model, params, err, err_size);
    if (rc == 0) {
        g->cfg_scale = g->set.cfg;
        g->log = params->log;
        g->progress = params->progress;
        g->user_data = params->user_data;
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
              g->set.width, g->set.height, g->set.fps_num, g->set.fps_den,
              g->set.native_w, g->set.native_h, model->info.fps,
              (long long)g->set.frames_total,
              st2v_sampler_name(g->set.sampler), g->set.steps,
              (double)g->cfg_scale, (double)g->set.shift,
              st2v_pool_threads(g->pool));
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
    if (g->pos)
        g->arch->cond_free(g->pos);
    if (g->neg)
        g->arch->cond_free(g->neg);
    free(g->image);
    st2v_free(g->image_latent);
    st2v_pool_free(g->pool);
    if (g->dec)
        g->arch->decoder_free(g->dec);
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
    info->width = g->set.width;
    info->height = g->set.height;
    info->fps_num = g->set.fps_num;
    info->fps_den = g->set.fps_den;
    info->frames = g->set.frames_total;
    info->native_width = g->set.native_w;
    info->native_height = g->set.native_h;
}

/* ----------------------------------------------------- chunk generation */

/* The family's encoding of text into *slot, replacing what it held. */
static int encode_text(st2v_generator *g, const char *text, void **slot)
{
    void *cond = NULL;
    int rc = g->arch->encode_text(g->model->impl, g->pool, text, &cond);
    if (rc != 0)
        return rc;
    if (*slot)
        g->arch->cond_free(*slot);
    *slot = cond;
    return 0;
}

/* The negative prompt to encode: the user's, else the family's default
 * (Wan's), else "" (unconditional). */
static const char *negative_text(const st2v_generator *g)
{
    if (!st2v_nonblank(g->negative) && g->arch->default_negative)
        return g->arch->default_negative;
    return g->negative;
}

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
        if ((rc = encode_text(g, g->prompt, &g->pos)))
            return gen_fail(g, rc, "encoding the prompt: %s",
                            st2v_strerror(rc));
        g->pos_ok = 1;
    }
    if (g->cfg_scale != 1.0f && !g->neg_ok) {
        if ((rc = encode_text(g, negative_text(g), &g->neg)))
            return gen_fail(g, rc, "encoding the negative prompt: %s",
                            st2v_strerror(rc));
        g->neg_ok = 1;
    }
    return 0;
}

/* The conditioning image as a normalised latent frame (once). */
static int encode_image(st2v_generator *g)
{
    const int W = g->set.native_w, H = g->set.native_h;
    int rc = ST2V_ERR_NOMEM;
    uint8_t *px = malloc((size_t)W * H * 3);                   /* (H, W, 3) */
    float *z = st2v_alloc_floats((size_t)g->Cz * g->set.Hl * g->set.Wl);
    st2v_scaler *sc = NULL;
    if (!px || !z)
        goto done;
    if ((rc = st2v_scaler_new(&sc, g->iw, g->ih, W, H)) != 0)
        goto done;
    st2v_scaler_run(sc, px, (ptrdiff_t)W * 3, g->image, (ptrdiff_t)g->iw * 3);
    if ((rc = g->arch->encode_image(g->model->impl, g->pool, px, W, H, z)))
        goto done;
    g->image_latent = z;
    z = NULL;
done:
    free(px);
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
                            g->set.frames_total};
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

/* Wan's mapping (utils.cache_video): clamp, (x + 1) / 2 * 255 in float32,
 * truncated; NaN black. */
static inline uint8_t rgb_to_u8_truncated(float v)
{
    if (!(v > -1.0f)) /* also NaN */
        return 0;
    v = v > 1.0f ? 1.0f : v;
    return (uint8_t)((v + 1.0f) / 2.0f * 255.0f);
}

/* Decode latent frame f of the window and append its RGB frames to
 * g->frames. */
static int decode_latent_frame(st2v_generator *g, int T, int f)
{
    const size_t frame = (size_t)g->set.Hl * g->set.Wl;
    const size_t npix = (size_t)g->set.native_w * g->set.native_h;
    for (int c = 0; c < g->Cz; c++)
        memcpy(g->z + c * frame, g->x + ((size_t)c * T + f) * frame,
               frame * sizeof(float));
    int n = 0;
    int rc = g->arch->decode_frame(g->dec, g->pool, g->z, g->rgb, &n);
    if (rc != 0)
        return rc;
    if (n < 1 || n > max_frames_per_latent(&g->set))
        return ST2V_ERR_INTERNAL;
    for (int k = 0; k < n; k++) {
        uint8_t *dst = g->frames + (size_t)g->native_count * npix * 3;
        const float *r = g->rgb + ((size_t)0 * n + k) * npix;
        const float *gg = g->rgb + ((size_t)1 * n + k) * npix;
        const float *b = g->rgb + ((size_t)2 * n + k) * npix;
        if (g->model->caps.flags & ST2V_ARCH_TRUNCATE_U8)
            for (size_t i = 0; i < npix; i++) {
                dst[3 * i + 0] = rgb_to_u8_truncated(r[i]);
                dst[3 * i + 1] = rgb_to_u8_truncated(gg[i]);
                dst[3 * i + 2] = rgb_to_u8_truncated(b[i]);
            }
        else
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
    const st2v_settled *s = &g->set;
    const size_t frame = (size_t)s->Hl * s->Wl;
    const int Cz = g->Cz;
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
        n_new = s->window - n_ctx;
    } else {
        n_ctx = s->context;
        n_new = s->window - s->context;
    }
    if (s->latents_total >= 0) {
        int64_t left = s->latents_total - g->latents_done;
        if (left < 1)
            return gen_fail(g, ST2V_ERR_INTERNAL, "no frames left to make");
        /* The first chunk's context (the image) is itself new video. */
        int64_t fresh = g->chunk == 0 ? left - n_ctx : left;
        if (fresh < n_new)
            n_new = (int)((fresh + s->pt - 1) / s->pt * s->pt);
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
            memcpy(dst, g->ctx_lat + (size_t)c * s->context * frame,
                   (size_t)n_ctx * frame * sizeof(float));
    }
    /* Noise of chunk s: stream s, in (Cz, n_new, Hl, Wl) order. */
    const size_t per_c = (size_t)n_new * frame;
    st2v_normal_fill(g->noise, (int64_t)(Cz * per_c), s->seed,
                     (uint32_t)g->chunk, 0);
    for (int c = 0; c < Cz; c++)
        memcpy(g->x + ((size_t)c * T + n_ctx) * frame, g->noise + c * per_c,
               per_c * sizeof(float));

    if (n_new > 0) {
        st2v_window_job job = {
            .sampler = s->sampler, .steps = s->steps, .guidance = g->cfg_scale,
            .shift = s->shift, .T = T, .Hl = s->Hl, .Wl = s->Wl,
            .n_context = n_ctx, .pos = g->pos, .neg = g->neg,
            .cancel = &g->cancel, .on_step = chunk_on_step, .user = g,
        };
        rc = st2v_sample_window(g->model, g->pool, &job, g->x);
        if (rc == ST2V_ERR_CANCELLED)
            return gen_fail(g, rc, "cancelled");
        if (rc != 0)
            return gen_fail(g, rc, "sampling chunk %d: %s", g->chunk,
                            st2v_strerror(rc));
    }

    /* The frames that are new video are decoded as they are asked for
     * (next_latent_frame): in the first chunk all of them (the image
     * too), later the ones after the context. */
    int first = g->chunk == 0 ? 0 : n_ctx;
    g->native_base += g->native_count;
    g->native_count = 0;
    g->dec_next = first;
    g->dec_T = T;
    g->latents_done += T - first;

    /* Carry the last `context` frames into the next chunk. */
    if (s->context > 0) {
        if (T < s->context) {
            if (s->latents_total < 0 || g->latents_done < s->latents_total) {
                g->broken = ST2V_ERR_INTERNAL;
                return gen_fail(g, ST2V_ERR_INTERNAL,
                                "chunk %d is shorter than the context",
                                g->chunk);
            }
        } else {
            for (int c = 0; c < Cz; c++)
                memcpy(g->ctx_lat + (size_t)c * s->context * frame,
                       g->x + ((size_t)c * T + T - s->context) * frame,
                       (size_t)s->context * frame * sizeof(float));
        }
    }
    g->frames_chunk = g->chunk;
    st2v_logf(g->log, g->user_data, ST2V_LOG_INFO,
              "chunk %d generated in %.0f ms (%d new latent frames, %d steps)",
              g->chunk, now_ms() - t_start, n_new, s->steps);
    g->chunk++;
    return 0;
}

/* The frames of the next latent frame: decoded from the current chunk, or
 * a new chunk once it is all decoded. Once the decoder has advanced, a
 * failure loses the stream. */
static int next_latent_frame(st2v_generator *g)
{
    if (g->dec_next >= g->dec_T)
        return generate_chunk(g);
    int rc = decode_latent_frame(g, g->dec_T, g->dec_next);
    if (rc != 0) {
        g->broken = rc;
        return gen_fail(g, rc, "decoding chunk %d: %s", g->frames_chunk,
                        st2v_strerror(rc));
    }
    g->dec_next++;
    return 0;
}

int st2v_generator_next_frame(st2v_generator *g, uint8_t *dst,
                              ptrdiff_t stride, st2v_frame_info *info)
{
    if (!g || !dst)
        return ST2V_ERR_INVALID_ARG;
    if (stride < (ptrdiff_t)g->set.width * 3)
        return gen_fail(g, ST2V_ERR_INVALID_ARG,
                        "stride %td is less than 3 * width %d", stride,
                        g->set.width);
    if (g->broken)
        return gen_fail(g, g->broken, "the stream failed earlier; rewind");
    if (atomic_load(&g->cancel))
        return gen_fail(g, ST2V_ERR_CANCELLED, "cancelled");
    if (g->set.frames_total >= 0 && g->out_index >= g->set.frames_total)
        return ST2V_EOF;

    int64_t j = st2v_native_frame_index(g->out_index, g->model->info.fps, g->set.fps_num,
                                        g->set.fps_den);
    while (j >= g->native_base + g->native_count) {
        int rc = next_latent_frame(g);
        if (rc != 0)
            return rc;
    }
    if (j < g->native_base)
        return gen_fail(g, ST2V_ERR_INTERNAL, "frame %lld is gone",
                        (long long)j);

    const size_t row = (size_t)g->set.native_w * 3;
    const uint8_t *src = g->frames + (size_t)(j - g->native_base) *
                                         g->set.native_h * row;
    if (g->scaler) {
        st2v_scaler_run(g->scaler, dst, stride, src, (ptrdiff_t)row);
    } else {
        for (int y = 0; y < g->set.height; y++)
            memcpy(dst + y * stride, src + y * row, row);
    }
    if (info) {
        info->index = g->out_index;
        info->chunk = g->frames_chunk;
        info->seed = g->set.seed;
    }
    g->out_index++;
    return ST2V_OK;
}

int st2v_generator_set_prompt(st2v_generator *g, const char *prompt,
                              int negative)
{
    if (!g)
        return ST2V_ERR_INVALID_ARG;
    char why[160];
    if (st2v_prompt_check(prompt, negative, why, sizeof(why)) != 0)
        return gen_fail(g, ST2V_ERR_INVALID_ARG, "%s", why);
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
    if (!(cfg >= 0.0f && cfg <= ST2V_MAX_CFG))
        return gen_fail(g, ST2V_ERR_INVALID_ARG, "cfg must be 0..%g, got %g",
                        (double)ST2V_MAX_CFG, (double)cfg);
    g->next_cfg = cfg;
    return 0;
}

int st2v_generator_rewind(st2v_generator *g)
{
    if (!g)
        return ST2V_ERR_INVALID_ARG;
    g->arch->decoder_reset(g->dec);
    g->chunk = 0;
    g->latents_done = 0;
    g->native_base = 0;
    g->native_count = 0;
    g->dec_next = g->dec_T = 0;
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
