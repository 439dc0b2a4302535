/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Copyright (c) 2026 the st2v developers
 *
 * This file is part of FFmpeg.
 *
 * FFmpeg is free software; you can redistribute it and/or
 * modify it under the terms of the GNU Lesser General Public
 * License as published by the Free Software Foundation; either
 * version 2.1 of the License, or (at your option) any later version.
 *
 * FFmpeg is distributed in the hope that it will be useful,
 * but WITHOUT ANY WARRANTY; without even the implied warranty of
 * MERCHANTABILITY or FITNESS FOR A PARTICULAR PURPOSE.  See the GNU
 * Lesser General Public License for more details.
 *
 * You should have received a copy of the GNU Lesser General Public
 * License along with FFmpeg; if not, write to the Free Software
 * Foundation, Inc., 51 Franklin Street, Fifth Floor, Boston, MA 02110-1301 USA
 */

/*
 * vsrc_st2v.c - the st2v source filter: video generated from a text
 * prompt by libst2v, streamed frame by frame into a filter graph.
 *
 *   ffmpeg -f lavfi -i "st2v=prompt='a red ball bouncing':d=10" -c:v libx264 out.mp4
 *
 * The filter loads a model at init, creates one libst2v generator and
 * pulls one RGB24 frame from it each time its output wants a frame
 * (activate()). libst2v renders in chunks, each conditioned on the last
 * frames of the one before, so an endless stream (d=-1) runs in bounded
 * memory. The prompt, negative prompt and guidance scale change at run
 * time through process_command() (sendcmd, zmq) and take effect at the
 * next chunk. With alpha=1 the model renders on a green screen, which
 * libst2v's keyer (st2v_key_*) keys out into RGBA.
 *
 * Not here: the model and its mathematics (libst2v, core/ in the st2v
 * repository); the edits that add this file to an FFmpeg tree
 * (libavfilter_st2v/integrate.sh).
 *
 * Builds against FFmpeg 5.1 (libavfilter 8) up to 9.0 (libavfilter 12):
 * the version checks below pick FFFilter (libavfilter 11), FilterLink's
 * frame rate and the internal.h split (10.4), AVFrame.duration (lavu 57.30)
 * and the frame flags (AV_FRAME_FLAG_KEY, lavu 58.7).
 */

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <st2v.h>

#include "libavutil/avstring.h"
#include "libavutil/internal.h"
#include "libavutil/mem.h"
#include "libavutil/opt.h"
#include "libavutil/parseutils.h"
#include "libavutil/random_seed.h"

#include "avfilter.h"
#include "filters.h"
#include "formats.h"
#include "version.h"
#if LIBAVFILTER_VERSION_INT < AV_VERSION_INT(10, 4, 100)
#include "internal.h"
#define ST2V_HAVE_FILTER_LINK 0
#else
#define ST2V_HAVE_FILTER_LINK 1
#endif
#include "video.h"


/** Longest prompt read from a textfile. */
#define ST2V_MAX_TEXTFILE (64 * 1024)
/** What alpha mode adds to a prompt that does not mention its screen. */
#define ST2V_SCREEN_SUFFIX ", on a green screen"
/** A duration of -1 (endless): av_parse_time("-1") gives -1 s. */
#define ST2V_ENDLESS_US (-1000000LL)

typedef struct ST2VContext {
    const AVClass *class;

    /* options */
    char *prompt;
    char *textfile;
    char *negative_prompt;
    int64_t seed;           ///< -1: random
    int w, h;               ///< 0x0: the model's native size
    char *rate_str;         ///< "native" or a frame rate
    int64_t duration;       ///< microseconds; ST2V_ENDLESS_US: endless
    int steps;
    float cfg;
    int sampler;            ///< st2v_sampler
    float shift;
    char *model_path;
    int threads;
    char *image_path;
    int alpha;
    int dtype;              ///< st2v_dtype: the model's compute_dtype

    /* state */
    st2v_model *model;
    st2v_generator *gen;
    st2v_stream_info info;
    AVRational frame_rate;
    AVRational time_base;
    uint64_t used_seed;
    int64_t pts;            ///< next frame's pts, in time_base
    char *meta_prompt;      ///< prompt of the frames going out now
    char *next_prompt;      ///< a changed prompt, not yet in the frames
    int next_after;         ///< next_prompt shows in chunks after this one
    int last_chunk;         ///< chunk of the last frame out, -1 before
    uint8_t *rgb;           ///< alpha mode: the RGB24 frame, (h, w*3)
    st2v_key key;
} ST2VContext;

#define OFFSET(x) offsetof(ST2VContext, x)
#define FLAGS AV_OPT_FLAG_VIDEO_PARAM | AV_OPT_FLAG_FILTERING_PARAM
/* one constant of the sampler option per entry of libst2v's sampler table */
#define SAMPLER_CONST(id, name, desc) \
    { name, desc, 0, AV_OPT_TYPE_CONST, { .i64 = ST2V_SAMPLER_##id }, 0, 0, FLAGS, "sampler" },
#define TFLAGS FLAGS | AV_OPT_FLAG_RUNTIME_PARAM

static const AVOption st2v_options[] = {
    { "prompt",          "what to show (required unless textfile is given)", OFFSET(prompt),          AV_OPT_TYPE_STRING,     { .str = NULL },  0, 0, TFLAGS },
    { "textfile",        "read the prompt from this file",                   OFFSET(textfile),        AV_OPT_TYPE_STRING,     { .str = NULL },  0, 0, FLAGS },
    { "negative_prompt", "what to steer away from",                          OFFSET(negative_prompt), AV_OPT_TYPE_STRING,     { .str = "" },    0, 0, TFLAGS },
    { "seed",            "noise seed, -1 = random (the chosen seed is logged)", OFFSET(seed),         AV_OPT_TYPE_INT64,      { .i64 = -1 },   -1, INT64_MAX, FLAGS },
    { "size",            "output size, any even WxH from 16x16 (default: the model's native size)", OFFSET(w), AV_OPT_TYPE_IMAGE_SIZE, { .str = NULL }, 0, 0, FLAGS },
    { "s",               "output size, any even WxH from 16x16 (default: the model's native size)", OFFSET(w), AV_OPT_TYPE_IMAGE_SIZE, { .str = NULL }, 0, 0, FLAGS },
    { "rate",            "frame rate from 0.1 to 1000, or \"native\" for the model's", OFFSET(rate_str), AV_OPT_TYPE_STRING, { .str = "native" }, 0, 0, FLAGS },
    { "r",               "frame rate from 0.1 to 1000, or \"native\" for the model's", OFFSET(rate_str), AV_OPT_TYPE_STRING, { .str = "native" }, 0, 0, FLAGS },
    { "duration",        "duration, -1 = endless",                           OFFSET(duration),        AV_OPT_TYPE_DURATION,   { .i64 = 5000000 }, ST2V_ENDLESS_US, INT64_MAX, FLAGS },
    { "d",               "duration, -1 = endless",                           OFFSET(duration),        AV_OPT_TYPE_DURATION,   { .i64 = 5000000 }, ST2V_ENDLESS_US, INT64_MAX, FLAGS },
    { "steps",           "sampling steps per chunk, 0 = the model's default", OFFSET(steps),          AV_OPT_TYPE_INT,        { .i64 = 0 },     0, 1000, FLAGS },
    { "cfg",             "classifier-free guidance scale, -1 = the model's default", OFFSET(cfg),     AV_OPT_TYPE_FLOAT,      { .dbl = -1 },   -1, 100, TFLAGS },
    { "sampler",         "sampling method",                                  OFFSET(sampler),         AV_OPT_TYPE_INT,        { .i64 = ST2V_SAMPLER_DEFAULT }, ST2V_SAMPLER_DEFAULT, ST2V_SAMPLER_LAST, FLAGS, "sampler" },
        { "default",     "the model's default",                              0, AV_OPT_TYPE_CONST, { .i64 = ST2V_SAMPLER_DEFAULT },  0, 0, FLAGS, "sampler" },
        ST2V_SAMPLERS(SAMPLER_CONST)
        ST2V_SAMPLER_ALIASES(SAMPLER_CONST)
    { "shift",           "timestep shift, 0 = the model's default",          OFFSET(shift),           AV_OPT_TYPE_FLOAT,      { .dbl = 0 },     0, 100, FLAGS },
    { "model",           "model file or folder (default: the installed default model)", OFFSET(model_path),     AV_OPT_TYPE_STRING,     { .str = NULL },  0, 0, FLAGS },
    { "threads",         "worker threads, 0 = all cores",                    OFFSET(threads),         AV_OPT_TYPE_INT,        { .i64 = 0 },     0, 256, FLAGS },
    { "image",           "PNG image to start from (image to video)",         OFFSET(image_path),      AV_OPT_TYPE_STRING,     { .str = NULL },  0, 0, FLAGS },
    { "alpha",           "render on a green screen and key it out: RGBA with a transparent background", OFFSET(alpha), AV_OPT_TYPE_BOOL, { .i64 = 0 }, 0, 1, FLAGS },
    { "dtype",           "precision of the DiT's matrix products (bf16: without AVX512-BF16, float32)", OFFSET(dtype), AV_OPT_TYPE_INT, { .i64 = ST2V_DTYPE_F32 }, ST2V_DTYPE_F32, ST2V_DTYPE_BF16, FLAGS, "dtype" },
        { "f32",         "float32",                                          0, AV_OPT_TYPE_CONST, { .i64 = ST2V_DTYPE_F32 },  0, 0, FLAGS, "dtype" },
        { "bf16",        "bfloat16 products, output within bfloat16 rounding of f32's", 0, AV_OPT_TYPE_CONST, { .i64 = ST2V_DTYPE_BF16 }, 0, 0, FLAGS, "dtype" },
    { NULL }
};

AVFILTER_DEFINE_CLASS(st2v);

/* ================================================================ helpers */

/** The AVERROR for a libst2v status. */
static int st2v_averror(int status)
{
    switch (status) {
    case ST2V_ERR_INVALID_ARG: return AVERROR(EINVAL);
    case ST2V_ERR_NOMEM:       return AVERROR(ENOMEM);
    case ST2V_ERR_IO:          return AVERROR(EIO);
    case ST2V_ERR_FORMAT:      return AVERROR_INVALIDDATA;
    case ST2V_ERR_IMAGE:       return AVERROR_INVALIDDATA;
    case ST2V_ERR_UNSUPPORTED: return AVERROR(ENOSYS);
    case ST2V_ERR_CANCELLED:   return AVERROR_EXIT;
    default:                   return AVERROR_EXTERNAL;
    }
}

/** libst2v's log callback: its messages go to av_log under the filter. */
static void st2v_log_cb(void *user_data, st2v_log_level level, const char *msg)
{
    static const int levels[] = {
        [ST2V_LOG_ERROR]   = AV_LOG_ERROR,
        [ST2V_LOG_WARNING] = AV_LOG_WARNING,
        [ST2V_LOG_INFO]    = AV_LOG_VERBOSE, /* one line per chunk */
        [ST2V_LOG_DEBUG]   = AV_LOG_DEBUG,
    };
    int lvl = (unsigned)level < FF_ARRAY_ELEMS(levels) ? levels[level] : AV_LOG_DEBUG;
    av_log(user_data, lvl, "%s\n", msg);
}

static int is_blank(const char *s)
{
    for (; s && *s; s++)
        if (!isspace((unsigned char)*s))
            return 0;
    return 1;
}

/** The prompt the model gets: in alpha mode, the subject on a green screen. */
static char *model_prompt(const ST2VContext *s, const char *prompt)
{
    if (!s->alpha || av_stristr(prompt, "green screen") ||
        av_stristr(prompt, "greenscreen"))
        return av_strdup(prompt);
    return av_asprintf("%s%s", prompt, ST2V_SCREEN_SUFFIX);
}

/** Read the prompt from s->textfile into s->prompt (trailing newlines dropped). */
static int load_textfile(AVFilterContext *ctx)
{
    ST2VContext *s = ctx->priv;
    FILE *f = fopen(s->textfile, "rb");
    char *buf;
    size_t n;
    int err;

    if (!f) {
        err = AVERROR(errno);
        av_log(ctx, AV_LOG_ERROR, "Cannot open the text file '%s': %s\n",
               s->textfile, av_err2str(err));
        return err;
    }
    buf = av_malloc(ST2V_MAX_TEXTFILE + 1);
    if (!buf) {
        fclose(f);
        return AVERROR(ENOMEM);
    }
    n = fread(buf, 1, ST2V_MAX_TEXTFILE + 1, f);
    err = ferror(f);
    fclose(f);
    if (err) {
        av_free(buf);
        av_log(ctx, AV_LOG_ERROR, "Cannot read the text file '%s'\n", s->textfile);
        return AVERROR(EIO);
    }
    if (n > ST2V_MAX_TEXTFILE) {
        av_free(buf);
        av_log(ctx, AV_LOG_ERROR, "The text file '%s' is longer than %d bytes\n",
               s->textfile, ST2V_MAX_TEXTFILE);
        return AVERROR(EINVAL);
    }
    /* a NUL would end the prompt early without a word: not text */
    if (memchr(buf, 0, n)) {
        av_log(ctx, AV_LOG_ERROR, "The text file '%s' holds a NUL byte "
               "(at offset %td): not text\n", s->textfile,
               (const char *)memchr(buf, 0, n) - buf);
        av_free(buf);
        return AVERROR(EINVAL);
    }
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
        n--;
    buf[n] = 0;
    av_freep(&s->prompt);
    s->prompt = buf;
    return 0;
}

/* ================================================================ init */

/** Check the options libst2v does not see in the form the user wrote them. */
static int check_options(AVFilterContext *ctx)
{
    ST2VContext *s = ctx->priv;
    char err[160];
    int ret;

    if (s->prompt && s->textfile) {
        av_log(ctx, AV_LOG_ERROR, "Give either prompt or textfile, not both\n");
        return AVERROR(EINVAL);
    }
    if (s->textfile && (ret = load_textfile(ctx)) < 0)
        return ret;
    if (!s->prompt) {
        av_log(ctx, AV_LOG_ERROR, "No prompt: set prompt (or textfile), "
               "e.g. st2v=prompt='a red ball bouncing'\n");
        return AVERROR(EINVAL);
    }
    if (is_blank(s->prompt)) {
        av_log(ctx, AV_LOG_ERROR, "The prompt is empty\n");
        return AVERROR(EINVAL);
    }
    if (st2v_prompt_check(s->prompt, 0, err, sizeof(err)) < 0 ||
        st2v_prompt_check(s->negative_prompt, 1, err, sizeof(err)) < 0) {
        av_log(ctx, AV_LOG_ERROR, "Invalid prompt: %s\n", err);
        return AVERROR(EINVAL);
    }
    if ((s->w || s->h) && (s->w < 16 || s->h < 16 || s->w > 8192 ||
                           s->h > 8192 || s->w % 2 || s->h % 2)) {
        av_log(ctx, AV_LOG_ERROR, "Invalid size %dx%d: width and height must "
               "be even, from 16 to 8192\n", s->w, s->h);
        return AVERROR(EINVAL);
    }
    s->frame_rate = (AVRational){ 0, 1 };
    if (s->rate_str && strcmp(s->rate_str, "native")) {
        /* below 0.1 fps, each frame would cost hundreds of chunks */
        if (av_parse_video_rate(&s->frame_rate, s->rate_str) < 0 ||
            av_q2d(s->frame_rate) > 1000 || av_q2d(s->frame_rate) < 0.1) {
            av_log(ctx, AV_LOG_ERROR, "Invalid frame rate '%s': give a rate "
                   "from 0.1 to 1000 (25, 30000/1001, ntsc...) or \"native\"\n",
                   s->rate_str);
            return AVERROR(EINVAL);
        }
    }
    if (!s->duration ||
        (s->duration < 0 && s->duration != ST2V_ENDLESS_US && s->duration != -1)) {
        av_log(ctx, AV_LOG_ERROR, "Invalid duration %g s: give a positive "
               "duration, or -1 for an endless stream\n", s->duration / 1e6);
        return AVERROR(EINVAL);
    }
    /* threads= on the filter sets the generic AVFilterContext option,
     * which libavfilter applies before (and instead of) this filter's */
    if (ctx->nb_threads > 0)
        s->threads = ctx->nb_threads;
    if (s->threads > 256) {
        av_log(ctx, AV_LOG_ERROR, "Invalid threads %d: give 0 (all cores) "
               "to 256\n", s->threads);
        return AVERROR(EINVAL);
    }
    if (s->cfg < 0 && s->cfg != -1.0f) {
        av_log(ctx, AV_LOG_ERROR, "Invalid cfg %g: give 0 to 100, or -1 for "
               "the model's default\n", s->cfg);
        return AVERROR(EINVAL);
    }
    return 0;
}

static int load_model(AVFilterContext *ctx)
{
    ST2VContext *s = ctx->priv;
    char path[4096], err[512];
    const char *p = s->model_path;
    st2v_model_params mp = st2v_model_default_params();
    int rc;

    path[0] = 0;
    if (!p || !*p) {
        rc = st2v_default_model_path(path, sizeof(path));
        if (rc < 0) {
            av_log(ctx, AV_LOG_ERROR, "No default model installed%s%s: set "
                   "model=FILE or the ST2V_MODEL environment variable\n",
                   *path ? " at " : "", path);
            return rc == ST2V_ERR_IO ? AVERROR(ENOENT) : st2v_averror(rc);
        }
        p = path;
    }
    mp.compute_dtype = s->dtype;
    rc = st2v_model_load_with_params(&s->model, p, &mp, err, sizeof(err));
    if (rc < 0) {
        av_log(ctx, AV_LOG_ERROR, "Cannot load the model '%s': %s\n", p, err);
        return rc == ST2V_ERR_IO && access(p, F_OK) ? AVERROR(ENOENT) : st2v_averror(rc);
    }
    return 0;
}

static av_cold int init(AVFilterContext *ctx)
{
    ST2VContext *s = ctx->priv;
    const st2v_model_info *mi;
    st2v_params par = st2v_default_params();
    uint8_t *image = NULL;
    char *prompt = NULL, *negative = NULL;
    char err[512];
    int rc, ret;

    s->last_chunk = -1;
    s->next_after = -1;
    st2v_key_init(&s->key);
    if ((ret = check_options(ctx)) < 0)
        return ret;
    if ((ret = load_model(ctx)) < 0)
        return ret;
    mi = st2v_model_get_info(s->model);

    s->used_seed = s->seed >= 0 ? (uint64_t)s->seed : av_get_random_seed();
    prompt = model_prompt(s, s->prompt);
    negative = av_strdup(s->negative_prompt ? s->negative_prompt : "");
    s->meta_prompt = av_strdup(s->prompt);
    if (!prompt || !negative || !s->meta_prompt) {
        ret = AVERROR(ENOMEM);
        goto end;
    }
    if (s->image_path) {
        int iw, ih;
        rc = st2v_load_png(s->image_path, &image, &iw, &ih, err, sizeof(err));
        if (rc < 0) {
            av_log(ctx, AV_LOG_ERROR, "Cannot read the image '%s': %s\n",
                   s->image_path, err);
            ret = st2v_averror(rc);
            goto end;
        }
        par.image_rgb = image;
        par.image_width = iw;
        par.image_height = ih;
        par.image_stride = iw * 3;
    }

    par.prompt = prompt;
    par.negative_prompt = negative;
    par.seed = s->used_seed;
    par.steps = s->steps;
    par.cfg = s->cfg;
    par.sampler = s->sampler;
    par.shift = s->shift;
    par.width = s->w;
    par.height = s->h;
    par.fps_num = s->frame_rate.num;
    par.fps_den = s->frame_rate.num ? s->frame_rate.den : 0;
    if (s->duration < 0) {
        par.frames = -1;
    } else {
        par.frames = 0;
        par.duration = s->duration / 1e6;
    }
    par.threads = s->threads;
    par.log = st2v_log_cb;
    par.user_data = ctx;

    rc = st2v_generator_new(&s->gen, s->model, &par, err, sizeof(err));
    if (rc < 0) {
        av_log(ctx, AV_LOG_ERROR, "Invalid settings for the model '%s': %s\n",
               mi->name, err);
        ret = st2v_averror(rc);
        goto end;
    }
    st2v_generator_get_info(s->gen, &s->info);
    s->frame_rate = (AVRational){ s->info.fps_num, s->info.fps_den };
    s->time_base = av_inv_q(s->frame_rate);
    if (s->alpha) {
        s->rgb = av_malloc((size_t)s->info.width * s->info.height * 3);
        if (!s->rgb) {
            ret = AVERROR(ENOMEM);
            goto end;
        }
    }
    av_log(ctx, AV_LOG_INFO, "st2v %s, model %s, %dx%d at %d/%d fps, %s, seed %" PRIu64 "%s\n",
           st2v_version(), mi->name, s->info.width, s->info.height, s->info.fps_num,
           s->info.fps_den, s->info.frames < 0 ? "endless" : "until the duration",
           s->used_seed, s->seed < 0 ? " (random)" : "");
    ret = 0;
end:
    free(image); /* st2v_load_png's buffer; the generator kept a copy */
    av_free(prompt);
    av_free(negative);
    return ret;
}

static av_cold void uninit(AVFilterContext *ctx)
{
    ST2VContext *s = ctx->priv;

    st2v_generator_free(s->gen);
    s->gen = NULL;
    st2v_model_free(s->model);
    s->model = NULL;
    av_freep(&s->rgb);
    av_freep(&s->meta_prompt);
    av_freep(&s->next_prompt);
}

static int query_formats(AVFilterContext *ctx)
{
    ST2VContext *s = ctx->priv;
    static const int rgb[]  = { AV_PIX_FMT_RGB24, AV_PIX_FMT_NONE };
    static const int rgba[] = { AV_PIX_FMT_RGBA,  AV_PIX_FMT_NONE };

    return ff_set_common_formats_from_list(ctx, s->alpha ? rgba : rgb);
}

static int config_props(AVFilterLink *outlink)
{
    ST2VContext *s = outlink->src->priv;

    outlink->w = s->info.width;
    outlink->h = s->info.height;
    outlink->sample_aspect_ratio = (AVRational){ 1, 1 };
    outlink->time_base = s->time_base;
#if ST2V_HAVE_FILTER_LINK
    ff_filter_link(outlink)->frame_rate = s->frame_rate;
#else
    outlink->frame_rate = s->frame_rate;
#endif
    return 0;
}

/* ================================================================ frames */

/** Fill frame with the next picture; returns 0, AVERROR_EOF or an error. */
static int render(AVFilterContext *ctx, AVFrame *frame, st2v_frame_info *fi)
{
    ST2VContext *s = ctx->priv;
    int w = s->info.width, h = s->info.height;
    int rc;

    if (s->alpha)
        rc = st2v_generator_next_frame(s->gen, s->rgb, (ptrdiff_t)w * 3, fi);
    else
        rc = st2v_generator_next_frame(s->gen, frame->data[0], frame->linesize[0], fi);
    if (rc == ST2V_EOF)
        return AVERROR_EOF;
    if (rc < 0) {
        av_log(ctx, AV_LOG_ERROR, "Generating frame %" PRId64 " failed: %s\n",
               s->pts, st2v_generator_last_error(s->gen));
        return st2v_averror(rc);
    }
    if (s->alpha) {
        /* measure the screen at each chunk's first frame */
        if (fi->chunk != s->last_chunk)
            st2v_key_measure(&s->key, s->rgb, (ptrdiff_t)w * 3, w, h);
        st2v_key_frame(frame->data[0], frame->linesize[0], s->rgb,
                       (ptrdiff_t)w * 3, w, h, &s->key);
    }
    return 0;
}

static int set_metadata(AVFilterContext *ctx, AVFrame *frame, const st2v_frame_info *fi)
{
    ST2VContext *s = ctx->priv;
    char buf[32];
    int ret;

    if (s->next_prompt && fi->chunk > s->next_after) {
        av_free(s->meta_prompt);
        s->meta_prompt = s->next_prompt;
        s->next_prompt = NULL;
    }
    if ((ret = av_dict_set(&frame->metadata, "lavfi.st2v.prompt", s->meta_prompt, 0)) < 0)
        return ret;
    snprintf(buf, sizeof(buf), "%" PRIu64, fi->seed);
    if ((ret = av_dict_set(&frame->metadata, "lavfi.st2v.seed", buf, 0)) < 0)
        return ret;
    snprintf(buf, sizeof(buf), "%d", fi->chunk);
    return av_dict_set(&frame->metadata, "lavfi.st2v.chunk", buf, 0);
}

static int activate(AVFilterContext *ctx)
{
    AVFilterLink *outlink = ctx->outputs[0];
    ST2VContext *s = ctx->priv;
    st2v_frame_info fi;
    AVFrame *frame;
    int ret;

    if (!ff_outlink_frame_wanted(outlink))
        return FFERROR_NOT_READY;

    frame = ff_get_video_buffer(outlink, s->info.width, s->info.height);
    if (!frame)
        return AVERROR(ENOMEM);
    ret = render(ctx, frame, &fi);
    if (ret == AVERROR_EOF) {
        av_frame_free(&frame);
        ff_outlink_set_status(outlink, AVERROR_EOF, s->pts);
        return 0;
    }
    if (ret >= 0)
        ret = set_metadata(ctx, frame, &fi);
    if (ret < 0) {
        av_frame_free(&frame);
        return ret;
    }
    s->last_chunk = fi.chunk;

    frame->pts = s->pts++;
#if LIBAVUTIL_VERSION_INT >= AV_VERSION_INT(57, 30, 100)
    frame->duration = 1;
#endif
#ifdef AV_FRAME_FLAG_KEY
    frame->flags |= AV_FRAME_FLAG_KEY;
#else
    frame->key_frame = 1;
#endif
    frame->pict_type = AV_PICTURE_TYPE_I;
    frame->sample_aspect_ratio = (AVRational){ 1, 1 };
    frame->color_range = AVCOL_RANGE_JPEG; /* full-range RGB */
    return ff_filter_frame(outlink, frame);
}

/* ================================================================ commands */

static int process_command(AVFilterContext *ctx, const char *cmd,
                           const char *args, char *res, int res_len, int flags)
{
    ST2VContext *s = ctx->priv;
    int negative = !strcmp(cmd, "negative_prompt");
    int rc;

    if (!strcmp(cmd, "prompt") || negative) {
        char *mp, *copy;

        if (!args)
            args = "";
        if (!negative && is_blank(args)) {
            av_log(ctx, AV_LOG_ERROR, "Ignoring an empty prompt\n");
            return AVERROR(EINVAL);
        }
        mp = negative ? av_strdup(args) : model_prompt(s, args);
        copy = av_strdup(args);
        if (!mp || !copy) {
            av_free(mp);
            av_free(copy);
            return AVERROR(ENOMEM);
        }
        rc = st2v_generator_set_prompt(s->gen, mp, negative);
        av_free(mp);
        if (rc < 0) {
            av_free(copy);
            av_log(ctx, AV_LOG_ERROR, "Cannot set the %s: %s\n", cmd,
                   st2v_generator_last_error(s->gen));
            return st2v_averror(rc);
        }
        if (negative) {
            av_free(s->negative_prompt);
            s->negative_prompt = copy;
        } else {
            char *meta = av_strdup(copy);
            if (!meta) {
                av_free(copy);
                return AVERROR(ENOMEM);
            }
            av_free(s->prompt);
            s->prompt = copy;
            av_free(s->next_prompt);
            s->next_prompt = meta;
            s->next_after = s->last_chunk;
        }
        av_log(ctx, AV_LOG_VERBOSE, "%s set to '%s' from the next chunk\n", cmd, args);
        return 0;
    }
    if (!strcmp(cmd, "cfg")) {
        char *end;
        double v = args ? strtod(args, &end) : 0;
        if (!args || end == args || *end || !(v >= 0 && v <= 100)) {
            av_log(ctx, AV_LOG_ERROR, "Invalid cfg '%s': give 0 to 100\n",
                   args ? args : "");
            return AVERROR(EINVAL);
        }
        rc = st2v_generator_set_cfg(s->gen, (float)v);
        if (rc < 0) {
            av_log(ctx, AV_LOG_ERROR, "Cannot set cfg: %s\n",
                   st2v_generator_last_error(s->gen));
            return st2v_averror(rc);
        }
        s->cfg = (float)v;
        av_log(ctx, AV_LOG_VERBOSE, "cfg set to %g from the next chunk\n", v);
        return 0;
    }
    return AVERROR(ENOSYS);
}

/* ================================================================ filter */

static const AVFilterPad st2v_outputs[] = {
    {
        .name          = "default",
        .type          = AVMEDIA_TYPE_VIDEO,
        .config_props  = config_props,
    },
};

#if LIBAVFILTER_VERSION_MAJOR >= 11
const FFFilter ff_vsrc_st2v = {
    .p.name          = "st2v",
    .p.description   = NULL_IF_CONFIG_SMALL("Generate video from a text prompt with libst2v."),
    .p.priv_class    = &st2v_class,
#else
const AVFilter ff_vsrc_st2v = {
    .name            = "st2v",
    .description     = NULL_IF_CONFIG_SMALL("Generate video from a text prompt with libst2v."),
    .priv_class      = &st2v_class,
#endif
    .priv_size       = sizeof(ST2VContext),
    .init            = init,
    .uninit          = uninit,
    .activate        = activate,
    .process_command = process_command,
    FILTER_OUTPUTS(st2v_outputs),
    FILTER_QUERY_FUNC(query_formats),
};
